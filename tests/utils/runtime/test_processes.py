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
