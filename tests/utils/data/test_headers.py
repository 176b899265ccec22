"""The one header reader: CSV's first line and Parquet's schema, as written."""

from __future__ import annotations

import pandas as pd
import pytest

from utils.data.headers import column_names, parquet_columns
from utils.errors import PipelineError


def test_a_csv_header_as_written_byte_order_mark_and_quotes_alike(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes("\ufeffid,\" exited\",'x'\n1,0,2\n".encode())
    assert column_names(path) == ["id", " exited", "'x'"]


def test_undecodable_bytes_do_not_stop_the_header(tmp_path):
    path = tmp_path / "a.csv"
    path.write_bytes(b"id,caf\xe9\n1,2\n")
    assert column_names(path) == ["id", "caf\ufffd"]


def test_parquet_columns_and_what_cannot_be_read(tmp_path):
    pd.DataFrame({"b": [1], "a": [2]}).to_parquet(tmp_path / "p.parquet")
    assert column_names(tmp_path / "p.parquet") == ["b", "a"]
    (tmp_path / "bad.parquet").write_text("not parquet")
    assert column_names(tmp_path / "bad.parquet") == []
    assert column_names(tmp_path / "missing.csv") == []
    (tmp_path / "empty.csv").write_text("")
    assert column_names(tmp_path / "empty.csv") == []
    with pytest.raises(PipelineError, match="bad.parquet: not a readable Parquet file"):
        parquet_columns(tmp_path / "bad.parquet")
    with pytest.raises(PipelineError, match="bad.parquet: not a readable Parquet file"):
        column_names(tmp_path / "bad.parquet", strict=True)
    assert column_names(tmp_path / "empty.csv", strict=True) == []
    with pytest.raises(PipelineError, match="missing.parquet: data file not found"):
        parquet_columns(tmp_path / "missing.parquet")


def test_a_header_name_over_the_csv_modules_field_limit_is_still_a_name(tmp_path):
    import csv

    from utils.data.schema import read_feature_columns

    path = tmp_path / "wide.csv"
    path.write_text("n" * 140_000 + ",a,b\nx,1,2\n")
    assert column_names(path) == ["n" * 140_000, "a", "b"]
    assert read_feature_columns(path, ["a", "b"], ()).shape == (1, 2)
    assert csv.field_size_limit() == 131_072, "the API's limit is put back"


def test_a_header_that_cannot_be_read_is_one_line_naming_the_file_when_strict(tmp_path):
    folder = tmp_path / "looks.csv"
    folder.mkdir()
    assert column_names(folder) == []
    with pytest.raises(PipelineError, match=r"looks\.csv: cannot read its header \(.*directory"):
        column_names(folder, strict=True)
