"""Live monitoring in the automation: the deployed model's estimated (and, as labels arrive,
realised) performance on its logged traffic and the unlabelled files, chunk by chunk."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

from utils.automation.assess import drift_reference
from utils.automation.sources import (
    HashCache,
    SourceFile,
    monitoring_fingerprint,
    source_files,
)
from utils.config import PipelineConfig
from utils.engines.base import EngineSettings
from utils.engines.choose import engine_for
from utils.files import atomic_write, atomic_write_text
from utils.layout import Layout
from utils.ops.events import EventKind

log = logging.getLogger(__name__)


def monitor_all(config: PipelineConfig, streams: list, reference, threshold: float | None):
    """Every stream's chunks, in order, by the configured engine (the same entries)."""
    settings = config.monitoring
    return engine_for(EngineSettings.from_compute(config.compute)).monitor(
        streams, reference, settings.chunk_rows, settings.chunk_period, threshold,
        config.drift.as_dict(),
    )  # fmt: skip


def monitoring_basis(config: PipelineConfig, root: Path, model: str, labels: list[SourceFile]):
    """What every chunk's figures depend on beyond its own rows (see monitor_state)."""
    from utils.files import sha256_file

    layout = Layout.from_config(config, root)
    settings = config.monitoring
    return {
        "model": model,
        "labels": [f"{f.name}:{f.sha256}" for f in labels],
        "test_data": sha256_file(layout.test_data) if layout.test_data.is_file() else None,
        "chunk_rows": settings.chunk_rows,
        "chunk_period": settings.chunk_period,
        "drift": config.drift.as_dict(),
        "engine": config.compute.engine,
    }


def update_monitoring(
    config: PipelineConfig,
    root: Path,
    logged: list[Path],
    unlabelled: list[SourceFile],
    labels: list[SourceFile],
    store,
    basis: dict[str, Any],
    kept=None,
) -> tuple[dict[str, Any], Any, Any]:
    """Read the reference, the log's rows, the unlabelled files and the labels; estimate every
    chunk, and put realised figures beside the estimates where labels arrived. The labelled
    traffic is also written to the source folder as a labelled file, so that the next run
    checks score drift on it and retrains as it does for any new labelled data.

    With ``kept`` (a MonitoringState and its tail rows, from monitor_state.load_state), only
    the log's rows that state has not read are read: they join the tail, and the chunks from
    the tail on are computed again; the closed chunks are kept. Returns the result, the state
    to keep (on ``basis``) and its tail rows."""
    import pandas as pd

    from utils.automation.monitor_state import MonitoringState
    from utils.data.schema import read_dataset
    from utils.model.deployment import load_deployed_model
    from utils.monitoring.chunks import Reference, Stream, chunk_starts, join_all_labels
    from utils.monitoring.drift import score_drift
    from utils.monitoring.live_inputs import (
        PREDICTION_LOG,
        read_labels,
        read_unlabelled,
        scorable_traffic,
    )
    from utils.monitoring.log_cursor import LogCursor, read_new
    from utils.monitoring.log_upkeep import quarantiner

    schema, layout, settings = config.schema, Layout.from_config(config, root), config.monitoring
    model, manifest = load_deployed_model(layout.deployment_dir)
    features = list(manifest.get("features") or schema.features)

    def probabilities(frame: pd.DataFrame):
        return model.predict_proba(frame[features])[:, 1]

    test = read_dataset(layout.test_data, schema, ids=False)
    trained_on = read_dataset(drift_reference(layout, manifest), schema, ids=False)
    shadow = Shadow.of(layout, features)
    reference = Reference.build(
        probabilities(test), test[schema.target], trained_on[features],
        shadow.reference(test, test[schema.target]) if shadow else None,
    )  # fmt: skip
    history = [d["f1"] for d in store.deployment_history() if d["f1"] is not None]
    automation = config.automation
    deployed_f1 = float(manifest.get("f1") or 0.0)
    threshold = score_drift(
        deployed_f1, deployed_f1, history, automation.score_drift_method,
        automation.score_drift_k, automation.min_history,
    ).threshold  # fmt: skip
    state, tail = kept if kept is not None else (None, None)
    on_bad = quarantiner(root / settings.log_dir)
    new_rows, cursor = read_new(logged, state.cursor if state else LogCursor(), on_bad)
    traffic = scorable_traffic(
        new_rows if tail is None else pd.concat([tail, new_rows.to_pandas()], ignore_index=True),
        features,
    )
    # Every monitored row, so that one label join reaches rows of the log and of the
    # unlabelled batches alike (the latest prediction of an id wins, whichever way it came).
    parts: list[tuple[str, pd.DataFrame]] = []
    if traffic is not None:
        parts.append((PREDICTION_LOG, traffic))
    parts += [(f.name, read_unlabelled(f.path, schema, features)) for f in unlabelled]
    rows = pd.concat([frame for _, frame in parts], ignore_index=True) if parts else pd.DataFrame()
    truth, counts = join_all_labels(
        rows, read_labels([f.path for f in labels], schema), list(schema.id_columns),
        schema.target,
    )  # fmt: skip
    # Labels are joined to the whole log when they change (a new basis); later runs keep the
    # counts of that join, and join them to the new rows for their realised figures.
    joined = state.joined if state is not None else {"files": [f.name for f in labels], **counts}
    if labels and state is None:
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
                None if logged_rows else pd.Timestamp(frame["time"].iloc[0]).isoformat(),
                shadow.rows(frame) if shadow else None,
            )
        )
    log_streams = streams[:1] if traffic is not None else []
    log_chunks = monitor_all(config, log_streams, reference, threshold)
    closed = list(state.closed) if state else []
    new_tail = None
    if log_streams:
        starts = chunk_starts(log_streams[0], settings.chunk_rows, settings.chunk_period)
        closed += log_chunks[:-1]
        new_tail = traffic.iloc[int(starts[-1]) :]
        log_chunks = log_chunks[-1:]
    batches = streams[len(log_streams) :]
    others = monitor_all(config, batches, reference, threshold)
    recent = newest_chunks_rows(log_streams, batches, settings.chunk_rows, settings.chunk_period)
    result = {
        "model_version": manifest.get("model_version"),
        "calibrated": reference.calibration.used,
        "f1_threshold": threshold,
        "chunk_rows": settings.chunk_rows,
        "chunk_period": settings.chunk_period,
        "labels": joined,
        "chunks": closed + log_chunks + others,
    }
    return result, MonitoringState(basis, cursor, closed, joined), new_tail, recent


class Shadow:
    """The challenger (deployment.strategy: shadow) as the monitoring needs it: its model, the
    version and the time it arrived (rows logged from then on are compared)."""

    def __init__(self, model, manifest: dict[str, Any], features: list[str]) -> None:
        import pandas as pd

        self.model, self.features = model, features
        self.version = str(manifest.get("model_version"))
        self.arrived = pd.Timestamp(manifest["deployed_at"])

    @classmethod
    def of(cls, layout: Layout, served: list[str]) -> Shadow | None:
        """The deployed challenger, or None: none, or one that fails its checks or needs a
        feature the champion's rows lack (one warning)."""
        from utils.errors import PipelineError
        from utils.model.deployment import current_release, load_release_model

        release = current_release(layout.challenger_dir)
        if release is None:
            return None
        try:
            model, manifest = load_release_model(release)
            features = list(manifest.get("features") or served)
            if missing := [f for f in features if f not in served]:
                raise PipelineError(f"it needs feature(s) the rows lack: {', '.join(missing)}")
        except (PipelineError, OSError, ValueError) as err:
            log.warning("the challenger in %s is not monitored: %s", release.name, err)
            return None
        return cls(model, manifest, features)

    def probabilities(self, frame):
        return self.model.predict_proba(frame[self.features])[:, 1]

    def reference(self, test, truth):
        from utils.monitoring.shadow import ChallengerReference

        return ChallengerReference.build(self.version, self.probabilities(test), truth)

    def rows(self, frame):
        """What it says of ``frame``'s rows, and which of them it answered as the challenger."""
        import pandas as pd

        from utils.monitoring.shadow import ChallengerRows

        times = pd.to_datetime(frame["time"], utc=True)
        judged = (times >= self.arrived).to_numpy()
        return ChallengerRows(self.probabilities(frame), judged)


def newest_chunks_rows(log_streams: list, batches: list, chunk_rows: int, chunk_period):
    """The rows of the log's newest chunk and of the newest batch's (the file handed in last;
    the later one on a tie), with their source: the report's distribution plots."""
    import pandas as pd

    from utils.monitoring.chunks import BATCH, TRAFFIC, newest_rows

    parts = [newest_rows(s, chunk_rows, chunk_period).assign(source=TRAFFIC) for s in log_streams]
    if batches:
        newest = max(reversed(batches), key=lambda stream: stream.handed_in or "")
        parts.append(newest_rows(newest, chunk_rows, chunk_period).assign(source=BATCH))
    return pd.concat(parts, ignore_index=True) if parts else None


def write_labelled_traffic(
    config: PipelineConfig,
    root: Path,
    traffic,
    truth,
    features: list[str],
    labels: list[SourceFile],
) -> None:
    """The monitored rows whose label arrived, as a labelled CSV (once per set of labels
    files) in monitoring.labelled_traffic_dir, a folder of generated data, not one of the
    user's: new labelled data, checked and retrained on as any file of the source folder.

    What a client sent becomes training data here, so the rows pass the data contract first
    (a row it refuses is counted and named in the log, not written: one such row made every
    later training fail), and ids that a spreadsheet would run as a formula are quoted."""
    import hashlib

    import numpy as np

    from utils.data.cells import inert
    from utils.data.schema import MAX_FEATURE_MAGNITUDE, OUT_OF_RANGE
    from utils.errors import named

    known = ~np.isnan(truth)
    values = traffic[features].to_numpy(dtype="float64", na_value=np.nan)
    # NaN (a missing value) compares False: it is imputed, as in any ingested file.
    refused = known & (np.abs(values) > MAX_FEATURE_MAGNITUDE).any(axis=1)
    if refused.any():
        key = next((c for c in ("request_id", *config.data.id_columns) if c in traffic), None)
        which = named(traffic.loc[refused, key].astype(str)) if key else "no key"
        log.warning(
            "labelled traffic: %d row(s) left out, %s (%s: %s)",
            int(refused.sum()), OUT_OF_RANGE, key, which,
        )  # fmt: skip
    kept = known & ~refused
    if not kept.any():
        return
    digest = hashlib.sha256("".join(f.sha256 for f in labels).encode()).hexdigest()[:12]
    target = root / config.monitoring.labelled_traffic_dir / f"labelled-traffic-{digest}.csv"
    if target.exists():
        return
    ids = [c for c in config.data.id_columns if c in traffic.columns]
    frame = traffic.loc[kept, [*ids, *features]].assign(**{config.data.target: truth[kept]})
    frame[config.data.target] = frame[config.data.target].astype(int)
    for column in ids:
        frame[column] = frame[column].map(lambda v: inert(v) if isinstance(v, str) else v)
    target.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(target, frame.to_csv(index=False))
    log.info("wrote %d labelled rows of traffic to %s", int(kept.sum()), target)


def check_monitoring(
    config: PipelineConfig, root: Path, unlabelled: list[SourceFile], store, dry_run: bool
) -> str:
    """Estimate the deployed model's performance on its logged traffic and the unlabelled
    files, when either changed (or the model did) since models/monitoring.json was written."""
    import json

    from utils.monitoring.log_upkeep import upkeep
    from utils.monitoring.prediction_log import segments

    layout = Layout.from_config(config, root)
    if not layout.deployment_dir.exists():
        return ""
    settings = config.monitoring
    log_dir = root / settings.log_dir
    if not dry_run:
        # Quarantine, compaction, retention: a listing and the day files' footers, unless a
        # day is due for compaction.
        max_bytes = None if settings.log_max_mb is None else int(settings.log_max_mb * 2**20)
        done = upkeep(log_dir, settings.log_retention_days, max_bytes)
        for day in done.compacted:
            log.info("compacted the prediction log of %s into %s", day.stem, day)
    logged = segments(log_dir)
    if not logged and not unlabelled:
        return ""
    cache = HashCache(root / config.automation.hash_cache)
    labels = source_files(root / config.monitoring.labels_dir, cache)
    if not dry_run:
        cache.save()
    model = os.readlink(layout.deployment_dir) if layout.deployment_dir.is_symlink() else ""
    if layout.challenger_dir.is_symlink():
        # A challenger that comes or goes changes every chunk's figures.
        model += f" + challenger {os.readlink(layout.challenger_dir)}"
    fingerprint = monitoring_fingerprint(logged, [*unlabelled, *labels], model)
    try:
        previous = json.loads(layout.monitoring.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = {}
    if previous.get("fingerprint") == fingerprint:
        return ""
    if dry_run:
        return "would update the live monitoring"
    from utils.automation.monitor_state import load_state, save_state

    basis = monitoring_basis(config, root, model, labels)
    kept = load_state(layout.model_dir, basis)
    result, state, tail, recent = update_monitoring(
        config, root, logged, unlabelled, labels, store, basis, kept
    )
    result["fingerprint"] = fingerprint
    # The open chunk (and, after a new basis, every chunk) is computed again on each run: only
    # chunks that alert for the first time alert.
    alerted_before = {_chunk_key(c) for c in previous.get("chunks", []) if c.get("alert")}
    result["new_alerts"] = [
        {k: chunk[k] for k in ("source", "start", "end", "alert_reasons")}
        for chunk in result["chunks"]
        if chunk["alert"] and _chunk_key(chunk) not in alerted_before
    ]
    save_state(layout.model_dir, state, tail)
    if recent is not None:
        atomic_write(layout.monitoring_recent, lambda tmp: recent.to_parquet(tmp, index=False))
    else:
        layout.monitoring_recent.unlink(missing_ok=True)
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
