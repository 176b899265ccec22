"""What live monitoring keeps between runs, so that a run reads only the log's new rows.

- ``basis``: what the results were computed with (the deployed release, the labels files, the
  reference data, the chunk and drift settings). When any of it changes, every chunk changes,
  so the next run recomputes from the whole log (within its retention).
- ``cursor``: how far the log was read (utils.monitoring.log_cursor).
- ``closed``: the prediction log's chunks that are complete; they are kept as they are.
- the tail: the rows of the log's last, still open chunk (``monitoring-tail.parquet``), which
  the next run's new rows join before the chunks from there on are computed again.

The tail is written first and the state names its sha256: a run killed between the two
writes leaves a state that does not match its tail, and the next run recomputes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from utils.files import atomic_write, atomic_write_text, sha256_file
from utils.monitoring.log_cursor import LogCursor

if TYPE_CHECKING:
    import pandas as pd

log = logging.getLogger(__name__)

STATE_NAME = "monitoring-state.json"
TAIL_NAME = "monitoring-tail.parquet"


@dataclass
class MonitoringState:
    basis: dict[str, Any]
    cursor: LogCursor = field(default_factory=LogCursor)
    closed: list[dict[str, Any]] = field(default_factory=list)
    # The labels' fate, as the run that joined them to the whole log counted it.
    joined: dict[str, Any] = field(default_factory=dict)
    tail_sha256: str | None = None


def load_state(model_dir: Path, basis: dict[str, Any]) -> tuple[MonitoringState, Any] | None:
    """The kept state and its tail rows (pandas, or None when the log had none), when they
    were computed on ``basis`` and are intact; else None: recompute from the whole log."""
    import pandas as pd

    path = Path(model_dir) / STATE_NAME
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if data.get("basis") != json.loads(json.dumps(basis)):
        return None
    state = MonitoringState(
        data["basis"], LogCursor.from_json(data.get("cursor", {})), data.get("closed", []),
        data.get("joined", {}), data.get("tail_sha256"),
    )  # fmt: skip
    tail_path = Path(model_dir) / TAIL_NAME
    if state.tail_sha256 is None:
        return state, None
    if not tail_path.is_file() or sha256_file(tail_path) != state.tail_sha256:
        log.warning("live monitoring: %s does not match its state; recomputing", tail_path)
        return None
    return state, pd.read_parquet(tail_path)


def save_state(model_dir: Path, state: MonitoringState, tail: pd.DataFrame | None) -> None:
    """The tail, then the state naming it (see the module's docstring)."""
    tail_path = Path(model_dir) / TAIL_NAME
    if tail is not None and len(tail):
        atomic_write(tail_path, lambda tmp: tail.to_parquet(tmp, index=False))
        state.tail_sha256 = sha256_file(tail_path)
    else:
        tail_path.unlink(missing_ok=True)
        state.tail_sha256 = None
    data = {
        "basis": state.basis,
        "cursor": state.cursor.to_json(),
        "closed": state.closed,
        "joined": state.joined,
        "tail_sha256": state.tail_sha256,
    }
    atomic_write_text(Path(model_dir) / STATE_NAME, json.dumps(data, default=str) + "\n")
