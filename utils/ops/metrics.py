"""The API's Prometheus metrics, right under several gunicorn workers.

Each worker is its own process with its own counters, and a scrape reaches one of them. So
under gunicorn the values live in prometheus_client's multiprocess files
(``PROMETHEUS_MULTIPROC_DIR``, which utils.api.gunicorn_conf sets up before any worker starts)
and ``GET /metrics`` adds up every worker's. Without it (the Flask test client, the development
server) they are the process's own.

Families (all prefixed ``risk_api_``): requests and latency per endpoint, method and status,
rows predicted, predictions per class, the model version served (a gauge, 1 for the version
label a live worker serves), model loads, refused releases, whether the API is degraded, and
the answered rows the prediction log lost.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from functools import cache
from pathlib import Path
from typing import Any

from utils.api.endpoints import ENDPOINTS

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Request latencies are about a millisecond; the buckets resolve the API's p99 target (5 ms).
LATENCY_BUCKETS = (0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0)
# Paths outside the endpoint table share one label: a scanner cannot grow the series.
OTHER = "other"


class ApiMetrics:
    """The metric families; one set per process (prometheus_client registers them globally)."""

    def __init__(self) -> None:
        from prometheus_client import Counter, Gauge, Histogram

        self.requests = Counter(
            "risk_api_requests", "HTTP requests answered", ["endpoint", "method", "status"]
        )
        self.latency = Histogram(
            "risk_api_request_duration_seconds",
            "Time from the request to the answer's headers",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
        )
        self.rows = Counter("risk_api_rows_predicted", "Rows answered by /prediction")
        self.classes = Counter(
            "risk_api_predictions", "Rows predicted, per predicted class", ["predicted_class"]
        )
        self.model_version = Gauge(
            "risk_api_model_version",
            "1 for the model version a live worker serves",
            ["version"],
            multiprocess_mode="livemax",
        )
        self.model_loads = Counter(
            "risk_api_model_loads", "Models loaded: the first and every reload after a deployment"
        )
        self.refused_releases = Counter(
            "risk_api_refused_releases", "Releases refused (tampered, incomplete, unreadable)"
        )
        self.degraded = Gauge(
            "risk_api_degraded",
            "1 while the newest release is refused and an older one is served",
            multiprocess_mode="livemax",
        )
        self.log_lost_rows = Counter(
            "risk_api_prediction_log_lost_rows",
            "Answered rows the prediction log could not write (a full disk, a read-only folder)",
        )
        self._class_counters = (self.classes.labels("0"), self.classes.labels("1"))

    def predicted(self, predictions: list[int]) -> None:
        positive = sum(predictions)
        self.rows.inc(len(predictions))
        if positive:
            self._class_counters[1].inc(positive)
        if len(predictions) > positive:
            self._class_counters[0].inc(len(predictions) - positive)

    def serving(self, version: Any, previous: Any | None) -> None:
        """A model was loaded: it is the version served now."""
        self.model_loads.inc()
        if previous is not None and str(previous) != str(version):
            self.model_version.labels(str(previous)).set(0)
        self.model_version.labels(str(version)).set(1)
        self.degraded.set(0)

    def refused(self) -> None:
        self.refused_releases.inc()
        self.degraded.set(1)


@cache
def api_metrics() -> ApiMetrics:
    return ApiMetrics()


def exposition() -> tuple[bytes, str]:
    """Every worker's metrics in Prometheus' text format, and its content type."""
    from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

    registry = REGISTRY
    if os.environ.get(MULTIPROC_ENV):
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
    return generate_latest(registry), CONTENT_TYPE_LATEST


class MetricsMiddleware:
    """Counts and times every request, around the whole WSGI app."""

    def __init__(self, app: Callable, metrics: ApiMetrics) -> None:
        self.app = app
        self.metrics = metrics
        self.paths = {e.path for e in ENDPOINTS}
        # Label children by key: labels() takes a lock and builds a tuple on every call.
        self._requests: dict[tuple[str, str, str], Any] = {}
        self._latency: dict[str, Any] = {}

    def __call__(self, environ: dict[str, Any], start_response: Callable) -> Iterable[bytes]:
        started = time.perf_counter()
        path = environ.get("PATH_INFO", "")
        endpoint = path if path in self.paths else OTHER
        method = environ.get("REQUEST_METHOD", "")
        seen: list[str] = []

        def recording_start_response(status: str, headers: list, exc_info=None):
            seen.append(status[:3])
            return start_response(status, headers, exc_info)

        body = self.app(environ, recording_start_response)
        self.record(endpoint, method, seen[-1] if seen else "500", started)
        return body

    def record(self, endpoint: str, method: str, status: str | int, started: float) -> None:
        """One request to ``endpoint`` answered ``status``, begun at perf_counter ``started``."""
        key = (endpoint, method if method in ("GET", "POST") else OTHER, str(status))
        counter = self._requests.get(key)
        if counter is None:
            counter = self._requests[key] = self.metrics.requests.labels(*key)
        counter.inc()
        latency = self._latency.get(endpoint)
        if latency is None:
            latency = self._latency[endpoint] = self.metrics.latency.labels(endpoint)
        latency.observe(time.perf_counter() - started)


RUN_PREFIX = "risk_fullprocess"


def _previous_success(path: Path) -> float | None:
    """The last success time an earlier run wrote to ``path``, if any."""
    from prometheus_client.parser import text_string_to_metric_families

    try:
        text = path.read_text(encoding="utf-8")
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == f"{RUN_PREFIX}_last_success_timestamp_seconds":
                    return float(sample.value)
    except (OSError, ValueError):
        return None
    return None


def write_run_textfile(
    path: Path, outcome: str, success: bool, finished_at: float, duration_s: float
) -> None:
    """The automation's last run for node-exporter's textfile collector (written atomically
    by prometheus_client): when it ran, how long, how it ended, and when it last succeeded,
    so that an alert rule sees a failing or a stale cron."""
    from prometheus_client import CollectorRegistry, Gauge, write_to_textfile

    path = Path(path)
    last_success = finished_at if success else _previous_success(path)
    registry = CollectorRegistry()

    def gauge(name: str, help_text: str, value: float, **labels: str) -> None:
        metric = Gauge(f"{RUN_PREFIX}_{name}", help_text, list(labels), registry=registry)
        (metric.labels(**labels) if labels else metric).set(value)

    gauge("last_run_timestamp_seconds", "When the last run ended (Unix time)", finished_at)
    gauge("last_run_duration_seconds", "How long the last run took", duration_s)
    gauge("last_run_success", "1 if the last run ended without an error", float(success))
    gauge("last_run_outcome", "The last run's outcome (label), always 1", 1.0, outcome=outcome)
    if last_success is not None:
        gauge("last_success_timestamp_seconds", "When a run last succeeded", last_success)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_to_textfile(str(path), registry)
