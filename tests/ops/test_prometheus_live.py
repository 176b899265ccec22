"""A real Prometheus scrapes the real API (gunicorn) and the automation's textfile (through
prometheus-node-exporter) with the repo's alert rules, and sees rules fire after real events:
a batch whose estimated F1 falls (fullprocess.py), then a refused release."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
import yaml

from conftest import ROOT, run_in, user_env
from utils.api import client as apicalls
from utils.runtime.processes import api_from_project, free_port, gunicorn_command, stop

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not (shutil.which("prometheus") and shutil.which("prometheus-node-exporter")),
        reason="Prometheus is not installed (./setup_tools.sh prometheus)",
    ),
]


def started(command: list[str], **kwargs) -> subprocess.Popen:
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **kwargs)


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.load(answer)


def wait_until(what: str, check, timeout_s: float = 90.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            value = check()
        except OSError:
            value = None
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(f"not seen in {timeout_s:.0f} s: {what}")


@pytest.fixture
def watched_project(deployed_project, tmp_path):
    """The demo project served by gunicorn, node-exporter on a textfile folder, and Prometheus
    scraping both every second with ops/prometheus/alerts.yml."""
    ports = {name: free_port() for name in ("api", "node", "prometheus")}
    textfiles = tmp_path / "textfile_collector"
    textfiles.mkdir()
    env = user_env(PORT=str(ports["api"]))
    processes = [
        started(
            gunicorn_command(api_from_project(deployed_project), f"127.0.0.1:{ports['api']}", 2),
            cwd=deployed_project, env=env,
        ),
        started([
            "prometheus-node-exporter", f"--web.listen-address=127.0.0.1:{ports['node']}",
            "--collector.disable-defaults", "--collector.textfile",
            f"--collector.textfile.directory={textfiles}",
        ]),
    ]  # fmt: skip
    # The shipped configuration, with this test's ports and a one-second rhythm.
    config = yaml.safe_load((ROOT / "ops" / "prometheus" / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    config["rule_files"] = [str(ROOT / "ops" / "prometheus" / "alerts.yml")]
    targets = {"risk-api": ports["api"], "risk-automation": ports["node"]}
    for job in config["scrape_configs"]:
        job["static_configs"] = [{"targets": [f"127.0.0.1:{targets[job['job_name']]}"]}]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config))
    processes.append(
        started([
            "prometheus", f"--config.file={tmp_path / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{ports['prometheus']}",
        ])
    )  # fmt: skip
    api = f"http://127.0.0.1:{ports['api']}"
    prometheus = f"http://127.0.0.1:{ports['prometheus']}"
    try:
        apicalls.wait_for_health(api, processes[0])
        wait_until(
            "both targets up",
            lambda: (
                {
                    t["labels"]["job"]
                    for t in get_json(f"{prometheus}/api/v1/targets")["data"]["activeTargets"]
                    if t["health"] == "up"
                }
                == set(targets)
            ),
        )
        yield {"root": deployed_project, "api": api, "prometheus": prometheus,
               "textfile": textfiles / "risk_fullprocess.prom", "env": env}  # fmt: skip
    finally:
        for process in reversed(processes):
            stop(process)


def firing(prometheus: str, alertname: str) -> list[dict]:
    alerts = get_json(f"{prometheus}/api/v1/alerts")["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == alertname and a["state"] == "firing"]


def query(prometheus: str, promql: str) -> list[dict]:
    url = f"{prometheus}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    return get_json(url)["data"]["result"]


def test_rules_fire_on_a_falling_batch_and_on_a_refused_release(watched_project):
    root, prometheus = watched_project["root"], watched_project["prometheus"]
    assert not firing(prometheus, "RiskEstimatedF1BelowThreshold")
    assert not firing(prometheus, "RiskApiDegraded")

    # A batch of much more active customers: fullprocess.py estimates a falling F1.
    run_in(
        root, "fullprocess.py", "automation.source_dir=01_data/monitoring_demo",
        f"automation.metrics_textfile={watched_project['textfile']}",
        env=watched_project["env"],
    )  # fmt: skip
    (alert,) = wait_until(
        "RiskEstimatedF1BelowThreshold firing",
        lambda: firing(prometheus, "RiskEstimatedF1BelowThreshold"),
    )
    assert alert["labels"]["source"] == "batch" and alert["labels"]["job"] == "risk-api"
    assert float(alert["value"]) < 0.79
    assert firing(prometheus, "RiskDataDrift")
    assert not firing(prometheus, "RiskApiDegraded")
    # The automation's run reached Prometheus through node-exporter's textfile collector.
    (run,) = wait_until(
        "the automation's textfile scraped",
        lambda: query(prometheus, 'risk_fullprocess_last_run_success{job="risk-automation"}'),
    )
    assert run["value"][1] == "1"
    assert not firing(prometheus, "RiskAutomationFailing")

    # A new release whose model file does not match its manifest: the API refuses it.
    from utils.model.deployment import deploy, deployed_release

    release = deployed_release(root / "production_deployment")
    manifest = json.loads((release / "manifest.json").read_text())
    files = {p.name: p for p in release.iterdir() if p.name != "manifest.json"}
    new = deploy(files, root / "production_deployment", {**manifest, "model_version": "2"})
    (new / "trainedmodel.skops").write_bytes(b"tampered")
    urllib.request.urlopen(f"{watched_project['api']}/health", timeout=5).read()
    (alert,) = wait_until("RiskApiDegraded firing", lambda: firing(prometheus, "RiskApiDegraded"))
    assert alert["labels"]["severity"] == "warning"
    wait_until("RiskApiReleaseRefused firing", lambda: firing(prometheus, "RiskApiReleaseRefused"))
    assert os.path.exists(watched_project["textfile"])
