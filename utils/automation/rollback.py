"""Rollback: the deployment link and the registry's champion alias back at an earlier
release, together or not at all."""

from __future__ import annotations

import logging
from pathlib import Path

from utils.automation.act import REPORT, run_steps
from utils.automation.assess import open_store
from utils.automation.sources import (
    Journal,
)
from utils.config import PipelineConfig
from utils.errors import PipelineError
from utils.layout import Layout
from utils.ops.alerts import AlertingStore, Webhook
from utils.ops.events import EventKind

log = logging.getLogger(__name__)


def rollback(
    config: PipelineConfig,
    root: Path,
    overrides: list[str],
    to_version: str | None,
    dry_run: bool,
    webhook: Webhook,
) -> str:
    """Point the deployment back at the previous release (or the newest of ``to_version``),
    move the registry's champion alias with it, record and report it. The API follows the
    link on its next request; nothing is retrained."""
    from utils.model import deployment as releases

    deployment_dir = Layout.from_config(config, root).deployment_dir
    current = releases.current_release(deployment_dir)
    if current is None:
        raise PipelineError(f"{deployment_dir}: no model is deployed: nothing to roll back")
    if Journal(root / config.automation.journal).read() is not None:
        raise PipelineError(
            "an interrupted run is not finished yet: run fullprocess.py once, then roll back"
        )
    kept = []
    for release in releases.finished_releases(deployment_dir):
        try:
            kept.append((release.name, str(releases.read_manifest(release).get("model_version"))))
        except (PipelineError, ValueError):
            continue  # an unreadable release is never a target
    target = releases.releases_dir(deployment_dir) / releases.rollback_target(
        kept, current.name, to_version
    )
    # Every file checked, and the model loaded as the API will load it: a release the API
    # would refuse is not rolled back to.
    manifest, was = releases.verify_release(target), releases.read_manifest(current)
    releases.load_release_model(target)
    version, previous = str(manifest.get("model_version")), str(was.get("model_version"))
    if dry_run:
        return f"dry run: would roll back v{previous} -> v{version} (release {target.name})"
    store = AlertingStore(open_store(config, root), webhook)
    serve_release(config, root, target, current, manifest, "rolled back")
    log.info("deployment and champion alias now at v%s (release %s)", version, target.name)
    store.record_event(
        EventKind.ROLLBACK,
        {"from_version": previous, "to_version": version, "from_release": current.name,
         "to_release": target.name, "f1": manifest.get("f1")},
        version,
    )  # fmt: skip
    run_steps(root, overrides, REPORT, ",".join(config.input_dirs(root)))
    return f"rolled back v{previous} -> v{version} (release {target.name})"


def serve_release(
    config: PipelineConfig, root: Path, target: Path, current: Path, manifest: dict, doing: str
) -> None:
    """The deployment link and the registry's champion alias at ``target`` (a release whose
    ``manifest`` is given), together or not at all: the link goes back to ``current`` when
    the alias cannot follow. Rollback and promotion both switch the champion this way."""
    from utils.model import deployment as releases
    from utils.model.deployment import CHAMPION

    deployment_dir = Layout.from_config(config, root).deployment_dir
    releases.point_to(deployment_dir, target)
    model_name = str(manifest.get("registered_model_name"))
    try:
        move_alias(config, root, model_name, CHAMPION, str(manifest.get("model_version")))
    except Exception as err:
        releases.point_to(deployment_dir, current)  # all or nothing: the registry must agree
        raise PipelineError(f"could not move the champion alias ({err}): nothing {doing}") from None


def move_alias(
    config: PipelineConfig, root: Path, model_name: str, alias: str, version: str | None
) -> None:
    """The registry's ``alias`` at ``version``; None removes it."""
    from mlflow import MlflowClient

    from utils.model.tracking import resolve_tracking_uri

    client = MlflowClient(resolve_tracking_uri(config.main.tracking_uri, root))
    if version is None:
        client.delete_registered_model_alias(model_name, alias)
    else:
        client.set_registered_model_alias(model_name, alias, version)
