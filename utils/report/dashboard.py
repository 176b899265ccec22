"""The dashboard page (``GET /dashboard``): the model and its health now, and the live
monitoring over time on one axis with the deployments and rollbacks marked. Facts in, HTML
out; the API gathers the facts (utils/api/dashboard.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from utils.ops.monitoring_metrics import TRAFFIC, newest_chunks, source_of
from utils.report.html import (
    MONITORING_COLUMNS,
    MONITORING_NUMERIC_COLUMNS,
    fmt,
    monitoring_rows,
)
from utils.report.timeline import (
    ChunkPoint,
    Marker,
    drift_svg,
    parse_time,
    performance_svg,
    time_range,
    volume_svg,
)

_TEMPLATES = Path(__file__).parent / "templates"
REFRESH_S = 60
DEPLOYMENTS_SHOWN = 10


@dataclass(frozen=True)
class DashboardData:
    # /health's body: status, and the refused release and why when degraded.
    health: dict[str, Any]
    # /model's body, or None before a model is loaded.
    model: dict[str, Any] | None
    features: list[str]
    # models/monitoring.json, or None before fullprocess.py wrote one.
    monitoring: dict[str, Any] | None
    # The store's deployments and rollbacks, oldest first (utils.report.html.deployment_rows).
    deployments: list[dict[str, Any]] = field(default_factory=list)
    # What could not be shown, and why.
    notes: list[str] = field(default_factory=list)
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def markers(deployments: list[dict[str, Any]]) -> list[Marker]:
    """A marker for each deployment and rollback with a time."""
    found = []
    for row in deployments:
        at = parse_time(row.get("created_at"))
        if at is None:
            continue
        rollback = row.get("how") == "rolled back"
        version = row.get("model_version")
        found.append(Marker(at, f"{'rollback to ' if rollback else ''}v{version}", rollback))
    return found


def chunk_points(monitoring: dict[str, Any] | None) -> list[ChunkPoint]:
    points = []
    for chunk in (monitoring or {}).get("chunks") or []:
        point = ChunkPoint.from_chunk(chunk, source_of(chunk) == TRAFFIC)
        if point is not None:
            points.append(point)
    return points


def render_dashboard(data: DashboardData) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    points = chunk_points(data.monitoring)
    marks = markers(data.deployments)
    span = time_range(points, marks)
    threshold = (data.monitoring or {}).get("f1_threshold")
    charts = {
        "performance": performance_svg(points, marks, threshold, span),
        "drift": drift_svg(points, data.features, marks, span),
        "volume": volume_svg(points, marks, span),
    }
    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]))
    shown = data.deployments[-DEPLOYMENTS_SHOWN:]
    return env.get_template("dashboard.html").render(
        generated_at=data.generated_at.strftime("%Y-%m-%d %H:%M:%S"),
        refresh_s=REFRESH_S,
        health=data.health,
        model=data.model,
        newest=newest_chunks((data.monitoring or {}).get("chunks") or []),
        notes=data.notes,
        charts=charts,
        chunk_rows=monitoring_rows(data.monitoring) if data.monitoring else [],
        monitoring_columns=MONITORING_COLUMNS,
        monitoring_numeric_columns=MONITORING_NUMERIC_COLUMNS,
        deployments=[
            {
                "when": str(row.get("created_at"))[:19],
                "how": row.get("how", "deployed"),
                "version": row.get("model_version"),
                "f1": row.get("f1"),
            }
            for row in reversed(shown)
        ],
        fmt=fmt,
    )
