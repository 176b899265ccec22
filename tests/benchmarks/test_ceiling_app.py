"""The API benchmark's ceiling answers what /prediction answers, in shape: the same status,
headers and JSON keys and types, so that the two are compared on the same bytes' worth."""

from __future__ import annotations

import io
import json

from utils.api import app as app_module


def wsgi_answer(app, body: bytes) -> tuple[str, dict[str, str], bytes]:
    seen = {}

    def start_response(status, headers, exc_info=None):
        seen["status"], seen["headers"] = status, dict(headers)

    environ = {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/prediction", "CONTENT_TYPE": "application/json",
        "CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body),
        "SERVER_NAME": "localhost", "SERVER_PORT": "80", "wsgi.url_scheme": "http",
    }  # fmt: skip
    answer = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], answer


def test_the_ceiling_answers_a_one_row_prediction_in_its_shape(api_project):
    from benchmarks.ceiling_app import app as ceiling

    body = json.dumps({"dataframe_records": [{"lastmonth_activity": 234.0,
        "lastyear_activity": 1200.0, "number_of_employees": 50.0}]}).encode()  # fmt: skip
    ours = wsgi_answer(app_module.create_app(api_project["settings"]).wsgi_app, body)
    bare = wsgi_answer(ceiling, body)
    assert bare[0] == ours[0] == "200 OK"
    assert bare[1].keys() == ours[1].keys()
    assert bare[1]["Content-Type"] == ours[1]["Content-Type"]
    assert len(bare[1]["X-Request-ID"]) == len(ours[1]["X-Request-ID"])
    ours_json, bare_json = json.loads(ours[2]), json.loads(bare[2])
    assert bare_json.keys() == ours_json.keys()
    assert {k: type(v) for k, v in bare_json.items() if k != "model_version"} == {
        k: type(v) for k, v in ours_json.items() if k != "model_version"
    }
    assert abs(len(bare[2]) - len(ours[2])) <= 8  # a version name's length apart
