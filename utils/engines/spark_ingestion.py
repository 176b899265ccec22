"""Ingestion on Apache Spark: the contract of utils.data.ingestion, with the rows on the executors.

The same files in the same order (CSV and Parquet; a folder, a comma list of folders, or any
glob or URI that Spark's Hadoop layer lists), the same checks with the same one-line errors
naming the file, the column and the line (a Parquet file's row), the same de-duplication (equal
values are equal: 3, 3.0 and 3e0 are one value; an empty cell, NaN and pandas' missing-value
markers are one missing value) keeping the first occurrence, and the same finaldata.csv byte for
byte: its text is written by the same Polars writer, one slice of sorted rows at a time on the
executors, and joined in order. finaldata.parquet holds the same values with the same types.

Differences, stated in README ("Beyond one machine"): a non-local file is read as UTF-8
without the local engine's check of its bytes, and a whole-number feature beyond 2**53 is a
double.
"""

from __future__ import annotations

import logging
import math
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from utils.data.ingestion import FileRecord, log_records
from utils.data.schema import (
    MAX_FEATURE_MAGNITUDE,
    NO_ROWS_CSV,
    NO_ROWS_PARQUET,
    OUT_OF_RANGE,
    DataSchema,
)
from utils.engines.spark import (
    as_text,
    java_reason,
    listed_by_spark,
    missing_text,
    number_of,
    write_joined,
)
from utils.errors import PipelineError
from utils.files import is_parquet, spark_only

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)

_EXACT_FLOAT_INT = 2**53
_FILE, _POS, _CORRUPT = "_risk_file", "_risk_pos", "_risk_corrupt"


@dataclass(frozen=True)
class SparkIngestion:
    """The kept rows (sorted as finaldata.csv has them), per-file records, integer columns."""

    kept: DataFrame
    files: list[FileRecord]
    integer_columns: tuple[str, ...]
    columns: list[str]

    @property
    def rows(self) -> int:
        return sum(record.rows_kept for record in self.files)


def list_files(spark: SparkSession, spec: str) -> list[str]:
    """The data files (CSV and Parquet) of each comma-separated part, in order: a local folder
    exactly as the local engine lists it; any other URI (s3a://, hdfs://...) or glob as
    Spark's Hadoop layer lists it, in name order."""
    from utils.data.ingestion import list_data_files

    found: list[str] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if not spark_only(part):
            found += [f"file://{path.resolve()}" for path in list_data_files(Path(part))]
        else:
            found += listed_by_spark(spark, part)
    return found


def _local(name: str) -> Path | None:
    """The local path of a ``file:`` URI as Hadoop writes them (file:/x or file:///x)."""
    if not name.startswith("file:"):
        return None
    return Path("/" + name[len("file:") :].lstrip("/"))


def _readable(name: str) -> str:
    """``name`` for Spark's reader, which takes glob characters as patterns."""
    return "".join(f"\\{c}" if c in "[]{}*?\\" else c for c in name)


_CSV = {"header": True, "escape": '"', "multiLine": True, "mode": "PERMISSIVE"}


def _header(spark: SparkSession, name: str) -> list[str]:
    """A file's column names: read here for a local file (after the local engine's check that
    a CSV is UTF-8 text, or that a Parquet file is one), by Spark for any other."""
    local = _local(name)
    if local is not None and is_parquet(name):
        from utils.data.headers import parquet_columns

        return parquet_columns(local)
    if local is None:
        try:
            reader = spark.read.parquet if is_parquet(name) else spark.read.options(**_CSV).csv
            return reader(_readable(name)).columns
        except Exception as err:  # Spark's AnalysisException, Py4J's errors: no common base
            raise PipelineError(f"{name}: cannot read it ({java_reason(err)})") from None
    from utils.data.headers import column_names
    from utils.data.schema import not_utf8

    problem = not_utf8(local)
    if problem:
        raise PipelineError(f"{local}: {problem}")
    return column_names(local)


def _header_problem(header: list[str], schema: DataSchema) -> str | None:
    if not header:
        return "file is empty (no header, no rows)"
    missing = [c for c in schema.columns if c not in header]
    if missing:
        return f"missing required column(s) {', '.join(repr(c) for c in missing)}"
    return None


def _frame(
    spark: SparkSession, name: str, index: int, header: list[str], schema: DataSchema
) -> DataFrame:
    """One file, every column as text as written, its index, each row's position (in file
    order) and the text of any row whose field count is not the header's."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import StringType, StructField, StructType

    if is_parquet(name):
        return _parquet_frame(spark, name, index, schema)
    fields = [StructField(c, StringType()) for c in header]
    layout = StructType([*fields, StructField(_CORRUPT, StringType())])
    return (
        spark.read.options(**_CSV, columnNameOfCorruptRecord=_CORRUPT)
        .schema(layout)
        .csv(_readable(name))
        .withColumn(_FILE, F.lit(index))
        .withColumn(_POS, F.monotonically_increasing_id())
    )


def _parquet_frame(spark: SparkSession, name: str, index: int, schema: DataSchema) -> DataFrame:
    """A Parquet file as _frame gives a CSV: the schema's columns as text (numbers as Spark
    writes them, which read back to the same doubles; booleans as 0/1), positions from the
    file's own row index."""
    from pyspark.sql import functions as F

    frame = spark.read.parquet(_readable(name))
    return frame.select(
        *[as_text(frame, c) for c in schema.columns],
        F.lit(index).alias(_FILE),
        F.col("_metadata.row_index").alias(_POS),
        F.lit(None).cast("string").alias(_CORRUPT),
    )


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
    return where_row(frame.where(F.col(_POS) < position).count())


def _display(name: str) -> str:
    local = _local(name)
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
    within the bound (infinity is beyond it), the target a number that is 0 or 1."""
    from functools import reduce

    from pyspark.sql import functions as F

    def feature(name: str) -> Column:
        number = number_of(F.col(name))
        return missing_text(F.col(name)) | (
            number.isNotNull() & (F.abs(number) <= MAX_FEATURE_MAGNITUDE)
        )

    target = number_of(F.col(schema.target)).isin(0.0, 1.0)
    return F.coalesce(
        reduce(lambda a, b: a & b, map(feature, schema.features)) & target, F.lit(False)
    )


def _check_all(
    rows: DataFrame, names: list[str], headers: list[list[str]], schema: DataSchema
) -> dict[int, int]:
    """The local engine's first complaint, file by file in order: a header problem, no
    rows, a row with the wrong field count, then each value rule at its first line; else
    the rows read of each file. One pass over every file says which files have a broken
    row (one flag per row: each rule's own first row cost a column of aggregates); only
    such a file is searched again for each rule's first row."""
    from pyspark.sql import functions as F

    found = {
        row[_FILE]: row
        for row in rows.groupBy(_FILE)
        .agg(
            F.count("*").alias("rows"),
            F.min(F.when(F.col(_CORRUPT).isNotNull(), F.col(_POS))).alias("corrupt"),
            F.min(F.when(~_fine(schema), F.col(_POS))).alias("broken"),
        )
        .collect()
    }
    for index, (name, header) in enumerate(zip(names, headers, strict=True)):
        problem = _header_problem(header, schema)
        if problem:
            raise PipelineError(f"{_display(name)}: {problem}")
        stats = found.get(index)
        if stats is None:
            empty = NO_ROWS_PARQUET if is_parquet(name) else NO_ROWS_CSV
            raise PipelineError(f"{_display(name)}: {empty}")
        in_file = rows.where(F.col(_FILE) == index)
        if stats["corrupt"] is not None:
            record = in_file.where(F.col(_POS) == stats["corrupt"]).first()[_CORRUPT]
            line = _where(in_file, stats["corrupt"], name).split(" ", 1)[1]
            raise PipelineError(
                f"{_display(name)}: {line} has {_field_count(record)} fields, the header has "
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
            F.min(F.when(broken, F.col(_POS))).alias(f"r{i}")
            for i, (_, _, broken) in enumerate(rules)
        ]
    ).first()
    for i, (kind, column, _) in enumerate(rules):
        position = first[f"r{i}"]
        if position is not None:
            raw = in_file.where(F.col(_POS) == position).first()[column]
            where = _where(in_file, position, name)
            raise PipelineError(_message(kind, column, raw, where, name, in_file))


def _message(kind: str, column: str, raw: str, where: str, name: str, frame: DataFrame) -> str:
    source = _display(name)
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
        kind = frame.sparkSession.read.parquet(_readable(name)).schema[column].dataType
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


def _typed(frame: DataFrame, schema: DataSchema) -> DataFrame:
    """Ids as written, features as doubles (missing: null, -0.0: 0.0), the target as 0/1."""
    from pyspark.sql import functions as F

    def decimal(name: str) -> Column:
        value = number_of(F.col(name))
        return F.when(value == 0.0, F.lit(0.0)).otherwise(value).alias(name)

    return frame.select(
        *[F.col(c) for c in schema.id_columns],
        *[decimal(c) for c in schema.features],
        number_of(F.col(schema.target)).cast("long").alias(schema.target),
        _FILE,
        _POS,
    )


def ingest_with_spark(spark: SparkSession, files: list[str], schema: DataSchema) -> SparkIngestion:
    """Read, check and de-duplicate ``files`` (in order), as utils.data.ingestion does."""
    from functools import reduce

    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from utils.data.ingestion import NO_LABELLED_FILE, without_unlabelled

    local = [_local(name) for name in files]
    if all(path is not None for path in local):
        labelled = {str(p) for p in without_unlabelled([p for p in local if p], schema)}
        files = [name for name, path in zip(files, local, strict=True) if str(path) in labelled]
    if not files:
        raise PipelineError(NO_LABELLED_FILE)
    headers = [_header(spark, name) for name in files]
    wanted = [*schema.columns, _FILE, _POS, _CORRUPT]
    frames = [
        _frame(spark, name, index, header, schema).select(*wanted)
        for index, (name, header) in enumerate(zip(files, headers, strict=True))
        if _header_problem(header, schema) is None
    ]
    if not frames:  # every file's header is wrong: the first one says so
        raise PipelineError(f"{_display(files[0])}: {_header_problem(headers[0], schema)}")
    raw = reduce(lambda a, b: a.unionByName(b), frames)
    _check_all(raw, files, headers, schema)
    rows = _typed(raw, schema)
    first = Window.partitionBy(*schema.columns).orderBy(_FILE, _POS)
    marked = rows.withColumn("_risk_first", F.row_number().over(first) == 1).cache()
    whole = [
        F.min(
            F.when(
                F.col(c).isNotNull(),
                (F.col(c) == F.floor(F.col(c))) & (F.abs(F.col(c)) < _EXACT_FLOAT_INT),
            ).cast("int")
        ).alias(f"whole_{c}")
        for c in schema.features
    ]
    per_file = (
        marked.groupBy(_FILE)
        .agg(
            F.count("*").alias("read"),
            F.sum(F.col("_risk_first").cast("long")).alias("kept"),
            *whole,
        )
        .collect()
    )
    counts = {row[_FILE]: (row["read"], row["kept"]) for row in per_file}
    integer_columns = tuple(
        c for c in schema.features if all(row[f"whole_{c}"] in (1, None) for row in per_file)
    )
    kept = marked.where("_risk_first").drop("_risk_first").orderBy(_FILE, _POS)
    digests = _sha256s(spark, files)
    records = [
        FileRecord(name.rsplit("/", 1)[-1], digests[name], *map(int, counts.get(i, (0, 0))))
        for i, name in enumerate(files)
    ]
    log_records(records)
    return SparkIngestion(kept, records, integer_columns, list(schema.columns))


def _sha256s(spark: SparkSession, files: list[str]) -> dict[str, str]:
    """Each file's sha256: on this machine for local files, on the executors otherwise."""
    from utils.files import sha256_file

    digests = {name: sha256_file(path) for name in files if (path := _local(name)) is not None}
    remote = [name for name in files if name not in digests]
    if remote:
        import hashlib

        pairs = spark.sparkContext.binaryFiles(",".join(remote))
        digests.update(pairs.mapValues(lambda data: hashlib.sha256(data).hexdigest()).collect())
    return digests


def _csv_slices(integer_columns: tuple[str, ...], columns: list[str]):
    """A mapInPandas function: each slice of kept rows as CSV text by the local engine's own
    writer (Polars, with the integer columns as integers)."""

    def write(batches: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
        import pandas as pd
        import polars as pl

        from utils.data.cells import inert_text_columns
        from utils.data.ingestion import as_written

        for batch in batches:
            if batch.empty:
                continue
            frame = pl.from_pandas(batch[columns])
            written = inert_text_columns(as_written(frame, integer_columns))
            text = written.write_csv(include_header=False)
            yield pd.DataFrame({"value": [text[:-1]]})

    return write


def write_finaldata(ingestion: SparkIngestion, path: Path, schema: DataSchema) -> None:
    """finaldata.csv as the local engine writes it: header, then the kept rows in order."""
    import polars as pl

    from utils.data.ingestion import as_written

    columns = ingestion.columns
    texts = ingestion.kept.select(*columns).mapInPandas(
        _csv_slices(ingestion.integer_columns, columns), "value string"
    )
    empty = pl.DataFrame(
        schema={c: pl.Float64 if c in schema.features else pl.String for c in columns}
    )
    header = as_written(empty, ingestion.integer_columns).write_csv()
    write_joined(texts, header, path, as_text=True)


def write_finaldata_parquet(ingestion: SparkIngestion, path: Path, schema: DataSchema) -> None:
    """finaldata.parquet as the local engine writes it: the same columns with the same types,
    the kept rows in order. The executors write the parts; their row groups are joined here,
    one at a time, into one file."""
    import polars as pl
    import pyarrow.parquet as pq
    from pyspark.sql import functions as F

    from utils.data.ingestion import as_written

    columns = ingestion.columns
    empty = pl.DataFrame(
        schema={c: pl.Float64 if c in schema.features else pl.String for c in columns}
    ).with_columns(pl.col(schema.target).cast(pl.Int64))
    layout = as_written(empty, ingestion.integer_columns).to_arrow().schema
    integers = {*ingestion.integer_columns, schema.target}
    typed = ingestion.kept.select(
        *[F.col(c).cast("long").alias(c) if c in integers else F.col(c) for c in columns]
    )
    parts = path.with_name(f".{path.name}.parts")
    shutil.rmtree(parts, ignore_errors=True)
    typed.write.parquet(str(parts))
    try:
        with pq.ParquetWriter(path, layout) as writer:
            for part in sorted(parts.glob("part-*")):
                source = pq.ParquetFile(part)
                for group in range(source.num_row_groups):
                    writer.write_table(source.read_row_group(group).cast(layout))
    finally:
        shutil.rmtree(parts, ignore_errors=True)


def write_ingestion_spark(
    ingestion: SparkIngestion, output_dir: Path, schema: DataSchema, finaldata_format: str = "csv"
) -> tuple[Path, Path]:
    """Publish finaldata (CSV or Parquet) and the file list as
    utils.data.ingestion.write_ingestion does."""
    from utils.data.ingestion import FINALDATA_FILES, publish_ingestion

    names = [record.name for record in ingestion.files]
    writer = write_finaldata_parquet if finaldata_format == "parquet" else write_finaldata

    def write(path: Path) -> None:
        writer(ingestion, path, schema)

    return publish_ingestion(
        write, names, ingestion.rows, output_dir, FINALDATA_FILES[finaldata_format]
    )
