"""Automation for cron: new data -> score drift and data drift -> retrain -> redeploy.

    python fullprocess.py                 # one check (cron every 10 minutes)
    python fullprocess.py --dry-run       # say what would happen, change nothing
    python fullprocess.py --force         # retrain and redeploy regardless
    python fullprocess.py --every 600     # loop, for hosts without cron
    python fullprocess.py --rollback      # back to the previous release (--to VERSION: that one)
    python fullprocess.py automation.score_drift_method=parametric   # any config override

Exit codes: 0 nothing new, no drift, kept the deployed model, or redeployed, and also "already
running"; 2 bad input or configuration; 1 any other failure. The steps run through main.py's
MLflow entry points, exactly as ./run_pipeline.sh runs them.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from utils.automation.decisions import (
    Action,
    Decision,
    Facts,
    Outcome,
    Policy,
    comparison_data,
    decide,
    deploy_candidate,
    input_folders,
)
from utils.automation.sources import (
    HashCache,
    Journal,
    SourceFile,
    exclusive_lock,
    monitoring_fingerprint,
    new_files,
    source_files,
    split_by_label,
)
from utils.config import PipelineConfig, load_project_config
from utils.errors import PipelineError
from utils.files import atomic_write_text
from utils.layout import INGESTED_FILES, Layout
from utils.ops.alerts import AlertingStore, Webhook
from utils.ops.events import EventKind
from utils.runtime.cli import EngineSettings, run_entry_point

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("fullprocess")

INGEST = ["data_ingestion"]
RETRAIN = ["model_training", "model_scoring"]
REDEPLOY = ["model_deployment", "diagnostics", "reporting"]
REPORT = REDEPLOY[1:]


def find_new_files(
    config: PipelineConfig, root: Path, store, save_cache: bool = True
) -> tuple[list[SourceFile], list[SourceFile]]:
    """The cheap check: hashes of the source files against what is deployed and decided. A dry
    run does not save the hash cache (it changes nothing). Returns the new labelled files and
    every unlabelled one (no target column: monitored, never trained on)."""
    from utils.data.ingestion import read_ingested_files

    layout = Layout.from_config(config, root)
    cache = HashCache(root / config.automation.hash_cache)
    sources = source_files(root / config.automation.source_dir, cache)
    if save_cache:
        cache.save()
    labelled, unlabelled = split_by_label(sources, config.data.target)
    deployed = read_ingested_files(layout.deployment_dir / INGESTED_FILES)
    fresh = new_files(labelled, deployed, store.ingested_file_hashes(), store.decided_files())
    return fresh, unlabelled


def monitor_all(config: PipelineConfig, streams: list, reference, threshold: float | None):
    """Every stream's chunks, in order: here, or by Spark's executors (the same entries)."""
    settings, drift = config.monitoring, vars(config.drift)
    engine = EngineSettings.from_compute(config.compute)
    if engine.is_spark:
        from utils.engines.spark_monitoring import monitor_on_spark

        return monitor_on_spark(
            engine.spark(), streams, reference, settings.chunk_rows, settings.chunk_period,
            threshold, drift,
        )  # fmt: skip
    from utils.monitoring.chunks import monitor_stream

    return [
        chunk
        for stream in streams
        for chunk in monitor_stream(
            stream, reference, settings.chunk_rows, settings.chunk_period, threshold, drift
        )
    ]


def update_monitoring(
    config: PipelineConfig,
    root: Path,
    logged: list[Path],
    unlabelled: list[SourceFile],
    labels: list[SourceFile],
    store,
) -> dict[str, Any]:
    """Read the reference, the log segments, the unlabelled files and the labels; estimate
    every chunk, and put realised figures beside the estimates where labels arrived. The
    labelled traffic is also written to the source folder as a labelled file, so that the next
    run checks score drift on it and retrains as it does for any new labelled data."""
    import pandas as pd

    from utils.data.schema import read_dataset
    from utils.model.deployment import load_deployed_model
    from utils.monitoring.chunks import Reference, Stream, join_all_labels
    from utils.monitoring.drift import score_drift
    from utils.monitoring.live_inputs import (
        PREDICTION_LOG,
        read_labels,
        read_traffic,
        read_unlabelled,
    )

    schema, layout, settings = config.schema, Layout.from_config(config, root), config.monitoring
    model, manifest = load_deployed_model(layout.deployment_dir)
    features = list(manifest.get("features") or schema.features)

    def probabilities(frame: pd.DataFrame):
        return model.predict_proba(frame[features])[:, 1]

    test = read_dataset(layout.test_data, schema, ids=False)
    trained_on = read_dataset(drift_reference(layout, manifest), schema, ids=False)
    reference = Reference.build(probabilities(test), test[schema.target], trained_on[features])
    history = [d["f1"] for d in store.deployment_history() if d["f1"] is not None]
    automation = config.automation
    deployed_f1 = float(manifest.get("f1") or 0.0)
    threshold = score_drift(
        deployed_f1, deployed_f1, history, automation.score_drift_method,
        automation.score_drift_k, automation.min_history,
    ).threshold  # fmt: skip
    # Every monitored row, so that one label join reaches rows of the log and of the
    # unlabelled batches alike (the latest prediction of an id wins, whichever way it came).
    parts: list[tuple[str, pd.DataFrame]] = []
    traffic = read_traffic(logged, features)
    if traffic is not None:
        parts.append((PREDICTION_LOG, traffic))
    parts += [(f.name, read_unlabelled(f.path, schema, features)) for f in unlabelled]
    rows = pd.concat([frame for _, frame in parts], ignore_index=True) if parts else pd.DataFrame()
    truth, counts = join_all_labels(
        rows, read_labels([f.path for f in labels], schema), list(schema.id_columns),
        schema.target,
    )  # fmt: skip
    joined = {"files": [f.name for f in labels], **counts}
    if labels:
        write_labelled_traffic(config, root, rows, truth, features, labels)
    streams, first = [], 0
    for name, frame in parts:
        own = slice(first, first + len(frame))
        first += len(frame)
        logged_rows = name == PREDICTION_LOG
        streams.append(
            Stream(
                name,
                frame[features].astype("float64"),
                probabilities(frame[features]),
                frame["time"] if logged_rows else None,
                frame["segment"] if logged_rows else None,
                truth[own] if labels else None,
                frame["model_version"] if logged_rows else None,
            )
        )
    chunks = monitor_all(config, streams, reference, threshold)
    return {
        "model_version": manifest.get("model_version"),
        "calibrated": reference.calibration.used,
        "f1_threshold": threshold,
        "chunk_rows": settings.chunk_rows,
        "chunk_period": settings.chunk_period,
        "labels": joined,
        "chunks": chunks,
    }


def write_labelled_traffic(
    config: PipelineConfig,
    root: Path,
    traffic,
    truth,
    features: list[str],
    labels: list[SourceFile],
) -> None:
    """The monitored rows whose label arrived, as a labelled CSV in the source folder (once per
    set of labels files): new labelled data, checked and retrained on as today."""
    import hashlib

    import numpy as np

    known = ~np.isnan(truth)
    if not known.any():
        return
    digest = hashlib.sha256("".join(f.sha256 for f in labels).encode()).hexdigest()[:12]
    target = root / config.automation.source_dir / f"labelled-traffic-{digest}.csv"
    if target.exists():
        return
    ids = [c for c in config.data.id_columns if c in traffic.columns]
    frame = traffic.loc[known, [*ids, *features]].assign(**{config.data.target: truth[known]})
    frame[config.data.target] = frame[config.data.target].astype(int)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, frame.to_csv(index=False))
    log.info("wrote %d labelled rows of traffic to %s", int(known.sum()), target)


def check_monitoring(
    config: PipelineConfig, root: Path, unlabelled: list[SourceFile], store, dry_run: bool
) -> str:
    """Estimate the deployed model's performance on its logged traffic and the unlabelled
    files, when either changed (or the model did) since models/monitoring.json was written."""
    import json

    from utils.monitoring.prediction_log import compact, segments

    layout = Layout.from_config(config, root)
    if not layout.deployment_dir.exists():
        return ""
    log_dir = root / config.monitoring.log_dir
    # A listing when no day is due; polars is imported only for a day to compact.
    for day in [] if dry_run else compact(log_dir):
        log.info("compacted the prediction log of %s into %s", day.stem, day)
    logged = segments(log_dir)
    if not logged and not unlabelled:
        return ""
    cache = HashCache(root / config.automation.hash_cache)
    labels = source_files(root / config.monitoring.labels_dir, cache)
    if not dry_run:
        cache.save()
    model = os.readlink(layout.deployment_dir) if layout.deployment_dir.is_symlink() else ""
    fingerprint = monitoring_fingerprint(logged, [*unlabelled, *labels], model)
    try:
        previous = json.loads(layout.monitoring.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = {}
    if previous.get("fingerprint") == fingerprint:
        return ""
    if dry_run:
        return "would update the live monitoring"
    result = update_monitoring(config, root, logged, unlabelled, labels, store)
    result["fingerprint"] = fingerprint
    # Chunks are recomputed on every run: only those that alert for the first time alert.
    alerted_before = {_chunk_key(c) for c in previous.get("chunks", []) if c.get("alert")}
    result["new_alerts"] = [
        {k: chunk[k] for k in ("source", "start", "end", "alert_reasons")}
        for chunk in result["chunks"]
        if chunk["alert"] and _chunk_key(chunk) not in alerted_before
    ]
    atomic_write_text(layout.monitoring, json.dumps(result, indent=2) + "\n")
    store.record_event(EventKind.MONITORING, result, str(result.get("model_version")))
    alerts = sum(chunk["alert"] for chunk in result["chunks"])
    text = f"monitoring: {len(result['chunks'])} chunk(s), {alerts} alert(s)"
    joined = result["labels"]
    if joined["rows"]:
        text += f", labels: {joined['matched']} matched, {joined['unmatched']} unmatched"
    return text


def _chunk_key(chunk: dict) -> tuple[str, str]:
    """A chunk's identity across runs: its stream and where it starts (its end and the
    segments it spans grow while it is the newest)."""
    return chunk["source"].split(": ")[0], str(chunk["start"])


def drift_reference(layout: Layout, manifest: dict) -> Path:
    """The data the deployed model was trained on, as data drift's reference; the current
    finaldata (with a warning) when that ingestion is no longer kept or the manifest predates
    the hash."""
    from utils.data.ingestion import ingestion_with_data

    trained_on = ingestion_with_data(layout.ingested_dir, manifest.get("training_data_sha256"))
    if trained_on is not None:
        return trained_on
    log.warning(
        "the data model v%s was trained on is no longer kept: data drift compares with %s",
        manifest.get("model_version"),
        layout.finaldata.name,
    )
    return layout.finaldata


def run_steps(root: Path, overrides: list[str], steps: list[str], input_dir: str) -> None:
    """Run ``steps`` through main.py's pipeline (one MLflow parent run) with ``overrides``."""
    import main
    from utils.config import load_config

    raw_overrides = [
        *overrides,
        f"main.steps='{','.join(steps)}'",
        f"paths.input_dir='{input_dir}'",
    ]
    from hydra import compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(root), version_base=None):
        raw = compose(config_name="config", overrides=raw_overrides)
    main.run_pipeline(load_config(raw), raw, root)


@dataclass
class Assessment:
    """Score and data drift of the new files against the deployed model."""

    files: list[dict]
    names: str
    version: object
    new_data: Any = None
    metrics: dict | None = None
    score: Any = None  # utils.monitoring.drift.ScoreDrift
    data: Any = None  # utils.monitoring.drift.DataDrift

    def summary(self) -> str:
        text = f"new files: {self.names}; "
        if self.score is not None:
            text += (
                f"{'score drift' if self.score.drift else 'no score drift'} (F1 on new data "
                f"{self.score.new_f1:.4f}, threshold {self.score.threshold:.4f}, "
                f"{self.score.method}); {self.data.summary()}; "
            )
        return text


def assess(config: PipelineConfig, root: Path, fresh: list[SourceFile], store) -> Assessment:
    """Read the deployed model and the new files; check score drift and data drift."""
    import pandas as pd

    from utils.data.schema import read_dataset
    from utils.model.deployment import load_deployed_model
    from utils.model.scoring import evaluate
    from utils.monitoring.drift import data_drift, score_drift

    schema, layout = config.schema, Layout.from_config(config, root)
    model, manifest = load_deployed_model(layout.deployment_dir)
    assessment = Assessment(
        files=[{"name": f.name, "sha256": f.sha256} for f in fresh],
        names=", ".join(f.name for f in fresh) or "none",
        version=manifest.get("model_version"),
    )
    if not fresh:
        return assessment
    frames = [read_dataset(f.path, schema) for f in fresh]
    new_data = pd.concat(frames, ignore_index=True).drop_duplicates()
    metrics = evaluate(model, new_data, schema)
    history = [d["f1"] for d in store.deployment_history() if d["f1"] is not None]
    automation = config.automation
    score = score_drift(
        metrics["f1"],
        float(manifest.get("f1") or 0.0),
        history,
        automation.score_drift_method,
        automation.score_drift_k,
        automation.min_history,
    )
    reference = read_dataset(drift_reference(layout, manifest), schema)
    data = data_drift(reference, new_data, list(schema.features), **vars(config.drift))
    if score.note:
        log.info("%s", score.note)
    for feature in data.features:
        log.info("data drift %s", feature.describe(data.p_threshold, data.min_effect))
    for note in data.notes:
        log.warning("data drift: %s", note)
    assessment.new_data, assessment.metrics = new_data, metrics
    assessment.score, assessment.data = score, data
    return assessment


def store_url(config: PipelineConfig, root: Path) -> str:
    """The store's URL without its password, which goes to PGPASSWORD (never in a URL that
    could be logged)."""
    from utils.store.history import resolve_store_url, split_password

    url, password = split_password(resolve_store_url(config.store.url, root))
    if password is not None:
        os.environ["PGPASSWORD"] = password
    return url


def open_store(config: PipelineConfig, root: Path):
    from utils.store.history import MonitoringStore

    return MonitoringStore(store_url(config, root))


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
        data_drift=bool(assessment and assessment.data and assessment.data.dataset_drift),
    )
    policy = Policy(force, dry_run, config.automation.retrain_on_data_drift)
    decision = decide(facts, policy)
    log.debug("decision: %s", decision)
    summary = act(decision, config, root, overrides, store, journal, unfinished, fresh, assessment)
    monitored = check_monitoring(config, root, unlabelled, store, dry_run)
    return (f"{summary}; {monitored}" if monitored else summary), decision.action.name.lower()


def act(
    decision: Decision,
    config: PipelineConfig,
    root: Path,
    overrides: list[str],
    store,
    journal: Journal,
    unfinished: dict | None,
    fresh: list[SourceFile],
    assessment: Assessment | None,
) -> str:
    """Carry out ``decision`` (or, in a dry run, say what it would do)."""
    source_dir = root / config.automation.source_dir
    input_dir = input_folders(config.automation.mode, config.input_dirs(root), str(source_dir))
    if decision.action is Action.NOTHING:
        return f"no new data in {source_dir}"
    if decision.action is Action.FINISH_INTERRUPTED:
        assert unfinished is not None
        if decision.dry_run:
            return f"dry run: would finish the interrupted run of {unfinished['started_at']}"
        log.info("finishing the run of %s that was interrupted", unfinished["started_at"])
        return finish(unfinished, journal, Actions(config, root, overrides, store))
    files = [{"name": f.name, "sha256": f.sha256} for f in fresh]
    if decision.action is Action.FIRST_DEPLOYMENT:
        if decision.dry_run:
            return f"dry run: no model deployed yet; would run every step on {input_dir}"
        run_steps(root, overrides, INGEST + RETRAIN + REDEPLOY, input_dir)
        store.record_event(
            EventKind.DECISION, {"files": files, "outcome": Outcome.FIRST_DEPLOYMENT}
        )
        return f"no model was deployed: trained and deployed on {input_dir}"

    assert assessment is not None
    version = assessment.version
    summary = assessment.summary()
    if decision.dry_run:
        return f"dry run: {summary}would {decision.action} (model v{version})"
    if assessment.score is not None:
        names = assessment.names
        store.record_scoring(f"new: {names}", assessment.metrics, model_version=str(version))
        store.record_event(
            EventKind.SCORE_DRIFT, assessment.score.as_dict(), model_version=str(version)
        )
        store.record_event(
            EventKind.DATA_DRIFT, assessment.data.as_dict(), model_version=str(version)
        )
    state = {
        "started_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "files": files,
        "file_paths": [str(f.path) for f in fresh],
        "input_dir": input_dir,
        "retrain": decision.action is Action.RETRAIN,
        "force": "forced" in decision.reasons,
        "reasons": list(decision.reasons),
        "version": version,
        "summary": summary,
        "done": [],
    }
    # The intent is on disk before anything changes: a run killed from here on is finished by
    # the next one, which does not assess again (the ingested data would then hold the new rows).
    journal.write(state)
    return finish(state, journal, Actions(config, root, overrides, store, assessment.new_data))


class Actions:
    """What finish() does to the world; tests replace it to stop at every boundary."""

    def __init__(
        self, config: PipelineConfig, root: Path, overrides: list[str], store, new_data=None
    ) -> None:
        self.config, self.root, self.overrides, self.store = config, root, overrides, store
        # The new files as the assessment read them; a resumed run reads them again.
        self.new_data = new_data

    def run(self, steps: list[str], input_dir: str) -> None:
        run_steps(self.root, self.overrides, steps, input_dir)

    def compare(self, file_paths: list[str]) -> dict[str, float]:
        """F1 of the retrained and of the deployed model on the compare_on data."""
        import pandas as pd

        from utils.data.schema import read_dataset
        from utils.model.deployment import load_deployed_model
        from utils.model.scoring import evaluate
        from utils.model.training import MODEL_NAME, load_pickle

        schema, paths = self.config.schema, self.config.resolved_paths(self.root)
        comparison = read_dataset(paths["test_data"], schema, ids=False)
        if "new" in comparison_data(self.config.automation.compare_on, bool(file_paths)):
            new = self.new_data
            if new is None:
                frames = [read_dataset(Path(p), schema) for p in file_paths]
                new = pd.concat(frames, ignore_index=True).drop_duplicates()
            comparison = pd.concat([comparison, new], ignore_index=True)
        candidate = load_pickle(paths["model_dir"] / MODEL_NAME)
        incumbent, _ = load_deployed_model(paths["deployment_dir"])
        return {
            "candidate_f1": evaluate(candidate, comparison, schema)["f1"],
            "deployed_f1": evaluate(incumbent, comparison, schema)["f1"],
        }

    def trained_model_is_deployed(self) -> bool:
        """Whether the deployment already serves the retrained model (a redeploy that was
        interrupted after its first step)."""
        from utils.files import sha256_file
        from utils.model.deployment import current_release
        from utils.model.training import MODEL_NAME

        paths = self.config.resolved_paths(self.root)
        release = current_release(paths["deployment_dir"])
        trained = paths["model_dir"] / MODEL_NAME
        return (
            release is not None
            and trained.is_file()
            and sha256_file(release / MODEL_NAME) == sha256_file(trained)
        )

    def deployed_version(self) -> object:
        from utils.model.deployment import load_deployed_model

        return load_deployed_model(self.config.resolved_paths(self.root)["deployment_dir"])[1].get(
            "model_version"
        )

    def new_test_f1(self) -> float:
        from utils.model.scoring import read_score

        return read_score(Layout.from_config(self.config, self.root).score)

    def record(self, payload: dict, version: object) -> None:
        self.store.record_event(EventKind.DECISION, payload, str(version))


def finish(state: dict, journal: Journal, act: Actions) -> str:
    """Carry out the decision of ``state`` from where it stopped; each phase is marked done in
    the journal once it is, and the journal goes once the decision is recorded."""
    done, version, summary = state["done"], state["version"], state["summary"]

    def phase(name: str, work) -> None:
        if name not in done:
            work()
            done.append(name)
            journal.write(state)

    def refresh_report() -> None:
        # The model stays, but the data and the checks are new: the report says so.
        phase("report", lambda: act.run(REPORT, state["input_dir"]))

    phase("ingest", lambda: act.run(INGEST, state["input_dir"]))
    if not state["retrain"]:
        refresh_report()
        act.record({"files": state["files"], "outcome": Outcome.NO_DRIFT}, version)
        journal.clear()
        return f"{summary}ingested, kept model v{version}"

    phase("retrain", lambda: act.run(RETRAIN, state["input_dir"]))
    phase("compare", lambda: state.update(act.compare(state["file_paths"])))
    candidate_f1, deployed_f1 = state["candidate_f1"], state["deployed_f1"]
    sets = comparison_data(act.config.automation.compare_on, bool(state["file_paths"]))
    compared = f"on {' and '.join(sets)} data"
    if not deploy_candidate(candidate_f1, deployed_f1, state["force"]):
        refresh_report()
        act.record(
            {
                "files": state["files"],
                "outcome": Outcome.KEPT,
                "candidate_f1": candidate_f1,
                "deployed_f1": deployed_f1,
                "compared_on": act.config.automation.compare_on,
            },
            version,
        )
        journal.clear()
        return (
            f"{summary}retrained, but the new model scores {candidate_f1:.4f} < "
            f"{deployed_f1:.4f} {compared}: kept model v{version}"
        )
    comparison_text = f"new model F1 {candidate_f1:.4f} >= {deployed_f1:.4f} {compared}"

    def redeploy() -> None:
        # Interrupted after the deployment step: only diagnostics and the report remain.
        steps = REPORT if act.trained_model_is_deployed() else REDEPLOY
        act.run(steps, state["input_dir"])

    phase("redeploy", redeploy)
    new_version = act.deployed_version()
    if new_version == version:
        # Retrained on the same data with the same settings: the same model, nothing deployed.
        act.record({"files": state["files"], "outcome": Outcome.IDENTICAL}, version)
        journal.clear()
        return f"{summary}retrained: the same model as the deployed one, kept model v{version}"
    act.record(
        {
            "files": state["files"],
            "outcome": Outcome.REDEPLOYED,
            "reasons": state["reasons"],
            "comparison": comparison_text,
            "previous_version": version,
            "new_test_f1": act.new_test_f1(),
        },
        new_version,
    )
    journal.clear()
    return (
        f"{summary}retrained on {' and '.join(state['reasons'])}; {comparison_text}: "
        f"redeployed v{version} -> v{new_version}"
    )


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
    manifest, was = releases.verify_release(target), releases.read_manifest(current)
    version, previous = str(manifest.get("model_version")), str(was.get("model_version"))
    if dry_run:
        return f"dry run: would roll back v{previous} -> v{version} (release {target.name})"
    store = AlertingStore(open_store(config, root), webhook)
    releases.point_to(deployment_dir, target)
    try:
        move_champion(config, root, str(manifest.get("registered_model_name")), version)
    except Exception as err:
        releases.point_to(deployment_dir, current)  # all or nothing: the registry must agree
        raise PipelineError(
            f"could not move the champion alias ({err}): nothing rolled back"
        ) from None
    log.info("deployment and champion alias now at v%s (release %s)", version, target.name)
    store.record_event(
        EventKind.ROLLBACK,
        {"from_version": previous, "to_version": version, "from_release": current.name,
         "to_release": target.name, "f1": manifest.get("f1")},
        version,
    )  # fmt: skip
    run_steps(root, overrides, REPORT, ",".join(config.input_dirs(root)))
    return f"rolled back v{previous} -> v{version} (release {target.name})"


def move_champion(config: PipelineConfig, root: Path, model_name: str, version: str) -> None:
    from mlflow import MlflowClient

    from utils.model.deployment import CHAMPION
    from utils.model.tracking import resolve_tracking_uri

    client = MlflowClient(resolve_tracking_uri(config.main.tracking_uri, root))
    client.set_registered_model_alias(model_name, CHAMPION, version)


def run_once(
    root: Path,
    overrides: list[str],
    dry_run: bool,
    force: bool,
    roll_back: bool = False,
    to_version: str | None = None,
) -> None:
    config = load_project_config(root, overrides)
    started = time.perf_counter()

    def work(webhook: Webhook) -> tuple[str, str]:
        if roll_back:
            return rollback(config, root, overrides, to_version, dry_run, webhook), "rollback"
        return process(config, root, overrides, dry_run, force, webhook)

    if dry_run:
        # Changes nothing, so it takes no lock (and writes no lock file), alerts nobody and may
        # run any time.
        log.info("%s (%.1f s)", work(Webhook(None))[0], time.perf_counter() - started)
        return
    webhook = Webhook.from_config(config.alerts, "fullprocess")
    with ExitStack() as held:
        if not held.enter_context(exclusive_lock(root / config.automation.lock_file)):
            log.info("already running (lock %s held): nothing to do", config.automation.lock_file)
            return
        try:
            if not held.enter_context(host_lock(config, root)):
                log.info("already running on another host (store lock): nothing to do")
                return
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
        log.info("%s (%.1f s)", summary, time.perf_counter() - started)


def host_lock(config: PipelineConfig, root: Path):
    """The lock that hosts sharing a PostgreSQL store take besides their own lock file."""
    from utils.store.history import advisory_lock

    return advisory_lock(
        store_url(config, root), f"fullprocess:{config.main.registered_model_name}"
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


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would happen, change nothing"
    )
    parser.add_argument("--force", action="store_true", help="retrain and redeploy regardless")
    parser.add_argument("--every", type=float, default=None, help="repeat every SECONDS (no cron)")
    parser.add_argument(
        "--rollback",
        action="store_true",
        help="point the deployment and the champion alias back at the previous release",
    )
    parser.add_argument(
        "--to", metavar="VERSION", default=None, help="with --rollback: this model version"
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of config.yaml")
    args = parser.parse_args()
    if args.to is not None and not args.rollback:
        parser.error("--to goes with --rollback")
    if args.rollback and (args.every is not None or args.force):
        parser.error("--rollback runs once, alone: not with --every or --force")
    return args


if __name__ == "__main__":
    args = _parse_args()

    def work() -> None:
        while True:
            try:
                run_once(ROOT, args.overrides, args.dry_run, args.force, args.rollback, args.to)
            except PipelineError as err:
                if args.every is None:
                    raise
                # A loop standing in for cron keeps going, as cron would.
                log.error("%s; trying again in %.0f s", err, args.every)
            if args.every is None:
                return
            time.sleep(args.every)

    run_entry_point("fullprocess", work)
