"""fullprocess.py --promote and --reject (utils/automation/challenger.py) against the real
registry of a project that ran ``main.py`` once, with a challenger deployed in the shadow: a
promotion is a deployment (link, champion alias, store, alert) that --rollback undoes; a
rejection removes the challenger everywhere and leaves the champion serving."""

from __future__ import annotations

import pytest

from conftest import load_script
from utils.automation import challenger as challenger_module
from utils.automation import rollback as rollback_module
from utils.automation.run import run_once
from utils.config import load_project_config
from utils.layout import Layout
from utils.model.deployment import current_release
from utils.runtime.steps import DeploymentParams, TrainingParams
from utils.store.history import MonitoringStore

pytestmark = pytest.mark.integration

deployment = load_script("04_deployment/deployment.py", "risk_deployment_step_challenger")
training = load_script("02_training/train.py", "risk_training_step_challenger")


@pytest.fixture
def shadow(deployed_project, monkeypatch, webhook):
    """The demo project with champion v1 and challenger v2; the report steps recorded, not run
    (they are the pipeline's own, tested with it)."""
    import mlflow

    root = deployed_project
    uri = f"sqlite:///{root / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    monkeypatch.delenv("RISK_STEP_RECORDS", raising=False)
    mlflow.set_tracking_uri(uri)
    reported: list[list[str]] = []
    for module in (challenger_module, rollback_module):
        monkeypatch.setattr(module, "run_steps", lambda root, o, steps, i: reported.append(steps))
    config = load_project_config(root)
    layout = Layout.from_config(config, root)
    store_url = f"sqlite:///{root / 'monitoring.db'}"
    schema = config.schema
    training.run(
        TrainingParams(
            finaldata=layout.finaldata, model_dir=layout.model_dir, store_url=store_url,
            target=schema.target, features=",".join(schema.features),
            id_columns=",".join(schema.id_columns), C=0.05, max_iter=config.model.max_iter,
            solver=config.model.solver, random_state=config.model.random_state,
        )
    )  # fmt: skip
    deployment.run(
        DeploymentParams(
            model_dir=layout.model_dir, ingested_dir=layout.ingested_dir,
            deployment_dir=layout.deployment_dir,
            registered_model_name=config.main.registered_model_name, strategy="shadow",
            store_url=store_url,
        )
    )  # fmt: skip
    overrides = [f"alerts.webhook_url={webhook.url}"]
    return root, layout, overrides, reported, MonitoringStore(store_url)


def aliases() -> dict[str, str]:
    from mlflow import MlflowClient

    model = MlflowClient().get_registered_model("risk_model")
    return {alias: str(version) for alias, version in model.aliases.items()}


def by_hand(root, overrides, command, dry_run=False) -> str:
    return run_once(root, overrides, dry_run=dry_run, force=False, by_hand=command)


def test_promote_serves_the_challenger_and_rollback_brings_the_champion_back(shadow, webhook):
    root, layout, overrides, reported, store = shadow
    champion, challenger = (
        current_release(layout.deployment_dir),
        current_release(layout.challenger_dir),
    )
    assert "would promote challenger v2 over champion v1" in by_hand(
        root, overrides, "promote", dry_run=True
    )
    assert current_release(layout.deployment_dir) == champion  # a dry run moved nothing

    said = by_hand(root, overrides, "promote")
    assert said.startswith("promoted challenger v2 over v1 (by hand; release ")
    assert current_release(layout.deployment_dir) == challenger
    assert not layout.challenger_dir.exists() and not layout.challenger_dir.is_symlink()
    assert aliases() == {"champion": "2"}
    assert store.deployment_history()[-1]["model_version"] == "2"
    assert store.events_of("challenger")[-1]["payload"]["action"] == "promoted"
    assert "challenger promoted (by hand): it serves now (was v1)" in webhook.texts()[-1]
    assert reported == [["diagnostics", "reporting"]]

    said = by_hand(root, overrides, "rollback")
    assert said.startswith("rolled back v2 -> v1")
    assert current_release(layout.deployment_dir) == champion
    assert aliases() == {"champion": "1"}


def test_reject_removes_the_challenger_everywhere_and_the_champion_serves_on(shadow, webhook):
    root, layout, overrides, reported, store = shadow
    champion, challenger = (
        current_release(layout.deployment_dir),
        current_release(layout.challenger_dir),
    )
    assert by_hand(root, overrides, "reject").startswith("rejected challenger v2 (by hand) (")
    assert current_release(layout.deployment_dir) == champion
    assert not layout.challenger_dir.is_symlink() and not challenger.exists()
    assert aliases() == {"champion": "1"}
    assert store.events_of("challenger")[-1]["payload"]["action"] == "rejected"
    assert webhook.texts()[-1].endswith("challenger rejected (by hand); the champion serves on")
    assert reported == []
    with pytest.raises(Exception, match="no challenger is deployed: nothing to reject"):
        by_hand(root, overrides, "reject")
