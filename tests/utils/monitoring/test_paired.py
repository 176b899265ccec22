"""The paired F1 test: exact against a brute-force enumeration of every swap, and its edges."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.metrics import f1_score

from utils.monitoring.paired import paired_f1


def enumerated_p_value(labels, champion, challenger) -> float:
    """Every way of swapping the two models' answers on the rows where they disagree, each
    equally likely under the null: the share whose |F1 difference| reaches the observed one."""
    labels, champion, challenger = map(np.asarray, (labels, champion, challenger))

    def f1(predicted):  # by its definition, row by row (sklearn's is too slow for 1,024 swaps)
        tp = int(((predicted == 1) & (labels == 1)).sum())
        wrong = int((predicted != labels).sum())
        return 2 * tp / (2 * tp + wrong) if tp or wrong else 0.0

    def diff(a, b):
        return f1(b) - f1(a)

    observed = abs(diff(champion, challenger))
    rows = np.flatnonzero(champion != challenger)
    hits = 0
    for swaps in itertools.product((False, True), repeat=len(rows)):
        a, b = champion.copy(), challenger.copy()
        chosen = rows[list(swaps)]
        a[chosen], b[chosen] = challenger[chosen], champion[chosen]
        hits += abs(diff(a, b)) >= observed - 1e-12
    return hits / 2 ** len(rows)


@pytest.mark.parametrize("seed", range(6))
def test_the_p_value_is_the_exact_permutation_p_value(seed):
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 2, 40)
    champion = np.where(rng.random(40) < 0.7, labels, 1 - labels)
    challenger = champion.copy()
    flip = rng.choice(40, 10, replace=False)  # 10 disagreements: 1,024 swaps to enumerate
    challenger[flip] = 1 - challenger[flip]
    result = paired_f1(labels, champion, challenger)
    assert result.disagreements == 10
    assert result.p_value == pytest.approx(enumerated_p_value(labels, champion, challenger))


def test_the_f1s_are_sklearns_and_the_difference_is_the_challengers_gain():
    labels = [1, 1, 1, 0, 0, 0, 1, 0]
    champion = [1, 0, 0, 0, 1, 0, 1, 0]
    challenger = [1, 1, 0, 0, 0, 0, 1, 1]
    result = paired_f1(labels, champion, challenger)
    assert result.rows == 8
    assert result.champion_f1 == pytest.approx(f1_score(labels, champion))
    assert result.challenger_f1 == pytest.approx(f1_score(labels, challenger))
    assert result.difference == pytest.approx(result.challenger_f1 - result.champion_f1)


def test_identical_answers_are_no_difference():
    labels = [1, 0, 1, 0]
    result = paired_f1(labels, [1, 0, 0, 0], [1, 0, 0, 0])
    assert (result.difference, result.p_value, result.disagreements) == (0.0, 1.0, 0)


def test_a_clearly_better_challenger_is_significant_and_a_worse_one_negative():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 2, 2_000)
    good = np.where(rng.random(2_000) < 0.9, labels, 1 - labels)
    poor = np.where(rng.random(2_000) < 0.7, labels, 1 - labels)
    better = paired_f1(labels, poor, good)
    assert better.difference > 0.1 and better.p_value < 1e-6
    worse = paired_f1(labels, good, poor)
    assert worse.difference == pytest.approx(-better.difference)
    assert worse.p_value == pytest.approx(better.p_value)


def test_many_disagreements_are_computed_without_enumerating_them():
    rng = np.random.default_rng(2)
    labels = rng.integers(0, 2, 200_000)
    champion = rng.integers(0, 2, 200_000)
    challenger = rng.integers(0, 2, 200_000)
    result = paired_f1(labels, champion, challenger)
    assert result.disagreements > 90_000
    assert 0 < result.p_value <= 1


def test_no_rows_is_a_note_not_a_verdict():
    result = paired_f1([], [], [])
    assert result.p_value is None and result.rows == 0 and "no labelled rows" in result.note


@pytest.mark.parametrize(
    ("labels", "champion", "challenger", "message"),
    [
        ([1, 0], [1], [1, 0], "one of each per row"),
        ([1, 2], [1, 0], [1, 0], "labels must be 0 or 1"),
        ([1, 0], [1, -1], [1, 0], "champion must be 0 or 1"),
        ([1, 0], [1, 0], [3, 0], "challenger must be 0 or 1"),
    ],
)
def test_bad_input_is_refused(labels, champion, challenger, message):
    with pytest.raises(ValueError, match=message):
        paired_f1(labels, champion, challenger)


def test_counts_of_parts_add_up_to_the_counts_of_the_whole():
    from utils.monitoring.paired import PairedCounts, paired_counts, paired_test

    rng = np.random.default_rng(3)
    labels, a, b = (rng.integers(0, 2, 300) for _ in range(3))
    parts = [paired_counts(labels[i : i + 100], a[i : i + 100], b[i : i + 100])
             for i in (0, 100, 200)]  # fmt: skip
    total = sum(parts, PairedCounts())
    assert total == paired_counts(labels, a, b)
    assert paired_test(total) == paired_f1(labels, a, b)
