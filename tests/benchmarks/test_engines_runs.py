"""benchmarks/engines.py's choice of Spark runs and its growth figures, without Spark."""

from __future__ import annotations

import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

from engines import floor_name, growth_of, spark_runs  # noqa: E402


@pytest.mark.parametrize(
    ("cores", "master", "runs"),
    [
        ([], "local[*]", {"spark": "local[*]"}),
        ([2], "local[*]", {"spark": "local[2]"}),
        ([1, 2], "local[*]", {"spark": "local[2]", "spark_1": "local[1]"}),
        ([4, 1, 4], "ignored", {"spark": "local[4]", "spark_1": "local[1]"}),
    ],
)
def test_the_most_cores_run_is_the_one_the_ratios_use(cores, master, runs):
    assert spark_runs(cores, master) == runs
    assert [floor_name(name) for name in runs] == [name.replace("spark", "floor") for name in runs]


def test_growth_is_extra_seconds_per_extra_million_between_successive_sizes():
    results = {
        1_000_000: {"spark": {"ingest_s": 10.0, "score_s": 5.0}},
        3_000_000: {"spark": {"ingest_s": 20.0, "score_s": 6.0}},
        10_000_000: {"spark": {"ingest_s": 55.0, "score_s": 13.0}},
    }
    sizes = sorted(results)
    assert growth_of(results, sizes, "spark", ("ingest",)) == [5.0, 5.0]
    assert growth_of(results, sizes, "spark") == [5.5, 6.0]
