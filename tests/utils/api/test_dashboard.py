"""GET /dashboard through the app: behind the token (a browser sends it as a Basic password),
with the store's deployments and rollbacks, and a page even when the store cannot be read."""

from __future__ import annotations

import base64
import dataclasses

import pytest

from utils.api import app as app_module
from utils.ops.events import EventKind
from utils.store.history import MonitoringStore


def basic(user: str, password: str) -> dict[str, str]:
    pair = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {pair}"}


@pytest.fixture
def guarded(api_project):
    settings = dataclasses.replace(api_project["settings"], token="s3cret")
    return app_module.create_app(settings).test_client()


def test_a_browser_is_asked_for_the_token_and_may_send_it_as_a_password(guarded):
    refused = guarded.get("/dashboard")
    assert refused.status_code == 401 and refused.mimetype == "application/json"
    assert refused.headers["WWW-Authenticate"].startswith('Basic realm="risk model API"')
    for user in ["", "on-call", "\u00f6n-call"]:
        assert guarded.get("/dashboard", headers=basic(user, "s3cret")).status_code == 200
    assert guarded.get("/dashboard", headers={"Authorization": "Bearer s3cret"}).status_code == 200


@pytest.mark.parametrize(
    "header",
    [
        "Basic " + base64.b64encode(b"u:wrong").decode(),
        "Basic " + base64.b64encode(b"s3cret").decode(),  # no colon: no password
        "Basic %%%not-base64",
        "Basic " + base64.b64encode(b"u:s3cret").decode() + "\u00e9",
        "Basic",
        "Digest s3cret",
        "s3cret",
    ],
)
def test_anything_else_is_refused_with_a_401(guarded, header):
    for path in ["/dashboard", "/monitoring"]:
        assert guarded.get(path, headers={"Authorization": header}).status_code == 401


def test_other_401s_carry_a_bearer_challenge(guarded):
    for answer in [guarded.get("/monitoring"), guarded.post("/prediction", json=[])]:
        assert answer.status_code == 401
        assert answer.headers["WWW-Authenticate"] == 'Bearer realm="risk model API"'


def test_the_page_marks_the_stores_deployments_and_rollbacks(api_project, tmp_path):
    url = f"sqlite:///{tmp_path / 'monitoring.db'}"
    store = MonitoringStore(url)
    store.record_deployment("1", None, "sha", "r1", 0.8)
    store.record_deployment("2", "1", "sha", "r2", 0.82)
    store.record_event(EventKind.ROLLBACK, {"from_version": "2", "to_version": "1", "f1": 0.8})
    store.close()
    settings = dataclasses.replace(api_project["settings"], store_url=url)
    html = app_module.create_app(settings).test_client().get("/dashboard").get_data(as_text=True)
    start = html.index('<svg id="chart-performance"')
    chart = html[start : html.index("</svg>", start)]
    assert chart.count('id="performance-deployment-') == 2
    assert chart.count('id="performance-rollback-') == 1
    table = html[html.index('<table id="deployments">') :]
    assert table.index("rolled back") < table.index("deployed"), "newest first"


def test_a_store_that_cannot_be_read_costs_the_markers_not_the_page(api_project, tmp_path):
    settings = dataclasses.replace(
        api_project["settings"], store_url=f"sqlite:///{tmp_path / 'missing' / 'x.db'}"
    )
    answer = app_module.create_app(settings).test_client().get("/dashboard")
    assert answer.status_code == 200 and answer.mimetype == "text/html"
    assert "Deployments are not marked: the store could not be read" in answer.get_data(
        as_text=True
    )


def test_without_monitoring_the_page_says_why(api_project):
    (api_project["models"] / "monitoring.json").unlink()
    client = app_module.create_app(api_project["settings"]).test_client()
    html = client.get("/dashboard").get_data(as_text=True)
    assert "no live monitoring yet" in html and 'id="health">ok<' in html
