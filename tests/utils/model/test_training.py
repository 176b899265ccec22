import pickle

import numpy as np
import pandas as pd
import pytest

from conftest import RunsCode
from utils.config import SOLVERS
from utils.errors import PipelineError
from utils.model.training import (
    METADATA_NAME,
    MODEL_FILE,
    MODEL_NAME,
    TRUSTED_TYPES,
    ModelParams,
    build_model,
    fit_pipeline,
    load_model,
    model_metadata,
    read_metadata,
    save_model,
    train_model,
)


def test_trains_a_logistic_regression_that_predicts_from_a_frame(tiny_frame, schema):
    model = train_model(tiny_frame, schema, ModelParams())
    assert model.named_steps["classifier"].__class__.__name__ == "LogisticRegression"
    predictions = model.predict(tiny_frame[list(schema.features)])
    assert predictions.tolist() == tiny_frame["exited"].tolist()


def test_missing_feature_values_are_imputed(tiny_frame, schema):
    gap = tiny_frame.astype({"lastmonth_activity": float})
    gap.loc[0, "lastmonth_activity"] = np.nan
    model = train_model(gap, schema, ModelParams())
    assert len(model.predict(gap[list(schema.features)])) == len(gap)


@pytest.mark.filterwarnings("ignore:Skipping features without any observed values")
@pytest.mark.parametrize("empty_column", [False, True])
def test_fit_pipeline_matches_a_plain_pipeline_fit(schema, empty_column):
    rng = np.random.default_rng(5)
    frame = pd.DataFrame(rng.normal(size=(400, 3)), columns=list(schema.features))
    frame = frame.mask(rng.random(frame.shape) < 0.1)
    if empty_column:
        frame["number_of_employees"] = np.nan
    target = pd.Series((rng.random(400) < 0.4).astype(int))
    ours = fit_pipeline(build_model(ModelParams()), frame, target)
    plain = build_model(ModelParams()).fit(frame, target)
    assert np.array_equal(ours[0].statistics_, plain[0].statistics_, equal_nan=True)
    assert list(ours.feature_names_in_) == list(plain.feature_names_in_)
    assert np.allclose(ours[-1].coef_, plain[-1].coef_)
    assert np.allclose(ours.predict_proba(frame), plain.predict_proba(frame))


def test_one_class_is_refused(tiny_frame, schema):
    with pytest.raises(PipelineError, match=r"'exited' \(target\) has only the class \[1\]"):
        train_model(tiny_frame[tiny_frame["exited"] == 1], schema, ModelParams())


def test_non_positive_c_is_refused(tiny_frame, schema):
    with pytest.raises(PipelineError, match="model.C must be positive"):
        train_model(tiny_frame, schema, ModelParams(C=0))


def test_save_and_load_round_trip(tmp_path, tiny_frame, schema):
    model = train_model(tiny_frame, schema, ModelParams(C=0.5))
    metadata = model_metadata(schema, ModelParams(C=0.5), len(tiny_frame), "ab" * 32)
    path = save_model(model, metadata, tmp_path)
    assert path == tmp_path / MODEL_FILE
    features = tiny_frame[list(schema.features)]
    for loaded in (load_model(path), pickle.loads((tmp_path / MODEL_NAME).read_bytes())):
        assert (loaded.predict_proba(features) == model.predict_proba(features)).all()
    saved = read_metadata(tmp_path)
    assert saved["params"]["C"] == 0.5
    assert saved["features"] == list(schema.features)
    assert set(saved["library_versions"]) >= {"scikit-learn", "pandas"}
    assert (tmp_path / METADATA_NAME).is_file()


def test_the_same_model_is_the_same_bytes_whenever_it_is_saved(tmp_path, tiny_frame, schema):
    import time

    model = train_model(tiny_frame, schema, ModelParams())
    first = save_model(model, {}, tmp_path / "a").read_bytes()
    time.sleep(2.1)  # a zip entry's time has a resolution of two seconds
    assert save_model(model, {}, tmp_path / "b").read_bytes() == first


def test_the_projects_model_needs_exactly_the_trusted_types(tmp_path, tiny_frame, schema):
    import skops.io

    for solver in SOLVERS:
        model = train_model(tiny_frame, schema, ModelParams(solver=solver))
        untrusted = skops.io.get_untrusted_types(data=skops.io.dumps(model))
        assert set(untrusted) <= set(TRUSTED_TYPES), solver


def test_load_missing_model(tmp_path):
    with pytest.raises(PipelineError, match=r"trainedmodel\.skops: model file not found"):
        load_model(tmp_path / "trainedmodel.skops")


def test_load_truncated_model(tmp_path, tiny_frame, schema):
    path = save_model(train_model(tiny_frame, schema, ModelParams()), {}, tmp_path)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(PipelineError, match="not a loadable model file"):
        load_model(path)


def test_a_pickle_in_place_of_the_model_file_is_not_run(tmp_path):
    path = tmp_path / "trainedmodel.skops"
    marker = tmp_path / "ran"
    path.write_bytes(pickle.dumps(RunsCode(str(marker))))
    with pytest.raises(PipelineError, match="not a loadable model file"):
        load_model(path)
    assert not marker.exists()


def test_a_model_file_holding_an_untrusted_type_is_refused_naming_it(tmp_path, tiny_frame, schema):
    import skops.io

    model = train_model(tiny_frame, schema, ModelParams())
    model.steps.append(("extra", RunsCode(str(tmp_path / "ran"))))
    path = tmp_path / "trainedmodel.skops"
    path.write_bytes(skops.io.dumps(model))
    with pytest.raises(PipelineError, match=r"holds types this project does not load .*RunsCode"):
        load_model(path)
    assert not (tmp_path / "ran").exists()


def test_a_file_without_predict_is_refused(tmp_path):
    import skops.io

    path = tmp_path / "m.skops"
    path.write_bytes(skops.io.dumps({"not": "a model"}))
    with pytest.raises(PipelineError, match="holds a dict, not a model"):
        load_model(path)
