"""The fast tier is what it says: ./run_tests.sh deselects exactly the kinds conftest lists,
so a test that needs a server (PostgreSQL, Spark, gunicorn) never runs in it. CI runs the fast
tier on Python 3.12 and 3.13 with no server started and fails a PostgreSQL test it cannot run.
"""

from __future__ import annotations

import re
import subprocess
import sys

from conftest import FAST_TIER, ROOT, WHOLE_SUITE_ONLY


def test_run_tests_deselects_what_conftest_calls_the_whole_suite_only():
    script = (ROOT / "run_tests.sh").read_text()
    expressions = re.findall(r'-m "([^"]+)"', script)
    assert expressions == [FAST_TIER]


def test_every_whole_suite_marker_is_declared():
    import tomllib

    declared = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]
    names = {line.split(":")[0] for line in declared["ini_options"]["markers"]}
    assert set(WHOLE_SUITE_ONLY) <= names


def test_the_fast_tier_collects_the_store_on_sqlite_only():
    collected = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist",
         "-m", FAST_TIER, "tests/utils/store/test_history.py"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    assert "[sqlite]" in collected
    assert "postgresql" not in collected
    # It asks for postgres_url itself, with no store_url parameter.
    assert "test_the_advisory_lock_is_held_by_one_holder_at_a_time" not in collected
