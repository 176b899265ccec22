"""Text cells a spreadsheet would run as a formula, quoted (OWASP's CSV injection rule)."""

from __future__ import annotations

import polars as pl
import pytest

from utils.data.cells import inert, inert_text_columns


@pytest.mark.parametrize(
    ("cell", "written"),
    [("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
     ("\t=1", "'\t=1"), ("\r=1", "'\r=1"), ("abc", "abc"), ("1-2", "1-2"), ("", ""),
     ("'=1", "'=1"), (" =1", " =1"), (None, None)],
)  # fmt: skip
def test_a_cell_that_would_run_is_quoted_and_only_such_a_cell(cell, written):
    assert inert(cell) == written
    frame = pl.DataFrame({"id": [cell], "n": [-1.5]}, schema={"id": pl.String, "n": pl.Float64})
    assert inert_text_columns(frame).to_dicts() == [{"id": written, "n": -1.5}]


def test_ingested_ids_are_written_inert_and_read_back_as_written(tmp_path):
    from utils.data.ingestion import ingest_files, write_distinct_csv
    from utils.data.schema import DataSchema, read_dataset

    source = tmp_path / "in.csv"
    source.write_text("cid,a,y\n=cmd|' /C calc'!A0,1,0\nplain,2,1\n")
    output = tmp_path / "finaldata.csv"
    schema = DataSchema("y", ("a",), ("cid",))
    write_distinct_csv(ingest_files([source], schema), output)
    assert output.read_text().splitlines()[1] == "'=cmd|' /C calc'!A0,1,0"
    assert read_dataset(output, schema)["cid"].tolist() == ["'=cmd|' /C calc'!A0", "plain"]
