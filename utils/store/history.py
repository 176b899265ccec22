"""The monitoring store: the history of every pipeline event, in any SQLAlchemy database.

The flat files under models/ and production_deployment/ hold the latest state (the contract other
tools read); this store holds the history behind the trends in the report and the API. SQLite is
the embedded default; PostgreSQL serves several machines.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from utils.errors import PipelineError, first_line
from utils.ops.events import EventKind
from utils.secrets import mask_data
from utils.store.connection import connect, mask_url

log = logging.getLogger(__name__)


metadata = MetaData()

events = Table(
    "events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(32), nullable=False, index=True),
    Column("created_at", DateTime(timezone=True), nullable=False, index=True),
    Column("model_version", String(32)),
    Column("mlflow_run_id", String(64)),
    Column("payload", JSON, nullable=False),
)


def _event_child(name: str, *columns: Column) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("event_id", Integer, ForeignKey("events.id"), nullable=False, index=True),
        Column("created_at", DateTime(timezone=True), nullable=False, index=True),
        *columns,
    )


ingested_files = _event_child(
    "ingested_files",
    Column("file_name", String(512), nullable=False, index=True),
    Column("sha256", String(64), nullable=False),
    Column("rows_read", Integer, nullable=False),
    Column("rows_kept", Integer, nullable=False),
    Column("source_dir", String(1024)),
)
trainings = _event_child(
    "trainings",
    Column("model_uri", String(256), index=True),
    Column("training_sha256", String(64)),
    Column("training_rows", Integer),
    Column("params", JSON),
)
scores = _event_child(
    "scores",
    Column("model_uri", String(256), index=True),
    Column("model_version", String(32), index=True),
    Column("dataset", String(1024), nullable=False),
    Column("f1", Float, nullable=False),
    Column("precision", Float),
    Column("recall", Float),
    Column("roc_auc", Float),
    Column("rows", Integer),
)
deployments = _event_child(
    "deployments",
    Column("model_version", String(32), nullable=False),
    Column("previous_version", String(32)),
    Column("manifest_sha256", String(64), nullable=False),
    Column("release", String(128), nullable=False),
    Column("f1", Float),
    Column("model_uri", String(256)),
)
missing_values = _event_child(
    "missing_values",
    Column("column_name", String(256), nullable=False),
    Column("percent", Float, nullable=False),
)
step_timings = _event_child(
    "step_timings",
    Column("step", String(64), nullable=False),
    Column("seconds", Float, nullable=False),
)


SCORE_COLUMNS = ("f1", "precision", "recall", "roc_auc", "rows")


def _now() -> datetime:
    return datetime.now(UTC)


def _clean(value: Any) -> Any:
    """JSON-safe copy: NaN becomes None (PostgreSQL's JSON refuses NaN)."""
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, dict):
        return {str(k): _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


class MonitoringStore:
    """Writes events and answers the trend questions. One instance per process."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.engine = connect(url)

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        try:
            with self.engine.begin() as conn:
                yield conn
        except SQLAlchemyError as err:
            raise PipelineError(
                f"monitoring store {mask_url(self.url)}: {first_line(err)}"
            ) from None

    def _event(
        self,
        conn: Connection,
        kind: str,
        payload: dict[str, Any],
        model_version: str | None = None,
        mlflow_run_id: str | None = None,
        at: datetime | None = None,
    ) -> tuple[int, datetime]:
        at = at or _now()
        event_id = conn.execute(
            insert(events).values(
                kind=kind,
                created_at=at,
                model_version=None if model_version is None else str(model_version),
                mlflow_run_id=mlflow_run_id,
                # Whatever a payload carries (a URL, a command line), no secret is stored.
                payload=mask_data(_clean(payload)),
            )
        ).inserted_primary_key[0]
        return event_id, at

    def record_ingestion(
        self,
        files: Iterable[dict[str, Any]],
        source_dir: str,
        rows: int,
        mlflow_run_id: str | None = None,
    ) -> int:
        files = list(files)
        with self._transaction() as conn:
            event_id, at = self._event(
                conn, EventKind.INGESTION, {"rows": rows}, mlflow_run_id=mlflow_run_id
            )
            if files:
                conn.execute(
                    insert(ingested_files),
                    [
                        {
                            "event_id": event_id,
                            "created_at": at,
                            "file_name": f["name"],
                            "sha256": f["sha256"],
                            "rows_read": f["rows_read"],
                            "rows_kept": f["rows_kept"],
                            "source_dir": source_dir,
                        }
                        for f in files
                    ],
                )
        return event_id

    def record_training(
        self,
        model_uri: str,
        training_sha256: str,
        training_rows: int,
        params: dict[str, Any],
        mlflow_run_id: str | None = None,
    ) -> int:
        with self._transaction() as conn:
            event_id, at = self._event(conn, EventKind.TRAINING, {}, mlflow_run_id=mlflow_run_id)
            conn.execute(
                insert(trainings).values(
                    event_id=event_id,
                    created_at=at,
                    model_uri=model_uri,
                    training_sha256=training_sha256,
                    training_rows=training_rows,
                    params=_clean(params),
                )
            )
        return event_id

    def record_scoring(
        self,
        dataset: str,
        metrics: dict[str, float],
        model_uri: str | None = None,
        model_version: str | None = None,
        mlflow_run_id: str | None = None,
        kind: str = EventKind.SCORING,
        at: datetime | None = None,
    ) -> int:
        clean = _clean(metrics)
        # The scores table has a column for each of these; anything else stays in the payload.
        rest = {k: v for k, v in clean.items() if k not in SCORE_COLUMNS}
        with self._transaction() as conn:
            event_id, at = self._event(
                conn,
                kind,
                rest,
                model_version=model_version,
                mlflow_run_id=mlflow_run_id,
                at=at,
            )
            conn.execute(
                insert(scores).values(
                    event_id=event_id,
                    created_at=at,
                    model_uri=model_uri,
                    model_version=None if model_version is None else str(model_version),
                    dataset=dataset,
                    f1=clean["f1"],
                    precision=clean.get("precision"),
                    recall=clean.get("recall"),
                    roc_auc=clean.get("roc_auc"),
                    rows=None if clean.get("rows") is None else int(clean["rows"]),
                )
            )
        return event_id

    def record_deployment(
        self,
        model_version: str,
        previous_version: str | None,
        manifest_sha256: str,
        release: str,
        f1: float | None,
        model_uri: str | None = None,
        mlflow_run_id: str | None = None,
    ) -> int:
        with self._transaction() as conn:
            event_id, at = self._event(
                conn,
                EventKind.DEPLOYMENT,
                {},
                model_version=model_version,
                mlflow_run_id=mlflow_run_id,
            )
            conn.execute(
                insert(deployments).values(
                    event_id=event_id,
                    created_at=at,
                    model_version=str(model_version),
                    previous_version=None if previous_version is None else str(previous_version),
                    manifest_sha256=manifest_sha256,
                    release=release,
                    f1=f1,
                    model_uri=model_uri,
                )
            )
            if model_uri:
                # Scores taken before the model had a registry version now carry it.
                conn.execute(
                    update(scores)
                    .where(scores.c.model_uri == model_uri, scores.c.model_version.is_(None))
                    .values(model_version=str(model_version))
                )
        return event_id

    def record_diagnostics(
        self,
        model_version: str | None,
        missing_percent: dict[str, float],
        timings_s: dict[str, float],
        summary: dict[str, Any],
        mlflow_run_id: str | None = None,
    ) -> int:
        with self._transaction() as conn:
            event_id, at = self._event(
                conn,
                EventKind.DIAGNOSTICS,
                summary,
                model_version=model_version,
                mlflow_run_id=mlflow_run_id,
            )
            if missing_percent:
                conn.execute(
                    insert(missing_values),
                    [
                        {"event_id": event_id, "created_at": at, "column_name": c, "percent": p}
                        for c, p in missing_percent.items()
                    ],
                )
            if timings_s:
                conn.execute(
                    insert(step_timings),
                    [
                        {"event_id": event_id, "created_at": at, "step": s, "seconds": v}
                        for s, v in timings_s.items()
                    ],
                )
        return event_id

    def record_event(
        self, kind: str, payload: dict[str, Any], model_version: str | None = None
    ) -> int:
        """Any other event (drift checks, decisions of the automation)."""
        with self._transaction() as conn:
            event_id, _ = self._event(conn, kind, payload, model_version=model_version)
        return event_id

    # Trends ---------------------------------------------------------------------------------

    def _rows(self, query) -> list[dict[str, Any]]:
        with self._transaction() as conn:
            return [dict(row._mapping) for row in conn.execute(query)]

    def f1_history(self, dataset: str | None = None) -> list[dict[str, Any]]:
        """Every score, oldest first: created_at, model_version, dataset, f1, precision, ..."""
        query = select(
            scores.c.created_at,
            scores.c.model_version,
            scores.c.model_uri,
            scores.c.dataset,
            scores.c.f1,
            scores.c.precision,
            scores.c.recall,
            scores.c.roc_auc,
            scores.c.rows,
        ).order_by(scores.c.created_at, scores.c.id)
        if dataset is not None:
            query = query.where(scores.c.dataset == dataset)
        return self._rows(query)

    def missing_history(self) -> list[dict[str, Any]]:
        return self._rows(
            select(
                missing_values.c.created_at, missing_values.c.column_name, missing_values.c.percent
            ).order_by(missing_values.c.created_at, missing_values.c.id)
        )

    def timing_history(self) -> list[dict[str, Any]]:
        return self._rows(
            select(step_timings.c.created_at, step_timings.c.step, step_timings.c.seconds).order_by(
                step_timings.c.created_at, step_timings.c.id
            )
        )

    def deployment_history(self) -> list[dict[str, Any]]:
        return self._rows(
            select(
                deployments.c.created_at,
                deployments.c.model_version,
                deployments.c.previous_version,
                deployments.c.release,
                deployments.c.f1,
                deployments.c.manifest_sha256,
            ).order_by(deployments.c.created_at, deployments.c.id)
        )

    def ingested_file_hashes(self) -> dict[str, str]:
        """The latest recorded sha256 of every ingested file name."""
        rows = self._rows(
            select(ingested_files.c.file_name, ingested_files.c.sha256).order_by(
                ingested_files.c.created_at, ingested_files.c.id
            )
        )
        return {row["file_name"]: row["sha256"] for row in rows}

    def decided_files(self, kind: str = EventKind.DECISION) -> set[tuple[str, str]]:
        """(name, sha256) of the files of every finished automation decision."""
        rows = self._rows(select(events.c.payload).where(events.c.kind == kind))
        return {
            (f["name"], f["sha256"])
            for row in rows
            for f in (row["payload"] or {}).get("files", [])
        }

    def count(self, kind: str | None = None) -> int:
        query = select(func.count()).select_from(events)
        if kind is not None:
            query = query.where(events.c.kind == kind)
        with self._transaction() as conn:
            return int(conn.execute(query).scalar_one())

    def events_of(self, kind: str) -> list[dict[str, Any]]:
        """Every event of ``kind``, oldest first."""
        return self._rows(
            select(events).where(events.c.kind == kind).order_by(events.c.created_at, events.c.id)
        )

    def latest_event(self, kind: str) -> dict[str, Any] | None:
        rows = self._rows(
            select(events)
            .where(events.c.kind == kind)
            .order_by(events.c.created_at.desc(), events.c.id.desc())
            .limit(1)
        )
        return rows[0] if rows else None

    def close(self) -> None:
        self.engine.dispose()
