"""The data-heavy work on Apache Spark (config ``compute.engine: spark``).

Scoring runs the logged MLflow model through ``mlflow.pyfunc.spark_udf`` on the executors; what
comes back to the driver is a handful of counts (the confusion matrix and the ROC AUC's
per-partition sums), and predictions are written by the executors. The figures are the ones
the local engine computes: utils.model.scoring's metrics of the same confusion counts, and the same
Mann-Whitney statistic.

PySpark is an extra (``./setup_env.sh spark``) and needs Java 17; nothing here is imported
unless the engine is chosen.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from utils.data.schema import MAX_FEATURE_MAGNITUDE, NA_MARKERS, OUT_OF_RANGE, DataSchema
from utils.errors import PipelineError, first_line
from utils.files import atomic_path, is_parquet
from utils.runtime.logs import quieted

if TYPE_CHECKING:
    import numpy as np
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)

PREDICTION = "prediction"
PROBABILITY = "probability"
# What pandas reads as a number (Spark's cast alone would also take "1d" or hex floats).
_NUMBER = r"^\s*[+-]?((\d+\.?\d*|\.\d+)([eE][+-]?\d+)?|[iI][nN][fF]([iI][nN][iI][tT][yY])?)\s*$"
_APP_NAME = "risk-monitoring"


def spark_conf(options: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """Spark options as flat ``spark.x.y`` keys, whether given flat or nested (Hydra turns
    ``compute.spark_options.spark.executor.memory=8g`` into nested mappings)."""
    flat: dict[str, str] = {}
    for key, value in options.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            flat.update(spark_conf(value, f"{name}."))
        else:
            flat[name] = str(value).lower() if isinstance(value, bool) else str(value)
    return flat


def spark_session(master: str, options: Mapping[str, Any]) -> SparkSession:
    """A Spark session at ``master`` with ``options``; PipelineError when PySpark or Java is
    missing (Spark's own start-up failure is one line too)."""
    try:
        from pyspark.sql import SparkSession
    except ImportError:
        raise PipelineError(
            "config key compute.engine: spark needs PySpark: run ./setup_env.sh spark"
        ) from None
    if shutil.which("java") is None and not _java_home():
        raise PipelineError(
            "config key compute.engine: spark needs Java 17 (Debian: openjdk-17-jre-headless)"
        )
    # PySpark 4 warns that it does not fully support pandas 3 (the project's pin): both
    # engines' results are compared in tests/utils/test_spark_*.py.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    builder = SparkSession.builder.master(master).appName(_APP_NAME)
    log_config = Path(__file__).with_name("spark-log4j2.properties")
    builder = builder.config(
        "spark.driver.extraJavaOptions", f"-Dlog4j2.configurationFile=file:{log_config}"
    )
    # The web UI is of no use to a cron job and takes a port; a user may turn it back on.
    builder = builder.config("spark.ui.enabled", "false")
    builder = builder.config("spark.ui.showConsoleProgress", "false")
    conf = spark_conf(options)
    # The executors start the Python the driver names: PySpark reads PYSPARK_PYTHON, not the
    # option, when the JVM is started from Python (spark-submit alone reads the option).
    if "spark.pyspark.python" in conf:
        os.environ["PYSPARK_PYTHON"] = conf["spark.pyspark.python"]
    elif master.startswith("local"):
        # On this machine: this interpreter, not the first python3 on PATH, which may lack
        # the project's packages. A cluster's executors run python3 unless told otherwise.
        os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    for key, value in conf.items():
        builder = builder.config(key, value)
    try:
        session = builder.getOrCreate()
    except Exception as err:  # Py4J and JVM start-up errors have no common base class
        raise PipelineError(f"Spark at {master}: could not start ({java_reason(err)})") from None
    session.sparkContext.setLogLevel("WARN")
    # Py4J says INFO at every connection; a cron job's log has no use for it.
    logging.getLogger("py4j").setLevel(logging.WARNING)
    return session


def listed_by_spark(spark: SparkSession, spec: str) -> list[str]:
    """The data files (*.csv, *.parquet) at a URI or glob as Spark's Hadoop layer lists them:
    a folder's, a glob's matches or the file itself, in name order. PipelineError naming
    ``spec`` when nothing is there or the storage cannot be listed (an unknown scheme, no
    credentials)."""
    from utils.files import DATA_SUFFIXES

    try:
        jvm = spark.sparkContext._jvm
        path = jvm.org.apache.hadoop.fs.Path(spec)
        fs = path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
        if fs.exists(path) and fs.getFileStatus(path).isDirectory():
            statuses = fs.listStatus(path)
        else:
            statuses = fs.globStatus(path) or []
        names = [str(s.getPath().toString()) for s in statuses if s.isFile()]
    except Exception as err:  # Py4J carries the JVM's exception; its own text is one line
        raise PipelineError(f"{spec}: cannot list it ({java_reason(err)})") from None
    names = [n for n in names if n.lower().endswith(DATA_SUFFIXES)]
    if not names:
        raise PipelineError(f"{spec}: no *.csv or *.parquet files there")
    return sorted(names, key=lambda name: name.rsplit("/", 1)[-1])


def java_reason(err: Exception) -> str:
    """The first line of what went wrong in the JVM (Py4J's own first line only names the
    call), or of a Python error."""
    java = getattr(err, "java_exception", None)
    return first_line(err) if java is None else first_line(Exception(str(java.toString())))


def _java_home() -> str | None:
    home = os.environ.get("JAVA_HOME")
    return home if home and Path(home, "bin", "java").exists() else None


def missing_text(column: Column) -> Column:
    """A cell the data contract reads as missing: empty or one of pandas' markers."""
    return column.isNull() | column.isin(list(NA_MARKERS))


# Nearly every cell is a plain number: text of these characters only. For such text Spark's
# cast succeeds exactly where _NUMBER matches (Java's decimal grammar without its d/f
# suffixes, hex and special words, which need other characters), and no missing-value
# marker but "" is made of them; so the cast alone reads it, and the marker lookup and
# _NUMBER run only for the rest. Reading a feature's column cost 1.7 times the cast alone
# with both on every cell, 1.2 times this way (3,000,000 rows, benchmarks/engines.py's data).
_PLAIN_NUMBER = r"^[0-9.eE+-]+$"


def _read_as_number(text: Column, number: Column, otherwise: Column | None = None) -> Column:
    """The grammar number_of and checked_number share: ``number`` for plain-number text, null
    for a missing-value marker, ``number`` for other text pandas reads as a number, else
    ``otherwise`` (null when not given)."""
    from pyspark.sql import functions as F

    read = (
        F.when(text.rlike(_PLAIN_NUMBER), number)
        .when(missing_text(text), F.lit(None))
        .when(text.rlike(_NUMBER), number)
    )
    return read if otherwise is None else read.otherwise(otherwise)


def number_of(column: Column) -> Column:
    """The text as a double where pandas reads a number there, else null."""
    return _read_as_number(column, column.try_cast("double"))


def as_text(frame: DataFrame, column: str) -> Column:
    """A typed (Parquet) column as text that the CSV rules read alike: numbers as Spark
    writes them, which read back to the same doubles, and booleans as 0/1."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType

    value = F.col(column)
    if isinstance(frame.schema[column].dataType, BooleanType):
        value = value.cast("int")
    return value.cast("string").alias(column)


def read_features(
    spark: SparkSession, paths: list[str], schema: DataSchema, target: bool = False
) -> DataFrame:
    """The id columns (as text) and features (as doubles, empty cells null) of CSV files
    with a header or Parquet files, and the target as an integer when ``target``; in input
    order: each path read on its own, one after the other (Spark orders the files it reads
    together by size).

    A missing column is a PipelineError here. A value that is not a number, or is outside the
    data contract, fails the first action that computes its column (not a count, which Spark
    answers without the values): run actions inside ``values_checked``, which names the file,
    the column and the value. Checking as the rows
    go by costs nothing more; a scan of its own before the work took a pass over every
    file per column."""
    from functools import reduce

    frames = [_read_one(spark, path, schema, target) for path in paths]
    ids = [c for c in schema.id_columns if all(c in frame.columns for frame in frames)]
    wanted = [*ids, *schema.features, *([schema.target] if target else [])]
    return reduce(lambda a, b: a.unionByName(b), [frame.select(*wanted) for frame in frames])


# What an action over read_features' rows fails with when a value breaks the contract; the
# message that names the value comes from values_checked.
_OUT_OF_CONTRACT = "risk-monitoring: a value outside the data contract"


@contextmanager
def values_checked(
    spark: SparkSession, paths: list[str], schema: DataSchema, target: bool = False
) -> Iterator[None]:
    """Run actions over ``read_features(spark, paths, schema, target)``: when one meets a
    value outside the data contract, the PipelineError naming the first such value (file by
    file, column by column), found by a search that only a failure pays for."""
    try:
        yield
    except Exception as err:  # Py4J carries the JVM's failure; no common base class
        if _OUT_OF_CONTRACT not in str(err):
            raise
        for path in paths:
            _name_first_bad_value(_raw(spark, path, schema), path, _needed(schema, target))
        raise


def _needed(schema: DataSchema, target: bool) -> list[str]:
    return [*schema.features, *([schema.target] if target else [])]


def _not_a_feature(raw: object) -> str:
    """Why a cell is not a feature value: not a number, or outside the data contract."""
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return f"value {raw!r} is not a number"
    return f"value {value!r} is out of range; {OUT_OF_RANGE}"


def _raw(spark: SparkSession, path: str, schema: DataSchema) -> DataFrame:
    """A file's columns as text (a Parquet file's schema columns as the CSV rules read them)."""
    if is_parquet(path):
        typed = spark.read.parquet(path)
        return typed.select(*[as_text(typed, c) for c in typed.columns if c in schema.columns])
    return spark.read.option("header", True).csv(path)


def out_of_contract(column: str) -> Column:
    """Whether a cell is neither missing nor a number within the data contract (null for a
    missing cell)."""
    from pyspark.sql import functions as F

    number = number_of(F.col(column))
    return (~missing_text(F.col(column)) & number.isNull()) | (
        F.abs(number) > MAX_FEATURE_MAGNITUDE
    )


def _name_first_bad_value(frame: DataFrame, path: str, needed: list[str]) -> None:
    """The PipelineError for ``path``'s first column with a value outside the contract."""
    for column in needed:
        bad = frame.where(out_of_contract(column)).select(column).first()
        if bad is not None:
            raise PipelineError(f"{path}: column {column!r}: {_not_a_feature(bad[0])}")


def checked_number(column: str) -> Column:
    """number_of the column, where a value outside the contract (out_of_contract) stops the
    job. Each value is cast once: a condition on number_of and number_of again cast it up to
    three times."""
    from pyspark.sql import functions as F

    text, stop = F.col(column), F.raise_error(F.lit(_OUT_OF_CONTRACT))
    number = text.try_cast("double")
    within = F.when(number.isNull() | (F.abs(number) > MAX_FEATURE_MAGNITUDE), stop)
    return _read_as_number(text, within.otherwise(number), stop)


def _read_one(spark: SparkSession, path: str, schema: DataSchema, target: bool) -> DataFrame:
    from pyspark.sql import functions as F

    needed = _needed(schema, target)
    frame = _raw(spark, path, schema)
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise PipelineError(f"{path}: no column {missing[0]!r}")

    ids = [F.col(c).cast("string").alias(c) for c in schema.id_columns if c in frame.columns]
    numbers = [checked_number(c).alias(c) for c in schema.features]
    label = [checked_number(schema.target).cast("int").alias(schema.target)] if target else []
    return frame.select(*ids, *numbers, *label)


def with_predictions(
    spark: SparkSession,
    frame: DataFrame,
    model_uri: str,
    schema: DataSchema,
    env_manager: str = "local",
) -> DataFrame:
    """``frame`` with the model's predicted class in column ``prediction``, computed on the
    executors by ``mlflow.pyfunc.spark_udf``. ``env_manager`` local: the executors run this
    environment (a cluster's nodes need the project's requirements); virtualenv, uv or conda:
    MLflow rebuilds the model's own environment on each executor."""
    import mlflow.pyfunc
    from pyspark.sql import functions as F

    # Its warning that env_manager local does not rebuild the model's environment is the
    # configured choice (compute.spark_env_manager), not news.
    quiet = quieted("mlflow.pyfunc", "mlflow.models.flavor_backend_registry", level=logging.ERROR)
    with quiet, _errors_of(model_uri):
        predict = mlflow.pyfunc.spark_udf(
            spark, model_uri, result_type="double", env_manager=env_manager
        )
    features = F.struct(*[F.col(c) for c in schema.features])
    return frame.withColumn(PREDICTION, predict(features).cast("int"))


def with_probabilities(
    spark: SparkSession,
    frame: DataFrame,
    model_uri: str,
    schema: DataSchema,
    scratch: Path,
    env_manager: str = "local",
) -> DataFrame:
    """``frame`` with the model's class-1 probability in column ``probability``, computed on
    the executors by ``mlflow.pyfunc.spark_udf`` from a copy of the logged model (in
    ``scratch``, which must outlive the computation) whose pyfunc answers predict_proba: the
    logged pyfunc answers classes. scikit-learn's predict_proba of a logistic regression is
    the logistic of its decision function, bit for bit what the local engine computes."""
    import mlflow.artifacts
    import mlflow.pyfunc
    from mlflow.models import Model
    from pyspark.sql import functions as F

    quiet = quieted("mlflow.pyfunc", "mlflow.models.flavor_backend_registry", level=logging.ERROR)
    with quiet, _errors_of(model_uri):
        local = Path(mlflow.artifacts.download_artifacts(model_uri, dst_path=str(scratch)))
        description = Model.load(local / "MLmodel")
        description.flavors["python_function"]["predict_fn"] = "predict_proba"
        description.save(local / "MLmodel")
        predict = mlflow.pyfunc.spark_udf(
            spark, str(local), result_type="array<double>", env_manager=env_manager
        )
    features = F.struct(*[F.col(c) for c in schema.features])
    return frame.withColumn(PROBABILITY, predict(features)[1])


def roc_auc_of(frame: DataFrame, target: str) -> float:
    """Area under the ROC curve of ``probability`` against ``target``, exactly (the
    Mann-Whitney statistic, ties counting half, in integers), on the executors: the rows are
    counted per distinct probability, sorted across the cluster, and each sorted partition
    adds its part given the negatives in the partitions before it. NaN with one class only."""
    from pyspark.sql import functions as F

    counted = (
        frame.groupBy(PROBABILITY)
        .agg(
            F.sum(F.col(target).cast("long")).alias("positive"),
            F.sum((1 - F.col(target)).cast("long")).alias("negative"),
        )
        .orderBy(PROBABILITY)
        .select("positive", "negative")
        .cache()
    )
    try:

        def totals(index: int, rows: Iterator) -> Iterator[tuple[int, int, int]]:
            positive = negative = 0
            for row in rows:
                positive, negative = positive + row[0], negative + row[1]
            yield index, positive, negative

        per_partition = sorted(counted.rdd.mapPartitionsWithIndex(totals).collect())
        n_positive = sum(positive for _, positive, _ in per_partition)
        n_negative = sum(negative for _, _, negative in per_partition)
        if not n_positive or not n_negative:
            return math.nan
        below, running = {}, 0
        for index, _, negative in per_partition:
            below[index], running = running, running + negative

        def twice_the_wins(index: int, rows: Iterator) -> Iterator[int]:
            # A positive beats each negative with a lower probability (2) and ties one with
            # the same (1): twice the Mann-Whitney count, in integers.
            negatives_below, twice = below[index], 0
            for positive, negative in rows:
                twice += positive * (2 * negatives_below + negative)
                negatives_below += negative
            yield twice

        wins = sum(counted.rdd.mapPartitionsWithIndex(twice_the_wins).collect())
    finally:
        counted.unpersist()
    return wins / (2 * n_positive * n_negative)


@contextmanager
def _errors_of(model_uri: str) -> Iterator[None]:
    from mlflow.exceptions import MlflowException

    try:
        yield
    except MlflowException as err:
        raise PipelineError(f"model {model_uri}: {first_line(err)}") from None


def confusion_of(frame: DataFrame, target: str) -> np.ndarray:
    """[[TN, FP], [FN, TP]] of the target against the predictions, counted on the executors."""
    import numpy as np

    counts = np.zeros((2, 2), dtype=np.int64)
    for row in frame.groupBy(target, PREDICTION).count().collect():
        truth, predicted = row[target], row[PREDICTION]
        if truth not in (0, 1) or predicted not in (0, 1):
            raise PipelineError(f"column {target!r}: value {truth!r} is not 0 or 1")
        counts[truth, predicted] = row["count"]
    return counts


def write_joined(frame: DataFrame, header: str, path: Path, as_text: bool = False) -> int:
    """One file at ``path``, written atomically: ``header``, then ``frame``'s rows as the
    executors write them (CSV, or a single text column as it is), joined in partition order.
    Returns the rows written."""
    path = Path(path)
    parts = path.with_name(f".{path.name}.parts")
    shutil.rmtree(parts, ignore_errors=True)
    rows = 0
    try:
        # A failing job (a value outside the contract met on the way) leaves no parts.
        if as_text:
            frame.write.text(str(parts))
        else:
            frame.write.option("header", False).option("escape", '"').csv(str(parts))
        with atomic_path(path) as tmp, open(tmp, "wb") as out:
            out.write(header.encode())
            for part in sorted(parts.glob("part-*")):
                with open(part, "rb") as handle:
                    while block := handle.read(1 << 20):
                        out.write(block)
                        rows += block.count(b"\n")
    finally:
        shutil.rmtree(parts, ignore_errors=True)
    return rows


def write_predictions_csv(frame: DataFrame, columns: list[str], path: Path) -> int:
    """The chosen columns as one CSV file at ``path`` (header once); the rows written. Text
    columns (ids) are made inert for spreadsheets as the local engine does (utils.data.cells)."""
    from utils.data.cells import inert_spark_column

    text = {name for name, kind in frame.dtypes if kind == "string"}
    chosen = [inert_spark_column(c).alias(c) if c in text else c for c in columns]
    return write_joined(frame.select(*chosen), ",".join(columns) + "\n", path)


def column_statistics(
    spark: SparkSession, path: str, schema: DataSchema
) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
    """Diagnostics of an ingested data set, computed by the executors in one pass: mean,
    median and standard deviation (n - 1) of every feature and the target, as
    utils.report.diagnostics.summary_statistics gives them, and the percent of missing values of
    every column, as utils.report.diagnostics.missing_percent does."""
    from pyspark.sql import functions as F

    frame = read_features(spark, [path], schema, target=True)
    numeric = [*schema.features, schema.target]
    columns = frame.columns
    aggregates = [F.count(F.lit(1)).alias("_rows")]
    for c in numeric:
        aggregates += [
            F.avg(c).alias(f"{c}__mean"),
            F.median(c).alias(f"{c}__median"),
            F.stddev_samp(c).alias(f"{c}__std"),
        ]
    aggregates += [F.sum(F.col(c).isNull().cast("long")).alias(f"{c}__missing") for c in columns]
    with values_checked(spark, [path], schema, target=True):
        row = frame.agg(*aggregates).first()

    def number(value: object) -> float:
        return math.nan if value is None else float(value)

    statistics = {
        c: {kind: number(row[f"{c}__{kind}"]) for kind in ("mean", "median", "std")}
        for c in numeric
    }
    rows = row["_rows"]
    missing = {c: (row[f"{c}__missing"] / rows * 100.0 if rows else 0.0) for c in columns}
    return statistics, missing
