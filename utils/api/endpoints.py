"""The scoring API's endpoints, listed once.

The app registers exactly these routes (it refuses to start otherwise), ``GET /`` lists them,
the OpenAPI document describes them with the answer models named here (utils/api/openapi.py),
apicalls.py calls each, and a test checks that README's table names the same ones.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Endpoint:
    method: str
    path: str
    summary: str
    # The model of a 2xx answer's body, a class of utils.api.openapi.
    answer: str
    # Statuses other than 200 the endpoint gives, each with a JSON {"error", "detail"} body.
    errors: tuple[int, ...] = ()
    # Needs "Authorization: Bearer <token>" when the API has a token (api.token_env).
    protected: bool = False
    # Answers 503 until another program writes its data (fullprocess.py): normal, not a fault.
    later: bool = False
    # The 2xx answer's type; a JSON answer has a model of utils.api.openapi, others are text.
    media_type: str = "application/json"


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint("GET", "/", "this list of endpoints", "Welcome"),
    Endpoint(
        "POST",
        "/prediction",
        "predictions and class-1 probabilities, one per row, in order",
        "Prediction",
        (400, 401, 404, 413, 415, 503),
        protected=True,
    ),
    Endpoint(
        "GET",
        "/scoring",
        "F1, precision, recall and ROC AUC of the deployed model on the test data",
        "Scoring",
        (401, 503),
        protected=True,
    ),
    Endpoint(
        "GET",
        "/summarystats",
        "mean, median and std of each numeric column of the ingested data",
        "SummaryStats",
        (401, 503),
        protected=True,
    ),
    Endpoint(
        "GET",
        "/diagnostics",
        "missing %, step timings and dependencies of the last diagnostics run",
        "Diagnostics",
        (401, 503),
        protected=True,
    ),
    Endpoint(
        "GET",
        "/monitoring",
        "the deployed model's estimated performance per chunk of live traffic and unlabelled "
        "batches, with bands, drift and alerts (models/monitoring.json)",
        "Monitoring",
        (401, 503),
        protected=True,
        later=True,
    ),
    Endpoint(
        "GET",
        "/dashboard",
        "a page for people: the model and its health now; estimated and realised F1 per chunk"
        " with its band and alerts, drift per feature and prediction volume over time, with the"
        " deployments and rollbacks marked",
        "Page",
        (401,),
        protected=True,
        media_type="text/html",
    ),
    Endpoint(
        "GET",
        "/health",
        "the model version served (and the challenger's, if any); degraded when the newest "
        "release was refused",
        "Health",
        (503,),
    ),
    Endpoint(
        "GET",
        "/model",
        "version, trained at, deployed at, features and F1 of the deployed model, and of the "
        "challenger answering in the shadow, if any",
        "ModelInfo",
        (503,),
    ),
    Endpoint("GET", "/openapi.json", "the OpenAPI 3 description of this API", "OpenApi"),
    Endpoint(
        "GET",
        "/docs",
        "Swagger UI: read the OpenAPI document and try the API from a browser, offline",
        "Page",
        media_type="text/html",
    ),
    Endpoint("GET", "/docs/swagger-ui.css", "Swagger UI's style", "Asset", media_type="text/css"),
    Endpoint(
        "GET",
        "/docs/swagger-ui-bundle.js",
        "Swagger UI's script",
        "Asset",
        media_type="text/javascript",
    ),
    Endpoint(
        "GET",
        "/metrics",
        "Prometheus metrics of all workers: requests and latency per endpoint and status, rows"
        " and classes predicted, model version served, model loads, refused releases; the live"
        " monitoring's newest chunks (risk_monitoring_*)",
        "PrometheusText",
        (404,),
        media_type="text/plain",
    ),
)

PROTECTED_PATHS = frozenset(e.path for e in ENDPOINTS if e.protected)
