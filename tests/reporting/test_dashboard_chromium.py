"""The dashboard in a real browser: headless Chromium opens GET /dashboard of the real API
(gunicorn, a token set) after real traffic, a real batch and real late labels went through
fullprocess.py, and finds every chart drawn and nothing on the console."""

from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.error
import urllib.request

import pytest

from conftest import run_in, user_env
from utils.api import client as apicalls
from utils.runtime.processes import api_from_project, free_port, gunicorn_command, stop

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not shutil.which("chromium"), reason="Chromium is not installed (./setup_tools.sh chromium)"
    ),
]
TOKEN = "dashboard-s3cret"


def chromium(url: str, tmp_path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr",
         "--v=0", f"--user-data-dir={tmp_path / 'chromium'}", *args, url],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip


def wait_for_logged_rows(log_dir, rows: int, timeout_s: float = 30.0) -> None:
    """The workers' flushers write the log about once a second: wait for every answered row."""
    import pyarrow.parquet as pq

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if sum(pq.read_metadata(p).num_rows for p in log_dir.rglob("*.parquet")) >= rows:
                return
        except (OSError, ValueError):
            pass  # a segment being renamed into place, or a day being compacted: look again
        time.sleep(0.2)
    raise AssertionError(f"{rows} rows not logged in {timeout_s:.0f} s")


@pytest.fixture
def monitored_api(deployed_project, tmp_path):
    port = free_port()
    env = user_env(PORT=str(port), RISK_API_TOKEN=TOKEN)
    server = subprocess.Popen(
        gunicorn_command(api_from_project(deployed_project), f"127.0.0.1:{port}", 2),
        cwd=deployed_project, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        apicalls.wait_for_health(url, server)
        posted = 0
        for path in sorted((deployed_project / "01_data" / "sourcedata").glob("*.csv")):
            answer = apicalls.call(url, "POST", "/prediction", path.read_bytes(), "text/csv", TOKEN)
            assert answer.status == 200
            posted += len(answer.body["predictions"])
        wait_for_logged_rows(deployed_project / "logs" / "predictions", posted)
        labels = deployed_project / "01_data" / "labels"
        labels.mkdir()
        demo = deployed_project / "01_data" / "monitoring_demo"
        shutil.copy(demo / "labels" / "sourcedata_labels.csv", labels)
        run_in(deployed_project, "fullprocess.py", "automation.source_dir=01_data/monitoring_demo",
               env=env)  # fmt: skip
        yield url
    finally:
        stop(server)


def test_the_dashboard_draws_every_chart_with_real_data_and_a_clean_console(
    monitored_api, tmp_path
):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{monitored_api}/dashboard", timeout=10)
    assert refused.value.code == 401 and "Basic" in refused.value.headers["WWW-Authenticate"]

    with_token = monitored_api.replace("http://", f"http://on-call:{TOKEN}@") + "/dashboard"
    run = chromium(with_token, tmp_path, "--dump-dom")
    dom = run.stdout
    console = [line for line in run.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    assert 'id="health">ok<' in dom
    for chart_id in ["chart-performance", "chart-drift", "chart-volume"]:
        start = dom.index(f'<svg id="{chart_id}"')
        chart = dom[start : dom.index("</svg>", start)]
        assert re.search(r"<path [^>]*d=\"M", chart), f"{chart_id} draws nothing"
    performance = dom[dom.index('<svg id="chart-performance"') :]
    for series in ['id="estimated-f1"', 'id="estimated-f1-batches"', 'id="realized-f1"',
                   'id="alerts"', 'id="threshold"', 'id="performance-deployment-0"']:  # fmt: skip
        assert series in performance, series
    drift = dom[dom.index('<svg id="chart-drift"') : dom.index('<svg id="chart-volume"')]
    assert 'id="drift"' in drift and ">lastmonth_activity<" in drift
    # Both batch chunks and the traffic's chunk are in the table, realised F1 beside the log's.
    table = dom[dom.index('<table id="chunks">') :]
    assert table.count("covariate_shift.csv") == 2 and "prediction log" in table

    shot = tmp_path / "dashboard.png"
    chromium(with_token, tmp_path, "--hide-scrollbars", "--window-size=1000,1700",
             f"--screenshot={shot}")  # fmt: skip
    assert shot.read_bytes().startswith(b"\x89PNG")
