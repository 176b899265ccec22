"""Figures for people: confusion matrix, ROC curve and the monitoring trends, as PNG bytes."""

from __future__ import annotations

import io
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

LEGEND_COLUMNS = 4


def pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def png_bytes(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    pyplot().close(fig)
    return buffer.getvalue()


def confusion_matrix_png(matrix: np.ndarray, title: str, labels: Sequence[str]) -> bytes:
    """A labelled confusion matrix with the count in each cell; ``labels`` of classes 0, 1."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=120)
    image = ax.imshow(matrix, cmap="Blues")
    fig.colorbar(image, ax=ax)
    ax.set_xticks(range(2), labels=labels)
    ax.set_yticks(range(2), labels=labels)
    ax.set_xlabel("Predicted class")
    ax.set_ylabel("True class")
    ax.set_title(title, fontsize=10)
    threshold = matrix.max() / 2 if matrix.size else 0
    for (row, col), count in np.ndenumerate(matrix):
        color = "white" if count > threshold else "black"
        ax.text(col, row, f"{count:,}", ha="center", va="center", color=color, fontsize=13)
    fig.tight_layout()
    return png_bytes(fig)


def roc_curve_png(fpr: Sequence[float], tpr: Sequence[float], auc: float) -> bytes:
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(5.5, 4.5), dpi=120)
    ax.plot(fpr, tpr, color="tab:blue", label=f"model (AUC {auc:.3f})")
    ax.plot([0, 1], [0, 1], color="grey", linestyle="--", label="chance")
    ax.set_xlabel("False positive rate")
    ax.set_ylabel("True positive rate")
    ax.set_title("ROC curve on the test data", fontsize=10)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.02)
    ax.legend(loc="lower right")
    fig.tight_layout()
    return png_bytes(fig)


def _time_axis(ax, fig, times: Sequence[Any] = ()) -> None:
    """A time x axis; a single moment gets an hour either side, not matplotlib's default of
    years."""
    import datetime as dt

    import matplotlib.dates as mdates

    if not times:
        ax.set_xticks([])  # nothing recorded: no made-up dates on the axis
        ax.set_xlabel("Time (UTC)")
        return
    if max(times) - min(times) < dt.timedelta(minutes=10):
        ax.set_xlim(min(times) - dt.timedelta(hours=1), max(times) + dt.timedelta(hours=1))
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    ax.set_xlabel("Time (UTC)")
    fig.autofmt_xdate()


def f1_history_png(history: list[dict[str, Any]], threshold: float | None) -> bytes:
    """F1 over time, one series per data set, labelled with the model version."""
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 4), dpi=120)
    by_dataset: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in history:
        by_dataset[row["dataset"]].append(row)
    for dataset, rows in sorted(by_dataset.items()):
        ax.plot([r["created_at"] for r in rows], [r["f1"] for r in rows], marker="o", label=dataset)
        # Every version where it first scored on this data set, so none goes unlabelled.
        for previous, row in zip([None, *rows], rows, strict=False):
            if previous is None or previous["model_version"] != row["model_version"]:
                ax.annotate(
                    f"v{row['model_version'] or '?'}",
                    (row["created_at"], row["f1"]),
                    textcoords="offset points",
                    xytext=(4, 4),
                    fontsize=8,
                )
    if threshold is not None:
        ax.axhline(
            threshold, color="tab:red", linestyle="--", label=f"drift threshold {threshold:.3f}"
        )
    if not history:
        ax.text(0.5, 0.5, "no scores recorded yet", ha="center", transform=ax.transAxes)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1")
    ax.set_title("F1 over time by data set (label: model version)", fontsize=10)
    if history or threshold is not None:
        ax.legend(loc="lower left", fontsize=8)
    _time_axis(ax, fig, [r["created_at"] for r in history])
    fig.tight_layout()
    return png_bytes(fig)


def monitoring_png(chunks: list[dict[str, Any]], threshold: float | None) -> bytes:
    """Estimated F1 per chunk with its band, the realised F1 where labels arrived, the threshold."""
    from matplotlib.ticker import MaxNLocator

    plt = pyplot()
    fig, ax = plt.subplots(figsize=(8, 3.8), dpi=120)
    x = np.arange(len(chunks))
    estimated = [c["estimated"]["f1"] for c in chunks]
    low = [c["band"]["f1"][0] for c in chunks]
    high = [c["band"]["f1"][1] for c in chunks]
    ax.fill_between(x, low, high, color="tab:blue", alpha=0.15, label="band (reference ± 3 std)")
    ax.plot(x, estimated, marker="o", markersize=3, color="tab:blue", label="estimated F1")
    realized = [(i, c["realized"]["f1"]) for i, c in enumerate(chunks) if c.get("realized")]
    if realized:
        ax.plot(*zip(*realized, strict=True), "s", color="tab:green", label="realised F1")
    alerts = [(i, estimated[i]) for i, c in enumerate(chunks) if c["alert"]]
    if alerts:
        ax.plot(*zip(*alerts, strict=True), "x", color="tab:red", markersize=9, label="alert")
    if threshold is not None:
        ax.axhline(threshold, color="tab:red", linestyle="--", label=f"threshold {threshold:.3f}")
    if not chunks:
        ax.text(0.5, 0.5, "no traffic logged yet", ha="center", transform=ax.transAxes)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("Chunk (oldest first)")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel("F1")
    ax.set_title("Live traffic: estimated and realised F1 per chunk", fontsize=10)
    fig.legend(loc="outside lower center", ncol=3, fontsize=8, frameon=False)
    fig.set_layout_engine("constrained")
    return png_bytes(fig)


def series_history_png(
    history: list[dict[str, Any]], key: str, value: str, ylabel: str, title: str
) -> bytes:
    """One line per ``key`` (a column, a step) of ``value`` over time."""
    plt = pyplot()
    by_key: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in history:
        by_key[row[key]].append(row)
    # The legend goes below the plot, four names a row, and the figure grows with it: with 30
    # or more columns a legend inside the axes would hide the lines.
    legend_rows = math.ceil(len(by_key) / LEGEND_COLUMNS)
    fig, ax = plt.subplots(figsize=(8, 3.6 + 0.22 * legend_rows), dpi=120, layout="constrained")
    for name, rows in sorted(by_key.items()):
        ax.plot([r["created_at"] for r in rows], [r[value] for r in rows], marker="o", label=name)
    if not history:
        ax.text(0.5, 0.5, "nothing recorded yet", ha="center", transform=ax.transAxes)
    ax.set_ylim(bottom=0)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    _time_axis(ax, fig, [r["created_at"] for r in history])
    if by_key:
        fig.legend(loc="outside lower center", ncol=LEGEND_COLUMNS, fontsize=8, frameon=False)
    return png_bytes(fig)
