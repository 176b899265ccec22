import re
import sys
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from utils.monitoring.drift import data_drift
from utils.monitoring.multivariate import multivariate_drift
from utils.report.html import (
    ReportData,
    deployment_rows,
    fmt,
    fmt_p,
    joint_caption,
    joint_cell,
    write_reports,
)


def drift_payload() -> dict:
    """A real check: "a" moved by one std, "b" too short to test, "c<&>" unchanged."""
    grid = np.linspace(-2, 2, 400)
    reference = pd.DataFrame({"a": grid, "b": grid, "c<&>": grid})
    current = pd.DataFrame({"a": grid + 1.0, "b": [np.nan] * 395 + [0.0] * 5, "c<&>": grid})
    return data_drift(reference, current, ["a", "b", "c<&>"]).as_dict()


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
        ingested_files=["dataset1.csv", "a<b&c.csv", "R&D.csv"],
        deployments=[
            {"created_at": start, "model_version": "3", "previous_version": "2", "f1": 0.8}
        ],
        data_drift=drift_payload(),
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
    assert "12,345" in html and "a&lt;b&amp;c.csv" in html and "3.2.0" in html
    assert "<script>alert(1)</script>" not in html, "data is escaped"
    assert "Multiple-testing correction: holm" in html


def test_drift_table_shows_significance_effect_and_verdict_of_each_feature(report_data, tmp_path):
    html = write_reports(report_data, tmp_path)["html"].read_text()
    section = html[html.index(">Data drift<") : html.index(">Summary statistics")]
    for column in ["Kind", "Corrected p", "Effect (std)"]:
        assert f"<th>{column}</th>" in section
    assert "&lt; 0.0001" in section, "a tiny p-value is shown as such, not as 0.0000"
    assert "c&lt;&amp;&gt;" in section and "c<&>" not in section
    assert "not tested: too few rows to tell" in section
    assert "1 of 2 tested features drifted, 1 needed for data drift" in section
    assert "b: too few rows to tell" in section
    a_row = section[section.index("<td>a</td>") :].split("</tr>")[0]
    assert "<td>ks</td>" in a_row and '<td class="warn">drift<' in a_row


def decoupled() -> tuple[pd.DataFrame, pd.DataFrame]:
    """ "x" and "y" move together in the reference and not in the current rows; each one's
    distribution is the same in both."""
    rng = np.random.default_rng(0)
    z = rng.normal(size=(2, 2000))
    reference = pd.DataFrame({"x": z[0], "y": 0.9 * z[0] + np.sqrt(1 - 0.81) * z[1]})
    return reference, pd.DataFrame({"x": rng.normal(size=2000), "y": rng.normal(size=2000)})


def test_the_drift_section_says_what_the_joint_test_found_and_where_to_look(report_data, tmp_path):
    reference, current = decoupled()
    report_data.data_drift["multivariate"] = multivariate_drift(
        reference, current, ["x", "y"]
    ).as_dict()
    html = write_reports(report_data, tmp_path)["html"].read_text()
    section = html[html.index(">Data drift<") : html.index(">Summary statistics")]
    assert "The features&#39; joint distribution drifts" in section
    assert "AUC lost when each is shuffled: x (" in section or "shuffled: y (" in section


@pytest.mark.parametrize(
    ("joint", "expected"),
    [
        (None, ""),
        ({"statistic": None, "note": "fewer than 30 rows"}, "not tested: fewer than 30 rows."),
        ({"statistic": 0.51, "p_value": 0.3, "drifted": False, "p_threshold": 0.05,
          "min_auc": 0.55, "contributors": []}, "does not drift"),
        ({"statistic": 0.7, "p_value": 1e-9, "drifted": True, "p_threshold": 0.05,
          "min_auc": 0.55, "contributors": [["x", 0.12]]}, "shuffled: x (0.120)."),
    ],
)  # fmt: skip
def test_joint_caption_of_every_outcome(joint, expected):
    caption = joint_caption(joint)
    assert expected in caption and (caption == "") == (joint is None)


@pytest.mark.parametrize(
    ("joint", "expected"),
    [
        (None, "—"),
        ({"statistic": None, "drift": False, "note": "drift.multivariate off"},
         "not tested: drift.multivariate off"),
        ({"statistic": 0.5012, "drift": False, "contributors": []}, "no (AUC 0.501)"),
        ({"statistic": 0.7, "drift": True, "contributors": ["x", "y"]}, "drift (AUC 0.700; x, y)"),
    ],
)  # fmt: skip
def test_a_chunks_joint_drift_cell(joint, expected):
    assert joint_cell(joint) == expected


def test_a_drift_check_stored_by_an_earlier_version_still_renders(report_data, tmp_path):
    report_data.data_drift = {
        "features": [
            {"feature": "a", "test": "ks", "statistic": 0.3, "p_value": 0.001,
             "adjusted_p_value": 0.002, "threshold": 0.05, "drift": True}
        ],
        "share_drifted": 1.0,
        "dataset_drift": True,
        "correction": "holm",
        "reference_rows": 500,
        "current_rows": 400,
    }  # fmt: skip
    paths = write_reports(report_data, tmp_path)
    assert "<td>a</td>" in paths["html"].read_text()
    assert paths["pdf"].read_bytes().startswith(b"%PDF-")


def test_pdf_and_confusion_matrix(report_data, tmp_path):
    paths = write_reports(report_data, tmp_path)
    pdf = paths["pdf"].read_bytes()
    assert pdf.startswith(b"%PDF-") and pdf.rstrip().endswith(b"%%EOF")
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
    assert fmt_p(1e-9) == "< 0.0001"
    assert fmt_p(0.01234) == "0.0123"
    assert fmt_p(None) == "—"


def cell_texts(html: str) -> list[str]:
    """The text of every table cell and list item of an HTML page."""
    from html.parser import HTMLParser

    class Cells(HTMLParser):
        def __init__(self):
            super().__init__()
            self.cells, self.depth = [], 0

        def handle_starttag(self, tag, attrs):
            if tag in ("td", "th", "li"):
                self.cells.append("")
                self.depth += 1

        def handle_endtag(self, tag):
            if tag in ("td", "th", "li"):
                self.depth -= 1

        def handle_data(self, data):
            if self.depth:
                self.cells[-1] += data

    parser = Cells()
    parser.feed(html)
    return [c.strip() for c in parser.cells if c.strip()]


def test_the_pdf_holds_every_cell_of_the_html_as_written(report_data, tmp_path):
    """One template: each table cell and list item of the HTML page is in the PDF's text,
    names with <, & and > as written (no markup leaks, no entity shows)."""
    import shutil
    import subprocess

    if not shutil.which("pdftotext"):
        pytest.skip("pdftotext (Debian's poppler-utils, installed by setup_tools.sh) is missing")
    paths = write_reports(report_data, tmp_path)
    html = paths["html"].read_text()
    text = subprocess.run(
        ["pdftotext", str(paths["pdf"]), "-"], capture_output=True, text=True, check=True
    ).stdout
    squeezed = re.sub(r"\s+", "", text)
    cells = cell_texts(html)
    assert "a<b&c.csv" in cells and "R&D.csv" in cells and "<script>alert(1)</script>" in cells
    missing = [c for c in cells if re.sub(r"\s+", "", c) not in squeezed]
    assert missing == []
    assert "R&D;" not in text and "&amp;" not in text


@pytest.mark.parametrize(
    ("names", "labels"),
    [(None, ("0", "1")), (("stayed", "exited"), ("0 (stayed)", "1 (exited)"))],
)
def test_class_names_come_from_the_configuration(report_data, tmp_path, names, labels):
    report_data.class_names = names
    html = write_reports(report_data, tmp_path)["html"].read_text()
    cells = cell_texts(html)
    assert cells[cells.index("True class \\ predicted") + 1 :][:2] == list(labels)
    assert ("stayed" in html) is (names is not None)


def test_unknown_latest_versions_are_not_called_up_to_date(report_data, tmp_path):
    report_data.dependencies = [
        {"package": p, "declared": "1", "installed": "1", "latest": "unknown", "outdated": False}
        for p in ("pandas", "numpy")
    ]
    html = write_reports(report_data, tmp_path)["html"].read_text()
    assert "2 of 2 with an unknown latest version" in html and "All up to date" not in html
    report_data.dependencies[0]["latest"] = report_data.dependencies[1]["latest"] = "1"
    html = write_reports(report_data, tmp_path)["html"].read_text()
    assert "All up to date" in html and "unknown latest" not in html


def test_live_traffic_section_shows_estimates_realised_figures_and_alerts(report_data, tmp_path):
    from conftest import write_monitoring

    monitoring = write_monitoring(tmp_path)
    monitoring["chunks"][0]["realized"] = {"f1": 0.6543, "precision": 0.5, "recall": 0.9,
                                           "roc_auc": 0.8}  # fmt: skip
    monitoring["chunks"][1].update(alert=True, alert_reasons=["estimated F1 outside its band"])
    monitoring["chunks"][2]["multivariate"] = {"statistic": 0.66, "p_value": 1e-12, "drift": True,
                                               "contributors": ["a<&>"], "note": ""}  # fmt: skip
    monitoring["chunks"][2]["challenger"] = {
        "version": "5", "estimated": {"f1": 0.71}, "realized": {"f1": 0.69},
        "comparison": {"difference": 0.0312, "rows": 1200, "p_value": 0.004},
    }  # fmt: skip
    monitoring["chunks"][1]["challenger"] = {"version": "5", "estimated": {"f1": 0.7},
                                             "realized": None, "comparison": None}  # fmt: skip
    monitoring["labels"] = {"matched": 1000, "unmatched": 3}
    monitoring.update(chunk_rows=1000, f1_threshold=0.5)
    report_data.monitoring = monitoring
    html = write_reports(report_data, tmp_path)["html"].read_text()
    section = html[html.index(">Live traffic<") : html.index(">Summary statistics")]
    assert "1000 matched" in section and "3 unmatched" in section
    assert "1 of 3 chunk(s) alert" in section
    cells = cell_texts(section)
    assert "0.6543" in cells and "estimated F1 outside its band" in cells
    assert cells[cells.index("Alert") + 1] == "log", "newest chunk first"
    assert "drift (AUC 0.660; a<&>)" in cells and "Joint drift" in cells
    # The challenger beside the champion, on the same chunk's rows.
    assert (
        "v5: est. 0.7100, real. 0.6900; F1 +0.031 against the champion on 1,200 rows (p "
        "0.0040)" in cells
    )
    # The oldest chunk (shown last) had no challenger: its joint and challenger cells are dashes.
    assert cells[cells.index("0.6543") :][2:4] == ["—", "—"]
    assert "Challenger" in cells and "v5: est. 0.7000" in cells
    without = ReportData(**{**report_data.__dict__, "monitoring": None})
    assert ">Live traffic<" not in write_reports(without, tmp_path)["html"].read_text()


def test_deployments_and_rollbacks_are_one_history(report_data, tmp_path):
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    deployed = [
        {"created_at": t0, "model_version": "1", "previous_version": None, "f1": 0.7},
        {"created_at": t0 + timedelta(days=1), "model_version": "2", "previous_version": "1",
         "f1": 0.8},
    ]  # fmt: skip
    rolled = {"created_at": t0 + timedelta(days=2),
              "payload": {"from_version": "2", "to_version": "1", "f1": 0.7}}  # fmt: skip
    rows = deployment_rows(deployed, [rolled])
    assert [(r["how"], r["model_version"], r["previous_version"]) for r in rows] == [
        ("deployed", "1", None), ("deployed", "2", "1"), ("rolled back", "1", "2"),
    ]  # fmt: skip
    report_data.deployments = rows
    html = write_reports(report_data, tmp_path)["html"].read_text()
    assert re.search(r"<td>rolled back</td><td>1</td><td>2</td>", html)


def test_without_pango_the_html_is_written_and_the_pdf_skipped_with_one_warning(
    report_data, tmp_path, monkeypatch, caplog, capsys
):
    """WeasyPrint loads Pango through cffi when it is imported; a machine without it gets the
    whole HTML report, no PDF (an earlier one removed), and one line saying how to install it."""
    import cffi

    def missing(self, name, *args, **kwargs):
        raise OSError(f"cannot load library {name!r}: no such file")

    for name in [m for m in sys.modules if m == "weasyprint" or m.startswith("weasyprint.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setattr(cffi.FFI, "dlopen", missing)
    (tmp_path / "report.pdf").write_bytes(b"%PDF- of an earlier model")
    paths = write_reports(report_data, tmp_path)
    assert set(paths) == {"confusion_matrix", "html"}
    assert ">Deployed model" in (tmp_path / "report.html").read_text()
    assert not (tmp_path / "report.pdf").exists()
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "setup_tools.sh pango" in warnings[0]
    assert "libgobject" in warnings[0] and "\n" not in warnings[0]
    assert capsys.readouterr().out == "", "WeasyPrint's banner does not reach stdout"


def test_the_distributions_section_flags_the_drifted_features(report_data, tmp_path):
    from utils.report.distributions import Distributions

    rng = np.random.default_rng(0)
    reference = pd.DataFrame({"a": rng.normal(size=300), "b<i>": rng.normal(size=300)})
    recent = pd.DataFrame({"a": rng.normal(2, 1, 100), "b<i>": rng.normal(size=100),
                           "probability": rng.random(100)})  # fmt: skip
    report_data.distributions = Distributions(
        reference, recent, "newest batch chunk (100 rows)", ["a", "b<i>"], frozenset({"b<i>"}),
        [10] * 20,
    )  # fmt: skip
    html = write_reports(report_data, tmp_path)["html"].read_text()
    section = html[html.index(">Distributions<") : html.index(">Summary statistics")]
    assert "newest batch chunk (100 rows)" in section
    assert '<span class="warn">b&lt;i&gt;</span>' in section
    assert len(re.findall(r'src="data:image/png;base64,', section)) == 2
    report_data.distributions = Distributions(reference, None, "", ["a"], frozenset(), [10] * 20)
    html = write_reports(report_data, tmp_path)["html"].read_text()
    assert "No monitored rows yet" in html
