"""README's command blocks that run the pipeline, run as written in a copy of the project, so
that they cannot rot (slow)."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from conftest import bash_blocks, copy_as_cloned, needs_spark, run_block, run_in, user_env

pytestmark = pytest.mark.integration


def test_running_parts_of_it_works_as_written(project_copy, tmp_path):
    blocks = bash_blocks("Running parts of it")
    assert (
        len(blocks) == 2 and "mlflow run ." in blocks[0] and "mlflow run 02_training" in blocks[1]
    )
    feed = tmp_path / "feed"
    shutil.copytree(project_copy / "01_data" / "sourcedata", feed)
    # The blocks assume an ingested data set, as after ./run_pipeline.sh.
    run_in(project_copy, "main.py", "main.steps=data_ingestion")
    for block in blocks:
        script = block.replace("/data/feed", str(feed))
        run_block(script.replace("source .venv/bin/activate", "true"), project_copy)
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project_copy / 'mlflow.db'}")
    names = {e.name for e in client.search_experiments()}
    experiment = client.get_experiment_by_name("risk_monitoring")
    runs = client.search_runs([experiment.experiment_id], max_results=1000)
    assert "RUNNING" not in {r.info.status for r in runs}
    assert any(r.data.params.get("C") == "0.1" for r in runs), "hydra_options reached the steps"
    assert all(
        not client.search_runs([e.experiment_id]) for e in client.search_experiments()
        if e.name == "Default"
    ), f"every run lands in risk_monitoring, experiments: {names}"  # fmt: skip


def test_your_own_data_works_as_written(project_copy, tmp_path):
    """The block for another data set, with its /data paths pointing at generated files whose
    columns carry the block's names; the model it deploys is then served with those columns."""
    import json

    from utils.data.demo import generate_rows

    (block,) = bash_blocks("Your own data")
    names = {
        "corporation": "customer",
        "lastmonth_activity": "visits_30d",
        "lastyear_activity": "visits_365d",
        "number_of_employees": "seats",
        "exited": "churned",
    }
    train = tmp_path / "data" / "train"
    train.mkdir(parents=True)
    generate_rows(300, seed=3).rename(columns=names).to_csv(train / "a<b&c.csv", index=False)
    # With pandas' index as an unnamed first column, as such files often come: ignored.
    generate_rows(100, seed=4).rename(columns=names).to_csv(tmp_path / "data" / "test.csv")
    run_block(block.replace("/data/", f"{tmp_path / 'data'}/"), project_copy)
    manifest = json.loads((project_copy / "production_deployment" / "manifest.json").read_text())
    assert manifest["features"] == ["visits_30d", "visits_365d", "seats"]
    assert (manifest["target"], manifest["id_columns"]) == ("churned", ["customer"])
    answers = (project_copy / "models" / "apireturns.txt").read_text()
    assert "visits_30d" in answers and "lastmonth_activity" not in answers
    html = (project_copy / "models" / "report.html").read_text()
    assert "<li>a&lt;b&amp;c.csv</li>" in html and "visits_365d" in html
    assert "stayed" not in html and "exited" not in html, "class names are not the demo's"
    if shutil.which("pdftotext"):
        pdf = subprocess.run(
            ["pdftotext", str(project_copy / "models" / "report.pdf"), "-"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert "a<b&c.csv" in pdf and "visits_365d" in pdf


def files_under(folder) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*")}


def test_starting_over_removes_everything_generated(deployed_project, tmp_path):
    (block,) = bash_blocks("Operations")
    project_copy = deployed_project
    pristine = files_under(copy_as_cloned(tmp_path / "fresh"))
    empty = tmp_path / "empty"
    empty.mkdir()
    run_in(project_copy, "fullprocess.py", f"automation.source_dir={empty}")
    envs = tmp_path / "envs"
    (envs / "mlflow-0123").mkdir(parents=True)
    assert files_under(project_copy) != pristine
    run_block(block, project_copy, user_env(MLFLOW_ENV_ROOT=str(envs)), timeout=120)
    left = files_under(project_copy) - pristine
    assert {p for p in left if "__pycache__" not in p} == set()
    assert not envs.exists()


def test_the_live_monitoring_demos_work_as_written(project_copy, free_port):
    import json

    covariate, labels = bash_blocks("Live monitoring: before the labels arrive")
    env = user_env(PORT=str(free_port))
    for block in (covariate, labels):
        # As in a checkout whose .venv is this interpreter's: serve.sh and run_pipeline.sh
        # would build one in the copy; what they then run is named directly.
        # The blocks follow PORT, as serve.sh does: no port of their own.
        assert "localhost:8000" not in block
        script = block.replace(".venv/bin/python", sys.executable)
        script = script.replace("./run_pipeline.sh", f"{sys.executable} main.py")
        script = script.replace("./serve.sh", f"{sys.executable} 06_reporting/app.py --gunicorn")
        run_block(script, project_copy, env)
        if block is covariate:
            chunks = json.loads((project_copy / "models" / "monitoring.json").read_text())["chunks"]
            assert [c["source"] for c in chunks] == ["covariate_shift.csv"] * 2
            assert all(c["alert"] for c in chunks), chunks
    monitoring = json.loads((project_copy / "models" / "monitoring.json").read_text())
    assert monitoring["labels"]["matched"] == 800 and monitoring["labels"]["unmatched"] == 0
    traffic = next(c for c in monitoring["chunks"] if c["source"].startswith("prediction log"))
    assert traffic["labelled_rows"] == 800
    assert traffic["realized"]["f1"] < traffic["estimated"]["f1"] - 0.1, traffic
    assert traffic["alert"] and "realised F1 below the threshold" in traffic["alert_reasons"][0]


def test_the_champion_and_challenger_demo_works_as_written(project_copy, free_port):
    import json

    (demo,) = [b for b in bash_blocks("Champion and challenger") if "serve.sh" in b]
    assert "localhost:8000" not in demo
    script = demo.replace(".venv/bin/python", sys.executable)
    script = script.replace("./run_pipeline.sh", f"{sys.executable} main.py")
    script = script.replace("./serve.sh", f"{sys.executable} 06_reporting/app.py --gunicorn")
    said = run_block(script, project_copy, user_env(PORT=str(free_port)))
    # curl's answers, among gunicorn's access log lines on the same stdout.
    decoder, out = json.JSONDecoder(), said.stdout
    healths = [decoder.raw_decode(out, i)[0] for i in range(len(out))
               if out.startswith('{"status"', i)]  # fmt: skip
    assert [(h["model_version"], h.get("challenger_version")) for h in healths] == [
        (1, 2),
        (2, None),
    ]
    assert "challenger v2: 0 of 200 labelled rows so far" in said.stderr
    assert "promoted challenger v2 over v1 (realised F1 +" in said.stderr


@needs_spark
def test_beyond_one_machine_on_this_machine_works_as_written(project_copy):
    """The block that tries the Spark engine without a cluster (the cluster's block is text)."""
    (block,) = [b for b in bash_blocks("Beyond one machine") if "local[2]" in b]
    script = block.replace("./setup_env.sh spark", "true")
    run_block(script.replace("source .venv/bin/activate", "true"), project_copy)
    assert (project_copy / "models" / "report.pdf").is_file()
    scored = (project_copy / "scored.csv").read_text().splitlines()
    assert scored[0] == "corporation,prediction" and len(scored) > 100
