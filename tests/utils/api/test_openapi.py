"""The OpenAPI document: its request model accepts exactly what the parser accepts."""

from __future__ import annotations

import json

import pytest
from pydantic import TypeAdapter, ValidationError

from utils.api.endpoints import ENDPOINTS
from utils.api.openapi import ANSWERS, build_spec, prediction_request
from utils.api.serving import RequestError, rows_from_json

FEATURES = ["a", "b"]
IDS = ["cid"]
TARGET = "y"
MAX_ROWS = 3
ALLOWED = {*FEATURES, *IDS, TARGET}

split = {"columns": ["a", "b"], "data": [[1, 2]]}
PAYLOADS = [
    [{"a": 1, "b": 2.5}],
    [{"a": None, "b": 2}],
    [{"a": 1, "b": 2, "cid": "x", "y": 1}],
    [{"a": 1, "b": 2, "cid": {"any": ["json"]}}],
    [[1, 2], {"a": 3, "b": 4}],
    [[1, None]],
    [{"a": 1}],
    [{"a": 1, "b": 2, "z": 3}],
    [{"a": "1", "b": 2}],
    [{"a": True, "b": 2}],
    [{"a": float("nan"), "b": 2}],
    [{"a": 10**400, "b": 2}],
    [[1, 2, 3]],
    [[1]],
    [],
    [[1, 2]] * 4,
    [3],
    {"dataframe_records": [{"a": 1, "b": 2}]},
    {"dataframe_records": [{"a": 1, "b": 2}], "instances": [[1, 2]]},
    {"instances": [[1, 2]]},
    {"inputs": [{"a": 1, "b": 2}]},
    {"inputs": []},
    {"dataframe_split": split},
    {"dataframe_split": {**split, "index": [0]}},
    {"dataframe_split": {**split, "extra": 1}},
    {"dataframe_split": {"columns": ["b", "cid", "a"], "data": [[2, "c1", 1]]}},
    {"dataframe_split": {"columns": ["b", "a"], "data": [[2, "x"]]}},
    {"dataframe_split": {"columns": ["a"], "data": [[1]]}},
    {"dataframe_split": {"columns": ["a", "b", "q"], "data": [[1, 2, 3]]}},
    {"dataframe_split": {"columns": ["a", "a", "b"], "data": [[1, 1, 2]]}},
    {"dataframe_split": {"columns": ["a", "b"], "data": [[1]]}},
    {"dataframe_split": {"columns": ["a", "b"], "data": []}},
    {"dataframe_split": {"columns": ["a", "b"]}},
    {"filepath": "testdata/x.csv"},
    {"filepath": ""},
    {"filepath": 3},
    {"filepath": "x.csv", "instances": [[1, 2]]},
    {},
    {"nothing": 1},
    "text",
    None,
]


def parser_accepts(payload) -> bool:
    if isinstance(payload, dict) and set(payload) == {"filepath"}:
        # The API reads the file next (404 when absent); the body itself is accepted.
        return isinstance(payload["filepath"], str) and bool(payload["filepath"])
    try:
        rows_from_json(payload, FEATURES, ALLOWED, MAX_ROWS)
    except RequestError:
        return False
    return True


@pytest.mark.parametrize("payload", PAYLOADS, ids=lambda p: json.dumps(p, default=str)[:60])
def test_the_request_model_accepts_exactly_what_the_parser_accepts(payload):
    model = TypeAdapter(prediction_request(FEATURES, IDS, TARGET, MAX_ROWS))
    try:
        model.validate_python(payload)
        declared = True
    except ValidationError:
        declared = False
    assert declared == parser_accepts(payload)


def test_every_endpoint_is_described_with_its_answer_and_errors():
    spec = build_spec(FEATURES, IDS, TARGET, MAX_ROWS)
    schemas = spec["components"]["schemas"]
    for endpoint in ENDPOINTS:
        operation = spec["paths"][endpoint.path][endpoint.method.lower()]
        answer = operation["responses"]["200"]["content"][endpoint.media_type]["schema"]
        if endpoint.media_type == "application/json":
            assert answer["$ref"].rsplit("/", 1)[1] == endpoint.answer in schemas
        else:
            assert answer == {"type": "string"}
        assert {int(s) for s in operation["responses"]} - {200} == set(endpoint.errors)
        assert ("security" in operation) == endpoint.protected
    assert set(ANSWERS) == {e.answer for e in ENDPOINTS if e.media_type == "application/json"}
    body = spec["paths"]["/prediction"]["post"]["requestBody"]["content"]
    assert set(body) == {"application/json", "text/csv"}
    assert "a" in json.dumps(schemas["Record"]) and "number_of_employees" not in json.dumps(spec)
