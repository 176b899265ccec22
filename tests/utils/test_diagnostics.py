import time

import numpy as np
import pandas as pd
import pytest

from utils.diagnostics import (
    UNKNOWN,
    declared_requirements,
    dependency_table,
    latest_version,
    missing_percent,
    summary_statistics,
    time_call,
)


def test_summary_statistics_of_numeric_columns(tiny_frame):
    stats = summary_statistics(tiny_frame, ["corporation"])
    assert set(stats) == {
        "lastmonth_activity",
        "lastyear_activity",
        "number_of_employees",
        "exited",
    }
    column = tiny_frame["lastmonth_activity"]
    assert stats["lastmonth_activity"] == {
        "mean": pytest.approx(column.mean()),
        "median": pytest.approx(column.median()),
        "std": pytest.approx(column.std()),
    }


def test_excluded_columns_are_left_out(tiny_frame):
    assert "exited" not in summary_statistics(tiny_frame, ["corporation", "exited"])


def test_missing_percent():
    frame = pd.DataFrame(
        {"a": [1, np.nan, 3, np.nan], "b": ["x", "y", None, "z"], "c": [1, 2, 3, 4]}
    )
    assert missing_percent(frame) == {"a": 50.0, "b": 25.0, "c": 0.0}
    assert missing_percent(frame.iloc[:0]) == {"a": 0.0, "b": 0.0, "c": 0.0}


def test_time_call_measures_the_work():
    assert time_call(lambda: time.sleep(0.05)) >= 0.05


def test_declared_requirements(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text(
        "# comment\n-r other.txt\nmlflow==3.17.2\n"
        "requests[socks] == 2.0 ; python_version>'3'\nplain\n\n"
    )
    assert declared_requirements(path) == [
        ("mlflow", "3.17.2"),
        ("requests", "2.0"),
        ("plain", None),
    ]


def test_dependency_table_marks_outdated_and_unknown(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text("pandas==1.0\nnumpy\nno-such-package-here==1\n")
    latest = {"pandas": "99.0", "numpy": UNKNOWN, "no-such-package-here": "2"}
    table = dependency_table(path, 1.0, latest=lambda name, timeout: latest[name])
    rows = {row["package"]: row for row in table}
    assert rows["pandas"]["installed"] == pd.__version__
    assert rows["pandas"]["outdated"] is True
    assert rows["numpy"]["outdated"] is False, "unknown is not outdated"
    assert rows["no-such-package-here"]["installed"] == "not installed"


def test_dependency_lookups_run_in_parallel_within_the_bound(tmp_path):
    path = tmp_path / "requirements.txt"
    path.write_text("\n".join(f"pkg{i}==1" for i in range(8)))

    def slow(name, timeout):
        time.sleep(0.3)
        return "2"

    started = time.perf_counter()
    table = dependency_table(path, 0.5, latest=slow)
    assert len(table) == 8
    assert time.perf_counter() - started < 8 * 0.3, "look-ups are not serial"


def test_an_unanswering_index_gives_unknown():
    # A timeout far shorter than starting pip: the look-up is cut off, never a hang or a crash.
    assert latest_version("pandas", timeout_s=0.001) == UNKNOWN
