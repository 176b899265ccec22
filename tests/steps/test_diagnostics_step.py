"""The diagnostics step's own functions (the step as a whole runs in test_pipeline)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from conftest import load_script
from utils.engines.base import EngineSettings
from utils.model.training import ModelParams

diagnostics = load_script("diagnostics/diagnostics.py", "risk_diagnostics_step")


def test_predictions_are_written_beside_the_report_with_their_ids(tmp_path, tiny_frame):
    summary = diagnostics.write_predictions(
        tiny_frame, np.array([1, 0, 1, 1, 0, 0]), ("corporation",), tmp_path / "p.csv"
    )
    assert summary == {"file": "p.csv", "rows": 6, "class_counts": {"0": 3, "1": 3}}
    written = pd.read_csv(tmp_path / "p.csv")
    assert written.columns.tolist() == ["corporation", "prediction"]
    assert written["prediction"].tolist() == [1, 0, 1, 1, 0, 0]
    json.dumps(summary)  # goes into diagnostics.json as it is


def test_step_timings_leave_the_input_untouched(tmp_path, tiny_frame, write_csv, schema):
    source = write_csv("in/a.csv", tiny_frame)
    before = source.read_bytes()
    timings = diagnostics.step_timings(str(source.parent), schema, ModelParams(), EngineSettings())
    assert set(timings) == {"data_ingestion", "model_training"}
    assert all(seconds > 0 for seconds in timings.values())
    assert source.read_bytes() == before
    assert sorted(p.name for p in source.parent.iterdir()) == ["a.csv"]


def test_predictions_without_id_columns(tmp_path, tiny_frame):
    diagnostics.write_predictions(tiny_frame.iloc[:0, :0], np.array([1, 0]), (), tmp_path / "p.csv")
    assert (tmp_path / "p.csv").read_text() == "prediction\n1\n0\n"
