"""The API's prediction log: every answered row, appended to Parquet segments.

A request only appends its arrays to an in-memory list; a background flusher in each worker
writes what gathered about once a second as a new segment (a temporary file, then a rename).
So a request never waits on the disk, a worker killed at any moment loses at most its last
unflushed second, and no earlier segment can be damaged: segments are never written again.

Segments live in ``<log_dir>/<YYYY-MM-DD>/<time>-<pid>-<n>.parquet`` (UTC), one schema per
segment: time, request_id, model_version, the id columns the requests carried (as text), the
model's features, probability, prediction.

With a challenger (deployment.strategy: shadow) the flusher also scores the rows it writes with
it, in one vectorised call per segment, and adds ``challenger_version``,
``challenger_probability`` and ``challenger_prediction``: off every request's path (the client
gets the champion's answer only), and a challenger that fails (or lacks a feature the rows have
not) costs its own columns of that segment, never a champion row.

A failed write (a full disk, a folder made read-only) costs the rows of that flush, never an
answer: they are counted (``on_lost``, the API's /metrics), the temporary file is removed, and
one warning a minute says how many were lost. utils.monitoring.log_upkeep keeps the folder in
shape (compaction, quarantine, retention).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import chain
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from utils.errors import PipelineError, first_line

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 1.0
SEGMENT_SUFFIX = ".parquet"
# Lost rows are said at most this often: a full disk fails every flush, once a second.
LOST_WARNING_EVERY_S = 60.0
# Columns every segment has (a file without them is not one of ours).
SEGMENT_COLUMNS = ("time", "request_id", "model_version", "probability", "prediction")
# What the challenger said of the same rows, when there is one.
CHALLENGER_COLUMNS = ("challenger_version", "challenger_probability", "challenger_prediction")


class Shadow(Protocol):
    """The challenger as the flusher needs it (utils.api.model_source.Loaded is one)."""

    features: list[str]
    version: Any

    def predict(self, matrix: np.ndarray) -> tuple[list[int], list[float]]: ...


@dataclass
class LoggedRequest:
    """One answered request: its rows and what the model said of them."""

    request_id: str
    model_version: str
    features: tuple[str, ...]
    # A float matrix, or lists of floats (a request of a few values: utils.api.serving).
    matrix: np.ndarray | list[list[float]]
    probabilities: list[float]
    predictions: list[int]
    ids: dict[str, list[str]] = field(default_factory=dict)
    # When it was answered: UTC microseconds since the epoch (an int is cheap to take and to
    # gather into a column).
    at_us: int = field(default_factory=lambda: time.time_ns() // 1000)


def new_request_id() -> str:
    """32 random hex digits (a uuid4's length; secrets is four times faster)."""
    return secrets.token_hex(16)


def stacked_rows(requests: list[LoggedRequest]) -> np.ndarray:
    """The requests' rows (of one feature set) as one float matrix. Rows that came as lists
    are gathered into one conversion, not an array per request."""
    import numpy as np

    width = len(requests[0].features)
    if all(isinstance(r.matrix, list) for r in requests):
        rows = [row for r in requests for row in r.matrix]
        return np.array(rows, dtype=np.float64).reshape(len(rows), width)
    return np.concatenate(
        [np.asarray(r.matrix, dtype=np.float64).reshape(-1, width) for r in requests]
    )


def _segment_frame(requests: list[LoggedRequest]):
    """The requests as one table. Built in the flusher thread while requests wait for the
    GIL, so it avoids per-value Python work: 1,600 single-row requests (a worker's second at
    full load) take 1.5 ms here, 3.4 ms the straightforward way (np.repeat, vstack)."""
    import numpy as np
    import polars as pl

    first = requests[0]
    rows = [len(r.probabilities) for r in requests]
    total = sum(rows)

    def per_row(values: list) -> list:
        if total == len(requests):  # one row each, the usual case
            return values
        return [value for value, n in zip(values, rows, strict=True) for _ in range(n)]

    columns: dict[str, Any] = {
        "time": pl.Series(per_row([r.at_us for r in requests]), dtype=pl.Int64).cast(
            pl.Datetime("us", "UTC")
        ),
        "request_id": pl.Series(per_row([r.request_id for r in requests]), dtype=pl.String),
        # One model version per segment: flush() groups by it.
        "model_version": pl.repeat(first.model_version, total, dtype=pl.String, eager=True),
    }
    for name in sorted({name for r in requests for name in r.ids}):
        columns[name] = pl.Series(
            [v for r, n in zip(requests, rows, strict=True) for v in r.ids.get(name, [None] * n)],
            dtype=pl.String,
        )
    matrix = stacked_rows(requests)
    for j, name in enumerate(first.features):
        columns[name] = matrix[:, j]
    columns["probability"] = np.fromiter(
        chain.from_iterable(r.probabilities for r in requests), np.float64, total
    )
    columns["prediction"] = np.fromiter(
        chain.from_iterable(r.predictions for r in requests), np.int8, total
    )
    return pl.DataFrame(columns)


class PredictionLog:
    """The log of one API worker process."""

    def __init__(
        self,
        folder: Path,
        interval_s: float = FLUSH_INTERVAL_S,
        on_lost: Callable[[int], None] | None = None,
        challenger: Callable[[], Shadow | None] | None = None,
    ) -> None:
        # Imported now, in the worker before it serves, not by the first flush mid-traffic.
        import polars  # noqa: F401

        self.folder = Path(folder)
        self.interval_s = interval_s
        self.on_lost = on_lost
        # The challenger now (None: there is none), asked at each write.
        self.challenger = challenger
        self._shadow_failed_at = -LOST_WARNING_EVERY_S
        self._pending: list[LoggedRequest] = []
        self._lock = threading.Lock()
        self._flusher_pid: int | None = None
        self._written = 0
        self._lost_unsaid = 0
        self._last_warning = -LOST_WARNING_EVERY_S

    def append(self, request: LoggedRequest) -> None:
        self._pending.append(request)
        if self._flusher_pid != os.getpid():  # the first request of this (forked) worker
            self._start_flusher()

    def _start_flusher(self) -> None:
        with self._lock:
            if self._flusher_pid == os.getpid():
                return
            self._flusher_pid = os.getpid()
            threading.Thread(target=self._flush_forever, name="prediction-log", daemon=True).start()

    def _flush_forever(self) -> None:
        flush = self.flush
        if _gevent_patched():
            # A gevent worker's "thread" is a greenlet: the Parquet write would stop every
            # request of the worker while it runs. gevent's pool of real threads runs it beside
            # them instead (polars and numpy let go of the GIL for the heavy part).
            import gevent

            def flush() -> list[Path]:
                return gevent.get_hub().threadpool.apply(self.flush)

        while True:
            time.sleep(self.interval_s)
            try:
                flush()
            except Exception:  # noqa: BLE001 - the log must never take the API down
                log.exception("could not write the prediction log in %s", self.folder)

    def flush(self) -> list[Path]:
        """Write what gathered since the last flush; one segment per model and feature set."""
        with self._lock:
            pending, self._pending = self._pending, []
        groups: dict[tuple, list[LoggedRequest]] = {}
        for request in pending:
            groups.setdefault((request.model_version, request.features), []).append(request)
        written = []
        for requests in groups.values():
            try:
                written.append(self._write(requests))
            except Exception as err:  # noqa: BLE001 - a full disk costs rows, never an answer
                self._lost(sum(len(r.probabilities) for r in requests), err)
        return written

    def _write(self, requests: list[LoggedRequest]) -> Path:
        now = datetime.now(UTC)
        folder = self.folder / f"{now:%Y-%m-%d}"
        folder.mkdir(parents=True, exist_ok=True)
        self._written += 1
        name = f"{now:%Y%m%dT%H%M%S%f}-{os.getpid()}-{self._written:06d}{SEGMENT_SUFFIX}"
        temporary = folder / f".{name}.tmp"
        try:
            self._with_challenger(_segment_frame(requests), requests).write_parquet(temporary)
            os.replace(temporary, folder / name)
        except BaseException:
            temporary.unlink(missing_ok=True)
            raise
        return folder / name

    def _with_challenger(self, frame, requests: list[LoggedRequest]):
        """``frame`` with the challenger's answers to its rows, when there is a challenger that
        can answer them; else ``frame`` as it is."""
        try:
            shadow = self.challenger() if self.challenger is not None else None
            if shadow is None:
                return frame
            import polars as pl

            features = requests[0].features
            missing = [name for name in shadow.features if name not in features]
            if missing:
                raise PipelineError(f"the rows lack its feature(s) {', '.join(missing[:5])}")
            where = [features.index(name) for name in shadow.features]
            matrix = stacked_rows(requests)[:, where]
            predictions, probabilities = shadow.predict(matrix)
            return frame.with_columns(
                pl.lit(str(shadow.version), dtype=pl.String).alias(CHALLENGER_COLUMNS[0]),
                pl.Series(CHALLENGER_COLUMNS[1], probabilities, dtype=pl.Float64),
                pl.Series(CHALLENGER_COLUMNS[2], predictions, dtype=pl.Int8),
            )
        except Exception as err:  # noqa: BLE001 - the challenger never costs a champion row
            now = time.monotonic()
            if now - self._shadow_failed_at >= LOST_WARNING_EVERY_S:
                log.warning(
                    "prediction log: the challenger did not answer (%s); its columns are left "
                    "out (said once a minute)", first_line(err),
                )  # fmt: skip
                self._shadow_failed_at = now
            return frame

    def _lost(self, rows: int, err: BaseException) -> None:
        if self.on_lost is not None:
            self.on_lost(rows)
        self._lost_unsaid += rows
        now = time.monotonic()
        if now - self._last_warning >= LOST_WARNING_EVERY_S:
            log.warning(
                "prediction log: %d row(s) not written to %s (%s); this is said once a minute",
                self._lost_unsaid, self.folder, first_line(err),
            )  # fmt: skip
            self._lost_unsaid, self._last_warning = 0, now


def _gevent_patched() -> bool:
    monkey = sys.modules.get("gevent.monkey")
    return bool(monkey and monkey.is_module_patched("threading"))


_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_SEGMENT = re.compile(r"\d{8}T\d{12}-\d+-\d+\.parquet")


def is_day(name: str) -> bool:
    """A UTC day as the log names its folders and day files: 2026-12-02 (not 2024-13-45)."""
    if not _DAY.fullmatch(name):
        return False
    try:
        datetime.strptime(name, "%Y-%m-%d")
    except ValueError:
        return False
    return True


def is_segment_name(name: str) -> bool:
    return bool(_SEGMENT.fullmatch(name))


def day_files(folder: Path) -> list[Path]:
    """The day files compaction wrote (``<day>.parquet``), oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.glob(f"*{SEGMENT_SUFFIX}") if is_day(p.stem) and p.is_file())


def day_folders(folder: Path) -> list[Path]:
    """The day folders the workers write segments into, oldest first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    return sorted(p for p in folder.iterdir() if is_day(p.name) and p.is_dir())


def _in_order(path: Path) -> tuple[str, int, str]:
    """Day by day; a compacted day file first in its day (it holds the day's rows)."""
    if is_day(path.parent.name):
        return path.parent.name, 1, path.name
    return path.stem, 0, path.name


def segments(folder: Path) -> list[Path]:
    """Every finished segment under ``folder``, oldest first: the day files compaction wrote
    (``<day>.parquet``, which supersede their day's folder) and the segments of the days not
    compacted yet. Anything else (a temporary file, a stray, the quarantine) is not listed."""
    compacted = day_files(folder)
    done = {p.stem for p in compacted}
    found = compacted + [
        p
        for day in day_folders(folder)
        if day.name not in done
        for p in day.glob(f"*{SEGMENT_SUFFIX}")
        if is_segment_name(p.name) and p.is_file()
    ]
    return sorted(found, key=_in_order)


def read_segment(path: Path):
    """One segment (or day file) as a polars DataFrame with the segment's name on each row;
    PipelineError naming the file when it is not a readable segment of this log."""
    import polars as pl

    try:
        frame = pl.read_parquet(path)
    except (Exception, pl.exceptions.PanicException) as err:  # noqa: BLE001 - any reader failure
        raise PipelineError(f"{path}: not a readable Parquet segment ({first_line(err)})") from None
    missing = [c for c in SEGMENT_COLUMNS if c not in frame.columns]
    if missing:
        raise PipelineError(f"{path}: not a prediction-log segment (no column {missing[0]!r})")
    if not isinstance(frame.schema["time"], pl.Datetime):
        raise PipelineError(f"{path}: not a prediction-log segment (its time is not a time)")
    if "segment" not in frame.columns:
        frame = frame.with_columns(segment=pl.lit(path.name))
    return frame


def read_segments(paths: list[Path], on_bad: Callable[[Path, str], None] | None = None):
    """The rows of ``paths`` as one polars DataFrame (columns a segment lacks are null), with
    the name of the segment each row came from (a day file keeps its rows' own). A file that
    is not a readable segment raises PipelineError, or is handed to ``on_bad`` with the reason
    and left out."""
    import polars as pl

    frames = []
    for path in paths:
        try:
            frames.append(read_segment(path))
        except PipelineError as err:
            if on_bad is None:
                raise
            on_bad(path, str(err))
    if not frames:
        return pl.DataFrame()
    return pl.concat(frames, how="diagonal_relaxed")
