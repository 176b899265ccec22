"""The monitoring report a person reads: one self-contained HTML file and a PDF.

Both are built from one ``ReportData``: the deployed model's manifest, its metrics on the test
data, the latest diagnostics, and the history in the monitoring store.
"""

from __future__ import annotations

import base64
import contextlib
import io
import logging
import math
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from utils import layout
from utils.errors import first_line
from utils.files import atomic_write_bytes, atomic_write_text
from utils.report.diagnostics import UNKNOWN
from utils.report.distributions import Distributions, features_png, probabilities_png
from utils.report.figures import (
    confusion_matrix_png,
    f1_history_png,
    monitoring_png,
    roc_curve_png,
    series_history_png,
)

METRIC_LABELS = {"f1": "F1", "precision": "Precision", "recall": "Recall", "roc_auc": "ROC AUC"}
_TEMPLATES = Path(__file__).parent / "templates"
log = logging.getLogger(__name__)


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
    # The latest data drift check of the automation (DataDrift.as_dict()), if any.
    data_drift: dict[str, Any] | None = None
    # models/monitoring.json of the automation's live monitoring, if written yet.
    monitoring: dict[str, Any] | None = None
    # Each feature and the probabilities, trained-on or test data against the newest chunk.
    distributions: Distributions | None = None
    # The target's classes 0 and 1 as people call them (config data.class_names).
    class_names: tuple[str, str] | None = None
    generated_at: str = field(
        default_factory=lambda: datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S")
    )


def deployment_rows(
    deployments: list[dict[str, Any]], rollbacks: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """The store's deployments and rollback events as one history, oldest first."""
    rows = [{**d, "how": "deployed"} for d in deployments]
    for event in rollbacks:
        payload = event["payload"]
        rows.append(
            {
                "created_at": event["created_at"],
                "model_version": payload.get("to_version"),
                "previous_version": payload.get("from_version"),
                "f1": payload.get("f1"),
                "how": "rolled back",
            }
        )
    return sorted(rows, key=lambda row: row["created_at"])


def fmt(value: Any, digits: int = 4) -> str:
    """A number for people: fixed digits, thousands separators, and '—' for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float | np.floating):
        return f"{value:,.{digits}f}"
    return str(value)


def class_labels(names: tuple[str, str] | None) -> tuple[str, str]:
    """The labels of classes 0 and 1: the values themselves, with their names when given."""
    if not names:
        return ("0", "1")
    return (f"0 ({names[0]})", f"1 ({names[1]})")


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if isinstance(value, datetime) else str(value)


def figures(data: ReportData) -> dict[str, bytes]:
    """Every picture of the report, as PNG bytes."""
    images = _figures(data)
    if data.distributions is not None:
        images["feature_distributions"] = features_png(data.distributions)
        images["probability_distributions"] = probabilities_png(data.distributions)
    if data.monitoring:
        images["monitoring"] = monitoring_png(
            data.monitoring.get("chunks", []), data.monitoring.get("f1_threshold")
        )
    return images


def _figures(data: ReportData) -> dict[str, bytes]:
    title = (
        f"Model v{data.model.get('version')} on {data.metrics.get('dataset')} "
        f"({int(data.metrics.get('rows', 0)):,} rows)"
    )
    return {
        "confusion": confusion_matrix_png(data.confusion, title, class_labels(data.class_names)),
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
        class_labels=class_labels(data.class_names),
        confusion=[[int(count) for count in row] for row in data.confusion],
        images={name: base64.b64encode(png).decode("ascii") for name, png in images.items()},
        drift_threshold=data.drift_threshold,
        drift_method=data.drift_method,
        f1_count=len(data.f1_history),
        summary_statistics=data.summary_statistics,
        missing_percent=data.missing_percent,
        timings=data.timings,
        dependencies=data.dependencies,
        outdated=[row for row in data.dependencies if row.get("outdated")],
        unknown=[row for row in data.dependencies if row.get("latest") == UNKNOWN],
        unknown_mark=UNKNOWN,
        ingested_files=data.ingested_files,
        deployments=[{**d, "created_at": _when(d["created_at"])} for d in data.deployments],
        data_drift=data.data_drift,
        monitoring=data.monitoring,
        distributions=data.distributions,
        drifted_shown=(
            [f for f in data.distributions.features if f in data.distributions.drifted]
            if data.distributions
            else []
        ),
        monitoring_rows=monitoring_rows(data.monitoring) if data.monitoring else [],
        drift_caption=drift_caption(data.data_drift) if data.data_drift else "",
        drift_rows=_drift_rows(data.data_drift) if data.data_drift else [],
        drift_columns=DRIFT_COLUMNS,
        joint_caption=joint_caption((data.data_drift or {}).get("multivariate")),
        monitoring_columns=MONITORING_COLUMNS,
        monitoring_numeric_columns=MONITORING_NUMERIC_COLUMNS,
        drift_numeric_columns=_DRIFT_NUMERIC_COLUMNS,
        fmt=fmt,
    )


def render_pdf(html: str) -> bytes:
    """The HTML report laid out on A4 pages by WeasyPrint: the same template, so the two cannot
    disagree (its @page and print rules are in the template)."""
    # Without its system libraries WeasyPrint prints a banner to stdout before it raises:
    # standard output is for the pipeline's results, the warning says it in one line.
    with contextlib.redirect_stdout(io.StringIO()):
        import weasyprint

    return weasyprint.HTML(string=html).write_pdf()


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


MONITORING_ROWS_SHOWN = 20
# The chunk table's columns, the same in the report and on the dashboard; the alert is last.
MONITORING_COLUMNS = [
    "Source",
    "Rows",
    "Estimated F1",
    "Band",
    "Realised F1",
    "Drifted features",
    "Joint drift",
    "Challenger",
    "Alert",
]
MONITORING_NUMERIC_COLUMNS = (1, 2, 4)


def joint_cell(joint: dict[str, Any] | None) -> str:
    """A chunk's multivariate verdict in a few words: with its AUC and, when it drifts, the
    features that moved it most."""
    if not joint:
        return "—"  # turned off, or a chunk kept from before the joint test
    if joint.get("statistic") is None:
        return f"not tested: {joint.get('note', '')}"
    auc = f"AUC {fmt(joint['statistic'], 3)}"
    if not joint.get("drift"):
        return f"no ({auc})"
    return f"drift ({auc}; {', '.join(joint.get('contributors') or ())})"


def challenger_cell(entry: dict[str, Any] | None) -> str:
    """The challenger beside the champion on a chunk's rows (deployment.strategy: shadow):
    its F1 estimated and realised, and the paired comparison where labels allow one."""
    if not entry:
        return "—"
    realized = entry.get("realized") or {}
    text = f"v{entry.get('version')}: est. {fmt((entry.get('estimated') or {}).get('f1'))}"
    if realized.get("f1") is not None:
        text += f", real. {fmt(realized['f1'])}"
    compared = entry.get("comparison")
    if compared and compared.get("difference") is not None:
        text += (
            f"; F1 {compared['difference']:+.3f} against the champion on {compared['rows']:,}"
            f" rows (p {fmt_p(compared['p_value'])})"
        )
    return text


def monitoring_rows(monitoring: dict[str, Any]) -> list[list[str]]:
    """The newest chunks, newest first, one cell per MONITORING_COLUMNS."""
    rows = []
    for chunk in reversed(monitoring.get("chunks", [])[-MONITORING_ROWS_SHOWN:]):
        low, high = chunk["band"]["f1"]
        realized = chunk.get("realized")
        rows.append(
            [
                str(chunk["source"]),
                f"{chunk['rows']:,}",
                fmt(chunk["estimated"]["f1"]),
                f"{fmt(low, 3)} – {fmt(high, 3)}",
                fmt(realized["f1"]) if realized else "—",
                ", ".join(chunk["drifted_features"]) or "none",
                joint_cell(chunk.get("multivariate")),
                challenger_cell(chunk.get("challenger")),
                "; ".join(chunk.get("alert_reasons", [])) if chunk["alert"] else "",
            ]
        )
    return rows


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


def joint_caption(joint: dict[str, Any] | None) -> str:
    """The latest check's multivariate test (MultivariateDrift.as_dict()), in a sentence."""
    if not joint:
        return ""
    if joint.get("statistic") is None:
        return f"The joint distribution was not tested: {joint.get('note', '')}."
    verdict = "drifts" if joint["drifted"] else "does not drift"
    top = ", ".join(f"{name} ({fmt(lost, 3)})" for name, lost in joint.get("contributors") or ())
    return (
        f"The features' joint distribution {verdict}: a classifier tells the new rows from the"
        f" reference with a held-out AUC of {fmt(joint['statistic'], 3)} (p"
        f" {fmt_p(joint['p_value'])}, corrected with the features' tests"
        f" {fmt_p(joint.get('adjusted_p_value'))}; drift needs the corrected p below"
        f" {joint['p_threshold']:g} and an AUC of at least {joint['min_auc']:g}). This catches"
        " features that change how they move"
        " together while each one alone looks the same."
        + (f" AUC lost when each is shuffled: {top}." if joint["drifted"] and top else "")
    )


# What a machine without Pango is told: WeasyPrint cannot lay out text without it.
NO_PANGO = (
    "%s skipped: WeasyPrint needs Pango (%s); install it with ./setup_tools.sh pango (Debian:"
    " apt-get install libpango-1.0-0 libpangoft2-1.0-0), the HTML report is complete"
)


def _pdf_or_none(html: str) -> bytes | None:
    """The PDF, or None where WeasyPrint's system libraries are missing: the import fails
    with an OSError naming the library it could not load."""
    try:
        return render_pdf(html)
    except OSError as err:
        log.warning(NO_PANGO, layout.REPORT_PDF, first_line(err))
        return None


def write_reports(data: ReportData, output_dir: Path) -> dict[str, Path]:
    """confusionmatrix.png, report.html and report.pdf, each written atomically; the HTML
    before the PDF, so that a machine without Pango still gets a whole report. Without it the
    PDF is left out (and an earlier run's removed: it would describe another model)."""
    output_dir = Path(output_dir)
    images = figures(data)
    paths = {
        "confusion_matrix": output_dir / layout.CONFUSION_MATRIX,
        "html": output_dir / layout.REPORT_HTML,
        "pdf": output_dir / layout.REPORT_PDF,
    }
    atomic_write_bytes(paths["confusion_matrix"], images["confusion"])
    html = render_html(data, images)
    atomic_write_text(paths["html"], html)
    pdf = _pdf_or_none(html)
    if pdf is None:
        paths.pop("pdf").unlink(missing_ok=True)
    else:
        atomic_write_bytes(paths["pdf"], pdf)
    return paths
