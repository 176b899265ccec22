"""The dashboard's charts: the live monitoring over time, as SVG a page embeds (matplotlib's
SVG backend: drawn on the server, so the page needs no script and no internet).

Every chart shares one time axis and marks the deployments and rollbacks on it, so a person
sees which model answered when. Each series has an ``id`` in the SVG (matplotlib writes an
artist's gid as its group's id), which is how a test finds it in the rendered page.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from utils.report.figures import pyplot

# A single moment gets this much either side: an axis of zero width cannot be drawn.
MIN_SPAN = timedelta(hours=1)
WIDTH_IN, DPI = 9.0, 96


@dataclass(frozen=True)
class Marker:
    """A deployment or a rollback on the time axis."""

    at: datetime
    label: str
    rollback: bool = False


@dataclass(frozen=True)
class ChunkPoint:
    """What the charts need of one chunk of models/monitoring.json."""

    ended_at: datetime
    started_at: datetime | None
    traffic: bool
    rows: int
    estimated_f1: float | None
    band: tuple[float | None, float | None]
    realized_f1: float | None
    alert: bool
    drifted: frozenset[str]
    probability_drift: bool
    joint_drift: bool | None = None  # None: not tested (off, too few rows, an older chunk)
    # deployment.strategy shadow: the challenger's F1 on the same rows (None: no challenger).
    challenger_estimated_f1: float | None = None
    challenger_realized_f1: float | None = None

    @classmethod
    def from_chunk(cls, chunk: dict[str, Any], traffic: bool) -> ChunkPoint | None:
        """None for a chunk with no time (one kept from before chunks had ``ended_at``)."""
        ended = parse_time(chunk.get("ended_at")) or parse_time(chunk.get("end"))
        if ended is None:
            return None
        band = (chunk.get("band") or {}).get("f1") or (None, None)
        shadow = chunk.get("challenger") or {}
        return cls(
            ended_at=ended,
            started_at=parse_time(chunk.get("start")) if traffic else None,
            traffic=traffic,
            rows=int(chunk.get("rows") or 0),
            estimated_f1=_finite(chunk.get("estimated", {}).get("f1")),
            band=(_finite(band[0]), _finite(band[1])),
            realized_f1=_finite((chunk.get("realized") or {}).get("f1")),
            alert=bool(chunk.get("alert")),
            drifted=frozenset(chunk.get("drifted_features") or ()),
            probability_drift=bool(chunk.get("probability_drift")),
            joint_drift=_joint_verdict(chunk.get("multivariate")),
            challenger_estimated_f1=_finite((shadow.get("estimated") or {}).get("f1")),
            challenger_realized_f1=_finite((shadow.get("realized") or {}).get("f1")),
        )


def _joint_verdict(joint: Any) -> bool | None:
    if not isinstance(joint, dict) or joint.get("statistic") is None:
        return None
    return bool(joint.get("drift"))


def parse_time(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _finite(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def time_range(
    points: Sequence[ChunkPoint], markers: Sequence[Marker]
) -> tuple[datetime, datetime]:
    """The axis every chart shares: all chunks and markers, at least MIN_SPAN wide."""
    times = [p.ended_at for p in points] + [p.started_at for p in points if p.started_at]
    times += [m.at for m in markers]
    if not times:
        now = datetime.now(UTC)
        return now - MIN_SPAN, now + MIN_SPAN
    low, high = min(times), max(times)
    # At least MIN_SPAN wide, centred on the data, with a margin so no point sits on an edge.
    width = max(high - low, MIN_SPAN)
    pad = (width - (high - low)) / 2 + width * 0.03
    return low - pad, high + pad


def _pyplot():
    import matplotlib

    plt = pyplot()
    # Text stays text (searchable, small) and ids are the same on every render.
    matplotlib.rcParams["svg.fonttype"] = "none"
    matplotlib.rcParams["svg.hashsalt"] = "risk-dashboard"
    return plt


def _svg(fig, chart_id: str) -> str:
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg")
    _pyplot().close(fig)
    text = buffer.getvalue()
    svg = text[text.index("<svg") :]
    # matplotlib's RDF block (creator, date) is for files, not for a page drawn every 30 s.
    svg = re.sub(r"<metadata>.*?</metadata>\s*", "", svg, count=1, flags=re.S)
    return svg.replace("<svg ", f'<svg id="{chart_id}" role="img" ', 1)


def _time_axis(ax, span: tuple[datetime, datetime], markers: Sequence[Marker], chart: str) -> None:
    import matplotlib.dates as mdates

    ax.set_xlim(*span)
    locator = mdates.AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(locator))
    for number, marker in enumerate(markers):
        color = "tab:orange" if marker.rollback else "tab:purple"
        line = ax.axvline(marker.at, color=color, linestyle=":", linewidth=1.2)
        # Ids are unique in the page: three charts carry the same markers.
        line.set_gid(f"{chart}-{'rollback' if marker.rollback else 'deployment'}-{number}")
        ax.annotate(
            marker.label,
            (marker.at, 1.0),
            xycoords=("data", "axes fraction"),
            xytext=(3, -10),
            textcoords="offset points",
            fontsize=7,
            color=color,
        )


def performance_svg(
    points: Sequence[ChunkPoint],
    markers: Sequence[Marker],
    threshold: float | None,
    span: tuple[datetime, datetime],
) -> str:
    """Estimated F1 per chunk with its band, realised F1 where labels arrived, the alerts and
    the threshold; the log's chunks as a line, the batches' as points."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 3.4), dpi=DPI, layout="constrained")
    traffic = [p for p in points if p.traffic and p.estimated_f1 is not None]
    batches = [p for p in points if not p.traffic and p.estimated_f1 is not None]
    with_band = [p for p in points if p.estimated_f1 is not None and None not in p.band]
    if with_band:
        # Each chunk's band as a bar: a single chunk has no area for fill_between to draw.
        ax.vlines(
            [p.ended_at for p in with_band],
            [p.band[0] for p in with_band],
            [p.band[1] for p in with_band],
            color="tab:blue",
            alpha=0.3,
            linewidth=5,
            label="band (reference ± 3 std)",
            gid="chunk-bands",
        )
    banded = [p for p in traffic if None not in p.band]
    if len(banded) > 1:
        ax.fill_between(
            [p.ended_at for p in banded],
            [p.band[0] for p in banded],
            [p.band[1] for p in banded],
            color="tab:blue",
            alpha=0.15,
            gid="band",
        )
    alerts = [p for p in points if p.alert]
    # (points, the figure drawn, how): one line or set of marks each, left out when empty.
    series = (
        (traffic, "estimated_f1", {"marker": "o", "markersize": 3, "color": "tab:blue",
                                   "label": "estimated F1 (traffic)", "gid": "estimated-f1"}),
        (batches, "estimated_f1", {"marker": "D", "markersize": 5, "linestyle": "none",
                                   "color": "tab:cyan", "label": "estimated F1 (batches)",
                                   "gid": "estimated-f1-batches"}),
        (points, "realized_f1", {"marker": "s", "linestyle": "none", "color": "tab:green",
                                 "label": "realised F1", "gid": "realized-f1"}),
        (traffic, "challenger_estimated_f1", {"marker": "o", "markersize": 3, "linestyle": ":",
                                              "color": "tab:purple",
                                              "label": "challenger: estimated F1",
                                              "gid": "challenger-estimated-f1"}),
        (points, "challenger_realized_f1", {"marker": "^", "linestyle": "none",
                                            "color": "tab:purple",
                                            "label": "challenger: realised F1",
                                            "gid": "challenger-realized-f1"}),
        (alerts, "estimated_f1", {"marker": "x", "linestyle": "none", "color": "tab:red",
                                  "markersize": 10, "markeredgewidth": 2, "label": "alert",
                                  "gid": "alerts"}),
    )  # fmt: skip
    for chosen, figure, style in series:
        # A line keeps its points without a figure (a gap); marks are only where one is.
        lined = style.get("linestyle") != "none"
        drawn = [p for p in chosen if lined or getattr(p, figure) is not None]
        if any(getattr(p, figure) is not None for p in drawn):
            ax.plot([p.ended_at for p in drawn], [getattr(p, figure) for p in drawn], **style)
    if threshold is not None:
        ax.axhline(
            threshold,
            color="tab:red",
            linestyle="--",
            linewidth=1,
            label=f"threshold {threshold:.3f}",
            gid="threshold",
        )
    if not points:
        ax.text(0.5, 0.5, "no chunk monitored yet", ha="center", transform=ax.transAxes)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("F1")
    ax.set_title("Estimated and realised F1 per chunk", fontsize=10)
    _time_axis(ax, span, markers, "performance")
    if ax.get_legend_handles_labels()[0]:
        fig.legend(loc="outside lower center", ncol=4, fontsize=8, frameon=False)
    return _svg(fig, "chart-performance")


# The drift chart's row for the multivariate test, between the features and the probabilities.
JOINT_ROW = "all features jointly"


def drift_svg(
    points: Sequence[ChunkPoint],
    features: Sequence[str],
    markers: Sequence[Marker],
    span: tuple[datetime, datetime],
) -> str:
    """One row per feature, one for the features' joint distribution and one for the
    probabilities: a red mark where a chunk found drift, a grey one where it did not, none
    where the joint test did not run."""
    plt = _pyplot()
    rows = [*features, JOINT_ROW, "probabilities"]
    fig, ax = plt.subplots(
        figsize=(WIDTH_IN, 1.3 + 0.28 * len(rows)), dpi=DPI, layout="constrained"
    )
    drifted_xy, steady_xy = [], []
    for row, name in enumerate(rows):
        for p in points:
            if name == JOINT_ROW:
                flagged = p.joint_drift
            elif name == "probabilities":
                flagged = p.probability_drift
            else:
                flagged = name in p.drifted
            if flagged is not None:
                (drifted_xy if flagged else steady_xy).append((p.ended_at, row))
    if steady_xy:
        ax.plot(*zip(*steady_xy, strict=True), "s", color="#d9e2ec", markersize=7,
                label="no drift", gid="no-drift")  # fmt: skip
    if drifted_xy:
        ax.plot(*zip(*drifted_xy, strict=True), "s", color="tab:red", markersize=7,
                label="drift", gid="drift")  # fmt: skip
    ax.set_yticks(range(len(rows)), labels=rows, fontsize=8)
    ax.set_ylim(-0.7, len(rows) - 0.3)
    ax.invert_yaxis()
    ax.set_title("Drift per feature and chunk", fontsize=10)
    if not points:
        ax.text(0.5, 0.5, "no chunk monitored yet", ha="center", transform=ax.transAxes)
    _time_axis(ax, span, markers, "drift")
    if drifted_xy or steady_xy:
        fig.legend(loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return _svg(fig, "chart-drift")


def volume_svg(
    points: Sequence[ChunkPoint], markers: Sequence[Marker], span: tuple[datetime, datetime]
) -> str:
    """Predictions per hour of the logged traffic (each chunk's rows over its time), and the
    rows of each unlabelled batch when it arrived."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(WIDTH_IN, 2.6), dpi=DPI, layout="constrained")
    traffic = [p for p in points if p.traffic and p.started_at is not None]
    if traffic:
        starts = [p.started_at for p in traffic]
        # A chunk logged within one second is drawn a minute wide: its rate is not infinite.
        widths = [max(p.ended_at - p.started_at, timedelta(minutes=1)) for p in traffic]
        hours = [width.total_seconds() / 3600 for width in widths]
        per_hour = [p.rows / h for p, h in zip(traffic, hours, strict=True)]
        ax.bar(starts, per_hour, width=widths, align="edge", color="tab:blue", alpha=0.6,
               label="traffic (rows per hour)", gid="traffic-volume")  # fmt: skip
    batches = [p for p in points if not p.traffic]
    if batches:
        ax2 = ax.twinx()
        ax2.plot([p.ended_at for p in batches], [p.rows for p in batches], "D", color="tab:cyan",
                 label="batch rows (right axis)", gid="batch-volume")  # fmt: skip
        ax2.set_ylim(bottom=0)
        ax2.set_ylabel("rows per batch chunk", fontsize=8)
    if not points:
        ax.text(0.5, 0.5, "no prediction logged yet", ha="center", transform=ax.transAxes)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("rows per hour", fontsize=8)
    ax.set_title("Prediction volume", fontsize=10)
    _time_axis(ax, span, markers, "volume")
    if traffic or batches:
        fig.legend(loc="outside lower center", ncol=2, fontsize=8, frameon=False)
    return _svg(fig, "chart-volume")
