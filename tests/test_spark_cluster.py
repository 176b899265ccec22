"""The pipeline against a real Spark standalone cluster (spark://), as a user with a cluster
runs it: a master and a worker started here with PySpark's own launcher, the executors in
their own JVMs, the project on storage they share (this machine's disk). The answers are the
local engine's, file for file."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import copy_as_cloned, needs_spark, run_in, user_env
from utils.processes import free_port, stop

pytestmark = [pytest.mark.slow, needs_spark]


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


def test_the_pipeline_on_a_standalone_cluster_gives_the_local_answers(cluster, project):
    url, master_log = cluster
    ingested = project / "01_data/ingesteddata"
    local = {
        "finaldata.csv": (ingested / "finaldata.csv").read_bytes(),
        "ingestedfiles.txt": (ingested / "ingestedfiles.txt").read_bytes(),
        "latestscore.txt": (project / "models/latestscore.txt").read_bytes(),
    }
    run_in(project, "batch_scoring.py", "--input", "01_data/sourcedata", "--output", "local.csv")
    # What README tells a user with a cluster; the executors are told which Python to run.
    on_cluster = [
        "compute.engine=spark",
        f"compute.spark_master={url}",
        f"+compute.spark_options.spark.pyspark.python={sys.executable}",
        "+compute.spark_options.spark.executor.memory=1g",
    ]
    env = {**user_env(), "SPARK_LOCAL_IP": "127.0.0.1"}
    run_in(project, "main.py", *on_cluster, env=env)
    remote = {
        "finaldata.csv": (ingested / "finaldata.csv").read_bytes(),
        "ingestedfiles.txt": (ingested / "ingestedfiles.txt").read_bytes(),
        "latestscore.txt": (project / "models/latestscore.txt").read_bytes(),
    }
    assert remote == local
    run_in(
        project, "batch_scoring.py", "--input", "01_data/sourcedata", "--output", "cluster.csv",
        *on_cluster, env=env,
    )  # fmt: skip
    assert (project / "cluster.csv").read_bytes() == (project / "local.csv").read_bytes()
    assert len((project / "local.csv").read_bytes().splitlines()) > 1
    # The work ran on the cluster: ingestion, scoring, diagnostics and batch scoring each
    # registered with the master and got executors from the worker.
    log = master_log.read_text(errors="replace")
    assert log.count("Registering app risk-monitoring") == 4
    assert log.count("Launching executor") >= 4
