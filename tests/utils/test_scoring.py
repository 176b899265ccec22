import math

import pytest
from sklearn.metrics import f1_score

from utils.errors import PipelineError
from utils.scoring import evaluate, format_score, read_score, write_score
from utils.training import ModelParams, train_model


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
