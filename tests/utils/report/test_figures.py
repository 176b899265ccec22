import io
from datetime import UTC, datetime, timedelta

import numpy as np
from PIL import Image

from utils.report.figures import (
    confusion_matrix_png,
    f1_history_png,
    roc_curve_png,
    series_history_png,
)


def assert_png(data: bytes) -> None:
    with Image.open(io.BytesIO(data)) as image:
        assert image.format == "PNG"
        assert image.size[0] > 300 and image.size[1] > 300


def test_confusion_matrix_png():
    assert_png(confusion_matrix_png(np.array([[5, 1], [2, 7]]), "title", ("0", "1")))


def test_roc_curve_png():
    assert_png(roc_curve_png([0, 0.2, 1], [0, 0.8, 1], 0.8))


def test_trend_pngs_with_and_without_history():
    start = datetime(2026, 1, 1, tzinfo=UTC)
    history = [
        {
            "created_at": start + timedelta(hours=i),
            "dataset": d,
            "f1": 0.5 + i / 10,
            "model_version": str(i),
        }
        for i, d in enumerate(["test.csv", "new.csv", "test.csv"])
    ]
    assert_png(f1_history_png(history, threshold=0.6))
    assert_png(f1_history_png([], threshold=None))
    rows = [{"created_at": start, "column_name": "a", "percent": 1.0}]
    assert_png(series_history_png(rows, "column_name", "percent", "%", "missing"))
    assert_png(series_history_png([], "column_name", "percent", "%", "missing"))
