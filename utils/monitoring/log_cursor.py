"""How far live monitoring has read the prediction log, so that a run reads only what is new.

Rereading every segment ever written made each monitoring run slower and bigger than the last.
A cursor records what was read: the segments of the days not compacted yet, by name, and of
each compacted day file, how many rows (compaction writes a day's rows once and only appends
the rows of segments written late, so the rows past that count are the new ones). When a day
is compacted, its rows from segments read before are left out by name, and the names go.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from utils.errors import PipelineError
from utils.monitoring.prediction_log import is_day, read_segment


@dataclass
class LogCursor:
    # Compacted day -> rows of its day file already read.
    days: dict[str, int] = field(default_factory=dict)
    # Segments read in the day folders not compacted yet.
    segments: set[str] = field(default_factory=set)

    def to_json(self) -> dict[str, Any]:
        return {"days": dict(sorted(self.days.items())), "segments": sorted(self.segments)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LogCursor:
        return cls(dict(data.get("days", {})), set(data.get("segments", [])))


def _day_rows(path: Path) -> int:
    import polars as pl

    try:
        return int(pl.scan_parquet(path).select(pl.len()).collect().item())
    except (Exception, pl.exceptions.PanicException) as err:  # noqa: BLE001 - any reader failure
        raise PipelineError(f"{path}: not a readable Parquet segment ({err})") from None


def read_new(
    segments: list[Path],
    cursor: LogCursor,
    on_bad: Callable[[Path, str], None] | None = None,
):
    """The rows of ``segments`` (oldest first, as utils.monitoring.prediction_log.segments
    lists them) that ``cursor`` has not read, as one polars DataFrame, and the cursor after
    them. A file that is not a readable segment is handed to ``on_bad`` (or raises)."""
    import polars as pl

    days, names = dict(cursor.days), set(cursor.segments)
    frames = []
    for path in segments:
        try:
            if is_day(path.stem) and not is_day(path.parent.name):
                day = path.stem
                if day in days:
                    total = _day_rows(path)
                    if total > days[day]:
                        frames.append(read_segment(path).slice(days[day]))
                    days[day] = max(total, days[day])
                    continue
                frame = read_segment(path)
                prefix = day.replace("-", "")
                read_before = {n for n in names if n.startswith(prefix)}
                if read_before:
                    frame = frame.filter(~pl.col("segment").is_in(sorted(read_before)))
                names -= read_before
                days[day] = _day_rows(path)
                frames.append(frame)
            elif path.name not in names:
                frames.append(read_segment(path))
                names.add(path.name)
        except PipelineError as err:
            if on_bad is None:
                raise
            on_bad(path, str(err))
    rows = pl.concat(frames, how="diagonal_relaxed") if frames else pl.DataFrame()
    return rows, LogCursor(days, names)
