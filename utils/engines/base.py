"""The compute engines' one interface, and the one place that chooses an engine.

Every data-heavy piece of work (ingesting the input files, the test metrics of a trained model,
scoring large files, the ingested data's statistics, live monitoring's chunks) is a method of
an ``Engine``. The local engine works in this process (Polars, pandas, scikit-learn); the Spark
engine on Spark's executors, with the same results. Callers ask ``engine_for(settings)`` for
one (utils.engines.choose) and never test which it is.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from utils.data.ingestion import FileRecord
    from utils.data.schema import DataSchema

SPARK = "spark"
ENGINES = ("local", SPARK)


@dataclass(frozen=True)
class EngineSettings:
    """Where a step's data-heavy work runs (config ``compute``)."""

    name: str = "local"
    spark_master: str = "local[*]"
    spark_options: dict[str, Any] = field(default_factory=dict)
    spark_env_manager: str = "local"

    @classmethod
    def from_compute(cls, compute: Any) -> EngineSettings:
        """The settings of config section ``compute`` (fullprocess.py, batch_scoring.py)."""
        return cls(
            compute.engine, compute.spark_master, dict(compute.spark_options),
            compute.spark_env_manager,
        )  # fmt: skip

    def spark(self) -> SparkSession:
        """The Spark session at this master with these options (PySpark imported here)."""
        from utils.engines.spark import spark_session

        return spark_session(self.spark_master, self.spark_options)


@dataclass(frozen=True)
class Ingested:
    """Input files read, checked and de-duplicated: nothing written until ``publish(folder)``,
    which writes finaldata and the file list there and returns their paths."""

    files: list[FileRecord]
    rows: int
    publish: Callable[[Path], tuple[Path, Path]]


class Engine(Protocol):
    name: str
    # Whether input may be a URI (scheme://) that the engine lists and reads itself.
    reads_uris: bool

    def ingest(
        self, input_dir: str, schema: DataSchema, finaldata_format: str = "csv"
    ) -> Ingested: ...

    def test_metrics(
        self, model_dir: Path, test_data: Path, schema: DataSchema
    ) -> tuple[dict[str, float], str | None]:
        """The trained model's metrics on the test data, and its MLflow model URI if logged."""
        ...

    def score_files(
        self, files: list[str], deployment_dir: Path, schema: DataSchema, output: Path
    ) -> int:
        """The deployed model's class for every row of ``files`` (ids kept) as CSV at
        ``output``; returns the rows written."""
        ...

    def statistics(
        self, finaldata: Path, schema: DataSchema
    ) -> tuple[dict[str, dict[str, float]], dict[str, float]]:
        """Mean, median and std of each numeric column, and missing % of every column."""
        ...

    def monitor(
        self,
        streams: list,
        reference: Any,
        chunk_rows: int | None,
        chunk_period: str | None,
        threshold: float | None,
        drift: dict[str, Any],
    ) -> list[dict[str, Any]]:
        """Every stream's monitoring chunks, in order."""
        ...
