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

from conftest import ROOT
from utils.api import client as apicalls
from utils.errors import PipelineError
from utils.runtime.processes import api_from_file, gunicorn_command, stop

pytestmark = pytest.mark.integration


@pytest.fixture
def server(api_project, free_port, tmp_path):
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(api_project["settings"].to_json())
    url = f"http://127.0.0.1:{free_port}"
    process = subprocess.Popen(
        gunicorn_command(
            api_from_file(settings_file),
            f"127.0.0.1:{free_port}",
            2,
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    apicalls.wait_for_health(url, process)
    yield url
    stop(process)


def test_every_endpoint_answers_2xx_and_is_written(server, api_project, tmp_path):
    settings = api_project["settings"]
    request = apicalls.prediction_request(
        Path(settings.data_dir), Path(settings.test_data), settings.max_rows
    )
    assert json.loads(request[1]) == {"filepath": "testdata/testdata.csv"}
    answers = apicalls.call_all(server, request)
    assert [a.status for a in answers] == [200] * len(answers)
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
        "GET /metrics\nstatus: 200\n# HELP risk_api_",
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


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    from prometheus_client.parser import text_string_to_metric_families

    with urllib.request.urlopen(f"{url}/metrics", timeout=10) as answer:
        assert answer.headers["Content-Type"].startswith("text/plain; version=")
        text = answer.read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def both_workers_loaded(server: str) -> None:
    """Wait until each of the two workers has loaded its model: /health answers as soon as
    one is up, and a worker that boots after a redeploy would load the new model first."""
    deadline = time.monotonic() + 120
    while scrape(server).get(("risk_api_model_loads_total", ()), 0) < 2:
        assert time.monotonic() < deadline, "the second worker never loaded its model"
        time.sleep(0.1)


def test_metrics_add_up_over_the_workers_and_follow_a_redeploy(server, api_project):
    both_workers_loaded(server)
    for rows in [[[10, 100, 3]]] * 12 + [[[10, 100, 3], [0, 0, 0]]] * 4:
        answer = apicalls.call(server, "POST", "/prediction", json.dumps(rows).encode(),
                               "application/json")  # fmt: skip
        assert answer.status == 200
    apicalls.call(server, "GET", "/nowhere")
    metrics = scrape(server)
    ok = (("endpoint", "/prediction"), ("method", "POST"), ("status", "200"))
    assert metrics[("risk_api_requests_total", ok)] == 16, "both workers' requests, summed"
    assert metrics[("risk_api_requests_total", (("endpoint", "other"), ("method", "GET"),
                                                ("status", "404")))] == 1  # fmt: skip
    assert (
        metrics[("risk_api_request_duration_seconds_count", (("endpoint", "/prediction"),))] == 16
    )
    assert metrics[("risk_api_rows_predicted_total", ())] == 20
    classes = [metrics.get(("risk_api_predictions_total", (("predicted_class", c),)), 0)
               for c in ("0", "1")]  # fmt: skip
    assert sum(classes) == 20
    assert metrics[("risk_api_model_version", (("version", "1"),))] == 1
    assert metrics[("risk_api_degraded", ())] == 0
    assert metrics[("risk_api_refused_releases_total", ())] == 0

    api_project["redeploy"]("2")
    assert apicalls.call(server, "GET", "/health").body["model_version"] == "2"
    metrics = scrape(server)
    assert metrics[("risk_api_model_version", (("version", "2"),))] == 1
    assert metrics[("risk_api_model_loads_total", ())] >= 3, "each worker's first load + a reload"


def test_schemathesis_finds_no_server_error(server, tmp_path):
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
        cwd=tmp_path,  # its .schemathesis cache stays out of the project
    )
    assert proc.returncode == 0, proc.stdout[-6000:]


def raw_request(url: str, data: bytes, timeout: float = 10) -> tuple[int, dict[str, str], bytes]:
    """Send ``data`` as it is on one connection; the status, headers and body answered."""
    import socket

    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(data)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in header_lines)
    return int(status_line.split()[1]), {k.lower(): v for k, v in headers.items()}, body


def test_slow_clients_do_not_starve_the_others(server):
    """Half-sent requests (head unfinished, body unfinished) on more connections than there are
    workers: /health still answers at once, and each stalled connection is closed in time."""
    import socket

    host, port = server.removeprefix("http://").split(":")
    stalled = []
    for number in range(8):
        sock = socket.create_connection((host, int(port)), timeout=10)
        if number % 2:
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")  # the head never ends
        else:
            sock.sendall(
                b"POST /prediction HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                b"Content-Length: 100\r\n\r\n[[1,"  # the body never ends
            )
        stalled.append(sock)
    try:
        time.sleep(0.5)
        for _ in range(5):
            answer = apicalls.call(server, "GET", "/health", timeout=1)
            assert answer.status == 200
        assert apicalls.call(server, "GET", "/", timeout=1).status == 200
        # Stalled connections get a JSON 408 after CONNECTION_TIMEOUT_S (10 s), then closed.
        for sock in stalled[:2]:
            sock.settimeout(30)
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 408 ") and b'"request timeout"' in answer
    finally:
        for sock in stalled:
            sock.close()


def test_two_thousand_idle_connections_do_not_hold_up_health(server):
    """Each idle socket holds a greenlet, not a worker; a full connection pool would leave
    /health waiting until idle ones time out (10 s), closing them. Answered while every idle
    socket is still open: no slot had to be freed for it."""
    import resource
    import socket

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < 2200:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 4096), hard))
    host, port = server.removeprefix("http://").split(":")
    idle = [socket.create_connection((host, int(port)), timeout=10) for _ in range(2000)]
    try:
        time.sleep(0.5)
        for path in ("/health", "/", "/health"):
            assert apicalls.call(server, "GET", path, timeout=5).status == 200
        for sock in idle:
            sock.setblocking(False)
            with pytest.raises(BlockingIOError):  # open, and nothing sent: not timed out
                sock.recv(1, socket.MSG_PEEK)
    finally:
        for sock in idle:
            sock.close()


def test_a_chunked_body_over_the_limit_is_413_under_gunicorn(server, api_project):
    limit = api_project["settings"].max_body_bytes
    rows = "[" + ",".join(["[1,2,3]"] * (limit // 8 + 10)) + "]"
    chunks = [rows[i : i + 8192].encode() for i in range(0, len(rows), 8192)]
    body = b"".join(b"%x\r\n%s\r\n" % (len(c), c) for c in chunks) + b"0\r\n\r\n"
    head = (
        b"POST /prediction HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    )
    status, headers, answer = raw_request(server, head + body)
    assert status == 413 and headers["content-type"] == "application/json"
    assert "over the limit" in json.loads(answer)["detail"]
    small = b"[[1,2,3]]"
    ok_body = b"%x\r\n%s\r\n0\r\n\r\n" % (len(small), small)
    status, _, answer = raw_request(server, head + ok_body)
    assert status == 200 and len(json.loads(answer)["predictions"]) == 1


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nBad\x01Header: 1\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n",
        b"BREW / HTCPCP/1.0\r\n\r\n",
    ],
    ids=["5k-url", "bad-header-bytes", "huge-header", "bad-protocol"],
)
def test_requests_gunicorn_refuses_itself_are_answered_in_json(server, request_bytes):
    status, headers, body = raw_request(server, request_bytes)
    assert 400 <= status < 500
    assert headers["content-type"] == "application/json"
    assert set(json.loads(body)) == {"error", "detail"}


def test_sigterm_stops_the_server_promptly(api_project, free_port, tmp_path):
    """graceful_timeout bounds the stop even with an idle keep-alive connection open."""
    import signal
    import socket

    settings_file = tmp_path / "settings.json"
    settings_file.write_text(api_project["settings"].to_json())
    process = subprocess.Popen(
        gunicorn_command(
            api_from_file(settings_file),
            f"127.0.0.1:{free_port}",
            2,
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    apicalls.wait_for_health(f"http://127.0.0.1:{free_port}", process)
    idle = socket.create_connection(("127.0.0.1", free_port))
    idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    idle.recv(65536)
    process.send_signal(signal.SIGTERM)
    try:
        # Within graceful_timeout (3 s) and start-up slack; it took 10-15 s with sync workers.
        assert process.wait(timeout=8) == 0
    finally:
        idle.close()
        if process.poll() is None:
            process.kill()


def test_a_worker_killed_with_sigkill_leaves_every_earlier_segment_readable(
    api_project, free_port, tmp_path
):
    import dataclasses
    import os
    import signal

    from utils.monitoring.prediction_log import read_segments, segments

    log_dir = tmp_path / "log"
    settings = dataclasses.replace(api_project["settings"], log_dir=str(log_dir))
    settings_file = tmp_path / "settings.json"
    settings_file.write_text(settings.to_json())
    url = f"http://127.0.0.1:{free_port}"
    process = subprocess.Popen(
        gunicorn_command(
            api_from_file(settings_file),
            f"127.0.0.1:{free_port}",
            1,
        ),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        apicalls.wait_for_health(url, process)
        body = json.dumps([[1.0, 2.0, 3.0]] * 10).encode()

        def predict(request_id: str) -> None:
            request = urllib.request.Request(
                f"{url}/prediction", data=body,
                headers={"Content-Type": "application/json", "X-Request-ID": request_id},
            )  # fmt: skip
            with urllib.request.urlopen(request, timeout=10) as answer:
                assert answer.headers["X-Request-ID"] == request_id

        for i in range(20):
            predict(f"before-{i}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(read_segments(segments(log_dir))) < 200:
            time.sleep(0.2)  # the flusher writes about once a second
        before = read_segments(segments(log_dir))
        assert len(before) == 200
        worker = int(subprocess.run(["pgrep", "-P", str(process.pid)], capture_output=True,
                                    text=True, check=True).stdout.split()[0])  # fmt: skip
        predict("unflushed")  # may or may not be written before the kill: at most a second lost
        os.kill(worker, signal.SIGKILL)
        apicalls.wait_for_health(url, process)  # the arbiter starts a new worker
        for i in range(5):
            predict(f"after-{i}")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            frame = read_segments(segments(log_dir))
            if (frame["request_id"].str.starts_with("after-")).sum() == 50:
                break
            time.sleep(0.2)
        frame = read_segments(segments(log_dir))
        ids = frame["request_id"].to_list()
        assert ids.count("unflushed") in (0, 10)
        assert [i for i in ids if i.startswith("before-")] == [f"before-{i}" for i in range(20)
                                                                for _ in range(10)]  # fmt: skip
        assert sum(i.startswith("after-") for i in ids) == 50
    finally:
        stop(process)
