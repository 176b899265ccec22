"""A team's setup: a tracking server on PostgreSQL with the monitoring store beside it (slow)."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from mlflow import MlflowClient

import main
from conftest import run_in, user_env
from utils.processes import stop
from utils.store import MonitoringStore

pytestmark = pytest.mark.slow


def wait_until_healthy(url: str, server: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise AssertionError(f"mlflow server exited: {server.stderr.read()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/health", timeout=2) as answer:
                if answer.status == 200:
                    return
        except OSError:
            time.sleep(0.5)
    raise AssertionError("mlflow server did not become healthy")


@pytest.fixture
def tracking_server(postgres_url, tmp_path, free_port):
    url = f"http://127.0.0.1:{free_port}"
    server = subprocess.Popen(
        [
            str(Path(sys.executable).parent / "mlflow"),
            "server",
            "--backend-store-uri",
            postgres_url,
            "--artifacts-destination",
            str(tmp_path / "server-artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(free_port),
            "--workers",
            "1",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        wait_until_healthy(url, server)
        yield url
    finally:
        stop(server)


def test_pipeline_against_a_shared_tracking_server_and_store(
    project_copy, tracking_server, second_postgres_url
):
    run_in(
        project_copy,
        "main.py",
        f"store.url={second_postgres_url}",
        env=user_env(MLFLOW_TRACKING_URI=tracking_server),
    )
    assert not (project_copy / "mlflow.db").exists(), "nothing tracked locally"
    assert not (project_copy / "monitoring.db").exists(), "nothing stored locally"

    client = MlflowClient(tracking_uri=tracking_server)
    experiment = client.get_experiment_by_name("risk_monitoring")
    runs = client.search_runs([experiment.experiment_id])
    assert sorted(r.info.run_name for r in runs) == sorted(["pipeline", *main._steps])
    assert all(r.info.status == "FINISHED" for r in runs)
    champion = client.get_model_version_by_alias("risk_model", "champion")
    training = next(r for r in runs if r.info.run_name == "model_training")
    artifacts = [a.path for a in client.list_artifacts(training.info.run_id)]
    assert "trainedmodel.json" in artifacts, "artifacts are served by the tracking server"

    store = MonitoringStore(second_postgres_url)
    assert store.count("ingestion") == 1
    assert [d["model_version"] for d in store.deployment_history()] == [str(champion.version)]
    assert len(store.f1_history()) == 1
    store.close()
