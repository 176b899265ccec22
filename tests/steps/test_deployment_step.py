"""The deployment step with deployment.strategy shadow, in process against the real registry
of a project that ran ``main.py`` once: a retrained model becomes the challenger beside the
champion, which keeps serving."""

from __future__ import annotations

import json

import pytest

from conftest import deploy_in_process, retrain_in_process
from utils.config import load_project_config
from utils.layout import Layout, challenger_link
from utils.model.deployment import current_release, finished_releases
from utils.store.history import MonitoringStore

pytestmark = pytest.mark.integration


@pytest.fixture
def project(deployed_project, registry_of):
    registry_of(deployed_project)
    config = load_project_config(deployed_project)
    return deployed_project, config, Layout.from_config(config, deployed_project)


def aliases(config) -> dict[str, str]:
    from mlflow import MlflowClient

    model = MlflowClient().get_registered_model(config.main.registered_model_name)
    return {alias: str(version) for alias, version in model.aliases.items()}


def challenger_events(root) -> list[dict]:
    return MonitoringStore(f"sqlite:///{root / 'monitoring.db'}").events_of("challenger")


def test_a_retrained_model_becomes_the_challenger_and_the_champion_keeps_serving(project):
    root, config, layout = project
    champion_release = current_release(layout.deployment_dir)
    assert aliases(config) == {"champion": "1"}
    retrain_in_process(root, C=0.05)
    deploy_in_process(root, "shadow", keep=1)

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
    events = challenger_events(root)
    assert [(e["model_version"], e["payload"]["action"]) for e in events] == [("2", "arrived")]
    assert str(events[0]["payload"]["champion_version"]) == "1"

    # The same model again: nothing; another one replaces the challenger, not the champion.
    deploy_in_process(root, "shadow", keep=1)
    assert aliases(config) == {"champion": "1", "challenger": "2"}
    retrain_in_process(root, C=0.2)
    deploy_in_process(root, "shadow", keep=1)
    assert aliases(config) == {"champion": "1", "challenger": "3"}
    assert current_release(layout.deployment_dir) == champion_release
    assert not challenger.exists()  # the replaced challenger was neither serving nor kept
    assert str(challenger_events(root)[-1]["payload"]["replaces"]) == "2"


def test_with_replace_the_retrained_model_serves_at_once(project):
    root, config, layout = project
    retrain_in_process(root, C=0.05)
    deploy_in_process(root, "replace")
    assert aliases(config) == {"champion": "2"}
    assert current_release(layout.challenger_dir) is None
