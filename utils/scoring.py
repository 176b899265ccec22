"""Scoring: classification metrics of a fitted model on a labelled data set."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score, precision_score, recall_score, roc_auc_score

from utils.errors import PipelineError
from utils.files import atomic_write_text
from utils.schema import DataSchema

SCORE_NAME = "latestscore.txt"


def evaluate(model, data: pd.DataFrame, schema: DataSchema) -> dict[str, float]:
    """F1, precision, recall and ROC AUC (NaN when the data holds one class only)."""
    features = data[list(schema.features)]
    truth = data[schema.target].to_numpy()
    predicted = model.predict(features)
    metrics = {
        "f1": float(f1_score(truth, predicted, zero_division=0)),
        "precision": float(precision_score(truth, predicted, zero_division=0)),
        "recall": float(recall_score(truth, predicted, zero_division=0)),
        "roc_auc": math.nan,
        "rows": float(len(data)),
    }
    if len(np.unique(truth)) == 2 and hasattr(model, "predict_proba"):
        metrics["roc_auc"] = float(roc_auc_score(truth, model.predict_proba(features)[:, 1]))
    return metrics


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
