"""The challenger as the API finds it (utils/api/model_source.py, role CHALLENGER): it follows
its link's arrival and departure without a restart, a refused one is no challenger, and it
never touches the champion's answers; the prediction log carries what it said of each row."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pandas as pd
import pytest

from utils.api import app as app_module
from utils.layout import challenger_link
from utils.model.deployment import deploy
from utils.model.training import ModelParams, load_model, save_model, train_model
from utils.monitoring.prediction_log import read_segment, segments

FEATURES = ["lastmonth_activity", "lastyear_activity", "number_of_employees"]


@pytest.fixture
def shadow(api_project, schema, tmp_path):
    """The API of api_project with its prediction log on, and a way to deploy a challenger
    (a model trained with another C) beside its champion."""
    models = tmp_path / "challenger-model"
    save_model(train_model(api_project["train"], schema, ModelParams(C=0.01)), {}, models)
    production = tmp_path / "production_deployment"

    def arrive(version: str = "2"):
        return deploy(
            {name: models / name for name in ("trainedmodel.pkl", "trainedmodel.skops")},
            production,
            {"model_version": version, "features": list(schema.features), "role": "challenger"},
            link=challenger_link(production),
        )

    settings = dataclasses.replace(api_project["settings"], log_dir=str(tmp_path / "log"))
    app = app_module.create_app(settings)
    rows = api_project["test"][FEATURES].head(4)
    return app, arrive, rows, load_model(models / "trainedmodel.skops"), tmp_path / "log"


def ask(app, rows) -> list[float]:
    answer = app.test_client().post(
        "/prediction", data=json.dumps(rows.to_dict(orient="records")),
        content_type="application/json",
    )  # fmt: skip
    assert answer.status_code == 200
    assert answer.get_json()["model_version"] == "1"  # the champion answers, always
    return answer.get_json()["probabilities"]


def newest_segment(app, log_dir):
    (written,) = app.extensions["risk_api"].prediction_log.flush()
    assert written == segments(log_dir)[-1]
    return read_segment(written)


def test_the_challenger_comes_and_goes_without_a_restart(shadow):
    app, arrive, rows, challenger_model, log_dir = shadow
    before = ask(app, rows)
    assert "challenger_version" not in newest_segment(app, log_dir).columns

    client = app.test_client()
    assert "challenger_version" not in client.get("/health").get_json()
    assert "challenger" not in client.get("/model").get_json()
    release = arrive()
    assert ask(app, rows) == before  # the client gets the champion's answer only
    assert client.get("/health").get_json()["challenger_version"] == "2"
    model = client.get("/model").get_json()
    assert (model["version"], model["challenger"]["version"]) == ("1", "2")
    logged = newest_segment(app, log_dir)
    assert logged["challenger_version"].to_list() == ["2"] * 4
    expected = challenger_model.predict_proba(rows)[:, 1]
    np.testing.assert_allclose(logged["challenger_probability"].to_numpy(), expected, rtol=1e-9)
    assert logged["challenger_prediction"].to_list() == (expected > 0.5).astype(int).tolist()
    assert logged["probability"].to_list() == before

    challenger_link(release.parent.parent / "production_deployment").unlink()
    ask(app, rows)
    assert "challenger_version" not in newest_segment(app, log_dir).columns
    assert "challenger" not in client.get("/model").get_json()


def test_a_refused_challenger_is_no_challenger_and_the_champion_serves_on(shadow):
    app, arrive, rows, _, log_dir = shadow
    release = arrive()
    model = release / "trainedmodel.skops"
    model.write_bytes(model.read_bytes()[:-10] + b"tampered!!")
    before = ask(app, rows)
    assert "challenger_version" not in newest_segment(app, log_dir).columns
    health = app.test_client().get("/health").get_json()
    assert (health["status"], health["model_version"]) == ("ok", "1")
    assert app.extensions["risk_api"].challenger.current() is None
    assert ask(app, pd.DataFrame(rows)) == before
