import subprocess
import sys

from utils.runtime.processes import stop


def test_stops_a_process_that_honours_sigterm():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    stop(process)
    assert process.returncode is not None


def test_kills_a_process_that_ignores_sigterm():
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print(1, flush=True); time.sleep(60)"
    )
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE)
    process.stdout.readline()  # the handler is installed
    stop(process, grace_s=0.5)
    assert process.returncode == -9


def test_gunicorn_command_writes_the_access_log_only_when_asked():
    from utils.runtime.processes import gunicorn_command

    quiet = gunicorn_command("m:app", "127.0.0.1:1", 2)
    served = gunicorn_command("m:app", "127.0.0.1:1", 2, access_log=True)
    assert "--access-logfile" not in quiet
    # The app spec stays last: gunicorn takes it as the only positional argument.
    assert served[-3:] == ["--access-logfile", "-", "m:app"]
    assert [a for a in served if a not in ("--access-logfile", "-")] == quiet
