"""Child processes the project starts itself (API servers, tracking servers)."""

from __future__ import annotations

import subprocess


def stop(process: subprocess.Popen, grace_s: float = 30.0) -> None:
    """Ask ``process`` to stop (SIGTERM); kill it when it has not stopped within ``grace_s``."""
    process.terminate()
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
