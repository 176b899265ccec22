"""Every branch of the automation's decisions, as tables."""

from __future__ import annotations

import pytest

from utils.automation.decisions import (
    Action,
    ChallengerFacts,
    ChallengerPolicy,
    ChallengerVerdict,
    Facts,
    Policy,
    comparison_data,
    decide,
    deploy_candidate,
    input_folders,
    judge_challenger,
)

A = Action
# (facts, policy, action, reasons)
DECISIONS = [
    # An interrupted run is finished before anything else is looked at.
    (Facts(interrupted=True, new_files=True, score_drift=True), Policy(force=True),
     A.FINISH_INTERRUPTED, ()),
    (Facts(interrupted=True), Policy(dry_run=True), A.FINISH_INTERRUPTED, ()),
    # Nothing new.
    (Facts(), Policy(), A.NOTHING, ()),
    (Facts(deployed=False), Policy(), A.NOTHING, ()),
    (Facts(), Policy(retrain_on_data_drift=True), A.NOTHING, ()),
    # First deployment: new data (or --force) and no model yet.
    (Facts(new_files=True, deployed=False), Policy(), A.FIRST_DEPLOYMENT, ()),
    (Facts(deployed=False), Policy(force=True), A.FIRST_DEPLOYMENT, ()),
    # New data, no drift: ingest and keep.
    (Facts(new_files=True), Policy(), A.INGEST_ONLY, ()),
    # Data drift retrains only when retrain_on_data_drift says so.
    (Facts(new_files=True, data_drift=True), Policy(), A.INGEST_ONLY, ()),
    (Facts(new_files=True, data_drift=True), Policy(retrain_on_data_drift=True),
     A.RETRAIN, ("data drift",)),
    # Score drift always retrains.
    (Facts(new_files=True, score_drift=True), Policy(), A.RETRAIN, ("score drift",)),
    (Facts(new_files=True, score_drift=True, data_drift=True),
     Policy(retrain_on_data_drift=True), A.RETRAIN, ("score drift", "data drift")),
    # --force retrains, with or without new data.
    (Facts(), Policy(force=True), A.RETRAIN, ("forced",)),
    (Facts(new_files=True, score_drift=True), Policy(force=True), A.RETRAIN,
     ("forced", "score drift")),
]  # fmt: skip


@pytest.mark.parametrize(("facts", "policy", "action", "reasons"), DECISIONS)
@pytest.mark.parametrize("dry_run", [False, True])
def test_decide(facts, policy, action, reasons, dry_run):
    policy = Policy(policy.force, dry_run, policy.retrain_on_data_drift)
    decision = decide(facts, policy)
    assert (decision.action, decision.reasons, decision.dry_run) == (action, reasons, dry_run)


def test_every_action_is_reached():
    assert {row[2] for row in DECISIONS} == set(Action)


@pytest.mark.parametrize(
    ("candidate", "deployed", "force", "deploy"),
    [
        (0.8, 0.7, False, True),
        (0.7, 0.7, False, True),  # as good is good enough: the newer data wins
        (0.6, 0.7, False, False),
        (0.6, 0.7, True, True),
    ],
)
def test_deploy_candidate(candidate, deployed, force, deploy):
    assert deploy_candidate(candidate, deployed, force) is deploy


@pytest.mark.parametrize(
    ("mode", "folders"),
    [("append", "/in/a,/in/b,/src"), ("replace", "/src")],
)
def test_input_folders(mode, folders):
    assert input_folders(mode, ["/in/a", "/in/b"], ["/src"]) == folders


def test_input_folders_with_labelled_traffic():
    new = ["/src", "/traffic"]
    assert input_folders("append", ["/in/a"], new) == "/in/a,/src,/traffic"
    assert input_folders("replace", ["/in/a"], new) == "/src,/traffic"


@pytest.mark.parametrize(
    ("compare_on", "has_new", "sets"),
    [
        ("test", True, ("test",)),
        ("test", False, ("test",)),
        ("test_and_new", True, ("test", "new")),
        ("test_and_new", False, ("test",)),  # --force without new data
    ],
)
def test_comparison_data(compare_on, has_new, sets):
    assert comparison_data(compare_on, has_new) == sets


V, C = ChallengerVerdict, ChallengerFacts
RULE = ChallengerPolicy(min_labelled_rows=200, p_threshold=0.05, max_age_days=14)
# (facts, verdict, words in the reason)
CHALLENGES = [
    # Before labels: estimates never promote; waiting, until too old.
    (C(age_days=1), V.WAIT, "0 of 200 labelled rows"),
    (C(age_days=14), V.WAIT, "0 of 200"),
    (C(age_days=14.01), V.REJECT, "no verdict within 14 days"),
    # Labelled rows exactly at the minimum count; one short does not.
    (C(1, 200, 0.05, 0.001), V.PROMOTE, "+0.0500 against the champion on 200 labelled rows"),
    (C(1, 199, 0.05, 0.001), V.WAIT, "199 of 200 labelled rows"),
    (C(1, 199, -0.05, 0.001), V.WAIT, "199 of 200"),
    (C(15, 199, 0.05, 0.001), V.REJECT, "no verdict within 14 days (199 labelled rows)"),
    # Significance: below p_threshold, not at it.
    (C(1, 500, 0.02, 0.0499), V.PROMOTE, "p 0.0499 < 0.05"),
    (C(1, 500, 0.02, 0.05), V.WAIT, "not significant (p 0.05)"),
    (C(1, 500, -0.02, 0.0499), V.REJECT, "-0.0200 against the champion"),
    (C(1, 500, -0.02, 0.05), V.WAIT, "-0.0200"),
    # A verdict that came is taken, however old the challenger.
    (C(30, 500, 0.02, 0.01), V.PROMOTE, "against the champion"),
    (C(30, 500, -0.02, 0.01), V.REJECT, "against the champion"),
    (C(30, 500, 0.02, 0.2), V.REJECT, "no verdict within 14 days (500 labelled rows, p 0.2)"),
    # Enough rows but no comparison (labels without the challenger's answers).
    (C(1, 500), V.WAIT, "no paired comparison yet"),
    (C(1, 500, 0.0, 0.0), V.WAIT, "not significant"),
]


@pytest.mark.parametrize(("facts", "verdict", "reason"), CHALLENGES)
def test_judge_challenger(facts, verdict, reason):
    decision = judge_challenger(facts, RULE)
    assert decision.verdict is verdict
    assert reason in decision.reason


def test_every_challenger_verdict_is_reached():
    assert {judge_challenger(f, RULE).verdict for f, *_ in CHALLENGES} == set(ChallengerVerdict)
