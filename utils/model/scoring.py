"""Scoring: classification metrics of a fitted model on a labelled data set."""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from utils import layout
from utils.data.schema import DataSchema
from utils.errors import PipelineError
from utils.files import atomic_write_text

SCORE_NAME = layout.SCORE


@dataclass(frozen=True)
class Evaluation:
    """A model's predictions on a labelled data set, and what is measured from them."""

    truth: np.ndarray
    predicted: np.ndarray
    probabilities: np.ndarray | None

    @property
    def two_classes(self) -> bool:
        return self.probabilities is not None and len(np.unique(self.truth)) == 2

    def metrics(self) -> dict[str, float]:
        """F1, precision, recall and ROC AUC (NaN when the data holds one class only), and the
        number of rows (an int: 200 rows, not 200.0)."""
        auc = roc_auc(self.truth, self.probabilities) if self.two_classes else math.nan
        return {
            **binary_metrics(self.truth, self.predicted),
            "roc_auc": auc,
            "rows": len(self.truth),
        }

    def confusion(self) -> np.ndarray:
        """[[TN, FP], [FN, TP]], as sklearn's confusion_matrix with labels [0, 1]."""
        return confusion_counts(self.truth, self.predicted)

    def summary(self) -> dict[str, object]:
        """What a report shows of the evaluation, as JSON-able values: the metrics, the
        confusion matrix and the ROC curve's vertices (a straight line without two classes)."""
        if self.two_classes:
            fpr, tpr = roc_points(self.truth, self.probabilities)
        else:
            fpr, tpr = [0.0, 1.0], [0.0, 1.0]
        # NaN (ROC AUC of one class) is not JSON: None, shown as a dash.
        metrics = {
            k: None if isinstance(v, float) and math.isnan(v) else v
            for k, v in self.metrics().items()
        }
        return {
            "metrics": metrics,
            "confusion": self.confusion().tolist(),
            "roc": {"fpr": fpr, "tpr": tpr},
            "probabilities": probability_histogram(self.probabilities),
        }


# The report's distribution of predicted probabilities: counts in equal bins over [0, 1].
PROBABILITY_BINS = 20


def probability_histogram(probabilities) -> list[int]:
    """How many probabilities fall in each of PROBABILITY_BINS equal bins of [0, 1] (1.0 in
    the last)."""
    counts, _ = np.histogram(np.asarray(probabilities, dtype=float), PROBABILITY_BINS, (0.0, 1.0))
    return [int(c) for c in counts]


def predict_on(model, data: pd.DataFrame, schema: DataSchema) -> Evaluation:
    predicted, probabilities = predict_with_probabilities(model, data[list(schema.features)])
    return Evaluation(data[schema.target].to_numpy(), predicted, probabilities)


def evaluate(model, data: pd.DataFrame, schema: DataSchema) -> dict[str, float]:
    """F1, precision, recall and ROC AUC (NaN when the data holds one class only)."""
    return predict_on(model, data, schema).metrics()


def predict_with_probabilities(
    model, features: pd.DataFrame
) -> tuple[np.ndarray, np.ndarray | None]:
    """Predicted classes and class-1 probabilities (None if the model has none).

    A Pipeline ending in a binary linear classifier is run once: its decision function gives
    both, exactly as its predict (decision > 0) and predict_proba (the logistic of it) do.
    """
    from scipy.special import expit

    last = model.steps[-1][1] if hasattr(model, "steps") else None
    if last is not None and hasattr(last, "decision_function") and len(last.classes_) == 2:
        decision = last.decision_function(model[:-1].transform(features))
        return last.classes_[(decision > 0).astype(np.int64)], expit(decision)
    probabilities = model.predict_proba(features)[:, 1] if hasattr(model, "predict_proba") else None
    return model.predict(features), probabilities


def confusion_counts(truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """[[TN, FP], [FN, TP]] of 0/1 labels, counted in one pass."""
    cells = np.asarray(truth, dtype=np.int64) * 2 + (np.asarray(predicted) == 1)
    return np.bincount(cells, minlength=4).reshape(2, 2)


def binary_metrics(truth: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """F1, precision and recall of class 1, 0 where undefined (sklearn's zero_division=0)."""
    return metrics_of_confusion(confusion_counts(truth, predicted))


def metrics_of_confusion(counts: np.ndarray) -> dict[str, float]:
    """F1, precision and recall of class 1 from [[TN, FP], [FN, TP]] (0 where undefined)."""
    (_, false_positive), (false_negative, true_positive) = counts
    predicted_positive = int(true_positive + false_positive)
    actual_positive = int(true_positive + false_negative)
    true_positive = int(true_positive)
    precision = true_positive / predicted_positive if predicted_positive else 0.0
    recall = true_positive / actual_positive if actual_positive else 0.0
    both = predicted_positive + actual_positive
    f1 = 2 * true_positive / both if both else 0.0
    return {"f1": f1, "precision": precision, "recall": recall}


def roc_auc(truth: np.ndarray, scores: np.ndarray) -> float:
    """Area under the ROC curve as the Mann-Whitney statistic: one (parallel) ranking of the
    scores, ties sharing their average rank, instead of sklearn's curve of every threshold."""
    import polars as pl

    positive = np.asarray(truth) == 1
    n_positive = int(positive.sum())
    n_negative = len(positive) - n_positive
    ranks = pl.Series(np.asarray(scores, dtype=np.float64)).rank("average").to_numpy()
    rank_sum = float(ranks[positive].sum())
    return (rank_sum - n_positive * (n_positive + 1) / 2) / (n_positive * n_negative)


def format_score(f1: float) -> str:
    return f"{f1:.10f}\n"


def write_score(f1: float, model_dir: Path) -> Path:
    path = Path(model_dir) / SCORE_NAME
    atomic_write_text(path, format_score(f1))
    return path


def read_score(path: Path) -> float:
    path = Path(path)
    if not path.is_file():
        raise PipelineError(f"{path}: score file not found; run model_scoring first")
    text = path.read_text(encoding="utf-8").strip()
    try:
        return float(text)
    except ValueError:
        raise PipelineError(f"{path}: expected a bare number, found {text[:40]!r}") from None


def roc_points(
    truth: np.ndarray, scores: np.ndarray, max_points: int = 2000
) -> tuple[list[float], list[float]]:
    """Vertices of the ROC curve (false and true positive rates), at most ``max_points`` of
    them evenly spread along it: enough to draw, however many rows there are."""
    import polars as pl

    scores = np.asarray(scores, dtype=np.float64)
    order = pl.Series(scores).arg_sort(descending=True).to_numpy()
    ranked = scores[order]
    true_positives = np.cumsum(np.asarray(truth)[order] == 1)
    false_positives = np.arange(1, len(order) + 1) - true_positives
    # A threshold ends where the next score is lower: the last row of each group of ties.
    ends = np.append(np.flatnonzero(ranked[1:] != ranked[:-1]), len(ranked) - 1)
    chosen = ends[
        np.unique(np.linspace(0, len(ends) - 1, min(len(ends), max_points)).round()).astype(
            np.int64
        )
    ]
    n_positive = max(int(true_positives[-1]), 1)
    n_negative = max(int(false_positives[-1]), 1)
    fpr = [0.0, *(false_positives[chosen] / n_negative).tolist()]
    tpr = [0.0, *(true_positives[chosen] / n_positive).tolist()]
    return fpr, tpr
