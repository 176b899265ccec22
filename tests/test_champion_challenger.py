"""Champion and challenger end to end (issue 25): the real API (gunicorn), the real registry
and the real automation (fullprocess.py with deployment.strategy=shadow) on the demo project.

The shipped sourcedata holds customers whose reasons to leave changed: fullprocess.py retrains
on them and, in the shadow, the retrained model becomes the challenger. Traffic of the new
relationship then reaches the API, which answers with the champion and logs the challenger's
answers beside; when the labels arrive, the automation promotes the challenger (or, on traffic
of the old relationship, rejects it), and the API follows without a restart.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import time
import urllib.request

import pytest

from conftest import run_in, user_env
from utils.data.demo import generate_rows
from utils.runtime.processes import api_from_project, free_port, gunicorn_command, stop

pytestmark = pytest.mark.integration

SHADOW = "deployment.strategy=shadow"


@contextlib.contextmanager
def serving(project):
    """gunicorn serving the project (two workers) until the block ends; yields its base URL."""
    port = free_port()
    process = subprocess.Popen(
        gunicorn_command(api_from_project(project), f"127.0.0.1:{port}", 2), cwd=project,
        env=user_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until("the API answers", lambda: health(url))
        yield url
    finally:
        stop(process, grace_s=30)


def health(url: str) -> dict | None:
    try:
        with urllib.request.urlopen(f"{url}/health", timeout=5) as answer:
            return json.load(answer)
    except OSError:
        return None


def wait_until(what: str, check, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.3)
    raise AssertionError(f"not seen in {timeout_s:.0f} s: {what}")


def send(url: str, traffic) -> None:
    """The traffic as one CSV request (no label in it); the champion answers it."""
    body = traffic.drop(columns=["exited"]).to_csv(index=False).encode()
    request = urllib.request.Request(
        f"{url}/prediction", data=body, headers={"Content-Type": "text/csv"}
    )
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert json.load(answer)["model_version"] == 1


def logged_with_challenger(project) -> bool:
    """Whether the log holds rows the challenger answered (the flusher writes once a second)."""
    from utils.monitoring.prediction_log import read_segments, segments

    found = segments(project / "logs" / "predictions")
    return bool(found) and "challenger_version" in read_segments(found).columns


def labels_arrive(project, traffic) -> None:
    folder = project / "01_data" / "labels"
    folder.mkdir(parents=True, exist_ok=True)
    traffic[["corporation", "exited"]].to_csv(folder / "late-labels.csv", index=False)


def automation(project, *overrides: str) -> str:
    """One fullprocess.py run; its summary line."""
    said = run_in(project, "fullprocess.py", *overrides).stderr
    return next(line for line in reversed(said.splitlines()) if " INFO fullprocess: " in line)


@pytest.fixture
def challenged(deployed_project, webhook):
    """Champion v1 (main.py) and challenger v2, retrained by fullprocess.py on the changed
    relationship of sourcedata, in the shadow."""
    hook = f"alerts.webhook_url={webhook.url}"
    said = automation(deployed_project, SHADOW, hook)
    assert "v2 is the challenger beside champion v1 (shadow)" in said, said
    assert "0 of 200 labelled rows so far" in said
    return deployed_project, hook


def test_a_better_challenger_is_promoted_when_the_labels_come_and_rollback_undoes_it(
    challenged, webhook
):
    project, hook = challenged
    changed = generate_rows(600, seed=7, shift=1.0)  # the new relationship
    with serving(project) as url:
        assert (health(url)["model_version"], health(url)["challenger_version"]) == (1, 2)
        send(url, changed)
        wait_until("the challenger's answers in the log", lambda: logged_with_challenger(project))
        labels_arrive(project, changed)
        said = automation(project, SHADOW, hook)
        assert "promoted challenger v2 over v1 (realised F1 +" in said, said
        # The API follows the link: the challenger serves, without a restart.
        now = wait_until("v2 served", lambda: (h := health(url))["model_version"] == 2 and h)
        assert "challenger_version" not in now
        texts = webhook.texts()
        assert any("challenger v2 deployed beside champion v1" in t for t in texts), texts
        assert any("challenger promoted (realised F1 +" in t for t in texts), texts
        assert "rolled back v2 -> v1" in automation(project, "--rollback")
        wait_until("v1 served again", lambda: health(url)["model_version"] == 1)


def test_a_worse_challenger_waits_for_enough_labels_then_is_rejected(challenged, webhook):
    project, hook = challenged
    usual = generate_rows(600, seed=8)  # the old relationship, which the champion knows
    with serving(project) as url:
        send(url, usual)
        wait_until("the challenger's answers in the log", lambda: logged_with_challenger(project))
        labels_arrive(project, usual.head(150))
        said = automation(project, SHADOW, hook)
        assert "challenger v2: 150 of 200 labelled rows so far" in said, said
        assert health(url)["challenger_version"] == 2, "nothing promoted on too few rows"
        labels_arrive(project, usual)
        said = automation(project, SHADOW, hook)
        assert "rejected challenger v2 (realised F1 -" in said, said
        wait_until("no challenger", lambda: "challenger_version" not in health(url))
        assert health(url)["model_version"] == 1, "the champion never stopped serving"
        assert any("challenger rejected (realised F1 -" in t for t in webhook.texts())
    assert not (project / "production_deployment.challenger").is_symlink()
