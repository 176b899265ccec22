"""The cheap part of the automation: which source files are new, and one run at a time.

Nothing here imports MLflow, scikit-learn or pandas: cron calls this every few minutes and most
calls end here.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from utils.data.headers import column_names
from utils.files import atomic_write_text, data_files_in, sha256_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceFile:
    path: Path
    sha256: str

    @property
    def name(self) -> str:
        return self.path.name


class HashCache:
    """sha256 of files, recomputed only when a file's size or modification time changes."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.changed = False
        try:
            self.entries: dict[str, list] = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.entries = {}

    def sha256(self, file: Path) -> str:
        stat = file.stat()
        key = str(file.resolve())
        cached = self.entries.get(key)
        if cached and cached[0] == stat.st_size and cached[1] == stat.st_mtime_ns:
            return cached[2]
        digest = sha256_file(file)
        self.entries[key] = [stat.st_size, stat.st_mtime_ns, digest]
        self.changed = True
        return digest

    def save(self) -> None:
        if self.changed:
            atomic_write_text(self.path, json.dumps(self.entries))


def source_files(source_dir: Path, cache: HashCache) -> list[SourceFile]:
    """The CSV files of ``source_dir`` (sorted by name) with their hashes; none if it is absent."""
    source_dir = Path(source_dir)
    if not source_dir.is_dir():
        return []
    return [SourceFile(path, cache.sha256(path)) for path in data_files_in(source_dir)]


def split_by_label(sources: list[SourceFile], target: str) -> tuple[list, list]:
    """(labelled, unlabelled): a file without the target column is monitored, never trained on."""
    labelled, unlabelled = [], []
    for source in sources:
        names = [name.strip() for name in column_names(source.path, strict=True)]
        (labelled if target in names else unlabelled).append(source)
    return labelled, unlabelled


def monitoring_fingerprint(segments: list[Path], unlabelled: list[SourceFile], model: str) -> str:
    """What a monitoring result was computed from: log segments (with their sizes: a day file
    grows when a late segment is merged into it), unlabelled files, the model."""
    import hashlib

    def size(path: Path) -> int:
        try:
            return path.stat().st_size
        except OSError:
            return -1

    parts = [
        model,
        *(f"{p.name}:{size(p)}" for p in segments),
        *(f"{f.name}:{f.sha256}" for f in unlabelled),
    ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def new_files(
    sources: list[SourceFile],
    deployed_names: list[str],
    recorded_hashes: dict[str, str],
    decided: set[tuple[str, str]],
) -> list[SourceFile]:
    """Files whose name the deployed model was not trained on, or whose content changed since.

    ``decided`` holds the (name, sha256) pairs an earlier automation run finished with (new
    data that did not lead to a redeployment); ``recorded_hashes`` the latest hash the store
    recorded for each ingested file name (missing: the name alone decides).
    """
    fresh = []
    deployed = set(deployed_names)
    for source in sources:
        if (source.name, source.sha256) in decided:
            continue
        if (
            source.name in deployed
            and recorded_hashes.get(source.name, source.sha256) == source.sha256
        ):
            continue
        fresh.append(source)
    return fresh


# How often a command that waits for the lock tries it again.
_LOCK_POLL_S = 0.2
# What a lock file says about its holder is read back into one line: at most this much.
_HOLDER_CHARS = 300


@contextmanager
def exclusive_lock(path: Path, wait_s: float = 0.0, purpose: str = "a run") -> Iterator[bool]:
    """Yield True when this process holds the lock, False when another one still does after
    ``wait_s`` seconds. The holder writes who it is into the file (``lock_holder``).

    flock is released by the kernel when the holder dies, kill -9 included: no stale locks.
    """
    import socket
    import time
    from datetime import UTC, datetime

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                left = deadline - time.monotonic()
                if left <= 0:
                    yield False
                    return
                time.sleep(min(_LOCK_POLL_S, left))
        since = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        holder = f"{purpose}, pid {os.getpid()} on {socket.gethostname()} since {since}\n"
        os.ftruncate(fd, 0)
        os.pwrite(fd, holder.encode(), 0)
        yield True
    finally:
        os.close(fd)


def lock_holder(path: Path) -> str:
    """Who holds the lock file ``path``, as its holder wrote it."""
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        text = ""
    # A holder before this format wrote its pid alone.
    return (
        f"pid {text}" if text.isdigit() else text[:_HOLDER_CHARS]
    ) or "a process that did not say"


class Journal:
    """The automation's record of a run in progress: its decision and the phases done.

    Written (atomically) before the run changes anything and after each phase, removed once
    the decision is recorded; the next run finds it and finishes the work instead of starting
    afresh.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)

    def read(self) -> dict | None:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return None
        except ValueError:
            log.warning("%s: unreadable journal ignored", self.path)
            return None

    def write(self, state: dict) -> None:
        atomic_write_text(self.path, json.dumps(state, indent=1))

    def clear(self) -> None:
        self.path.unlink(missing_ok=True)
