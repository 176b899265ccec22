"""Swagger UI at ``GET /docs``: the OpenAPI document to read and to try from a browser, with
no internet. Its script and style come from flask-swagger-ui's copy of swagger-ui-dist
(installed from PyPI with the rest), served here; the page names them relatively, so it works
behind a path prefix too."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_file

docs = Blueprint("docs", __name__)

# Only these two files are served: no path from a request reaches the file system.
ASSETS = {
    "swagger-ui.css": "text/css",
    "swagger-ui-bundle.js": "text/javascript",
}
# The browser keeps them a day; a new flask-swagger-ui changes their ETag.
ASSET_MAX_AGE_S = 86_400

# validatorUrl: null, or Swagger UI asks validator.swagger.io about the document (a request
# out of an offline machine). BaseLayout needs no standalone preset (no third file).
PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <title>Risk model scoring API</title>
  <link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/swagger-ui-bundle.js"></script>
  <script>
    window.ui = SwaggerUIBundle({
      url: "openapi.json",
      dom_id: "#swagger-ui",
      deepLinking: true,
      validatorUrl: null,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
    });
  </script>
</body>
</html>
"""


def _dist() -> Path:
    import flask_swagger_ui

    return Path(flask_swagger_ui.__file__).parent / "dist"


@docs.get("/docs")
def swagger_ui() -> Response:
    return Response(PAGE, content_type="text/html; charset=utf-8")


def _asset(name: str) -> Response:
    return send_file(
        _dist() / name, mimetype=ASSETS[name], max_age=ASSET_MAX_AGE_S, conditional=True
    )


@docs.get("/docs/swagger-ui.css")
def swagger_ui_css() -> Response:
    return _asset("swagger-ui.css")


@docs.get("/docs/swagger-ui-bundle.js")
def swagger_ui_js() -> Response:
    return _asset("swagger-ui-bundle.js")
