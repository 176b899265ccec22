"""The reporting step's own functions (the step as a whole runs in test_pipeline)."""

from __future__ import annotations

import os

import pytest

from conftest import load_script
from utils.files import file_identity

# The step imports the API client beside it by its bare name, as it runs from its folder.
reporting = load_script("06_reporting/reporting.py", "risk_reporting_step")


@pytest.fixture
def test_file(tmp_path):
    path = tmp_path / "testdata.csv"
    path.write_text("a,b\n1,2\n")
    return path


def _diagnostics(release: str | None, identity: dict | None) -> dict:
    evaluation = {
        "release": release,
        "dataset": identity,
        "metrics": {"f1": 0.5},
        "probabilities": [1] * 20,
    }
    return {"evaluation": evaluation}


@pytest.mark.parametrize(
    ("case", "reused"),
    [
        ("same release, same file", True),
        ("another release", False),
        ("nothing deployed", False),
        ("test file rewritten", False),
        ("another test file", False),
        ("diagnostics of an older version (no evaluation)", False),
        ("diagnostics of an older version (no probabilities)", False),
    ],
)
def test_the_report_reuses_diagnostics_evaluation_only_when_it_still_holds(
    case, reused, test_file, tmp_path
):
    diagnostics = _diagnostics("r1", file_identity(test_file))
    release, wanted = "r1", test_file
    if case == "another release":
        release = "r2"
    elif case == "nothing deployed":
        release = None
    elif case == "test file rewritten":
        test_file.write_text("a,b\n1,3\n")
        os.utime(test_file, ns=(1, 1))
    elif case == "another test file":
        wanted = tmp_path / "other.csv"
        wanted.write_bytes(test_file.read_bytes())
    elif case == "diagnostics of an older version (no evaluation)":
        diagnostics = {}
    elif case == "diagnostics of an older version (no probabilities)":
        del diagnostics["evaluation"]["probabilities"]
    stored = reporting.stored_evaluation(diagnostics, release, wanted)
    assert (stored is not None) is reused
    if reused:
        assert stored["metrics"] == {"f1": 0.5}
