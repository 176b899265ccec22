import re
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from utils.report import ReportData, fmt, write_reports


@pytest.fixture
def report_data():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return ReportData(
        model={
            "name": "risk_model",
            "version": 3,
            "release": "r3",
            "trained_at": "t",
            "deployed_at": "d",
            "features": ["a", "b"],
            "training_rows": 12345,
        },
        metrics={
            "f1": 0.8,
            "precision": 0.75,
            "recall": 0.857,
            "roc_auc": 0.9,
            "dataset": "testdata.csv",
            "rows": 200,
        },
        confusion=np.array([[80, 20], [10, 90]]),
        roc=([0.0, 0.1, 1.0], [0.0, 0.8, 1.0]),
        f1_history=[
            {
                "created_at": start + timedelta(hours=i),
                "dataset": "testdata.csv",
                "f1": 0.7 + i / 20,
                "model_version": str(i + 1),
            }
            for i in range(3)
        ],
        drift_threshold=0.65,
        drift_method="parametric (mean - 2 std)",
        summary_statistics={"<script>alert(1)</script>": {"mean": 1.0, "median": 1.0, "std": 0.0}},
        missing_percent={"a": 0.0, "b": 5.5},
        missing_history=[{"created_at": start, "column_name": "b", "percent": 5.5}],
        timings={"data_ingestion": 0.01, "model_training": 0.02},
        timing_history=[{"created_at": start, "step": "data_ingestion", "seconds": 0.01}],
        dependencies=[
            {
                "package": "pandas",
                "declared": "3.1.1",
                "installed": "3.1.1",
                "latest": "3.2.0",
                "outdated": True,
            }
        ],
        ingested_files=["dataset1.csv", "dataset2.csv"],
        deployments=[
            {"created_at": start, "model_version": "3", "previous_version": "2", "f1": 0.8}
        ],
        data_drift={
            "features": [
                {
                    "feature": "a",
                    "test": "ks",
                    "statistic": 0.3,
                    "p_value": 0.001,
                    "adjusted_p_value": 0.002,
                    "threshold": 0.05,
                    "drift": True,
                }
            ],
            "share_drifted": 1.0,
            "dataset_drift": True,
            "correction": "holm",
            "reference_rows": 500,
            "current_rows": 400,
        },
    )


def test_html_is_self_contained_and_complete(report_data, tmp_path):
    paths = write_reports(report_data, tmp_path)
    html = paths["html"].read_text()
    sources = re.findall(r'src="([^"]*)"', html)
    assert len(sources) == 5 and all(s.startswith("data:image/png;base64,") for s in sources)
    assert "http://" not in html and "https://" not in html
    for heading in [
        "Deployed model",
        "Performance on the test data",
        "F1 history",
        "Summary statistics",
        "Missing values",
        "Step timings",
        "Dependencies",
        "Ingested files",
        "Deployments",
    ]:
        assert f">{heading}" in html
    assert "0.6500" in html and "parametric (mean - 2 std)" in html
    assert "12,345" in html and "dataset2.csv" in html and "3.2.0" in html
    assert "<script>alert(1)</script>" not in html, "data is escaped"
    assert "Multiple-testing correction: holm" in html


def test_pdf_and_confusion_matrix(report_data, tmp_path):
    paths = write_reports(report_data, tmp_path)
    pdf = paths["pdf"].read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
    assert pdf.count(b"/Type /Page\n") + pdf.count(b"/Type /Page ") >= 2
    assert paths["confusion_matrix"].read_bytes().startswith(b"\x89PNG")


def test_report_without_history(report_data, tmp_path):
    report_data.f1_history, report_data.missing_history, report_data.timing_history = [], [], []
    report_data.drift_threshold = None
    html = write_reports(report_data, tmp_path)["html"].read_text()
    assert "No drift threshold is known yet." in html


def test_fmt():
    assert fmt(None) == "—"
    assert fmt(float("nan")) == "—"
    assert fmt(1234.5) == "1,234.5000"
    assert fmt(np.float64(0.5), 2) == "0.50"
    assert fmt("v2") == "v2"
