"""The report's distribution plots: each feature in the data the model was trained on against
the newest chunk of monitored rows (drifted features first, flagged), and the predicted
probabilities on the test data against that chunk's.

Facts in (``Distributions``), PNG bytes out; utils/report/html.py places them."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from utils.report.figures import png_bytes, pyplot

COLUMNS = 3
# A feature with at most this many values is drawn as bars per value (binary, categorical,
# small counts), not as a histogram whose bins would fall between them.
DISCRETE_VALUES = 12
BINS = 30
# The reference drawn from at most this many rows (seeded): enough for a histogram's shape.
REFERENCE_MAX_ROWS = 200_000


@dataclass(frozen=True)
class Distributions:
    reference: pd.DataFrame  # features of the data the deployed model was trained on
    recent: pd.DataFrame | None  # the newest chunk's features and "probability"; None: none yet
    recent_label: str  # which chunk: "newest traffic chunk, 800 rows, ended ..."
    features: list[str]
    drifted: frozenset[str] = frozenset()
    test_probabilities: list[int] = field(default_factory=list)  # counts in equal bins of [0, 1]


def newest_recent(
    monitoring: dict | None, recent: pd.DataFrame | None
) -> tuple[pd.DataFrame | None, str, frozenset[str]]:
    """Of the newest traffic and batch chunks (models/monitoring.json) whose rows were kept
    (models/monitoring-recent.parquet), the newer: its rows, a label and its drifted
    features."""
    from utils.ops.monitoring_metrics import chunk_time, newest_chunks

    if not monitoring or recent is None or "source" not in recent:
        return None, "", frozenset()
    kept = set(recent["source"].unique())
    newest = [
        (chunk_time(chunk) or 0.0, source, chunk)
        for source, chunk in newest_chunks(monitoring.get("chunks") or []).items()
        if source in kept
    ]
    if not newest:
        return None, "", frozenset()
    _, source, chunk = max(newest, key=lambda item: item[0])
    rows = recent[recent["source"] == source].drop(columns="source")
    ended = str(chunk.get("ended_at") or "")[:16].replace("T", " ")
    label = f"newest {source} chunk ({len(rows):,} rows{', to ' + ended if ended else ''})"
    return rows, label, frozenset(chunk.get("drifted_features") or ())


def ordered(features: list[str], drifted: frozenset[str]) -> list[str]:
    """Drifted features first, each group in the model's order."""
    return [f for f in features if f in drifted] + [f for f in features if f not in drifted]


def _finite(values: pd.Series) -> np.ndarray:
    array = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    return array[np.isfinite(array)]


def features_png(data: Distributions) -> bytes:
    """One panel per feature: reference and recent as densities on shared bins."""
    plt = pyplot()
    names = ordered(data.features, data.drifted)
    rows = max(1, math.ceil(len(names) / COLUMNS))
    fig, axes = plt.subplots(
        rows, COLUMNS, figsize=(9, 2.2 * rows + 0.6), dpi=110, layout="constrained", squeeze=False
    )
    for ax, name in zip(axes.flat, names, strict=False):
        reference = _finite(data.reference[name]) if name in data.reference else np.array([])
        recent = (
            _finite(data.recent[name])
            if data.recent is not None and name in data.recent
            else np.array([])
        )
        both = np.concatenate([reference, recent])
        values = np.unique(both)
        if 0 < len(values) <= DISCRETE_VALUES:
            width = 0.4 * (np.min(np.diff(values)) if len(values) > 1 else 1.0)
            for shift, series, color, label in (
                (-width / 2, reference, "tab:blue", "reference"),
                (width / 2, recent, "tab:orange", "recent"),
            ):
                if len(series):
                    share = [np.mean(series == v) for v in values]
                    ax.bar(values + shift, share, width=width, color=color, alpha=0.8, label=label)
            ax.set_ylabel("share", fontsize=7)
        elif len(both):
            # Bins over the 0.5th to 99.5th percentile: one outlier must not squash the rest.
            low, high = np.percentile(both, [0.5, 99.5])
            edges = np.linspace(low, high if high > low else low + 1, BINS + 1)
            for series, color, label in (
                (reference, "tab:blue", "reference"),
                (recent, "tab:orange", "recent"),
            ):
                if len(series):
                    ax.hist(np.clip(series, edges[0], edges[-1]), edges, density=True,
                            histtype="step", linewidth=1.4, color=color, label=label)  # fmt: skip
            ax.set_ylabel("density", fontsize=7)
        drifted = name in data.drifted
        ax.set_title(
            f"{name} — DRIFT" if drifted else name,
            fontsize=8,
            color="tab:red" if drifted else "black",
            fontweight="bold" if drifted else "normal",
        )
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    shown: dict[str, object] = {}
    for ax in axes.flat:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            shown.setdefault(label, handle)
    if shown:
        names = {"reference": "trained on", "recent": data.recent_label}
        fig.legend(list(shown.values()), [names[label] for label in shown],
                   loc="outside lower center", ncol=2, fontsize=8, frameon=False)  # fmt: skip
    return png_bytes(fig)


def probabilities_png(data: Distributions) -> bytes:
    """Predicted probabilities of class 1: test data and the newest chunk, as shares per bin."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=110, layout="constrained")
    counts = np.asarray(data.test_probabilities, dtype=float)
    bins = len(counts) or 20
    edges = np.linspace(0.0, 1.0, bins + 1)
    if counts.sum() > 0:
        ax.stairs(counts / counts.sum(), edges, color="tab:blue", linewidth=1.6,
                  label=f"test data ({int(counts.sum()):,} rows)")  # fmt: skip
    if data.recent is not None and "probability" in data.recent and len(data.recent):
        recent, _ = np.histogram(_finite(data.recent["probability"]), edges)
        ax.stairs(recent / max(recent.sum(), 1), edges, color="tab:orange", linewidth=1.6,
                  label=data.recent_label)  # fmt: skip
    ax.axvline(0.5, color="grey", linestyle=":", linewidth=1, label="class threshold 0.5")
    ax.set_xlim(0, 1)
    ax.set_xlabel("Predicted probability of class 1")
    ax.set_ylabel("Share of rows")
    ax.set_title("Predicted probabilities: test data and recent rows", fontsize=10)
    ax.legend(fontsize=8)
    return png_bytes(fig)
