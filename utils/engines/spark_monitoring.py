"""Live monitoring's per-chunk work on Spark's executors (config ``compute.engine: spark``).

Each chunk (its estimated figures, band, realised figures and the drift tests of every
feature and of the probabilities, the costly part) is computed by an executor with
utils.monitoring.chunks's own function on the chunk's rows alone, so every entry is the one the
local engine writes. The rows are read and scored on the driver, as with the local engine;
the reference (with its calibration) goes to every executor once, as a broadcast.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from utils.monitoring.chunks import Reference, Stream, chunk_starts, monitor_stream

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def _part(series: Any, start: int, end: int) -> Any:
    return None if series is None else series.iloc[start:end].reset_index(drop=True)


def chunk_of(stream: Stream, start: int, end: int) -> Stream:
    """The rows ``start:end`` of ``stream`` as a stream of their own: every per-row field cut
    (tests/utils/engines/test_spark_monitoring.py checks that none is left whole)."""
    return replace(
        stream,
        features=stream.features.iloc[start:end].reset_index(drop=True),
        probabilities=stream.probabilities[start:end],
        times=_part(stream.times, start, end),
        sources=_part(stream.sources, start, end),
        truth=None if stream.truth is None else stream.truth[start:end],
        versions=_part(stream.versions, start, end),
        challenger=None if stream.challenger is None else stream.challenger.part(start, end),
    )


def one_chunk(
    stream: Stream,
    offset: int,
    reference: Reference,
    f1_threshold: float | None,
    drift_settings: dict[str, Any],
) -> dict[str, Any]:
    """monitor_stream's entry for a stream that is one chunk, starting at row ``offset`` of
    its whole stream (where rows have no times, a chunk's start and end are row numbers)."""
    (entry,) = monitor_stream(
        stream, reference, len(stream.probabilities), None, f1_threshold, drift_settings
    )
    if stream.times is None:
        entry["start"] += offset
        entry["end"] += offset
    return entry


def monitor_on_spark(
    spark: SparkSession,
    streams: list[Stream],
    reference: Reference,
    chunk_rows: int,
    chunk_period: str | None,
    f1_threshold: float | None,
    drift_settings: dict[str, Any],
) -> list[dict[str, Any]]:
    """Every stream's chunks, in order, as ``monitor_stream`` gives them, computed by the
    executors one chunk per task."""
    jobs = []
    for stream in streams:
        starts = chunk_starts(stream, chunk_rows, chunk_period)
        ends = np.r_[starts[1:], len(stream.probabilities)]
        jobs += [
            (len(jobs) + i, chunk_of(stream, int(a), int(b)), int(a))
            for i, (a, b) in enumerate(zip(starts, ends, strict=True))
        ]
    if not jobs:
        return []
    context = spark.sparkContext
    shared = context.broadcast(reference)
    threshold, settings = f1_threshold, dict(drift_settings)

    def compute(job: tuple[int, Stream, int]) -> tuple[int, dict[str, Any]]:
        index, chunk, offset = job
        return index, one_chunk(chunk, offset, shared.value, threshold, settings)

    try:
        done = context.parallelize(jobs, min(len(jobs), context.defaultParallelism * 4))
        results = dict(done.map(compute).collect())
    finally:
        shared.unpersist()
    return [results[i] for i in range(len(jobs))]
