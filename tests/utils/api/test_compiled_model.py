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
