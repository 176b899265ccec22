"""Ingestion on Spark (local[2]) against the local engine: the same files, bytes and errors."""

from __future__ import annotations

import pytest

from conftest import needs_spark
from utils.data.ingestion import ingest_files, list_input_files, write_ingestion
from utils.data.schema import DataSchema
from utils.errors import PipelineError

pytestmark = needs_spark

SCHEMA = DataSchema("exited", ("a", "b"), ("corporation",))
HEADER = "corporation,a,b,exited\n"


OUTPUTS = ("finaldata.csv", "ingestedfiles.txt")


def both_engines(spark, folder, schema=SCHEMA, finaldata_format="csv"):
    """finaldata and ingestedfiles.txt of each engine (finaldata.parquet as its content and
    column types), and each engine's file records."""
    import polars as pl

    from utils.engines.spark_ingestion import ingest_with_spark, list_files, write_ingestion_spark

    out = folder.parent
    local = ingest_files(list_input_files(folder), schema)
    write_ingestion(local, out / "local", finaldata_format)
    remote = ingest_with_spark(spark, list_files(spark, str(folder)), schema)
    write_ingestion_spark(remote, out / "spark", schema, finaldata_format)

    def content(path):
        if path.suffix == ".parquet":
            return pl.read_parquet(path).to_dict(as_series=False), pl.read_parquet_schema(path)
        return path.read_bytes()

    names = ({"csv": "finaldata.csv", "parquet": "finaldata.parquet"}[finaldata_format], OUTPUTS[1])
    files = {
        engine: {name: content(out / engine / name) for name in names}
        for engine in ("local", "spark")
    }
    return files, local.files, remote.files


def assert_alike(spark, folder, counts: list[tuple[str, int, int]]) -> None:
    """Both engines write the same files and records: (name, rows read, rows kept) per file."""
    files, local, remote = both_engines(spark, folder)
    assert files["spark"] == files["local"] and remote == local
    assert [(r.name, r.rows_read, r.rows_kept) for r in remote] == counts


def test_awkward_values_are_read_compared_and_written_alike(spark, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "b.csv").write_text(
        HEADER
        + 'x1,3,0.1,1\n"a,b",3.0,1e-7,0\n"say ""hi""",12345678.9, 5,1\n,NA,-0.0,0\n'
        + "x2,nan,,1\nx3,1e3,2.5,0\n"
    )
    (folder / "a.csv").write_text(
        HEADER + "x1,3e0,0.1,1\nx1,3,0.10,1\n,NULL,0.0,0\nx2,,NA,1\nx4,7,8,0\nx4,7,8,0\n"
    )
    (folder / "c.csv").write_text(HEADER + "z,1,2,0\n")
    # a.csv comes first: its rows are the first occurrences; b.csv repeats four of them.
    assert_alike(spark, folder, [("a.csv", 6, 4), ("b.csv", 6, 3), ("c.csv", 1, 1)])


@pytest.mark.parametrize("finaldata_format", ["csv", "parquet"])
def test_whole_number_columns_stay_whole_and_decimals_stay_decimal(
    spark, tmp_path, finaldata_format
):
    import polars as pl

    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text(HEADER + "p,1,2.5,0\nq,2,,1\np,1,2.5,0\n")
    (folder / "b.csv").write_text(HEADER + "r,3.0,4,1\n")
    files, _, _ = both_engines(spark, folder, finaldata_format=finaldata_format)
    assert files["spark"] == files["local"]
    if finaldata_format == "csv":
        assert files["spark"]["finaldata.csv"].decode().splitlines()[1:] == [
            "p,1,2.5,0", "q,2,,1", "r,3,4.0,1",
        ]  # fmt: skip
        return
    data, types = files["spark"]["finaldata.parquet"]
    assert data == {"corporation": ["p", "q", "r"], "a": [1, 2, 3], "b": [2.5, None, 4.0],
                    "exited": [0, 1, 1]}  # fmt: skip
    assert types == {"corporation": pl.String, "a": pl.Int64, "b": pl.Float64, "exited": pl.Int64}


BAD_FILES = [
    ("missing column", "corporation,a,exited\nx,1,0\n"),
    ("header only", HEADER),
    ("empty file", ""),
    ("non-numeric feature", HEADER + "x,1,2,0\ny,1,two,1\n"),
    ("non-numeric before a later infinite", HEADER + "x,inf,2,0\ny,1,two,1\n"),
    ("infinite feature", HEADER + "x,1,2,0\ny,-inf,3,1\n"),
    ("out-of-range feature", HEADER + "x,1,2,0\ny,1,1e308,1\n"),
    ("infinite before out-of-range", HEADER + "x,1,-2e300,0\ny,1,inf,1\n"),
    ("empty target", HEADER + "x,1,2,0\ny,1,2,\n"),
    ("NA target", HEADER + "x,1,2,NA\n"),
    ("target 2", HEADER + "x,1,2,0\ny,1,2,2\n"),
    ("target 0.5", HEADER + "x,1,2,0\ny,1,2,0.5\n"),
    ("target text", HEADER + "x,1,2,0\ny,1,2,yes\n"),
    ("extra field", HEADER + "x,1,2,0\ny,1,2,0,9\n"),
    ("missing field", HEADER + "x,1,2,0\ny,1,2\n"),
    ("not UTF-8", (HEADER + "Zoë,1,2,0\n").encode("latin-1")),
]


def assert_refused_alike(spark, folder, bad) -> None:
    """Both engines refuse ``folder`` with the same one line, naming the ``bad`` file."""
    from utils.engines.spark_ingestion import ingest_with_spark, list_files

    with pytest.raises(PipelineError) as local:
        ingest_files(list_input_files(folder), SCHEMA)
    with pytest.raises(PipelineError) as remote:
        ingest_with_spark(spark, list_files(spark, str(folder)), SCHEMA)
    assert str(remote.value) == str(local.value)
    assert str(bad) in str(remote.value)


@pytest.mark.parametrize(("case", "content"), BAD_FILES, ids=[case for case, _ in BAD_FILES])
def test_a_bad_file_is_refused_in_the_same_words(spark, tmp_path, case, content):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text(HEADER + "ok,1,2,0\n")
    bad = folder / "b.csv"
    bad.write_bytes(content) if isinstance(content, bytes) else bad.write_text(content)
    assert_refused_alike(spark, folder, folder / "b.csv")


def test_an_unlabelled_batch_is_left_out_on_both_engines(spark, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text(HEADER + "x,1,2,0\n")
    (folder / "batch.csv").write_text("corporation,a,b\ny,1,2\n")
    files, local, remote = both_engines(spark, folder)
    assert files["spark"] == files["local"] and [r.name for r in remote] == ["a.csv"]


def test_a_glob_is_listed_in_name_order(spark, tmp_path):
    from utils.engines.spark_ingestion import list_files

    for name in ("b.csv", "a.csv", "c.txt"):
        (tmp_path / name).write_text(HEADER)
    listed = list_files(spark, str(tmp_path / "*.csv"))
    assert [name.rsplit("/", 1)[-1] for name in listed] == ["a.csv", "b.csv"]
    with pytest.raises(
        PipelineError, match=r"nothing\*\.csv: no \*\.csv or \*\.parquet files there"
    ):
        list_files(spark, str(tmp_path / "nothing*.csv"))


@pytest.mark.parametrize("folder", ["practicedata", "sourcedata"])
def test_the_course_data_is_ingested_alike(spark, udacity_dir, tmp_path, folder):
    import shutil

    copy = tmp_path / folder
    shutil.copytree(udacity_dir / folder, copy)
    schema = DataSchema(
        "exited",
        ("lastmonth_activity", "lastyear_activity", "number_of_employees"),
        ("corporation",),
    )
    files, local, remote = both_engines(spark, copy, schema)
    assert files["spark"] == files["local"] and remote == local


# Parquet: as input beside CSV files (typed columns, the same contract), and as finaldata.


def _parquet(path, columns):
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.table(columns), path)


def test_parquet_and_csv_inputs_are_ingested_alike(spark, tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text(HEADER + "x1,3,0.1,1\nx2,,2.5,0\n")
    # Equal to a.csv's first row in other types; a NaN is missing; a boolean target is 0/1.
    _parquet(
        folder / "b.parquet",
        {
            "exited": [True, False, False],
            "b": [0.1, float("nan"), 1e-300],
            "a": [3.0, None, 12345678.9],
            "corporation": ["x1", "x2", "y"],
            "extra": [1, 2, 3],
        },
    )
    _parquet(folder / "c.parquet", {"corporation": ["z"], "a": ["7"], "b": [8], "exited": [1]})
    assert_alike(spark, folder, [("a.csv", 2, 2), ("b.parquet", 3, 2), ("c.parquet", 1, 1)])


BAD_PARQUET = [
    ("missing column", {"corporation": ["x"], "a": [1], "exited": [0]}),
    ("no rows", {"corporation": [], "a": [], "b": [], "exited": []}),
    ("non-numeric feature", {"corporation": ["x", "y"], "a": [1, 2], "b": ["2", "two"],
                             "exited": [0, 1]}),
    ("infinite feature", {"corporation": ["x", "y"], "a": [1.0, float("-inf")], "b": [2, 3],
                          "exited": [0, 1]}),
    ("out-of-range feature", {"corporation": ["x", "y"], "a": [1.0, 1e308], "b": [2, 3],
                              "exited": [0, 1]}),
    ("empty target", {"corporation": ["x", "y"], "a": [1, 2], "b": [2, 3], "exited": [0, None]}),
    ("target 2", {"corporation": ["x", "y"], "a": [1, 2], "b": [2, 3], "exited": [0, 2]}),
    ("target 0.5", {"corporation": ["x", "y"], "a": [1, 2], "b": [2, 3], "exited": [0.0, 0.5]}),
    ("target text", {"corporation": ["x", "y"], "a": [1, 2], "b": [2, 3], "exited": ["0", "yes"]}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("case", "columns"), [*BAD_PARQUET, ("not Parquet", None)],
    ids=[*(case for case, _ in BAD_PARQUET), "not Parquet"],
)  # fmt: skip
def test_a_bad_parquet_file_is_refused_in_the_same_words(spark, tmp_path, case, columns):
    folder = tmp_path / "in"
    folder.mkdir()
    (folder / "a.csv").write_text(HEADER + "ok,1,2,0\n")
    if columns is None:
        (folder / "b.parquet").write_text(HEADER + "x,1,2,0\n")
    else:
        _parquet(folder / "b.parquet", columns)
    assert_refused_alike(spark, folder, folder / "b.parquet")
