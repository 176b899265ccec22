"""A data file's column names: the one header reader.

Standard library only for CSV (the automation asks on every cron run, where importing Polars
would cost more than its work); Parquet's schema through Polars, imported only then.
"""

from __future__ import annotations

import contextlib
import csv
import sys
from collections.abc import Iterator
from pathlib import Path

from utils.errors import PipelineError, first_line
from utils.files import is_parquet


@contextlib.contextmanager
def wide_fields() -> Iterator[None]:
    """The csv module's field size limit (131,072 characters, process-wide) lifted inside the
    block, for reading the user's files: a 140 KB header name is a name, not an unreadable
    file. The API keeps the limit for request bodies."""
    previous = csv.field_size_limit(sys.maxsize)
    try:
        yield
    finally:
        csv.field_size_limit(previous)


def column_names(path: Path, strict: bool = False) -> list[str]:
    """The names in a CSV file's first line as written (a byte-order mark is fine, undecodable
    bytes are replaced: the full read says what is wrong with them), or a Parquet file's
    columns. Empty when the file cannot be read: the reader that needs its rows says why;
    ``strict``: a Parquet file that is not one is a PipelineError naming it (the automation
    decides from the header alone, so it says so itself)."""
    if is_parquet(path):
        try:
            return parquet_columns(Path(path))
        except PipelineError:
            if strict:
                raise
            return []
    try:
        with wide_fields(), open(path, encoding="utf-8-sig", newline="", errors="replace") as f:
            return next(csv.reader(f), [])
    except (OSError, csv.Error) as err:
        if strict:
            raise PipelineError(f"{path}: cannot read its header ({first_line(err)})") from None
        return []


def parquet_columns(path: Path) -> list[str]:
    """The column names of a Parquet file; PipelineError naming it when it is not one."""
    import polars as pl

    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path}: data file not found")
    try:
        return list(pl.read_parquet_schema(path))
    except (Exception, pl.exceptions.PanicException) as err:  # noqa: BLE001 - any reader failure
        raise PipelineError(f"{path}: not a readable Parquet file ({first_line(err)})") from None
