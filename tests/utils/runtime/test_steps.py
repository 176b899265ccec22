"""Each step declared once: its MLproject, its command line and main.py's parameters all
agree with its declaration."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from conftest import ROOT
from utils.errors import PipelineError
from utils.runtime import steps
from utils.runtime.steps import STEPS, DeploymentParams, IngestionParams, TrainingParams

REQUIRED = {
    "store_url": "sqlite:///m.db",
    "target": "exited",
    "features": "a,b",
    "input_dir": "/in",
    "output_dir": "/out",
}


@pytest.mark.parametrize("declared", STEPS, ids=lambda s: s.STEP)
def test_each_mlproject_is_its_declaration(declared):
    written = yaml.safe_load((ROOT / declared.FOLDER / "MLproject").read_text())
    assert written["name"] == declared.STEP
    entry = written["entry_points"]["main"]
    expected = declared.mlproject()
    assert entry["parameters"] == expected["parameters"], "python -m utils.runtime.steps"
    assert " ".join(entry["command"].split()) == expected["command"]
    assert (ROOT / declared.FOLDER / declared.SCRIPT).is_file()


@pytest.mark.parametrize("declared", STEPS, ids=lambda s: s.STEP)
def test_each_script_runs_its_declaration(declared):
    text = (ROOT / declared.FOLDER / declared.SCRIPT).read_text()
    assert f"run_step({declared.__name__}, run)" in text
    assert "argparse" not in text, "the command line comes from the declaration"


def test_the_command_line_is_typed_and_says_what_is_missing(capsys):
    params = TrainingParams.from_argv(
        ["--finaldata", "/d/f.csv", "--model_dir", "/m", "--target", "y", "--features", "a, b",
         "--store_url", "sqlite:///m.db", "--max_iter", "200", "--C", "0.5"]
    )  # fmt: skip
    assert params.finaldata == Path("/d/f.csv") and params.max_iter == 200 and params.C == 0.5
    assert params.schema.features == ("a", "b") and params.schema.id_columns == ()
    assert params.model_params.solver == "lbfgs" and params.max_rows == 0
    with pytest.raises(SystemExit) as exited:
        TrainingParams.from_argv(["--model_dir", "/m"])
    assert exited.value.code == 2
    assert "--finaldata" in capsys.readouterr().err


def test_choices_are_enforced(capsys):
    with pytest.raises(SystemExit):
        IngestionParams.from_argv(
            [*[f"--{k}={v}" for k, v in REQUIRED.items()], "--engine", "dask"]
        )
    assert "invalid choice: 'dask'" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("options", "message"),
    [("{", "not a JSON object (Expecting"), ("[1]", "not a JSON object")],
)
def test_bad_spark_options_are_one_line(options, message):
    params = IngestionParams(**REQUIRED, spark_options=options)
    with pytest.raises(PipelineError, match=r"--spark_options: " + message.replace("(", r"\(")):
        _ = params.engine_settings


def test_spark_options_as_settings():
    params = IngestionParams(**REQUIRED, engine="spark", spark_options='{"a": "1"}')
    assert params.engine_settings.spark_options == {"a": "1"}
    assert params.engine_settings.name == "spark"


def test_a_missing_or_unknown_parameter_fails_when_declared():
    with pytest.raises(TypeError, match="registered_model_name"):
        DeploymentParams(model_dir="/m", ingested_dir="/i", deployment_dir="/d", store_url="s")
    with pytest.raises(TypeError, match="bogus"):
        DeploymentParams(
            model_dir="/m", ingested_dir="/i", deployment_dir="/d", store_url="s",
            registered_model_name="r", bogus=1,
        )  # fmt: skip


def test_mlflow_gets_text_for_paths():
    params = DeploymentParams(
        model_dir=Path("/m"), ingested_dir="/i", deployment_dir="/d", store_url="s",
        registered_model_name="r",
    )  # fmt: skip
    assert params.as_mlflow()["model_dir"] == "/m" and params.as_mlflow()["keep_releases"] == 5


def test_the_declarations_share_the_code_s_constants():
    from utils.data.ingestion import FINALDATA_FILES
    from utils.report.diagnostics import PYPI_JSON_API

    assert steps.FINALDATA_FORMATS == tuple(FINALDATA_FILES)
    assert steps.PYPI_JSON_API == PYPI_JSON_API
