import subprocess
import sys

import pytest
from hydra import compose, initialize_config_dir

import main
from conftest import ROOT
from utils.config import load_config
from utils.errors import PipelineError


def config(*overrides):
    with initialize_config_dir(config_dir=str(ROOT), version_base=None):
        return load_config(compose(config_name="config", overrides=list(overrides)))


def test_all_means_every_step_in_order():
    assert main.select_steps("all") == main._steps


def test_a_comma_list_runs_in_pipeline_order():
    assert main.select_steps("reporting, data_ingestion") == ["data_ingestion", "reporting"]


@pytest.mark.parametrize("spec", ["training", "data_ingestion,bogus", ""])
def test_unknown_steps_list_the_valid_names(spec):
    with pytest.raises(PipelineError, match="valid: all, data_ingestion, model_training"):
        main.select_steps(spec)


def test_every_step_has_a_folder_with_mlproject():
    for step in main._steps:
        folder = ROOT / main._step_folders[step]
        assert (folder / "MLproject").is_file()
        assert (folder / "conda.yml").is_file()


def test_step_parameters_are_absolute_and_cover_each_mlproject():
    import yaml

    parameters = main.step_parameters(config("data.features=[a,b]"), ROOT, "sqlite:///m.db")
    for step in main._steps:
        spec = yaml.safe_load((ROOT / main._step_folders[step] / "MLproject").read_text())
        declared = spec["entry_points"]["main"]["parameters"]
        assert set(parameters[step]) == set(declared), step
    assert parameters["model_training"]["features"] == "a,b"
    assert parameters["data_ingestion"]["input_dir"] == str(ROOT / "01_data" / "practicedata")


def test_conda_envs_pin_python_and_agree_with_requirements():
    import yaml

    pins = dict(
        line.split("==")
        for line in (ROOT / "requirements.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    )
    for step in main._steps:
        env = yaml.safe_load((ROOT / main._step_folders[step] / "conda.yml").read_text())
        assert "python=3.11.7" in env["dependencies"], step
        pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
        for requirement in pip:
            if "==" in requirement:
                name, version = requirement.split("==")
                assert pins[name] == version, (step, name)


def run_main(cwd, *overrides):
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *overrides],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=120,
        check=False,
    )


def test_unknown_step_name_is_one_line(tmp_path, assert_one_line_error):
    proc = run_main(tmp_path, "main.steps=data_ingestion,trainig")
    assert_one_line_error(proc, "main.steps: unknown step(s) trainig; valid: all,")
    assert list(tmp_path.iterdir()) == [], "Hydra leaves nothing in the current directory"


def test_config_value_of_wrong_type_is_one_line(tmp_path, assert_one_line_error):
    proc = run_main(tmp_path, "model.C=strong")
    assert_one_line_error(proc, "config key model.C: Value 'strong'")
    assert not (ROOT / "outputs").exists()


def test_comma_lists_are_quoted_for_hydra():
    assert main.quote_step_list(["main.py", "main.steps=a,b", "model.C=1"]) == [
        "main.py",
        "main.steps='a,b'",
        "model.C=1",
    ]
    assert main.quote_step_list(["main.steps='a,b'"]) == ["main.steps='a,b'"]
    assert main.quote_step_list(["main.steps=all"]) == ["main.steps=all"]


@pytest.mark.parametrize(
    ("overrides", "fragments"),
    [
        (["model.c=1"], ["model.c", "no such key"]),
        (["nonsense"], ["config override", "nonsense"]),
        (["model.max_iter=0"], ["config key model.max_iter: 0 must be at least 1"]),
        (["model.C=-1"], ["config key model.C"]),
        (["paths.test_data=missing.csv"], ["paths.test_data", "no such file (needed by"]),
        (["paths.input_dir=nowhere"], ["paths.input_dir", "no such folder"]),
        (["paths.input_dir=s3a://bucket/feed"], ["paths.input_dir", "compute.engine=spark"]),
    ],
)
def test_configuration_is_checked_before_anything_runs(
    tmp_path, assert_one_line_error, overrides, fragments
):
    """One line, exit 2, and no run, store, model or ingested data touched."""
    mlflow_db, store_db = tmp_path / "mlflow.db", tmp_path / "monitoring.db"
    proc = run_main(
        tmp_path,
        f"main.tracking_uri=sqlite:///{mlflow_db}",
        f"store.url=sqlite:///{store_db}",
        f"paths.model_dir={tmp_path / 'models'}",
        f"paths.ingested_dir={tmp_path / 'ingested'}",
        *overrides,
    )
    assert proc.returncode == 2
    assert_one_line_error(proc, *fragments)
    assert sorted(p.name for p in tmp_path.iterdir()) == [], "nothing was written"


def test_uris_and_globs_are_left_to_spark_and_folders_made_absolute(tmp_path):
    (tmp_path / "here").mkdir()
    spec = f"s3a://bucket/feed,{tmp_path}/*.csv,here"
    cfg = config(f"paths.input_dir='{spec}'", "compute.engine=spark")
    assert cfg.input_dirs(tmp_path) == [
        "s3a://bucket/feed",
        f"{tmp_path}/*.csv",
        f"{tmp_path}/here",
    ]
    main.check_inputs(cfg, ["data_ingestion"], tmp_path)
    parameters = main.step_parameters(cfg, tmp_path, "sqlite://")
    assert parameters["data_ingestion"]["input_dir"] == ",".join(cfg.input_dirs(tmp_path))
    with pytest.raises(PipelineError, match=r"paths.input_dir: .*nowhere: no such folder"):
        main.check_inputs(config(f"paths.input_dir='{spec},nowhere'", "compute.engine=spark"),
                          ["data_ingestion"], tmp_path)  # fmt: skip


def test_inputs_of_steps_not_run_are_not_required(tmp_path):
    cfg = config("paths.test_data=/nope.csv")
    main.check_inputs(cfg, ["data_ingestion", "model_training"], ROOT)
    with pytest.raises(PipelineError, match="paths.test_data: /nope.csv: no such file"):
        main.check_inputs(cfg, ["model_training", "model_scoring"], ROOT)


def test_unfinished_step_runs_are_ended(tmp_path, monkeypatch):
    import mlflow
    from mlflow import MlflowClient

    mlflow.set_tracking_uri(f"sqlite:///{tmp_path / 'mlflow.db'}")
    client = MlflowClient()
    experiment = client.create_experiment("e")
    parent = client.create_run(experiment)
    child = client.create_run(experiment, tags={"mlflow.parentRunId": parent.info.run_id})
    done = client.create_run(experiment, tags={"mlflow.parentRunId": parent.info.run_id})
    client.set_terminated(done.info.run_id, "FINISHED")
    other = client.create_run(experiment)
    ended = main.end_unfinished_children(parent.info.run_id, experiment, "KILLED")
    assert ended == [child.info.run_id]
    assert client.get_run(child.info.run_id).info.status == "KILLED"
    assert client.get_run(done.info.run_id).info.status == "FINISHED"
    assert client.get_run(other.info.run_id).info.status == "RUNNING"
    mlflow.set_tracking_uri(None)


def run_statuses(project) -> dict[str, str]:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{project / 'mlflow.db'}")
    experiments = [e.experiment_id for e in client.search_experiments()]
    return {r.info.run_name: r.info.status for r in client.search_runs(experiments)}


@pytest.mark.integration
def test_a_pipeline_stopped_by_sigterm_leaves_no_run_running(project_copy):
    import signal
    import time

    from conftest import user_env

    process = subprocess.Popen(
        [sys.executable, "main.py", "main.steps=data_ingestion,model_training"],
        cwd=project_copy,
        env=user_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    seen = ""
    deadline = time.monotonic() + 120
    while "step model_training: starting" not in seen and time.monotonic() < deadline:
        seen += process.stderr.readline()
    process.send_signal(signal.SIGTERM)
    rest = process.communicate(timeout=120)[1]
    assert process.returncode == 130, seen + rest
    assert "stopped by SIGTERM" in rest and "Traceback" not in rest
    statuses = run_statuses(project_copy)
    assert statuses["pipeline"] == "KILLED"
    assert "RUNNING" not in statuses.values(), statuses


@pytest.mark.integration
def test_a_step_whose_environment_fails_to_build_ends_failed(project_copy):
    from conftest import run_in

    conda = project_copy / "02_training" / "conda.yml"
    conda.write_text(conda.read_text() + "      - no-such-package-risk-monitoring==0.0.1\n")
    proc = run_in(
        project_copy,
        "main.py",
        "main.steps=model_training",
        "main.env_manager=uv",
        check=False,
        timeout=600,
    )
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert "step model_training failed" in proc.stderr
    statuses = run_statuses(project_copy)
    assert statuses["pipeline"] == "FAILED"
    assert "RUNNING" not in statuses.values(), statuses


@pytest.mark.parametrize(
    ("uri", "ui"),
    [
        ("sqlite:////srv/p/mlflow.db", "mlflow ui --backend-store-uri sqlite:////srv/p/mlflow.db"),
        ("http://mlflow.internal:5000", "open http://mlflow.internal:5000"),
    ],
)
def test_closing_summary_names_outputs_and_next_commands(tmp_path, uri, ui):
    from utils.layout import Layout

    layout = Layout(tmp_path, tmp_path / "i", tmp_path / "m", tmp_path / "d", tmp_path / "t.csv",
                    tmp_path / "r.txt")  # fmt: skip
    layout.model_dir.mkdir()
    layout.report_pdf.write_bytes(b"%PDF-")
    api = load_config(config()).api
    chosen = ["main.steps=reporting", "data.target=churned", "x=a b"]
    text = main.closing_summary(layout, uri, api, chosen, "py")
    assert str(layout.report_pdf) in text and str(layout.report_html) not in text, "only outputs"
    assert ui in text
    assert "./serve.sh data.target=churned 'x=a b'" in text
    assert "py fullprocess.py data.target=churned 'x=a b'" in text
    masked = main.closing_summary(
        layout, uri, api, ["store.url=postgresql://u:Secret99@h/db"], "py"
    )
    assert "Secret99" not in masked and "store.url=postgresql://u:***@h/db" in masked
    assert f"http://{api.host}:{api.port}/health" in text
