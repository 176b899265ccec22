"""One automation run's wiring around the work: the locks and what a held lock means."""

from __future__ import annotations

import pytest

from conftest import ROOT
from utils.automation.run import run_once
from utils.automation.sources import exclusive_lock
from utils.errors import Busy


def overrides(tmp_path, wait_s: float) -> list[str]:
    return [
        f"automation.lock_file={tmp_path / 'lock'}",
        f"automation.lock_wait_s={wait_s}",
        f"paths.deployment_dir={tmp_path / 'production_deployment'}",
        f"automation.journal={tmp_path / 'journal.json'}",
        f"store.url=sqlite:///{tmp_path / 'monitoring.db'}",
    ]


@pytest.mark.parametrize("command", ["rollback", "promote", "reject"])
def test_a_command_by_hand_under_a_held_lock_waits_then_fails_naming_the_holder(tmp_path, command):
    with exclusive_lock(tmp_path / "lock", purpose="fullprocess.py") as held:
        assert held
        with pytest.raises(
            Busy,
            match=rf"{command} not done: .*lock is held by fullprocess.py, "
            r"pid \d+ on .* since .*; waited 0.3 s \(automation.lock_wait_s\)",
        ):
            run_once(ROOT, overrides(tmp_path, 0.3), dry_run=False, force=False, by_hand=command)
    assert Busy.exit_code not in (0, 1, 2)


def test_a_cron_run_under_a_held_lock_does_nothing_at_once(tmp_path):
    with exclusive_lock(tmp_path / "lock"):
        said = run_once(ROOT, overrides(tmp_path, 3600), dry_run=False, force=False)
    assert said.startswith("already running") and "nothing to do" in said


def test_a_rollback_with_the_lock_free_goes_on_to_the_rollback(tmp_path):
    from utils.errors import PipelineError

    with pytest.raises(PipelineError, match="no model is deployed: nothing to roll back"):
        run_once(ROOT, overrides(tmp_path, 0), dry_run=False, force=False, by_hand="rollback")


@pytest.mark.parametrize(("command", "doing"), [("promote", "promote"), ("reject", "reject")])
def test_without_a_challenger_promote_and_reject_say_so(tmp_path, command, doing):
    from utils.errors import PipelineError

    with pytest.raises(PipelineError, match=f"no challenger is deployed: nothing to {doing}"):
        run_once(ROOT, overrides(tmp_path, 0), dry_run=False, force=False, by_hand=command)
