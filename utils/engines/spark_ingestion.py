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
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from utils.data.ingestion import FileRecord, log_records
from utils.data.schema import DataSchema
from utils.engines.spark import (
    as_text,
    java_reason,
    listed_by_spark,
    number_of,
    write_joined,
)
from utils.engines.spark_checks import (
    CORRUPT_COLUMN,
    FILE_COLUMN,
    POS_COLUMN,
    check_rows,
    display_name,
    header_problem,
    local_path,
    readable_path,
)
from utils.errors import PipelineError
from utils.files import is_parquet, spark_only

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)

_EXACT_FLOAT_INT = 2**53


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


_CSV = {"header": True, "escape": '"', "multiLine": True, "mode": "PERMISSIVE"}


def _header(spark: SparkSession, name: str) -> list[str]:
    """A file's column names: read here for a local file (after the local engine's check that
    a CSV is UTF-8 text, or that a Parquet file is one), by Spark for any other."""
    local = local_path(name)
    if local is not None and is_parquet(name):
        from utils.data.headers import parquet_columns

        return parquet_columns(local)
    if local is None:
        try:
            reader = spark.read.parquet if is_parquet(name) else spark.read.options(**_CSV).csv
            return reader(readable_path(name)).columns
        except Exception as err:  # Spark's AnalysisException, Py4J's errors: no common base
            raise PipelineError(f"{name}: cannot read it ({java_reason(err)})") from None
    from utils.data.headers import column_names
    from utils.data.schema import not_utf8

    problem = not_utf8(local)
    if problem:
        raise PipelineError(f"{local}: {problem}")
    return column_names(local)


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
    layout = StructType([*fields, StructField(CORRUPT_COLUMN, StringType())])
    return (
        spark.read.options(**_CSV, columnNameOfCorruptRecord=CORRUPT_COLUMN)
        .schema(layout)
        .csv(readable_path(name))
        .withColumn(FILE_COLUMN, F.lit(index))
        .withColumn(POS_COLUMN, F.monotonically_increasing_id())
    )


def _parquet_frame(spark: SparkSession, name: str, index: int, schema: DataSchema) -> DataFrame:
    """A Parquet file as _frame gives a CSV: the schema's columns as text (numbers as Spark
    writes them, which read back to the same doubles; booleans as 0/1), positions from the
    file's own row index."""
    from pyspark.sql import functions as F

    frame = spark.read.parquet(readable_path(name))
    return frame.select(
        *[as_text(frame, c) for c in schema.columns],
        F.lit(index).alias(FILE_COLUMN),
        F.col("_metadata.row_index").alias(POS_COLUMN),
        F.lit(None).cast("string").alias(CORRUPT_COLUMN),
    )


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
        FILE_COLUMN,
        POS_COLUMN,
    )


def ingest_with_spark(spark: SparkSession, files: list[str], schema: DataSchema) -> SparkIngestion:
    """Read, check and de-duplicate ``files`` (in order), as utils.data.ingestion does."""
    from functools import reduce

    from pyspark.sql import Window
    from pyspark.sql import functions as F

    from utils.data.ingestion import NO_LABELLED_FILE, without_unlabelled

    local = [local_path(name) for name in files]
    if all(path is not None for path in local):
        labelled = {str(p) for p in without_unlabelled([p for p in local if p], schema)}
        files = [name for name, path in zip(files, local, strict=True) if str(path) in labelled]
    if not files:
        raise PipelineError(NO_LABELLED_FILE)
    headers = [_header(spark, name) for name in files]
    wanted = [*schema.columns, FILE_COLUMN, POS_COLUMN, CORRUPT_COLUMN]
    frames = [
        _frame(spark, name, index, header, schema).select(*wanted)
        for index, (name, header) in enumerate(zip(files, headers, strict=True))
        if header_problem(header, schema) is None
    ]
    if not frames:  # every file's header is wrong: the first one says so
        raise PipelineError(f"{display_name(files[0])}: {header_problem(headers[0], schema)}")
    raw = reduce(lambda a, b: a.unionByName(b), frames)
    check_rows(raw, files, headers, schema)
    rows = _typed(raw, schema)
    first = Window.partitionBy(*schema.columns).orderBy(FILE_COLUMN, POS_COLUMN)
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
        marked.groupBy(FILE_COLUMN)
        .agg(
            F.count("*").alias("read"),
            F.sum(F.col("_risk_first").cast("long")).alias("kept"),
            *whole,
        )
        .collect()
    )
    counts = {row[FILE_COLUMN]: (row["read"], row["kept"]) for row in per_file}
    integer_columns = tuple(
        c for c in schema.features if all(row[f"whole_{c}"] in (1, None) for row in per_file)
    )
    kept = marked.where("_risk_first").drop("_risk_first").orderBy(FILE_COLUMN, POS_COLUMN)
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

    digests = {name: sha256_file(path) for name in files if (path := local_path(name)) is not None}
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
    try:
        # Inside: a failing job leaves no parts either (write_joined does the same).
        typed.write.parquet(str(parts))
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
