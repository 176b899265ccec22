"""The challenger's entry in every monitoring chunk (utils/monitoring/shadow.py)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from conftest import ROOT
from utils.config import load_project_config
from utils.monitoring.chunks import Reference, Stream, monitor_stream
from utils.monitoring.estimation import realized_chunks
from utils.monitoring.paired import PairedCounts, paired_counts, paired_test
from utils.monitoring.shadow import ChallengerReference, ChallengerRows, judged_counts


@pytest.fixture
def shadowed():
    rng = np.random.default_rng(0)
    rows = 600
    truth = (rng.random(rows) < 0.4).astype(float)
    champion = np.clip(truth * 0.3 + rng.random(rows) * 0.6, 0, 1)
    challenger = np.clip(truth * 0.5 + rng.random(rows) * 0.5, 0, 1)
    labels = truth.copy()
    labels[::3] = np.nan  # a third of the labels never came
    judged = np.arange(rows) >= 100  # the challenger arrived at row 100
    test_truth = (rng.random(400) < 0.4).astype(float)
    reference = Reference.build(
        np.clip(test_truth * 0.3 + rng.random(400) * 0.6, 0, 1), test_truth,
        pd.DataFrame({"x": rng.normal(size=400)}),
        ChallengerReference.build("7", np.clip(test_truth * 0.5 + rng.random(400) * 0.5, 0, 1),
                                  test_truth),
    )  # fmt: skip
    stream = Stream(
        "log", pd.DataFrame({"x": rng.normal(size=rows)}), champion, truth=labels,
        challenger=ChallengerRows(challenger, judged),
    )  # fmt: skip
    drift = load_project_config(ROOT, []).drift.as_dict()
    return stream, reference, drift, labels, champion, challenger, judged


def test_every_chunk_carries_the_challengers_figures_on_the_same_rows(shadowed):
    stream, reference, drift, labels, champion, challenger, judged = shadowed
    chunks = monitor_stream(stream, reference, 200, None, None, drift)
    assert len(chunks) == 3
    for i, chunk in enumerate(chunks):
        own = slice(200 * i, 200 * (i + 1))
        entry = chunk["challenger"]
        known = ~np.isnan(labels[own])
        assert entry["version"] == "7" and entry["labelled_rows"] == int(known.sum())
        (realized,) = realized_chunks(challenger[own][known], labels[own][known], np.array([0]))
        assert entry["realized"]["f1"] == pytest.approx(realized["f1"])
        shared = known & judged[own]
        expected = paired_counts(
            labels[own][shared].astype(int), (champion[own][shared] > 0.5).astype(int),
            (challenger[own][shared] > 0.5).astype(int),
        )  # fmt: skip
        assert entry["paired"] == expected.as_dict()
        assert entry["comparison"] == paired_test(expected).as_dict()
        assert 0 <= entry["estimated"]["f1"] <= 1
    # Only rows answered as the challenger count: the first chunk has 100 of its 200.
    assert chunks[0]["challenger"]["paired"]["rows"] < chunks[1]["challenger"]["paired"]["rows"]


def test_the_verdict_adds_up_the_chunks_of_one_challenger(shadowed):
    stream, reference, drift, labels, champion, challenger, judged = shadowed
    chunks = monitor_stream(stream, reference, 200, None, None, drift)
    shared = ~np.isnan(labels) & judged
    whole = paired_counts(
        labels[shared].astype(int), (champion[shared] > 0.5).astype(int),
        (challenger[shared] > 0.5).astype(int),
    )  # fmt: skip
    assert judged_counts(chunks, "7") == whole
    assert judged_counts(chunks, "8") == PairedCounts()  # another challenger's chunks: none


def test_without_a_challenger_a_chunk_has_no_entry(shadowed):
    stream, reference, drift, *_ = shadowed
    plain = Stream(stream.source, stream.features, stream.probabilities, truth=stream.truth)
    chunks = monitor_stream(plain, reference, 200, None, None, drift)
    assert all("challenger" not in chunk for chunk in chunks)
