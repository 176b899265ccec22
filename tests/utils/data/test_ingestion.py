import numpy as np
import pandas as pd
import polars as pl
import pytest

from utils.data.ingestion import (
    first_occurrences,
    ingest_files,
    list_data_files,
    read_ingested_files,
    write_ingestion,
)
from utils.errors import PipelineError


def test_lists_csv_files_sorted_and_ignores_others(tmp_path, tiny_frame, write_csv):
    write_csv("in/b.csv", tiny_frame)
    write_csv("in/a.csv", tiny_frame)
    write_csv("in/notes.txt", "not data")
    assert [p.name for p in list_data_files(tmp_path / "in")] == ["a.csv", "b.csv"]


def test_what_is_read_links_hidden_and_compressed_files(tmp_path, tiny_frame, write_csv, caplog):
    import os

    write_csv("in/a.csv", tiny_frame)
    write_csv("in/.partial.csv", tiny_frame)
    write_csv("in/old.csv.gz", "not read")
    os.symlink("a.csv", tmp_path / "in" / "same.csv")  # a link inside the folder is read
    assert [p.name for p in list_data_files(tmp_path / "in")] == ["a.csv", "same.csv"]
    assert "old.csv.gz: compressed files are not read" in caplog.text


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: (d / "dir.csv").mkdir(), r"dir\.csv: named like a data file but a folder"),
        (
            lambda d: __import__("os").symlink("/etc/passwd", d / "out.csv"),
            r"out\.csv: a symbolic link out of .* is not read",
        ),
        (
            lambda d: __import__("os").symlink("../elsewhere/x.csv", d / "up.csv"),
            r"up\.csv: a symbolic link out of",
        ),
        (
            lambda d: __import__("os").symlink("gone.csv", d / "broken.csv"),
            r"broken\.csv: named like a data file but not a regular file",
        ),
    ],
    ids=["folder", "link-to-etc", "link-up", "broken-link"],
)
def test_anything_else_named_csv_is_an_error_not_a_skip(
    tmp_path, tiny_frame, write_csv, make, message
):
    write_csv("in/a.csv", tiny_frame)
    make(tmp_path / "in")
    with pytest.raises(PipelineError, match=message):
        list_data_files(tmp_path / "in")


def test_missing_folder(tmp_path):
    with pytest.raises(PipelineError, match=r"nowhere: input folder not found"):
        list_data_files(tmp_path / "nowhere")


def test_folder_without_data_files(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(PipelineError, match=r"empty: no \*\.csv or \*\.parquet files"):
        list_data_files(tmp_path / "empty")


def test_first_occurrences_keeps_the_first_of_equal_rows():
    data = pl.DataFrame({"id": ["a", "b", "a", "c", "b", "a"], "x": [1.0, 2.0, 1.0, 3.0, 2.5, 1.0]})
    assert first_occurrences(data).tolist() == [True, True, False, True, True, False]


def test_first_occurrences_treats_missing_values_as_equal():
    data = pl.DataFrame({"id": ["a", None, "a", None], "x": [None, 1.0, None, 1.0]})
    assert first_occurrences(data).tolist() == [True, True, False, False]


def test_first_occurrences_of_nothing():
    assert first_occurrences(pl.DataFrame({"x": []}, schema={"x": pl.Float64})).size == 0


def test_first_occurrences_is_exact_when_hashes_collide(monkeypatch):
    """Every row in one hash bucket: the exact comparison alone must decide."""
    data = pl.DataFrame({"id": list("abcabd"), "x": [1.0, 2.0, 3.0, 1.0, 2.0, 3.0]})
    real_hash = pl.Expr.hash
    monkeypatch.setattr(pl.Expr, "hash", lambda self, *a, **k: real_hash(self, *a, **k) & 0)
    assert first_occurrences(data).tolist() == [True, True, True, False, False, True]


def test_first_occurrences_matches_pandas_on_many_rows():
    rng = np.random.default_rng(7)
    frame = pd.DataFrame(
        {"id": rng.choice(list("abcdefgh"), 5000), "x": rng.integers(0, 6, 5000).astype(float)}
    )
    expected = ~frame.duplicated(keep="first").to_numpy()
    assert (first_occurrences(pl.from_pandas(frame)) == expected).all()


def test_ingest_records_every_file(tmp_path, tiny_frame, write_csv, schema):
    a = write_csv("in/a.csv", tiny_frame.iloc[:4])
    b = write_csv("in/b.csv", tiny_frame.iloc[3:])
    result = ingest_files([a, b], schema)
    assert result.rows == 6
    assert [(r.name, r.rows_read, r.rows_kept, r.rows_dropped) for r in result.files] == [
        ("a.csv", 4, 4, 0),
        ("b.csv", 3, 2, 1),
    ]
    assert all(len(r.sha256) == 64 for r in result.files)


def test_a_bad_file_stops_ingestion_before_anything_is_written(
    tmp_path, tiny_frame, write_csv, schema
):
    good = write_csv("in/a.csv", tiny_frame)
    bad = write_csv("in/b.csv", tiny_frame.drop(columns="number_of_employees"))
    out = tmp_path / "out"
    out.mkdir()
    (out / "finaldata.csv").write_text("previous\n")
    with pytest.raises(
        PipelineError, match=r"b\.csv: missing required column\(s\) 'number_of_employees'"
    ):
        write_ingestion(ingest_files([good, bad], schema), out)
    assert (out / "finaldata.csv").read_text() == "previous\n"


def test_write_and_read_back(tmp_path, tiny_frame, write_csv, schema):
    a = write_csv("in/a.csv", tiny_frame)
    finaldata, ingested = write_ingestion(ingest_files([a], schema), tmp_path / "out")
    assert pd.read_csv(finaldata).equals(tiny_frame)
    assert read_ingested_files(ingested) == ["a.csv"]
    assert read_ingested_files(tmp_path / "absent.txt") == []


def test_course_practice_data(udacity_dir, schema, tmp_path):
    files = list_data_files(udacity_dir / "practicedata")
    result = ingest_files(files, schema)
    raw = pd.concat([pd.read_csv(p) for p in files], ignore_index=True)
    assert result.rows == len(raw.drop_duplicates())
    assert result.rows < len(raw), "the course files share rows"
    assert not result.distinct_rows().is_duplicated().any()
    _, ingested = write_ingestion(result, tmp_path)
    assert read_ingested_files(ingested) == ["dataset1.csv", "dataset2.csv"]


def test_ingestion_outputs_change_together(tmp_path, tiny_frame, write_csv, schema):
    out = tmp_path / "ingested"
    a = write_csv("in/a.csv", tiny_frame.iloc[:3])
    write_ingestion(ingest_files([a], schema), out)
    first_release = out.resolve()
    b = write_csv("in/b.csv", tiny_frame.iloc[3:])
    write_ingestion(ingest_files([a, b], schema), out)
    assert out.is_symlink() and out.resolve() != first_release
    assert read_ingested_files(out / "ingestedfiles.txt") == ["a.csv", "b.csv"]
    assert len(pd.read_csv(out / "finaldata.csv")) == 6
    # The earlier pair is intact in its own release.
    assert read_ingested_files(first_release / "ingestedfiles.txt") == ["a.csv"]
    assert len(pd.read_csv(first_release / "finaldata.csv")) == 3


HEADER = "corporation,lastmonth_activity,lastyear_activity,number_of_employees,exited\n"


def test_utf16_files_are_named_as_such(tmp_path, tiny_frame, schema):
    path = tmp_path / "wide.csv"
    path.write_bytes(tiny_frame.to_csv(index=False).encode("utf-16"))
    with pytest.raises(PipelineError, match=r"wide\.csv: is UTF-16 text; save it as UTF-8"):
        ingest_files([path], schema)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            "a,1,2,3,1\nb,1,x7,3,0\n",
            r"bad\.csv: column 'lastyear_activity' has non-numeric value 'x7' on line 3",
        ),
        ("a,1,2,3,1\nb,1,2,3,2\n", r"bad\.csv: column 'exited' \(target\) must be binary"),
        ("a,1,2,3,1\nb,1,2,3,\n", r"bad\.csv: column 'exited' \(target\) is empty on line 3"),
        ("", r"bad\.csv: has a header but no data rows"),
        ("a,1,2,3,1\nb,1,2,3,0,9\n", r"bad\.csv: line 3 has 6 fields, the header has 5"),
        ("a,1,2,3,1,9\nb,1,2,3,0,9\n", r"bad\.csv: line 2 has 6 fields, the header has 5"),
        ("a,1,2,3,1\nb,1,2\n", r"bad\.csv: line 3 has 3 fields, the header has 5"),
        ("caf\xe9,1,2,3,1\n", r"bad\.csv: line 2 is not UTF-8 text \(byte 0xe9"),
        (
            "a,1,2,3,1\nb,1,inf,3,0\n",
            r"bad\.csv: column 'lastyear_activity' has infinite value inf on line 3",
        ),
        (
            "a,1.5,2,3,1\nb,-Infinity,2,3,0\n",
            r"bad\.csv: column 'lastmonth_activity' has infinite value -inf on line 3",
        ),
        (
            "a,1,2,3,1\nb,1,2,1e999,0\n",
            r"bad\.csv: column 'number_of_employees' has infinite value inf on line 3",
        ),
        (
            "a,1,2,3,1\nb,1,2,1e308,0\n",
            r"bad\.csv: column 'number_of_employees' has out-of-range value 1e\+308 on line 3; "
            r"features must be finite numbers of magnitude at most 1e\+100",
        ),
        ("a,1,2,3,1\nb,1,-1e101,3,0\n", r"'lastyear_activity' has out-of-range value -1e\+101"),
    ],
)
def test_a_bad_file_is_named_with_its_line_and_column(
    tmp_path, write_csv, schema, tiny_frame, body, message
):
    good = write_csv("in/good.csv", tiny_frame)
    bad = tmp_path / "in" / "bad.csv"
    bad.write_bytes((HEADER + body).encode("latin-1"))
    with pytest.raises(PipelineError, match=message):
        ingest_files([good, bad], schema)


def test_an_empty_file_is_named(tmp_path, write_csv, schema):
    with pytest.raises(PipelineError, match=r"empty\.csv: file is empty"):
        ingest_files([write_csv("in/empty.csv", "")], schema)


def test_pandas_missing_markers_read_as_missing(tmp_path, write_csv, schema):
    marked = write_csv("in/a.csv", HEADER + "a,NA,2,3,1\nb,1,NULL,3,0\n")
    blank = write_csv("in/b.csv", HEADER + "a,,2,3,1\nb,1,,3,0\nc,5,6,7,1\n")
    result = ingest_files([marked, blank], schema)
    assert [(r.rows_read, r.rows_kept) for r in result.files] == [(2, 2), (3, 1)]
    assert result.distinct_rows().get_column("lastmonth_activity").to_list() == [None, 1.0, 5.0]


def test_equal_values_written_differently_are_duplicates(tmp_path, write_csv, schema):
    ints = write_csv("in/a.csv", HEADER + "a,1,2,3,1\n")
    floats = write_csv("in/b.csv", HEADER + "a,1.0,2e0,3.00,1.0\nb,-0,0,0.5,0\n")
    result = ingest_files([ints, floats], schema)
    assert [r.rows_kept for r in result.files] == [1, 1]
    assert result.distinct_rows().row(1) == ("b", 0, 0, 0.5, 0)


def test_columns_are_reordered_and_extra_ones_dropped(tmp_path, write_csv, schema):
    shuffled = write_csv(
        "in/a.csv",
        "exited,note,number_of_employees,corporation,lastyear_activity,"
        "lastmonth_activity\n1,hi,3,007,2,1\n",
    )
    finaldata, _ = write_ingestion(ingest_files([shuffled], schema), tmp_path / "out")
    assert finaldata.read_text() == HEADER + "007,1,2,3,1\n"


def test_whole_numbers_are_written_as_integers_and_others_as_decimals(tmp_path, write_csv, schema):
    data = write_csv("in/a.csv", HEADER + "a,1.0,2.5,,1\nb,4,5,6,0\n")
    finaldata, _ = write_ingestion(ingest_files([data], schema), tmp_path / "out")
    assert finaldata.read_text() == HEADER + "a,1,2.5,,1\nb,4,5.0,6,0\n"


def test_output_matches_pandas_on_generated_data(tmp_path, schema):
    from utils.data.demo import generate_files, write_files

    write_files(generate_files(20_000, 4, seed=3, duplicate_fraction=0.05), tmp_path / "in", "p")
    files = list_data_files(tmp_path / "in")
    finaldata, _ = write_ingestion(ingest_files(files, schema), tmp_path / "out")
    naive = pd.concat([pd.read_csv(p) for p in files], ignore_index=True).drop_duplicates()
    ours = pd.read_csv(finaldata)
    assert len(ours) < 20_000
    pd.testing.assert_frame_equal(ours, naive[schema.columns].reset_index(drop=True))


def test_the_release_manifest_holds_the_written_files_hash(tmp_path, tiny_frame, write_csv, schema):
    from utils.files import sha256_file
    from utils.model.deployment import read_manifest

    finaldata, _ = write_ingestion(
        ingest_files([write_csv("in/a.csv", tiny_frame)], schema), tmp_path / "out"
    )
    manifest = read_manifest(finaldata.resolve().parent)
    assert manifest["files"]["finaldata.csv"] == sha256_file(finaldata)


def test_an_unlabelled_batch_is_left_out_and_a_file_missing_features_is_not(
    tmp_path, schema, tiny_frame, caplog
):
    from utils.data.ingestion import without_unlabelled

    labelled = tmp_path / "a.csv"
    tiny_frame.to_csv(labelled, index=False)
    unlabelled = tmp_path / "b.csv"
    tiny_frame.drop(columns=[schema.target]).to_csv(unlabelled, index=False)
    broken = tmp_path / "c.csv"
    tiny_frame.drop(columns=[schema.target, schema.features[0]]).to_csv(broken, index=False)
    assert without_unlabelled([labelled, unlabelled, broken], schema) == [labelled, broken]
    assert "b.csv: no 'exited' column, an unlabelled batch" in caplog.text
    with pytest.raises(PipelineError, match="no labelled data file to ingest"):
        ingest_files([unlabelled], schema)


def test_parquet_files_are_ingested_beside_csv_files(tmp_path, tiny_frame, write_csv, schema):
    write_csv("in/a.csv", tiny_frame.iloc[:4])
    # Rows 2-3 again (other types), then two new rows: duplicates across formats are dropped.
    tiny_frame.iloc[2:].astype({"lastmonth_activity": float}).to_parquet(
        tmp_path / "in" / "b.parquet", index=False
    )
    result = ingest_files(list_data_files(tmp_path / "in"), schema)
    assert [(r.name, r.rows_read, r.rows_kept) for r in result.files] == [
        ("a.csv", 4, 4), ("b.parquet", 4, 2),
    ]  # fmt: skip
    finaldata, _ = write_ingestion(result, tmp_path / "out")
    pd.testing.assert_frame_equal(pd.read_csv(finaldata, dtype={"corporation": str}), tiny_frame)


def test_finaldata_as_parquet_holds_the_csv_rows_and_types(tmp_path, write_csv, schema):
    from utils.data.ingestion import ingestion_with_data
    from utils.data.schema import read_dataset
    from utils.files import sha256_file
    from utils.model.deployment import read_manifest

    write_csv("in/a.csv", f"{','.join(schema.columns)}\nx,1,2.5,3,0\ny,2,,4,1\nx,1,2.5,3,0\n")
    result = ingest_files(list_data_files(tmp_path / "in"), schema)
    as_csv, _ = write_ingestion(result, tmp_path / "csv")
    as_parquet, listed = write_ingestion(result, tmp_path / "parquet", "parquet")
    assert as_parquet.name == "finaldata.parquet" and listed.read_text() == "a.csv\n"
    assert sorted(p.name for p in as_parquet.parent.iterdir()) == [
        "finaldata.parquet", "ingestedfiles.txt", "manifest.json",
    ]  # fmt: skip
    frame = pl.read_parquet(as_parquet)
    assert frame.schema == {
        "corporation": pl.String, "lastmonth_activity": pl.Int64,
        "lastyear_activity": pl.Float64, "number_of_employees": pl.Int64, "exited": pl.Int64,
    }  # fmt: skip
    pd.testing.assert_frame_equal(read_dataset(as_parquet, schema), read_dataset(as_csv, schema))
    digest = sha256_file(as_parquet)
    assert read_manifest(as_parquet.resolve().parent)["files"]["finaldata.parquet"] == digest
    # The data a model was trained on is found by its hash, whichever the format.
    assert ingestion_with_data(tmp_path / "parquet", digest).read_bytes() == as_parquet.read_bytes()
    assert ingestion_with_data(tmp_path / "csv", sha256_file(as_csv)).name == "finaldata.csv"
