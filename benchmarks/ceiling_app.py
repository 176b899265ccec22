"""The API benchmark's ceiling: the least a WSGI app can do for a one-row prediction.

It reads the request body and answers a constant JSON of the shape /prediction answers, with
the same headers. Served by gunicorn with the API's own settings (benchmarks/api.py), its
throughput is what the server, the worker and the access log allow; ours over it says how
much of a request's time our code takes.

``loaded(settings_file)`` is the same bare app in a worker that has also built ours (model,
prediction log, metrics) and never calls it: what the weight of our app alone costs the
server, before our code answers anything.
"""

from __future__ import annotations

import json

ANSWER = json.dumps(
    {"model_version": "bench", "predictions": [0], "probabilities": [0.18734329462945354]}
).encode()


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    environ["wsgi.input"].read(length)
    start_response(
        "200 OK",
        [
            ("Content-Type", "application/json"),
            ("X-Request-ID", "0123456789abcdef0123456789abcdef"),
            ("Content-Length", str(len(ANSWER))),
        ],
    )
    return [ANSWER]


_KEPT: list = []


def loaded(settings_file: str):
    """gunicorn's factory: ``app`` in a worker that holds our whole app too."""
    from utils.api.app import create_app_from_file

    _KEPT.append(create_app_from_file(settings_file))
    return app
