"""The store's schema is managed by Alembic: a fresh database, one made before Alembic, and one
from newer code; each value is stored once."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import create_engine, inspect, text

from utils.errors import PipelineError
from utils.ops.events import EventKind
from utils.store.connection import HEAD_REVISION, MIGRATIONS
from utils.store.history import MonitoringStore


def revision_of(url: str) -> str:
    engine = create_engine(url)
    with engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    engine.dispose()
    return version


def legacy_database(url: str) -> None:
    """A store as the code before Alembic left it: revision 0001's tables, a schema_version
    table, and every value of an event both in its payload and in its child table."""
    from alembic import command
    from alembic.config import Config

    engine = create_engine(url)
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.upgrade(config, "0001")
        conn.execute(text("DROP TABLE alembic_version"))
        conn.execute(text("CREATE TABLE schema_version (version INTEGER NOT NULL)"))
        conn.execute(text("INSERT INTO schema_version VALUES (1)"))
        payload = {"previous_version": "1", "manifest_sha256": "m" * 64, "release": "r2",
                   "f1": 0.8, "model_uri": "models:/m-2"}  # fmt: skip
        conn.execute(
            text(
                "INSERT INTO events (id, kind, created_at, model_version, payload) "
                "VALUES (1, 'deployment', '2026-01-01 00:00:00', '2', :payload)"
            ),
            {"payload": json.dumps(payload)},
        )
        conn.execute(
            text(
                "INSERT INTO deployments (event_id, created_at, model_version, previous_version,"
                " manifest_sha256, release, f1) VALUES (1, '2026-01-01 00:00:00', '2', '1',"
                " :sha, 'r2', 0.8)"
            ),
            {"sha": "m" * 64},
        )
        drift = {"drift": True, "threshold": 0.7}
        conn.execute(
            text(
                "INSERT INTO events (id, kind, created_at, payload) "
                "VALUES (2, 'score_drift', '2026-01-02 00:00:00', :payload)"
            ),
            {"payload": json.dumps(drift)},
        )
    engine.dispose()


def test_a_fresh_database_is_at_the_head_revision(store_url):
    MonitoringStore(store_url).close()
    assert revision_of(store_url) == HEAD_REVISION


def test_a_database_made_before_alembic_is_upgraded_keeping_its_history(store_url):
    legacy_database(store_url)
    store = MonitoringStore(store_url)
    assert revision_of(store_url) == HEAD_REVISION
    assert "schema_version" not in inspect(store.engine).get_table_names()
    (deployment,) = store.deployment_history()
    assert (deployment["model_version"], deployment["release"], deployment["f1"]) == (
        "2",
        "r2",
        0.8,
    )
    assert store.latest_event(EventKind.DEPLOYMENT)["payload"] == {}, "held by deployments"
    assert store.latest_event(EventKind.SCORE_DRIFT)["payload"] == {"drift": True, "threshold": 0.7}
    with store.engine.connect() as conn:
        uri = conn.execute(text("SELECT model_uri FROM deployments")).scalar()
    assert uri == "models:/m-2"
    store.close()


def test_each_value_is_stored_once(store_url):
    store = MonitoringStore(store_url)
    store.record_ingestion(
        [{"name": "a.csv", "sha256": "1" * 64, "rows_read": 10, "rows_kept": 9}], "/in", 9
    )
    store.record_training("models:/m-1", "f" * 64, 9, {"C": 1.0})
    store.record_scoring("t.csv", {"f1": 0.8, "precision": 0.7, "recall": 0.9, "rows": 20})
    store.record_deployment("1", None, "m" * 64, "r1", 0.8, model_uri="models:/m-1")
    store.record_diagnostics("1", {"a": 0.0}, {"data_ingestion": 0.1}, {"outdated": 2})
    payloads = {
        kind: store.latest_event(kind)["payload"]
        for kind in (EventKind.INGESTION, EventKind.TRAINING, EventKind.SCORING,
                     EventKind.DEPLOYMENT, EventKind.DIAGNOSTICS)
    }  # fmt: skip
    assert payloads == {
        EventKind.INGESTION: {"rows": 9},
        EventKind.TRAINING: {},
        EventKind.SCORING: {},
        EventKind.DEPLOYMENT: {},
        EventKind.DIAGNOSTICS: {"outdated": 2},
    }
    assert store.f1_history()[0]["recall"] == 0.9
    assert store.ingested_file_hashes() == {"a.csv": "1" * 64}
    store.close()


def test_a_database_from_newer_code_is_refused_in_one_line(store_url):
    MonitoringStore(store_url).close()
    engine = create_engine(store_url)
    with engine.begin() as conn:
        conn.execute(text("UPDATE alembic_version SET version_num = '9999'"))
    engine.dispose()
    with pytest.raises(PipelineError, match="revision 9999, newer than this code's"):
        MonitoringStore(store_url)
