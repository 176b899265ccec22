"""Every benchmark at a tiny size, so that none of them rots: each runs to the end and prints
its JSON summary with the keys its issue names. Figures are not checked: speed and quality are
measured by running the benchmarks themselves, never asserted in tests."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import needs_spark

pytestmark = pytest.mark.benchmark
ROOT = Path(__file__).resolve().parents[2]


def run_benchmark(name: str, *args: str) -> dict:
    done = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / name), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_drift_quality(tmp_path):
    summary = run_benchmark(
        "drift_quality.py", "--trials", "2", "--big-trials", "2", "--max-rows", "20000"
    )
    for key in [
        "max_familywise_false_alarm",
        "min_detection_0_2_sigma_10k",
        "max_flag_rate_0_05_sigma_100k",
        "trials",
    ]:
        assert key in summary
    assert summary["trials"] == 2


def test_drift_against_evidently():
    summary = run_benchmark("drift.py", "--rows", "3000", "--columns", "4", "--shifted", "2")
    assert {"speedup", "same_verdicts", "differing_columns", "fullprocess_no_new_data_s"} <= set(
        summary
    )


def test_ingestion(tmp_path):
    summary = run_benchmark(
        "ingestion.py", "--rows", "4000", "--files", "2", "--repeat", "1", "--cache", str(tmp_path)
    )
    assert summary["same_rows"] is True
    assert {"speedup", "memory_ratio"} <= set(summary)


def test_pipeline(tmp_path):
    summary = run_benchmark(
        "pipeline.py", "--rows", "2000", "--files", "2", "--cache", str(tmp_path)
    )
    assert summary["rows"] == [2000]
    assert "fullprocess_no_new_data" in summary["seconds"]


@pytest.mark.skipif(not shutil.which("wrk"), reason="wrk is not installed (apt-get install wrk)")
def test_api():
    summary = run_benchmark("api.py", "--seconds", "1", "--rounds", "1")
    assert {
        "single_row_ratio", "batch_ratio", "p99_ms", "logging_ratio", "metrics_ratio",
        "shadow_ratio", "shadow_p99_ratio", "ceiling_ratio", "ceiling_rps", "loaded_ceiling_ratio",
    } <= set(summary)  # fmt: skip
    assert summary["errors"] == 0
    # The shadow server's challenger answered every row its log holds.
    assert summary["shadow_rows_scored"] == 1.0


def test_pipeline_overhead_floor():
    summary = run_benchmark("pipeline.py", "--demo", "--repeats", "1")
    assert {"floor_ratio", "bare_ratio", "demo_s", "noop_steps_s", "bare_steps_s"} <= set(summary)


def test_estimation_against_nannyml():
    summary = run_benchmark("estimation.py", "--rows", "20000", "--chunk", "5000")
    assert {"mae_ours", "mae_nannyml", "speedup", "chunks"} <= set(summary)
    assert summary["chunks"] == 4


def test_multivariate_against_nannyml():
    # --large 0 leaves out the timing: NannyML's domain classifier takes a minute at 2,000 rows.
    summary = run_benchmark(
        "multivariate.py", "--trials", "2", "--big-trials", "1", "--nannyml-trials", "1",
        "--large", "0",
    )  # fmt: skip
    assert {
        "max_false_alarm", "power_corr_break_2k", "nannyml_power_corr_break_2k", "speedup", "trials"
    } <= set(summary)  # fmt: skip
    assert summary["trials"] == 2


@needs_spark
def test_engines(tmp_path):
    summary = run_benchmark(
        "engines.py", "--rows", "3000", "--files", "2", "--cores", "2",
        "--cache", str(tmp_path),
    )  # fmt: skip
    assert {
        "rows", "local_s", "spark_s", "same_results", "spark_floor_s", "ingest_floor_ratio",
        "score_floor_ratio",
    } <= set(summary)  # fmt: skip
    assert summary["same_results"] is True
    # The engine and its plain-Spark floor ran (more core counts: test_engines_runs.py).
    assert summary["spark_masters"] == {"spark": "local[2]"}
    assert {"local", "spark", "floor"} <= set(summary["peak_mib"])


def test_hostile_requests():
    summary = run_benchmark("hostile.py", "--mb", "0.2", "--idle", "50", "--repeat", "1")
    assert {"max_body_s", "worst_shape", "health_idle_s", "health_s", "one_row_s"} <= set(summary)
    assert summary["idle_sockets"] == 50
