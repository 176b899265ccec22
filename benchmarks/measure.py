"""Wall time and peak memory of a command, each benchmark's one way of measuring."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from generated import ROOT

# The project on the path, nothing else of this process's environment.
PROJECT_ENV = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}


def run_measured(
    command: list[str], cwd: Path = ROOT, env: dict[str, str] | None = PROJECT_ENV
) -> tuple[str, float, float]:
    """Run ``command``; its stdout, wall seconds and peak RSS (MiB) of it or any child.

    GNU time measures: a child forked from this (large) process would count this process's
    pages in its own peak until it execs. A failure ends the benchmark with the command's
    last words.
    """
    started = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        sys.exit(f"{' '.join(map(str, command[:3]))} failed:\n{done.stderr[-3000:]}")
    return done.stdout, seconds, int(done.stderr.strip().splitlines()[-1]) / 1024
