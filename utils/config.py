"""Types of config.yaml, checked once by each entry point; the values live in config.yaml only."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from utils.data.schema import DataSchema
from utils.errors import PipelineError, first_line
from utils.files import spark_only
from utils.layout import FINALDATA_FILES
from utils.model.training import ModelParams
from utils.monitoring.drift_rules import check_drift_settings, check_multivariate_settings

ENV_MANAGERS = ("local", "uv", "virtualenv", "conda")
# Where the data-heavy work runs: Polars on this machine, or Apache Spark (README, "Beyond one
# machine").
ENGINES = ("local", "spark")
# replace: a retrained model that scores at least as well serves at once. shadow: it becomes the
# challenger, answering every request beside the champion until its labels decide (README,
# "Champion and challenger").
DEPLOYMENT_STRATEGIES = ("replace", "shadow")


@dataclass
class MainSection:
    steps: str = MISSING
    env_manager: str = MISSING
    experiment_name: str = MISSING
    tracking_uri: str | None = None
    registered_model_name: str = MISSING


@dataclass
class PathsSection:
    input_dir: str = MISSING
    ingested_dir: str = MISSING
    test_data: str = MISSING
    model_dir: str = MISSING
    deployment_dir: str = MISSING
    requirements: str = MISSING
    finaldata_format: str = "csv"


@dataclass
class DataSection:
    target: str = MISSING
    features: list[str] = MISSING
    id_columns: list[str] = MISSING
    class_names: list[str] | None = None


@dataclass
class ModelSection:
    C: float = MISSING
    max_iter: int = MISSING
    solver: str = MISSING
    random_state: int = MISSING


@dataclass
class ApiSection:
    host: str = MISSING
    port: int = MISSING
    workers: int = MISSING
    data_dir: str = MISSING
    max_rows: int = MISSING
    max_body_mb: float = MISSING
    max_uploads_mb: float = MISSING
    token_env: str = MISSING
    metrics: bool = MISSING
    model_source: str = MISSING
    registry_poll_s: float = MISSING


@dataclass
class AutomationSection:
    source_dir: str = MISSING
    mode: str = MISSING
    score_drift_method: str = MISSING
    score_drift_k: float = MISSING
    min_history: int = MISSING
    retrain_on_data_drift: bool = MISSING
    compare_on: str = MISSING
    lock_file: str = MISSING
    lock_wait_s: float = MISSING
    hash_cache: str = MISSING
    journal: str = MISSING
    metrics_textfile: str | None = None


@dataclass
class MultivariateSection:
    enabled: bool = MISSING
    min_auc: float = MISSING
    max_rows: int = MISSING
    seed: int = MISSING


@dataclass
class DriftSection:
    p_threshold: float = MISSING
    correction: str = MISSING
    min_effect: float = MISSING
    min_rows: int = MISSING
    drift_share: float = MISSING
    drift_count: int | None = None
    multivariate: MultivariateSection = field(default_factory=MultivariateSection)

    def univariate(self) -> dict[str, Any]:
        """The per-feature checks' settings (utils.monitoring.drift.data_drift's keywords)."""
        return {k: v for k, v in vars(self).items() if k != "multivariate"}

    def as_dict(self) -> dict[str, Any]:
        """Every drift setting as plain values: the engines' and the monitoring basis'."""
        return {**self.univariate(), "multivariate": dict(vars(self.multivariate))}


@dataclass
class StoreSection:
    url: str | None = None


@dataclass
class ChallengerSection:
    min_labelled_rows: int = MISSING
    p_threshold: float = MISSING
    max_age_days: float = MISSING


@dataclass
class DeploymentSection:
    keep_releases: int = MISSING
    strategy: str = MISSING
    challenger: ChallengerSection = field(default_factory=ChallengerSection)


@dataclass
class DiagnosticsSection:
    latest_timeout_s: float = MISSING
    index_url: str = MISSING


@dataclass
class MonitoringSection:
    log_predictions: bool = MISSING
    log_dir: str = MISSING
    labels_dir: str = MISSING
    labelled_traffic_dir: str = MISSING
    log_retention_days: int | None = None
    log_max_mb: float | None = None
    chunk_rows: int = MISSING
    chunk_period: str | None = None


@dataclass
class AlertsSection:
    webhook_url: str | None = None
    timeout_s: float = MISSING
    retries: int = MISSING


@dataclass
class ComputeSection:
    engine: str = MISSING
    spark_master: str = MISSING
    spark_options: dict[str, Any] = MISSING
    spark_env_manager: str = MISSING
    training_max_rows: int | None = None


@dataclass
class PipelineConfig:
    main: MainSection = MISSING
    paths: PathsSection = MISSING
    data: DataSection = MISSING
    model: ModelSection = MISSING
    store: StoreSection = MISSING
    api: ApiSection = MISSING
    automation: AutomationSection = MISSING
    drift: DriftSection = MISSING
    deployment: DeploymentSection = MISSING
    diagnostics: DiagnosticsSection = MISSING
    monitoring: MonitoringSection = MISSING
    alerts: AlertsSection = MISSING
    compute: ComputeSection = MISSING

    @property
    def schema(self) -> DataSchema:
        return DataSchema(self.data.target, tuple(self.data.features), tuple(self.data.id_columns))

    @property
    def model_params(self) -> ModelParams:
        return ModelParams(
            C=self.model.C,
            max_iter=self.model.max_iter,
            solver=self.model.solver,
            random_state=self.model.random_state,
        )

    def resolved_paths(self, root: Path) -> dict[str, Path]:
        """Every configured path, relative ones taken against the project root."""
        # abspath, not resolve(): the deployment folder is a symlink that must stay one.
        return {
            name: Path(os.path.abspath(Path(root) / value))
            for name, value in vars(self.paths).items()
            if name != "finaldata_format"
        }

    def input_dirs(self, root: Path) -> list[str]:
        """``paths.input_dir`` may name several folders, comma-separated: each made absolute,
        but a URI or a glob (read by Spark) as written."""
        parts = [part.strip() for part in self.paths.input_dir.split(",") if part.strip()]
        return [part if spark_only(part) else os.path.abspath(Path(root) / part) for part in parts]


# scikit-learn's LogisticRegression solvers (checked here, before any step runs).
SOLVERS = ("lbfgs", "liblinear", "newton-cg", "newton-cholesky", "sag", "saga")


def _value_at(config: PipelineConfig, key: str) -> object:
    value: object = config
    for name in key.split("."):
        value = getattr(value, name)
    return value


def _value_rules(config: PipelineConfig) -> list[tuple[str, bool, str]]:
    """(key, holds, what it must be) for every value with a range or a set of choices."""

    def one_of(key: str, allowed: tuple[str, ...]) -> tuple[str, bool, str]:
        return key, _value_at(config, key) in allowed, f"one of {', '.join(allowed)}"

    m, a, auto = config.model, config.api, config.automation
    challenger = config.deployment.challenger
    features = list(config.data.features)
    names = config.data.class_names
    return [
        one_of("main.env_manager", ENV_MANAGERS),
        one_of("automation.mode", ("append", "replace")),
        one_of("api.model_source", ("local", "registry")),
        one_of("compute.engine", ENGINES),
        one_of("paths.finaldata_format", tuple(FINALDATA_FILES)),
        (
            "paths.input_dir",
            config.compute.engine == "spark"
            or not any(map(spark_only, config.paths.input_dir.split(","))),
            "folders on this machine (a URI such as s3a://... or a glob needs "
            "compute.engine=spark)",
        ),
        one_of("compute.spark_env_manager", ("local", "virtualenv", "uv", "conda")),
        (
            "compute.training_max_rows",
            config.compute.training_max_rows is None or config.compute.training_max_rows >= 1000,
            "null (every row) or at least 1000",
        ),
        ("compute.spark_master", bool(config.compute.spark_master.strip()), "a Spark master URL"),
        ("api.registry_poll_s", 0 < a.registry_poll_s <= 3600, "more than 0 and at most 3600"),
        one_of("automation.score_drift_method", ("raw", "parametric", "nonparametric")),
        one_of("automation.compare_on", ("test", "test_and_new")),
        one_of("model.solver", SOLVERS),
        ("model.C", m.C > 0 and math.isfinite(m.C), "a positive number"),
        ("model.max_iter", m.max_iter >= 1, "at least 1"),
        ("model.random_state", m.random_state >= 0, "at least 0"),
        ("data.target", bool(config.data.target.strip()), "a column name"),
        ("data.features", len(set(features)) == len(features), "distinct column names"),
        (
            "data.class_names",
            names is None or (len(set(names)) == 2 == len(names) and all(map(str.strip, names))),
            "null or two distinct names (of the classes 0 and 1)",
        ),
        ("api.port", 0 < a.port < 65536, "a TCP port (1-65535)"),
        ("api.workers", a.workers >= 1, "at least 1"),
        ("api.max_rows", a.max_rows >= 1, "at least 1"),
        ("api.max_body_mb", 0 < a.max_body_mb < 1024, "more than 0 and under 1024"),
        (
            "api.max_uploads_mb",
            a.max_body_mb <= a.max_uploads_mb < 65536,
            "at least api.max_body_mb (one whole body) and under 65536",
        ),
        ("automation.score_drift_k", auto.score_drift_k > 0, "a positive number"),
        ("automation.min_history", auto.min_history >= 1, "at least 1"),
        ("automation.lock_wait_s", 0 <= auto.lock_wait_s <= 3600, "0 to 3600 (seconds)"),
        ("deployment.keep_releases", config.deployment.keep_releases >= 1, "at least 1"),
        one_of("deployment.strategy", DEPLOYMENT_STRATEGIES),
        (
            "deployment.challenger.min_labelled_rows",
            challenger.min_labelled_rows >= 1,
            "at least 1",
        ),
        (
            "deployment.challenger.p_threshold",
            0 < challenger.p_threshold < 1,
            "more than 0 and less than 1",
        ),
        (
            "deployment.challenger.max_age_days",
            0 < challenger.max_age_days <= 365,
            "more than 0 and at most 365",
        ),
        ("diagnostics.latest_timeout_s", config.diagnostics.latest_timeout_s > 0, "positive"),
        ("monitoring.chunk_rows", config.monitoring.chunk_rows >= 100, "at least 100"),
        (
            "monitoring.log_retention_days",
            config.monitoring.log_retention_days is None
            or config.monitoring.log_retention_days >= 1,
            "null (keep every day) or at least 1",
        ),
        (
            "monitoring.log_max_mb",
            config.monitoring.log_max_mb is None or config.monitoring.log_max_mb > 0,
            "null (no cap) or more than 0",
        ),
        (
            "alerts.webhook_url",
            config.alerts.webhook_url is None or _is_http_url(config.alerts.webhook_url),
            "null or an http(s):// URL",
        ),
        ("alerts.timeout_s", 0 < config.alerts.timeout_s <= 60, "more than 0 and at most 60"),
        ("alerts.retries", 0 <= config.alerts.retries <= 10, "0 to 10"),
        (
            "monitoring.chunk_period",
            config.monitoring.chunk_period is None or _is_period(config.monitoring.chunk_period),
            "null or a period such as 30m, 6h, 1d or 1w",
        ),
    ]


def _is_http_url(text: str) -> bool:
    from urllib.parse import urlsplit

    try:
        parts = urlsplit(text)
        parts.port  # noqa: B018 - raises ValueError for a port that is not one
        return parts.scheme in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def _is_period(text: str) -> bool:
    from utils.monitoring.periods import period_seconds

    try:
        period_seconds(text)
    except ValueError:
        return False
    return True


def load_config(cfg: DictConfig) -> PipelineConfig:
    """Check ``cfg`` against the types above; a bad key or value is one PipelineError line."""
    try:
        merged = OmegaConf.merge(OmegaConf.structured(PipelineConfig), cfg)
        config: PipelineConfig = OmegaConf.to_object(merged)  # type: ignore[assignment]
    except OmegaConfBaseException as err:
        key = getattr(err, "full_key", None) or "?"
        raise PipelineError(f"config key {key}: {first_line(err)}") from None
    for key, ok, wanted in _value_rules(config):
        if not ok:
            value = _value_at(config, key)
            raise PipelineError(f"config key {key}: {value!r} must be {wanted}")
    try:
        check_drift_settings(**config.drift.univariate())
        multivariate = dict(vars(config.drift.multivariate))
        multivariate.pop("enabled")
        check_multivariate_settings(**multivariate)
    except ValueError as err:
        raise PipelineError(f"config key drift.{err}") from None
    _ = config.schema  # the schema checks its own consistency
    _register_secrets(config)
    return config


def _register_secrets(config: PipelineConfig) -> None:
    """Every secret the configuration leads to, masked from here on (utils.secrets)."""
    from utils.secrets import register_secret, url_password

    register_secret(url_password(config.store.url))
    register_secret(url_password(config.main.tracking_uri))
    register_secret(url_password(os.environ.get("MLFLOW_TRACKING_URI")))
    register_secret(os.environ.get(config.api.token_env))
    # A webhook's path is its password (Slack's is): the whole URL is masked, and the
    # password of a user:password@ in it on its own (an error message may quote the host part).
    register_secret(config.alerts.webhook_url)
    register_secret(url_password(config.alerts.webhook_url))


def _hydra_reason(err: Exception) -> str:
    """Hydra's message in one line, without its pointer to the documentation."""
    lines = [line.strip() for line in str(err).strip().splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith("See https://")]
    if lines and lines[0].startswith("Could not override"):
        return f"{lines[0].rstrip('.')}: no such key in config.yaml"
    return "; ".join(lines) or type(err).__name__


def load_project_config(root: Path, overrides: list[str] | None = None) -> PipelineConfig:
    """config.yaml of the project at ``root`` with Hydra overrides, for entry points that are
    not Hydra apps themselves (the API, the automation)."""
    from hydra import compose, initialize_config_dir
    from hydra.errors import HydraException

    with initialize_config_dir(config_dir=str(Path(root).resolve()), version_base=None):
        try:
            raw = compose(config_name="config", overrides=list(overrides or []))
        except (HydraException, OmegaConfBaseException) as err:
            raise PipelineError(f"config override: {_hydra_reason(err)}") from None
        return load_config(raw)
