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
    import tempfile

    # The peak goes to a file of its own: appended to the command's stderr, it would join a
    # last line written without a newline.
    with tempfile.NamedTemporaryFile("r", suffix=".rss") as peak:
        started = time.perf_counter()
        done = subprocess.run(
            ["/usr/bin/time", "-o", peak.name, "-f", "%M", *command],
            cwd=cwd, env=env, capture_output=True, text=True, check=False,
        )  # fmt: skip
        seconds = time.perf_counter() - started
        _stop_if_failed(command, done.returncode, done.stderr)
        return done.stdout, seconds, int(peak.read().strip().splitlines()[-1]) / 1024


def _stop_if_failed(command: list[str], returncode: int, stderr: str) -> None:
    """A failed command ends the benchmark with its last words."""
    if returncode != 0:
        sys.exit(f"{' '.join(map(str, command[:3]))} failed:\n{stderr[-3000:]}")


def _tree_rss_mib(root_pid: int) -> float:
    """Resident memory of a process and all its descendants now, from /proc (Linux)."""
    import os

    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/statm") as handle:
                rss[int(entry)] = int(handle.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo += children.get(pid, [])
    return total / 2**20


def run_sampled(
    command: list[str], cwd: Path = ROOT, env: dict[str, str] | None = PROJECT_ENV
) -> tuple[str, float, float]:
    """Run ``command``; its stdout, wall seconds and the peak of the summed resident memory
    of it and every process it starts (MiB), sampled every 0.2 s: for commands whose memory
    sits in several processes at once (Spark's driver, its JVM and its Python workers),
    where run_measured sees only the largest one that is waited for."""
    import os
    import tempfile

    # Files, not pipes: a pipe nobody reads while the command runs would block it once full.
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=out, stderr=err, text=True,
            start_new_session=True,
        )  # fmt: skip
        peak = 0.0
        while process.poll() is None:
            peak = max(peak, _tree_rss_mib(process.pid))
            time.sleep(0.2)
        seconds = time.perf_counter() - started
        # Whatever the command left running (a JVM not yet gone) ends with it.
        try:
            os.killpg(process.pid, 15)
        except ProcessLookupError:
            pass
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    _stop_if_failed(command, process.returncode, stderr)
    return stdout, seconds, peak
