"""Each step's parameters, declared once.

A step's parameters are one frozen dataclass here. Its command line (argparse), its
``MLproject`` (parameters and command; tests/utils/runtime/test_steps.py fails on any
difference, and ``python -m utils.runtime.steps`` writes them anew) and what main.py passes
(it builds the dataclass, so a missing or unknown parameter fails before any step runs) all
come from it. Lists travel comma-separated and numbers as MLflow's floats, as MLflow passes
parameters as text; the typed views (``schema``, ``model_params``, ``engine``) turn them into
the objects the steps use.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, TypeVar, get_type_hints

from utils.data.schema import DataSchema
from utils.engines.base import ENGINES, EngineSettings
from utils.errors import PipelineError
from utils.model.training import ModelParams

# What a step's finaldata may be (utils.data.ingestion.FINALDATA_FILES, not imported: that
# module pulls in Polars).
FINALDATA_FORMATS = ("csv", "parquet")
SPARK_ENV_MANAGERS = ("local", "virtualenv", "uv", "conda")
# diagnostics' package index (utils.report.diagnostics.PYPI_JSON_API, same reason).
PYPI_JSON_API = "https://pypi.org/pypi"


def param(help: str, default: Any = dataclasses.MISSING, choices: tuple | None = None) -> Any:
    """A step parameter: its help text (argparse's and MLproject's description), its default
    (none: required) and the values it may take. A default is the code's own (a step run
    alone, as README shows); main.py always passes config.yaml's value."""
    return field(default=default, metadata={"help": help, "choices": choices})


def split_list(value: str) -> list[str]:
    """A comma-separated parameter as names (empty string: no names)."""
    return [item.strip() for item in value.split(",") if item.strip()]


@dataclass(frozen=True, kw_only=True)
class StepParams:
    """What every step takes: where the monitoring store is (never with a password)."""

    STEP: ClassVar[str]
    FOLDER: ClassVar[str]
    SCRIPT: ClassVar[str]
    DESCRIPTION: ClassVar[str]

    store_url: str = param("SQLAlchemy URL of the monitoring store (no password)")

    @classmethod
    def fields(cls) -> list[tuple[dataclasses.Field, type]]:
        """The parameters in MLproject order (the step's own first, then the shared groups),
        each with its Python type."""
        hints = get_type_hints(cls)
        own = [
            f for f in dataclasses.fields(cls) if f.name in cls.__dict__.get("__annotations__", {})
        ]
        rest = [f for f in dataclasses.fields(cls) if f not in own]
        return [(f, hints[f.name]) for f in own + rest]

    @classmethod
    def parser(cls) -> argparse.ArgumentParser:
        parser = argparse.ArgumentParser(description=cls.DESCRIPTION)
        for spec, kind in cls.fields():
            options: dict[str, Any] = {"help": spec.metadata["help"]}
            if kind is not str:
                options["type"] = kind
            if spec.metadata["choices"]:
                options["choices"] = spec.metadata["choices"]
            if spec.default is dataclasses.MISSING:
                options["required"] = True
            else:
                options["default"] = spec.default
            parser.add_argument(f"--{spec.name}", **options)
        return parser

    @classmethod
    def from_argv(cls, argv: list[str] | None = None):
        args = cls.parser().parse_args(argv)
        return cls(**vars(args))

    @classmethod
    def mlproject(cls) -> dict[str, Any]:
        """The ``main`` entry point of the step's MLproject: parameters and command."""
        parameters = {}
        for spec, kind in cls.fields():
            entry: dict[str, Any] = {"type": "float" if kind in (int, float) else "string"}
            if spec.default is not dataclasses.MISSING:
                entry["default"] = spec.default
            entry["description"] = spec.metadata["help"]
            parameters[spec.name] = entry
        arguments = " ".join(f"--{name} {{{name}}}" for name in parameters)
        return {"parameters": parameters, "command": f"python {cls.SCRIPT} {arguments}"}

    def as_mlflow(self) -> dict[str, object]:
        """The parameters as main.py hands them to ``mlflow.run``."""
        return {
            name: str(value) if isinstance(value, Path) else value
            for name, value in dataclasses.asdict(self).items()
        }


@dataclass(frozen=True, kw_only=True)
class SchemaParams:
    """The data schema (lists travel comma-separated)."""

    target: str = param("binary target column")
    features: str = param("comma-separated feature columns")
    id_columns: str = param("comma-separated id columns, never features", "")

    @property
    def schema(self) -> DataSchema:
        return DataSchema(
            self.target, tuple(split_list(self.features)), tuple(split_list(self.id_columns))
        )


@dataclass(frozen=True, kw_only=True)
class ModelHyperparameters:
    """The logistic regression's hyperparameters."""

    C: float = param("inverse regularisation strength", ModelParams.C)
    max_iter: int = param("solver iteration limit", ModelParams.max_iter)
    solver: str = param("scikit-learn solver name, e.g. lbfgs", ModelParams.solver)
    random_state: int = param("seed of the solver", ModelParams.random_state)

    @property
    def model_params(self) -> ModelParams:
        return ModelParams(
            C=self.C, max_iter=self.max_iter, solver=self.solver, random_state=self.random_state
        )


@dataclass(frozen=True, kw_only=True)
class EngineParams:
    """Where the step's data-heavy work runs (config ``compute``)."""

    engine: str = param("local (Polars) or spark", "local", ENGINES)
    spark_master: str = param("Spark master URL", "local[*]")
    spark_options: str = param("Spark options as a JSON object (engine spark)", "{}")
    spark_env_manager: str = param(
        "the model's environment on Spark's executors", "local", SPARK_ENV_MANAGERS
    )

    @property
    def engine_settings(self) -> EngineSettings:
        try:
            options = json.loads(self.spark_options)
        except ValueError as err:
            raise PipelineError(f"--spark_options: not a JSON object ({err})") from None
        if not isinstance(options, dict):
            raise PipelineError("--spark_options: not a JSON object")
        return EngineSettings(self.engine, self.spark_master, options, self.spark_env_manager)


@dataclass(frozen=True, kw_only=True)
class IngestionParams(StepParams, EngineParams, SchemaParams):
    STEP = "data_ingestion"
    FOLDER = "01_data"
    SCRIPT = "ingestion.py"
    DESCRIPTION = "Step data_ingestion: read, check and de-duplicate the input files."

    input_dir: str = param("folder of CSV and Parquet files to ingest, or a comma list of folders")
    output_dir: Path = param("folder for finaldata and the file list")
    finaldata_format: str = param(
        "finaldata.csv (csv) or finaldata.parquet (parquet)", "csv", FINALDATA_FORMATS
    )


@dataclass(frozen=True, kw_only=True)
class TrainingParams(StepParams, ModelHyperparameters, SchemaParams):
    STEP = "model_training"
    FOLDER = "02_training"
    SCRIPT = "train.py"
    DESCRIPTION = "Step model_training: a logistic regression, as a pickle and in MLflow."

    finaldata: Path = param("ingested training data (finaldata.csv or .parquet)")
    model_dir: Path = param("folder for trainedmodel.pkl and its metadata")
    max_rows: int = param("train on a uniform sample of this many rows (0: all)", 0)


@dataclass(frozen=True, kw_only=True)
class ScoringParams(StepParams, EngineParams, SchemaParams):
    STEP = "model_scoring"
    FOLDER = "03_scoring"
    SCRIPT = "scoring.py"
    DESCRIPTION = "Step model_scoring: F1, precision, recall, ROC AUC of the trained model."

    model_dir: Path = param("folder of trainedmodel.pkl")
    test_data: Path = param("labelled test data (CSV or Parquet)")


@dataclass(frozen=True, kw_only=True)
class DeploymentParams(StepParams):
    STEP = "model_deployment"
    FOLDER = "04_deployment"
    SCRIPT = "deployment.py"
    DESCRIPTION = "Step model_deployment: publish the model as a release and register it."

    model_dir: Path = param("folder of the trained model")
    ingested_dir: Path = param("folder of ingestedfiles.txt")
    deployment_dir: Path = param("production folder (link)")
    registered_model_name: str = param("Model Registry name")
    keep_releases: int = param("old releases kept for rollback", 5)
    strategy: str = param(
        "replace: serve the new model; shadow: make it the challenger beside the deployed one",
        "replace",
        ("replace", "shadow"),
    )


@dataclass(frozen=True, kw_only=True)
class DiagnosticsParams(StepParams, EngineParams, ModelHyperparameters, SchemaParams):
    STEP = "diagnostics"
    FOLDER = "diagnostics"
    SCRIPT = "diagnostics.py"
    DESCRIPTION = "Step diagnostics: predictions, statistics, missing values, timings, packages."

    deployment_dir: Path = param("production folder")
    finaldata: Path = param("ingested data (finaldata.csv or .parquet)")
    dataset: Path = param("labelled data to predict on (CSV or Parquet)")
    input_dir: str = param("input folder(s) or URIs, comma list (timings)")
    output_dir: Path = param("folder for diagnostics.json")
    requirements: Path = param("declared dependencies")
    latest_timeout_s: float = param("index look-up limit", 5.0)
    index_url: str = param("package index JSON API for latest versions", PYPI_JSON_API)


@dataclass(frozen=True, kw_only=True)
class ReportingParams(StepParams, SchemaParams):
    STEP = "reporting"
    FOLDER = "06_reporting"
    SCRIPT = "reporting.py"
    DESCRIPTION = "Step reporting: figures, the HTML and PDF report, and the API's answers."

    deployment_dir: Path = param("production folder")
    test_data: Path = param("labelled test data (CSV or Parquet)")
    output_dir: Path = param("folder of diagnostics.json; reports go here")
    finaldata: Path = param("ingested data (finaldata.csv or .parquet)")
    data_dir: Path = param("the API's data folder")
    class_names: str = param("names of classes 0 and 1, comma-separated (or none)", "")

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(split_list(self.class_names))


# Every step, in pipeline order.
STEPS: tuple[type[StepParams], ...] = (
    IngestionParams,
    TrainingParams,
    ScoringParams,
    DeploymentParams,
    DiagnosticsParams,
    ReportingParams,
)
BY_NAME = {step.STEP: step for step in STEPS}

P = TypeVar("P", bound=StepParams)


def run_step(declared: type[P], run: Callable[[P], object]) -> None:
    """The one ``__main__`` of every step script: its parameters from the command line, then
    ``run`` with logging set up and failures turned into one line and an exit code."""
    from utils.runtime.cli import run_entry_point

    params = declared.from_argv()
    run_entry_point(declared.STEP, lambda: run(params))


def render_mlproject(declared: type[StepParams]) -> str:
    """The step's MLproject file, as ``python -m utils.runtime.steps`` writes it."""
    entry = declared.mlproject()
    lines = [f"name: {declared.STEP}", "conda_env: conda.yml", "", "entry_points:", "  main:"]
    lines.append("    parameters:")
    for name, spec in entry["parameters"].items():
        parts = [f"type: {spec['type']}"]
        if "default" in spec:
            parts.append(f"default: {json.dumps(spec['default'])}")
        parts.append(f"description: {json.dumps(spec['description'])}")
        lines.append(f"      {name}: {{{', '.join(parts)}}}")
    lines.append(f"    command: {json.dumps(entry['command'])}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    root = Path(__file__).resolve().parents[2]
    for step in STEPS:
        (root / step.FOLDER / "MLproject").write_text(render_mlproject(step), encoding="utf-8")
        sys.stderr.write(f"wrote {step.FOLDER}/MLproject\n")
