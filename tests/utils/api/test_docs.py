"""Swagger UI at /docs: the page, its two files, and nothing else from the folder."""

from __future__ import annotations

import pytest

from utils.api import app as app_module
from utils.api.docs import ASSETS


@pytest.fixture
def client(api_project):
    return app_module.create_app(api_project["settings"]).test_client()


def test_the_page_loads_its_files_relatively_and_asks_no_one_outside(client):
    page = client.get("/docs")
    assert page.status_code == 200 and page.mimetype == "text/html"
    html = page.get_data(as_text=True)
    assert 'href="docs/swagger-ui.css"' in html and 'src="docs/swagger-ui-bundle.js"' in html
    assert 'url: "openapi.json"' in html and "validatorUrl: null" in html
    assert "http://" not in html and "https://" not in html


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_each_file_is_served_with_its_type_and_cached(client, name):
    answer = client.get(f"/docs/{name}")
    assert answer.status_code == 200 and answer.mimetype == ASSETS[name]
    assert len(answer.data) > 100_000, "the real swagger-ui-dist file"
    assert "max-age=86400" in answer.headers["Cache-Control"]
    again = client.get(f"/docs/{name}", headers={"If-None-Match": answer.headers["ETag"]})
    assert again.status_code == 304 and again.data == b""


@pytest.mark.parametrize(
    "path", ["/docs/index.css", "/docs/../app.py", "/docs/%2e%2e/LICENSE", "/docs/swagger-ui.js"]
)
def test_no_other_file_is_served(client, path):
    answer = client.get(path)
    assert answer.status_code == 404 and answer.mimetype == "application/json"


def test_the_docs_need_no_token(api_project):
    import dataclasses

    guarded = dataclasses.replace(api_project["settings"], token="s3cret")
    client = app_module.create_app(guarded).test_client()
    assert client.get("/docs").status_code == 200
    assert client.get("/openapi.json").status_code == 200
