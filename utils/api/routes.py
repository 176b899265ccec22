"""The API's routes as two blueprints: the service (predict, health, model, metrics,
OpenAPI) and monitoring (scores, statistics, diagnostics, live monitoring)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from flask import Blueprint, Response

from utils import layout
from utils.api.endpoints import ENDPOINTS
from utils.api.responses import error_response, json_response
from utils.api.serving import (
    RequestError,
)
from utils.api.state import api_state
from utils.errors import PipelineError, first_line
from utils.ops.metrics import exposition

log = logging.getLogger("api")


DIAGNOSTICS_NAME = layout.DIAGNOSTICS


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


def read_monitoring() -> dict[str, Any]:
    """models/monitoring.json, parsed once per change of the file for /monitoring and
    /metrics alike; a PipelineError when there is none yet or it cannot be read."""
    path = Path(api_state().settings.model_dir) / layout.MONITORING

    def read() -> dict[str, Any]:
        return json_object(
            path,
            "no live monitoring yet; fullprocess.py writes it once predictions are logged or"
            " unlabelled files arrive",
        )

    return api_state().cache.get("monitoring", [path], read)


def json_object(path: Path, missing: str) -> dict[str, Any]:
    """A JSON object another program writes (monitoring, diagnostics); PipelineError (a 503)
    when it is not there yet, cannot be read or is not an object: never a 500."""
    if not path.is_file():
        raise PipelineError(f"{path.name}: {missing}")
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as err:
        raise PipelineError(f"{path.name}: unreadable ({first_line(err)})") from None
    if not isinstance(found, dict):
        raise PipelineError(f"{path.name}: not a JSON object")
    return found


@monitoring.get("/monitoring")
def live_monitoring() -> Response:
    try:
        return json_response(read_monitoring())
    except PipelineError as err:
        raise unavailable(err) from None


def health_body() -> dict[str, Any]:
    """/health's answer: the status, and when degraded the refused release and why."""
    loaded, refused = api_state().model.state()
    if loaded is None:
        detail = "no deployed model is loaded yet"
        if refused is not None:
            detail = f"release {refused.release} refused ({refused.reason}); no good release"
        return {"status": "no model", "detail": detail}
    body = {"status": "ok", "model_version": loaded.version, "release": loaded.release.name}
    challenger = api_state().challenger_now()
    if challenger is not None:
        body["challenger_version"] = challenger.version
    if refused is not None:
        # Still serving, so still 200; a monitor reads the status.
        body.update(
            status="degraded", refused_release=refused.release, refused_because=refused.reason
        )
    return body


@service.get("/health")
def health() -> Response:
    body = health_body()
    if body["status"] == "no model":
        return error_response(503, "no model", body["detail"])
    return json_response(body)


def model_body(loaded, challenger=None) -> dict[str, Any]:
    """/model's answer for the loaded model (and the challenger beside it, if any)."""
    manifest = loaded.manifest
    return {
        **({"challenger": model_body(challenger)} if challenger is not None else {}),
        "name": manifest.get("registered_model_name"),
        "version": loaded.version,
        "trained_at": manifest.get("trained_at"),
        "deployed_at": manifest.get("deployed_at"),
        "features": loaded.features,
        "f1": manifest.get("f1"),
        "release": manifest.get("release"),
    }


@service.get("/model")
def model_info() -> Response:
    state = api_state()
    return json_response(model_body(state.loaded_or_503(), state.challenger_now()))


@service.get("/metrics")
def metrics() -> Response:
    if api_state().metrics is None:
        return error_response(404, "not found", "metrics are off (api.metrics=false)")
    body, content_type = exposition()
    return Response(body + monitoring_exposition(), content_type=content_type)


def monitoring_exposition() -> bytes:
    """The live monitoring's families, or nothing while there is no monitoring to show (a
    scrape never fails for it: the API's own figures matter more)."""
    from utils.ops.monitoring_metrics import exposition_text, monitoring_samples

    state = api_state()
    loaded = state.model.current()
    features = tuple(loaded.features if loaded is not None else state.settings.features)

    def compute() -> list:
        try:
            return monitoring_samples(read_monitoring(), list(features))
        except PipelineError:
            return []
        except (AttributeError, TypeError, KeyError, IndexError, ValueError) as err:
            # Once per change of the file, not once per scrape.
            log.warning("%s: not shown in /metrics (%s)", layout.MONITORING, first_line(err))
            return []

    path = Path(state.settings.model_dir) / layout.MONITORING
    samples = state.cache.get("monitoring_samples", [path], compute, extra=features)
    return exposition_text(samples)


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
        report = json_object(path, "no diagnostics yet; run the diagnostics step")
        return {
            k: report.get(k)
            for k in ("model_version", "missing_percent", "timings_s", "dependencies")
        }

    try:
        return json_response(api_state().cache.get("diagnostics", [path], read))
    except PipelineError as err:
        raise unavailable(err) from None
