"""The local engine's checks of ingested rows, on Spark: the first complaint file by file, with
the same one-line message naming the file, the column and the line (a Parquet file's row).

Rows come from utils.engines.spark_ingestion with every column as text as written, plus the
file's index (FILE_COLUMN), each row's position in it (POS_COLUMN) and the text of a row whose
field count is not the header's (CORRUPT_COLUMN).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from utils.data.schema import (
    MAX_FEATURE_MAGNITUDE,
    NO_ROWS_CSV,
    NO_ROWS_PARQUET,
    OUT_OF_RANGE,
    DataSchema,
)
from utils.engines.spark import missing_text, number_of, out_of_contract
from utils.errors import PipelineError
from utils.files import is_parquet

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame

FILE_COLUMN, POS_COLUMN, CORRUPT_COLUMN = "_risk_file", "_risk_pos", "_risk_corrupt"


def local_path(name: str) -> Path | None:
    """The local path of a ``file:`` URI as Hadoop writes them (file:/x or file:///x)."""
    if not name.startswith("file:"):
        return None
    return Path("/" + name[len("file:") :].lstrip("/"))


def readable_path(name: str) -> str:
    """``name`` for Spark's reader, which takes glob characters as patterns."""
    return "".join(f"\\{c}" if c in "[]{}*?\\" else c for c in name)


def header_problem(header: list[str], schema: DataSchema) -> str | None:
    if not header:
        return "file is empty (no header, no rows)"
    missing = [c for c in schema.columns if c not in header]
    if missing:
        return f"missing required column(s) {', '.join(repr(c) for c in missing)}"
    return None


def _field_count(record: str) -> int:
    import csv

    return len(next(csv.reader([record]), []))


def _where(frame: DataFrame, position: int, name: str) -> str:
    """Where the row at ``position`` is, as the local engine says it: a CSV's line (rows
    before it, after the header), a Parquet file's row (its row index)."""
    from pyspark.sql import functions as F

    from utils.data.schema import where_row

    if is_parquet(name):
        return where_row(position, parquet=True)
    return where_row(frame.where(F.col(POS_COLUMN) < position).count())


def display_name(name: str) -> str:
    local = local_path(name)
    return str(local) if local is not None else name


def _problems(schema: DataSchema) -> list[tuple[str, str, Column]]:
    """(kind, column name, whether a row breaks the rule) in the local engine's order: each
    feature non-numeric, infinite, then over the magnitude bound, then the target empty then
    not 0/1."""
    from pyspark.sql import functions as F

    rules = []
    for name in schema.features:
        text = F.col(name)
        number = number_of(text)
        rules.append(("non-numeric", name, ~missing_text(text) & number.isNull()))
        rules.append(("infinite", name, number.isin(math.inf, -math.inf)))
        rules.append(("out of range", name, F.abs(number) > MAX_FEATURE_MAGNITUDE))
    target = F.col(schema.target)
    value = number_of(target)
    rules.append(("empty", schema.target, missing_text(target)))
    rules.append(("binary", schema.target, ~value.isin(0.0, 1.0) | value.isNull()))
    return rules


def _fine(schema: DataSchema) -> Column:
    """Whether a row breaks none of _problems' rules: each feature missing or a number
    within the contract (out_of_contract, the scoring engine's rule too; null when missing),
    the target a number that is 0 or 1."""
    from functools import reduce

    from pyspark.sql import functions as F

    features = [F.coalesce(~out_of_contract(name), F.lit(True)) for name in schema.features]
    target = number_of(F.col(schema.target)).isin(0.0, 1.0)
    return F.coalesce(reduce(lambda a, b: a & b, features) & target, F.lit(False))


def check_rows(
    rows: DataFrame, names: list[str], headers: list[list[str]], schema: DataSchema
) -> dict[int, int]:
    """The local engine's first complaint, file by file in order: a header problem, no
    rows, a row with the wrong field count, then each value rule at its first line; else
    the rows read of each file. One pass over every file says which files have a broken
    row (one flag per row: each rule's own first row cost a column of aggregates); only
    such a file is searched again for each rule's first row."""
    from pyspark.sql import functions as F

    found = {
        row[FILE_COLUMN]: row
        for row in rows.groupBy(FILE_COLUMN)
        .agg(
            F.count("*").alias("rows"),
            F.min(F.when(F.col(CORRUPT_COLUMN).isNotNull(), F.col(POS_COLUMN))).alias("corrupt"),
            F.min(F.when(~_fine(schema), F.col(POS_COLUMN))).alias("broken"),
        )
        .collect()
    }
    for index, (name, header) in enumerate(zip(names, headers, strict=True)):
        problem = header_problem(header, schema)
        if problem:
            raise PipelineError(f"{display_name(name)}: {problem}")
        stats = found.get(index)
        if stats is None:
            empty = NO_ROWS_PARQUET if is_parquet(name) else NO_ROWS_CSV
            raise PipelineError(f"{display_name(name)}: {empty}")
        in_file = rows.where(F.col(FILE_COLUMN) == index)
        if stats["corrupt"] is not None:
            record = in_file.where(F.col(POS_COLUMN) == stats["corrupt"]).first()[CORRUPT_COLUMN]
            line = _where(in_file, stats["corrupt"], name).split(" ", 1)[1]
            raise PipelineError(
                f"{display_name(name)}: {line} has {_field_count(record)} fields, the header has "
                f"{len(header)}"
            )
        if stats["broken"] is not None:
            _name_first_broken_rule(in_file, name, schema)
    return {index: stats["rows"] for index, stats in found.items()}


def _name_first_broken_rule(in_file: DataFrame, name: str, schema: DataSchema) -> None:
    """The PipelineError of the first rule (in _problems' order) a row of the file breaks,
    at the first row that breaks it."""
    from pyspark.sql import functions as F

    rules = _problems(schema)
    first = in_file.agg(
        *[
            F.min(F.when(broken, F.col(POS_COLUMN))).alias(f"r{i}")
            for i, (_, _, broken) in enumerate(rules)
        ]
    ).first()
    for i, (kind, column, _) in enumerate(rules):
        position = first[f"r{i}"]
        if position is not None:
            raw = in_file.where(F.col(POS_COLUMN) == position).first()[column]
            where = _where(in_file, position, name)
            raise PipelineError(_message(kind, column, raw, where, name, in_file))


def _message(kind: str, column: str, raw: str, where: str, name: str, frame: DataFrame) -> str:
    source = display_name(name)
    if kind == "non-numeric":
        return f"{source}: column {column!r} has non-numeric value {raw!r} {where}"
    if kind == "infinite":
        value = float(raw)
        return (
            f"{source}: column {column!r} has infinite value {value!r} {where}; "
            f"features must be finite numbers"
        )
    if kind == "out of range":
        return (
            f"{source}: column {column!r} has out-of-range value {float(raw)!r} {where}; "
            f"{OUT_OF_RANGE}"
        )
    if kind == "empty":
        return f"{source}: column {column!r} (target) is empty {where}"
    return (
        f"{source}: column {column!r} (target) must be binary 0/1, "
        f"found {_target_shown(frame, column, raw, name)} {where}"
    )


def _target_shown(frame: DataFrame, column: str, raw: str, name: str) -> str:
    """The value as pandas shows it: a number when the whole column is numbers (an integer
    unless one is written as a decimal, or stored as one in a Parquet file), else the text."""
    from pyspark.sql import functions as F

    if is_parquet(name):
        kind = frame.sparkSession.read.parquet(readable_path(name)).schema[column].dataType
        if kind.typeName() == "string":
            return repr(raw)
        number = float(raw)
        return repr(number) if kind.typeName() in ("double", "float") else repr(int(number))
    text = F.col(column)
    stats = frame.select(
        F.max(F.when(~missing_text(text) & number_of(text).isNull(), 1)).alias("text"),
        F.max(F.when(text.rlike(r"[.eEnN]"), 1)).alias("decimal"),
    ).first()
    if stats["text"]:
        return repr(raw)
    number = float(raw)
    return repr(int(number)) if not stats["decimal"] else repr(number)
