"""Reading live monitoring's inputs: unlabelled batches and labels files, and their errors."""

from __future__ import annotations

import pandas as pd
import pytest

from utils.data.schema import DataSchema
from utils.errors import PipelineError
from utils.monitoring.live_inputs import read_labels, read_unlabelled

SCHEMA = DataSchema("y", ("a", "b"), ("cid",))


def test_an_unlabelled_batch_gives_its_features_ids_and_handed_in_time(write_csv):
    path = write_csv("batch.csv", "cid,a,b,extra\n007,1,2.5,x\n008,3,4,y\n")
    frame = read_unlabelled(path, SCHEMA, ["a", "b"])
    assert list(frame.columns) == ["cid", "a", "b", "time"]
    assert frame["cid"].tolist() == ["007", "008"], "ids stay text"
    assert frame["a"].dtype == "float64" and frame["b"].tolist() == [2.5, 4.0]
    handed_in = pd.Timestamp(path.stat().st_mtime, unit="s", tz="UTC")
    assert abs(frame["time"].iloc[0] - handed_in) < pd.Timedelta(microseconds=1)
    without_ids = read_unlabelled(write_csv("plain.csv", "a,b\n1,2\n"), SCHEMA, ["a", "b"])
    assert list(without_ids.columns) == ["a", "b", "time"]


def test_labels_files_give_their_keys_and_the_target_as_numbers(write_csv):
    by_id = write_csv("l1.csv", "cid,y\n007,1\n008,0\n")
    by_request = write_csv("l2.csv", "request_id,y,note\nabc,1.0,late\n")
    first, second = read_labels([by_id, by_request], SCHEMA)
    assert first.to_dict("list") == {"cid": ["007", "008"], "y": [1.0, 0.0]}
    assert second.to_dict("list") == {"request_id": ["abc"], "y": [1.0]}
    assert read_labels([], SCHEMA) == []


def read_batch(path):
    return read_unlabelled(path, SCHEMA, ["a", "b"])


def read_one_labels_file(path):
    return read_labels([path], SCHEMA)


@pytest.mark.parametrize(
    ("read", "content", "message"),
    [
        (read_batch, "cid,a\n1,2\n", "no column 'b' \\(a feature of the deployed model\\)"),
        (read_batch, "a,b\n1,\n", "column 'b' has missing or non-numeric values"),
        (read_batch, "a,b\n1,x\n", "column 'b' has non-numeric value 'x' on line 2"),
        (read_batch, "a,b\n1,2\n1,1e400\n", "column 'b' has infinite value inf on line 3"),
        (read_batch, "a,b\n1e308,2\n", "column 'a' has out-of-range value 1e\\+308 on line 2"),
        (read_batch, "a,b\n", "has a header but no data rows"),
        (read_batch, "cid,a,b\n", "has a header but no data rows"),
        (read_one_labels_file, "cid\n007\n", "no column 'y' \\(the labels\\)"),
        (read_one_labels_file, "who,y\n007,1\n",
         "no key column; a labels file names rows by 'request_id', 'cid'"),
        (read_one_labels_file, "cid,y\n007,1\n008,yes\n",
         "line 3: column 'y' is 'yes', not 0 or 1"),
        (read_one_labels_file, "cid,y\n007,\n", "line 2: column 'y' is '', not 0 or 1"),
        (read_one_labels_file, "cid,y\n007,1\n008,0\n009,1\n007,0.0\n",
         "line 2 and line 5 label the same row \\(cid '007'\\) 1 and 0; give each row one label"),
        (read_one_labels_file, "request_id,cid,y\nr1,a,1\nr1,b,0\nr1,a,1.0\nr1,a,0\n",
         "line 2 and line 5 label the same row \\(request_id 'r1', cid 'a'\\) 1 and 0"),
    ],
)  # fmt: skip
def test_a_bad_batch_or_labels_file_is_refused_naming_file_line_and_column(
    write_csv, read, content, message
):
    path = write_csv("input.csv", content)
    with pytest.raises(PipelineError, match=message) as raised:
        read(path)
    assert str(path) in str(raised.value)


def test_parquet_batches_and_labels_are_read_as_the_same_csv(tmp_path):
    batch = pd.DataFrame({"cid": ["007", "008"], "a": [1, 3], "b": [2.5, 4.0]})
    batch.to_parquet(tmp_path / "batch.parquet", index=False)
    frame = read_batch(tmp_path / "batch.parquet")
    assert frame["cid"].tolist() == ["007", "008"] and frame["a"].tolist() == [1.0, 3.0]
    labels = pd.DataFrame({"cid": ["007", "008", "009"], "y": [True, False, True]})
    labels.to_parquet(tmp_path / "labels.parquet", index=False)
    assert read_one_labels_file(tmp_path / "labels.parquet")[0].to_dict("list") == {
        "cid": ["007", "008", "009"], "y": [1.0, 0.0, 1.0],
    }  # fmt: skip
    labels.assign(y=[1.0, None, 2.0]).to_parquet(tmp_path / "bad.parquet", index=False)
    with pytest.raises(PipelineError, match=r"bad\.parquet: row 2: column 'y' is '', not 0 or 1"):
        read_one_labels_file(tmp_path / "bad.parquet")


def test_parquet_source_files_are_told_labelled_or_not_by_their_columns(tmp_path):
    from utils.automation.sources import SourceFile, split_by_label

    pd.DataFrame({"a": [1], "y": [0]}).to_parquet(tmp_path / "labelled.parquet")
    pd.DataFrame({"a": [1]}).to_parquet(tmp_path / "batch.parquet")
    (tmp_path / "broken.parquet").write_text("a,y\n1,0\n")
    sources = [SourceFile(tmp_path / n, "") for n in ("labelled.parquet", "batch.parquet")]
    labelled, unlabelled = split_by_label(sources, "y")
    assert [s.path.name for s in labelled] == ["labelled.parquet"]
    assert [s.path.name for s in unlabelled] == ["batch.parquet"]
    with pytest.raises(PipelineError, match=r"broken\.parquet: not a readable Parquet file"):
        split_by_label([SourceFile(tmp_path / "broken.parquet", "")], "y")


def test_a_row_labelled_twice_alike_or_with_no_key_is_not_a_conflict(write_csv):
    path = write_csv("labels.csv", "cid,y\n007,1\n007,1.0\n,0\n,1\n")
    (labels,) = read_labels([path], SCHEMA)
    assert labels["y"].tolist() == [1.0, 1.0, 0.0, 1.0]
