"""The live monitoring's figures as Prometheus families (utils/ops/monitoring_metrics.py)."""

from __future__ import annotations

import math
from datetime import datetime

import pytest
from prometheus_client.parser import text_string_to_metric_families

from conftest import CHUNK_BAND, CHUNK_FIGURES, chunk_entry
from utils.ops.monitoring_metrics import (
    FAMILIES,
    PREFIX,
    exposition_text,
    monitoring_samples,
    newest_chunks,
)

FIGURES, BAND = CHUNK_FIGURES, CHUNK_BAND
chunk = chunk_entry


def unix(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def values(samples) -> dict[tuple[str, tuple[str, ...]], float]:
    return {(name, labels): value for name, labels, value in samples}


def monitoring(*chunks: dict, **fields) -> dict:
    return {
        "model_version": 3,
        "f1_threshold": 0.79,
        "labels": {"files": ["l.csv"], "rows": 10, "matched": 7, "unmatched": 2, "duplicates": 1},
        "chunks": list(chunks),
        **fields,
    }


def test_the_newest_chunk_of_the_log_and_of_the_batches_each_give_their_figures():
    old = chunk("prediction log: 2026-12-01", "2026-12-01T10:00:00+00:00", alert=True)
    new = chunk(
        "prediction log: 2026-12-02",
        "2026-12-02T10:00:00+00:00",
        realized={"f1": 0.5, "precision": None, "recall": 0.4, "roc_auc": 0.6},
        labelled_rows=300,
        drifted_features=["a", "not-a-feature"],
        probability_drift=True,
    )
    late_batch = chunk("b.csv", "2026-12-02T12:00:00+00:00", alert=True, drifted_features=["b"])
    early_batch = chunk("a.csv", "2026-12-01T12:00:00+00:00")
    got = values(monitoring_samples(monitoring(old, new, late_batch, early_batch), ["a", "b"]))
    assert got[("model_version", ())] == 3 and got[("f1_threshold_ratio", ())] == 0.79
    assert got[("chunks", ("traffic",))] == 2 and got[("chunks", ("batch",))] == 2
    assert got[("estimated_ratio", ("traffic", "f1"))] == 0.7
    assert got[("band_lower_ratio", ("traffic", "f1"))] == 0.75
    assert got[("band_upper_ratio", ("batch", "roc_auc"))] == 1.0
    assert got[("realized_ratio", ("traffic", "f1"))] == 0.5
    assert ("realized_ratio", ("traffic", "precision")) not in got, "no figure, no sample"
    assert ("realized_ratio", ("batch", "f1")) not in got, "no labels yet"
    assert got[("alert", ("traffic",))] == 0 and got[("alert", ("batch",))] == 1
    assert got[("drifted_features", ("traffic",))] == 2
    assert got[("feature_drift", ("traffic", "a"))] == 1
    assert got[("feature_drift", ("traffic", "b"))] == 0
    assert ("feature_drift", ("traffic", "not-a-feature")) not in got, "only the model's features"
    assert got[("probability_drift", ("traffic",))] == 1
    assert got[("labelled_rows", ("traffic",))] == 300
    assert got[("chunk_end_timestamp_seconds", ("batch",))] == unix("2026-12-02T12:00:00+00:00")
    assert got[("labels", ("unmatched",))] == 2 and got[("labels", ("duplicates",))] == 1


def test_joint_drift_exports_its_verdict_auc_and_contributors_among_served_features():
    joint = {"statistic": 0.61, "p_value": 1e-9, "drift": True, "note": "",
             "contributors": ["a", 'x"} 1', "b"]}  # fmt: skip
    drifting = chunk("prediction log: 2026-12-02", "2026-12-02T10:00:00+00:00", multivariate=joint)
    untested = {"statistic": None, "p_value": None, "drift": False, "contributors": [],
                "note": "fewer than 30 rows"}  # fmt: skip
    batch = chunk("b.csv", "2026-12-02T12:00:00+00:00", multivariate=untested)
    got = values(monitoring_samples(monitoring(drifting, batch), ["a", "b", "c"]))
    assert got[("multivariate_drift", ("traffic",))] == 1
    assert got[("multivariate_auc_ratio", ("traffic",))] == 0.61
    assert got[("multivariate_contributor", ("traffic", "a"))] == 1
    assert got[("multivariate_contributor", ("traffic", "c"))] == 0
    assert not any('x"} 1' in labels for _, labels in got), "only the model's features"
    assert not any(name.startswith("multivariate") and labels == ("batch",)
                   for name, labels in got), "not tested: no verdict to export"  # fmt: skip
    assert ("multivariate_contributor", ("batch", "a")) not in got


def shadow_entry(version: str, f1: float, found: int) -> dict:
    counts = {"rows": 100, "tp": 30, "fp": 5, "fn": 5, "positives": 20, "negatives": 0,
              "found": found, "alarms": 0}  # fmt: skip
    return {"version": version, "estimated": {**FIGURES, "f1": f1},
            "realized": {"f1": f1 - 0.1}, "labelled_rows": 100, "paired": counts}  # fmt: skip


def test_the_challenger_exports_its_figures_and_the_verdicts_evidence():
    from utils.monitoring.paired import PairedCounts, paired_test

    older = chunk("prediction log: 2026-12-01", "2026-12-01T10:00:00+00:00",
                  challenger=shadow_entry("4", 0.6, 15))  # fmt: skip
    newest = chunk("prediction log: 2026-12-02", "2026-12-02T10:00:00+00:00",
                   challenger=shadow_entry("4", 0.8, 16))  # fmt: skip
    replaced = chunk("prediction log: 2026-11-30", "2026-11-30T10:00:00+00:00",
                     challenger=shadow_entry("3", 0.9, 0))  # fmt: skip
    got = values(monitoring_samples(monitoring(replaced, older, newest), ["a"]))
    assert got[("challenger_version", ())] == 4
    assert got[("challenger_estimated_ratio", ("traffic", "f1"))] == 0.8
    assert got[("challenger_realized_ratio", ("traffic", "f1"))] == pytest.approx(0.7)
    assert ("challenger_realized_ratio", ("traffic", "recall")) not in got
    # The verdict's evidence: both chunks of v4, not v3's.
    both = PairedCounts(200, 60, 10, 10, 40, 0, 31, 0)
    assert got[("challenger_compared_rows", ())] == 200
    assert got[("challenger_f1_difference", ())] == pytest.approx(paired_test(both).difference)
    assert got[("challenger_p_value", ())] == pytest.approx(paired_test(both).p_value)
    plain = values(monitoring_samples(monitoring(chunk("b.csv", "2026-12-02T12:00:00+00:00")), []))
    assert not any(name.startswith("challenger") for name, _ in plain)


def test_a_file_name_never_becomes_a_label():
    hostile = chunk('x"} 1\nrisk_api_degraded 0 #.csv', "2026-12-02T12:00:00+00:00")
    text = exposition_text(monitoring_samples(monitoring(hostile), ["a"])).decode()
    assert 'x\\"' not in text and ".csv" not in text
    sources = {
        sample.labels.get("source")
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    assert sources == {None, "traffic", "batch"}


def test_newest_batch_is_the_later_file_and_old_chunks_fall_back_to_their_end_time():
    kept = chunk("prediction log: d", None, end="2026-12-02T09:00:00+00:00")
    kept.pop("ended_at")
    same_time = [chunk(f"{n}.csv", "2026-12-02T12:00:00+00:00") for n in ("a", "b")]
    newest = newest_chunks([kept, *same_time])
    assert newest["traffic"] is kept and newest["batch"] is same_time[1]
    got = values(monitoring_samples(monitoring(kept), []))
    assert got[("chunk_end_timestamp_seconds", ("traffic",))] == unix("2026-12-02T09:00:00+00:00")


def test_no_chunks_yet_exports_only_the_model_and_the_labels():
    got = values(monitoring_samples(monitoring(), ["a"]))
    assert got[("chunks", ("traffic",))] == 0
    assert {name for name, _ in got} == {"model_version", "f1_threshold_ratio", "chunks", "labels"}


@pytest.mark.parametrize("value", [math.nan, math.inf, None, "0.7"])
def test_a_figure_that_is_not_a_finite_number_is_left_out(value):
    broken = chunk("b.csv", "2026-12-02T12:00:00+00:00", estimated={**FIGURES, "f1": value})
    got = values(monitoring_samples(monitoring(broken), []))
    assert ("estimated_ratio", ("batch", "f1")) not in got
    assert got[("estimated_ratio", ("batch", "recall"))] == 0.8


def test_exposition_follows_prometheus_conventions():
    samples = monitoring_samples(
        monitoring(chunk("prediction log: d", "2026-12-02T10:00:00+00:00")), ["a"]
    )
    families = {
        f.name: f for f in text_string_to_metric_families(exposition_text(samples).decode())
    }
    declared = {PREFIX + f.name: f for f in FAMILIES}
    assert set(families) <= set(declared)
    for name, family in families.items():
        assert family.type == "gauge" and family.documentation
        assert not name.endswith("_total"), "gauges are not counters"
        for sample in family.samples:
            assert set(sample.labels) == set(declared[name].labels)


def test_readme_table_names_every_family():
    import re

    from conftest import ROOT

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text[text.index("| `risk_monitoring_") : text.index("The automation writes each run")]
    listed = re.findall(r"`risk_monitoring_(\w+)`", table)
    assert sorted(listed) == sorted(family.name for family in FAMILIES)
