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
from utils.runtime.processes import free_port as free_port_now
from utils.runtime.processes import stop
from utils.store.history import MonitoringStore

pytestmark = pytest.mark.integration


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


def serve_from_registry(project: Path, port: int, env: dict[str, str]) -> subprocess.Popen:

    from utils.api import client as apicalls

    process = subprocess.Popen(
        [sys.executable, "06_reporting/app.py", "--gunicorn", f"api.port={port}",
         "api.model_source=registry", "api.registry_poll_s=0.5"],
        cwd=project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    apicalls.wait_for_health(f"http://127.0.0.1:{port}", process)
    return process


def served_version(port: int) -> str:
    import json

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as answer:
        return str(json.loads(answer.read())["model_version"])


def test_two_hosts_share_the_registry_the_store_and_the_lock(
    tmp_path, tracking_server, second_postgres_url
):
    """Two clones stand in for two hosts: one tracking server on PostgreSQL, one monitoring
    database. Two APIs serving from the registry follow one redeployment; two fullprocess runs
    started together: exactly one works."""
    from conftest import copy_as_cloned

    hosts = [copy_as_cloned(tmp_path / name) for name in ("host-a", "host-b")]
    env = user_env(MLFLOW_TRACKING_URI=tracking_server)
    store = f"store.url={second_postgres_url}"
    run_in(hosts[0], "main.py", store, env=env)
    client = MlflowClient(tracking_uri=tracking_server)
    assert str(client.get_model_version_by_alias("risk_model", "champion").version) == "1"

    ports = [free_port_now() for _ in hosts]
    apis = [serve_from_registry(host, port, env) for host, port in zip(hosts, ports, strict=True)]
    try:
        assert [served_version(port) for port in ports] == ["1", "1"]
        runs = [
            subprocess.Popen([sys.executable, "fullprocess.py", store], cwd=host, env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
            for host in hosts
        ]  # fmt: skip
        outputs = [run.communicate(timeout=900)[1] for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        refused = ["already running on another host" in out for out in outputs]
        assert sorted(refused) == [False, True], "exactly one of the two worked"
        worked = outputs[refused.index(False)]
        assert "redeployed v1 -> v2" in worked or "trained and deployed" in worked
        assert str(client.get_model_version_by_alias("risk_model", "champion").version) == "2"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and {served_version(p) for p in ports} != {"2"}:
            time.sleep(0.2)
        assert [served_version(port) for port in ports] == ["2", "2"], "both follow the alias"
    finally:
        for api in apis:
            stop(api)
