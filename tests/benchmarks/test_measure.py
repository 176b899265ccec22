"""The benchmarks' process measurements: output, failure and a chatty command."""

from __future__ import annotations

import sys

import pytest

from conftest import ROOT

sys.path.insert(0, str(ROOT / "benchmarks"))

from measure import run_measured, run_sampled  # noqa: E402

CHATTY = "import sys; sys.stderr.write('x' * 300_000); print('done')"


@pytest.mark.parametrize("run", [run_measured, run_sampled])
def test_a_command_that_writes_much_is_read_whole(run):
    stdout, seconds, peak_mib = run([sys.executable, "-c", CHATTY])
    assert stdout == "done\n" and seconds > 0
    # GNU time always sees the peak; run_sampled samples every 0.2 s, so a command this short
    # may end before its first sample (0 then).
    assert peak_mib > 0 if run is run_measured else peak_mib >= 0


@pytest.mark.parametrize("run", [run_measured, run_sampled])
def test_a_failed_command_ends_the_benchmark_with_its_last_words(run):
    with pytest.raises(SystemExit, match="failed:\nit broke"):
        run([sys.executable, "-c", "import sys; sys.exit('it broke')"])
