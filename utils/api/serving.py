"""Request handling for the scoring API without the web framework: payload parsing and
validation (the settings are utils.api.settings).

Most of a one-row request's time in a naive server is pandas and validation overhead, not the
model. Here a request becomes a float matrix with plain Python (and the fitted Pipeline
becomes three numpy arrays: utils.api.compiled_model). Every check costs time linear in the
request's size: a 10 MB body of any shape is answered in about a second.
"""

from __future__ import annotations

import csv
import gc
import io
import json
import math
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from utils.data.schema import MAX_FEATURE_MAGNITUDE, OUT_OF_RANGE
from utils.errors import named


class RequestError(Exception):
    """A client error: HTTP status, a short error name and a detail naming the field or row."""

    def __init__(self, status: int, error: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail


def _bad(detail: str) -> RequestError:
    return RequestError(400, "invalid input", detail)


def _number(value: Any, row: int, column: str) -> float:
    """A finite float; null means missing (the model imputes it)."""
    if value is None:
        return math.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _bad(f"row {row}, column {column!r}: expected a number, got {value!r:.40}")
    try:
        number = float(value)
    except OverflowError:
        raise _bad(f"row {row}, column {column!r}: number out of range") from None
    if not math.isfinite(number):
        raise _bad(f"row {row}, column {column!r}: value must be finite, got {value!r}")
    if abs(number) > MAX_FEATURE_MAGNITUDE:
        raise _bad(f"row {row}, column {column!r}: {number!r} is out of range; {OUT_OF_RANGE}")
    return number


_PLAIN_NUMBERS = {int, float}


def _fast_matrix(rows: list[list[Any]], width: int) -> np.ndarray | None:
    """The rows as a float matrix when every value is a plain finite number, else None.

    One type scan and one numpy conversion instead of a check per value; anything unusual
    (null, strings, booleans, ragged rows, numbers outside the data contract) returns None so
    that the slow path can name the row and column at fault.
    """
    if any(len(row) != width for row in rows):
        return None
    if not {type(value) for row in rows for value in row} <= _PLAIN_NUMBERS:
        return None
    try:
        matrix = np.array(rows, dtype=np.float64).reshape(len(rows), width)
    except OverflowError:  # an integer beyond float range: the slow path names it
        return None
    # NaN compares False: it takes the slow path too.
    return matrix if (np.abs(matrix) <= MAX_FEATURE_MAGNITUDE).all() else None


class UploadBudget:
    """The request-body bytes one worker holds at once, across its connections.

    Each connection is a greenlet, so without a bound twelve stalled 8 MiB uploads held about
    97 MiB of a worker, and a thousand would hold gigabytes. A body takes from the budget as
    its bytes arrive and gives back when its request ends; one that finds the budget spent is
    answered 503 (try again) instead of being buffered. Greenlets of one worker never run at
    once, so a plain counter is enough.
    """

    def __init__(self, total_bytes: int) -> None:
        self.total_bytes = total_bytes
        self.held = 0

    def take(self, size: int) -> None:
        if self.held + size > self.total_bytes:
            raise RequestError(
                503, "busy", "too many request bodies are being received at once; try again"
            )
        self.held += size

    def give(self, size: int) -> None:
        self.held -= size


def read_body(stream: Any, limit: int, budget: UploadBudget | None = None) -> bytes:
    """The whole request body, or a 413 when it is longer than ``limit`` bytes, whether its
    length was declared (Content-Length) or not (chunked transfer). With ``budget``, the bytes
    are taken from it as they arrive (the caller gives back ``len`` of the answer when the
    request ends; on a failure here they are given back at once)."""
    chunks, size = [], 0
    try:
        while size <= limit:
            chunk = stream.read(min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            if budget is not None:
                budget.take(len(chunk))
            chunks.append(chunk)
            size += len(chunk)
    except BaseException:
        if budget is not None:
            budget.give(size)
        raise
    if size > limit and budget is not None:
        budget.give(size)
    if size > limit:
        raise RequestError(
            413, "request too large", f"request body over the limit of {limit} bytes"
        )
    return b"".join(chunks)


# An id longer than this is refused: it goes into the prediction log, the labelled traffic
# and log lines, and no customer or request key is longer.
MAX_ID_CHARS = 256


def repeated_names(names: Sequence[Any]) -> list[Any]:
    """The names that occur more than once, in order of first occurrence (linear time: a
    ``list.count`` per name made a request with 46,000 columns outlast the worker timeout)."""
    return [name for name, count in Counter(names).items() if count > 1]


def _distinct_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        repeated = repeated_names([key for key, _ in pairs])
        raise _bad(f"duplicate key(s) in one JSON object: {named(repeated)}")
    return record


_DECODER = json.JSONDecoder(object_pairs_hook=_distinct_keys)


def parse_json(body: bytes) -> Any:
    """The JSON document of a request body; any malformation is a 400 naming it.

    Duplicate keys in one object are refused rather than silently letting the last one win.
    The garbage collector is paused while parsing: a 10 MB body of empty lists makes 3.5
    million containers, and the collections they set off took 0.97 s of a 1.1 s parse
    (0.15 s without). Parsing never yields to another greenlet, so nothing else sees it.
    """
    collecting = gc.isenabled()
    gc.disable()
    try:
        # json.loads as it reads bytes, with one decoder instead of a new one per call.
        return _DECODER.decode(body.decode(json.detect_encoding(body), "surrogatepass"))
    except RequestError:
        raise
    except RecursionError:
        raise RequestError(400, "malformed JSON", "nested too deeply") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise RequestError(400, "malformed JSON", str(err)[:200]) from None
    finally:
        if collecting:
            gc.enable()


def _check_columns(
    columns: Sequence[str],
    features: Sequence[str],
    allowed: set[str] | frozenset[str] | None = None,
) -> None:
    """Refuses repeated, missing and (when ``allowed`` is given) unknown columns, in time
    linear in their number: set operations, and a count per name only when one repeats."""
    present = set(columns)
    if len(present) != len(columns):
        raise _bad(f"column(s) named more than once: {named(repeated_names(columns))}")
    missing = [f for f in features if f not in present]
    if missing:
        raise _bad(f"missing column(s): {named(missing)}")
    if allowed is not None and not present <= allowed:
        unknown = present - allowed
        raise _bad(f"unknown column(s): {named(c for c in columns if c in unknown)}")


def _check_count(count: int, max_rows: int) -> None:
    if count == 0:
        raise _bad("no rows to predict")
    if count > max_rows:
        raise RequestError(413, "too many rows", f"{count} rows; the limit is {max_rows}")


# A request of at most this many values (rows times features) is read into plain lists and
# answered with plain Python (utils.api.compiled_model says why); a larger one with numpy,
# whose fixed cost per call is then small beside the work per value.
PLAIN_VALUES = 64

Rows = list[list[float]] | np.ndarray


def _checked_records(
    records: list[Any], features: Sequence[str], allowed: set[str] | frozenset[str]
) -> list[list[float]]:
    """The rows value by value: each error names its row and column."""
    feature_set = set(features)
    rows = []
    for i, record in enumerate(records):
        if isinstance(record, dict):
            if not (feature_set <= record.keys() <= allowed):
                _check_columns(list(record), features, allowed)
            rows.append([_number(record[feature], i, feature) for feature in features])
        elif isinstance(record, list):
            if len(record) != len(features):
                raise _bad(f"row {i}: expected {len(features)} values ({', '.join(features)})")
            rows.append([_number(v, i, f) for v, f in zip(record, features, strict=True)])
        else:
            raise _bad(f"row {i}: expected an object or a list, got {type(record).__name__}")
    return rows


def _as_matrix(rows: list[list[float]], width: int) -> np.ndarray:
    return np.array(rows, dtype=np.float64).reshape(len(rows), width)


def rows_from_records(
    records: Any, features: Sequence[str], allowed: set[str] | frozenset[str], max_rows: int
) -> Rows:
    """A list of {column: value} objects (or lists in feature order) as rows: lists of
    floats for a few values, else an (n, f) matrix."""
    if not isinstance(records, list):
        raise _bad("expected a list of rows")
    _check_count(len(records), max_rows)
    if len(records) * len(features) <= PLAIN_VALUES:
        return _checked_records(records, features, allowed)
    feature_set = set(features)
    if all(isinstance(r, list) for r in records):
        fast = _fast_matrix(records, len(features))
        if fast is not None:
            return fast
    elif all(isinstance(r, dict) and feature_set <= r.keys() <= allowed for r in records):
        fast = _fast_matrix([[r[f] for f in features] for r in records], len(features))
        if fast is not None:
            return fast
    return _as_matrix(_checked_records(records, features, allowed), len(features))


def rows_from_split(
    split: Any, features: Sequence[str], allowed: set[str] | frozenset[str], max_rows: int
) -> Rows:
    """MLflow's ``dataframe_split``: {"columns": [...], "data": [[...], ...]}."""
    if not isinstance(split, dict) or not isinstance(split.get("columns"), list):
        raise _bad("dataframe_split needs 'columns' (a list) and 'data' (a list of rows)")
    unknown = sorted(set(split) - {"columns", "data", "index"})
    if unknown:
        raise _bad(f"dataframe_split takes columns, data and index, not {', '.join(unknown)}")
    columns, data = split["columns"], split.get("data")
    if not isinstance(data, list):
        raise _bad("dataframe_split needs 'data' (a list of rows)")
    if not all(isinstance(c, str) for c in columns):
        raise _bad("dataframe_split 'columns' must be names (strings)")
    _check_columns(columns, features, allowed)
    _check_count(len(data), max_rows)
    position_of = {c: i for i, c in enumerate(columns)}
    positions = [position_of[f] for f in features]
    plain = len(data) * len(columns) <= PLAIN_VALUES
    if not plain and all(isinstance(row, list) for row in data):
        fast = _fast_matrix(data, len(columns))
        if fast is not None:
            return fast[:, positions]
    rows = []
    for i, row in enumerate(data):
        if not isinstance(row, list) or len(row) != len(columns):
            raise _bad(f"row {i}: expected a list of {len(columns)} values")
        rows.append([_number(row[p], i, f) for f, p in zip(features, positions, strict=True)])
    return rows if plain else _as_matrix(rows, len(features))


def rows_from_json(
    payload: Any, features: Sequence[str], allowed: set[str] | frozenset[str], max_rows: int
) -> Rows:
    """Any of the accepted JSON forms (records, dataframe_records, dataframe_split, instances)."""
    if isinstance(payload, list):
        return rows_from_records(payload, features, allowed, max_rows)
    if not isinstance(payload, dict) or not payload:
        raise _bad(
            "expected a list of records, or an object with one of: dataframe_split, "
            "dataframe_records, instances, inputs, filepath"
        )
    forms = [
        k for k in ("dataframe_split", "dataframe_records", "instances", "inputs") if k in payload
    ]
    if len(forms) != 1 or len(payload) != 1:
        raise _bad(
            "give exactly one of: dataframe_split, dataframe_records, instances, inputs, filepath"
        )
    body = payload[forms[0]]
    if forms[0] == "dataframe_split":
        return rows_from_split(body, features, allowed, max_rows)
    return rows_from_records(body, features, allowed, max_rows)


def id_text(value: Any, where: str, column: str) -> str | None:
    """An id as the prediction log keeps it: text of at most MAX_ID_CHARS characters, None
    when missing. A request id becomes a join key for late labels, so a value that cannot
    name a row (NaN, a boolean, an object) is refused rather than stored as "nan" or "True"
    and joined to a label of that name."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise _bad(f"{where}, column {column!r}: an id must be text or a number")
    if isinstance(value, float) and not math.isfinite(value):
        raise _bad(f"{where}, column {column!r}: an id must be a finite number or text")
    text = value.strip() if isinstance(value, str) else str(value)
    if len(text) > MAX_ID_CHARS:
        raise _bad(f"{where}, column {column!r}: an id has at most {MAX_ID_CHARS} characters")
    return text or None


def ids_from_json(payload: Any, id_columns: Sequence[str]) -> dict[str, list[str | None]]:
    """The id columns a parsed (and already validated) JSON body carried, as text per row
    for the prediction log; an id column no row names is left out."""
    if not id_columns:
        return {}
    rows = payload
    if isinstance(payload, dict):
        if "dataframe_split" in payload:
            split = payload["dataframe_split"]
            position_of = {c: i for i, c in enumerate(split["columns"])}
            return {
                c: [
                    id_text(row[position_of[c]], f"row {i}", c)
                    for i, row in enumerate(split["data"])
                ]
                for c in id_columns
                if c in position_of
            }
        rows = next(
            payload[k] for k in ("dataframe_records", "instances", "inputs") if k in payload
        )
    records = [r for r in rows if isinstance(r, dict)]
    return {
        c: [
            id_text(r.get(c), f"row {i}", c) if isinstance(r, dict) else None
            for i, r in enumerate(rows)
        ]
        for c in id_columns
        if any(c in r for r in records)
    }


def rows_from_csv(
    text: str, features: Sequence[str], max_rows: int, id_columns: Sequence[str] = ()
) -> tuple[np.ndarray, dict[str, list[str | None]]]:
    """A CSV body with a header row as a float matrix, and the id columns it has (as text, for
    the prediction log). Empty cells are missing values. Columns other than the features are
    ignored, as ingestion ignores them: a CSV is a data file (with ids, target, an index
    column), while a JSON row with an unknown key is more likely a typo and refused."""
    # A byte-order mark is read as ingestion reads it (utf-8-sig): not part of the first name.
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    try:
        header = next(reader, None)
        if not header:
            raise _bad("empty CSV body")
        header = [h.strip() for h in header]
        _check_columns(header, features)
        position_of = {c: i for i, c in enumerate(header)}
        positions = [position_of[f] for f in features]
        rows = []
        for row in reader:
            if not row:
                continue
            if len(row) != len(header):
                raise _bad(
                    f"CSV line {reader.line_num}: expected {len(header)} fields, got {len(row)}"
                )
            rows.append((reader.line_num, row))
            if len(rows) > max_rows:
                break
    except csv.Error as err:  # a field over the csv module's size limit, a NUL byte, ...
        raise _bad(f"CSV line {reader.line_num}: {err}") from None
    _check_count(len(rows), max_rows)
    matrix = np.empty((len(rows), len(features)), dtype=np.float64)
    for i, (line_number, row) in enumerate(rows):
        for j, (feature, position) in enumerate(zip(features, positions, strict=True)):
            cell = row[position].strip()
            if not cell:
                matrix[i, j] = math.nan
                continue
            try:
                number = float(cell)
            except ValueError:
                raise _bad(
                    f"CSV line {line_number}, column {feature!r}: not a number: {cell[:40]!r}"
                ) from None
            if not math.isfinite(number):
                raise _bad(f"CSV line {line_number}, column {feature!r}: value must be finite")
            if abs(number) > MAX_FEATURE_MAGNITUDE:
                raise _bad(
                    f"CSV line {line_number}, column {feature!r}: {number!r} is out of range; "
                    f"{OUT_OF_RANGE}"
                )
            matrix[i, j] = number
    ids = {
        c: [id_text(row[position_of[c]], f"CSV line {line}", c) for line, row in rows]
        for c in id_columns
        if c in position_of
    }
    return matrix, ids
