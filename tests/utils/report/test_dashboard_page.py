"""The dashboard page from facts (utils/report/dashboard.py, utils/report/timeline.py)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from conftest import chunk_entry
from utils.report.dashboard import DashboardData, chunk_points, markers, render_dashboard
from utils.report.timeline import MIN_SPAN, ChunkPoint, Marker, time_range

T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)
FIGURES = {"f1": 0.8, "precision": 0.8, "recall": 0.8, "roc_auc": 0.9}


def chunk(source: str, start: datetime, end: datetime, **fields) -> dict:
    return chunk_entry(
        source, end.isoformat(), start=start.isoformat(), end=end.isoformat(),
        **{"estimated": FIGURES, **fields},
    )  # fmt: skip


def monitoring() -> dict:
    hour = timedelta(hours=1)
    return {
        "model_version": 2,
        "f1_threshold": 0.79,
        "labels": {"matched": 300, "unmatched": 0},
        "chunks": [
            chunk("prediction log: a", T0, T0 + hour),
            chunk(
                "prediction log: b",
                T0 + hour,
                T0 + 2 * hour,
                realized={**FIGURES, "f1": 0.6},
                labelled_rows=300,
                challenger={
                    "version": "3",
                    "estimated": {"f1": 0.82},
                    "realized": {"f1": 0.7},
                    "comparison": {"difference": 0.1, "rows": 300, "p_value": 0.01},
                },
            ),  # fmt: skip
            chunk(
                "prediction log: c",
                T0 + 2 * hour,
                T0 + 3 * hour,
                estimated={**FIGURES, "f1": 0.7},
                alert=True,
                alert_reasons=["estimated F1 below the threshold 0.7900"],
                drifted_features=["a"],
                probability_drift=True,
                multivariate={
                    "statistic": 0.7,
                    "p_value": 1e-9,
                    "drift": True,
                    "contributors": ["a", "b"],
                    "note": "",
                },
            ),  # fmt: skip
            {**chunk("<script>alert(1)</script>.csv", T0, T0), "start": 0, "end": 999},
        ],
    }


def page(**overrides) -> str:
    facts = {
        "health": {"status": "ok", "model_version": 2, "release": "r2"},
        "model": {"version": 2, "release": "r2", "f1": 0.8, "trained_at": "t", "deployed_at": "d"},
        "features": ["a", "b"],
        "monitoring": monitoring(),
        "deployments": [
            {
                "created_at": T0 - timedelta(hours=1),
                "model_version": "1",
                "f1": 0.8,
                "how": "deployed",
            },
            {
                "created_at": T0 + timedelta(minutes=90),
                "model_version": "2",
                "f1": 0.81,
                "how": "deployed",
            },
            {
                "created_at": T0 + timedelta(minutes=150),
                "model_version": "1",
                "f1": 0.8,
                "how": "rolled back",
            },
        ],  # fmt: skip
        **overrides,
    }
    return render_dashboard(DashboardData(**facts))


def svg(html: str, chart_id: str) -> str:
    start = html.index(f'<svg id="{chart_id}"')
    return html[start : html.index("</svg>", start)]


def test_the_performance_chart_has_every_series_and_the_deployments():
    chart = svg(page(), "chart-performance")
    gids = ["chunk-bands", "band", "estimated-f1", "estimated-f1-batches", "realized-f1", "alerts",
            "threshold", "performance-deployment-0", "performance-rollback-2",
            "challenger-estimated-f1", "challenger-realized-f1"]  # fmt: skip
    for gid in gids:
        assert f'id="{gid}' in chart, gid
    assert chart.count('id="performance-deployment-') == 2
    assert chart.count('id="performance-rollback-') == 1
    assert "rollback to v1" in chart and "threshold 0.790" in chart
    assert "challenger: realised F1" in chart
    table = page()[page().index('<table id="chunks">') :]
    assert "<th>Challenger</th>" in table and "F1 +0.100 against the champion on 300 rows" in table


def test_without_a_challenger_the_chart_has_no_challenger_series():
    plain = monitoring()
    for entry in plain["chunks"]:
        entry.pop("challenger", None)
    chart = svg(page(monitoring=plain), "chart-performance")
    assert "challenger" not in chart


def test_the_drift_chart_has_a_row_per_feature_the_joint_test_and_the_probabilities():
    chart = svg(page(), "chart-drift")
    for label in [">a<", ">b<", ">all features jointly<", ">probabilities<"]:
        assert label in chart
    assert 'id="drift' in chart and 'id="no-drift' in chart
    html = page()
    table = html[html.index('<table id="chunks">') :]
    assert "<th>Joint drift</th>" in table and "drift (AUC 0.700; a, b)" in table


def test_a_chunk_without_a_joint_verdict_gets_no_joint_mark():
    base = chunk("prediction log: a", T0, T0 + timedelta(hours=1))
    tested = {"statistic": 0.5, "p_value": 0.5, "drift": False, "contributors": [], "note": ""}
    untested = {**tested, "statistic": None, "note": "fewer than 30 rows"}
    verdicts = [
        ChunkPoint.from_chunk({**base, **extra}, traffic=True).joint_drift
        for extra in [{}, {"multivariate": None}, {"multivariate": untested},
                      {"multivariate": tested}, {"multivariate": {**tested, "drift": True}}]
    ]  # fmt: skip
    assert verdicts == [None, None, None, False, True]


def test_the_volume_chart_has_traffic_and_batches():
    chart = svg(page(), "chart-volume")
    assert 'id="traffic-volume' in chart and 'id="batch-volume' in chart


def test_the_page_shows_the_model_and_health_now_and_escapes_what_came_from_outside():
    html = page(
        health={"status": "degraded", "refused_release": "r3<b>", "refused_because": "sha256"}
    )
    assert 'id="health">degraded<' in html and 'id="model-version">v2<' in html
    assert "Release r3&lt;b&gt; was refused: sha256" in html
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;.csv" in html
    links = re.findall(r'(?:href|src)="([^"]*)"', html)
    assert links and not [link for link in links if "//" in link or link.startswith("/")], links
    assert "<metadata>" not in html
    rows = re.findall(r"<tr><td>(\d{4}-[^<]*)</td><td>([^<]*)</td>", html)
    assert [how for _, how in rows] == ["rolled back", "deployed", "deployed"], "newest first"


def test_before_any_monitoring_the_page_says_so():
    html = page(monitoring=None, deployments=[], notes=["monitoring.json: no live monitoring yet"])
    assert "no chunk monitored yet" in html and "none recorded" in html
    assert "monitoring.json: no live monitoring yet" in html
    for chart_id in ["chart-performance", "chart-drift", "chart-volume"]:
        assert f'<svg id="{chart_id}"' in html


def test_a_chunk_without_a_time_is_left_off_the_axis_and_markers_need_a_time():
    kept = {**chunk("b.csv", T0, T0), "start": 0, "end": 9}
    kept.pop("ended_at")
    assert chunk_points({"chunks": [kept]}) == []
    assert markers([{"created_at": None, "model_version": "1"}]) == []
    (marker,) = markers([{"created_at": T0.isoformat(), "model_version": "3", "how": "deployed"}])
    assert marker == Marker(T0, "v3", False)


def test_the_time_axis_is_at_least_an_hour_and_holds_every_point():
    moment = ChunkPoint.from_chunk(chunk("prediction log: x", T0, T0), True)
    low, high = time_range([moment], [])
    assert high - low >= MIN_SPAN and low < T0 < high
    low, high = time_range([moment], [Marker(T0 + timedelta(days=2), "v2")])
    assert low < T0 and high > T0 + timedelta(days=2)
    assert high - low < timedelta(days=2, hours=3), "a margin, not a day"
