"""The scoring API: predictions from the deployed model, and its scores and diagnostics.

    python 06_reporting/app.py [--port 8000]      # development server on 127.0.0.1
    ./serve.sh                                    # gunicorn, workers from config.yaml

The model comes from production_deployment/: its sha256 is checked against the manifest before
it is unpickled, and a new deployment is picked up without a restart (one readlink per request).
"""

from __future__ import annotations

import argparse
import hmac
import json
import logging
import math
import os
import re
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import Any

import numpy as np
from flask import Blueprint, Flask, Response, current_app, request
from werkzeug.exceptions import HTTPException, RequestEntityTooLarge
from werkzeug.security import safe_join
from werkzeug.wsgi import get_input_stream

from utils import layout
from utils.api.endpoints import ENDPOINTS, PROTECTED_PATHS
from utils.api.model_source import DeployedModel, Loaded, RegistryModel
from utils.api.serving import (
    ApiSettings,
    RequestError,
    ids_from_json,
    parse_json,
    read_body,
    rows_from_csv,
    rows_from_json,
)
from utils.errors import PipelineError
from utils.monitoring.prediction_log import LoggedRequest, PredictionLog, new_request_id
from utils.ops.metrics import ApiMetrics, MetricsMiddleware, api_metrics, exposition

log = logging.getLogger("api")

DIAGNOSTICS_NAME = layout.DIAGNOSTICS


class FileCache:
    """A value computed from files, recomputed only when one of them changes."""

    def __init__(self) -> None:
        self._entries: dict[str, tuple[tuple, Any]] = {}

    def get(self, name: str, paths: list[Path], compute, extra: tuple = ()) -> Any:
        key = (*extra, *(self._stamp(p) for p in paths))
        cached = self._entries.get(name)
        if cached is not None and cached[0] == key:
            return cached[1]
        value = compute()
        self._entries[name] = (key, value)
        return value

    @staticmethod
    def _stamp(path: Path) -> tuple:
        try:
            stat = path.stat()
        except OSError:
            return (str(path), None)
        return (str(path), stat.st_mtime_ns, stat.st_size)


def _finite(value: Any) -> Any:
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


def json_bytes(body: Any) -> bytes:
    """The answer as JSON; a NaN or infinity (the std of one row, say) becomes null."""
    try:
        return json.dumps(body, allow_nan=False).encode()
    except ValueError:
        return json.dumps(_finite(body), allow_nan=False).encode()


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json_bytes(body), status=status, mimetype="application/json")


def error_json(error: str, detail: str) -> bytes:
    return json_bytes({"error": error, "detail": detail})


def error_response(status: int, error: str, detail: str) -> Response:
    return Response(error_json(error, detail), status=status, mimetype="application/json")


def authorized(token: str | None, header: str) -> bool:
    """Whether an Authorization header carries the API's token (any, when it has none)."""
    if not token:
        return True
    return hmac.compare_digest(header.encode(), f"Bearer {token}".encode())


UNAUTHORIZED = RequestError(401, "unauthorized", "send Authorization: Bearer <token>")


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
        joined = safe_join(str(data_dir), name)
        if joined is None:
            raise RequestError(400, "invalid filepath", "filepath must stay inside the data folder")
        real = Path(joined).resolve()
        if not real.is_relative_to(data_dir.resolve()):
            raise RequestError(400, "invalid filepath", "filepath must stay inside the data folder")
        if not real.is_file():
            raise RequestError(404, "not found", f"no data file {name!r} in the data folder")
        if real.stat().st_size > settings.max_body_bytes:
            raise RequestError(413, "file too large", f"{name!r} is over the size limit")
        try:
            text = real.read_text(encoding="utf-8", errors="replace")
        except OSError as err:
            raise RequestError(400, "unreadable file", f"{name!r}: {err.strerror}") from None
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


class PredictionEndpoint:
    """POST /prediction as a plain WSGI application in front of Flask.

    Why not a Flask view: Flask's request context, request and response objects cost about
    190 us of the 620 us a one-row prediction takes under gunicorn (measured with
    benchmarks/api.py, 2 gevent workers, concurrency 8): 2,800 requests/s and a p99 of
    4.9 ms as a view, 3,900 and 3.6 ms here. Every other endpoint is a Flask view.
    """

    path = "/prediction"
    methods = ("POST",)

    def __init__(self, state: ApiState, flask_app: Any) -> None:
        self.state = state
        self.flask_app = flask_app

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        if environ.get("PATH_INFO") != self.path:
            return self.flask_app(environ, start_response)
        request_id = client_request_id(environ.get("HTTP_X_REQUEST_ID")) or new_request_id()
        headers = [("Content-Type", "application/json"), ("X-Request-ID", request_id)]
        try:
            status, body = 200, json_bytes(self.answer(environ, request_id))
        except RequestError as err:
            status, body = err.status, error_json(err.error, err.detail)
            if status == 405:
                headers.append(("Allow", ", ".join(self.methods)))
        except Exception as err:  # noqa: BLE001 - one JSON 500, as Flask's views give
            log.exception("unexpected error on %s %s", environ.get("REQUEST_METHOD"), self.path)
            status, body = 500, error_json("internal error", type(err).__name__)
        headers.append(("Content-Length", str(len(body))))
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [body]

    def answer(self, environ: dict[str, Any], request_id: str) -> dict[str, Any]:
        settings = self.state.settings
        if environ["REQUEST_METHOD"] not in self.methods:
            raise RequestError(405, "method not allowed", "use POST")
        if not authorized(settings.token, environ.get("HTTP_AUTHORIZATION", "")):
            raise UNAUTHORIZED
        limit = settings.max_body_bytes
        try:
            # Bounded by Content-Length, or the whole chunked body when the server ends it.
            stream = get_input_stream(environ, max_content_length=limit + 1)
        except RequestEntityTooLarge:
            raise RequestError(
                413, "request too large", f"request body over the limit of {limit} bytes"
            ) from None
        content_type = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        return self.state.predict(content_type, read_body(stream, limit), request_id)


service = Blueprint("service", __name__)
monitoring = Blueprint("monitoring", __name__)


@service.get("/")
def welcome() -> Response:
    return json_response(
        {
            "service": "risk model scoring API",
            "endpoints": [
                {"method": e.method, "path": e.path, "description": e.summary} for e in ENDPOINTS
            ],
        }
    )


@monitoring.get("/monitoring")
def live_monitoring() -> Response:
    path = Path(api_state().settings.model_dir) / layout.MONITORING

    def read() -> dict[str, Any]:
        if not path.is_file():
            raise PipelineError(
                f"{path.name}: no live monitoring yet; fullprocess.py writes it once predictions"
                " are logged or unlabelled files arrive"
            )
        return json.loads(path.read_text(encoding="utf-8"))

    try:
        return json_response(api_state().cache.get("monitoring", [path], read))
    except PipelineError as err:
        raise unavailable(err) from None


@service.get("/health")
def health() -> Response:
    loaded, refused = api_state().model.state()
    if loaded is None:
        detail = "no deployed model is loaded yet"
        if refused is not None:
            detail = f"release {refused.release} refused ({refused.reason}); no good release"
        return error_response(503, "no model", detail)
    body = {"status": "ok", "model_version": loaded.version, "release": loaded.release.name}
    if refused is not None:
        # Still serving, so still 200; a monitor reads the status.
        body.update(
            status="degraded", refused_release=refused.release, refused_because=refused.reason
        )
    return json_response(body)


@service.get("/model")
def model_info() -> Response:
    loaded = api_state().loaded_or_503()
    manifest = loaded.manifest
    return json_response(
        {
            "name": manifest.get("registered_model_name"),
            "version": loaded.version,
            "trained_at": manifest.get("trained_at"),
            "deployed_at": manifest.get("deployed_at"),
            "features": loaded.features,
            "f1": manifest.get("f1"),
            "release": manifest.get("release"),
        }
    )


@service.get("/metrics")
def metrics() -> Response:
    if api_state().metrics is None:
        return error_response(404, "not found", "metrics are off (api.metrics=false)")
    body, content_type = exposition()
    return Response(body, content_type=content_type)


@service.get("/openapi.json")
def openapi() -> Response:
    from utils.api.openapi import build_spec

    state = api_state()
    settings = state.settings
    loaded = state.model.current()
    if loaded is None:
        columns = (settings.features, settings.id_columns, settings.target)
    else:
        columns = (loaded.features, loaded.id_columns, loaded.target)
    spec = state.cache.get(
        "openapi", [], lambda: build_spec(*columns, settings.max_rows), extra=(repr(columns),)
    )
    return json_response(spec)


def unavailable(err: PipelineError) -> RequestError:
    return RequestError(503, "unavailable", str(err))


@monitoring.get("/scoring")
def scoring() -> Response:
    from utils.data.schema import read_dataset
    from utils.model.scoring import evaluate

    state = api_state()
    loaded = state.loaded_or_503()
    test_data = Path(state.settings.test_data)

    def test_metrics() -> dict[str, Any]:
        schema = state.schema()
        return evaluate(loaded.model.model, read_dataset(test_data, schema, ids=False), schema)

    try:
        metrics = state.cache.get(
            "scoring", [test_data], test_metrics, extra=(str(loaded.release),)
        )
    except PipelineError as err:
        raise unavailable(err) from None
    return json_response({"model_version": loaded.version, "dataset": test_data.name, **metrics})


@monitoring.get("/summarystats")
def summarystats() -> Response:
    from utils.data.schema import read_dataset
    from utils.report.diagnostics import summary_statistics

    state = api_state()
    finaldata = Path(state.settings.finaldata)

    def statistics() -> dict[str, Any]:
        data = read_dataset(finaldata, state.schema(), ids=False)
        return summary_statistics(data, list(state.settings.id_columns))

    try:
        stats = state.cache.get("summarystats", [finaldata], statistics)
    except PipelineError as err:
        raise unavailable(err) from None
    return json_response({"dataset": finaldata.name, "statistics": stats})


@monitoring.get("/diagnostics")
def diagnostics() -> Response:
    path = Path(api_state().settings.model_dir) / DIAGNOSTICS_NAME

    def read() -> dict[str, Any]:
        if not path.is_file():
            raise PipelineError(f"{path.name}: no diagnostics yet; run the diagnostics step")
        report = json.loads(path.read_text(encoding="utf-8"))
        return {
            k: report.get(k)
            for k in ("model_version", "missing_percent", "timings_s", "dependencies")
        }

    try:
        return json_response(api_state().cache.get("diagnostics", [path], read))
    except PipelineError as err:
        raise unavailable(err) from None


def _served_routes(app: Flask, raw: PredictionEndpoint) -> set[tuple[str, str]]:
    flask_routes = {
        (method, rule.rule)
        for rule in app.url_map.iter_rules()
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    return flask_routes | {(method, raw.path) for method in raw.methods}


def create_app(settings: ApiSettings) -> Flask:
    """The Flask app for ``settings``; nothing is loaded until the first request needs it."""
    app = Flask("risk_api", static_folder=None)
    # One byte over the limit, so that read_body sees a chunked body that is too long whole
    # instead of werkzeug cutting it silently at the limit.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1
    counted = api_metrics() if settings.metrics else None
    state = ApiState(
        settings,
        (
            RegistryModel(settings, counted)
            if settings.model_source == "registry"
            else DeployedModel(Path(settings.deployment_dir), settings, counted)
        ),
        FileCache(),
        PredictionLog(Path(settings.log_dir)) if settings.log_dir else None,
        counted,
    )
    app.extensions["risk_api"] = state
    app.extensions["deployed_model"] = state.model
    app.register_blueprint(service)
    app.register_blueprint(monitoring)

    @app.before_request
    def check_token() -> Response | None:
        if request.path in PROTECTED_PATHS:
            if not authorized(settings.token, request.headers.get("Authorization", "")):
                raise UNAUTHORIZED
        return None

    @app.errorhandler(RequestError)
    def on_request_error(err: RequestError) -> Response:
        return error_response(err.status, err.error, err.detail)

    @app.errorhandler(HTTPException)
    def on_http_error(err: HTTPException) -> Response:
        response = error_response(err.code or 400, err.name.lower(), err.description or err.name)
        if err.code == 405 and getattr(err, "valid_methods", None):
            response.headers["Allow"] = ", ".join(err.valid_methods)
        return response

    @app.errorhandler(Exception)
    def on_unexpected(err: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "internal error", type(err).__name__)

    prediction = PredictionEndpoint(state, app.wsgi_app)
    app.wsgi_app = prediction if counted is None else MetricsMiddleware(prediction, counted)
    served = _served_routes(app, prediction)
    declared = {(e.method, e.path) for e in ENDPOINTS}
    if served != declared:
        raise RuntimeError(f"routes {sorted(served ^ declared)} differ from utils.api.endpoints")
    return app


def warmed(app: Flask) -> Flask:
    """Load the model now, in the worker that will serve, not during its first request."""
    app.extensions["deployed_model"].current()
    return app


# serve.sh's Hydra overrides reach the gunicorn workers through this variable (JSON list).
OVERRIDES_ENV = "RISK_API_OVERRIDES"


def create_app_from_project(root: str) -> Flask:
    """For gunicorn: ``'app:create_app_from_project("/path/to/project")'``, with the Hydra
    overrides of ``RISK_API_OVERRIDES``."""
    from utils.config import load_project_config
    from utils.runtime.logs import configure_logging

    configure_logging()
    overrides = json.loads(os.environ.get(OVERRIDES_ENV) or "[]")
    config = load_project_config(Path(root), overrides)
    return warmed(
        create_app(ApiSettings.from_config(config, Path(root).resolve(), dict(os.environ)))
    )


def serve_with_gunicorn(root: Path, overrides: list[str], port: int | None) -> None:
    """Check the configuration, then become gunicorn serving it (./serve.sh)."""
    from utils.config import load_project_config
    from utils.runtime.processes import gunicorn_command

    config = load_project_config(root, overrides)
    port = port or int(os.environ.get("PORT") or config.api.port)
    workers = int(os.environ.get("API_WORKERS") or config.api.workers)
    command = gunicorn_command(
        f"app:create_app_from_project({str(root)!r})", f"{config.api.host}:{port}", workers
    )
    command[-1:-1] = ["--access-logfile", "-"]
    log.info("serving on http://%s:%s with %s workers", config.api.host, port, workers)
    os.environ[OVERRIDES_ENV] = json.dumps(overrides)
    os.execv(command[0], command)


def create_app_from_file(path: str) -> Flask:
    """For gunicorn, with settings written by another process (the reporting step)."""
    from utils.runtime.logs import configure_logging

    configure_logging()
    return warmed(create_app(ApiSettings.from_json(Path(path).read_text(encoding="utf-8"))))


if __name__ == "__main__":
    from utils.runtime.cli import run_entry_point

    parser = argparse.ArgumentParser(description="Development server of the scoring API.")
    parser.add_argument(
        "--root",
        default=str(Path(__file__).resolve().parents[1]),
        help="project folder whose config.yaml is used",
    )
    parser.add_argument("--port", type=int, default=None, help="port (default: PORT or config)")
    parser.add_argument("--debug", action="store_true", help="Flask debug mode (development only)")
    parser.add_argument(
        "--gunicorn", action="store_true", help="serve with gunicorn (what ./serve.sh runs)"
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. api.max_rows=100")
    args = parser.parse_args()

    def serve() -> None:
        from utils.config import load_project_config

        if args.gunicorn:
            serve_with_gunicorn(Path(args.root).resolve(), args.overrides, args.port)
        config = load_project_config(Path(args.root), args.overrides)
        port = args.port or int(os.environ.get("PORT") or config.api.port)
        settings = ApiSettings.from_config(config, Path(args.root).resolve(), dict(os.environ))
        create_app(settings).run(host=config.api.host, port=port, debug=args.debug)

    run_entry_point("api", serve)
