"""The automation's decisions, as pure functions: facts and settings in, what to do out.

fullprocess.py reads (source files, the journal, the deployment), assesses (score and data
drift on the new files), asks these functions, then acts. Nothing here touches a file, so a
table-driven test covers every branch (tests/utils/test_decisions.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Action(StrEnum):
    FINISH_INTERRUPTED = "finish the interrupted run"
    NOTHING = "nothing new"
    FIRST_DEPLOYMENT = "train and deploy a first model"
    INGEST_ONLY = "ingest the new data and keep the model"
    RETRAIN = "ingest, retrain, and redeploy if the new model is at least as good"


class Outcome(StrEnum):
    """How a run that acted ended; recorded in the store with each decision."""

    FIRST_DEPLOYMENT = "first deployment"
    NO_DRIFT = "no drift"
    KEPT = "kept"
    IDENTICAL = "identical"
    REDEPLOYED = "redeployed"
    # deployment.strategy shadow: the retrained model answers beside the deployed one.
    CHALLENGER = "challenger deployed"


@dataclass(frozen=True)
class Facts:
    """What the read and assess phases found."""

    interrupted: bool = False  # the journal holds a run that did not finish
    new_files: bool = False
    deployed: bool = True  # a model is deployed
    score_drift: bool = False  # on the new files (False when there are none)
    data_drift: bool = False


@dataclass(frozen=True)
class Policy:
    """What the configuration and the command line ask for."""

    force: bool = False
    dry_run: bool = False
    retrain_on_data_drift: bool = False


@dataclass(frozen=True)
class Decision:
    action: Action
    reasons: tuple[str, ...] = ()
    # Say what would be done instead of doing it.
    dry_run: bool = False


def decide(facts: Facts, policy: Policy) -> Decision:
    """The one decision of an automation run."""
    if facts.interrupted:
        action, reasons = Action.FINISH_INTERRUPTED, ()
    elif not facts.new_files and not policy.force:
        action, reasons = Action.NOTHING, ()
    elif not facts.deployed:
        action, reasons = Action.FIRST_DEPLOYMENT, ()
    else:
        reasons = tuple(
            reason
            for reason, holds in (
                ("forced", policy.force),
                ("score drift", facts.score_drift),
                ("data drift", facts.data_drift and policy.retrain_on_data_drift),
            )
            if holds
        )
        action = Action.RETRAIN if reasons else Action.INGEST_ONLY
    return Decision(action, reasons, policy.dry_run)


def deploy_candidate(candidate_f1: float, deployed_f1: float, force: bool) -> bool:
    """Whether the retrained model replaces the deployed one: when it scores at least as well
    on the comparison data, or always when forced."""
    return force or candidate_f1 >= deployed_f1


def input_folders(mode: str, configured: list[str], new_data: list[str]) -> str:
    """The folders ingestion reads (comma-separated): ``append`` adds the folders of new data
    (the source folder, and the labelled traffic's once it holds a file) to the configured
    input folders, ``replace`` reads those alone."""
    if mode == "replace":
        return ",".join(new_data)
    return ",".join([*configured, *new_data])


def comparison_data(compare_on: str, has_new_data: bool) -> tuple[str, ...]:
    """The data sets the candidate and the deployed model are compared on."""
    if compare_on == "test_and_new" and has_new_data:
        return ("test", "new")
    return ("test",)


class ChallengerVerdict(StrEnum):
    PROMOTE = "promote"
    REJECT = "reject"
    WAIT = "wait"


@dataclass(frozen=True)
class ChallengerFacts:
    """What the monitoring found about a challenger beside the champion on live traffic."""

    age_days: float  # since the challenger arrived
    labelled_rows: int = 0  # rows both models answered whose labels arrived
    difference: float | None = None  # realised F1, challenger minus champion, on those rows
    p_value: float | None = None  # the paired test of that difference


@dataclass(frozen=True)
class ChallengerPolicy:
    """deployment.challenger in config.yaml."""

    min_labelled_rows: int
    p_threshold: float
    max_age_days: float


@dataclass(frozen=True)
class ChallengerDecision:
    verdict: ChallengerVerdict
    reason: str


def judge_challenger(facts: ChallengerFacts, policy: ChallengerPolicy) -> ChallengerDecision:
    """Promote a challenger only on realised F1 (labels), significantly better on enough shared
    rows; reject it when significantly worse or when no verdict came in time; else wait.
    Estimates before labels never promote: they are shown and may alert, no more."""
    enough = facts.labelled_rows >= policy.min_labelled_rows
    tested = enough and facts.difference is not None and facts.p_value is not None
    if tested and facts.p_value < policy.p_threshold and facts.difference != 0:
        better = facts.difference > 0
        return ChallengerDecision(
            ChallengerVerdict.PROMOTE if better else ChallengerVerdict.REJECT,
            f"realised F1 {'+' if better else ''}{facts.difference:.4f} against the champion "
            f"on {facts.labelled_rows} labelled rows (p {facts.p_value:.3g} < "
            f"{policy.p_threshold})",
        )
    if facts.age_days > policy.max_age_days:
        return ChallengerDecision(
            ChallengerVerdict.REJECT,
            f"no verdict within {policy.max_age_days:g} days "
            f"({facts.labelled_rows} labelled rows"
            + (f", p {facts.p_value:.3g}" if tested else "")
            + ")",
        )
    if not enough:
        reason = f"{facts.labelled_rows} of {policy.min_labelled_rows} labelled rows so far"
    elif not tested:
        reason = "no paired comparison yet"
    else:
        reason = (
            f"realised F1 {facts.difference:+.4f} on {facts.labelled_rows} labelled rows, "
            f"not significant (p {facts.p_value:.3g})"
        )
    return ChallengerDecision(ChallengerVerdict.WAIT, reason)
