"""The automation through the real pipeline, in copies of the project (slow)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.metrics import f1_score

from conftest import run_in, user_env
from utils.automation.sources import exclusive_lock
from utils.data.demo import generate_files, write_files
from utils.files import sha256_file
from utils.model.deployment import current_release, verify_release
from utils.store.history import MonitoringStore

pytestmark = pytest.mark.integration
FEATURES = ["lastmonth_activity", "lastyear_activity", "number_of_employees"]


def run(project: Path, script: str, *args: str, check: bool = True):
    return run_in(project, script, *args, check=check)


def summary(proc) -> str:
    lines = [line for line in proc.stderr.splitlines() if " INFO fullprocess: " in line]
    return lines[-1] if lines else proc.stderr[-2000:]


def model_of(project: Path):
    with open(project / "production_deployment" / "trainedmodel.pkl", "rb") as handle:
        return __import__("pickle").load(handle)


def champion(project: Path) -> str:
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    return str(client.get_model_version_by_alias("risk_model", "champion").version)


def mlflow_run_count(project: Path) -> int:
    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    return len(
        client.search_runs(
            [e.experiment_id for e in client.search_experiments()], max_results=10_000
        )
    )


def assert_consistent(project: Path) -> None:
    """Production complete and loadable; finaldata.csv holds the rows of the files it lists."""
    production = project / "production_deployment"
    release = current_release(production)
    verify_release(release)
    ingested = project / "01_data" / "ingesteddata"
    listed = (ingested / "ingestedfiles.txt").read_text().split()
    sources = [
        p
        for folder in ("practicedata", "sourcedata")
        for p in sorted((project / "01_data" / folder).glob("*.csv"))
        if p.name in listed
    ]
    raw = pd.concat([pd.read_csv(p) for p in sources], ignore_index=True).drop_duplicates()
    final = pd.read_csv(ingested / "finaldata.csv")
    assert len(final) == len(raw)


def test_no_new_data_then_drift_redeploys_then_changed_content(deployed_project, tmp_path, webhook):
    project = deployed_project  # main.py has run once
    assert champion(project) == "1"
    runs_before = mlflow_run_count(project)

    empty = tmp_path / "nothing"
    empty.mkdir()
    quiet = run(project, "fullprocess.py", f"automation.source_dir={empty}")
    assert "no new data" in summary(quiet)
    assert mlflow_run_count(project) == runs_before, "nothing ran"

    state_files = [project / name for name in (".fullprocess.lock", ".fullprocess-hashes.json")]
    before = {p: p.exists() and p.stat().st_mtime_ns for p in state_files}
    dry = run(project, "fullprocess.py", "--dry-run")
    assert "dry run:" in summary(dry) and "would ingest, retrain, and redeploy" in summary(dry)
    assert champion(project) == "1" and mlflow_run_count(project) == runs_before
    assert {p: p.exists() and p.stat().st_mtime_ns for p in state_files} == before, "no writes"

    drift = run(project, "fullprocess.py", f"alerts.webhook_url={webhook.url}")
    assert "score drift (F1 on new data" in summary(drift)
    assert "redeployed v1 -> v2" in summary(drift)
    kinds = [post["kind"] for post in webhook.posts]
    assert kinds[0] == "score_drift" and kinds[-1] == "automation", "in the order they happened"
    assert webhook.texts()[-1].endswith("redeployed: a new model serves now (was v1)")
    assert webhook.posts[-1]["model_version"] == "2"
    assert "secret-path" not in drift.stderr, "the webhook's URL is not logged"
    # Each feature's test, corrected p-value and effect size are in the log.
    for feature in FEATURES:
        assert f"data drift {feature} (numeric): ks " in drift.stderr
    assert "corrected" in drift.stderr and " std (" in drift.stderr
    assert champion(project) == "2"
    deployed = (project / "production_deployment" / "ingestedfiles.txt").read_text().split()
    assert {"dataset3.csv", "dataset4.csv"} <= set(deployed)
    assert (project / "models" / "reports" / "v1" / "confusionmatrix.png").is_file()
    assert (project / "models" / "reports" / "v2" / "apireturns.txt").is_file()
    store = MonitoringStore(f"sqlite:///{project / 'monitoring.db'}")
    assert store.latest_event("score_drift")["payload"]["drift"] is True
    assert store.latest_event("automation")["payload"]["outcome"] == "redeployed"
    store.close()
    from utils.api import app
    from utils.api.settings import ApiSettings
    from utils.config import load_project_config

    settings = ApiSettings.from_config(load_project_config(project), project, {})
    client = app.create_app(settings).test_client()
    assert client.get("/health").get_json()["model_version"] == 2

    again = run(project, "fullprocess.py")
    assert "no new data" in summary(again)
    assert_consistent(project)

    # A bad deployment undone in one command: link, alias, store, report; the API follows.
    dry = run(project, "fullprocess.py", "--rollback", "--dry-run")
    assert "dry run: would roll back v2 -> v1" in summary(dry) and champion(project) == "2"
    back = run(project, "fullprocess.py", "--rollback", f"alerts.webhook_url={webhook.url}")
    assert "rolled back v2 -> v1" in summary(back)
    assert champion(project) == "1"
    assert client.get("/health").get_json()["model_version"] == 1, "no restart needed"
    assert webhook.texts()[-1].endswith("rolled back: v2 -> v1")
    store = MonitoringStore(f"sqlite:///{project / 'monitoring.db'}")
    assert store.latest_event("rollback")["payload"]["to_version"] == "1"
    store.close()
    report = (project / "models" / "report.html").read_text()
    assert "<td>rolled back</td><td>1</td><td>2</td>" in report
    nothing = run(project, "fullprocess.py", "--rollback", check=False)
    assert nothing.returncode == 2 and "nothing to roll back to" in nothing.stderr
    assert "Traceback" not in nothing.stderr
    forward = run(project, "fullprocess.py", "--rollback", "--to", "2")
    assert "rolled back v1 -> v2" in summary(forward) and champion(project) == "2"
    assert_consistent(project)

    changed = project / "01_data" / "sourcedata" / "dataset3.csv"
    frame = pd.read_csv(changed)
    frame.iloc[:-1].to_csv(changed, index=False)
    found = run(project, "fullprocess.py", "--dry-run")
    assert "new files: dataset3.csv;" in summary(found)


def test_new_data_from_the_same_distribution_is_ingested_without_redeploy(deployed_project):
    project = deployed_project  # main.py has run once
    fresh = project / "01_data" / "fresh"
    write_files(generate_files(600, 2, seed=10), fresh, "batch")
    result = run(project, "fullprocess.py", f"automation.source_dir={fresh}")
    assert "no score drift" in summary(result)
    assert "no data drift (0 of 3 features drifted, 1 needed)" in summary(result)
    assert "ingested, kept model v1" in summary(result)
    assert champion(project) == "1"
    # The report is rebuilt after every decision, so it shows this check.
    assert "new rows against 540 reference rows" in (project / "models" / "report.html").read_text()
    listed = (project / "01_data" / "ingesteddata" / "ingestedfiles.txt").read_text().split()
    assert {"batch1.csv", "batch2.csv"} <= set(listed)
    deployed = (project / "production_deployment" / "ingestedfiles.txt").read_text().split()
    assert deployed == ["dataset1.csv", "dataset2.csv"]
    again = run(project, "fullprocess.py", f"automation.source_dir={fresh}")
    assert "no new data" in summary(again)


def test_a_second_run_at_once_does_nothing(project_copy):
    with exclusive_lock(project_copy / ".fullprocess.lock") as acquired:
        assert acquired
        second = run(project_copy, "fullprocess.py")
    assert "already running" in second.stderr
    assert not (project_copy / "production_deployment").exists()


def processes_of(project: Path, marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if marker in cmdline and str(project) in cmdline:
            found.append(int(entry.name))
    return found


def kill_during(project: Path, marker: str, *args: str) -> None:
    """Start fullprocess and kill -9 it, and everything it started, once ``marker`` runs."""
    process = subprocess.Popen(
        [sys.executable, "fullprocess.py", *args],
        cwd=project,
        env=user_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 600
    while not processes_of(project, marker):
        assert process.poll() is None, f"fullprocess ended before {marker} started"
        assert time.monotonic() < deadline
        time.sleep(0.05)
    victims = processes_of(project, "") + [process.pid]
    os.killpg(process.pid, signal.SIGKILL)
    for pid in victims:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    process.wait(timeout=60)


def test_kill_9_during_training_and_deployment_then_recovery(deployed_project):
    project = deployed_project  # main.py has run once
    manifest_before = sha256_file(project / "production_deployment" / "manifest.json")

    kill_during(project, "train.py")
    assert_consistent(project)
    assert sha256_file(project / "production_deployment" / "manifest.json") == manifest_before
    assert champion(project) == "1"

    recovered = run(project, "fullprocess.py")
    assert "finishing the run of" in recovered.stderr
    assert "redeployed v1 -> v2" in summary(recovered)
    assert_consistent(project)
    # Finished, not assessed again against ingested data that now holds the new rows.
    assert event_count(project, "data_drift") == 1
    assert event_count(project, "automation") == 1

    # Other settings, so that the forced retraining makes another model to deploy.
    kill_during(project, "deployment.py", "--force", "model.C=0.5")
    assert_consistent(project)
    manifest = json.loads((project / "production_deployment" / "manifest.json").read_text())
    assert str(manifest["model_version"]) in {"2", "3"}

    forced = run(project, "fullprocess.py", "--force", "model.C=0.5")
    assert "redeployed" in summary(forced)
    assert_consistent(project)


def event_count(project: Path, kind: str) -> int:
    import sqlite3

    with sqlite3.connect(project / "monitoring.db") as db:
        return db.execute("SELECT count(*) FROM events WHERE kind = ?", (kind,)).fetchone()[0]


def test_a_run_killed_after_deployment_is_finished_by_the_next(deployed_project):
    project = deployed_project  # main.py has run once
    kill_during(project, "diagnostics.py")
    assert champion(project) == "2", "the deployment step had finished"
    assert event_count(project, "automation") == 0, "no decision recorded yet"

    finished = run(project, "fullprocess.py")
    assert "finishing the run of" in finished.stderr
    assert "redeployed v1 -> v2" in summary(finished)
    assert champion(project) == "2", "not deployed a second time"
    diagnostics = json.loads((project / "models" / "diagnostics.json").read_text())
    assert str(diagnostics["model_version"]) == "2"
    assert (project / "models" / "reports" / "v2" / "report.html").is_file()
    assert event_count(project, "automation") == 1
    assert not (project / ".fullprocess-journal.json").exists()
    assert "no new data" in summary(run(project, "fullprocess.py"))


def test_logged_traffic_and_an_unlabelled_batch_are_monitored_not_trained_on(
    deployed_project, tmp_path
):
    project = deployed_project  # main.py has run once
    from utils.data.demo import generate_rows
    from utils.monitoring.prediction_log import LoggedRequest, PredictionLog

    # Traffic as the API logs it: two segments of the deployed model's rows.
    log = PredictionLog(project / "logs" / "predictions")
    rows = generate_rows(3000, seed=21)
    for part in (rows.iloc[:1500], rows.iloc[1500:]):
        matrix = part[FEATURES].to_numpy(dtype=float)
        log._pending.append(LoggedRequest("r", "1", tuple(FEATURES), matrix, [0.5] * len(part),
                                          [1] * len(part), {"corporation": part["corporation"]
                                                            .astype(str).tolist()}))  # fmt: skip
        log.flush()
    # The first segment as if logged two days ago (a day over, within the log's retention):
    # the run compacts that day.
    from datetime import UTC, datetime, timedelta

    day = f"{datetime.now(UTC) - timedelta(days=2):%Y-%m-%d}"
    oldest = sorted((project / "logs" / "predictions").glob("*/*.parquet"))[0]
    old_day = project / "logs" / "predictions" / day
    old_day.mkdir()
    oldest.rename(old_day / oldest.name)
    batch = tmp_path / "incoming"
    batch.mkdir()
    batch_rows = generate_rows(2500, seed=22)
    batch_rows.drop(columns=["exited"]).to_csv(batch / "nolabels.csv", index=False)
    overrides = [f"automation.source_dir={batch}", "monitoring.chunk_rows=1000"]
    first = run(project, "fullprocess.py", *overrides)
    assert "no new data" in summary(first) and "monitoring: 6 chunk(s)" in summary(first)
    assert not old_day.exists() and (old_day.parent / f"{day}.parquet").is_file()
    assert champion(project) == "1", "an unlabelled file is never trained on"
    monitoring = json.loads((project / "models" / "monitoring.json").read_text())
    assert str(monitoring["model_version"]) == "1"
    sources = [chunk["source"] for chunk in monitoring["chunks"]]
    assert all(source.startswith("prediction log: ") for source in sources[:3])
    assert [c["rows"] for c in monitoring["chunks"]] == [1000, 1000, 1000, 1000, 1000, 500]
    assert sources[3:] == ["nolabels.csv"] * 3
    for chunk in monitoring["chunks"]:
        assert 0 < chunk["estimated"]["f1"] < 1 and chunk["realized"] is None
        assert chunk["served_versions"] == (["1"] if chunk in monitoring["chunks"][:3] else [])
        assert chunk["band"]["f1"][0] < chunk["band"]["f1"][1]
    # Nothing new: the check stays cheap, none of the heavy libraries is even imported.
    probe = (
        "import runpy, sys\n"
        f"sys.argv = ['fullprocess.py', *{overrides!r}]\n"
        "runpy.run_path('fullprocess.py', run_name='__main__')\n"
        "print(sorted({'numpy', 'pandas', 'polars', 'sklearn', 'scipy', 'mlflow', 'pyarrow'}"
        " & set(sys.modules)))\n"
    )
    again = subprocess.run(
        [sys.executable, "-c", probe], cwd=project, env=user_env(), capture_output=True,
        text=True, check=True,
    )  # fmt: skip
    assert summary(again).split(" (")[0].endswith(f"no new data in {batch}"), "nothing recomputed"
    assert again.stdout.strip() == "[]", "heavy imports on the no-new-data path"
    store = MonitoringStore(f"sqlite:///{project / 'monitoring.db'}")
    assert store.count("monitoring") == 1
    store.close()

    # The labels arrive later, by id, for the first 2,000 logged rows, plus 7 for ids never seen.
    labels_dir = project / "01_data" / "labels"
    labels_dir.mkdir(parents=True)
    known = rows.iloc[:2000][["corporation", "exited"]]
    strangers = pd.DataFrame({"corporation": [f"nobody{i}" for i in range(7)], "exited": 1})
    pd.concat([known, strangers]).to_csv(labels_dir / "labels.csv", index=False)
    # ... and for the unlabelled batch's last 500 rows, in a file of their own.
    batch_rows.iloc[2000:][["corporation", "exited"]].to_csv(
        labels_dir / "batch-labels.csv", index=False
    )
    labelled = run(project, "fullprocess.py", *overrides)
    assert "labels: 2500 matched, 7 unmatched" in summary(labelled)
    monitoring = json.loads((project / "models" / "monitoring.json").read_text())
    assert monitoring["labels"]["unmatched"] == 7
    log_chunks = monitoring["chunks"][:3]
    assert [c["labelled_rows"] for c in log_chunks] == [1000, 1000, 0]
    assert [c["labelled_rows"] for c in monitoring["chunks"][3:]] == [0, 0, 500]
    last = batch_rows.iloc[2000:]
    assert monitoring["chunks"][5]["realized"]["f1"] == pytest.approx(
        f1_score(last["exited"], model_of(project).predict(last[FEATURES])), abs=1e-12
    )
    model = model_of(project)
    for chunk, part in zip(log_chunks[:2], (rows.iloc[:1000], rows.iloc[1000:2000]), strict=True):
        expected = f1_score(part["exited"], model.predict(part[FEATURES]))
        assert chunk["realized"]["f1"] == pytest.approx(expected, abs=1e-12)
    assert log_chunks[2]["realized"] is None
    assert not list(batch.glob("labelled-traffic-*.csv")), "none in the user's folder"
    traffic = list((project / "01_data" / "labelled_traffic").glob("labelled-traffic-*.csv"))
    assert len(traffic) == 1 and len(pd.read_csv(traffic[0])) == 2500, "new labelled data"
    # ... which the next run checks for score drift like any new labelled file.
    checked = run(project, "fullprocess.py", *overrides)
    assert f"new files: {traffic[0].name};" in summary(checked)
    assert "score drift (F1 on new data" in summary(checked)
