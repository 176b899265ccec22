"""The OpenAPI 3 description of the scoring API."""

from __future__ import annotations

from typing import Any


def _error(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }


def _json(schema: dict[str, Any], description: str = "OK") -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def build_spec(features: list[str], max_rows: int) -> dict[str, Any]:
    number = {"type": ["number", "null"], "description": "null: missing, imputed by the model"}
    record = {
        "type": "object",
        "properties": {name: number for name in features},
        "required": list(features),
    }
    rows = {"type": "array", "items": record, "minItems": 1, "maxItems": max_rows}
    row_lists = {
        "type": "array",
        "items": {
            "type": "array",
            "items": number,
            "minItems": len(features),
            "maxItems": len(features),
        },
        "minItems": 1,
        "maxItems": max_rows,
    }
    prediction_body = {
        "oneOf": [
            rows,
            {
                "type": "object",
                "properties": {"dataframe_records": rows},
                "required": ["dataframe_records"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"instances": {"oneOf": [rows, row_lists]}},
                "required": ["instances"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"inputs": {"oneOf": [rows, row_lists]}},
                "required": ["inputs"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {
                    "dataframe_split": {
                        "type": "object",
                        "properties": {
                            "columns": {"type": "array", "items": {"type": "string"}},
                            "data": row_lists,
                        },
                        "required": ["columns", "data"],
                    }
                },
                "required": ["dataframe_split"],
                "additionalProperties": False,
            },
            {
                "type": "object",
                "properties": {"filepath": {"type": "string"}},
                "required": ["filepath"],
                "additionalProperties": False,
            },
        ]
    }
    errors = {
        "400": _error("invalid input (the detail names the field or row)"),
        "401": _error("missing or wrong bearer token"),
        "413": _error("too many rows or body too large"),
    }
    stats = {"type": "object", "additionalProperties": {"type": "object"}}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Risk model scoring API", "version": "1.0.0"},
        "paths": {
            "/": {
                "get": {
                    "summary": "Welcome and the list of endpoints",
                    "responses": {"200": _json({"type": "object"})},
                }
            },
            "/prediction": {
                "post": {
                    "summary": "Predictions and class-1 probabilities, one per row, in order",
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": prediction_body},
                            "text/csv": {"schema": {"type": "string"}},
                        },
                    },
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "model_version": {},
                                    "predictions": {"type": "array", "items": {"type": "integer"}},
                                    "probabilities": {"type": "array", "items": {"type": "number"}},
                                },
                                "required": ["predictions", "probabilities"],
                            }
                        ),
                        **errors,
                        "404": _error("the named data file does not exist"),
                        "415": _error("unsupported content type"),
                        "503": _error("no model deployed yet"),
                    },
                }
            },
            "/scoring": {
                "get": {
                    "summary": "F1, precision, recall on the test data",
                    "responses": {
                        "200": _json({"type": "object"}),
                        **errors,
                        "503": _error("no model or no test data"),
                    },
                }
            },
            "/summarystats": {
                "get": {
                    "summary": "Mean, median, std per numeric column",
                    "responses": {"200": _json(stats), **errors, "503": _error("no ingested data")},
                }
            },
            "/diagnostics": {
                "get": {
                    "summary": "Last diagnostics run",
                    "responses": {
                        "200": _json({"type": "object"}),
                        **errors,
                        "503": _error("no diagnostics yet"),
                    },
                }
            },
            "/health": {
                "get": {
                    "summary": "Liveness with the model version; degraded when the newest "
                    "release was refused and the last good one still serves",
                    "responses": {
                        "200": _json(
                            {
                                "type": "object",
                                "properties": {
                                    "status": {"enum": ["ok", "degraded"]},
                                    "model_version": {},
                                    "release": {"type": "string"},
                                    "refused_release": {"type": "string"},
                                    "refused_because": {"type": "string"},
                                },
                                "required": ["status", "model_version", "release"],
                            }
                        ),
                        "503": _error("no model loaded"),
                    },
                }
            },
            "/model": {
                "get": {
                    "summary": "The deployed model",
                    "responses": {
                        "200": _json({"type": "object"}),
                        "503": _error("no model loaded"),
                    },
                }
            },
            "/openapi.json": {
                "get": {"summary": "This document", "responses": {"200": _json({"type": "object"})}}
            },
        },
        "components": {
            "schemas": {
                "Error": {
                    "type": "object",
                    "properties": {"error": {"type": "string"}, "detail": {"type": "string"}},
                    "required": ["error", "detail"],
                }
            }
        },
    }
