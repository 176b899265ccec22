"""The whole pipeline through real MLflow, in a fresh copy of the project (slow)."""

from __future__ import annotations

import json
import pickle
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import mlflow
import pandas as pd
import pytest
from mlflow import MlflowClient
from sklearn.metrics import f1_score

import main
from conftest import run_in, user_env
from utils.api.endpoints import ENDPOINTS
from utils.data.demo import generate_rows, write_files
from utils.files import sha256_file
from utils.layout import Layout
from utils.store.history import MonitoringStore

pytestmark = pytest.mark.integration

FEATURES = ["lastmonth_activity", "lastyear_activity", "number_of_employees"]


def run_pipeline(project: Path, *overrides: str) -> subprocess.CompletedProcess[str]:
    return run_in(project, "main.py", *overrides)


def client_for(project: Path) -> MlflowClient:
    return MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")


def pipeline_runs(client: MlflowClient) -> list:
    experiment = client.get_experiment_by_name("risk_monitoring")
    return client.search_runs([experiment.experiment_id], order_by=["attributes.start_time ASC"])


def assert_outputs(project: Path) -> dict:
    inputs = sorted((project / "01_data" / "practicedata").glob("*.csv"))
    raw = pd.concat([pd.read_csv(p) for p in inputs], ignore_index=True)
    final = pd.read_csv(project / "01_data" / "ingesteddata" / "finaldata.csv")
    assert len(final) == len(raw.drop_duplicates()) < len(raw)
    assert set(map(tuple, final.to_numpy())) == set(map(tuple, raw.to_numpy()))
    listed = (project / "01_data" / "ingesteddata" / "ingestedfiles.txt").read_text().split()
    assert listed == [p.name for p in inputs]

    production = project / "production_deployment"
    manifest = json.loads((production / "manifest.json").read_text())
    for name, digest in manifest["files"].items():
        assert sha256_file(production / name) == digest, name
    assert set(manifest["files"]) == {
        "trainedmodel.pkl",
        "trainedmodel.skops",
        "latestscore.txt",
        "ingestedfiles.txt",
    }

    with open(production / "trainedmodel.pkl", "rb") as handle:
        model = pickle.load(handle)
    test = pd.read_csv(project / "01_data" / "testdata" / "testdata.csv")
    expected = f1_score(test["exited"], model.predict(test[FEATURES]))
    score = float((project / "models" / "latestscore.txt").read_text())
    assert score == pytest.approx(expected, abs=1e-9)
    assert float((production / "latestscore.txt").read_text()) == score

    diagnostics = json.loads((project / "models" / "diagnostics.json").read_text())
    predictions = pd.read_csv(project / "models" / diagnostics["predictions"]["file"])
    assert predictions["corporation"].tolist() == test["corporation"].tolist()
    assert predictions["prediction"].tolist() == model.predict(test[FEATURES]).tolist()
    assert diagnostics["predictions"]["rows"] == len(test)
    assert set(diagnostics["timings_s"]) == {"data_ingestion", "model_training"}
    assert {row["package"] for row in diagnostics["dependencies"]} >= {"mlflow", "scikit-learn"}
    assert (project / "models" / "confusionmatrix.png").stat().st_size > 1000
    assert (project / "models" / "report.pdf").read_bytes().startswith(b"%PDF-")
    assert "Model monitoring report" in (project / "models" / "report.html").read_text()
    returns = (project / "models" / "apireturns.txt").read_text()
    answered = [e for e in ENDPOINTS if not e.later]  # the later ones need fullprocess.py first
    assert returns.count("status: 200") == len(answered), returns[:2000]
    assert "GET /monitoring\nstatus: 503" in returns, "no live monitoring before fullprocess"
    assert not (project / "outputs").exists()
    return manifest


def assert_one_log_format(proc: subprocess.CompletedProcess[str]) -> None:
    """Every log line in the pipeline's format; none of MLflow's own, no printed chatter."""
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    stamped = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d (DEBUG|INFO|WARNING|ERROR) [\w.]+: ")
    assert [line for line in lines if not stamped.match(line)] == []
    assert not [line for line in lines if "===" in line or len(line) > 400]


def test_demo_pipeline_twice_and_one_step_through_mlflow_run(deployed_project, deployed_run_output):
    # The first run is the session's demo project (made once, for the tests that start there).
    project_copy = deployed_project
    first_run = SimpleNamespace(**deployed_run_output)
    assert_one_log_format(first_run)
    first = assert_outputs(project_copy)
    layout = Layout(
        project_copy,
        project_copy / "01_data" / "ingesteddata",
        project_copy / "models",
        project_copy / "production_deployment",
        project_copy / "01_data" / "testdata" / "testdata.csv",
        project_copy / "requirements.txt",
    )
    for _, path in layout.outputs():
        # Every output the run left (live monitoring comes from fullprocess.py later).
        assert (str(path) in first_run.stdout) is path.exists(), path
    assert not layout.monitoring.exists()
    assert "./serve.sh" in first_run.stdout and "fullprocess.py" in first_run.stdout
    client = client_for(project_copy)

    runs = pipeline_runs(client)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parents[0].info.run_id]
    assert len(parents) == 1
    assert [r.info.run_name for r in children] == main._steps
    assert all(r.info.status == "FINISHED" for r in runs)
    by_name = {r.info.run_name: r for r in children}
    assert by_name["data_ingestion"].data.metrics["rows_kept"] > 0
    assert by_name["model_training"].data.params["C"] == "1.0"
    assert by_name["model_scoring"].data.metrics["f1"] == pytest.approx(first["f1"], abs=1e-9)
    assert {"precision", "recall", "roc_auc"} <= set(by_name["model_scoring"].data.metrics)
    assert "duration_s_model_training" in parents[0].data.metrics
    champion = client.get_model_version_by_alias("risk_model", "champion")
    assert str(champion.version) == str(first["model_version"])

    # Unchanged data, the same pinned training: an identical model, so nothing is deployed.
    second_run = run_pipeline(project_copy)
    assert_one_log_format(second_run)
    second = assert_outputs(project_copy)
    assert second == first
    assert "nothing to deploy: the model, score and ingestion record are identical" in (
        second_run.stderr
    )
    assert len(client.search_model_versions("name='risk_model'")) == 1
    champion = client.get_model_version_by_alias("risk_model", "champion")
    assert str(champion.version) == str(first["model_version"])

    store = MonitoringStore(f"sqlite:///{project_copy / 'monitoring.db'}")
    assert store.count("ingestion") == store.count("training") == 2
    assert [d["model_version"] for d in store.deployment_history()] == [str(first["model_version"])]
    assert len(store.timing_history()) == 4
    assert {m["column_name"] for m in store.missing_history()} >= set(FEATURES)
    assert set(store.ingested_file_hashes()) == {"dataset1.csv", "dataset2.csv"}
    store.close()

    mlflow_cli = Path(sys.executable).parent / "mlflow"
    run_in(
        project_copy,
        str(mlflow_cli),
        "run",
        ".",
        "--env-manager",
        "local",
        "--experiment-name",
        "risk_monitoring",
        "-P",
        "steps=data_ingestion,model_training",
    )
    latest = pipeline_runs(client)[-3:]
    assert sorted(r.info.run_name for r in latest if "mlflow.parentRunId" in r.data.tags) == [
        "data_ingestion",
        "model_training",
    ]


def test_other_data_set_with_other_column_names_by_overrides_only(project_copy, tmp_path):
    renames = {
        "corporation": "customer",
        "lastmonth_activity": "visits_30d",
        "lastyear_activity": "visits_365d",
        "number_of_employees": "seats",
        "exited": "churned",
    }
    data = tmp_path / "otherdata"
    train = [frame.rename(columns=renames) for frame in [generate_rows(150, s) for s in (7, 8)]]
    write_files(train, data / "train", "part")
    write_files([generate_rows(80, 9).rename(columns=renames)], data / "test", "holdout")
    run_pipeline(
        project_copy,
        f"paths.input_dir={data / 'train'}",
        f"paths.test_data={data / 'test' / 'holdout1.csv'}",
        "data.target=churned",
        "data.features=[visits_30d,visits_365d,seats]",
        "data.id_columns=[customer]",
        "main.experiment_name=other",
        "model.C=0.5",
    )
    manifest = json.loads((project_copy / "production_deployment" / "manifest.json").read_text())
    assert manifest["features"] == ["visits_30d", "visits_365d", "seats"]
    final = pd.read_csv(project_copy / "01_data" / "ingesteddata" / "finaldata.csv")
    assert list(final.columns) == ["customer", "visits_30d", "visits_365d", "seats", "churned"]
    assert (project_copy / "models" / "confusionmatrix.png").is_file()


def test_failed_step_leaves_the_deployment_serving(deployed_project, tmp_path):
    project_copy = deployed_project  # main.py has run once
    production = project_copy / "production_deployment"
    before = {p.name: p.read_bytes() for p in production.iterdir()}
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "x.csv").write_text("corporation,lastmonth_activity\na,1\n")
    proc = run_in(project_copy, "main.py", f"paths.input_dir={bad}", check=False)
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert "x.csv: missing required column(s) 'lastyear_activity'" in proc.stderr
    assert {p.name: p.read_bytes() for p in production.iterdir()} == before
    mlflow.set_tracking_uri(None)


def test_a_step_folder_runs_on_its_own(project_copy):
    run_pipeline(project_copy, "main.steps=data_ingestion,model_training")
    parameters = {
        "model_dir": project_copy / "models",
        "test_data": project_copy / "01_data" / "testdata" / "testdata.csv",
        "target": "exited",
        "features": ",".join(FEATURES),
        "id_columns": "corporation",
        "store_url": f"sqlite:///{project_copy / 'monitoring.db'}",
    }
    run_in(
        project_copy,
        str(Path(sys.executable).parent / "mlflow"),
        "run",
        "03_scoring",
        "--env-manager",
        "local",
        *[arg for name, value in parameters.items() for arg in ("-P", f"{name}={value}")],
        env=user_env(MLFLOW_TRACKING_URI=f"sqlite:///{project_copy / 'mlflow.db'}"),
    )
    assert float((project_copy / "models" / "latestscore.txt").read_text()) > 0.5
