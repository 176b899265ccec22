import json
import math

import numpy as np
import pytest
from sklearn.metrics import (
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from utils.errors import PipelineError
from utils.model.scoring import (
    binary_metrics,
    confusion_counts,
    evaluate,
    format_score,
    predict_on,
    predict_with_probabilities,
    read_score,
    roc_auc,
    roc_points,
    write_score,
)
from utils.model.training import ModelParams, train_model


class _Constant:
    """A stand-in model that predicts one class for every row."""

    def __init__(self, value: int) -> None:
        self.value = value

    def predict(self, frame):
        return [self.value] * len(frame)


def test_metrics_match_scikit_learn(tiny_frame, schema):
    model = train_model(tiny_frame, schema, ModelParams())
    flipped = tiny_frame.assign(exited=[1, 1, 1, 0, 0, 0])
    metrics = evaluate(model, flipped, schema)
    predicted = model.predict(flipped[list(schema.features)])
    assert metrics["f1"] == pytest.approx(f1_score(flipped["exited"], predicted))
    assert 0 <= metrics["roc_auc"] <= 1
    assert metrics["rows"] == 6


def test_single_class_data_has_no_roc_auc(tiny_frame, schema):
    only_ones = tiny_frame[tiny_frame["exited"] == 1]
    metrics = evaluate(_Constant(1), only_ones, schema)
    assert metrics["f1"] == 1.0
    assert math.isnan(metrics["roc_auc"])


def test_no_positive_predictions_score_zero(tiny_frame, schema):
    assert evaluate(_Constant(0), tiny_frame, schema)["f1"] == 0.0


def test_score_file_holds_the_bare_number(tmp_path):
    path = write_score(4 / 7, tmp_path)
    assert path.read_text() == "0.5714285714\n"
    assert read_score(path) == pytest.approx(4 / 7, abs=1e-10)
    assert format_score(1.0) == "1.0000000000\n"


def test_missing_score(tmp_path):
    with pytest.raises(PipelineError, match="score file not found"):
        read_score(tmp_path / "latestscore.txt")


def test_garbled_score(tmp_path):
    (tmp_path / "latestscore.txt").write_text("F1 = high")
    with pytest.raises(PipelineError, match="expected a bare number"):
        read_score(tmp_path / "latestscore.txt")


def test_binary_metrics_and_roc_auc_match_scikit_learn():
    rng = np.random.default_rng(11)
    truth = (rng.random(5000) < 0.3).astype(np.int64)
    scores = (rng.random(5000) * 0.6 + truth * 0.3).round(2)  # rounded: many ties
    predicted = (scores > 0.5).astype(np.int64)
    ours = binary_metrics(truth, predicted)
    assert ours["f1"] == pytest.approx(f1_score(truth, predicted), abs=1e-12)
    assert ours["precision"] == pytest.approx(precision_score(truth, predicted), abs=1e-12)
    assert ours["recall"] == pytest.approx(recall_score(truth, predicted), abs=1e-12)
    assert roc_auc(truth, scores) == pytest.approx(roc_auc_score(truth, scores), abs=1e-12)


def test_binary_metrics_without_positives_are_zero():
    nothing = np.zeros(4, dtype=np.int64)
    assert binary_metrics(nothing, nothing) == {"f1": 0.0, "precision": 0.0, "recall": 0.0}


def test_one_pass_predictions_equal_the_pipeline_own(tiny_frame, schema):
    model = train_model(tiny_frame, schema, ModelParams())
    features = tiny_frame[list(schema.features)]
    predicted, probabilities = predict_with_probabilities(model, features)
    assert predicted.tolist() == model.predict(features).tolist()
    assert np.allclose(probabilities, model.predict_proba(features)[:, 1], rtol=0, atol=1e-15)


def test_confusion_counts_match_scikit_learn():
    rng = np.random.default_rng(2)
    truth, predicted = rng.integers(0, 2, 1000), rng.integers(0, 2, 1000)
    expected = confusion_matrix(truth, predicted, labels=[0, 1])
    assert confusion_counts(truth, predicted).tolist() == expected.tolist()


def test_roc_points_are_the_vertices_of_scikit_learns_curve():
    rng = np.random.default_rng(4)
    truth = rng.integers(0, 2, 3000)
    scores = (rng.random(3000) * 0.7 + truth * 0.3).round(3)
    fpr, tpr, _ = roc_curve(truth, scores, drop_intermediate=False)
    ours_fpr, ours_tpr = roc_points(truth, scores, max_points=10_000)
    assert np.allclose(ours_fpr, fpr) and np.allclose(ours_tpr, tpr)
    few_fpr, few_tpr = roc_points(truth, scores, max_points=50)
    assert len(few_fpr) <= 51 and (few_fpr[0], few_tpr[0]) == (0.0, 0.0)
    assert (few_fpr[-1], few_tpr[-1]) == (1.0, 1.0)
    assert set(zip(few_fpr, few_tpr, strict=True)) <= set(zip(fpr, tpr, strict=True))


def test_evaluation_metrics_equal_evaluate(tiny_frame, schema):
    model = train_model(tiny_frame, schema, ModelParams())
    evaluation = predict_on(model, tiny_frame, schema)
    assert evaluation.metrics() == evaluate(model, tiny_frame, schema)
    assert evaluation.confusion().tolist() == [[3, 0], [0, 3]]


def test_evaluation_summary_is_plain_json_with_the_curve(tiny_frame, schema):
    model = train_model(tiny_frame, schema, ModelParams())
    evaluation = predict_on(model, tiny_frame, schema)
    summary = json.loads(json.dumps(summary_of := evaluation.summary(), allow_nan=False))
    assert summary == summary_of
    assert summary["metrics"] == evaluation.metrics()
    assert summary["confusion"] == [[3, 0], [0, 3]]
    fpr, tpr = roc_points(evaluation.truth, evaluation.probabilities)
    assert summary["roc"] == {"fpr": fpr, "tpr": tpr}


def test_evaluation_summary_of_one_class_has_no_auc_and_the_diagonal(tiny_frame, schema):
    only_ones = tiny_frame[tiny_frame["exited"] == 1]
    model = train_model(tiny_frame, schema, ModelParams())
    summary = predict_on(model, only_ones, schema).summary()
    json.dumps(summary, allow_nan=False)
    assert summary["metrics"]["roc_auc"] is None
    assert summary["roc"] == {"fpr": [0.0, 1.0], "tpr": [0.0, 1.0]}


def test_probabilities_are_counted_in_twenty_equal_bins_with_one_in_the_last():
    from utils.model.scoring import PROBABILITY_BINS, probability_histogram

    counts = probability_histogram([0.0, 0.049, 0.05, 0.5, 0.999, 1.0])
    assert len(counts) == PROBABILITY_BINS == 20
    assert counts[0] == 2 and counts[1] == 1 and counts[10] == 1 and counts[19] == 2
    assert sum(counts) == 6
