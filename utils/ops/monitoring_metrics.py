"""The live monitoring's verdicts as Prometheus metrics: what the automation wrote to
``models/monitoring.json``, so that every API worker answers the same and an alert rule can
watch the one thing this system exists to watch.

Two sources, so that no label grows without bound: ``traffic`` (the newest chunk of the
prediction log) and ``batch`` (the newest chunk of any unlabelled file; a file's name is
neither bounded nor trusted, so it is never a label). A feature is a label only when it is one
of the served model's features. Figures are ratios (0 to 1); times are Unix seconds.

``FAMILIES`` lists every family once: the collector, README's table and the alert rules'
tests read it.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from utils.monitoring.chunks import BATCH, TRAFFIC
from utils.monitoring.estimation import METRICS

log = logging.getLogger(__name__)

PREFIX = "risk_monitoring_"
LABEL_OUTCOMES = ("matched", "unmatched", "duplicates")


@dataclass(frozen=True)
class Family:
    name: str
    help: str
    labels: tuple[str, ...] = ()


FAMILIES: tuple[Family, ...] = (
    Family("model_version", "The model version the figures are for (the deployed one)"),
    Family("f1_threshold_ratio", "The score-drift threshold the chunks' F1 is held to"),
    Family("chunks", "Chunks monitored", ("source",)),
    Family("estimated_ratio", "The newest chunk's estimated figure", ("source", "metric")),
    Family("band_lower_ratio", "The lower bound of the figure's band", ("source", "metric")),
    Family("band_upper_ratio", "The upper bound of the figure's band", ("source", "metric")),
    Family("realized_ratio", "The newest chunk's figure on labelled rows", ("source", "metric")),
    Family("alert", "1 when the newest chunk alerts", ("source",)),
    Family("drifted_features", "Features that drift in the newest chunk", ("source",)),
    Family("feature_drift", "1 when the feature drifts in the newest chunk", ("source", "feature")),
    Family("probability_drift", "1 when the predicted probabilities drift", ("source",)),
    Family("multivariate_drift", "1 when the features' joint distribution drifts", ("source",)),
    Family(
        "multivariate_auc_ratio",
        "Held-out ROC AUC of the classifier telling the chunk from the reference (0.5: alike)",
        ("source",),
    ),
    Family(
        "multivariate_contributor",
        "1 when the feature is among those that moved the joint distribution most",
        ("source", "feature"),
    ),
    Family("chunk_rows", "Rows in the newest chunk", ("source",)),
    Family("labelled_rows", "Rows of the newest chunk whose label arrived", ("source",)),
    Family(
        "chunk_end_timestamp_seconds",
        "When the newest chunk's last row was logged (a batch: when its file arrived)",
        ("source",),
    ),
    Family("labels", "Labels received, by what became of them", ("outcome",)),
    # deployment.strategy shadow: the challenger beside the champion, on the same rows.
    Family("challenger_version", "The challenger's model version (answering in the shadow)"),
    Family(
        "challenger_estimated_ratio",
        "The challenger's estimated figure on the newest chunk",
        ("source", "metric"),
    ),
    Family(
        "challenger_realized_ratio",
        "The challenger's figure on the newest chunk's labelled rows",
        ("source", "metric"),
    ),
    Family(
        "challenger_compared_rows",
        "Labelled rows both models answered since the challenger arrived (the verdict's rows)",
    ),
    Family(
        "challenger_f1_difference",
        "Realised F1 of the challenger minus the champion's on those rows",
    ),
    Family("challenger_p_value", "The paired test's p-value of that difference"),
)


def _time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def source_of(chunk: dict[str, Any]) -> str:
    from utils.monitoring.live_inputs import PREDICTION_LOG

    return TRAFFIC if str(chunk.get("source", "")).startswith(PREDICTION_LOG) else BATCH


def newest_chunks(chunks: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The newest chunk of the prediction log and of the unlabelled files. The log's chunks are
    in time order; a batch's is the one whose file arrived last (the later one on a tie)."""
    newest: dict[str, dict[str, Any]] = {}
    for chunk in chunks:
        source = source_of(chunk)
        current = newest.get(source)
        if current is None or (chunk_time(chunk) or 0.0) >= (chunk_time(current) or 0.0):
            newest[source] = chunk
    return newest


def chunk_time(chunk: dict[str, Any]) -> float | None:
    # Chunks kept from before "ended_at" existed have the log's time in "end".
    return _time(chunk.get("ended_at")) or _time(chunk.get("end"))


Sample = tuple[str, tuple[str, ...], float]


def _sampler(samples: list[Sample]):
    """``add(name, labels, value)``: a sample into ``samples``, none for a figure that is
    missing or not finite."""

    def add(name: str, labels: tuple[str, ...], value: Any) -> None:
        number = _number(value)
        if number is not None:
            samples.append((name, labels, number))

    return add


def monitoring_samples(monitoring: dict[str, Any], features: list[str]) -> list[Sample]:
    """(family, label values, value) of every sample ``monitoring`` gives; none for a figure
    that is missing or not finite."""
    samples: list[Sample] = []
    add = _sampler(samples)

    add("model_version", (), monitoring.get("model_version"))
    add("f1_threshold_ratio", (), monitoring.get("f1_threshold"))
    chunks = monitoring.get("chunks") or []
    newest = newest_chunks(chunks)
    for source in (TRAFFIC, BATCH):
        add("chunks", (source,), sum(1 for chunk in chunks if source_of(chunk) == source))
    for source, chunk in newest.items():
        for metric in METRICS:
            add("estimated_ratio", (source, metric), (chunk.get("estimated") or {}).get(metric))
            band = (chunk.get("band") or {}).get(metric) or (None, None)
            add("band_lower_ratio", (source, metric), band[0])
            add("band_upper_ratio", (source, metric), band[1])
            add("realized_ratio", (source, metric), (chunk.get("realized") or {}).get(metric))
        drifted = set(chunk.get("drifted_features") or ())
        add("alert", (source,), bool(chunk.get("alert")))
        add("drifted_features", (source,), len(drifted))
        for feature in features:
            add("feature_drift", (source, feature), feature in drifted)
        add("probability_drift", (source,), bool(chunk.get("probability_drift")))
        joint = chunk.get("multivariate") or {}
        if joint.get("statistic") is not None:  # tested (not turned off, enough rows)
            add("multivariate_drift", (source,), bool(joint.get("drift")))
            add("multivariate_auc_ratio", (source,), joint.get("statistic"))
            contributors = set(joint.get("contributors") or ())
            for feature in features:
                add("multivariate_contributor", (source, feature), feature in contributors)
        add("chunk_rows", (source,), chunk.get("rows"))
        add("labelled_rows", (source,), chunk.get("labelled_rows"))
        add("chunk_end_timestamp_seconds", (source,), chunk_time(chunk))
    for outcome in LABEL_OUTCOMES:
        add("labels", (outcome,), (monitoring.get("labels") or {}).get(outcome))
    samples += challenger_samples(chunks, newest)
    return samples


def challenger_samples(chunks: list[dict[str, Any]], newest: dict[str, dict]) -> list[Sample]:
    """The challenger's figures: the newest chunks' and the verdict's (every chunk of the
    challenger the newest chunk names, added up). None when no chunk has one."""
    from utils.monitoring.paired import paired_test
    from utils.monitoring.shadow import judged_counts

    samples: list[Sample] = []
    add = _sampler(samples)

    entries = {s: c["challenger"] for s, c in newest.items() if c.get("challenger")}
    if not entries:
        return samples
    version = str((entries.get(TRAFFIC) or entries[BATCH])["version"])
    add("challenger_version", (), int(version) if version.isdigit() else None)
    for source, entry in entries.items():
        for metric in METRICS:
            estimated = (entry.get("estimated") or {}).get(metric)
            add("challenger_estimated_ratio", (source, metric), estimated)
            realized = (entry.get("realized") or {}).get(metric)
            add("challenger_realized_ratio", (source, metric), realized)
    counts = judged_counts(chunks, version)
    compared = paired_test(counts)
    add("challenger_compared_rows", (), counts.rows)
    add("challenger_f1_difference", (), compared.difference)
    add("challenger_p_value", (), compared.p_value)
    return samples


def exposition_text(samples: list[Sample]) -> bytes:
    """``samples`` in Prometheus' text format, every family with its help and type."""
    from prometheus_client import CollectorRegistry, generate_latest
    from prometheus_client.core import GaugeMetricFamily

    by_name: dict[str, list[tuple[tuple[str, ...], float]]] = {}
    for name, labels, value in samples:
        by_name.setdefault(name, []).append((labels, value))

    class Snapshot:
        def collect(self):
            for family in FAMILIES:
                if family.name not in by_name:
                    continue
                gauge = GaugeMetricFamily(
                    PREFIX + family.name, family.help, labels=list(family.labels)
                )
                for labels, value in by_name[family.name]:
                    gauge.add_metric(list(labels), value)
                yield gauge

    registry = CollectorRegistry()
    registry.register(Snapshot())
    return generate_latest(registry)
