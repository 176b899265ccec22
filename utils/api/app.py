"""The scoring API's Flask factories: ``create_app(settings)``, and the two gunicorn builds
(from the project's config.yaml, or from a settings file another process wrote).

The model comes from production_deployment/: its skops file's sha256 is checked against the
manifest and it is loaded with the trusted types only (nothing in it can run code), and a new
deployment is picked up without a restart (one readlink per request)."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from flask import Flask, Response, request
from werkzeug.exceptions import HTTPException

from utils.api.dashboard import dashboard
from utils.api.docs import docs
from utils.api.endpoints import ENDPOINTS, PROTECTED_PATHS
from utils.api.model_source import DeployedModel, RegistryModel
from utils.api.responses import (
    UNAUTHORIZED,
    FileCache,
    authorized,
    challenge,
    error_response,
)
from utils.api.routes import monitoring, service
from utils.api.serving import (
    RequestError,
)
from utils.api.settings import ApiSettings
from utils.api.state import ApiState, PredictionEndpoint
from utils.layout import challenger_link
from utils.model.deployment import CHALLENGER
from utils.monitoring.prediction_log import PredictionLog
from utils.ops.metrics import MetricsMiddleware, api_metrics

log = logging.getLogger("api")


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
    # deployment.strategy shadow: the challenger answers every logged row beside the champion.
    challenger = (
        RegistryModel(settings, role=CHALLENGER)
        if settings.model_source == "registry"
        else DeployedModel(
            challenger_link(Path(settings.deployment_dir)), settings, role=CHALLENGER
        )
    )
    state = ApiState(
        settings,
        (
            RegistryModel(settings, counted)
            if settings.model_source == "registry"
            else DeployedModel(Path(settings.deployment_dir), settings, counted)
        ),
        FileCache(),
        (
            PredictionLog(
                Path(settings.log_dir),
                on_lost=counted.log_lost_rows.inc if counted else None,
                challenger=challenger.current,
            )
            if settings.log_dir
            else None
        ),
        counted,
        challenger,
    )
    app.extensions["risk_api"] = state
    app.extensions["deployed_model"] = state.model
    app.register_blueprint(service)
    app.register_blueprint(monitoring)
    app.register_blueprint(docs)
    app.register_blueprint(dashboard)

    @app.before_request
    def check_token() -> Response | None:
        if request.path in PROTECTED_PATHS:
            if not authorized(settings.token, request.headers.get("Authorization", "")):
                raise UNAUTHORIZED
        return None

    @app.errorhandler(RequestError)
    def on_request_error(err: RequestError) -> Response:
        response = error_response(err.status, err.error, err.detail)
        if err.status == 401:
            response.headers["WWW-Authenticate"] = challenge(request.path)
        return response

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

    counting = None if counted is None else MetricsMiddleware(app.wsgi_app, counted)
    prediction = PredictionEndpoint(state, counting or app.wsgi_app, counting)
    app.wsgi_app = prediction
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
    """For gunicorn: ``'utils.api.app:create_app_from_project("/path/to/project")'``, with the Hydra
    overrides of ``RISK_API_OVERRIDES``."""
    from utils.config import load_project_config
    from utils.runtime.logs import configure_logging

    configure_logging()
    overrides = json.loads(os.environ.get(OVERRIDES_ENV) or "[]")
    config = load_project_config(Path(root), overrides)
    return warmed(
        create_app(ApiSettings.from_config(config, Path(root).resolve(), dict(os.environ)))
    )


def create_app_from_file(path: str) -> Flask:
    """For gunicorn, with settings written by another process (the reporting step)."""
    from utils.runtime.logs import configure_logging

    configure_logging()
    return warmed(create_app(ApiSettings.from_json(Path(path).read_text(encoding="utf-8"))))
