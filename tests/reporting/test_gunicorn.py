"""The API under a real gunicorn: every endpoint, redeploys while serving, schemathesis (slow)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import ROOT, load_script
from utils.errors import PipelineError
from utils.processes import stop

pytestmark = pytest.mark.slow
apicalls = load_script("06_reporting/apicalls.py", "risk_apicalls")


@pytest.fixture
def server(api_project, free_port, tmp_path):
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(api_project["settings"].to_json())
    url = f"http://127.0.0.1:{free_port}"
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "--chdir",
            str(ROOT / "06_reporting"),
            "--bind",
            f"127.0.0.1:{free_port}",
            "--workers",
            "2",
            f"app:create_app_from_file({str(settings_file)!r})",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while True:
        try:
            if apicalls.call(url, "GET", "/health", timeout=2).status == 200:
                break
        except PipelineError:
            pass
        assert process.poll() is None, process.stderr.read()
        assert time.monotonic() < deadline, "gunicorn did not start"
        time.sleep(0.2)
    yield url
    stop(process)


def test_every_endpoint_answers_2xx_and_is_written(server, api_project, tmp_path):
    settings = api_project["settings"]
    request = apicalls.prediction_request(
        Path(settings.data_dir), Path(settings.test_data), settings.max_rows
    )
    assert json.loads(request[1]) == {"filepath": "testdata/testdata.csv"}
    answers = apicalls.call_all(server, request)
    assert [a.status for a in answers] == [200] * 8
    output = tmp_path / "apireturns.txt"
    apicalls.write_answers(answers, output)
    text = output.read_text()
    for path in [
        "GET /\n",
        "POST /prediction",
        "GET /scoring",
        "GET /summarystats",
        "GET /diagnostics",
        "GET /health",
        "GET /model",
        "GET /openapi.json",
    ]:
        assert path in text


def test_a_non_2xx_answer_fails_after_writing(server, tmp_path):
    answers = apicalls.call_all(server, ("application/json", b'{"filepath": "../x.csv"}'))
    with pytest.raises(PipelineError, match="POST /prediction -> 400"):
        apicalls.write_answers(answers, tmp_path / "apireturns.txt")
    assert "status: 400" in (tmp_path / "apireturns.txt").read_text()


def test_unreachable_server_is_one_line(free_port, tmp_path, assert_one_line_error):
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "06_reporting" / "apicalls.py"),
            "--url",
            f"http://127.0.0.1:{free_port}",
            "--output",
            str(tmp_path / "r.txt"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert_one_line_error(proc, "API not reachable")


def test_redeploy_while_serving_fails_no_request(server, api_project):
    body = json.dumps([[10, 100, 3]]).encode()
    results: list[tuple[int, object]] = []
    stop = threading.Event()

    def hammer() -> None:
        while not stop.is_set() and len(results) < 5000:
            request = urllib.request.Request(
                f"{server}/prediction", data=body, headers={"Content-Type": "application/json"}
            )
            with urllib.request.urlopen(request, timeout=10) as answer:
                results.append((answer.status, json.loads(answer.read())["model_version"]))

    workers = [threading.Thread(target=hammer) for _ in range(4)]
    for worker in workers:
        worker.start()
    time.sleep(0.5)
    for version in ("2", "3", "4"):
        api_project["redeploy"](version)
        time.sleep(0.3)
    stop.set()
    for worker in workers:
        worker.join(timeout=30)
    assert results and all(status == 200 for status, _ in results)
    assert {version for _, version in results} >= {"1", "4"}
    after = apicalls.call(server, "POST", "/prediction", body, "application/json")
    assert after.body["model_version"] == "4"


def test_schemathesis_finds_no_server_error(server):
    proc = subprocess.run(
        [
            str(Path(sys.executable).parent / "schemathesis"),
            "run",
            f"{server}/openapi.json",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "40",
            "--generation-deterministic",
            "--request-timeout",
            "10",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-6000:]
