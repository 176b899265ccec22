"""A challenger promoted, rejected or left to wait (deployment.strategy: shadow): by every
``fullprocess.py`` run from the monitoring's paired counts (``settle``, which asks
``judge_challenger``), or by hand (``fullprocess.py --promote`` / ``--reject``) under the
automation's locks, as a rollback is.

Promotion is a deployment: the deployment link moves to the challenger's release (they share
the releases folder), the registry's champion alias follows, the store records a deployment and
the report is made again, so ``--rollback`` undoes it. Rejection removes the challenger
everywhere: its link, its alias, its release. Either is alerted.
"""

from __future__ import annotations

import logging
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from utils.automation.act import REPORT, run_steps
from utils.automation.assess import open_store
from utils.automation.rollback import move_alias, serve_release
from utils.automation.sources import Journal
from utils.config import PipelineConfig
from utils.errors import PipelineError
from utils.layout import Layout
from utils.ops.alerts import AlertingStore, Webhook
from utils.ops.events import EventKind

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Command:
    """What an operator's command by hand works with."""

    config: PipelineConfig
    root: Path
    overrides: list[str]
    dry_run: bool
    webhook: Webhook


def _challenger_release(config: PipelineConfig, root: Path, doing: str) -> Path:
    from utils.model.deployment import current_release

    link = Layout.from_config(config, root).challenger_dir
    release = current_release(link)
    if release is None:
        raise PipelineError(f"{link}: no challenger is deployed: nothing to {doing}")
    if Journal(root / config.automation.journal).read() is not None:
        raise PipelineError(
            f"an interrupted run is not finished yet: run fullprocess.py once, then {doing}"
        )
    return release


def promote(command: Command, reason: str = "by hand") -> str:
    """The challenger serves: deployment link and champion alias at its release, together or
    not at all; recorded, alerted and reported."""
    from utils.files import sha256_file
    from utils.model import deployment as releases

    config, root = command.config, command.root
    layout = Layout.from_config(config, root)
    target = _challenger_release(config, root, "promote")
    # Every file checked and the model loaded as the API will load it, before anything moves.
    manifest = releases.verify_release(target)
    releases.load_release_model(target)
    current = releases.deployed_release(layout.deployment_dir)
    was = releases.read_manifest(current)
    version, previous = str(manifest.get("model_version")), str(was.get("model_version"))
    model_name = str(manifest.get("registered_model_name"))
    if command.dry_run:
        return f"dry run: would promote challenger v{version} over champion v{previous}"
    store = AlertingStore(open_store(config, root), command.webhook)
    serve_release(config, root, target, current, manifest, "promoted")
    _retire_challenger_link(config, root, model_name)
    log.info("challenger v%s promoted over v%s (release %s)", version, previous, target.name)
    store.record_deployment(
        version, previous, sha256_file(target / releases.MANIFEST_NAME), target.name,
        manifest.get("f1"), model_uri=manifest.get("mlflow_model_uri"),
    )  # fmt: skip
    store.record_event(
        EventKind.CHALLENGER,
        {"action": "promoted", "previous_version": previous, "release": target.name,
         "reason": reason},
        version,
    )  # fmt: skip
    run_steps(root, command.overrides, REPORT, ",".join(config.input_dirs(root)))
    return f"promoted challenger v{version} over v{previous} ({reason}; release {target.name})"


def reject(command: Command, reason: str = "by hand") -> str:
    """The challenger removed everywhere (link, alias, release); the champion never stopped
    serving."""
    from utils.model import deployment as releases

    config, root = command.config, command.root

    target = _challenger_release(config, root, "reject")
    manifest = releases.read_manifest(target)
    version = str(manifest.get("model_version"))
    if command.dry_run:
        return f"dry run: would reject challenger v{version}"
    store = AlertingStore(open_store(config, root), command.webhook)
    _retire_challenger_link(config, root, str(manifest.get("registered_model_name")))
    champion = releases.current_release(Layout.from_config(config, root).deployment_dir)
    if target != champion:
        shutil.rmtree(target, ignore_errors=True)
    store.record_event(
        EventKind.CHALLENGER,
        {"action": "rejected", "release": target.name, "reason": reason},
        version,
    )
    return f"rejected challenger v{version} ({reason})"


def _retire_challenger_link(config: PipelineConfig, root: Path, model_name: str) -> None:
    """No challenger any more: its link goes first (what the API follows), then its alias."""
    from utils.files import fsync_dir
    from utils.model.deployment import CHALLENGER

    link = Layout.from_config(config, root).challenger_dir
    if link.is_symlink():
        os.unlink(link)
        fsync_dir(link.parent)
    try:
        move_alias(config, root, model_name, CHALLENGER, None)
    except Exception as err:  # the link is gone already: an API on this host has no challenger
        log.warning("could not remove the registry's challenger alias: %s", err)


def settle(command: Command) -> str:
    """The automation's verdict on the challenger from the monitoring just written (the paired
    counts of every chunk it answered as the challenger): promote, reject or wait, as
    ``judge_challenger`` decides under deployment.challenger. Empty when there is none."""
    config, root = command.config, command.root
    layout = Layout.from_config(config, root)
    # Cron's quick runs (nothing new) pay for nothing more when there is no challenger.
    if not layout.challenger_dir.is_symlink():
        return ""
    import json
    from datetime import UTC, datetime

    from utils.automation.decisions import (
        ChallengerFacts,
        ChallengerPolicy,
        ChallengerVerdict,
        judge_challenger,
    )
    from utils.model.deployment import current_release, read_manifest
    from utils.monitoring.paired import paired_test
    from utils.monitoring.shadow import judged_counts

    release = current_release(layout.challenger_dir)
    if release is None:
        return ""
    manifest = read_manifest(release)
    version = str(manifest.get("model_version"))
    try:
        monitoring = json.loads(layout.monitoring.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        monitoring = {}
    counts = judged_counts(monitoring.get("chunks") or [], version)
    compared = paired_test(counts)
    arrived = datetime.fromisoformat(str(manifest["deployed_at"]))
    facts = ChallengerFacts(
        age_days=(datetime.now(UTC) - arrived).total_seconds() / 86400,
        labelled_rows=counts.rows,
        difference=compared.difference,
        p_value=compared.p_value,
    )
    decision = judge_challenger(facts, ChallengerPolicy(**vars(config.deployment.challenger)))
    if decision.verdict is ChallengerVerdict.WAIT:
        return f"challenger v{version}: {decision.reason}"
    if command.dry_run:
        return f"dry run: would {decision.verdict} challenger v{version}: {decision.reason}"
    act = promote if decision.verdict is ChallengerVerdict.PROMOTE else reject
    return act(command, reason=decision.reason)
