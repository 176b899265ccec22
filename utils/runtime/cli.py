"""What every entry point does around its work: logging once, and one-line errors."""

from __future__ import annotations

import logging
import signal
import sys
from collections.abc import Callable

from utils.errors import PipelineError
from utils.runtime.logs import configure_logging, debug_requested

EXIT_BAD_INPUT = 2
EXIT_UNEXPECTED = 1
# The shell's convention for "stopped by a signal": 128 + SIGINT.
EXIT_INTERRUPTED = 130


def _interrupt(signum: int, _frame: object) -> None:
    raise KeyboardInterrupt(signal.Signals(signum).name)


def run_entry_point(name: str, work: Callable[[], object]) -> None:
    """Run ``work`` with logging configured; turn failures into one line and an exit code."""
    configure_logging()
    log = logging.getLogger(name)
    # SIGTERM (kill, systemd, a CI timeout) unwinds like Ctrl-C: runs are ended, locks freed.
    signal.signal(signal.SIGTERM, _interrupt)
    # Started in the background by a shell, a process inherits SIGINT ignored: Ctrl-C (or kill
    # -INT) would then do nothing. It always stops the entry point, with one line.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    # A parent may also have blocked them (the mask is inherited across exec, as CI's harness
    # does): a blocked signal waits forever, whatever the handler.
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})
    try:
        work()
    except KeyboardInterrupt as err:
        if debug_requested():
            raise
        log.error("stopped by %s", str(err) or "Ctrl-C (SIGINT)")
        sys.exit(EXIT_INTERRUPTED)
    except PipelineError as err:
        if debug_requested():
            raise
        log.error("%s", err)
        sys.exit(getattr(err, "exit_code", EXIT_BAD_INPUT))
    except Exception as err:
        if debug_requested():
            raise
        log.error(
            "unexpected %s: %s (set PIPELINE_DEBUG=1 for the traceback)", type(err).__name__, err
        )
        sys.exit(EXIT_UNEXPECTED)
