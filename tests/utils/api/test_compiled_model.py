"""The compiled model: the project's Pipeline as numpy arrays, equal to scikit-learn's answers."""

import numpy as np
import pandas as pd

from utils.api.compiled_model import CompiledModel
from utils.model.training import ModelParams, train_model

FEATURES = ["lastmonth_activity", "lastyear_activity", "number_of_employees"]


def test_compiled_model_equals_scikit_learn(schema):
    from utils.data.demo import generate_rows

    data = generate_rows(500, seed=3)
    model = train_model(data, schema, ModelParams(C=0.3))
    matrix = data[FEATURES].to_numpy(dtype=float, copy=True)
    matrix[::7, 1] = np.nan
    compiled = CompiledModel(model, FEATURES, sample=matrix[:50])
    assert compiled.fast is not None
    predictions, probabilities = compiled.predict(matrix)
    frame = pd.DataFrame(matrix, columns=FEATURES)
    assert predictions == model.predict(frame).tolist()
    assert np.allclose(probabilities, model.predict_proba(frame)[:, 1], rtol=1e-9)


def test_other_models_use_scikit_learn(schema, tiny_frame):
    from sklearn.tree import DecisionTreeClassifier

    model = DecisionTreeClassifier().fit(tiny_frame[FEATURES], tiny_frame["exited"])
    compiled = CompiledModel(model, FEATURES)
    assert compiled.fast is None
    predictions, probabilities = compiled.predict(tiny_frame[FEATURES].to_numpy(dtype=float))
    assert predictions == tiny_frame["exited"].tolist()
    assert len(probabilities) == len(tiny_frame)


def _tricky_rows(rng: np.random.Generator) -> np.ndarray:
    """Ordinary rows, rows with missing values, and rows far out (logits past exp's range)."""
    ordinary = rng.normal(0, 1_000, size=(3_000, 3))
    missing = ordinary[:300].copy()
    missing[::2, 0] = np.nan
    missing[1::3, 2] = np.nan
    missing[::5] = np.nan
    extreme = np.array(
        [
            [1e100, 1e100, 1e100],
            [-1e100, -1e100, -1e100],
            [1e100, -1e100, 0.0],
            [0.0, 0.0, 0.0],
            [-0.0, -0.0, -0.0],
            [5e-324, -5e-324, 1e-300],
            [1e6, -1e6, 1e5],
        ]
    )
    return np.vstack([ordinary, missing, extreme])


def test_rows_as_lists_get_the_same_bits_as_the_array_path(schema):
    """A one-row request is answered in plain Python, a batch with numpy: the same row must
    get the same probability, bit for bit, and the same class, either way."""
    from utils.data.demo import generate_rows

    model = train_model(generate_rows(500, seed=4), schema, ModelParams(C=0.3))
    compiled = CompiledModel(model, FEATURES)
    assert compiled.plain is not None
    matrix = _tricky_rows(np.random.default_rng(5))
    array_predictions, array_probabilities = compiled.predict(matrix)
    list_predictions, list_probabilities = compiled.predict(matrix.tolist())
    assert list_predictions == array_predictions
    assert np.array_equal(
        np.array(list_probabilities), np.array(array_probabilities), equal_nan=True
    )
    assert {0.0, 1.0} <= set(list_probabilities)  # both ends of exp's range were reached
    assert all(type(p) is float for p in list_probabilities)
    assert all(type(p) is int for p in list_predictions)


def test_rows_as_lists_for_other_models_go_through_scikit_learn(schema, tiny_frame):
    from sklearn.tree import DecisionTreeClassifier

    model = DecisionTreeClassifier().fit(tiny_frame[FEATURES], tiny_frame["exited"])
    compiled = CompiledModel(model, FEATURES)
    rows = tiny_frame[FEATURES].to_numpy(dtype=float).tolist()
    assert compiled.predict(rows) == compiled.predict(np.array(rows))
