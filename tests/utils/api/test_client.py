"""What the API client sends for /prediction, by where the data set is and how large."""

from __future__ import annotations

import json

from utils.api import client as apicalls

CSV = "a,b\n1,2\n3,4\n5,6\n"


def test_a_small_file_in_the_data_folder_is_named(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "t.csv").write_text(CSV)
    content_type, body = apicalls.prediction_request(tmp_path / "data", tmp_path / "data/t.csv", 3)
    assert content_type == "application/json"
    assert json.loads(body) == {"filepath": "t.csv"}


def test_a_file_outside_the_data_folder_is_sent_whole(tmp_path):
    (tmp_path / "t.csv").write_text(CSV)
    assert apicalls.prediction_request(tmp_path / "data", tmp_path / "t.csv", 3) == (
        "text/csv",
        CSV.encode(),
    )


def test_a_file_over_the_row_limit_is_sent_cut_to_the_limit(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "t.csv").write_text(CSV)
    content_type, body = apicalls.prediction_request(tmp_path / "data", tmp_path / "data/t.csv", 2)
    assert (content_type, body) == ("text/csv", b"a,b\n1,2\n3,4\n")


def test_the_url_follows_port_as_serve_sh_does():
    from types import SimpleNamespace

    api = SimpleNamespace(host="127.0.0.1", port=8000)
    assert apicalls.api_url(api, {}) == "http://127.0.0.1:8000"
    assert apicalls.api_url(api, {"PORT": "9000"}) == "http://127.0.0.1:9000"


def test_an_endpoint_waiting_for_its_data_is_not_a_failure(tmp_path):
    answers = [
        apicalls.Answer("GET", "/monitoring", 503, {"error": "unavailable"}),
        apicalls.Answer("GET", "/health", 200, {}),
    ]
    apicalls.write_answers(answers, tmp_path / "a.txt")
    import pytest

    from utils.errors import PipelineError

    with pytest.raises(PipelineError, match="GET /scoring -> 503"):
        apicalls.write_answers([apicalls.Answer("GET", "/scoring", 503, {})], tmp_path / "b.txt")


def test_json_answers_are_indented_and_text_answers_written_as_they_came():
    answers = [
        apicalls.Answer("GET", "/health", 200, {"status": "ok"}),
        apicalls.Answer("GET", "/metrics", 200, "# HELP x\nx 1.0\n"),
    ]
    assert apicalls.format_answers(answers) == (
        'GET /health\nstatus: 200\n{\n  "status": "ok"\n}\n\n'
        "GET /metrics\nstatus: 200\n# HELP x\nx 1.0\n"
    )
