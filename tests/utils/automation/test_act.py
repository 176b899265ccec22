"""An automation run killed at any boundary between its actions is finished by the next run:
the decision is recorded once, each step runs to completion, and nothing is assessed again."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from utils.automation import act
from utils.automation.sources import Journal


class Killed(BaseException):
    """Stands for kill -9: nothing after it in this run happens."""


class FakeActions:
    def __init__(
        self, kill_at: int | None, candidate_f1: float, deployed_after: list[str],
        shadow: bool = False,
    ):  # fmt: skip
        self.shadow = shadow  # deployment.strategy: the model deploys as the challenger
        self.config = SimpleNamespace(automation=SimpleNamespace(compare_on="test_and_new"))
        self.kill_at, self.calls = kill_at, 0
        self.log: list[tuple] = []
        self.candidate_f1 = candidate_f1
        self.deployed_after = deployed_after  # shared: what the world looks like

    def _boundary(self) -> None:
        if self.kill_at is not None and self.calls == self.kill_at:
            raise Killed
        self.calls += 1

    def run(self, steps, input_dir):
        self._boundary()
        self.log.append(("run", tuple(steps)))
        self.deployed_after.extend(steps)

    def compare(self, file_paths):
        self._boundary()
        self.log.append(("compare",))
        return {"candidate_f1": self.candidate_f1, "deployed_f1": 0.7}

    def trained_model_is_deployed(self):
        return "model_deployment" in self.deployed_after

    def deployed_version(self):
        return 2 if "model_deployment" in self.deployed_after and not self.shadow else 1

    def challenger_version(self):
        return 2 if "model_deployment" in self.deployed_after and self.shadow else None

    def new_test_f1(self):
        return 0.8

    def record(self, payload, version):
        self._boundary()
        self.log.append(("record", payload["outcome"], version))


def state(retrain: bool) -> dict:
    return {
        "started_at": "t",
        "files": [{"name": "new.csv", "sha256": "x"}],
        "file_paths": ["/src/new.csv"],
        "input_dir": "in",
        "retrain": retrain,
        "force": False,
        "reasons": ["score drift"] if retrain else [],
        "version": 1,
        "summary": "checks; ",
        "done": [],
    }


INGEST, RETRAIN = ("data_ingestion",), ("model_training", "model_scoring")
REDEPLOY = ("model_deployment", "diagnostics", "reporting")
REPORT = REDEPLOY[1:]
# (retrain, candidate F1, the uninterrupted run's actions[, shadow])
SCENARIOS = {
    "no-drift": (False, 0.0, [("run", INGEST), ("run", REPORT), ("record", "no drift", 1)]),
    "kept": (
        True,
        0.5,
        [("run", INGEST), ("run", RETRAIN), ("compare",), ("run", REPORT), ("record", "kept", 1)],
    ),
    "redeployed": (
        True,
        0.9,
        [("run", INGEST), ("run", RETRAIN), ("compare",), ("run", REDEPLOY),
         ("record", "redeployed", 2)],
    ),
    "challenger": (
        True,
        0.9,
        [("run", INGEST), ("run", RETRAIN), ("compare",), ("run", REDEPLOY),
         ("record", "challenger deployed", 2)],
        True,
    ),
}  # fmt: skip


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_a_run_killed_at_any_boundary_is_finished_by_the_next(tmp_path, scenario):
    retrain, candidate, uninterrupted, *shadow = SCENARIOS[scenario]
    shadow = bool(shadow)
    for kill_at in range(len(uninterrupted)):
        journal = Journal(tmp_path / f"journal-{kill_at}.json")
        world: list[str] = []
        first = FakeActions(kill_at, candidate, world, shadow)
        initial = state(retrain)
        journal.write(initial)
        with pytest.raises(Killed):
            act.finish(initial, journal, first)
        resumed_state = journal.read()
        assert resumed_state is not None, "the journal survives the kill"
        second = FakeActions(None, candidate, world, shadow)
        summary = act.finish(resumed_state, journal, second)
        assert journal.read() is None, "the finished run clears the journal"
        done = first.log + second.log
        assert [a for a in done if a[0] == "record"] == [uninterrupted[-1]], "recorded once"
        assert done == uninterrupted, (kill_at, done)
        assert summary.startswith("checks; ")


def test_a_redeploy_killed_after_deployment_runs_only_what_remains(tmp_path):
    """The deployment step had finished (the retrained model is live) when the run died: the
    next run does not deploy again but runs diagnostics and the report."""
    journal = Journal(tmp_path / "journal.json")
    interrupted = {**state(True), "done": ["ingest", "retrain", "compare"]}
    interrupted.update(candidate_f1=0.9, deployed_f1=0.7)
    journal.write(interrupted)
    world = ["model_deployment"]
    actions = FakeActions(None, 0.9, world)
    summary = act.finish(journal.read(), journal, actions)
    assert actions.log == [
        ("run", ("diagnostics", "reporting")),
        ("record", "redeployed", 2),
    ]
    assert "redeployed v1 -> v2" in summary


def test_in_the_shadow_a_deployed_challenger_is_not_deployed_again(tmp_path):
    journal = Journal(tmp_path / "journal.json")
    interrupted = {**state(True), "done": ["ingest", "retrain", "compare"]}
    interrupted.update(candidate_f1=0.9, deployed_f1=0.7, challenger_before=None)
    journal.write(interrupted)
    actions = FakeActions(None, 0.9, ["model_deployment"], shadow=True)
    summary = act.finish(journal.read(), journal, actions)
    assert actions.log == [
        ("run", ("diagnostics", "reporting")),
        ("record", "challenger deployed", 2),
    ]
    assert "v2 is the challenger beside champion v1 (shadow)" in summary


def test_a_journal_that_cannot_be_read_is_ignored(tmp_path):
    path = tmp_path / "journal.json"
    path.write_text("{half")
    assert Journal(path).read() is None
