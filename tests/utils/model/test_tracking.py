"""A step's MLflow records: handed to main.py without MLflow, or logged by the step alone."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from mlflow import MlflowClient

from conftest import ROOT, step_env
from utils.errors import PipelineError
from utils.model.tracking import RECORDS_ENV, StepRun, log_records

# A step's use of StepRun, run as its own process so that its imports are its own.
STEP = """
import sys
from pathlib import Path
from utils.model.tracking import StepRun

with StepRun() as tracking:
    artifact = Path(sys.argv[1])
    artifact.write_text("an output")
    tracking.log_metrics({"rows": 3, "f1": 0.5})
    tracking.log_dict({"files": ["a.csv"]}, "summary.json")
    tracking.log_artifact(artifact)
    print(tracking.run_id)
    if len(sys.argv) > 2:
        raise SystemExit(sys.argv[2])
print("mlflow imported" if "mlflow" in sys.modules else "mlflow not imported")
"""


def run_step(tmp_path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", STEP, str(tmp_path / "out.txt"), *args],
        cwd=ROOT,
        env={**step_env(tmp_path), **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_under_main_py_the_records_are_handed_over_without_importing_mlflow(tmp_path):
    records = tmp_path / "records.json"
    done = run_step(tmp_path, **{RECORDS_ENV: str(records), "MLFLOW_RUN_ID": "abc123"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["abc123", "mlflow", "not", "imported"]
    handed = json.loads(records.read_text())
    assert handed["tags"] == {"python_prefix": sys.prefix}
    assert handed["log"] == [
        ["metrics", {"rows": 3.0, "f1": 0.5}],
        ["dict", {"files": ["a.csv"]}, "summary.json"],
        ["artifact", str(tmp_path / "out.txt")],
    ]


def test_a_failed_step_hands_nothing_over(tmp_path):
    records = tmp_path / "records.json"
    done = run_step(tmp_path, "failed", **{RECORDS_ENV: str(records), "MLFLOW_RUN_ID": "abc"})
    assert done.returncode == 1 and not records.exists()


def test_main_logs_handed_records_into_the_step_run(tmp_path):
    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    run = client.create_run(client.create_experiment("e", (tmp_path / "art").as_uri()))
    artifact = tmp_path / "out.txt"
    artifact.write_text("an output")
    records = {
        "tags": {"python_prefix": "/venv"},
        "log": [
            ["metrics", {"f1": 0.5}],
            ["dict", {"a": 1}, "s.json"],
            ["artifact", str(artifact)],
        ],
    }
    log_records(client, run.info.run_id, records)
    logged = client.get_run(run.info.run_id)
    assert logged.data.metrics == {"f1": 0.5}
    assert logged.data.tags["python_prefix"] == "/venv"
    assert sorted(a.path for a in client.list_artifacts(run.info.run_id)) == ["out.txt", "s.json"]
    with pytest.raises(PipelineError, match="unknown entry 'model'"):
        log_records(client, run.info.run_id, {"log": [["model", "x"]]})


@pytest.mark.integration  # a step process that imports MLflow
@pytest.mark.parametrize("failed", [False, True])
def test_a_step_run_alone_logs_its_records_itself(tmp_path, failed):
    done = run_step(tmp_path, *(["failed"] if failed else []))
    assert done.returncode == (1 if failed else 0), done.stderr
    run_id = done.stdout.split()[0]
    run = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}").get_run(run_id)
    if failed:
        assert run.info.status == "FAILED" and run.data.metrics == {}
        return
    assert run.info.status == "FINISHED"
    assert run.data.metrics == {"rows": 3.0, "f1": 0.5}
    assert run.data.tags["python_prefix"] == sys.prefix
    assert "mlflow imported" in done.stdout


def test_a_step_object_outside_a_process_keeps_nothing_when_failed(tmp_path, monkeypatch):
    monkeypatch.setenv(RECORDS_ENV, str(tmp_path / "r.json"))
    monkeypatch.setenv("MLFLOW_RUN_ID", "r1")
    with pytest.raises(ValueError), StepRun() as tracking:
        tracking.log_metrics({"a": 1})
        raise ValueError("the step failed")
    assert not (tmp_path / "r.json").exists()
