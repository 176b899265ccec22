"""The deployment step with deployment.strategy shadow, in process against the real registry
of a project that ran ``main.py`` once: a retrained model becomes the challenger beside the
champion, which keeps serving."""

from __future__ import annotations

import json

import pytest

from conftest import load_script
from utils.config import load_project_config
from utils.layout import Layout, challenger_link
from utils.model.deployment import current_release, finished_releases
from utils.runtime.steps import DeploymentParams, TrainingParams

pytestmark = pytest.mark.integration

deployment = load_script("04_deployment/deployment.py", "risk_deployment_step_shadow")
training = load_script("02_training/train.py", "risk_training_step_shadow")


@pytest.fixture
def project(deployed_project, monkeypatch):
    import mlflow

    uri = f"sqlite:///{deployed_project / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.delenv("RISK_STEP_RECORDS", raising=False)
    mlflow.set_tracking_uri(uri)
    config = load_project_config(deployed_project)
    return deployed_project, config, Layout.from_config(config, deployed_project)


def retrain(project, config, layout, C: float) -> None:
    root = project
    schema = config.schema
    training.run(
        TrainingParams(
            finaldata=layout.finaldata, model_dir=layout.model_dir, store_url=store(root),
            target=schema.target, features=",".join(schema.features),
            id_columns=",".join(schema.id_columns), C=C, max_iter=config.model.max_iter,
            solver=config.model.solver, random_state=config.model.random_state,
        )
    )  # fmt: skip


def store(root) -> str:
    return f"sqlite:///{root / 'monitoring.db'}"


def deploy(project, config, layout, strategy: str, keep: int = 5) -> None:
    deployment.run(
        DeploymentParams(
            model_dir=layout.model_dir, ingested_dir=layout.ingested_dir,
            deployment_dir=layout.deployment_dir,
            registered_model_name=config.main.registered_model_name, keep_releases=keep,
            strategy=strategy, store_url=store(project),
        )
    )  # fmt: skip


def aliases(config) -> dict[str, str]:
    from mlflow import MlflowClient

    model = MlflowClient().get_registered_model(config.main.registered_model_name)
    return {alias: str(version) for alias, version in model.aliases.items()}


def test_a_retrained_model_becomes_the_challenger_and_the_champion_keeps_serving(project):
    from utils.store.history import MonitoringStore

    root, config, layout = project
    champion_release = current_release(layout.deployment_dir)
    assert aliases(config) == {"champion": "1"}
    retrain(root, config, layout, C=0.05)
    deploy(root, config, layout, "shadow", keep=1)

    assert current_release(layout.deployment_dir) == champion_release
    challenger = current_release(layout.challenger_dir)
    assert layout.challenger_dir == challenger_link(layout.deployment_dir)
    # In the same releases folder, so that promoting it is moving the deployment link.
    assert challenger.parent == champion_release.parent
    manifest = json.loads((challenger / "manifest.json").read_text())
    assert (manifest["role"], manifest["model_version"]) == ("challenger", 2)
    assert aliases(config) == {"champion": "1", "challenger": "2"}
    # keep_releases=1 keeps both: neither serving release is ever pruned.
    assert set(finished_releases(layout.deployment_dir)) == {champion_release, challenger}
    events = MonitoringStore(store(root)).events_of("challenger")
    assert [(e["model_version"], e["payload"]["action"]) for e in events] == [("2", "arrived")]
    assert str(events[0]["payload"]["champion_version"]) == "1"

    # The same model again: nothing; another one replaces the challenger, not the champion.
    deploy(root, config, layout, "shadow", keep=1)
    assert aliases(config) == {"champion": "1", "challenger": "2"}
    retrain(root, config, layout, C=0.2)
    deploy(root, config, layout, "shadow", keep=1)
    assert aliases(config) == {"champion": "1", "challenger": "3"}
    assert current_release(layout.deployment_dir) == champion_release
    assert not challenger.exists()  # the replaced challenger was neither serving nor kept
    replaced = MonitoringStore(store(root)).events_of("challenger")[-1]["payload"]
    assert str(replaced["replaces"]) == "2"


def test_with_replace_the_retrained_model_serves_at_once(project):
    root, config, layout = project
    retrain(root, config, layout, C=0.05)
    deploy(root, config, layout, "replace")
    assert aliases(config) == {"champion": "2"}
    assert current_release(layout.challenger_dir) is None
