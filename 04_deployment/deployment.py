"""Step model_deployment: publish model, score and ingestion record atomically; move `champion`
(or, with deployment.strategy shadow and a champion serving, `challenger`)."""

from __future__ import annotations

import contextlib
import io
import logging
import time
from pathlib import Path

import mlflow
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from utils.data.ingestion import INGESTED_FILES_NAME
from utils.errors import PipelineError
from utils.files import sha256_file
from utils.layout import challenger_link
from utils.model.deployment import (
    CHALLENGER,
    CHAMPION,
    MANIFEST_NAME,
    MANIFEST_TAG,
    MODEL_SHA256_TAG,
    current_release,
    deploy,
    deployment_role,
    identical_release,
    registered_model_file,
)
from utils.model.scoring import SCORE_NAME, read_score
from utils.model.tracking import StepRun
from utils.model.training import MODEL_FILE, MODEL_NAME, read_metadata
from utils.ops.events import EventKind
from utils.runtime.steps import DeploymentParams, run_step
from utils.store.history import MonitoringStore

log = logging.getLogger("model_deployment")


def version_by_alias(client: MlflowClient, model_name: str, alias: str) -> str | None:
    try:
        return client.get_model_version_by_alias(model_name, alias).version
    except MlflowException:
        return None


def registry_tags(model_name: str, version: str, release: Path) -> dict[str, str]:
    """The sha256 of the registered version's model file, as stored by the tracking server,
    and the release manifest (features, target, id columns, F1): what replicas on other hosts
    verify and read."""
    import json
    import tempfile

    from mlflow.artifacts import download_artifacts

    with tempfile.TemporaryDirectory(prefix="registered-") as scratch:
        local = Path(download_artifacts(f"models:/{model_name}/{version}", dst_path=scratch))
        model_file = local / registered_model_file(local)
        digest = sha256_file(model_file)
    manifest = (Path(release) / MANIFEST_NAME).read_text(encoding="utf-8")
    return {MODEL_SHA256_TAG: digest, MANIFEST_TAG: json.dumps(json.loads(manifest))}


def register_quietly(model_uri: str, model_name: str):
    """mlflow.register_model without the lines it prints to stderr (they go to the debug log):
    this step logs the outcome once, in the pipeline's format."""
    printed = io.StringIO()
    with contextlib.redirect_stderr(printed):
        registered = mlflow.register_model(model_uri, model_name)
    for line in printed.getvalue().splitlines():
        log.debug("mlflow: %s", line)
    return registered


def run(p: DeploymentParams) -> None:
    started, model_name = time.perf_counter(), p.registered_model_name
    sources = {
        MODEL_NAME: Path(p.model_dir) / MODEL_NAME,
        MODEL_FILE: Path(p.model_dir) / MODEL_FILE,
        SCORE_NAME: Path(p.model_dir) / SCORE_NAME,
        INGESTED_FILES_NAME: Path(p.ingested_dir) / INGESTED_FILES_NAME,
    }
    for name, path in sources.items():
        if not path.is_file():
            raise PipelineError(f"{path}: {name} not found; run the earlier steps first")
    metadata = read_metadata(p.model_dir)
    model_uri = metadata.get("mlflow_model_uri")
    if not model_uri:
        raise PipelineError(f"{Path(p.model_dir)}: model metadata has no MLflow model; retrain it")
    score = read_score(sources[SCORE_NAME])
    role = deployment_role(p.strategy, current_release(p.deployment_dir) is not None)
    link = Path(p.deployment_dir) if role == CHAMPION else challenger_link(p.deployment_dir)
    # Identical to what serves (or, for a challenger, to the champion or the challenger):
    # deploying it again would change nothing.
    same = identical_release(p.deployment_dir, sources)
    if same is None and role == CHALLENGER:
        same = identical_release(link, sources)
    if same is not None:
        with StepRun() as tracking:
            tracking.log_params({"outcome": "identical to the deployed release"})
        log.info(
            "nothing to deploy: the model, score and ingestion record are identical (sha256) to"
            " the deployed version %s (release %s)",
            same.get("model_version"),
            same.get("release"),
        )
        return

    store = MonitoringStore(p.store_url)
    client = MlflowClient()
    with StepRun() as tracking:
        active = tracking.mlflow_run()
        previous = version_by_alias(client, model_name, role)
        champion = version_by_alias(client, model_name, CHAMPION)
        registered = register_quietly(model_uri, model_name)
        release = deploy(
            sources,
            p.deployment_dir,
            {
                "registered_model_name": model_name,
                "model_version": registered.version,
                "previous_version": previous,
                "role": role,
                "mlflow_model_uri": model_uri,
                "f1": score,
                "trained_at": metadata.get("trained_at"),
                "features": metadata.get("features"),
                "target": metadata.get("target"),
                "id_columns": metadata.get("id_columns"),
                "training_rows": metadata.get("training_rows"),
                # Finds the ingested data it was trained on: the automation's drift reference.
                "training_data_sha256": metadata.get("training_data_sha256"),
            },
            keep=p.keep_releases,
            link=link,
        )
        # What an API that serves from the registry (api.model_source=registry) checks before
        # it loads this version: the model file's sha256 and the release's manifest.
        for key, value in registry_tags(model_name, registered.version, release).items():
            client.set_model_version_tag(model_name, registered.version, key, value)
        # The alias moves only once the files are live, so both name the same model.
        client.set_registered_model_alias(model_name, role, registered.version)
        client.set_model_version_tag(model_name, registered.version, "f1", f"{score:.10f}")
        if role == CHAMPION:
            store.record_deployment(
                str(registered.version),
                previous,
                sha256_file(release / MANIFEST_NAME),
                release.name,
                score,
                model_uri=model_uri,
                mlflow_run_id=active.info.run_id,
            )
        else:
            store.record_event(
                EventKind.CHALLENGER,
                {
                    "action": "arrived",
                    "release": release.name,
                    "champion_version": champion,
                    "replaces": previous,
                    "f1": score,
                },
                str(registered.version),
            )
        tracking.log_params(
            {
                "model_version": registered.version,
                "previous_version": previous or "none",
                "role": role,
            }
        )
        tracking.log_metrics({"f1": score, "duration_s": time.perf_counter() - started})
        tracking.log_dict(
            {"release": release.name, "manifest_sha256": sha256_file(release / MANIFEST_NAME)},
            "deployment.json",
        )
        tracking.log_artifact(release / MANIFEST_NAME)
    if role == CHALLENGER:
        log.info(
            "deployed %s version %s as the challenger beside champion %s (was %s) to %s",
            model_name, registered.version, champion, previous, release,
        )  # fmt: skip
        return
    log.info(
        "deployed %s version %s (was %s) to %s",
        model_name,
        registered.version,
        previous,
        release,
    )


if __name__ == "__main__":
    run_step(DeploymentParams, run)
