import pickle

import numpy as np
import pandas as pd
import pytest

from utils.data.ingestion import ingest_files, list_data_files
from utils.errors import PipelineError
from utils.model.training import (
    METADATA_NAME,
    ModelParams,
    build_model,
    fit_pipeline,
    load_pickle,
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
    loaded = load_pickle(path)
    features = tiny_frame[list(schema.features)]
    assert (loaded.predict(features) == model.predict(features)).all()
    saved = read_metadata(tmp_path)
    assert saved["params"]["C"] == 0.5
    assert saved["features"] == list(schema.features)
    assert set(saved["library_versions"]) >= {"scikit-learn", "pandas"}
    assert (tmp_path / METADATA_NAME).is_file()


def test_load_missing_model(tmp_path):
    with pytest.raises(PipelineError, match=r"trainedmodel\.pkl: model file not found"):
        load_pickle(tmp_path / "trainedmodel.pkl")


def test_load_truncated_model(tmp_path, tiny_frame, schema):
    path = save_model(train_model(tiny_frame, schema, ModelParams()), {}, tmp_path)
    path.write_bytes(path.read_bytes()[:50])
    with pytest.raises(PipelineError, match="not a loadable model pickle"):
        load_pickle(path)


def test_load_pickle_without_predict(tmp_path):
    path = tmp_path / "m.pkl"
    path.write_bytes(pickle.dumps({"not": "a model"}))
    with pytest.raises(PipelineError, match="holds a dict, not a model"):
        load_pickle(path)


def test_missing_metadata(tmp_path):
    with pytest.raises(PipelineError, match="model metadata not found"):
        read_metadata(tmp_path)


def test_trains_on_course_data(udacity_dir, schema):
    data = (
        ingest_files(list_data_files(udacity_dir / "practicedata"), schema)
        .distinct_rows()
        .to_pandas()
    )
    model = train_model(data, schema, ModelParams())
    probabilities = model.predict_proba(data[list(schema.features)])[:, 1]
    assert probabilities.shape == (len(data),)
    assert ((probabilities > 0) & (probabilities < 1)).all()


@pytest.mark.parametrize(
    ("rows", "max_rows", "kept"),
    [(100, None, 100), (100, 100, 100), (100, 500, 100), (100, 30, 30)],
)
def test_training_takes_a_uniform_sample_beyond_the_configured_rows(rows, max_rows, kept):
    from utils.model.training import uniform_sample

    data = pd.DataFrame({"a": range(rows)})
    sample = uniform_sample(data, max_rows, seed=7)
    assert len(sample) == kept
    assert sample["a"].is_monotonic_increasing, "rows keep their order"
    assert sample.equals(uniform_sample(data, max_rows, seed=7)), "seeded"
    if kept < rows:
        assert not sample.equals(uniform_sample(data, max_rows, seed=8))
