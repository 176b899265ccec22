import time

import numpy as np
import pandas as pd
import pytest

from utils.report.diagnostics import (
    UNKNOWN,
    declared_requirements,
    dependency_table,
    is_outdated,
    latest_version,
    missing_percent,
    newest_release,
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


def test_a_lookup_that_never_answers_is_unknown_and_the_table_does_not_wait(tmp_path):
    import threading

    path = tmp_path / "requirements.txt"
    path.write_text("pandas==1.0\nnumpy==1.0\n")
    never = threading.Event()

    def latest(name, timeout):
        if name == "numpy":
            never.wait()
        return "99.0"

    try:
        rows = {r["package"]: r for r in dependency_table(path, 0.2, latest=latest)}
    finally:
        never.set()
    assert (rows["pandas"]["latest"], rows["numpy"]["latest"]) == ("99.0", UNKNOWN)


@pytest.mark.parametrize(
    ("installed", "latest", "outdated"),
    [
        ("1.9.1", "1.10.0", True),  # as strings, "1.10.0" < "1.9.1"
        ("1.10.0", "1.9.1", False),
        ("2.0", "2.0.0", False),  # equal versions written differently
        ("1.0", UNKNOWN, False),
        ("not installed", "2.0", False),
    ],
)
def test_outdated_compares_versions_not_strings(installed, latest, outdated):
    assert is_outdated(installed, latest) is outdated


def test_newest_release_skips_pre_releases_and_yanked_ones():
    document = {
        "info": {"version": "2.1.0"},
        "releases": {
            "1.9.0": [{"yanked": False}],
            "1.10.0": [{"yanked": False}],
            "2.0.0rc1": [{"yanked": False}],
            "2.1.0": [{"yanked": True}, {"yanked": True}],
            "not-a-version": [{}],
        },
    }
    assert newest_release(document) == "1.10.0"
    assert newest_release({"info": {"version": "3.0"}, "releases": {}}) == "3.0"
    assert newest_release({}) is None


def test_latest_version_from_an_index_json_api(tmp_path):
    """A real HTTP index on loopback answering the JSON API, and one answering nonsense."""
    import http.server
    import json
    import threading

    class Index(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the http.server interface
            if self.path == "/pypi/pandas/json":
                body = json.dumps({"releases": {"2.0.0": [{}], "3.1.1": [{}]}}).encode()
            else:
                body = b"<html>no</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Index)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    index = f"http://127.0.0.1:{server.server_address[1]}/pypi"
    try:
        assert latest_version("pandas", 5, index) == "3.1.1"
        assert latest_version("other", 5, index) == UNKNOWN
    finally:
        server.shutdown()
        server.server_close()
    assert latest_version("pandas", 5, index) == UNKNOWN, "no index there any more"
