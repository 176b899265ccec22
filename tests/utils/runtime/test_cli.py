"""What an entry point's failure looks like from outside: one line and an exit code."""

from __future__ import annotations

import signal

import pytest

from utils.errors import Busy, PipelineError
from utils.runtime.cli import EXIT_BAD_INPUT, EXIT_UNEXPECTED, run_entry_point


def fail_with(err: BaseException):
    def work() -> None:
        raise err

    return work


@pytest.mark.parametrize(
    ("err", "code", "line"),
    [
        (PipelineError("x.csv: line 3, column 'a': bad"), EXIT_BAD_INPUT, "x.csv: line 3"),
        (Busy("rollback not done: lock held by pid 7"), 75, "rollback not done"),
        (RuntimeError("boom"), EXIT_UNEXPECTED, "unexpected RuntimeError: boom"),
    ],
)
def test_each_failure_is_one_line_and_its_exit_code(err, code, line, capsys, monkeypatch):
    monkeypatch.delenv("PIPELINE_DEBUG", raising=False)
    monkeypatch.delenv("HYDRA_FULL_ERROR", raising=False)
    handlers = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with pytest.raises(SystemExit) as exited:
            run_entry_point("example", fail_with(err))
    finally:  # the entry point installs its own; the test process keeps pytest's
        for sig, handler in handlers.items():
            signal.signal(sig, handler)
    assert exited.value.code == code
    logged = capsys.readouterr().err.splitlines()
    assert len(logged) == 1 and line in logged[0] and "Traceback" not in logged[0]
