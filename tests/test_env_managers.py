"""Per-step environments are real: each step runs in one built from its own conda.yml (slow)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from mlflow import MlflowClient

import main
from conftest import run_in, user_env

pytestmark = pytest.mark.envbuild


def test_pipeline_with_uv_builds_an_environment_per_step(project_copy, tmp_path):
    env_root = tmp_path / "envs"
    # A fresh root makes MLflow build every environment now instead of reusing a cached one.
    run_in(
        project_copy,
        "main.py",
        "main.env_manager=uv",
        timeout=1800,
        env=user_env(MLFLOW_ENV_ROOT=str(env_root)),
    )

    client = MlflowClient(tracking_uri=f"sqlite:///{project_copy / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("risk_monitoring")
    runs = client.search_runs([experiment.experiment_id])
    steps = {r.info.run_name: r for r in runs if "mlflow.parentRunId" in r.data.tags}
    assert set(steps) == set(main._steps)
    prefixes = {}
    for name, run in steps.items():
        assert run.info.status == "FINISHED", name
        assert run.data.tags["mlflow.project.env"] == "uv"
        prefix = Path(run.data.tags["python_prefix"])
        assert prefix.parent == env_root, (name, prefix)
        assert prefix != Path(sys.prefix)
        prefixes[name] = prefix
    # Steps whose conda.yml differ get different environments.
    assert prefixes["data_ingestion"] != prefixes["reporting"]
    # The root project's own dependencies are not in a step's environment.
    probe = subprocess.run(
        [str(prefixes["data_ingestion"] / "bin" / "python"), "-c", "import hydra"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert probe.returncode != 0
    assert (project_copy / "production_deployment" / "manifest.json").is_file()


def test_pip_install_e_installs_the_shared_code_with_its_dependencies(project_copy, tmp_path):
    """What environment.yml does for conda users: `pip install -e .` (uv's pip here, from the
    machine's wheel cache), then `import utils` from another folder, no PYTHONPATH."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "uv", "venv", "--python", sys.executable, str(venv)],
                   check=True, capture_output=True)  # fmt: skip
    python = venv / "bin" / "python"
    subprocess.run(
        [sys.executable, "-m", "uv", "pip", "install", "--python", str(python), "-e",
         str(project_copy), "-c", str(project_copy / "constraints.txt")],
        check=True, capture_output=True, timeout=900,
    )  # fmt: skip
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in user_env().items() if k != "PYTHONPATH"}
    probe = subprocess.run(
        [str(python), "-c", "import utils.api.app, utils.model.training, sklearn, mlflow; "
         "print(utils.__file__)"],
        cwd=elsewhere, env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert probe.stdout.strip() == str(project_copy / "utils" / "__init__.py")
