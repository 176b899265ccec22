"""What a running API holds (settings, model, caches, prediction log) and the prediction
endpoint, answered below Flask for speed."""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import numpy as np
from flask import current_app
from werkzeug.exceptions import ClientDisconnected, RequestEntityTooLarge
from werkzeug.security import safe_join
from werkzeug.wsgi import get_input_stream

from utils.api.model_source import DeployedModel, Loaded
from utils.api.responses import (
    UNAUTHORIZED,
    FileCache,
    authorized,
    challenge,
    error_json,
    json_bytes,
)
from utils.api.serving import (
    RequestError,
    UploadBudget,
    ids_from_json,
    parse_json,
    read_body,
    rows_from_csv,
    rows_from_json,
)
from utils.api.settings import ApiSettings
from utils.files import UnfollowableLink, follow_links
from utils.monitoring.prediction_log import LoggedRequest, PredictionLog, new_request_id
from utils.ops.metrics import ApiMetrics, MetricsMiddleware

log = logging.getLogger("api")

# Longer than any path a data folder holds (Linux's PATH_MAX is 4096 bytes).
MAX_FILEPATH_CHARS = 1024


@dataclass
class ApiState:
    """What every endpoint of one app shares."""

    settings: ApiSettings
    model: DeployedModel
    cache: FileCache
    # Every answer's rows (monitoring.log_predictions), or None.
    prediction_log: PredictionLog | None = None
    # Prometheus metrics (api.metrics), or None.
    metrics: ApiMetrics | None = None
    # Where the challenger comes from (deployment.strategy: shadow), or None.
    challenger: DeployedModel | None = None
    # The request bodies this worker holds at once (api.max_uploads_mb).
    uploads: UploadBudget = field(init=False)

    def __post_init__(self) -> None:
        self.uploads = UploadBudget(self.settings.max_upload_bytes)

    def challenger_now(self) -> Loaded | None:
        """The challenger answering in the shadow now, if any (never an error: /health and
        /model answer for the champion whatever the challenger's state)."""
        if self.challenger is None:
            return None
        try:
            return self.challenger.current()
        except Exception:  # noqa: BLE001 - a challenger never fails a champion's answer
            log.exception("could not read the challenger")
            return None

    def loaded_or_503(self) -> Loaded:
        loaded = self.model.current()
        if loaded is None:
            raise RequestError(503, "no model", "no deployed model is loaded yet")
        return loaded

    def rows_from_data_file(
        self, name: Any, loaded: Loaded
    ) -> tuple[np.ndarray, dict[str, list[str | None]]]:
        """The rows of a CSV file named by the client, which must be inside the data folder."""
        settings = self.settings
        data_dir = Path(settings.data_dir)
        if not isinstance(name, str) or not name or "\x00" in name:
            raise RequestError(400, "invalid filepath", "filepath must be a non-empty string")
        if len(name) > MAX_FILEPATH_CHARS:
            raise RequestError(
                400, "invalid filepath", f"filepath has at most {MAX_FILEPATH_CHARS} characters"
            )
        shown = repr(name[:80])
        joined = safe_join(str(data_dir), name)
        if joined is None:
            raise RequestError(400, "invalid filepath", "filepath must stay inside the data folder")
        try:
            # A link loop, or a name too long for the system.
            real = follow_links(Path(joined))
            inside = real.is_relative_to(data_dir.resolve())
            is_file = inside and real.is_file()
            size = real.stat().st_size if is_file else 0
        except UnfollowableLink as err:
            raise RequestError(400, "invalid filepath", f"{shown}: {err}") from None
        except OSError as err:
            raise RequestError(400, "invalid filepath", f"{shown}: {err.strerror}") from None
        if not inside:
            raise RequestError(400, "invalid filepath", "filepath must stay inside the data folder")
        if not is_file:
            raise RequestError(404, "not found", f"no data file {shown} in the data folder")
        if size > settings.max_body_bytes:
            raise RequestError(413, "file too large", f"{shown} is over the size limit")
        try:
            text = real.read_text(encoding="utf-8", errors="replace")
        except OSError as err:
            raise RequestError(400, "unreadable file", f"{shown}: {err.strerror}") from None
        return rows_from_csv(text, loaded.features, settings.max_rows, loaded.id_columns)

    def predict(self, content_type: str, body: bytes, request_id: str) -> dict[str, Any]:
        """The answer to a /prediction request with this body; logged when the log is on."""
        loaded = self.loaded_or_503()
        settings = self.settings
        if not body:
            raise RequestError(400, "empty body", "send JSON rows, a CSV body or a filepath")
        if content_type == "application/json":
            payload = parse_json(body)
            if isinstance(payload, dict) and set(payload) == {"filepath"}:
                matrix, ids = self.rows_from_data_file(payload["filepath"], loaded)
            else:
                matrix = rows_from_json(payload, loaded.features, loaded.allowed, settings.max_rows)
                ids = None
        elif content_type == "text/csv":
            text = body.decode("utf-8", errors="replace")
            matrix, ids = rows_from_csv(text, loaded.features, settings.max_rows, loaded.id_columns)
        else:
            raise RequestError(415, "unsupported media type", "send application/json or text/csv")
        predictions, probabilities = loaded.model.predict(matrix)
        if self.metrics is not None:
            self.metrics.predicted(predictions)
        if self.prediction_log is not None:
            if ids is None:
                ids = ids_from_json(payload, loaded.id_columns)
            self.prediction_log.append(
                LoggedRequest(
                    request_id,
                    str(loaded.version),
                    tuple(loaded.features),
                    matrix,
                    probabilities,
                    predictions,
                    ids,
                )
            )
        return {
            "model_version": loaded.version,
            "predictions": predictions,
            "probabilities": probabilities,
        }

    def schema(self) -> Any:
        from utils.data.schema import DataSchema

        settings = self.settings
        return DataSchema(settings.target, tuple(settings.features), tuple(settings.id_columns))


def api_state() -> ApiState:
    return current_app.extensions["risk_api"]


_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def client_request_id(header: str | None) -> str | None:
    """The client's X-Request-ID when it is a plain token (it goes into logs and files)."""
    if header and _REQUEST_ID.fullmatch(header):
        return header
    return None


# A body declared this short is read in one call from the server's stream, which gunicorn
# bounds by Content-Length: werkzeug's LimitedStream around it cost about 3 % of a one-row
# request's time in a loaded worker. Longer and chunked bodies are read by read_body.
ONE_READ_BYTES = 1 << 16


def small_declared_body(
    environ: dict[str, Any], at_most: int, budget: UploadBudget
) -> bytes | None:
    """The body when its declared length is at most ``at_most`` bytes, else None. A body
    that ends before its declared length is a 400 (the client went away or lied)."""
    declared = environ.get("CONTENT_LENGTH") or ""
    if (
        not (declared.isascii() and declared.isdigit())
        or int(declared) > at_most
        or "HTTP_TRANSFER_ENCODING" in environ
    ):
        return None
    length = int(declared)
    budget.take(length)
    try:
        stream, chunks, size = environ["wsgi.input"], [], 0
        while size < length:
            chunk = stream.read(length - size)
            if not chunk:
                raise RequestError(
                    400, "incomplete body", f"the body ended after {size} of {length} bytes"
                )
            chunks.append(chunk)
            size += len(chunk)
    except BaseException:
        budget.give(length)
        raise
    return b"".join(chunks)


_STATUS_LINES = {status.value: f"{status.value} {status.phrase}" for status in HTTPStatus}


class PredictionEndpoint:
    """POST /prediction as a plain WSGI application in front of Flask.

    Why not a Flask view: Flask's request context, request and response objects cost about
    190 us of the 620 us a one-row prediction takes under gunicorn (measured with
    benchmarks/api.py, 2 gevent workers, concurrency 8): 2,800 requests/s and a p99 of
    4.9 ms as a view, 3,900 and 3.6 ms here. Every other endpoint is a Flask view.
    """

    path = "/prediction"
    methods = ("POST",)

    def __init__(
        self, state: ApiState, flask_app: Any, counting: MetricsMiddleware | None = None
    ) -> None:
        self.state = state
        # Every other path (behind the metrics middleware when metrics are on).
        self.flask_app = flask_app
        # Counts and times this endpoint's requests too, without wrapping them: its closure
        # around start_response cost about 2 % of a one-row request.
        self.counting = counting

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != self.path:
            return self.flask_app(environ, start_response)
        started = time.perf_counter()
        request_id = client_request_id(environ.get("HTTP_X_REQUEST_ID")) or new_request_id()
        headers = [("Content-Type", "application/json"), ("X-Request-ID", request_id)]
        try:
            status, body = 200, json_bytes(self.answer(environ, request_id))
        except RequestError as err:
            status, body = err.status, error_json(err.error, err.detail)
            if status == 405:
                headers.append(("Allow", ", ".join(self.methods)))
            if status == 401:
                headers.append(("WWW-Authenticate", challenge(self.path)))
        except Exception as err:  # noqa: BLE001 - one JSON 500, as Flask's views give
            log.exception("unexpected error on %s %s", environ.get("REQUEST_METHOD"), self.path)
            status, body = 500, error_json("internal error", type(err).__name__)
        headers.append(("Content-Length", str(len(body))))
        start_response(_STATUS_LINES[status], headers)
        if self.counting is not None:
            self.counting.record(self.path, environ.get("REQUEST_METHOD", ""), status, started)
        return [body]

    def answer(self, environ: dict[str, Any], request_id: str) -> dict[str, Any]:
        settings = self.state.settings
        if environ["REQUEST_METHOD"] not in self.methods:
            raise RequestError(405, "method not allowed", "use POST")
        if not authorized(settings.token, environ.get("HTTP_AUTHORIZATION", "")):
            raise UNAUTHORIZED
        limit = settings.max_body_bytes
        content_type = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        budget = self.state.uploads
        body = small_declared_body(environ, min(limit, ONE_READ_BYTES), budget)
        if body is None:
            try:
                # Bounded by Content-Length, or the whole chunked body when the server ends it.
                stream = get_input_stream(environ, max_content_length=limit + 1)
            except RequestEntityTooLarge:
                raise RequestError(
                    413, "request too large", f"request body over the limit of {limit} bytes"
                ) from None
            try:
                body = read_body(stream, limit, budget)
            except ClientDisconnected:  # a body shorter than declared: the client went away
                raise RequestError(
                    400, "incomplete body", "the body ended before its declared length"
                ) from None
        try:
            return self.state.predict(content_type, body, request_id)
        finally:
            budget.give(len(body))
