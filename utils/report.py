"""The monitoring report a person reads: one self-contained HTML file and a PDF.

Both are built from one ``ReportData``: the deployed model's manifest, its metrics on the test
data, the latest diagnostics, and the history in the monitoring store.
"""

from __future__ import annotations

import base64
import io
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from utils.files import atomic_write, atomic_write_text
from utils.reporting import (
    confusion_matrix_png,
    f1_history_png,
    roc_curve_png,
    series_history_png,
)

METRIC_LABELS = {"f1": "F1", "precision": "Precision", "recall": "Recall", "roc_auc": "ROC AUC"}
_TEMPLATES = Path(__file__).parent / "templates"


@dataclass
class ReportData:
    model: dict[str, Any]
    metrics: dict[str, Any]
    confusion: np.ndarray
    roc: tuple[list[float], list[float]]
    f1_history: list[dict[str, Any]] = field(default_factory=list)
    drift_threshold: float | None = None
    drift_method: str = ""
    summary_statistics: dict[str, dict[str, float]] = field(default_factory=dict)
    missing_percent: dict[str, float] = field(default_factory=dict)
    missing_history: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)
    timing_history: list[dict[str, Any]] = field(default_factory=list)
    dependencies: list[dict[str, Any]] = field(default_factory=list)
    ingested_files: list[str] = field(default_factory=list)
    deployments: list[dict[str, Any]] = field(default_factory=list)
    # The latest data drift check of the automation (utils.drift.DataDrift.as_dict()), if any.
    data_drift: dict[str, Any] | None = None
    generated_at: str = field(
        default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    )


def fmt(value: Any, digits: int = 4) -> str:
    """A number for people: fixed digits, thousands separators, and '—' for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float | np.floating):
        return f"{value:,.{digits}f}"
    return str(value)


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else str(value)


def figures(data: ReportData) -> dict[str, bytes]:
    """Every picture of the report, as PNG bytes."""
    title = (
        f"Model v{data.model.get('version')} on {data.metrics.get('dataset')} "
        f"({int(data.metrics.get('rows', 0)):,} rows)"
    )
    return {
        "confusion": confusion_matrix_png(data.confusion, title),
        "roc": roc_curve_png(*data.roc, data.metrics.get("roc_auc") or math.nan),
        "f1_history": f1_history_png(data.f1_history, data.drift_threshold),
        "missing_history": series_history_png(
            data.missing_history,
            "column_name",
            "percent",
            "Missing %",
            "Missing values over time, per column",
        ),
        "timing_history": series_history_png(
            data.timing_history,
            "step",
            "seconds",
            "Seconds",
            "Step timings over time (measured by diagnostics)",
        ),
    }


def render_html(data: ReportData, images: dict[str, bytes]) -> str:
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    env = Environment(loader=FileSystemLoader(_TEMPLATES), autoescape=select_autoescape(["html"]))
    template = env.get_template("report.html")
    return template.render(
        generated_at=data.generated_at,
        model=data.model,
        metrics=data.metrics,
        labels=METRIC_LABELS,
        images={name: base64.b64encode(png).decode("ascii") for name, png in images.items()},
        drift_threshold=data.drift_threshold,
        drift_method=data.drift_method,
        f1_count=len(data.f1_history),
        summary_statistics=data.summary_statistics,
        missing_percent=data.missing_percent,
        timings=data.timings,
        dependencies=data.dependencies,
        outdated=[row for row in data.dependencies if row.get("outdated")],
        ingested_files=data.ingested_files,
        deployments=[{**d, "created_at": _when(d["created_at"])} for d in data.deployments],
        data_drift=data.data_drift,
        drift_caption=drift_caption(data.data_drift) if data.data_drift else "",
        drift_rows=_drift_rows(data.data_drift) if data.data_drift else [],
        drift_columns=DRIFT_COLUMNS,
        drift_numeric_columns=_DRIFT_NUMERIC_COLUMNS,
        fmt=fmt,
    )


def render_pdf(data: ReportData, images: dict[str, bytes]) -> bytes:
    """The same content as the HTML report, laid out on A4 pages."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import (
        Image,
        KeepTogether,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    styles = getSampleStyleSheet()
    body, small = styles["BodyText"], styles["BodyText"].clone("small", fontSize=8, leading=10)
    width = A4[0] - 3 * cm

    def table(rows: list[list[Any]], widths: list[float], numeric: tuple[int, ...] = ()) -> Table:
        # Cells are data, not reportlab markup: a name like a<b&c.csv must print as written.
        cells = [[Paragraph(escape(str(c)), small) for c in row] for row in rows]
        styled = Table(cells, colWidths=[w * width for w in widths], repeatRows=1)
        commands = [
            ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#d9e2ec")),
            ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#f0f4f8")),
            ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ]
        commands += [("ALIGN", (col, 1), (col, -1), "RIGHT") for col in numeric]
        styled.setStyle(TableStyle(commands))
        return styled

    def picture(name: str, fraction: float = 1.0) -> Image:
        png = images[name]
        from PIL import Image as PILImage

        with PILImage.open(io.BytesIO(png)) as probe:
            w, h = probe.size
        shown = width * fraction
        return Image(io.BytesIO(png), width=shown, height=shown * h / w)

    def heading(text: str) -> Paragraph:
        return Paragraph(text, styles["Heading2"])

    model, metrics = data.model, data.metrics
    story: list[Any] = [
        Paragraph("Model monitoring report", styles["Title"]),
        Paragraph(
            f"Generated {data.generated_at} UTC · model <b>{model.get('name')}</b> version "
            f"<b>{model.get('version')}</b> · release {model.get('release')}",
            body,
        ),
        heading("Deployed model"),
        table(
            [
                ["Field", "Value"],
                ["Version", model.get("version")],
                ["Trained at", model.get("trained_at")],
                ["Deployed at", model.get("deployed_at")],
                ["Features", ", ".join(model.get("features") or [])],
                ["Training rows", fmt(model.get("training_rows"))],
            ],
            [0.25, 0.75],
        ),
        heading("Performance on the test data"),
        Paragraph(f"{metrics.get('dataset')} · {int(metrics.get('rows', 0)):,} rows", body),
        table(
            [list(METRIC_LABELS.values()), [fmt(metrics.get(k)) for k in METRIC_LABELS]],
            [0.25] * 4,
            numeric=(0, 1, 2, 3),
        ),
        Spacer(1, 0.3 * cm),
        Table([[picture("confusion", 0.48), picture("roc", 0.48)]]),
        KeepTogether(
            [
                heading("F1 history"),
                Paragraph(
                    f"Drift threshold: <b>{fmt(data.drift_threshold)}</b> ({data.drift_method})."
                    if data.drift_threshold is not None
                    else "No drift threshold is known yet.",
                    body,
                ),
                picture("f1_history"),
            ]
        ),
        *_drift_story(data.data_drift, heading, body, table),
        heading("Summary statistics of the ingested data"),
        table(
            [["Column", "Mean", "Median", "Std"]]
            + [
                [c, fmt(s["mean"]), fmt(s["median"]), fmt(s["std"])]
                for c, s in data.summary_statistics.items()
            ],
            [0.4, 0.2, 0.2, 0.2],
            numeric=(1, 2, 3),
        ),
        KeepTogether(
            [
                heading("Missing values"),
                table(
                    [["Column", "Missing %"]]
                    + [[c, f"{p:.2f}"] for c, p in data.missing_percent.items()],
                    [0.6, 0.4],
                    numeric=(1,),
                ),
                Spacer(1, 0.2 * cm),
                picture("missing_history"),
            ]
        ),
        KeepTogether(
            [
                heading("Step timings"),
                table(
                    [["Step", "Seconds (latest diagnostics)"]]
                    + [[s, f"{v:.3f}"] for s, v in data.timings.items()],
                    [0.6, 0.4],
                    numeric=(1,),
                ),
                Spacer(1, 0.2 * cm),
                picture("timing_history"),
            ]
        ),
        heading("Dependencies"),
        table(
            [["Package", "Declared", "Installed", "Latest", "Outdated"]]
            + [
                [
                    r["package"],
                    r["declared"],
                    r["installed"],
                    r["latest"],
                    "yes" if r.get("outdated") else "",
                ]
                for r in data.dependencies
            ],
            [0.3, 0.175, 0.175, 0.175, 0.175],
        ),
        heading("Ingested files"),
        table([["File"]] + [[name] for name in data.ingested_files], [1.0]),
        heading("Deployments"),
        table(
            [["When (UTC)", "Version", "Previous", "F1"]]
            + [
                [
                    _when(d["created_at"]),
                    d["model_version"],
                    d.get("previous_version") or "—",
                    fmt(d.get("f1")),
                ]
                for d in data.deployments
            ],
            [0.4, 0.2, 0.2, 0.2],
            numeric=(3,),
        ),
    ]
    buffer = io.BytesIO()
    doc = SimpleDocTemplate(
        buffer,
        pagesize=A4,
        leftMargin=1.5 * cm,
        rightMargin=1.5 * cm,
        topMargin=1.5 * cm,
        bottomMargin=1.5 * cm,
        title="Model monitoring report",
        author="risk-monitoring",
    )
    doc.build(story)
    return buffer.getvalue()


# The data-drift table's columns, the same in the HTML and the PDF.
DRIFT_COLUMNS = [
    "Feature",
    "Kind",
    "Test",
    "Statistic",
    "p",
    "Corrected p",
    "Effect (std)",
    "Verdict",
]
_DRIFT_NUMERIC_COLUMNS = (3, 4, 5, 6)


def fmt_p(value: Any) -> str:
    """A p-value: four decimals, and "< 0.0001" rather than a row of zeros."""
    if isinstance(value, float | np.floating) and 0 <= value < 0.0001:
        return "< 0.0001"
    return fmt(value)


def _verdict(feature: dict[str, Any]) -> str:
    if feature.get("drift"):
        return "drift"
    if feature.get("test") == "none":
        return f"not tested: {feature.get('note', '')}"
    return "no drift"


def _drift_rows(drift: dict[str, Any]) -> list[list[str]]:
    # .get: checks stored by earlier versions have no kind or effect size.
    return [
        [
            f["feature"],
            f.get("kind", ""),
            f["test"],
            fmt(f.get("statistic")),
            fmt_p(f.get("p_value")),
            fmt_p(f.get("adjusted_p_value")),
            fmt(f.get("effect_size"), 3),
            _verdict(f),
        ]
        for f in drift["features"]
    ]


def drift_caption(drift: dict[str, Any]) -> str:
    verdict = "data drift" if drift["dataset_drift"] else "no data drift"
    rule = ""
    if "min_effect" in drift:
        rule = (
            f" A feature drifts when its corrected p-value is below {drift['p_threshold']:g} "
            f"and its effect is at least {drift['min_effect']:g} reference standard deviations;"
            f" {drift['drifted']} of {drift['tested']} tested features drifted, "
            f"{drift['needed']} needed for data drift."
        )
    notes = " ".join(f"{note}." for note in drift.get("notes", []))
    return (
        f"Latest check: {drift['current_rows']:,} new rows against {drift['reference_rows']:,} "
        f"reference rows: {verdict}.{rule} Multiple-testing correction: {drift['correction']}."
        + (f" {notes}" if notes else "")
    )


def _drift_story(drift, heading, body, table) -> list[Any]:
    from reportlab.platypus import Paragraph

    if not drift:
        return []
    return [
        heading("Data drift"),
        Paragraph(escape(drift_caption(drift)), body),
        table(
            [DRIFT_COLUMNS] + _drift_rows(drift),
            [0.17, 0.1, 0.15, 0.1, 0.1, 0.1, 0.1, 0.18],
            numeric=_DRIFT_NUMERIC_COLUMNS,
        ),
    ]


def write_reports(data: ReportData, output_dir: Path) -> dict[str, Path]:
    """confusionmatrix.png, report.html and report.pdf, each written atomically."""
    output_dir = Path(output_dir)
    images = figures(data)
    paths = {
        "confusion_matrix": output_dir / "confusionmatrix.png",
        "html": output_dir / "report.html",
        "pdf": output_dir / "report.pdf",
    }
    atomic_write(paths["confusion_matrix"], lambda tmp: tmp.write_bytes(images["confusion"]))
    atomic_write_text(paths["html"], render_html(data, images))
    pdf = render_pdf(data, images)
    atomic_write(paths["pdf"], lambda tmp: tmp.write_bytes(pdf))
    return paths
