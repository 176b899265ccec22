import os
from pathlib import Path

import pytest
from hydra import compose, initialize_config_dir

from utils.config import load_config
from utils.errors import PipelineError

ROOT = Path(__file__).resolve().parents[2]


def compose_config(*overrides: str):
    with initialize_config_dir(config_dir=str(ROOT), version_base=None):
        return compose(config_name="config", overrides=list(overrides))


def test_shipped_config_is_valid():
    config = load_config(compose_config())
    assert config.main.env_manager == "local"
    assert config.schema.target == "exited"
    assert config.model_params.C == 1.0


def test_overrides_are_typed():
    config = load_config(compose_config("model.C=0.5", "model.max_iter=50"))
    assert config.model.C == 0.5
    assert config.model.max_iter == 50


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("model.C=abc", "model.C"),
        ("model.max_iter=1.5", "model.max_iter"),
        ("deployment.keep_releases=many", "deployment.keep_releases"),
        ("data.features=notalist", "data.features"),
    ],
)
def test_wrong_type_names_the_key(override, key):
    with pytest.raises(PipelineError, match=rf"^config key {key}: "):
        load_config(compose_config(override))


@pytest.mark.parametrize(
    ("override", "key"),
    [
        ("drift.min_effect=-1", "drift.min_effect"),
        ("drift.p_threshold=1.5", "drift.p_threshold"),
        ("drift.correction=bonferroni", "drift.correction"),
        ("drift.drift_share=0", "drift.drift_share"),
        ("drift.drift_count=0", "drift.drift_count"),
        ("drift.min_rows=0", "drift.min_rows"),
        ("drift.multivariate.min_auc=1.0", "drift.multivariate.min_auc"),
        ("drift.multivariate.min_auc=0.49", "drift.multivariate.min_auc"),
        ("drift.multivariate.max_rows=99", "drift.multivariate.max_rows"),
        ("drift.multivariate.seed=-1", "drift.multivariate.seed"),
        ("drift.multivariate.enabled=maybe", "drift.multivariate.enabled"),
        ("+drift.multivariate.kernel=rbf", "drift.multivariate.kernel"),
    ],
)
def test_drift_settings_out_of_range_name_the_key(override, key):
    with pytest.raises(PipelineError, match=rf"^config key {key}: "):
        load_config(compose_config(override))


def test_unknown_env_manager():
    with pytest.raises(PipelineError, match="main.env_manager: 'docker' must be one of"):
        load_config(compose_config("main.env_manager=docker"))


# Every rule of utils.config._value_rules, each broken once.
BROKEN_RULES = [
    ("main.env_manager=docker", "main.env_manager"),
    ("api.model_source=s3", "api.model_source"),
    ("api.registry_poll_s=0", "api.registry_poll_s"),
    ("model.C=-1", "model.C"),
    ("model.C=0", "model.C"),
    ("model.max_iter=0", "model.max_iter"),
    ("model.random_state=-3", "model.random_state"),
    ("model.solver=magic", "model.solver"),
    ("data.target=' '", "data.target"),
    ("data.features=[a,a]", "data.features"),
    ("api.port=0", "api.port"),
    ("api.port=70000", "api.port"),
    ("api.workers=0", "api.workers"),
    ("api.max_rows=0", "api.max_rows"),
    ("api.max_body_mb=0", "api.max_body_mb"),
    ("automation.mode=merge", "automation.mode"),
    ("automation.score_drift_method=vibes", "automation.score_drift_method"),
    ("automation.compare_on=train", "automation.compare_on"),
    ("automation.score_drift_k=0", "automation.score_drift_k"),
    ("automation.min_history=0", "automation.min_history"),
    ("automation.lock_wait_s=-1", "automation.lock_wait_s"),
    ("monitoring.log_retention_days=0", "monitoring.log_retention_days"),
    ("monitoring.log_max_mb=0", "monitoring.log_max_mb"),
    ("api.max_uploads_mb=9", "api.max_uploads_mb"),
    ("automation.lock_wait_s=3601", "automation.lock_wait_s"),
    ("alerts.webhook_url=http://example.com:99999/x", "alerts.webhook_url"),
    ("deployment.keep_releases=0", "deployment.keep_releases"),
    ("deployment.strategy=canary", "deployment.strategy"),
    ("deployment.challenger.min_labelled_rows=0", "deployment.challenger.min_labelled_rows"),
    ("deployment.challenger.p_threshold=1", "deployment.challenger.p_threshold"),
    ("deployment.challenger.max_age_days=0", "deployment.challenger.max_age_days"),
    ("diagnostics.latest_timeout_s=-1", "diagnostics.latest_timeout_s"),
    ("data.class_names=[a,a]", "data.class_names"),
    ("data.class_names=[a]", "data.class_names"),
    ("monitoring.chunk_rows=10", "monitoring.chunk_rows"),
    ("monitoring.chunk_period=fortnight", "monitoring.chunk_period"),
    ("alerts.webhook_url=ftp://host/x", "alerts.webhook_url"),
    ("alerts.webhook_url=hooks.example.com", "alerts.webhook_url"),
    ("alerts.timeout_s=0", "alerts.timeout_s"),
    ("alerts.retries=-1", "alerts.retries"),
    ("compute.engine=dask", "compute.engine"),
    ("paths.finaldata_format=xlsx", "paths.finaldata_format"),
    ("paths.input_dir=s3a://bucket/feed", "paths.input_dir"),
    ("compute.spark_master=' '", "compute.spark_master"),
    ("compute.spark_env_manager=docker", "compute.spark_env_manager"),
    ("compute.training_max_rows=10", "compute.training_max_rows"),
]


@pytest.mark.parametrize(("override", "key"), BROKEN_RULES)
def test_nonsense_values_are_refused_naming_the_key(override, key):
    with pytest.raises(PipelineError, match=rf"^config key {key}: .* must be "):
        load_config(compose_config(override))


@pytest.mark.parametrize(
    ("override", "accepted"),
    [
        ("deployment.challenger.min_labelled_rows=1", True),
        ("deployment.challenger.p_threshold=0.999", True),
        ("deployment.challenger.p_threshold=0", False),
        ("deployment.challenger.max_age_days=365", True),
        ("deployment.challenger.max_age_days=365.01", False),
        ("deployment.strategy=shadow", True),
    ],
)
def test_the_challenger_rule_at_its_limits(override, accepted):
    if accepted:
        load_config(compose_config(override))
    else:
        with pytest.raises(PipelineError, match=override.split("=")[0]):
            load_config(compose_config(override))


def test_every_value_rule_is_broken_once_above():
    from utils.config import _value_rules

    ruled = {key for key, _, _ in _value_rules(load_config(compose_config()))}
    assert ruled == {key for _, key in BROKEN_RULES}


def test_inconsistent_schema_is_refused():
    with pytest.raises(PipelineError, match="data.features"):
        load_config(compose_config("data.features=[exited]"))


def test_paths_resolve_against_the_root_not_the_cwd(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(compose_config("paths.test_data=/abs/test.csv"))
    paths = config.resolved_paths(Path("/project"))
    assert paths["input_dir"] == Path("/project/01_data/practicedata")
    assert paths["test_data"] == Path("/abs/test.csv")


def test_symlinked_deployment_path_is_not_resolved(tmp_path):
    (tmp_path / "release").mkdir()
    os.symlink("release", tmp_path / "production_deployment")
    paths = load_config(compose_config()).resolved_paths(tmp_path)
    assert paths["deployment_dir"] == tmp_path / "production_deployment"
