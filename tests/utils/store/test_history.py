import socket
import subprocess
import sys

import pytest

from conftest import ROOT
from utils.errors import PipelineError
from utils.store.connection import connect, mask_url, resolve_store_url
from utils.store.history import MonitoringStore


def test_schema_creation_is_idempotent(store_url):
    first = MonitoringStore(store_url)
    first.record_event("note", {"n": 1})
    second = MonitoringStore(store_url)
    assert second.count() == 1
    first.close()
    second.close()


def test_events_and_trends(store_url):
    store = MonitoringStore(store_url)
    store.record_ingestion(
        [{"name": "a.csv", "sha256": "1" * 64, "rows_read": 10, "rows_kept": 9}], "/in", 9
    )
    store.record_training("models:/m-1", "f" * 64, 9, {"C": 1.0})
    store.record_scoring(
        "test.csv",
        {"f1": 0.8, "precision": 0.7, "recall": 0.9, "roc_auc": float("nan"), "rows": 20.0},
        model_uri="models:/m-1",
    )
    store.record_deployment("1", None, "e" * 64, "r1", 0.8, model_uri="models:/m-1")
    store.record_scoring("new.csv", {"f1": 0.4}, model_version="1")
    store.record_diagnostics("1", {"a": 0.0, "b": 12.5}, {"data_ingestion": 0.1}, {"x": 1})
    store.record_ingestion(
        [{"name": "a.csv", "sha256": "2" * 64, "rows_read": 10, "rows_kept": 10}], "/in", 10
    )

    history = store.f1_history()
    assert [(h["model_version"], h["dataset"], h["f1"]) for h in history] == [
        ("1", "test.csv", 0.8),
        ("1", "new.csv", 0.4),
    ], "a score taken before deployment gets the version it was deployed as"
    assert history[0]["roc_auc"] is None
    assert [h["dataset"] for h in store.f1_history(dataset="new.csv")] == ["new.csv"]
    assert {(m["column_name"], m["percent"]) for m in store.missing_history()} == {
        ("a", 0.0),
        ("b", 12.5),
    }
    assert [(t["step"], t["seconds"]) for t in store.timing_history()] == [("data_ingestion", 0.1)]
    assert [d["model_version"] for d in store.deployment_history()] == ["1"]
    assert store.ingested_file_hashes() == {"a.csv": "2" * 64}
    assert store.count("ingestion") == 2
    assert store.latest_event("deployment")["model_version"] == "1"
    store.close()


WRITER = """
import sys
from utils.store.history import MonitoringStore
store = MonitoringStore(sys.argv[1])
for i in range(int(sys.argv[2])):
    store.record_scoring(f"writer-{sys.argv[3]}", {"f1": i / 1000})
"""


def test_two_processes_writing_at_once_lose_no_rows(store_url, tmp_path):
    rows = 300
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, store_url, str(rows), name],
            cwd=ROOT,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("a", "b")
    ]
    for writer in writers:
        _, err = writer.communicate(timeout=300)
        assert writer.returncode == 0, err
    store = MonitoringStore(store_url)
    assert store.count("scoring") == 2 * rows
    assert len(store.f1_history(dataset="writer-a")) == rows
    store.close()


def test_password_is_masked():
    assert mask_url("postgresql://me:s3cret@db.example:5432/x") == (
        "postgresql://me:***@db.example:5432/x"
    )


def test_unreachable_server_is_one_line_with_masked_password():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # Nothing listens on that port now: the connection is refused.
    with pytest.raises(PipelineError) as err:
        connect(f"postgresql://me:s3cret@127.0.0.1:{port}/db")
    message = str(err.value)
    assert f"monitoring store postgresql://me:***@127.0.0.1:{port}/db:" in message
    assert "s3cret" not in message
    assert "\n" not in message


def test_server_that_never_answers_times_out():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    try:
        # The server accepts the TCP connection and then says nothing: connect_timeout ends it.
        with pytest.raises(PipelineError, match="monitoring store postgresql://me:\\*\\*\\*@"):
            connect(f"postgresql://me:pw@127.0.0.1:{port}/db")
    finally:
        listener.close()


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("nosuchdb://host/x", "nosuchdb://host/x"),
        ("not a url", "<unparseable database URL>"),
        ("sqlite:////no/such/folder/monitoring.db", "sqlite:////no/such/folder/monitoring.db"),
    ],
)
def test_wrong_urls_are_one_line(url, fragment):
    with pytest.raises(PipelineError, match="monitoring store ") as err:
        connect(url)
    assert fragment in str(err.value)


def test_default_and_relative_sqlite_urls_resolve_against_the_root(tmp_path):
    assert resolve_store_url(None, tmp_path) == f"sqlite:///{tmp_path / 'monitoring.db'}"
    assert resolve_store_url("sqlite:///data/m.db", tmp_path) == f"sqlite:///{tmp_path}/data/m.db"
    assert resolve_store_url("postgresql://h/db", tmp_path) == "postgresql://h/db"


def test_password_moves_out_of_the_url():
    from utils.store.connection import split_password

    assert split_password("postgresql://me:pw@h:5432/db") == ("postgresql://me@h:5432/db", "pw")
    assert split_password("postgresql://me@h/db") == ("postgresql://me@h/db", None)
    assert split_password("sqlite:////tmp/m.db") == ("sqlite:////tmp/m.db", None)


def test_the_advisory_lock_is_held_by_one_holder_at_a_time(postgres_url):
    from utils.store.connection import advisory_lock

    with advisory_lock(postgres_url, "fullprocess:m") as first:
        assert first
        with advisory_lock(postgres_url, "fullprocess:m") as second:
            assert not second, "another session (another host) is refused"
        with advisory_lock(postgres_url, "fullprocess:other") as other:
            assert other, "another model's automation is not held up"
    with advisory_lock(postgres_url, "fullprocess:m") as again:
        assert again, "released at the end of the block"


def test_the_advisory_lock_is_always_granted_on_sqlite(tmp_path):
    from utils.store.connection import advisory_lock

    with advisory_lock(f"sqlite:///{tmp_path / 'm.db'}", "x") as one:
        with advisory_lock(f"sqlite:///{tmp_path / 'm.db'}", "x") as two:
            assert one and two, "one host: the lock file does the work"


def test_an_unreachable_lock_server_is_one_line():
    from utils.store.connection import advisory_lock

    with pytest.raises(PipelineError, match=r"monitoring store postgresql://me:\*\*\*@127") as err:
        with advisory_lock("postgresql://me:pw-secret@127.0.0.1:9/m", "x"):
            pass
    assert "pw-secret" not in str(err.value)
