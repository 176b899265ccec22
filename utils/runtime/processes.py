"""Child processes the project starts itself (API servers, tracking servers)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path


def free_port() -> int:
    """A TCP port free on loopback now (another process may take it before it is bound)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def stop(
    process: subprocess.Popen, how: signal.Signals = signal.SIGTERM, grace_s: float = 30.0
) -> None:
    """Ask ``process`` to stop (SIGTERM, or ``how``); kill it when it has not stopped within
    ``grace_s``."""
    if process.poll() is None:
        process.send_signal(how)
    reap(process, grace_s)


def reap(process: subprocess.Popen, grace_s: float = 30.0) -> None:
    """Wait for a process already asked to stop; kill it when it has not within ``grace_s``."""
    try:
        process.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def gunicorn_command(app: str, bind: str, workers: int, access_log: bool = False) -> list[str]:
    """The command that serves the scoring API ``app`` (a gunicorn app spec of
    utils.api.app) with the project's gunicorn settings (utils/api/gunicorn_conf.py); with
    ``access_log``, a line per request on standard output, as serve.sh serves."""
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "--config",
        "python:utils.api.gunicorn_conf",
        "--bind",
        bind,
        "--workers",
        str(workers),
        *(["--access-logfile", "-"] if access_log else []),
        app,
    ]


def api_from_file(settings_file: Path | str) -> str:
    """gunicorn's app spec of the scoring API with settings another process wrote."""
    return f"utils.api.app:create_app_from_file({str(settings_file)!r})"


def api_from_project(root: Path | str) -> str:
    """gunicorn's app spec of the scoring API of the project at ``root`` (its config.yaml)."""
    return f"utils.api.app:create_app_from_project({str(root)!r})"
