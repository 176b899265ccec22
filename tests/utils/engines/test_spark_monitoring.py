"""Live monitoring's chunks computed by Spark's executors (local[2]): every entry is the one
the local engine writes, for each kind of stream."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import needs_spark
from utils.monitoring.chunks import Reference, Stream, monitor_stream
from utils.monitoring.shadow import ChallengerReference, ChallengerRows

pytestmark = needs_spark
SETTINGS = {"p_threshold": 0.05, "min_effect": 0.1}


def population(rows, shift, seed):
    rng = np.random.default_rng(seed)
    x = pd.DataFrame({"a": rng.normal(shift, 1.0, rows), "b": rng.normal(0.0, 1.0, rows)})
    p = 1 / (1 + np.exp(-(2 * x["a"] + x["b"])))
    return x, p.to_numpy(), (rng.random(rows) < p).astype(float)


def challenger_says(x: pd.DataFrame) -> np.ndarray:
    """A challenger (deployment.strategy: shadow) that weighs the features otherwise."""
    return (1 / (1 + np.exp(-(1.5 * x["a"] + 1.5 * x["b"])))).to_numpy()


@pytest.fixture(scope="module")
def reference():
    x, p, y = population(5000, 0.0, 1)
    return Reference.build(p, y, x, ChallengerReference.build("2", challenger_says(x), y))


def streams():
    x, p, y = population(2300, -0.8, 2)
    times = pd.Series(pd.date_range("2026-11-01", periods=2300, freq="2min", tz="UTC"))
    segments = pd.Series([f"s{i // 500}" for i in range(2300)])
    versions = pd.Series(["1"] * 1200 + ["2"] * 1100)
    truth = np.where(np.arange(2300) % 3 == 0, y, np.nan)
    batch_x, batch_p, _ = population(1100, 0.0, 3)
    # The challenger arrived at row 1,000: it is compared on the labelled rows from there.
    shadow = ChallengerRows(challenger_says(x), np.arange(2300) >= 1000)
    return [
        Stream("log", x, p, times, segments, truth, versions, challenger=shadow),
        Stream("batch.csv", batch_x, batch_p),
    ]


@pytest.mark.parametrize(("chunk_rows", "period"), [(500, None), (5000, "1d")])
def test_chunks_on_spark_are_the_local_ones(spark, reference, chunk_rows, period):
    from utils.engines.spark_monitoring import monitor_on_spark

    local = [
        chunk
        for stream in streams()
        for chunk in monitor_stream(stream, reference, chunk_rows, period, 0.7, SETTINGS)
    ]
    remote = monitor_on_spark(spark, streams(), reference, chunk_rows, period, 0.7, SETTINGS)
    assert remote == local
    assert len(local) > 3 and any(chunk["alert"] for chunk in local)
    assert any(c.get("challenger", {}).get("comparison") for c in local)
    assert [c["start"] for c in local if c["source"] == "batch.csv"][-1] == (
        1000 if chunk_rows == 500 else 0
    )


def test_no_stream_no_chunk(spark, reference):
    from utils.engines.spark_monitoring import monitor_on_spark

    assert monitor_on_spark(spark, [], reference, 500, None, None, {}) == []


def test_fullprocess_monitors_on_the_configured_engine(spark, reference):
    from conftest import ROOT
    from utils.automation.monitor import monitor_all
    from utils.config import load_project_config

    spark_engine = ["compute.engine=spark", "compute.spark_master='local[2]'"]
    chunks = {
        engine: monitor_all(load_project_config(ROOT, overrides), streams(), reference, 0.7)
        for engine, overrides in (("local", []), ("spark", spark_engine))
    }
    assert chunks["spark"] == chunks["local"] and len(chunks["local"]) == 2


def test_a_chunk_of_a_stream_cuts_every_per_row_field():
    """A field added to Stream that chunk_of forgets to cut would give an executor every row."""
    import dataclasses

    from utils.engines.spark_monitoring import chunk_of

    (log, _) = streams()
    part = chunk_of(log, 100, 400)
    per_row = [f.name for f in dataclasses.fields(Stream) if f.name not in ("source", "handed_in")]
    for name in per_row:
        value = getattr(part, name)
        rows = value.probabilities if isinstance(value, ChallengerRows) else value
        assert len(rows) == 300, name
