"""Text cells made inert for spreadsheets before they are written to a CSV file.

A CSV output opened in a spreadsheet runs a cell that starts with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return as a formula (``=HYPERLINK(...)`` in a customer id sent to the API
becomes a link in the analyst's copy of the labelled traffic). OWASP's rule: such a cell gets a
leading single quote, which spreadsheets show as text. Only text columns (ids) are touched:
numbers are written by the writers as numbers, and a negative number is not a formula.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import polars as pl

FORMULA_START = r"^[=+\-@\t\r]"
_FORMULA = re.compile(FORMULA_START)


def inert(value: str | None) -> str | None:
    """One cell as a spreadsheet will show it rather than run it."""
    if value is None or not _FORMULA.match(value):
        return value
    return "'" + value


def inert_text_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """``frame`` with every text cell that would run as a formula quoted."""
    import polars as pl

    text = [name for name, kind in frame.schema.items() if kind == pl.String]
    if not text:
        return frame
    return frame.with_columns(
        pl.when(pl.col(name).str.contains(FORMULA_START))
        .then(pl.lit("'") + pl.col(name))
        .otherwise(pl.col(name))
        .alias(name)
        for name in text
    )


def inert_spark_column(name: str) -> Any:
    """The Spark column ``name`` (text) with formula cells quoted, as ``inert`` does."""
    from pyspark.sql import functions as F

    column = F.col(name)
    return F.when(column.rlike(FORMULA_START), F.concat(F.lit("'"), column)).otherwise(column)
