"""The OpenAPI 3.1 document of the scoring API, generated from declared models.

The answers' models are fixed; the prediction request's depend on the deployed model's
features, id columns and target, so they are built per model. Tests validate real answers
against these models and check that the request models accept exactly what the parser
(utils/api/serving.py) accepts, so the document cannot drift from the code.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    RootModel,
    Strict,
    TypeAdapter,
    create_model,
    model_validator,
)

from utils.api.endpoints import ENDPOINTS

REF = "#/components/schemas/{model}"


class Answer(BaseModel):
    model_config = ConfigDict(extra="forbid")


# The registry's version ("3"), or whatever an older manifest recorded.
Version = str | int | None


class Error(Answer):
    error: str
    detail: str


class EndpointInfo(Answer):
    method: str
    path: str
    description: str


class Welcome(Answer):
    service: str
    endpoints: list[EndpointInfo]


class Prediction(Answer):
    model_version: Version
    predictions: list[int]
    probabilities: list[float]


class Scoring(Answer):
    model_version: Version
    dataset: str
    f1: float
    precision: float
    recall: float
    roc_auc: float | None = Field(description="null when the test data holds one class only")
    rows: int


class ColumnStats(Answer):
    mean: float | None
    median: float | None
    std: float | None = Field(description="null for a single row")


class SummaryStats(Answer):
    dataset: str
    statistics: dict[str, ColumnStats]


class Dependency(Answer):
    package: str
    declared: str
    installed: str
    latest: str
    outdated: bool


class Diagnostics(Answer):
    model_version: Version
    missing_percent: dict[str, float]
    timings_s: dict[str, float]
    dependencies: list[Dependency]


class Health(Answer):
    status: Literal["ok", "degraded"]
    model_version: Version
    release: str
    refused_release: str | None = Field(None, description="only when degraded")
    refused_because: str | None = Field(None, description="only when degraded")
    challenger_version: Version = Field(
        None, description="the challenger answering in the shadow (deployment.strategy: shadow)"
    )


class ModelInfo(Answer):
    name: str | None
    version: Version
    trained_at: str | None
    deployed_at: str | None
    features: list[str]
    f1: float | None
    release: str | None
    challenger: ModelInfo | None = Field(
        None,
        description="the model answering every request in the shadow, logged, never returned "
        "(deployment.strategy: shadow); null when there is none",
    )


class Chunk(BaseModel):
    # Extra keys are welcome in monitoring.json; these are the ones a client can rely on.
    model_config = ConfigDict(extra="allow")

    source: str
    rows: int
    start: str | int
    end: str | int
    estimated: dict[str, float | None]
    band: dict[str, list[float | None]]
    realized: dict[str, float | None] | None
    labelled_rows: int
    drifted_features: list[str]
    alert: bool


class Monitoring(BaseModel):
    model_config = ConfigDict(extra="allow")

    model_version: Version
    chunks: list[Chunk]


class OpenApi(RootModel[dict[str, Any]]):
    pass


ANSWERS: dict[str, type[BaseModel]] = {
    model.__name__: model
    for model in (
        Welcome,
        Prediction,
        Scoring,
        SummaryStats,
        Diagnostics,
        Monitoring,
        Health,
        ModelInfo,
    )
}
ANSWERS["OpenApi"] = OpenApi

JSON = "application/json"
TEXT = {"type": "string"}

STATUS_MEANING = {
    400: "invalid input (the detail names the field or row)",
    401: "missing or wrong bearer token",
    404: "not there: the named data file, or /metrics when api.metrics is false",
    413: "too many rows or body too large",
    415: "unsupported content type (send application/json or text/csv)",
    503: "no model loaded, or the data the answer needs is not there yet",
}

# A JSON number (not a string, not a boolean); null is a missing value the model imputes.
Number = Annotated[float, Strict(), Field(allow_inf_nan=False)] | None


def _is_number(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, bool) or not isinstance(value, int | float):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:
        return False


def prediction_request(
    features: list[str], id_columns: list[str], target: str, max_rows: int
) -> Any:
    """The type of a /prediction JSON body for a model with these columns."""
    width = len(features)
    record = create_model(
        "Record",
        __config__=ConfigDict(extra="forbid"),
        **{name: (Number, ...) for name in features},
        # Ids and the target ride along unread: any JSON value.
        **{name: (Any, None) for name in [*id_columns, target] if name not in features},
    )
    row_list = Annotated[
        list[Number],
        Field(min_length=width, max_length=width, description=f"values of {features}"),
    ]
    rows = Annotated[list[record | row_list], Field(min_length=1, max_length=max_rows)]
    allowed = {*features, *id_columns, target}

    class Split(Answer):
        """pandas' ``to_json(orient="split")``: the feature cells must be numbers or null,
        the cells of id and target columns may be anything."""

        columns: list[str] = Field(description=f"every feature, in any order; also {allowed}")
        data: Annotated[list[list[Any]], Field(min_length=1, max_length=max_rows)]
        index: list[Any] | None = None

        @model_validator(mode="after")
        def _cells_fit(self) -> Split:
            if len(set(self.columns)) != len(self.columns):
                raise ValueError("columns must be distinct")
            if not set(features) <= set(self.columns) <= allowed:
                raise ValueError("columns must hold every feature and nothing unknown")
            positions = [self.columns.index(f) for f in features]
            for row in self.data:
                if len(row) != len(self.columns):
                    raise ValueError("every row needs one value per column")
                if not all(_is_number(row[p]) for p in positions):
                    raise ValueError("feature values must be finite numbers or null")
            return self

    forms = [
        rows,
        create_model("DataframeRecords", __base__=Answer, dataframe_records=(rows, ...)),
        create_model("DataframeSplit", __base__=Answer, dataframe_split=(Split, ...)),
        create_model("Instances", __base__=Answer, instances=(rows, ...)),
        create_model("Inputs", __base__=Answer, inputs=(rows, ...)),
        create_model(
            "FilePath",
            __base__=Answer,
            filepath=(
                Annotated[str, Field(min_length=1)],
                Field(description="a CSV file in the API's data folder"),
            ),
        ),
    ]
    union = forms[0]
    for form in forms[1:]:
        union = union | form
    return union


def _schema(adapter: TypeAdapter, components: dict[str, Any]) -> dict[str, Any]:
    schema = adapter.json_schema(ref_template=REF)
    components.update(schema.pop("$defs", {}))
    return schema


def build_spec(
    features: list[str], id_columns: list[str], target: str, max_rows: int
) -> dict[str, Any]:
    components: dict[str, Any] = {"Error": Error.model_json_schema(ref_template=REF)}

    def answer(description: str, model: str, media_type: str = JSON) -> dict[str, Any]:
        if media_type != JSON:
            return {"description": description, "content": {media_type: {"schema": TEXT}}}
        content = {"schema": {"$ref": REF.format(model=model)}}
        return {"description": description, "content": {"application/json": content}}

    for name, model in ANSWERS.items():
        components[name] = _schema(TypeAdapter(model), components)
    request = _schema(
        TypeAdapter(prediction_request(features, id_columns, target, max_rows)), components
    )
    paths: dict[str, Any] = {}
    for endpoint in ENDPOINTS:
        operation: dict[str, Any] = {
            "summary": endpoint.summary,
            "responses": {
                "200": answer("OK", endpoint.answer, endpoint.media_type),
                **{str(s): answer(STATUS_MEANING[s], "Error") for s in endpoint.errors},
            },
        }
        if endpoint.protected:
            operation["security"] = [{}, {"bearer": []}]
        if endpoint.method == "POST":
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/json": {"schema": request},
                    "text/csv": {"schema": {"type": "string"}},
                },
            }
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = operation
    return {
        "openapi": "3.1.0",
        "info": {"title": "Risk model scoring API", "version": "1.0.0"},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
