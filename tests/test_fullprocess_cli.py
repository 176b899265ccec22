"""fullprocess.py's command line, on failures that need no pipeline run."""

import subprocess
import sys

from conftest import ROOT, user_env

BAD_STORE = "store.url=postgresql://me:secret@127.0.0.1:9/monitoring"


def test_one_run_with_an_unreachable_store_is_one_line(tmp_path, assert_one_line_error):
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "fullprocess.py"),
            BAD_STORE,
            f"automation.lock_file={tmp_path / 'lock'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=user_env(),
        check=False,
    )
    assert proc.returncode == 2
    line = assert_one_line_error(proc, "monitoring store postgresql://me@127.0.0.1:9/monitoring")
    assert "secret" not in line


def test_the_every_loop_keeps_going_after_a_failure(tmp_path):
    try:
        subprocess.run(
            [
                sys.executable,
                str(ROOT / "fullprocess.py"),
                "--every",
                "0.2",
                BAD_STORE,
                f"automation.lock_file={tmp_path / 'lock'}",
            ],
            capture_output=True,
            text=True,
            timeout=8,
            env=user_env(),
            check=False,
        )
    except subprocess.TimeoutExpired as stopped:
        stderr = stopped.stderr.decode() if isinstance(stopped.stderr, bytes) else stopped.stderr
    else:
        raise AssertionError("the loop ended by itself")
    assert stderr.count("trying again in 0 s") >= 2
