"""Reading live monitoring's inputs: the prediction log, unlabelled batches and late labels,
as rows that one label join can reach whichever way they came in.

Every failure of a user's file is a PipelineError naming the file and the column.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from utils.data.schema import (
    NO_ROWS_CSV,
    NO_ROWS_PARQUET,
    DataSchema,
    read_feature_columns,
    row_name,
)
from utils.errors import PipelineError
from utils.files import is_parquet
from utils.monitoring.chunks import REQUEST_ID

log = logging.getLogger(__name__)

PREDICTION_LOG = "prediction log"
LABEL_VALUES = {"0", "1", "0.0", "1.0"}


def scorable_traffic(traffic, features: list[str]) -> pd.DataFrame | None:
    """The logged rows (polars or pandas) the deployed model can score, oldest first, as
    pandas; None when there are none."""
    if not len(traffic) or not set(features) <= set(traffic.columns):
        return None
    if not isinstance(traffic, pd.DataFrame):
        traffic = traffic.to_pandas()
    kept = traffic.dropna(subset=features).sort_values("time", kind="stable")
    return kept.reset_index(drop=True) if len(kept) else None


def read_unlabelled(path: Path, schema: DataSchema, features: list[str]) -> pd.DataFrame:
    """An unlabelled batch's features (as floats) and the id columns it has (as text). Its rows
    are timed by the file's modification time: when they were handed in."""
    frame = read_feature_columns(path, features, schema.id_columns).to_pandas()
    if frame.empty:
        raise PipelineError(f"{path}: {NO_ROWS_PARQUET if is_parquet(path) else NO_ROWS_CSV}")
    empty = [c for c in features if frame[c].isna().any()]
    if empty:
        raise PipelineError(f"{path}: column {empty[0]!r} has missing or non-numeric values")
    handed_in = datetime.fromtimestamp(path.stat().st_mtime, UTC)
    return frame.assign(time=pd.Timestamp(handed_in))


def _as_text(path: Path) -> pd.DataFrame:
    """Every column as text as written; a Parquet file's values as text (a missing one
    empty, a boolean 0/1)."""
    if not is_parquet(path):
        return pd.read_csv(path, dtype=str, keep_default_na=False)
    frame = pd.read_parquet(path)
    for column in frame.columns:
        values = frame[column]
        if pd.api.types.is_bool_dtype(values):
            values = values.astype("Int64")
        frame[column] = values.astype("string").fillna("").astype(str)
    return frame


def read_labels(paths: list[Path], schema: DataSchema) -> list[pd.DataFrame]:
    """Each labels file (CSV or Parquet): its keys (request id and/or id columns) as text and
    the target as 0/1. A file without the target, without any key or with another target
    value is refused."""
    frames = []
    for path in paths:
        try:
            frame = _as_text(path)
        except (OSError, ValueError, UnicodeDecodeError) as err:
            raise PipelineError(f"{path}: cannot read the labels ({err})") from None
        keys = [c for c in (REQUEST_ID, *schema.id_columns) if c in frame.columns]
        if schema.target not in frame.columns:
            raise PipelineError(f"{path}: no column {schema.target!r} (the labels)")
        if not keys:
            names = ", ".join(repr(c) for c in (REQUEST_ID, *schema.id_columns))
            raise PipelineError(f"{path}: no key column; a labels file names rows by {names}")
        values = frame[schema.target].str.strip()
        bad = ~values.isin(LABEL_VALUES)
        if bad.any():
            row = row_name(int(bad.to_numpy().argmax()), parquet=is_parquet(path))
            raise PipelineError(
                f"{path}: {row}: column {schema.target!r} is {values[bad].iloc[0]!r}, not 0 or 1"
            )
        labelled = frame[[*keys, schema.target]].assign(**{schema.target: values.astype(float)})
        _refuse_conflicts(labelled, keys, schema.target, path)
        frames.append(labelled)
    return frames


def _refuse_conflicts(labels: pd.DataFrame, keys: list[str], target: str, path: Path) -> None:
    """One line naming two rows of ``path`` that give one key two different labels: which
    one is right is the labeller's to say, not a silent "the last one wins"."""
    named = labels[(labels[keys].apply(lambda column: column.str.strip()) != "").all(axis=1)]
    first = named.groupby(keys, sort=False)[target].transform("first")
    differs = named[target] != first
    if not differs.any():
        return
    second = int(differs.to_numpy().argmax())
    row = named.iloc[second]
    same_key = (named[keys] == row[keys]).all(axis=1).to_numpy()
    earlier = int(same_key.argmax())
    parquet = is_parquet(path)
    key = ", ".join(f"{k} {str(row[k])[:40]!r}" for k in keys)
    raise PipelineError(
        f"{path}: {row_name(named.index[earlier], parquet)} and "
        f"{row_name(named.index[second], parquet)} label the same row ({key}) "
        f"{named[target].iloc[earlier]:g} and {row[target]:g}; give each row one label"
    )
