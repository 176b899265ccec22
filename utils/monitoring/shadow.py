"""The challenger beside the champion in every monitoring chunk (deployment.strategy: shadow):
its estimated figures on the chunk's rows, its realised figures where labels arrived, and the
paired comparison with the champion on the labelled rows both answered while it was the
challenger. The comparison is kept as counts (utils.monitoring.paired.PairedCounts), so the
automation's verdict over every chunk needs no rows kept."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from utils.monitoring.estimation import (
    METRICS,
    THRESHOLD,
    Calibration,
    estimate_chunks,
    fit_calibration,
    realized_chunks,
)
from utils.monitoring.paired import PairedCounts, paired_counts, paired_test


@dataclass(frozen=True)
class ChallengerReference:
    """The challenger's own calibration on the labelled test data, for its estimates."""

    version: str
    calibration: Calibration

    @classmethod
    def build(cls, version: Any, probabilities, truth) -> ChallengerReference:
        return cls(str(version), fit_calibration(probabilities, truth))


@dataclass(frozen=True)
class ChallengerRows:
    """What the challenger said of a stream's rows, and which rows it answered as the
    challenger (logged at or after it arrived): only those are compared with the champion."""

    probabilities: np.ndarray
    judged: np.ndarray  # bool per row

    def part(self, start: int, end: int) -> ChallengerRows:
        return ChallengerRows(self.probabilities[start:end], self.judged[start:end])


def _finite_or_none(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def challenger_chunks(
    champion: np.ndarray,
    rows: ChallengerRows,
    truth: np.ndarray | None,
    reference: ChallengerReference,
    starts: np.ndarray,
) -> list[dict[str, Any]]:
    """One ``challenger`` entry per chunk (``starts``): version, estimated and realised
    figures, labelled rows, and the paired counts and test against ``champion``'s
    probabilities on the judged labelled rows."""
    estimates = estimate_chunks(rows.probabilities, reference.calibration, starts)
    ends = np.r_[starts[1:], len(rows.probabilities)]
    entries = []
    for estimate, start, end in zip(estimates, starts, ends, strict=True):
        own = slice(int(start), int(end))
        realized, labelled, counts = None, 0, PairedCounts()
        if truth is not None:
            known = ~np.isnan(truth[own])
            labelled = int(known.sum())
            if labelled:
                (figures,) = realized_chunks(
                    rows.probabilities[own][known], truth[own][known], np.array([0])
                )
                realized = {m: _finite_or_none(figures[m]) for m in METRICS}
            shared = known & rows.judged[own]
            counts = paired_counts(
                truth[own][shared].astype(int),
                (champion[own][shared] > THRESHOLD).astype(int),
                (rows.probabilities[own][shared] > THRESHOLD).astype(int),
            )
        entries.append(
            {
                "version": reference.version,
                "estimated": {m: _finite_or_none(estimate[m]) for m in METRICS},
                "realized": realized,
                "labelled_rows": labelled,
                "paired": counts.as_dict(),
                "comparison": paired_test(counts).as_dict() if counts.rows else None,
            }
        )
    return entries


def judged_counts(chunks: list[dict[str, Any]], version: str) -> PairedCounts:
    """The paired counts of every chunk's entry for challenger ``version``, added up."""
    total = PairedCounts()
    for chunk in chunks:
        entry = chunk.get("challenger") or {}
        if entry.get("version") == version and entry.get("paired"):
            total = total + PairedCounts(**entry["paired"])
    return total
