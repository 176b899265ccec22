"""One run at a time: the automation's lock, waiting for it, and saying who holds it."""

from __future__ import annotations

import os
import threading
import time

from utils.automation.sources import exclusive_lock, lock_holder


def test_the_holder_writes_who_it_is_and_a_second_taker_is_refused(tmp_path):
    lock = tmp_path / "lock"
    with exclusive_lock(lock, purpose="fullprocess.py") as held:
        assert held
        holder = lock_holder(lock)
        assert holder.startswith(f"fullprocess.py, pid {os.getpid()} on ")
        with exclusive_lock(lock) as second:
            assert not second
        assert lock_holder(lock) == holder, "a refused taker leaves the holder's line"
    with exclusive_lock(lock) as again:
        assert again


def test_a_waiting_taker_gets_the_lock_once_the_holder_lets_go(tmp_path):
    lock = tmp_path / "lock"
    taken, release = threading.Event(), threading.Event()

    def hold() -> None:
        with exclusive_lock(lock):
            taken.set()
            release.wait()

    holder = threading.Thread(target=hold)
    holder.start()
    taken.wait()
    threading.Timer(0.3, release.set).start()
    with exclusive_lock(lock, wait_s=60, purpose="fullprocess.py --rollback") as held:
        assert held and release.is_set()
        assert lock_holder(lock).startswith("fullprocess.py --rollback, pid")
    holder.join()


def test_a_lock_file_from_before_or_from_nobody_still_reads_as_one_line(tmp_path):
    lock = tmp_path / "lock"
    lock.write_text("4242\n")
    assert lock_holder(lock) == "pid 4242"
    lock.write_text("x" * 10_000)
    assert len(lock_holder(lock)) == 300
    assert lock_holder(tmp_path / "absent") == "a process that did not say"
    started = time.monotonic()
    with exclusive_lock(tmp_path / "free", wait_s=30) as held:
        assert held and time.monotonic() - started < 30, "a free lock is not waited for"
