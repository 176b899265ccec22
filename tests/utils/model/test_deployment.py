import json
import os

import pytest

from conftest import RunsCode
from utils.errors import PipelineError
from utils.files import sha256_file
from utils.model.deployment import (
    MANIFEST_NAME,
    current_release,
    deploy,
    finished_releases,
    load_deployed_model,
    point_to,
    prune_releases,
    releases_dir,
    rollback_target,
    verify_release,
)
from utils.model.training import ModelParams, save_model, train_model


@pytest.fixture
def sources(tmp_path, tiny_frame, schema):
    model_dir = tmp_path / "models"
    model = save_model(train_model(tiny_frame, schema, ModelParams()), {}, model_dir)
    score = model_dir / "latestscore.txt"
    score.write_text("0.5\n")
    ingested = tmp_path / "ingestedfiles.txt"
    ingested.write_text("a.csv\n")
    return {
        "trainedmodel.pkl": model_dir / "trainedmodel.pkl",
        "trainedmodel.skops": model,
        "latestscore.txt": score,
        "ingestedfiles.txt": ingested,
    }


def test_deploy_publishes_files_with_manifest(tmp_path, sources):
    production = tmp_path / "production_deployment"
    release = deploy(sources, production, {"model_version": "1"})
    assert production.is_symlink()
    assert current_release(production) == release.resolve()
    manifest = json.loads((production / MANIFEST_NAME).read_text())
    assert manifest["model_version"] == "1"
    for name, source in sources.items():
        assert manifest["files"][name] == sha256_file(source) == sha256_file(production / name)
    assert verify_release(release) == manifest


def test_link_is_relative_so_the_project_can_move(tmp_path, sources):
    production = tmp_path / "production_deployment"
    deploy(sources, production, {})
    assert not os.readlink(production).startswith("/")


def test_redeploy_swaps_the_whole_set(tmp_path, sources):
    production = tmp_path / "production_deployment"
    first = deploy(sources, production, {"model_version": "1"})
    sources["latestscore.txt"].write_text("0.9\n")
    second = deploy(sources, production, {"model_version": "2"})
    assert (production / "latestscore.txt").read_text() == "0.9\n"
    assert (first / "latestscore.txt").read_text() == "0.5\n", "old release untouched"
    assert current_release(production) == second.resolve()


def test_missing_source_leaves_deployment_untouched(tmp_path, sources):
    production = tmp_path / "production_deployment"
    release = deploy(sources, production, {"model_version": "1"})
    sources["latestscore.txt"].unlink()
    with pytest.raises(PipelineError, match=r"latestscore\.txt not found; nothing was deployed"):
        deploy(sources, production, {"model_version": "2"})
    assert current_release(production) == release.resolve()
    verify_release(release)


def test_interrupted_release_is_ignored_and_cleaned(tmp_path, sources):
    production = tmp_path / "production_deployment"
    release = deploy(sources, production, {})
    # What a kill -9 in the middle of copying leaves behind.
    leftover = releases_dir(production) / ".incoming-20200101T000000000000-deadbeef"
    leftover.mkdir()
    (leftover / "trainedmodel.pkl").write_bytes(b"half")
    assert current_release(production) == release.resolve()
    load_deployed_model(production)
    prune_releases(production, keep=5)
    assert not leftover.exists()


def test_prune_keeps_the_newest_and_the_current(tmp_path, sources):
    production = tmp_path / "production_deployment"
    releases = [deploy(sources, production, {}, keep=100) for _ in range(4)]
    prune_releases(production, keep=2)
    remaining = sorted(p.name for p in releases_dir(production).iterdir())
    assert remaining == sorted(p.name for p in releases[-2:])


def test_plain_folder_is_adopted(tmp_path, sources):
    production = tmp_path / "production_deployment"
    production.mkdir()
    (production / "trainedmodel.pkl").write_text("from an older layout")
    deploy(sources, production, {})
    legacy = [p for p in releases_dir(production).iterdir() if p.name.startswith("legacy-")]
    assert len(legacy) == 1
    assert (legacy[0] / "trainedmodel.pkl").read_text() == "from an older layout"


def test_tampered_model_is_refused_before_loading(tmp_path, sources):
    production = tmp_path / "production_deployment"
    deploy(sources, production, {})
    target = production / "trainedmodel.skops"
    target.write_bytes(target.read_bytes()[:-1] + b"X")
    with pytest.raises(PipelineError, match="sha256 does not match the deployment manifest"):
        load_deployed_model(production)


def forge(release, name: str, content: bytes) -> None:
    """Rewrite one file of a release and its manifest's hash, as a writer of the folder can."""
    import json

    from utils.files import sha256_file

    (release / name).write_bytes(content)
    manifest = json.loads((release / "manifest.json").read_text())
    manifest["files"][name] = sha256_file(release / name)
    (release / "manifest.json").write_text(json.dumps(manifest))


def test_a_forged_release_never_runs_code_and_is_refused(tmp_path, sources, tiny_frame, schema):
    import pickle

    import skops.io

    production = tmp_path / "production_deployment"
    release = deploy(sources, production, {})
    marker = tmp_path / "ran"
    # The pickle and the manifest rewritten: the pickle is never loaded, the model still is.
    forge(release, "trainedmodel.pkl", pickle.dumps(RunsCode(str(marker))))
    model, _ = load_deployed_model(production)
    assert hasattr(model, "predict_proba") and not marker.exists()
    # The skops file and the manifest rewritten with a type that would run code: refused.
    evil = train_model(tiny_frame, schema, ModelParams())
    evil.steps.append(("extra", RunsCode(str(marker))))
    forge(release, "trainedmodel.skops", skops.io.dumps(evil))
    with pytest.raises(PipelineError, match="holds types this project does not load"):
        load_deployed_model(production)
    # A pickle where the skops file should be: refused, not unpickled.
    forge(release, "trainedmodel.skops", pickle.dumps(RunsCode(str(marker))))
    with pytest.raises(PipelineError, match="not a loadable model file"):
        load_deployed_model(production)
    assert not marker.exists()


def test_a_release_from_before_the_skops_file_is_refused_saying_redeploy(tmp_path, sources):
    production = tmp_path / "production_deployment"
    deploy({k: v for k, v in sources.items() if k != "trainedmodel.skops"}, production, {})
    with pytest.raises(PipelineError, match="no skops model file .*: redeploy"):
        load_deployed_model(production)


def test_nothing_deployed(tmp_path):
    with pytest.raises(PipelineError, match="no deployed model"):
        load_deployed_model(tmp_path / "production_deployment")


def test_loads_the_deployed_model(tmp_path, sources, tiny_frame, schema):
    production = tmp_path / "production_deployment"
    deploy(sources, production, {"model_version": "7"})
    model, manifest = load_deployed_model(production)
    assert manifest["model_version"] == "7"
    assert len(model.predict(tiny_frame[list(schema.features)])) == len(tiny_frame)


def test_identical_files_are_recognised_as_the_deployed_release(tmp_path, sources):
    from utils.model.deployment import identical_release

    production = tmp_path / "production"
    assert identical_release(production, sources) is None, "nothing deployed yet"
    release = deploy(sources, production, {"model_version": "4"})
    assert identical_release(production, sources)["release"] == release.name
    changed = dict(sources)
    changed["latestscore.txt"] = tmp_path / "other.txt"
    changed["latestscore.txt"].write_text("0.1\n")
    assert identical_release(production, changed) is None
    fewer = {k: v for k, v in sources.items() if k != "latestscore.txt"}
    assert identical_release(production, fewer) is None


KEPT = [("r1", "1"), ("r2", "2"), ("r3", "3"), ("r4", "3")]


@pytest.mark.parametrize(
    ("releases", "current", "to_version", "expected"),
    [
        (KEPT, "r3", None, "r2"),  # the newest older release
        (KEPT, "r4", None, "r2"),  # ...of another version (r3 served v3 too)
        (KEPT, "r2", None, "r1"),  # a second rollback goes further back
        (KEPT, "r2", "3", "r4"),  # --to: the newest release of that version, forward too
        (KEPT, "r4", "1", "r1"),
        (KEPT, "r1", None, "nothing to roll back to: no release older than the deployed v1 is"
                           " kept \\(kept: v1, v2, v3\\)"),
        ([("r1", "1")], "r1", None, "nothing to roll back to"),
        (KEPT, "r4", "3", "v3 is the deployed version already: nothing to do"),
        (KEPT, "r4", "9", "no kept release of v9 \\(kept: v1, v2, v3\\)"),
    ],
)  # fmt: skip
def test_the_rollback_target_of_each_case(releases, current, to_version, expected):
    if expected.startswith("r"):
        assert rollback_target(releases, current, to_version) == expected
    else:
        with pytest.raises(PipelineError, match=expected):
            rollback_target(releases, current, to_version)


def test_point_to_moves_the_link_and_finished_releases_skips_unfinished(tmp_path, sources):
    production = tmp_path / "production_deployment"
    first = deploy(sources, production, {"model_version": "1"})
    second = deploy(sources, production, {"model_version": "2"})
    (releases_dir(production) / ".incoming-x").mkdir()
    assert finished_releases(production) == [first, second]
    point_to(production, first)
    assert current_release(production) == first.resolve()
    assert not os.readlink(production).startswith("/"), "still relative"
    assert finished_releases(tmp_path / "never_deployed") == []
