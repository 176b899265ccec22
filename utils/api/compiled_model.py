"""A fitted model reduced to what predicting one row needs: the project's Pipeline (median
imputation, standard scaling, logistic regression) as three numpy arrays, which answers a row
in microseconds where scikit-learn's own call with a DataFrame takes about a millisecond.

A request of a few rows comes as plain lists and is answered with plain Python floats: in a
gunicorn worker under load, where the server's own code runs between two requests, each numpy
call cost about 8 us (the 11 calls of validating and predicting one row: 90 us of the 290 us
the worker spent on it; benchmarks/api.py). Both ways do the same floating-point operations in
the same order, so a row gets the same bits whichever way it came.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.special import expit


class CompiledModel:
    """Class-1 probabilities and predictions of a fitted model on a float matrix.

    The project's Pipeline (median imputation, standard scaling, logistic regression) is
    reduced to its fitted arrays; anything else is called through scikit-learn with a
    DataFrame. The reduction is checked against scikit-learn on sample rows when built.
    """

    def __init__(self, model: Any, features: Sequence[str], sample: np.ndarray | None = None):
        self.model = model
        self.features = list(features)
        self.fast = self._reduce(model)
        if self.fast is not None and sample is not None and len(sample):
            expected = self._sklearn_proba(sample)
            if not np.allclose(self._fast_proba(sample), expected, rtol=1e-9, atol=1e-12):
                self.fast = None
        # The same fitted arrays as Python floats, for rows that come as lists.
        self.plain = (
            None
            if self.fast is None
            else (self.fast[0].tolist(), self.fast[1].tolist(), self.fast[3])
        )

    @staticmethod
    def _reduce(model: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, float] | None:
        steps = getattr(model, "named_steps", None)
        if steps is None or list(steps) != ["impute", "scale", "classifier"]:
            return None
        impute, scale, classifier = steps["impute"], steps["scale"], steps["classifier"]
        if (
            type(impute).__name__ != "SimpleImputer"
            or type(scale).__name__ != "StandardScaler"
            or type(classifier).__name__ != "LogisticRegression"
            or list(getattr(classifier, "classes_", [])) != [0, 1]
            or getattr(impute, "add_indicator", False)
        ):
            return None
        fill = np.asarray(impute.statistics_, dtype=np.float64)
        mean = np.asarray(scale.mean_ if scale.with_mean else np.zeros_like(fill))
        scale_ = np.asarray(scale.scale_ if scale.with_std else np.ones_like(fill))
        # Fold scaling into the weights: (x - mean) / scale @ w + b == x @ (w / scale) + b'.
        weights = classifier.coef_.ravel() / scale_
        intercept = float(classifier.intercept_[0] - mean @ weights)
        return fill, weights, mean, intercept

    def _fast_proba(self, matrix: np.ndarray) -> np.ndarray:
        fill, weights, _, intercept = self.fast  # type: ignore[misc]
        if np.isnan(matrix).any():
            matrix = np.where(np.isnan(matrix), fill, matrix)
        # Column by column, in order, not matmul: BLAS may fuse a multiply with an add and sums
        # in an order of its own, and _row_probability must give the same bits.
        logit = matrix[:, 0] * weights[0]
        for j in range(1, len(weights)):
            logit += matrix[:, j] * weights[j]
        # expit: the logistic without exp's overflow warning for very large inputs.
        return expit(logit + intercept)

    def _row_probability(self, row: list[float]) -> float:
        """_fast_proba of one row, in plain Python: the same operations in the same order
        (scipy's expit is 1 / (1 + exp(-x)) with the C library's exp, as math.exp)."""
        fill, weights, intercept = self.plain  # type: ignore[misc]
        # NaN != NaN: a missing value takes the imputer's.
        values = [
            value if value == value else filled for value, filled in zip(row, fill, strict=True)
        ]
        logit = values[0] * weights[0]
        for j in range(1, len(weights)):
            logit += values[j] * weights[j]
        logit += intercept
        try:
            return 1.0 / (1.0 + math.exp(-logit))
        except OverflowError:  # exp of over 709.78: expit's 0.0
            return 0.0

    def _sklearn_proba(self, matrix: np.ndarray) -> np.ndarray:
        import pandas as pd

        frame = pd.DataFrame(matrix, columns=self.features)
        return self.model.predict_proba(frame)[:, 1]

    def predict(self, matrix: np.ndarray | list[list[float]]) -> tuple[list[int], list[float]]:
        """Class predictions and class-1 probabilities of the rows of ``matrix``: a float
        array, or lists of floats (few rows, from a request)."""
        if isinstance(matrix, list):
            if self.plain is not None:
                probabilities = [self._row_probability(row) for row in matrix]
                return [int(p > 0.5) for p in probabilities], probabilities
            matrix = np.array(matrix, dtype=np.float64).reshape(len(matrix), len(self.features))
        if self.fast is not None:
            probability = self._fast_proba(matrix)
            return (probability > 0.5).astype(int).tolist(), probability.tolist()
        import pandas as pd

        frame = pd.DataFrame(matrix, columns=self.features)
        predictions = self.model.predict(frame)
        return [int(p) for p in predictions], self._sklearn_proba(matrix).tolist()
