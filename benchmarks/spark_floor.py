"""The least a plain Spark job does for what our Spark engine does: the floor of its cost.

    python benchmarks/spark_floor.py ingest --input DIR --output finaldata.csv [--master M]
    python benchmarks/spark_floor.py score --input DIR --model-uri URI --output scored.csv

ingest: each CSV file read by Spark's reader with the schema (text ids, double features, an
integer target; FAILFAST, so a value that is not of its column's type stops the job), the
target checked to be 0/1 in one aggregation, duplicates dropped keeping the first occurrence
(by file, then position), the rows written as one CSV (executor parts joined in order).
score: the same read, ``mlflow.pyfunc.spark_udf`` over the features, the ids and the
prediction written as one CSV. No messages that name a line, no byte-identical output, no
spreadsheet-safe cells: what benchmarks/engines.py compares our Spark engine's cost with.
Prints the rows written.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from functools import reduce
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # a script run from anywhere; the project is not installed
    sys.path.insert(0, str(ROOT))

FEATURES = ("lastmonth_activity", "lastyear_activity", "number_of_employees")
IDS = ("corporation",)
TARGET = "exited"


def session(master: str):
    from pyspark.sql import SparkSession

    # The executors' Python is this one (the first python3 on PATH may lack pandas).
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    spark = (
        SparkSession.builder.master(master)
        .appName("spark-floor")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .getOrCreate()
    )
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def typed_read(spark, files: list[Path]):
    """The files in order, each with its index and every row's position in it. The target
    is in the schema for scoring too: the header must match it; Spark parses only the
    columns a query uses."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import DoubleType, IntegerType, StringType, StructField, StructType

    layout = StructType(
        [
            *[StructField(c, StringType()) for c in IDS],
            *[StructField(c, DoubleType()) for c in FEATURES],
            StructField(TARGET, IntegerType()),
        ]
    )
    frames = [
        spark.read.options(header=True, mode="FAILFAST", enforceSchema=False)
        .schema(layout)
        .csv(str(path))
        .withColumn("_file", F.lit(index))
        .withColumn("_pos", F.monotonically_increasing_id())
        for index, path in enumerate(files)
    ]
    return reduce(lambda a, b: a.unionByName(b), frames)


def joined(frame, header: str, output: Path) -> int:
    """The frame's parts as the executors write them, joined in order under ``header``."""
    parts = output.with_name(f".{output.name}.parts")
    shutil.rmtree(parts, ignore_errors=True)
    frame.write.option("header", False).csv(str(parts))
    rows = 0
    with open(output, "wb") as out:
        out.write(header.encode())
        for part in sorted(parts.glob("part-*")):
            data = part.read_bytes()
            rows += data.count(b"\n")
            out.write(data)
    shutil.rmtree(parts, ignore_errors=True)
    return rows


def ingest(spark, files: list[Path], output: Path) -> int:
    from pyspark.sql import functions as F

    rows = typed_read(spark, files)
    columns = [*IDS, *FEATURES, TARGET]
    bad = rows.agg(F.sum((~F.col(TARGET).isin(0, 1) | F.col(TARGET).isNull()).cast("long")))
    if bad.first()[0]:
        raise SystemExit(f"column {TARGET!r} must be 0/1")
    first = rows.groupBy(*columns).agg(F.min(F.struct("_file", "_pos")).alias("_first"))
    kept = first.orderBy("_first").select(*columns)
    return joined(kept, ",".join(columns) + "\n", output)


def score(spark, files: list[Path], model_uri: str, output: Path) -> int:
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    rows = typed_read(spark, files)
    predict = mlflow.pyfunc.spark_udf(spark, model_uri, result_type="double", env_manager="local")
    scored = rows.select(
        *IDS, predict(F.struct(*[F.col(c) for c in FEATURES])).cast("int").alias("prediction")
    )
    return joined(scored, ",".join([*IDS, "prediction"]) + "\n", output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("work", choices=("ingest", "score"))
    parser.add_argument("--input", type=Path, required=True, help="folder of CSV files")
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--model-uri", help="the model to score with (score)")
    parser.add_argument("--master", default="local[*]")
    args = parser.parse_args()
    files = sorted(args.input.glob("*.csv"))
    spark = session(args.master)
    try:
        if args.work == "ingest":
            written = ingest(spark, files, args.output)
        else:
            written = score(spark, files, args.model_uri, args.output)
    finally:
        spark.stop()
    print(written)


if __name__ == "__main__":
    main()
