"""Keeping the prediction log's folder in shape; the automation runs ``upkeep`` before
monitoring reads the log.

- A finished day's segments become one day file (about 170,000 one-second segments a day from
  two busy workers would otherwise be opened by every run). A segment written late into a day
  already compacted (a worker's clock behind) is merged into the day file, never deleted.
- Whatever is not this log's (a stray file, a day folder named 2024-13-45, a 0-byte or foreign
  Parquet file) is moved to ``quarantine/`` with one warning, and monitoring goes on without it.
- Days older than ``retention_days``, then the oldest days while the log is over
  ``max_bytes``, are removed: the log cannot fill the disk that the API writes it to.

Every change is crash-safe: a day file is written whole (temporary file, rename) before its
folder is removed, and rows carry the name of their segment, so a merge that was interrupted
is finished by the next run without doubling a row.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

from utils.errors import PipelineError
from utils.monitoring.prediction_log import (
    SEGMENT_SUFFIX,
    day_files,
    day_folders,
    is_day,
    is_segment_name,
    read_segment,
    read_segments,
)

log = logging.getLogger(__name__)

# A finished day's segments become one file this long after the day ended (UTC): no flush
# can still be writing into its folder then.
COMPACT_AFTER = timedelta(minutes=10)
QUARANTINE = "quarantine"
# What a Parquet file starts and ends with.
_PARQUET_MAGIC = b"PAR1"
# A temporary file this old belongs to a writer that died mid-write.
STALE_TEMPORARY_S = 3600.0


@dataclass
class Upkeep:
    """What one upkeep did."""

    compacted: list[Path] = field(default_factory=list)
    merged_rows: int = 0
    quarantined: list[Path] = field(default_factory=list)
    removed_days: list[str] = field(default_factory=list)


def quarantine(path: Path, log_dir: Path, reason: str, done: Upkeep | None = None) -> Path:
    """Move ``path`` (a file, folder or link) under ``log_dir``/quarantine, with one warning."""
    folder = Path(log_dir) / QUARANTINE
    folder.mkdir(parents=True, exist_ok=True)
    try:
        relative = Path(path).relative_to(log_dir)
    except ValueError:
        relative = Path(Path(path).name)
    name = "__".join(relative.parts)
    target, n = folder / name, 1
    while target.exists() or target.is_symlink():
        target, n = folder / f"{n}-{name}", n + 1
    os.replace(path, target)
    log.warning("prediction log: moved %s to %s: %s", path, target, reason)
    if done is not None:
        done.quarantined.append(target)
    return target


def quarantiner(log_dir: Path, done: Upkeep | None = None) -> Callable[[Path, str], None]:
    """What readers of the log call with a file they cannot read (``on_bad``): quarantine."""

    def set_aside(path: Path, reason: str) -> None:
        quarantine(path, log_dir, reason, done)

    return set_aside


def _is_temporary(path: Path) -> bool:
    return path.name.startswith(".") and path.name.endswith(".tmp")


def _remove_if_stale(path: Path, now_s: float) -> None:
    with contextlib.suppress(OSError):
        if now_s - path.lstat().st_mtime >= STALE_TEMPORARY_S:
            path.unlink()


def quarantine_strays(log_dir: Path, done: Upkeep) -> None:
    """Everything under ``log_dir`` that is not a day folder, a day file, a segment or a
    writer's temporary file goes to quarantine (stale temporary files are removed)."""
    now_s = time.time()
    for entry in sorted(Path(log_dir).iterdir()):
        if entry.name == QUARANTINE:
            continue
        if _is_temporary(entry):
            _remove_if_stale(entry, now_s)
        elif entry.is_symlink():
            quarantine(entry, log_dir, "a link, not a segment of this log", done)
        elif entry.is_dir() and is_day(entry.name):
            for inner in sorted(entry.iterdir()):
                if _is_temporary(inner):
                    _remove_if_stale(inner, now_s)
                elif inner.is_symlink() or not (inner.is_file() and is_segment_name(inner.name)):
                    quarantine(inner, log_dir, "not a segment of this log", done)
        elif not (entry.is_file() and entry.suffix == SEGMENT_SUFFIX and is_day(entry.stem)):
            quarantine(entry, log_dir, "not a day folder or day file of this log", done)
        else:
            problem = _day_file_problem(entry)
            if problem:
                quarantine(entry, log_dir, problem, done)


def _day_file_problem(path: Path) -> str | None:
    """What is wrong with a day file, from its first and last bytes alone: cron runs this
    every few minutes without importing a Parquet reader, and a day file whose columns are
    not the log's is refused (and quarantined) when it is read."""
    try:
        size = path.stat().st_size
        with open(path, "rb") as handle:
            head = handle.read(4)
            handle.seek(max(size - 4, 0))
            tail = handle.read(4)
    except OSError as err:
        return f"unreadable ({err.strerror})"
    if size < 12 or head != _PARQUET_MAGIC or tail != _PARQUET_MAGIC:
        return "not a Parquet file"
    return None


def days_to_compact(folder: Path, now: datetime | None = None) -> list[Path]:
    """The day folders whose day ended at least COMPACT_AFTER ago (a listing, no reading)."""
    now = now or datetime.now(UTC)
    due = []
    for day_dir in day_folders(folder):
        start = datetime.strptime(day_dir.name, "%Y-%m-%d").replace(tzinfo=UTC)
        if now >= start + timedelta(days=1) + COMPACT_AFTER:
            due.append(day_dir)
    return due


def compact(folder: Path, now: datetime | None = None, done: Upkeep | None = None) -> list[Path]:
    """Each finished day's segments into ``<day>.parquet`` beside the day folders (merged into
    the day file when there is one already), then the folder goes. Rows keep the name of the
    segment they were logged in: a segment the day file holds already is not added again."""
    folder, done = Path(folder), done if done is not None else Upkeep()
    set_aside = quarantiner(folder, done)

    for day_dir in days_to_compact(folder, now):
        import polars as pl  # only for a day to compact: cron's quick runs do not pay for it

        target = folder / f"{day_dir.name}{SEGMENT_SUFFIX}"
        parts = sorted(p for p in day_dir.glob(f"*{SEGMENT_SUFFIX}") if is_segment_name(p.name))
        new = read_segments(parts, on_bad=set_aside)
        before = None
        if target.exists():
            try:
                before = read_segment(target)
            except PipelineError as err:
                set_aside(target, str(err))
        if before is not None and len(new):
            new = new.filter(
                ~pl.col("segment").is_in(before.get_column("segment").unique().implode())
            )
        if len(new):
            rows = new if before is None else pl.concat([before, new], how="diagonal_relaxed")
            temporary = folder / f".{target.name}.tmp"
            try:
                rows.write_parquet(temporary)
                os.replace(temporary, target)
            except BaseException:
                temporary.unlink(missing_ok=True)
                raise
            done.compacted.append(target)
            if before is not None:
                done.merged_rows += len(new)
                log.warning(
                    "prediction log: %d row(s) logged late for %s merged into %s",
                    len(new), day_dir.name, target,
                )  # fmt: skip
        shutil.rmtree(day_dir)
    return done.compacted


def _day_sizes(folder: Path) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for path in day_files(folder):
        sizes[path.stem] = sizes.get(path.stem, 0) + path.stat().st_size
    for day in day_folders(folder):
        total = sum(p.stat().st_size for p in day.iterdir() if p.is_file())
        sizes[day.name] = sizes.get(day.name, 0) + total
    return sizes


def _remove_day(folder: Path, day: str) -> None:
    (folder / f"{day}{SEGMENT_SUFFIX}").unlink(missing_ok=True)
    shutil.rmtree(folder / day, ignore_errors=True)


def apply_retention(
    folder: Path,
    retention_days: int | None,
    max_bytes: int | None,
    now: datetime | None = None,
    done: Upkeep | None = None,
) -> list[str]:
    """Remove the days older than ``retention_days`` (today is day 1), then the oldest days
    while the log is over ``max_bytes``; the newest day always stays (it is being written)."""
    folder, done = Path(folder), done if done is not None else Upkeep()
    today = (now or datetime.now(UTC)).date()
    sizes = _day_sizes(folder)
    days = sorted(sizes)
    if retention_days is not None:
        oldest_kept = (today - timedelta(days=retention_days - 1)).isoformat()
        for day in [d for d in days[:-1] if d < oldest_kept]:
            _remove_day(folder, day)
            done.removed_days.append(day)
    if max_bytes is not None:
        kept = [d for d in days if d not in done.removed_days]
        total = sum(sizes[d] for d in kept)
        for day in kept[:-1]:
            if total <= max_bytes:
                break
            _remove_day(folder, day)
            done.removed_days.append(day)
            total -= sizes[day]
        if total > max_bytes:
            log.warning(
                "prediction log: %s holds %d bytes in its newest day alone, over the %d of "
                "monitoring.log_max_mb", folder, total, max_bytes,
            )  # fmt: skip
    if done.removed_days:
        log.info(
            "prediction log: removed %d day(s) past retention: %s",
            len(done.removed_days), ", ".join(done.removed_days),
        )  # fmt: skip
    return done.removed_days


def upkeep(
    folder: Path,
    retention_days: int | None,
    max_bytes: int | None,
    now: datetime | None = None,
) -> Upkeep:
    """Quarantine, compaction, retention, in that order (each reads what the last left)."""
    done = Upkeep()
    folder = Path(folder)
    if not folder.is_dir():
        return done
    quarantine_strays(folder, done)
    compact(folder, now, done)
    apply_retention(folder, retention_days, max_bytes, now, done)
    return done
