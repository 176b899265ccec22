"""The champion's switch shared by rollback and promotion (serve_release): the deployment link
and the registry's alias move together or not at all."""

from __future__ import annotations

import pytest

from conftest import ROOT
from utils.automation import rollback as rollback_module
from utils.automation.rollback import serve_release
from utils.config import load_project_config
from utils.errors import PipelineError
from utils.model.deployment import current_release, deploy


@pytest.fixture
def two_releases(tmp_path):
    source = tmp_path / "model.bin"
    source.write_text("m")
    production = tmp_path / "production_deployment"
    first = deploy({"model.bin": source}, production, {"model_version": 1})
    source.write_text("n")
    second = deploy({"model.bin": source}, production, {"model_version": 2})
    config = load_project_config(ROOT, [f"paths.deployment_dir={production}"])
    return config, production, first, second


def test_the_link_and_the_alias_move_together(two_releases, monkeypatch):
    config, production, first, second = two_releases
    moved = []
    monkeypatch.setattr(rollback_module, "move_alias", lambda *args: moved.append(args[2:]))
    serve_release(config, ROOT, first, second, {"registered_model_name": "m", "model_version": 1},
                  "rolled back")  # fmt: skip
    assert current_release(production) == first and moved == [("m", "champion", "1")]


@pytest.mark.parametrize("doing", ["rolled back", "promoted"])
def test_an_alias_that_cannot_move_takes_the_link_back(two_releases, monkeypatch, doing):
    config, production, first, second = two_releases

    def unreachable(*args):
        raise ConnectionError("registry down")

    monkeypatch.setattr(rollback_module, "move_alias", unreachable)
    with pytest.raises(PipelineError, match=f"registry down.*nothing {doing}"):
        serve_release(config, ROOT, first, second, {"model_version": 1}, doing)
    assert current_release(production) == second
