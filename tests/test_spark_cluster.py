"""The pipeline against a real Spark standalone cluster (spark://), as a user with a cluster
runs it (README's commands): a master and a worker started here with PySpark's own launcher,
the executors in their own JVMs, the project on storage they share (this machine's disk). The
answers are the local engine's, file for file."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import bash_blocks, copy_as_cloned, needs_spark, run_block, run_in, user_env
from utils.runtime.processes import free_port, stop

pytestmark = [pytest.mark.integration, needs_spark]


def _spark_class(*arguments: str, log: Path, env: dict[str, str]) -> subprocess.Popen:
    import pyspark

    launcher = Path(pyspark.__file__).parent / "bin" / "spark-class"
    with open(log, "wb") as out:
        return subprocess.Popen(
            [str(launcher), *arguments], stdout=out, stderr=subprocess.STDOUT, env=env,
            start_new_session=True,
        )  # fmt: skip


def _wait_for(check, what: str, log: Path, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.5)
    raise AssertionError(f"{what} did not come up:\n{log.read_text()[-3000:]}")


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """spark://127.0.0.1:<port> (one master, one worker with two cores) and the master's log."""
    scratch = tmp_path_factory.mktemp("spark-cluster")
    env = {**os.environ, "SPARK_LOCAL_IP": "127.0.0.1", "SPARK_LOG_DIR": str(scratch)}
    port = free_port()
    master_log, worker_log = scratch / "master.log", scratch / "worker.log"
    master = _spark_class(
        "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
        "--webui-port", str(free_port()), log=master_log, env=env,
    )  # fmt: skip
    processes = [master]
    try:
        _wait_for(lambda: _listening(port), "the Spark master", master_log)
        url = f"spark://127.0.0.1:{port}"
        worker = _spark_class(
            "org.apache.spark.deploy.worker.Worker", url, "--cores", "2", "--memory", "3g",
            "--webui-port", str(free_port()), "--work-dir", str(scratch / "work"),
            log=worker_log, env=env,
        )  # fmt: skip
        processes.append(worker)
        _wait_for(
            lambda: "Registering worker" in master_log.read_text(errors="replace"),
            "the Spark worker", worker_log,
        )  # fmt: skip
        yield url, master_log
    finally:
        for process in reversed(processes):
            stop(process)
            # The worker's executors, should one outlive it.
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """The demo project after a whole local run (model trained, scored and deployed)."""
    project = copy_as_cloned(tmp_path_factory.mktemp("cluster") / "project")
    run_in(project, "main.py")
    return project


def outputs(project: Path) -> dict[str, bytes]:
    return {
        name: (project / folder / name).read_bytes()
        for folder, name in [
            ("01_data/ingesteddata", "finaldata.csv"),
            ("01_data/ingesteddata", "ingestedfiles.txt"),
            ("models", "latestscore.txt"),
        ]
    }


def test_readmes_cluster_block_gives_the_local_answers(cluster, project, postgres_url):
    """README's cluster commands as written (setup_env.sh, run_pipeline.sh, batch scoring),
    with this machine's names put in."""
    url, master_log = cluster
    local = outputs(project)
    local_diagnostics = json.loads((project / "models/diagnostics.json").read_text())
    feed = project / "01_data/sourcedata"
    run_in(project, "batch_scoring.py", "--input", str(feed), "--output", "local.csv")
    (block,) = [b for b in bash_blocks("Beyond one machine") if "spark://" in b]
    names = {
        "/shared/risk-monitoring": str(project),
        "spark://spark-master:7077": url,
        "http://mlflow-host:5000": f"sqlite:///{project / 'mlflow.db'}",
        "postgresql://monitor@db-host:5432/monitoring": postgres_url,
        "s3a://bucket/feed/2026-11/": feed.as_uri(),
        "/shared/scored/2026-11.csv": str(project / "scored" / "cluster.csv"),
        "spark.executor.memory=8g": "spark.executor.memory=1g",
    }
    for name, here in names.items():
        assert name in block, name
        block = block.replace(name, here)
    run_block(block, project, env={**user_env(), "SPARK_LOCAL_IP": "127.0.0.1"}, timeout=1800)

    assert outputs(project) == local
    # Diagnostics' statistics of the ingested data, computed by the executors.
    diagnostics = json.loads((project / "models/diagnostics.json").read_text())
    assert diagnostics["missing_percent"] == local_diagnostics["missing_percent"]
    for column, figures in local_diagnostics["summary_statistics"].items():
        assert diagnostics["summary_statistics"][column] == pytest.approx(figures, rel=1e-12)
    scored = (project / "scored" / "cluster.csv").read_bytes()
    assert scored == (project / "local.csv").read_bytes() and len(scored.splitlines()) > 1
    # The work ran on the cluster: ingestion, scoring, diagnostics and batch scoring each
    # registered with the master and got an executor from the worker.
    log = master_log.read_text(errors="replace")
    assert log.count("Registering app risk-monitoring") == 4
    assert log.count("Launching executor") >= 4
