"""fullprocess.py's command line, on failures that need no pipeline run."""

import subprocess
import sys

import pytest

from conftest import ROOT, user_env

# fullprocess.py as cron runs it: a process, for its exit code, stderr and alert.
pytestmark = pytest.mark.integration

BAD_STORE = "store.url=postgresql://me:secret@127.0.0.1:9/monitoring"


def test_one_run_with_an_unreachable_store_is_one_line_and_an_alert(
    tmp_path, assert_one_line_error, webhook
):
    proc = subprocess.run(
        [
            sys.executable,
            str(ROOT / "fullprocess.py"),
            BAD_STORE,
            f"automation.lock_file={tmp_path / 'lock'}",
            f"automation.metrics_textfile={tmp_path / 'risk.prom'}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=user_env(RISK_ALERT_WEBHOOK=webhook.url),  # config.yaml's default reads it
        check=False,
    )
    assert proc.returncode == 2
    line = assert_one_line_error(proc, "monitoring store postgresql://me@127.0.0.1:9/monitoring")
    assert "secret" not in line
    (alert,) = webhook.posts
    assert alert["kind"] == "failed_run" and alert["source"].startswith("fullprocess@")
    assert "run failed: monitoring store postgresql://me@127.0.0.1:9/" in alert["text"]
    assert "secret" not in str(alert)
    written = (tmp_path / "risk.prom").read_text()
    assert "risk_fullprocess_last_run_success 0.0" in written
    assert 'risk_fullprocess_last_run_outcome{outcome="failed"} 1.0' in written


def test_a_quiet_run_is_a_success_in_the_textfile(tmp_path):
    empty = tmp_path / "nothing"
    empty.mkdir()
    subprocess.run(
        [
            sys.executable,
            str(ROOT / "fullprocess.py"),
            f"automation.source_dir={empty}",
            f"store.url=sqlite:///{tmp_path / 'm.db'}",
            f"automation.lock_file={tmp_path / 'lock'}",
            f"automation.hash_cache={tmp_path / 'hashes.json'}",
            f"automation.metrics_textfile={tmp_path / 'risk.prom'}",
        ],
        capture_output=True, text=True, timeout=120, env=user_env(), check=True,
    )  # fmt: skip
    written = (tmp_path / "risk.prom").read_text()
    assert "risk_fullprocess_last_run_success 1.0" in written
    assert 'risk_fullprocess_last_run_outcome{outcome="nothing"} 1.0' in written
    assert "risk_fullprocess_last_success_timestamp_seconds" in written


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


def _as_a_background_job() -> None:
    """What a shell or a CI harness may hand down: SIGINT ignored and blocked (both survive
    exec)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT, signal.SIGTERM})


def test_ctrl_c_on_the_every_loop_is_one_line_and_exit_130(tmp_path):
    import signal

    empty = tmp_path / "nothing"
    empty.mkdir()
    proc = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "fullprocess.py"),
            "--every",
            "600",
            f"automation.source_dir={empty}",
            f"store.url=sqlite:///{tmp_path / 'm.db'}",
            f"automation.lock_file={tmp_path / 'lock'}",
            f"automation.hash_cache={tmp_path / 'hashes.json'}",
        ],
        stderr=subprocess.PIPE,
        text=True,
        env=user_env(),
        preexec_fn=_as_a_background_job,
    )
    seen = []
    for line in proc.stderr:  # the first check has run when it says so: the loop sleeps now
        seen.append(line)
        if "no new data" in line:
            break
    proc.send_signal(signal.SIGINT)
    _, rest = proc.communicate(timeout=60)
    stderr = "".join(seen) + rest
    assert proc.returncode == 130
    assert "Traceback" not in stderr
    assert stderr.strip().splitlines()[-1].endswith("ERROR fullprocess: stopped by Ctrl-C (SIGINT)")
