"""Live monitoring before the labels arrive: the deployed model's estimated performance, chunk
by chunk, on its logged traffic and on unlabelled batches, with bands, drift and alerts.

The inputs are read by fullprocess.py (prediction-log segments, unlabelled CSV files, the
labelled test data as reference); this module only computes. Everything is recomputed from
all the rows on each run that finds something new, so the result never depends on which runs
saw which rows, and ``models/monitoring.json`` is simply replaced.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

if TYPE_CHECKING:
    from utils.monitoring.drift import DataDrift
    from utils.monitoring.shadow import ChallengerReference, ChallengerRows
from utils.monitoring.estimation import (
    METRICS,
    Calibration,
    chunk_starts_by_period,
    chunk_starts_by_rows,
    estimate_chunks,
    fit_calibration,
    realized_chunks,
    reference_band,
)

PROBABILITY = "probability"
# The two kinds of source a chunk comes from: the prediction log, and unlabelled files.
TRAFFIC, BATCH = "traffic", "batch"


@dataclass(frozen=True)
class Reference:
    """What the deployed model's estimates are judged against: its probabilities and labels on
    the labelled test data (calibration, bands, probability drift) and the data it was trained
    on (feature drift)."""

    probabilities: np.ndarray
    truth: np.ndarray
    features: pd.DataFrame
    calibration: Calibration
    # deployment.strategy shadow: the challenger's own calibration (None: no challenger).
    challenger: ChallengerReference | None = None

    @classmethod
    def build(cls, probabilities, truth, features: pd.DataFrame, challenger=None) -> Reference:
        probabilities = np.asarray(probabilities, dtype=np.float64)
        truth = np.asarray(truth, dtype=np.float64)
        calibration = fit_calibration(probabilities, truth)
        return cls(probabilities, truth, features, calibration, challenger)


@dataclass(frozen=True)
class Stream:
    """Rows that are chunked together: the prediction log, or one unlabelled file."""

    source: str
    features: pd.DataFrame  # the model's features, in time order
    probabilities: np.ndarray  # the deployed model's, for these rows
    times: pd.Series | None = None  # UTC times of the rows (the log has them)
    sources: pd.Series | None = None  # per row: the segment it came from
    truth: np.ndarray | None = None  # labels that arrived later; NaN where none did
    versions: pd.Series | None = None  # per row: the model version that answered it
    handed_in: str | None = None  # an unlabelled file's: when it arrived (ISO UTC)
    challenger: ChallengerRows | None = None  # what the challenger said of these rows


REQUEST_ID = "request_id"


def _keyed(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """``frame``'s rows whose keys are all present, the keys as text: a missing key (None, NaN,
    an empty cell) names no row, so it never joins, however it is written down."""
    present = frame[keys].notna().all(axis=1)
    text = frame.loc[present, keys].astype(str)
    present_text = (text.apply(lambda column: column.str.strip()) != "").all(axis=1)
    return text[present_text]


LABEL_COUNTS = ("rows", "matched", "unmatched", "duplicates")


def join_labels(
    log: pd.DataFrame, labels: pd.DataFrame, id_columns: list[str], target: str
) -> tuple[np.ndarray, dict[str, int]]:
    """The label of each logged row (NaN where none arrived) and counts of the labels' fate.

    A labels file names its rows by the id columns, or by the request id (and the id columns
    it also has). By ids alone a label goes to the latest prediction of that id. A row named
    twice with one label counts once (``duplicates``); labels that match no logged row, or
    whose key is missing, are counted as unmatched, never silently dropped. (A key named twice
    with two labels never gets here: utils.monitoring.live_inputs.read_labels refuses it.)
    """
    keys = [REQUEST_ID] if REQUEST_ID in labels.columns else []
    keys += [c for c in id_columns if c in labels.columns and c in log.columns]
    truth = np.full(len(log), np.nan)
    nothing = {"rows": len(labels), "matched": 0, "unmatched": len(labels), "duplicates": 0}
    if not keys or target not in labels.columns:
        return truth, nothing
    logged = _keyed(log, keys).assign(
        _row=lambda f: np.arange(len(log))[log.index.get_indexer(f.index)]
    )
    if "time" in log.columns:
        logged = logged.assign(_time=log.loc[logged.index, "time"].to_numpy())
        logged = logged.sort_values("_time", kind="stable")
    latest = logged.drop_duplicates(keys, keep="last")
    given = labels.dropna(subset=[target])
    wanted = _keyed(given, keys).assign(**{target: given[target]})
    distinct = wanted.drop_duplicates(keys, keep="last")
    joined = distinct.merge(latest, on=keys, how="left")
    matched = joined.dropna(subset=["_row"])
    truth[matched["_row"].astype(int).to_numpy()] = matched[target].astype(float).to_numpy()
    duplicates = len(wanted) - len(distinct)
    return truth, {
        "rows": len(labels),
        "matched": len(matched),
        "unmatched": len(labels) - duplicates - len(matched),
        "duplicates": duplicates,
    }


def join_all_labels(
    rows: pd.DataFrame, label_files: list[pd.DataFrame], id_columns: list[str], target: str
) -> tuple[np.ndarray, dict[str, int]]:
    """``join_labels`` for each labels file in turn (each names its rows its own way); a later
    file's label for a row replaces an earlier one's."""
    truth = np.full(len(rows), np.nan)
    counts = dict.fromkeys(LABEL_COUNTS, 0)
    for labels in label_files:
        if len(rows):
            found, fate = join_labels(rows, labels, id_columns, target)
        else:
            found = truth
            fate = {"rows": len(labels), "matched": 0, "unmatched": len(labels), "duplicates": 0}
        known = ~np.isnan(found)
        truth[known] = found[known]
        counts = {key: counts[key] + fate[key] for key in counts}
    return truth, counts


def _finite_or_none(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def chunk_starts(stream: Stream, chunk_rows: int, chunk_period: str | None) -> np.ndarray:
    if chunk_period and stream.times is not None:
        return chunk_starts_by_period(stream.times, chunk_period)
    return chunk_starts_by_rows(len(stream.probabilities), chunk_rows)


# The newest chunk's rows kept for the report's distribution plots: a sample beyond this.
RECENT_MAX_ROWS = 50_000


def newest_rows(
    stream: Stream, chunk_rows: int, chunk_period: str | None, seed: int = 0
) -> pd.DataFrame:
    """The rows of ``stream``'s newest chunk: its features and the deployed model's
    probability (a seeded sample of RECENT_MAX_ROWS when the chunk is larger)."""
    start = int(chunk_starts(stream, chunk_rows, chunk_period)[-1])
    rows = stream.features.iloc[start:].reset_index(drop=True)
    rows = rows.assign(**{PROBABILITY: stream.probabilities[start:]})
    if len(rows) > RECENT_MAX_ROWS:
        rows = rows.sample(RECENT_MAX_ROWS, random_state=seed).sort_index()
    return rows


def monitor_stream(
    stream: Stream,
    reference: Reference,
    chunk_rows: int,
    chunk_period: str | None,
    f1_threshold: float | None,
    drift_settings: dict[str, Any],
) -> list[dict[str, Any]]:
    """One entry per chunk of ``stream``: estimated figures, their band, drift (per feature
    and multivariate), alert."""
    from utils.monitoring.drift import data_drift

    everything = dict(drift_settings)
    drift_settings = {k: v for k, v in everything.items() if k != "multivariate"}

    starts = chunk_starts(stream, chunk_rows, chunk_period)
    estimates = estimate_chunks(stream.probabilities, reference.calibration, starts)
    beside = [None] * len(starts)
    if stream.challenger is not None and reference.challenger is not None:
        from utils.monitoring.shadow import challenger_chunks

        beside = challenger_chunks(
            stream.probabilities, stream.challenger, stream.truth, reference.challenger, starts
        )
    ends = np.r_[starts[1:], len(stream.probabilities)]
    bands: dict[int, dict[str, tuple[float, float]]] = {}
    names = list(stream.features.columns)
    reference_scores = pd.DataFrame({PROBABILITY: reference.probabilities})
    chunks = []
    for estimate, start, end, challenger in zip(estimates, starts, ends, beside, strict=True):
        rows = int(end - start)
        if rows not in bands:
            bands[rows] = reference_band(reference.probabilities, reference.calibration, rows)
        band = bands[rows]
        features = data_drift(
            reference.features[names], stream.features.iloc[start:end], names, **drift_settings
        )
        scores = data_drift(
            reference_scores,
            pd.DataFrame({PROBABILITY: stream.probabilities[start:end]}),
            [PROBABILITY],
            **drift_settings,
        )
        f1 = estimate["f1"]
        low, high = band["f1"]
        below = f1_threshold is not None and math.isfinite(f1) and f1 < f1_threshold
        outside = math.isfinite(f1) and math.isfinite(low) and not low <= f1 <= high
        realized, labelled = None, 0
        if stream.truth is not None:
            known = ~np.isnan(stream.truth[start:end])
            labelled = int(known.sum())
            if labelled:
                (figures,) = realized_chunks(
                    stream.probabilities[start:end][known],
                    stream.truth[start:end][known],
                    np.array([0]),
                )
                realized = {m: _finite_or_none(figures[m]) for m in METRICS}
        realized_f1 = (realized or {}).get("f1")
        realized_below = (
            f1_threshold is not None and realized_f1 is not None and realized_f1 < f1_threshold
        )
        chunk = {
            "source": _source_range(stream, start, end),
            "rows": rows,
            "start": _when(stream, start),
            "end": _when(stream, end - 1),
            # A time for every chunk (a batch's rows have positions, not times): the time axis
            # of the dashboard and the chunk's age in /metrics.
            "ended_at": _ended_at(stream, end - 1),
            "estimated": {m: _finite_or_none(estimate[m]) for m in METRICS},
            "confusion": {k: round(estimate[k], 3) for k in ("tn", "fp", "fn", "tp")},
            "band": {m: [_finite_or_none(v) for v in band[m]] for m in METRICS},
            "realized": realized,
            "labelled_rows": labelled,
            "served_versions": _served_versions(stream, start, end),
            "drifted_features": [f.feature for f in features.features if f.drift],
            "multivariate": joint_drift(
                reference.features[names],
                stream.features.iloc[start:end],
                names,
                everything,
                features,
            ),  # fmt: skip
            "probability_drift": scores.dataset_drift,
            "alert": bool(below or outside or realized_below),
            "alert_reasons": [
                reason
                for reason, holds in (
                    (f"estimated F1 below the threshold {f1_threshold or 0:.4f}", below),
                    ("estimated F1 outside its band", outside),
                    (f"realised F1 below the threshold {f1_threshold or 0:.4f}", realized_below),
                )
                if holds
            ],
        }
        if challenger is not None:
            chunk["challenger"] = challenger
        chunks.append(chunk)
    return chunks


def joint_drift(
    reference: pd.DataFrame,
    current: pd.DataFrame,
    names: list[str],
    drift: dict[str, Any],
    per_feature: DataDrift,
) -> dict[str, Any] | None:
    """A chunk's ``multivariate`` entry (None when drift.multivariate is off): the statistic
    (held-out AUC), p-value (and corrected with the features' tests), verdict and top
    contributing features."""
    from utils.monitoring.multivariate import configured_drift

    found = configured_drift(reference, current, names, drift, per_feature)
    if found is None:
        return None
    return {
        "statistic": found.statistic,
        "p_value": found.p_value,
        "adjusted_p_value": found.adjusted_p_value,
        "drift": found.drifted,
        "contributors": [name for name, _ in found.contributors],
        "note": found.note,
    }


def _served_versions(stream: Stream, start: int, end: int) -> list[str]:
    """The versions that answered the chunk's rows; its figures are the deployed model's,
    recomputed from the rows' features whichever version answered them then."""
    if stream.versions is None:
        return []
    return sorted(stream.versions.iloc[start:end].dropna().astype(str).unique())


def _source_range(stream: Stream, start: int, end: int) -> str:
    if stream.sources is None:
        return stream.source
    first, last = stream.sources.iloc[start], stream.sources.iloc[end - 1]
    return f"{stream.source}: {first}" if first == last else f"{stream.source}: {first} .. {last}"


def _ended_at(stream: Stream, index: int) -> str | None:
    if stream.times is None:
        return stream.handed_in
    return pd.Timestamp(stream.times.iloc[index]).isoformat()


def _when(stream: Stream, index: int) -> str | int:
    if stream.times is None:
        return int(index)
    return pd.Timestamp(stream.times.iloc[index]).isoformat()
