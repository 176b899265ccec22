"""fullprocess.py --promote and --reject (utils/automation/challenger.py) against the real
registry of a project that ran ``main.py`` once, with a challenger deployed in the shadow: a
promotion is a deployment (link, champion alias, store, alert) that --rollback undoes; a
rejection removes the challenger everywhere and leaves the champion serving."""

from __future__ import annotations

import dataclasses
import json

import pytest

from conftest import deploy_in_process, retrain_in_process
from utils.automation import challenger as challenger_module
from utils.automation import rollback as rollback_module
from utils.automation.challenger import Command, settle
from utils.automation.run import run_once
from utils.config import load_project_config
from utils.layout import Layout
from utils.model.deployment import current_release
from utils.ops.alerts import Webhook
from utils.store.history import MonitoringStore

pytestmark = pytest.mark.integration


@pytest.fixture
def shadow(deployed_project, registry_of, monkeypatch, webhook):
    """The demo project with champion v1 and challenger v2; the report steps recorded, not run
    (they are the pipeline's own, tested with it)."""
    root = deployed_project
    registry_of(root)
    reported: list[list[str]] = []
    for module in (challenger_module, rollback_module):
        monkeypatch.setattr(module, "run_steps", lambda root, o, steps, i: reported.append(steps))
    retrain_in_process(root, C=0.05)
    deploy_in_process(root, "shadow")
    layout = Layout.from_config(load_project_config(root), root)
    overrides = [f"alerts.webhook_url={webhook.url}"]
    return root, layout, overrides, reported, MonitoringStore(f"sqlite:///{root / 'monitoring.db'}")


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


def write_monitoring(layout, version: str, found: int, rows: int = 300) -> None:
    """A monitoring.json whose one chunk compared the challenger with the champion on
    ``rows`` labelled rows: 40 positives on which they disagreed, ``found`` of them found by
    the challenger."""
    counts = {"rows": rows, "tp": 100, "fp": 20, "fn": 20, "positives": 40, "negatives": 0,
              "found": found, "alarms": 0}  # fmt: skip
    chunk = {"source": "prediction log", "challenger": {"version": version, "paired": counts}}
    layout.monitoring.write_text(json.dumps({"chunks": [chunk]}))


@pytest.mark.parametrize(
    ("found", "rows", "said", "promoted", "removed"),
    [
        (35, 300, "promoted challenger v2 over v1 (realised F1 +", True, True),
        (5, 300, "rejected challenger v2 (realised F1 -", False, True),
        (35, 199, "challenger v2: 199 of 200 labelled rows so far", False, False),
        (21, 300, "challenger v2: realised F1 +0.0080 on 300 labelled rows, not significant",
         False, False),
    ],
)  # fmt: skip
def test_the_automation_settles_the_challenger_by_its_paired_counts(
    shadow, found, rows, said, promoted, removed
):
    root, layout, overrides, reported, store = shadow
    challenger = current_release(layout.challenger_dir)
    write_monitoring(layout, "2", found, rows)
    command = Command(load_project_config(root, overrides), root, overrides, False, Webhook(None))
    dry = settle(dataclasses.replace(command, dry_run=True))
    assert current_release(layout.challenger_dir) == challenger
    assert said in settle(command)
    assert (current_release(layout.deployment_dir) == challenger) is promoted
    assert (current_release(layout.challenger_dir) is None) is removed
    if removed:
        assert dry.startswith("dry run: would ")
    # Another challenger's counts never decide for this one.
    if not removed:
        write_monitoring(layout, "9", 35)
        assert "0 of 200 labelled rows" in settle(command)
