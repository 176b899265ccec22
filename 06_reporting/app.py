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
import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException
from werkzeug.security import safe_join

from utils.deployment import load_release_model, releases_dir
from utils.errors import PipelineError
from utils.serving import (
    ApiSettings,
    CompiledModel,
    RequestError,
    parse_json,
    read_body,
    rows_from_csv,
    rows_from_json,
)

log = logging.getLogger("api")

DIAGNOSTICS_NAME = "diagnostics.json"
ENDPOINTS = [
    ("GET", "/", "this list"),
    ("POST", "/prediction", "predictions and class-1 probabilities for rows"),
    ("GET", "/scoring", "F1, precision and recall of the deployed model on the test data"),
    ("GET", "/summarystats", "mean, median and std of each numeric column of the ingested data"),
    ("GET", "/diagnostics", "missing %, step timings and dependencies of the last diagnostics run"),
    ("GET", "/health", "200 with the model version once a model is loaded, 503 before"),
    ("GET", "/model", "version, trained at, deployed at, features and F1 of the deployed model"),
    ("GET", "/openapi.json", "the OpenAPI 3 description of this API"),
]
PROTECTED = {"/prediction", "/scoring", "/summarystats", "/diagnostics"}


@dataclass(frozen=True)
class Loaded:
    model: CompiledModel
    manifest: dict[str, Any]
    release: Path
    # Columns a request may send: the model's features, its ids and its target.
    allowed: frozenset[str]

    @property
    def features(self) -> list[str]:
        return self.model.features

    @property
    def version(self) -> Any:
        return self.manifest.get("model_version")


@dataclass(frozen=True)
class Refused:
    release: str
    reason: str


class DeployedModel:
    """The deployed model, reloaded when the deployment link moves.

    A release that fails to load (tampered, incomplete, unreadable) is refused: a worker that
    already serves a model keeps it, and a worker started in that state serves the newest good
    release older than the refused one, so that every worker serves the same version and says
    the same thing on /health.
    """

    def __init__(self, deployment_dir: Path, settings: ApiSettings) -> None:
        self.deployment_dir = Path(deployment_dir)
        # The configured schema, for manifests written before they recorded the model's own.
        self.settings = settings
        self._target: str | None = None
        self._loaded: Loaded | None = None
        self._refused: Refused | None = None
        self._lock = threading.Lock()

    def current(self) -> Loaded | None:
        return self.state()[0]

    def state(self) -> tuple[Loaded | None, Refused | None]:
        """The model served, and the release the deployment link names if it was refused."""
        try:
            target = os.readlink(self.deployment_dir)
        except OSError:
            target = None
        if target != self._target:
            with self._lock:
                if target != self._target:
                    self._switch(target)
        return self._loaded, self._refused

    def _switch(self, target: str | None) -> None:
        self._target = target
        if target is None:
            self._refused = None
            return
        release = (self.deployment_dir.parent / target).resolve()
        try:
            self._loaded, self._refused = self._load(release), None
        except Exception as err:  # noqa: BLE001 - whatever the cause, the release is refused
            self._refused = Refused(release.name, str(err) or type(err).__name__)
            if self._loaded is None:
                self._loaded = self._last_good(release)
            log.error(
                "refusing release %s: %s; serving %s",
                release.name,
                self._refused.reason,
                self._loaded.release.name if self._loaded else "nothing",
            )
            return
        log.info("serving model version %s from %s", self._loaded.version, release.name)

    def _load(self, release: Path) -> Loaded:
        model, manifest = load_release_model(release)
        features = list(manifest.get("features") or self.settings.features)
        ids = manifest.get("id_columns")
        target = manifest.get("target") or self.settings.target
        allowed = frozenset(
            {*features, *(self.settings.id_columns if ids is None else ids), target}
        )
        sample = np.random.default_rng(0).gamma(2.0, 100.0, size=(64, len(features)))
        return Loaded(CompiledModel(model, features, sample), manifest, release, allowed)

    def _last_good(self, refused: Path) -> Loaded | None:
        """The newest release older than ``refused`` that loads (then any newer one)."""
        names = sorted(
            (p.name for p in releases_dir(self.deployment_dir).iterdir() if p.is_dir()),
            reverse=True,
        )
        candidates = [n for n in names if not n.startswith(".") and n != refused.name]
        ordered = [n for n in candidates if n < refused.name] + [
            n for n in candidates if n > refused.name
        ]
        for name in ordered:
            try:
                return self._load(refused.parent / name)
            except Exception:  # noqa: BLE001, S112 - try the next older release
                continue
        return None


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


def json_response(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body, allow_nan=False), status=status, mimetype="application/json")


def error_response(status: int, error: str, detail: str) -> Response:
    return json_response({"error": error, "detail": detail}, status)


def openapi_spec(settings: ApiSettings, features: list[str] | None = None) -> dict[str, Any]:
    from utils.openapi import build_spec

    return build_spec(features or settings.features, settings.max_rows)


def create_app(settings: ApiSettings) -> Flask:
    """The Flask app for ``settings``; nothing is loaded until the first request needs it."""
    app = Flask("risk_api")
    # One byte over the limit, so that read_body sees a chunked body that is too long whole
    # instead of werkzeug cutting it silently at the limit.
    app.config["MAX_CONTENT_LENGTH"] = settings.max_body_bytes + 1
    model = DeployedModel(Path(settings.deployment_dir), settings)
    app.extensions["deployed_model"] = model
    cache = FileCache()
    data_dir = Path(settings.data_dir)

    def loaded_or_503() -> Loaded:
        loaded = model.current()
        if loaded is None:
            raise RequestError(503, "no model", "no deployed model is loaded yet")
        return loaded

    @app.before_request
    def check_token() -> Response | None:
        if settings.token and request.path in PROTECTED:
            given = request.headers.get("Authorization", "")
            if not hmac.compare_digest(given.encode(), f"Bearer {settings.token}".encode()):
                return error_response(401, "unauthorized", "send Authorization: Bearer <token>")
        return None

    @app.errorhandler(RequestError)
    def on_request_error(err: RequestError) -> Response:
        return error_response(err.status, err.error, err.detail)

    @app.errorhandler(HTTPException)
    def on_http_error(err: HTTPException) -> Response:
        detail = err.description or err.name
        if err.code == 413:
            detail = f"request body over the limit of {settings.max_body_bytes} bytes"
        response = error_response(err.code or 400, err.name.lower(), detail)
        if err.code == 405 and hasattr(err, "valid_methods") and err.valid_methods:
            response.headers["Allow"] = ", ".join(err.valid_methods)
        return response

    @app.errorhandler(Exception)
    def on_unexpected(err: Exception) -> Response:
        log.exception("unexpected error on %s %s", request.method, request.path)
        return error_response(500, "internal error", type(err).__name__)

    @app.get("/")
    def welcome() -> Response:
        return json_response(
            {
                "service": "risk model scoring API",
                "endpoints": [{"method": m, "path": p, "description": d} for m, p, d in ENDPOINTS],
            }
        )

    def rows_from_filepath(name: Any, loaded: Loaded) -> np.ndarray:
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
        return rows_from_csv(text, loaded.features, loaded.allowed, settings.max_rows)

    @app.post("/prediction")
    def prediction() -> Response:
        loaded = loaded_or_503()
        content_type = (request.mimetype or "").lower()
        body = read_body(request.stream, settings.max_body_bytes)
        if not body:
            raise RequestError(400, "empty body", "send JSON rows, a CSV body or a filepath")
        if content_type == "text/csv":
            matrix = rows_from_csv(
                body.decode("utf-8", errors="replace"),
                loaded.features,
                loaded.allowed,
                settings.max_rows,
            )
        elif content_type == "application/json":
            payload = parse_json(body)
            if isinstance(payload, dict) and set(payload) == {"filepath"}:
                matrix = rows_from_filepath(payload["filepath"], loaded)
            else:
                matrix = rows_from_json(payload, loaded.features, loaded.allowed, settings.max_rows)
        else:
            raise RequestError(415, "unsupported media type", "send application/json or text/csv")
        predictions, probabilities = loaded.model.predict(matrix)
        return json_response(
            {
                "model_version": loaded.manifest.get("model_version"),
                "predictions": predictions,
                "probabilities": probabilities,
            }
        )

    def test_metrics(loaded: Loaded) -> dict[str, Any]:
        from utils.schema import DataSchema, read_dataset
        from utils.scoring import evaluate

        schema = DataSchema(settings.target, tuple(settings.features), tuple(settings.id_columns))
        metrics = evaluate(
            loaded.model.model, read_dataset(Path(settings.test_data), schema, ids=False), schema
        )
        return {
            k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in metrics.items()
        }

    def unavailable(err: PipelineError) -> RequestError:
        return RequestError(503, "unavailable", str(err))

    @app.get("/scoring")
    def scoring() -> Response:
        loaded = loaded_or_503()
        try:
            metrics = cache.get(
                "scoring",
                [Path(settings.test_data)],
                lambda: test_metrics(loaded),
                extra=(str(loaded.release),),
            )
        except PipelineError as err:
            raise unavailable(err) from None
        return json_response(
            {
                "model_version": loaded.manifest.get("model_version"),
                "dataset": Path(settings.test_data).name,
                **metrics,
            }
        )

    @app.get("/summarystats")
    def summarystats() -> Response:
        from utils.diagnostics import summary_statistics
        from utils.schema import DataSchema, read_dataset

        schema = DataSchema(settings.target, tuple(settings.features), tuple(settings.id_columns))
        finaldata = Path(settings.finaldata)
        try:
            stats = cache.get(
                "summarystats",
                [finaldata],
                lambda: summary_statistics(
                    read_dataset(finaldata, schema, ids=False), list(settings.id_columns)
                ),
            )
        except PipelineError as err:
            raise unavailable(err) from None
        return json_response({"dataset": finaldata.name, "statistics": stats})

    @app.get("/diagnostics")
    def diagnostics() -> Response:
        path = Path(settings.model_dir) / DIAGNOSTICS_NAME

        def read() -> dict[str, Any]:
            if not path.is_file():
                raise PipelineError(f"{path.name}: no diagnostics yet; run the diagnostics step")
            report = json.loads(path.read_text(encoding="utf-8"))
            return {
                k: report.get(k)
                for k in ("model_version", "missing_percent", "timings_s", "dependencies")
            }

        try:
            return json_response(cache.get("diagnostics", [path], read))
        except PipelineError as err:
            raise unavailable(err) from None

    @app.get("/health")
    def health() -> Response:
        loaded, refused = model.state()
        if loaded is None:
            detail = "no deployed model is loaded yet"
            if refused is not None:
                detail = f"release {refused.release} refused ({refused.reason}); no good release"
            return error_response(503, "no model", detail)
        body = {"status": "ok", "model_version": loaded.version, "release": loaded.release.name}
        if refused is not None:
            # Still serving, so still 200; a monitor reads the status.
            body.update(
                status="degraded",
                refused_release=refused.release,
                refused_because=refused.reason,
            )
        return json_response(body)

    @app.get("/model")
    def model_info() -> Response:
        loaded = loaded_or_503()
        manifest = loaded.manifest
        return json_response(
            {
                "name": manifest.get("registered_model_name"),
                "version": manifest.get("model_version"),
                "trained_at": manifest.get("trained_at"),
                "deployed_at": manifest.get("deployed_at"),
                "features": loaded.features,
                "f1": manifest.get("f1"),
                "release": manifest.get("release"),
            }
        )

    @app.get("/openapi.json")
    def openapi() -> Response:
        loaded = model.current()
        return json_response(openapi_spec(settings, loaded.features if loaded else None))

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
    from utils.logs import configure_logging

    configure_logging()
    overrides = json.loads(os.environ.get(OVERRIDES_ENV) or "[]")
    config = load_project_config(Path(root), overrides)
    return warmed(
        create_app(ApiSettings.from_config(config, Path(root).resolve(), dict(os.environ)))
    )


def serve_with_gunicorn(root: Path, overrides: list[str], port: int | None) -> None:
    """Check the configuration, then become gunicorn serving it (./serve.sh)."""
    from utils.config import load_project_config
    from utils.processes import gunicorn_command

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
    from utils.logs import configure_logging

    configure_logging()
    return warmed(create_app(ApiSettings.from_json(Path(path).read_text(encoding="utf-8"))))


if __name__ == "__main__":
    from utils.cli import run_entry_point

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
