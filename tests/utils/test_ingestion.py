import pandas as pd
import pytest

from utils.errors import PipelineError
from utils.ingestion import (
    deduplicate,
    ingest_files,
    list_csv_files,
    read_ingested_files,
    write_ingestion,
)


def test_lists_csv_files_sorted_and_ignores_others(tmp_path, tiny_frame, write_csv):
    write_csv("in/b.csv", tiny_frame)
    write_csv("in/a.csv", tiny_frame)
    write_csv("in/notes.txt", "not data")
    assert [p.name for p in list_csv_files(tmp_path / "in")] == ["a.csv", "b.csv"]


def test_missing_folder(tmp_path):
    with pytest.raises(PipelineError, match=r"nowhere: input folder not found"):
        list_csv_files(tmp_path / "nowhere")


def test_folder_without_csv(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(PipelineError, match=r"empty: no \*\.csv files"):
        list_csv_files(tmp_path / "empty")


def test_deduplicate_keeps_first_and_counts_per_frame(tiny_frame):
    first = tiny_frame.iloc[:4]
    second = pd.concat([tiny_frame.iloc[2:6], tiny_frame.iloc[[5]]], ignore_index=True)
    data, kept = deduplicate([first, second])
    assert len(data) == 6
    assert kept == [4, 2]
    assert data["corporation"].tolist() == list("abcdef")


def test_ingest_records_every_file(tmp_path, tiny_frame, write_csv, schema):
    a = write_csv("in/a.csv", tiny_frame.iloc[:4])
    b = write_csv("in/b.csv", tiny_frame.iloc[3:])
    result = ingest_files([a, b], schema)
    assert len(result.data) == 6
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
    files = list_csv_files(udacity_dir / "practicedata")
    result = ingest_files(files, schema)
    raw = pd.concat([pd.read_csv(p) for p in files], ignore_index=True)
    assert len(result.data) == len(raw.drop_duplicates())
    assert len(result.data) < len(raw), "the course files share rows"
    assert not result.data.duplicated().any()
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
