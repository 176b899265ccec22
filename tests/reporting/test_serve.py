"""./serve.sh and `app.py --gunicorn`: the same Hydra overrides as main.py (slow)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from conftest import ROOT, run_in, user_env
from utils.api import client as apicalls

pytestmark = pytest.mark.integration

RENAMED = {
    "lastmonth_activity": "visits_30d",
    "lastyear_activity": "visits_365d",
    "number_of_employees": "seats",
    "exited": "churned",
    "corporation": "customer",
}
OVERRIDES = [
    "data.target=churned",
    "data.features=[visits_30d,visits_365d,seats]",
    "data.id_columns=[customer]",
]


def test_serve_sh_refuses_a_bad_override_in_one_line(assert_one_line_error):
    proc = subprocess.run(
        [str(ROOT / "serve.sh"), "model.c=1"],
        capture_output=True,
        text=True,
        timeout=300,
        env=user_env(),
        check=False,
    )
    assert proc.returncode == 2
    assert_one_line_error(proc, "model.c", "no such key")


def serve(project: Path, port: int, *overrides: str) -> subprocess.Popen:
    process = subprocess.Popen(
        [sys.executable, "06_reporting/app.py", "--gunicorn", f"api.port={port}", *overrides],
        cwd=project,
        env=user_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    apicalls.wait_for_health(f"http://127.0.0.1:{port}", process)
    return process


def stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGTERM)
    process.wait(timeout=30)


def test_a_model_of_another_schema_is_served(project_copy, free_port):
    data = project_copy / "01_data"
    for csv in [*sorted((data / "practicedata").glob("*.csv")), data / "testdata" / "testdata.csv"]:
        pd.read_csv(csv).rename(columns=RENAMED).to_csv(csv, index=False)
    steps = "main.steps=data_ingestion,model_training,model_scoring,model_deployment"
    run_in(project_copy, "main.py", steps, *OVERRIDES)
    url = f"http://127.0.0.1:{free_port}"
    row = json.dumps([{"customer": "c1", "visits_30d": 10, "visits_365d": 100, "seats": 3}])

    # With the pipeline's overrides: every endpoint, the scores on the renamed test data too.
    process = serve(project_copy, free_port, *OVERRIDES)
    try:
        answer = apicalls.call(url, "POST", "/prediction", row.encode(), "application/json")
        assert answer.status == 200 and len(answer.body["predictions"]) == 1
        assert apicalls.call(url, "GET", "/scoring").status == 200
        assert apicalls.call(url, "GET", "/model").body["features"] == [
            "visits_30d",
            "visits_365d",
            "seats",
        ]
    finally:
        stop(process)

    # Without them the workers still boot and predict: the manifest names the model's columns.
    process = serve(project_copy, free_port)
    try:
        answer = apicalls.call(url, "POST", "/prediction", row.encode(), "application/json")
        assert answer.status == 200
    finally:
        stop(process)
