"""Run the pipeline's steps, each as its own MLflow project, from config.yaml (a Hydra app).

python main.py                                   # all six steps on the demo data
python main.py main.steps=model_training,model_scoring model.C=0.5
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from utils.config import PipelineConfig, load_config
from utils.errors import PipelineError, first_line
from utils.files import spark_only
from utils.layout import Layout
from utils.runtime.cli import run_entry_point
from utils.runtime.steps import STEPS
from utils.secrets import mask_data

_steps = [step.STEP for step in STEPS]
_step_folders = {step.STEP: step.FOLDER for step in STEPS}

# The configured inputs each step reads: all must exist before the first step runs, so that a
# wrong path stops the pipeline before it changes anything.
_step_inputs = {
    "data_ingestion": ("input_dir",),
    "model_scoring": ("test_data",),
    "diagnostics": ("input_dir", "test_data", "requirements"),
    "reporting": ("test_data",),
}

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("main")


def select_steps(spec: str) -> list[str]:
    """``all`` or a comma list of step names, returned in pipeline order."""
    if spec.strip() == "all":
        return list(_steps)
    wanted = [name.strip() for name in spec.split(",") if name.strip()]
    unknown = [name for name in wanted if name not in _steps]
    if unknown or not wanted:
        raise PipelineError(
            f"config key main.steps: unknown step(s) {', '.join(unknown) or repr(spec)}; "
            f"valid: all, {', '.join(_steps)}"
        )
    return [name for name in _steps if name in wanted]


def check_inputs(config: PipelineConfig, steps: list[str], root: Path) -> None:
    """PipelineError naming the first configured input that the chosen steps need and lack."""
    paths = config.resolved_paths(root)
    for step in steps:
        for key in _step_inputs.get(step, ()):
            # A URI or a glob is listed by Spark when the step runs (and named if empty).
            wanted = (
                [Path(p) for p in config.input_dirs(root) if not spark_only(p)]
                if key == "input_dir"
                else [paths[key]]
            )
            for path in wanted:
                exists = path.is_dir() if key == "input_dir" else path.is_file()
                if not exists:
                    kind = "folder" if key == "input_dir" else "file"
                    raise PipelineError(
                        f"config key paths.{key}: {path}: no such {kind} (needed by {step})"
                    )


def step_parameters(
    config: PipelineConfig, root: Path, store_url: str
) -> dict[str, dict[str, object]]:
    """MLproject parameters of every step: the only way configuration reaches a step. Each
    step's declaration (utils.runtime.steps) is built here, so a parameter it lacks or does
    not know fails before any step runs."""
    from utils.engines.spark import spark_conf
    from utils.runtime import steps

    paths = {name: str(path) for name, path in config.resolved_paths(root).items()}
    shared = {
        "store_url": store_url,
        "target": config.data.target,
        "features": ",".join(config.data.features),
        "id_columns": ",".join(config.data.id_columns),
    }
    model = {
        "C": config.model.C,
        "max_iter": config.model.max_iter,
        "solver": config.model.solver,
        "random_state": config.model.random_state,
    }
    engine = {
        "engine": config.compute.engine,
        "spark_master": config.compute.spark_master,
        "spark_options": json.dumps(spark_conf(config.compute.spark_options)),
        "spark_env_manager": config.compute.spark_env_manager,
    }
    finaldata = str(Layout.from_config(config, root).finaldata)
    input_dir = ",".join(config.input_dirs(root))
    declared = [
        steps.IngestionParams(
            input_dir=input_dir,
            output_dir=paths["ingested_dir"],
            finaldata_format=config.paths.finaldata_format,
            **shared,
            **engine,
        ),
        steps.TrainingParams(
            finaldata=finaldata,
            model_dir=paths["model_dir"],
            max_rows=config.compute.training_max_rows or 0,
            **shared,
            **model,
        ),
        steps.ScoringParams(
            model_dir=paths["model_dir"], test_data=paths["test_data"], **shared, **engine
        ),
        steps.DeploymentParams(
            model_dir=paths["model_dir"],
            ingested_dir=paths["ingested_dir"],
            deployment_dir=paths["deployment_dir"],
            registered_model_name=config.main.registered_model_name,
            keep_releases=config.deployment.keep_releases,
            strategy=config.deployment.strategy,
            store_url=store_url,
        ),
        steps.DiagnosticsParams(
            deployment_dir=paths["deployment_dir"],
            finaldata=finaldata,
            dataset=paths["test_data"],
            input_dir=input_dir,
            output_dir=paths["model_dir"],
            requirements=paths["requirements"],
            latest_timeout_s=config.diagnostics.latest_timeout_s,
            index_url=config.diagnostics.index_url,
            **shared,
            **model,
            **engine,
        ),
        steps.ReportingParams(
            deployment_dir=paths["deployment_dir"],
            test_data=paths["test_data"],
            output_dir=paths["model_dir"],
            finaldata=finaldata,
            data_dir=os.path.abspath(root / config.api.data_dir),
            class_names=",".join(config.data.class_names or []),
            **shared,
        ),
    ]
    return {params.STEP: params.as_mlflow() for params in declared}


def prepare_environment(config: PipelineConfig, root: Path) -> tuple[str, str]:
    """Point this process and every step at one tracking store, one monitoring store and the
    shared code; return the tracking URI and the store URL (without its password)."""
    from utils.model.tracking import resolve_tracking_uri
    from utils.store.connection import store_url_for

    uri = resolve_tracking_uri(config.main.tracking_uri, root)
    os.environ["MLFLOW_TRACKING_URI"] = uri
    store_url = store_url_for(config.store.url, root)
    # Steps import utils/ from the project root under every env manager, without path hacks.
    existing = os.environ.get("PYTHONPATH")
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(root), existing]))
    # A step's `python` is this interpreter under the local env manager, as if its venv were
    # activated; the other env managers put their own environment first on PATH.
    os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]])
    return uri, store_url


def experiment_id(name: str, uri: str, root: Path) -> str:
    import mlflow

    from utils.model.tracking import is_local_sqlite

    experiment = mlflow.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    # With the embedded store, artifacts sit beside mlflow.db whatever the current directory.
    location = (root / "mlruns").as_uri() if is_local_sqlite(uri) else None
    return mlflow.create_experiment(name, artifact_location=location)


def run_pipeline(
    config: PipelineConfig,
    raw: DictConfig,
    root: Path = ROOT,
    overrides: list[str] | None = None,
) -> None:
    """Every selected step; ``overrides`` (the command line's) are repeated in the closing
    summary's commands."""
    steps = select_steps(config.main.steps)
    check_inputs(config, steps, root)
    uri, store_url = prepare_environment(config, root)
    parameters = step_parameters(config, root, store_url)

    import mlflow

    mlflow.set_tracking_uri(uri)
    # Launched by `mlflow run .`: that run is the parent, in the experiment it was started in.
    outer_run = os.environ.get("MLFLOW_RUN_ID")
    if outer_run:
        experiment = mlflow.get_run(outer_run).info.experiment_id
        parent = mlflow.start_run(run_id=outer_run)
    else:
        experiment = experiment_id(config.main.experiment_name, uri, root)
        parent = mlflow.start_run(experiment_id=experiment, run_name="pipeline")
    started = time.perf_counter()
    with parent:
        # The spec as given ("all" under `mlflow run .`, which logged it already) and the steps
        # it means: logging the expanded list as "steps" would contradict the outer run.
        mlflow.log_params(
            {
                "steps": config.main.steps,
                "steps_run": ",".join(steps),
                "env_manager": config.main.env_manager,
            }
        )
        mlflow.log_dict(mask_data(OmegaConf.to_container(raw, resolve=True)), "config.yaml")
        try:
            run_steps(steps, root, parameters, config.main.env_manager, experiment)
        except BaseException as err:
            # Every run ends FINISHED, FAILED or KILLED, never left RUNNING: a step whose
            # environment failed to build, or a pipeline stopped by a signal.
            status = "KILLED" if isinstance(err, KeyboardInterrupt) else "FAILED"
            end_unfinished_children(parent.info.run_id, experiment, status)
            mlflow.end_run(status=status)
            raise
        mlflow.log_metric("duration_s_total", time.perf_counter() - started)
    log.info("pipeline done in %.1f s; tracking store: %s", time.perf_counter() - started, uri)
    python = os.path.relpath(sys.executable, Path.cwd()) if sys.executable else "python"
    summary = closing_summary(
        Layout.from_config(config, root), uri, config.api, overrides or [], python
    )
    sys.stdout.write(summary + "\n")


def closing_summary(
    layout: Layout, tracking_uri: str, api: Any, overrides: list[str], python: str
) -> str:
    """What a finished run leaves and the commands that come next, for the person who ran it."""
    import shlex

    from utils.model.tracking import is_local_sqlite

    lines = ["", "Outputs:"]
    lines += [f"  {name:20} {path}" for name, path in layout.outputs() if path.exists()]
    if is_local_sqlite(tracking_uri):
        ui = f"{python} -m mlflow ui --backend-store-uri {tracking_uri} --port 5000"
        ui += "  # then open http://127.0.0.1:5000"
    else:
        ui = f"open {tracking_uri}"
    from utils.secrets import mask

    # Printed for people and kept in terminals and cron mail: no password (PGPASSWORD holds it).
    # The steps this run chose are not the API's or the automation's business.
    kept = [o for o in overrides if o.split("=", 1)[0].lstrip("+~") != "main.steps"]
    args = "".join(f" {shlex.quote(mask(o))}" for o in kept)
    lines += [
        "Next:",
        f"  tracking UI          {ui}",
        f"  scoring API          ./serve.sh{args}  # then curl http://{api.host}:{api.port}/health",
        f"  automation           {python} fullprocess.py{args}  # cron: README, Automation",
    ]
    return "\n".join(lines)


def run_steps(
    steps: list[str],
    root: Path,
    parameters: dict[str, dict[str, object]],
    env_manager: str,
    experiment: str,
) -> None:
    """Each step as its own MLflow project run, under the active (parent) run."""
    import mlflow

    from utils.model.tracking import RECORDS_ENV, log_records

    handover = Path(tempfile.mkdtemp(prefix="risk-step-records-"))
    try:
        for step in steps:
            step_started = time.perf_counter()
            log.info("step %s: starting (env manager %s)", step, env_manager)
            records = handover / f"{step}.json"
            os.environ[RECORDS_ENV] = str(records)
            run_id = _run_step(step, root, parameters[step], env_manager, experiment)
            if records.is_file():
                # The step's own records (utils.model.tracking.StepRun), logged here where MLflow
                # is loaded already.
                log_records(mlflow.MlflowClient(), run_id, json.loads(records.read_text()))
            duration = time.perf_counter() - step_started
            mlflow.log_metric(f"duration_s_{step}", duration)
            log.info("step %s: done in %.1f s", step, duration)
    finally:
        os.environ.pop(RECORDS_ENV, None)
        shutil.rmtree(handover, ignore_errors=True)


def _run_step(
    step: str, root: Path, parameters: dict[str, object], env_manager: str, experiment: str
) -> str:
    """One step as an MLflow project run; its run id. PipelineError when it fails."""
    import mlflow
    from mlflow.exceptions import ExecutionException
    from mlflow.utils.process import ShellCommandException

    try:
        submitted = mlflow.run(
            str(root / _step_folders[step]),
            entry_point="main",
            parameters=parameters,
            env_manager=env_manager,
            experiment_id=experiment,
            run_name=step,
            synchronous=True,
        )
    except ExecutionException:
        raise PipelineError(
            f"step {step} failed (its error is above); later steps were not run"
        ) from None
    except (ShellCommandException, subprocess.CalledProcessError) as err:
        # MLflow could not build the step's environment (its installer's output is above).
        raise PipelineError(
            f"step {step} failed: its {env_manager} environment could not be built "
            f"({first_line(err)}); later steps were not run"
        ) from None
    return submitted.run_id


def end_unfinished_children(parent_run_id: str, experiment: str, status: str) -> list[str]:
    """End the step runs of ``parent_run_id`` still RUNNING with ``status``; their ids."""
    from mlflow import MlflowClient

    client = MlflowClient()
    unfinished = client.search_runs(
        [experiment],
        filter_string=(
            f"tags.mlflow.parentRunId = '{parent_run_id}' and attributes.status = 'RUNNING'"
        ),
    )
    for run in unfinished:
        client.set_terminated(run.info.run_id, status)
        log.info("step run %s ended as %s", run.info.run_name, status)
    return [run.info.run_id for run in unfinished]


def quote_step_list(argv: list[str]) -> list[str]:
    """Let ``main.steps=a,b`` mean a comma list, as documented, instead of a Hydra sweep.

    Hydra reads an unquoted comma as a sweep and stops with a question; the quoted form
    ``main.steps='a,b'`` is what it wants.
    """
    prefix = "main.steps="
    return [
        f"{prefix}'{arg[len(prefix) :]}'"
        if arg.startswith(prefix) and "," in arg and arg[len(prefix) :][:1] not in "'\"["
        else arg
        for arg in argv
    ]


@hydra.main(config_path=".", config_name="config", version_base=None)
def go(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    overrides = list(HydraConfig.get().overrides.task)
    run_entry_point("main", lambda: run_pipeline(load_config(cfg), cfg, ROOT, overrides))


def check_overrides(argv: list[str]) -> None:
    """Compose config.yaml with the command line's overrides before Hydra runs: an unknown key
    or a bad value is then one line and exit 2, not Hydra's six lines and exit 1."""
    overrides = [arg for arg in argv[1:] if not arg.startswith("-")]
    if len(overrides) != len(argv) - 1:
        return  # Hydra's own flags (--cfg, --help, --multirun ...): Hydra decides
    from utils.config import load_project_config

    run_entry_point("main", lambda: load_project_config(ROOT, overrides))


if __name__ == "__main__":
    sys.argv = quote_step_list(sys.argv)
    check_overrides(sys.argv)
    go()
