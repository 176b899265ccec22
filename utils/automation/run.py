"""One automation run, read -> assess -> decide -> act, under the host's and the store's locks;
fullprocess.py is its command line."""

from __future__ import annotations

import logging
import time
from contextlib import ExitStack
from pathlib import Path

from utils.automation.act import act
from utils.automation.assess import assess, find_new_files, open_store
from utils.automation.challenger import Command, promote, reject, settle
from utils.automation.decisions import (
    Facts,
    Policy,
    decide,
)
from utils.automation.monitor import check_monitoring
from utils.automation.rollback import rollback
from utils.automation.sources import (
    Journal,
    exclusive_lock,
    lock_holder,
)
from utils.config import PipelineConfig, load_project_config
from utils.errors import Busy, PipelineError
from utils.layout import Layout
from utils.ops.alerts import AlertingStore, Webhook
from utils.ops.events import EventKind

log = logging.getLogger(__name__)

# What an operator does by hand (fullprocess.py --rollback, --promote, --reject): each waits
# for the automation's locks (automation.lock_wait_s) rather than giving up as cron's run does.
# Each: what it does (fullprocess.py's help), and the function.
BY_HAND = {
    "rollback": (
        "point the deployment and the champion alias back at the previous release",
        rollback,
    ),
    "promote": ("the challenger serves: the deployment link and champion alias at it", promote),
    "reject": ("remove the challenger: its link, its registry alias and its release", reject),
}


def process(
    config: PipelineConfig,
    root: Path,
    overrides: list[str],
    dry_run: bool,
    force: bool,
    webhook: Webhook,
) -> tuple[str, str]:
    """One automation run: read, assess, decide, act; returns the one-line summary and the
    outcome (the action's name)."""
    store = AlertingStore(open_store(config, root), webhook)
    journal = Journal(root / config.automation.journal)
    unfinished = journal.read()
    fresh, unlabelled = [], []
    if unfinished is None:
        fresh, unlabelled = find_new_files(config, root, store, save_cache=not dry_run)
    deployed, assessment = True, None
    if unfinished is None and (fresh or force):
        # From here on the work is real: the heavy libraries are imported only now.
        from utils.model.deployment import current_release

        deployed = current_release(Layout.from_config(config, root).deployment_dir) is not None
        if deployed:
            assessment = assess(config, root, fresh, store)
    facts = Facts(
        interrupted=unfinished is not None,
        new_files=bool(fresh),
        deployed=deployed,
        score_drift=bool(assessment and assessment.score and assessment.score.drift),
        data_drift=bool(assessment and assessment.data_drift),
    )
    policy = Policy(force, dry_run, config.automation.retrain_on_data_drift)
    decision = decide(facts, policy)
    log.debug("decision: %s", decision)
    summary = act(decision, config, root, overrides, store, journal, unfinished, fresh, assessment)
    monitored = check_monitoring(config, root, unlabelled, store, dry_run)
    settled = settle(Command(config, root, overrides, dry_run, webhook))
    said = "; ".join(part for part in (summary, monitored, settled) if part)
    return said, decision.action.name.lower()


def run_once(
    root: Path,
    overrides: list[str],
    dry_run: bool,
    force: bool,
    by_hand: str | None = None,
    to_version: str | None = None,
) -> str:
    """One run under the locks; returns the line fullprocess.py logs (what was done or why
    nothing was). ``by_hand``: one of BY_HAND instead of the automation's run."""
    config = load_project_config(root, overrides)
    started = time.perf_counter()

    def work(webhook: Webhook) -> tuple[str, str]:
        if by_hand == "rollback":
            return rollback(config, root, overrides, to_version, dry_run, webhook), by_hand
        if by_hand is not None:
            command = Command(config, root, overrides, dry_run, webhook)
            return BY_HAND[by_hand][1](command), by_hand
        return process(config, root, overrides, dry_run, force, webhook)

    if dry_run:
        # Changes nothing, so it takes no lock (and writes no lock file), alerts nobody and may
        # run any time.
        return f"{work(Webhook(None))[0]} ({time.perf_counter() - started:.1f} s)"
    webhook = Webhook.from_config(config.alerts, "fullprocess")
    # A cron run finds the lock held and does nothing; the next one will. An operator's
    # command waits for the run that holds it, and fails loudly when it does not end in time.
    wait_s = config.automation.lock_wait_s if by_hand else 0.0
    lock_file = root / config.automation.lock_file
    with ExitStack() as held:
        purpose = f"fullprocess.py --{by_hand}" if by_hand else "fullprocess.py"
        if not held.enter_context(exclusive_lock(lock_file, wait_s, purpose)):
            if by_hand:
                raise Busy(
                    f"{by_hand} not done: {config.automation.lock_file} is held by "
                    f"{lock_holder(lock_file)}; waited {wait_s:g} s (automation.lock_wait_s)"
                )
            return f"already running (lock {config.automation.lock_file} held): nothing to do"
        try:
            if not held.enter_context(host_lock(config, root, wait_s)):
                if by_hand:
                    raise Busy(
                        f"{by_hand} not done: a run on another host holds the store's lock; "
                        f"waited {wait_s:g} s (automation.lock_wait_s)"
                    )
                return "already running on another host (store lock): nothing to do"
            summary, outcome = work(webhook)
        except KeyboardInterrupt:
            record_run(config, root, "interrupted", started)
            raise
        except Exception as err:
            error = str(err) if isinstance(err, PipelineError) else f"{type(err).__name__}: {err}"
            webhook.notify(EventKind.FAILED_RUN, {"error": error})
            record_run(config, root, "failed", started)
            raise
        record_run(config, root, outcome, started)
        return f"{summary} ({time.perf_counter() - started:.1f} s)"


def host_lock(config: PipelineConfig, root: Path, wait_s: float = 0.0):
    """The lock that hosts sharing a PostgreSQL store take besides their own lock file."""
    from utils.store.connection import advisory_lock, store_url_for

    return advisory_lock(
        store_url_for(config.store.url, root),
        f"fullprocess:{config.main.registered_model_name}",
        wait_s,
    )


def record_run(config: PipelineConfig, root: Path, outcome: str, started: float) -> None:
    """The run's outcome for Prometheus' node-exporter (automation.metrics_textfile)."""
    if not config.automation.metrics_textfile:
        return
    from utils.ops.metrics import write_run_textfile

    path = root / config.automation.metrics_textfile
    success = outcome not in ("failed", "interrupted")
    try:
        write_run_textfile(path, outcome, success, time.time(), time.perf_counter() - started)
    except OSError as err:
        log.warning("could not write the run's metrics to %s: %s", path, err)
