"""Two models judged on the same labelled rows: the champion's and the challenger's F1, their
difference, and an exact paired test of it.

The test is the paired permutation test of the F1 difference: under "the two models are equally
good on this traffic", which model gave which answer on a row is a coin toss. Rows where both
answer the same cannot change the difference, so only the rows where they disagree matter, and
those fall in two groups: positives (one model finds it, the other misses it) and negatives (one
raises a false alarm, the other does not). Under the null hypothesis the number of positives
the challenger finds is Binomial(m1, 1/2) and the number of false alarms it raises
Binomial(m0, 1/2), independently, and F1 depends on nothing else. So the null distribution of
the difference is a sum over a (m1 + 1) x (m0 + 1) grid, computed exactly: no random draws, the
same data gives the same p-value, and it is valid at every number of rows (a bootstrap is not,
on few rows). McNemar's test asks the same question of accuracy; this one asks it of F1, the
figure the promotion rule compares.
"""

from __future__ import annotations

from dataclasses import asdict, astuple, dataclass
from typing import Any

import numpy as np

# The grid is cut to where each binomial has mass above this; what is cut is added to the
# p-value, so a large grid only makes it (negligibly) conservative.
TAIL = 1e-12
# Floating-point differences this close count as equal (ties go to the null, as they must).
TIE = 1e-12


@dataclass(frozen=True)
class PairedComparison:
    rows: int  # labelled rows both models answered
    champion_f1: float | None
    challenger_f1: float | None
    difference: float | None  # challenger's F1 minus the champion's
    p_value: float | None  # two-sided
    disagreements: int  # rows where the two predicted different classes
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _f1(tp, fp, fn):
    """F1 from counts (arrays welcome); 0 where there is no positive at all."""
    tp, fp, fn = (np.asarray(x, dtype=float) for x in (tp, fp, fn))
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(denominator), where=denominator > 0)


def _support(trials: int) -> tuple[np.ndarray, np.ndarray, float]:
    """The values of Binomial(trials, 1/2) that carry mass above TAIL, their probabilities, and
    the mass left out."""
    from scipy.stats import binom

    low, high = binom.ppf(TAIL, trials, 0.5), binom.isf(TAIL, trials, 0.5)
    values = np.arange(int(max(low, 0)), int(min(high, trials)) + 1)
    mass = binom.pmf(values, trials, 0.5)
    return values, mass, max(0.0, 1.0 - float(mass.sum()))


@dataclass(frozen=True)
class PairedCounts:
    """What the test needs of the rows, and nothing else: so the counts of chunks add up to
    the counts of all their rows, and a verdict over many chunks needs no rows kept."""

    rows: int = 0
    # The counts both models share, on the rows where they agree.
    tp: int = 0
    fp: int = 0
    fn: int = 0
    positives: int = 0  # disagreements on a positive row: one finds it, the other misses it
    negatives: int = 0  # disagreements on a negative row: one raises a false alarm
    found: int = 0  # of those positives, found by the challenger
    alarms: int = 0  # of those negatives, raised by the challenger

    def __add__(self, other: PairedCounts) -> PairedCounts:
        return PairedCounts(*(a + b for a, b in zip(astuple(self), astuple(other), strict=True)))

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


def paired_counts(labels, champion, challenger) -> PairedCounts:
    """The counts of the two models' predicted classes (0/1) on the same rows with their
    labels; ValueError for rows that do not pair up or values that are not 0 or 1."""
    y = np.asarray(labels, dtype=int)
    a = np.asarray(champion, dtype=int)
    b = np.asarray(challenger, dtype=int)
    if not len(y) == len(a) == len(b):
        raise ValueError(
            f"paired comparison: {len(y)} labels, {len(a)} champion and {len(b)} challenger "
            "predictions: one of each per row"
        )
    for name, values in (("labels", y), ("champion", a), ("challenger", b)):
        if len(values) and not np.isin(values, (0, 1)).all():
            raise ValueError(f"paired comparison: {name} must be 0 or 1")
    same = a == b
    positives = ~same & (y == 1)
    negatives = ~same & (y == 0)
    return PairedCounts(
        rows=len(y),
        tp=int((same & (a == 1) & (y == 1)).sum()),
        fp=int((same & (a == 1) & (y == 0)).sum()),
        fn=int((same & (a == 0) & (y == 1)).sum()),
        positives=int(positives.sum()),
        negatives=int(negatives.sum()),
        found=int((positives & (b == 1)).sum()),
        alarms=int((negatives & (b == 1)).sum()),
    )


def paired_test(counts: PairedCounts) -> PairedComparison:
    """Both F1s, their difference and its exact two-sided p-value (see the module's docstring)."""
    if not counts.rows:
        return PairedComparison(0, None, None, None, None, 0, "no labelled rows in common")
    tp, fp, fn = counts.tp, counts.fp, counts.fn
    m1, m0 = counts.positives, counts.negatives

    def difference(k1, k0):
        challenger_f1 = _f1(tp + k1, fp + k0, fn + m1 - k1)
        champion_f1 = _f1(tp + m1 - k1, fp + m0 - k0, fn + k1)
        return challenger_f1 - champion_f1

    observed = float(difference(counts.found, counts.alarms))
    k1, p1, cut1 = _support(m1)
    k0, p0, cut0 = _support(m0)
    grid = difference(k1[:, None], k0[None, :])
    extreme = np.abs(grid) >= abs(observed) - TIE
    p_value = float((p1[:, None] * p0[None, :])[extreme].sum()) + cut1 + cut0
    found, alarms = counts.found, counts.alarms
    return PairedComparison(
        rows=counts.rows,
        champion_f1=float(_f1(tp + m1 - found, fp + m0 - alarms, fn + found)),
        challenger_f1=float(_f1(tp + found, fp + alarms, fn + m1 - found)),
        difference=observed,
        p_value=min(1.0, p_value),
        disagreements=m1 + m0,
    )


def paired_f1(labels, champion, challenger) -> PairedComparison:
    """Compare the two models' predicted classes (0/1) on the same rows with their labels."""
    return paired_test(paired_counts(labels, champion, challenger))
