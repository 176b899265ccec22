import json
import os
from pathlib import Path

import pandas as pd
import pytest
from sklearn.metrics import f1_score

from utils.api import app as app_module

FEATURES = ["lastmonth_activity", "lastyear_activity", "number_of_employees"]


@pytest.fixture
def client(api_project):
    return app_module.create_app(api_project["settings"]).test_client()


def post_json(client, body, **kwargs):
    return client.post(
        "/prediction", data=json.dumps(body), content_type="application/json", **kwargs
    )


def assert_json_error(response, status, fragment=""):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/json"
    body = response.get_json()
    assert set(body) == {"error", "detail"}
    assert fragment in body["detail"], body
    return body


def test_welcome_lists_every_endpoint(client):
    from utils.api.endpoints import ENDPOINTS

    body = client.get("/").get_json()
    assert [(e["method"], e["path"]) for e in body["endpoints"]] == [
        (e.method, e.path) for e in ENDPOINTS
    ]


def test_every_answer_matches_its_declared_model(client, api_project):
    from utils.api.endpoints import ENDPOINTS
    from utils.api.openapi import ANSWERS, Error

    monitoring = api_project["models"] / "monitoring.json"
    written = json.loads(monitoring.read_text())
    assert client.get("/monitoring").get_json() == written
    monitoring.unlink()
    assert_json_error(client.get("/monitoring"), 503, "no live monitoring yet")
    monitoring.write_text(json.dumps(written))

    for endpoint in ENDPOINTS:
        if endpoint.method == "POST":
            response = post_json(client, {"filepath": "testdata/testdata.csv"})
        else:
            response = client.open(endpoint.path, method=endpoint.method)
        assert response.status_code == 200, endpoint
        if endpoint.media_type == "application/json":
            ANSWERS[endpoint.answer].model_validate(response.get_json())
        else:
            assert response.mimetype == endpoint.media_type
    Error.model_validate(post_json(client, []).get_json())


def test_the_app_refuses_to_start_when_its_routes_differ_from_the_table(api_project, monkeypatch):
    from utils.api.endpoints import Endpoint

    extra = Endpoint("GET", "/nowhere", "not served", "Welcome")
    monkeypatch.setattr(app_module, "ENDPOINTS", (*app_module.ENDPOINTS, extra))
    with pytest.raises(RuntimeError, match="/nowhere"):
        app_module.create_app(api_project["settings"])


def test_a_nan_statistic_is_null_not_a_500(client, api_project):
    finaldata = api_project["settings"].finaldata
    pd.read_csv(finaldata).head(1).to_csv(finaldata, index=False)
    response = client.get("/summarystats")
    assert response.status_code == 200
    assert response.get_json()["statistics"]["lastmonth_activity"]["std"] is None


def test_prediction_one_per_row_in_order(client, api_project):
    test = api_project["test"]
    records = test[FEATURES].to_dict(orient="records")
    body = post_json(client, records).get_json()
    assert body["model_version"] == "1"
    assert len(body["predictions"]) == len(body["probabilities"]) == len(test)
    split = post_json(
        client, {"dataframe_split": json.loads(test[FEATURES].to_json(orient="split", index=False))}
    )
    assert split.get_json()["predictions"] == body["predictions"]
    csv = client.post("/prediction", data=test.to_csv(index=False), content_type="text/csv")
    assert csv.get_json()["predictions"] == body["predictions"]
    by_path = post_json(client, {"filepath": "testdata/testdata.csv"})
    assert by_path.get_json()["predictions"] == body["predictions"]
    reversed_rows = post_json(client, records[::-1]).get_json()["predictions"]
    assert reversed_rows == body["predictions"][::-1]


def test_scoring_matches_scikit_learn(client, api_project):
    import pickle

    with open(api_project["models"] / "trainedmodel.pkl", "rb") as handle:
        model = pickle.load(handle)
    test = api_project["test"]
    body = client.get("/scoring").get_json()
    assert body["f1"] == pytest.approx(f1_score(test["exited"], model.predict(test[FEATURES])))
    assert {"precision", "recall", "model_version"} <= set(body)


def test_summarystats(client, api_project):
    stats = client.get("/summarystats").get_json()["statistics"]
    train = api_project["train"]
    assert stats["lastyear_activity"]["median"] == pytest.approx(
        train["lastyear_activity"].median()
    )
    assert "corporation" not in stats


def test_diagnostics_health_model_openapi(client):
    assert client.get("/diagnostics").get_json()["timings_s"] == {"data_ingestion": 0.1}
    health = client.get("/health").get_json()
    assert (health["status"], health["model_version"]) == ("ok", "1") and health["release"]
    model = client.get("/model").get_json()
    assert model["version"] == "1" and model["features"] == FEATURES
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.") and "/prediction" in spec["paths"]


@pytest.mark.parametrize(
    ("data", "content_type", "status", "fragment"),
    [
        ("{not json", "application/json", 400, "Expecting property name"),
        ("", "application/json", 400, "send JSON rows"),
        ("a=1", "application/x-www-form-urlencoded", 415, "application/json or text/csv"),
        ('[{"lastmonth_activity": 1}]', "application/json", 400, "missing column(s)"),
        (
            '[{"lastmonth_activity": 1, "lastyear_activity": 1, "number_of_employees": 1, "z": 1}]',
            "application/json",
            400,
            "unknown column(s): 'z'",
        ),
        ('[[1, "x", 3]]', "application/json", 400, "row 0, column 'lastyear_activity'"),
        ("[[1, 1e999, 3]]", "application/json", 400, "must be finite"),
        ("[[1, NaN, 3]]", "application/json", 400, "must be finite"),
        ("[" + ",".join(["[1,2,3]"] * 501) + "]", "application/json", 413, "limit is 500"),
    ],
)
def test_bad_requests_are_json_4xx(client, data, content_type, status, fragment):
    assert_json_error(
        client.post("/prediction", data=data, content_type=content_type), status, fragment
    )


HEADER = "lastmonth_activity,lastyear_activity,number_of_employees\n"


# Inputs that once reached Python's own limits and came back as 500s: each is a 4xx now, as is
# every sibling of its kind (other forms, other places in the body).
@pytest.mark.parametrize(
    ("data", "content_type", "fragment"),
    [
        ("[[1, " + "9" * 400 + ", 3]]", "application/json", "number out of range"),
        (
            '[{"lastmonth_activity": 1, "lastyear_activity": -' + "9" * 400
            + ', "number_of_employees": 1}]',
            "application/json",
            "number out of range",
        ),
        ('{"dataframe_split": {"columns": ["lastmonth_activity", "lastyear_activity", '
         '"number_of_employees"], "data": [[1, 2, ' + "9" * 400 + "]]}}",
         "application/json", "number out of range"),
        ("[1, " + "9" * 5000 + "]", "application/json", "digits"),
        ("[" * 50_000 + "]" * 50_000, "application/json", "nested too deeply"),
        ('{"a": ' * 20_000 + "1" + "}" * 20_000, "application/json", "nested too deeply"),
        (HEADER + "1,2," + "9" * 150_000 + "\n", "text/csv", "CSV line 2: field larger"),
        (HEADER + "1,2,\x003\n", "text/csv", "CSV line 2"),
        (HEADER + "1,2,1" + "0" * 400 + "\n", "text/csv", "must be finite"),
        ('[{"lastmonth_activity": 1, "lastmonth_activity": 2, "lastyear_activity": 1, '
         '"number_of_employees": 1}]', "application/json", "duplicate key(s)"),
        ('{"instances": [], "instances": [[1, 2, 3]]}', "application/json", "duplicate key(s)"),
        ("lastmonth_activity,lastmonth_activity,lastyear_activity,number_of_employees\n1,1,2,3\n",
         "text/csv", "named more than once"),
    ],
)  # fmt: skip
def test_input_at_the_limits_of_the_parsers_is_a_4xx_not_a_500(
    client, data, content_type, fragment
):
    assert_json_error(
        client.post("/prediction", data=data, content_type=content_type), 400, fragment
    )


def test_scoring_counts_rows_as_an_integer(client, api_project):
    rows = client.get("/scoring").get_json()["rows"]
    assert type(rows) is int and rows == len(api_project["test"])


def test_a_chunked_body_over_the_limit_is_413_not_cut(api_project):
    import dataclasses

    settings = dataclasses.replace(api_project["settings"], max_body_bytes=1000)
    small = app_module.create_app(settings).test_client()
    body = ("[" + ",".join(["[1,2,3]"] * 200) + "]").encode()

    def chunked(data):
        return small.post(
            "/prediction",
            input_stream=__import__("io").BytesIO(data),
            headers={"Content-Type": "application/json", "Transfer-Encoding": "chunked"},
            environ_overrides={"wsgi.input_terminated": True},
        )

    assert_json_error(chunked(body), 413, "over the limit of 1000 bytes")
    exactly = ("[" + ",".join(["[1,2,3]"] * 124) + "]").ljust(1000).encode()
    assert len(exactly) == 1000
    assert chunked(exactly).status_code == 200


def test_body_over_the_size_limit(client):
    big = "[" + ",".join(["[1,2,3]"] * 40_000) + "]"
    assert_json_error(
        client.post("/prediction", data=big, content_type="application/json"), 413, "over the limit"
    )


def test_unknown_route_and_wrong_method_are_json(client):
    assert_json_error(client.get("/nope"), 404)
    for method in ("GET", "DELETE", "PUT"):
        response = client.open("/prediction", method=method)
        assert_json_error(response, 405)
        assert "POST" in response.headers["Allow"]
    response = client.post("/health")
    assert_json_error(response, 405)
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize(
    "name",
    [
        "../ingested/finaldata.csv",
        "/etc/passwd",
        "..%2Fingested%2Ffinaldata.csv",
        "testdata/../../ingested/finaldata.csv",
        "%2e%2e/ingested/finaldata.csv",
        "",
        "testdata\\..\\..\\x.csv",
        "link_out.csv",
    ],
)
def test_filepath_cannot_leave_the_data_folder(client, api_project, name):
    settings = api_project["settings"]
    outside = api_project["tmp"] / "ingested" / "finaldata.csv"
    link = os.path.join(settings.data_dir, "link_out.csv")
    if not os.path.lexists(link):
        os.symlink(outside, link)
    from urllib.parse import unquote

    for candidate in {name, unquote(name)}:
        response = post_json(client, {"filepath": candidate})
        assert response.status_code in (400, 404), (candidate, response.get_json())
        assert "predictions" not in response.get_json()


def test_a_filepath_the_system_cannot_follow_is_a_400_naming_it(client, api_project):
    from utils.api.state import MAX_FILEPATH_CHARS

    data_dir = api_project["settings"].data_dir
    for name, target in (("loop.csv", "loop.csv"), ("ping.csv", "pong.csv"),
                         ("pong.csv", "ping.csv")):  # fmt: skip
        if not os.path.lexists(os.path.join(data_dir, name)):
            os.symlink(target, os.path.join(data_dir, name))
    for name in ("loop.csv", "ping.csv", "testdata/../loop.csv"):
        assert_json_error(post_json(client, {"filepath": name}), 400, "loop")
    segment = "d" * 255 + "/"
    deep = segment * ((MAX_FILEPATH_CHARS - 10) // len(segment)) + "x.csv"
    assert_json_error(post_json(client, {"filepath": deep}), 404, "no data file")
    long_name = "x" * 300 + ".csv"  # over NAME_MAX: the system's own refusal
    assert_json_error(post_json(client, {"filepath": long_name}), 400, "File name too long")
    over = "a/" * (MAX_FILEPATH_CHARS // 2) + "x"
    assert_json_error(post_json(client, {"filepath": over}), 400, "at most 1024 characters")


def test_filepath_must_be_a_string(client):
    assert_json_error(post_json(client, {"filepath": 3}), 400, "non-empty string")
    assert_json_error(post_json(client, {"filepath": "nothere.csv"}), 404, "no data file")


def test_token_protects_the_expensive_endpoints(api_project):
    from dataclasses import replace

    guarded = app_module.create_app(replace(api_project["settings"], token="s3cret")).test_client()
    assert_json_error(guarded.get("/scoring"), 401)
    assert_json_error(guarded.get("/scoring", headers={"Authorization": "Bearer nope"}), 401)
    assert guarded.get("/scoring", headers={"Authorization": "Bearer s3cret"}).status_code == 200
    assert guarded.get("/health").status_code == 200
    assert_json_error(post_json(guarded, [[1, 2, 3]]), 401)
    bearer = {"Authorization": "Bearer s3cret"}
    assert post_json(guarded, [[1, 2, 3]], headers=bearer).status_code == 200
    # RFC 7235: the scheme is case-insensitive; the token is not.
    for header in ("bearer s3cret", "BEARER  s3cret"):
        assert post_json(guarded, [[1, 2, 3]], headers={"Authorization": header}).status_code == 200
        assert guarded.get("/monitoring", headers={"Authorization": header}).status_code != 401
    for header in ("Bearer S3CRET", "Basic s3cret", "s3cret", "Bearer", "Bearers3cret"):
        assert_json_error(post_json(guarded, [[1, 2, 3]], headers={"Authorization": header}), 401)


def test_new_deployment_is_picked_up_and_a_tampered_one_refused(client, api_project, tmp_path):
    assert client.get("/health").get_json()["model_version"] == "1"
    api_project["redeploy"]("2")
    assert client.get("/health").get_json()["model_version"] == "2"
    release = api_project["redeploy"]("3")
    # Tamper after the manifest was written: the hash no longer matches.
    (release / "trainedmodel.skops").write_bytes(b"evil")
    assert client.get("/health").get_json()["model_version"] == "2", "keeps the last good model"
    assert post_json(client, [[1, 2, 3]]).get_json()["model_version"] == "2"


def test_a_refused_release_is_degraded_health_and_fresh_workers_serve_the_last_good(
    client, api_project, tmp_path
):
    api_project["redeploy"]("2")
    assert client.get("/health").get_json()["status"] == "ok"
    good = client.get("/health").get_json()["release"]
    refused = api_project["redeploy"]("3")
    (refused / "trainedmodel.skops").write_bytes(b"evil")  # tampered after deployment
    old_worker = client.get("/health")
    fresh_worker = app_module.create_app(api_project["settings"]).test_client().get("/health")
    for response in (old_worker, fresh_worker):
        assert response.status_code == 200
        assert response.get_json() == {
            "status": "degraded",
            "model_version": "2",
            "release": good,
            "refused_release": refused.name,
            "refused_because": response.get_json()["refused_because"],
        }
        assert "sha256 does not match" in response.get_json()["refused_because"]
    api_project["redeploy"]("4")
    assert client.get("/health").get_json()["status"] == "ok"


def test_metrics_count_a_refused_release_and_can_be_turned_off(api_project):
    import dataclasses

    from prometheus_client import REGISTRY

    def sample(name: str) -> float:
        return REGISTRY.get_sample_value(name) or 0.0

    client = app_module.create_app(api_project["settings"]).test_client()
    assert client.get("/health").status_code == 200
    refused_before = sample("risk_api_refused_releases_total")
    refused = api_project["redeploy"]("2")
    (refused / "trainedmodel.skops").write_bytes(b"evil")
    assert client.get("/health").get_json()["status"] == "degraded"
    assert sample("risk_api_refused_releases_total") == refused_before + 1
    assert sample("risk_api_degraded") == 1
    text = client.get("/metrics").get_data(as_text=True)
    assert "risk_api_degraded 1.0" in text and 'risk_api_model_version{version="1"} 1.0' in text

    off = dataclasses.replace(api_project["settings"], metrics=False)
    assert_json_error(app_module.create_app(off).test_client().get("/metrics"), 404,
                      "metrics are off (api.metrics=false)")  # fmt: skip


def test_a_refused_release_alerts_once_whichever_workers_see_it(api_project, webhook):
    import dataclasses
    import time

    settings = dataclasses.replace(api_project["settings"], webhook_url=webhook.url)
    workers = [app_module.create_app(settings).test_client() for _ in range(2)]
    api_project["redeploy"]("2")
    refused = api_project["redeploy"]("3")
    (refused / "trainedmodel.skops").write_bytes(b"evil")
    for worker in workers:
        assert worker.get("/health").get_json()["status"] == "degraded"
    deadline = time.monotonic() + 30
    while not webhook.posts and time.monotonic() < deadline:
        time.sleep(0.05)
    (alert,) = webhook.posts
    assert alert["kind"] == "refused_release" and alert["source"].startswith("api@")
    assert alert["text"].endswith(f"release {refused.name} refused ("
                                  f"{alert['event']['reason']}); still serving v2")  # fmt: skip
    assert "sha256 does not match" in alert["event"]["reason"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda release: (release / "manifest.json").write_text("{not json"),
        lambda release: (release / "manifest.json").unlink(),
        lambda release: (release / "trainedmodel.skops").unlink(),
    ],
    ids=["corrupt-manifest", "no-manifest", "no-model"],
)
def test_any_broken_release_is_refused_not_a_crash(api_project, damage):
    api_project["redeploy"]("2")
    damage(api_project["redeploy"]("3"))
    fresh = app_module.create_app(api_project["settings"]).test_client()
    body = fresh.get("/health").get_json()
    assert (body["status"], body["model_version"]) == ("degraded", "2")
    assert post_json(fresh, [[1, 2, 3]]).get_json()["model_version"] == "2"


def test_only_a_refused_release_is_503_naming_it(api_project):
    release = api_project["redeploy"]("2")
    for other in release.parent.iterdir():
        if other != release:
            __import__("shutil").rmtree(other)
    (release / "trainedmodel.skops").write_bytes(b"evil")
    response = app_module.create_app(api_project["settings"]).test_client().get("/health")
    assert_json_error(response, 503, f"release {release.name} refused")


def test_the_model_is_served_with_the_schema_it_was_trained_on(api_project, tmp_path):
    """A model trained on other columns (by config overrides) is served with its own features,
    whatever config.yaml says, because the manifest records them."""
    from utils.data.schema import DataSchema
    from utils.model.deployment import deploy
    from utils.model.training import ModelParams, save_model, train_model

    other = DataSchema("churned", ("visits", "seats"), ("customer",))
    train = api_project["train"].rename(
        columns={"lastmonth_activity": "visits", "number_of_employees": "seats",
                 "exited": "churned", "corporation": "customer"}
    )  # fmt: skip
    save_model(train_model(train, other, ModelParams()), {}, tmp_path / "other")
    settings = api_project["settings"]
    deploy(
        {"trainedmodel.skops": tmp_path / "other" / "trainedmodel.skops"},
        Path(settings.deployment_dir),
        {"model_version": "7", "features": ["visits", "seats"], "target": "churned",
         "id_columns": ["customer"]},
    )  # fmt: skip
    client = app_module.create_app(settings).test_client()
    body = post_json(client, [{"customer": "c1", "visits": 3, "seats": 10}]).get_json()
    assert body["model_version"] == "7" and len(body["predictions"]) == 1
    assert_json_error(post_json(client, [[1, 2, 3]]), 400, "expected 2 values (visits, seats)")
    assert client.get("/model").get_json()["features"] == ["visits", "seats"]
    spec = client.get("/openapi.json").get_json()
    assert "visits" in json.dumps(spec) and "lastmonth_activity" not in json.dumps(spec)


def test_no_model_is_503(api_project):
    from dataclasses import replace

    empty = replace(api_project["settings"], deployment_dir=str(api_project["tmp"] / "none"))
    client = app_module.create_app(empty).test_client()
    assert_json_error(client.get("/health"), 503)
    assert_json_error(post_json(client, [[1, 2, 3]]), 503)


def test_missing_diagnostics_is_503_not_500(api_project):
    (api_project["models"] / "diagnostics.json").unlink()
    client = app_module.create_app(api_project["settings"]).test_client()
    assert_json_error(client.get("/diagnostics"), 503, "no diagnostics yet")


def test_creating_the_app_loads_nothing(api_project, monkeypatch):
    calls = []
    import utils.api.model_source

    monkeypatch.setattr(utils.api.model_source, "load_release_model", lambda r: calls.append(r))
    app_module.create_app(api_project["settings"])
    assert calls == []


def test_results_are_cached_until_files_change(client, api_project):
    first = client.get("/summarystats").get_json()
    finaldata = api_project["settings"].finaldata
    frame = pd.read_csv(finaldata)
    frame.assign(lastmonth_activity=frame["lastmonth_activity"] * 2).to_csv(finaldata, index=False)
    second = client.get("/summarystats").get_json()
    assert second["statistics"]["lastmonth_activity"]["mean"] == pytest.approx(
        2 * first["statistics"]["lastmonth_activity"]["mean"]
    )


def test_every_answer_is_logged_with_its_request_id_ids_and_version(api_project, tmp_path):
    import dataclasses

    from utils.monitoring.prediction_log import read_segments, segments

    settings = dataclasses.replace(api_project["settings"], log_dir=str(tmp_path / "log"))
    app = app_module.create_app(settings)
    client = app.test_client()
    test = api_project["test"]
    records = test[["corporation", *FEATURES]].head(3).to_dict(orient="records")
    first = post_json(client, records, headers={"X-Request-ID": "client-42"})
    assert first.headers["X-Request-ID"] == "client-42"
    csv = client.post(
        "/prediction", data=test.head(2).to_csv(index=False), content_type="text/csv",
        headers={"X-Request-ID": "not a token; <script>"},
    )  # fmt: skip
    generated = csv.headers["X-Request-ID"]
    assert generated != "client-42" and len(generated) == 32 and generated.isalnum()
    post_json(client, {"filepath": "testdata/testdata.csv"})
    refused = post_json(client, [[1, 2]])
    assert refused.status_code == 400 and refused.headers["X-Request-ID"]
    app.extensions["risk_api"].prediction_log.flush()
    frame = read_segments(segments(tmp_path / "log"))
    assert len(frame) == 3 + 2 + len(test), "answered rows only, each once"
    by_request = frame.group_by("request_id", maintain_order=True).len()
    assert by_request["request_id"][0] == "client-42" and by_request["len"][0] == 3
    assert by_request["request_id"][1] == generated
    assert frame["corporation"].head(5).to_list() == [
        *test["corporation"].head(3).astype(str),
        *test["corporation"].head(2).astype(str),
    ]
    assert frame["model_version"].unique().to_list() == ["1"]
    body = first.get_json()
    assert frame["probability"].head(3).to_list() == body["probabilities"]
    assert frame["lastmonth_activity"].head(3).to_list() == [
        r["lastmonth_activity"] for r in records
    ]


def test_the_log_is_off_when_configured_off(client, api_project):
    assert client.application.extensions["risk_api"].prediction_log is None


@pytest.mark.integration
def test_the_registry_source_follows_the_champion_and_challenger_aliases_refusing_a_bad_sha(
    api_project, tmp_path, monkeypatch
):
    """api.model_source=registry, against a real MLflow registry (SQLite)."""
    import dataclasses
    import pickle
    import time

    import mlflow
    import mlflow.sklearn
    from mlflow import MlflowClient

    from conftest import load_script
    from utils.model.deployment import MODEL_SHA256_TAG

    step = load_script("04_deployment/deployment.py", "risk_deployment_step")
    uri = f"sqlite:///{tmp_path / 'registry.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    mlflow.set_tracking_uri(uri)
    registry = MlflowClient(uri)
    model = pickle.loads((api_project["models"] / "trainedmodel.pkl").read_bytes())
    for version in ("1", "2", "3"):
        release = api_project["redeploy"](version)
        with mlflow.start_run():
            logged = mlflow.sklearn.log_model(
                model, name="model", skops_trusted_types=["numpy.dtype"]
            )
        registered = mlflow.register_model(logged.model_uri, "risk_model")
        assert str(registered.version) == version
        for key, value in step.registry_tags("risk_model", version, release).items():
            registry.set_model_version_tag("risk_model", version, key, value)
    registry.set_model_version_tag("risk_model", "3", MODEL_SHA256_TAG, "0" * 64)  # tampered

    settings = dataclasses.replace(
        api_project["settings"], model_source="registry", tracking_uri=uri, registry_poll_s=0.001,
        deployment_dir=str(tmp_path / "not-on-this-host"),
    )  # fmt: skip
    client = app_module.create_app(settings).test_client()
    assert_json_error(client.get("/health"), 503, "no deployed model")  # no alias yet
    for version in ("1", "2"):
        registry.set_registered_model_alias("risk_model", "champion", version)
        time.sleep(0.01)  # past the poll period
        health = client.get("/health").get_json()
        assert (health["status"], health["model_version"]) == ("ok", version)
        assert health["release"] == f"risk_model-v{version}"
        assert post_json(client, [[1, 2, 3]]).get_json()["model_version"] == version
    registry.set_registered_model_alias("risk_model", "champion", "3")
    time.sleep(0.01)
    health = client.get("/health").get_json()
    assert (health["status"], health["model_version"]) == ("degraded", "2")
    assert health["refused_release"] == "risk_model-v3"
    assert "sha256 does not match" in health["refused_because"]
    fresh = app_module.create_app(settings).test_client().get("/health").get_json()
    assert (fresh["status"], fresh["model_version"]) == ("degraded", "2"), "the last good one"

    # The challenger alias (deployment.strategy: shadow), followed the same way, never served.
    challenger = client.application.extensions["risk_api"].challenger
    assert challenger.current() is None  # no alias yet
    registry.set_registered_model_alias("risk_model", "challenger", "1")
    time.sleep(0.01)
    assert str(challenger.current().version) == "1"
    assert client.get("/health").get_json()["model_version"] == "2"
    registry.set_registered_model_alias("risk_model", "challenger", "3")  # tampered: refused
    time.sleep(0.01)
    assert challenger.current() is None
    registry.set_registered_model_alias("risk_model", "challenger", "1")
    time.sleep(0.01)
    assert str(challenger.current().version) == "1"
    registry.delete_registered_model_alias("risk_model", "challenger")  # promoted or rejected
    time.sleep(0.01)
    assert challenger.current() is None
    mlflow.set_tracking_uri(None)


def test_rows_the_log_cannot_write_are_counted_in_metrics_and_answers_go_on(api_project, tmp_path):
    import dataclasses

    blocked = tmp_path / "logs"
    blocked.write_text("a file where the log folder should be")
    settings = dataclasses.replace(api_project["settings"], log_dir=str(blocked))
    app = app_module.create_app(settings)
    client = app.test_client()

    def lost() -> float:
        text = client.get("/metrics").get_data(as_text=True)
        line = next(x for x in text.splitlines() if x.startswith("risk_api_prediction_log_lost"))
        return float(line.split()[-1])

    before = lost()
    for _ in range(3):
        assert post_json(client, [[1, 2, 3], [4, 5, 6]]).status_code == 200
    assert app.extensions["risk_api"].prediction_log.flush() == []
    assert lost() == before + 6
    assert list(tmp_path.rglob("*.tmp")) == []


def test_a_prediction_past_the_upload_budget_is_a_503_and_the_budget_comes_back(api_project):
    import dataclasses

    settings = dataclasses.replace(api_project["settings"], max_upload_bytes=200)
    app = app_module.create_app(settings)
    client = app.test_client()
    uploads = app.extensions["risk_api"].uploads
    assert post_json(client, [[1, 2, 3]]).status_code == 200
    assert uploads.held == 0, "an answered request gives its body back"
    uploads.take(190)  # other connections' bodies, still arriving
    assert_json_error(post_json(client, [[1, 2, 3]]), 503, "try again")
    uploads.give(190)
    assert post_json(client, [[1, 2, 3]]).status_code == 200
    assert_json_error(post_json(client, "x"), 400)
    assert uploads.held == 0, "a refused request gives its body back too"


def scraped(client) -> dict:
    """/metrics as {(sample name, sorted labels): value}."""
    from prometheus_client.parser import text_string_to_metric_families

    text = client.get("/metrics").get_data(as_text=True)
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_metrics_show_the_live_monitoring_and_survive_a_broken_file(api_project):
    client = app_module.create_app(api_project["settings"]).test_client()
    written = json.loads((api_project["models"] / "monitoring.json").read_text())
    newest = written["chunks"][-1]

    got = scraped(client)
    estimated = ("risk_monitoring_estimated_ratio", (("metric", "f1"), ("source", "batch")))
    assert got[estimated] == newest["estimated"]["f1"], "the fixture's stream is no log: a batch"
    assert got[("risk_monitoring_alert", (("source", "batch"),))] == float(newest["alert"])
    assert got[("risk_monitoring_chunks", (("source", "batch"),))] == len(written["chunks"])
    assert ("risk_api_requests_total", (("endpoint", "/metrics"), ("method", "GET"),
                                        ("status", "200"))) in got  # fmt: skip

    path = api_project["models"] / "monitoring.json"
    for broken in ["{not json", "[1, 2]", json.dumps({**written, "chunks": [{"band": 3}]})]:
        path.write_text(broken)
        response = client.get("/metrics")
        assert response.status_code == 200
        assert "risk_api_requests_total" in response.get_data(as_text=True)
        assert "risk_monitoring_estimated_ratio" not in response.get_data(as_text=True)
        if broken.startswith("{not"):
            assert_json_error(client.get("/monitoring"), 503, "monitoring.json: unreadable")
        if broken.startswith("["):
            assert_json_error(client.get("/monitoring"), 503, "monitoring.json: not a JSON object")


@pytest.mark.parametrize("name", ["monitoring.json", "diagnostics.json"])
@pytest.mark.parametrize("broken", ["{not json", "[1, 2]", "\xff\xfe"])
def test_a_broken_file_another_program_writes_is_a_503_not_a_500(api_project, name, broken):
    client = app_module.create_app(api_project["settings"]).test_client()
    (api_project["models"] / name).write_bytes(broken.encode("latin-1"))
    path = "/" + name.removesuffix(".json")
    assert_json_error(client.get(path), 503, name)


def test_predictions_are_counted_by_status_and_timed(api_project):
    """/prediction is answered below Flask and counts itself: every answer, refusals too."""
    client = app_module.create_app(api_project["settings"]).test_client()

    def counted(method: str, status: str) -> float:
        labels = (("endpoint", "/prediction"), ("method", method), ("status", status))
        return got.get(("risk_api_requests_total", labels), 0.0)

    timed = ("risk_api_request_duration_seconds_count", (("endpoint", "/prediction"),))
    got = scraped(client)
    before = {key: counted(*key) for key in [("POST", "200"), ("POST", "400"), ("GET", "405")]}
    before_timed = got.get(timed, 0.0)
    assert post_json(client, [[1, 2, 3]]).status_code == 200
    assert post_json(client, [[1, 2, 3]]).status_code == 200
    assert post_json(client, "x").status_code == 400
    assert client.get("/prediction").status_code == 405
    got = scraped(client)
    after = {key: counted(*key) for key in before}
    assert {key: after[key] - before[key] for key in before} == {
        ("POST", "200"): 2,
        ("POST", "400"): 1,
        ("GET", "405"): 1,
    }
    assert got[timed] - before_timed == 4
