"""The monitoring store: the history of every pipeline event, in any SQLAlchemy database.

The flat files under models/ and production_deployment/ hold the latest state (the contract other
tools read); this store holds the history behind the trends in the report and the API. SQLite is
the embedded default; PostgreSQL serves several machines.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
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
    create_engine,
    event,
    func,
    insert,
    inspect,
    select,
    text,
    update,
)
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from utils.errors import PipelineError
from utils.ops.events import EventKind
from utils.secrets import mask_data

log = logging.getLogger(__name__)

# The newest migration in utils/store/migrations/versions; metadata below is its schema.
HEAD_REVISION = "0002"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
CONNECT_TIMEOUT_S = 5
# Any constant shared by every writer: PostgreSQL serialises schema changes on it.
_SCHEMA_LOCK_KEY = 727_001

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


def mask_url(url: str) -> str:
    """The URL with any password replaced by ***, safe to print."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "<unparseable database URL>"


def split_password(url: str) -> tuple[str, str | None]:
    """Take the password out of a PostgreSQL URL, for PGPASSWORD instead.

    Step parameters are recorded in MLflow for everyone to read; the password must not be.
    libpq reads PGPASSWORD (or ~/.pgpass) itself.
    """
    try:
        parsed = make_url(url)
    except ArgumentError:
        return url, None
    if parsed.password is None or parsed.get_backend_name() != "postgresql":
        return url, None
    without = URL.create(
        parsed.drivername,
        parsed.username,
        None,
        parsed.host,
        parsed.port,
        parsed.database,
        parsed.query,
    )
    return without.render_as_string(hide_password=False), str(parsed.password)


def resolve_store_url(configured: str | None, root: Path) -> str:
    """The configured URL, or a SQLite file at the project root; relative SQLite paths are
    taken against the root so every step writes to the same file."""
    if not configured:
        return f"sqlite:///{Path(root) / 'monitoring.db'}"
    prefix = "sqlite:///"
    if configured.startswith(prefix) and not configured[len(prefix) :].startswith("/"):
        relative = configured[len(prefix) :]
        return f"{prefix}{Path(root) / relative}" if relative else configured
    return configured


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # The busy timeout first, so that writers queue instead of failing, then WAL, which lets
    # readers work while a writer commits. Switching to WAL needs a moment alone with the file:
    # when another process holds it, that process is switching (or has switched) it already.
    cursor.execute("PRAGMA busy_timeout=30000")
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
    except dbapi_connection.OperationalError:
        pass
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _first_line(err: BaseException) -> str:
    message = str(getattr(err, "orig", None) or err).strip()
    return message.splitlines()[0] if message else type(err).__name__


def connect(url: str) -> Engine:
    """An engine for ``url`` with a checked connection and an up-to-date schema."""
    masked = mask_url(url)
    try:
        parsed = make_url(url)
        connect_args: dict[str, Any] = {}
        if parsed.get_backend_name() == "sqlite":
            connect_args["timeout"] = 30
        elif parsed.get_backend_name() == "postgresql":
            connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
        engine = create_engine(parsed, connect_args=connect_args, pool_pre_ping=True)
        if parsed.get_backend_name() == "sqlite":
            event.listen(engine, "connect", _sqlite_pragmas)
        ensure_schema(engine)
    except (SQLAlchemyError, ImportError, ValueError) as err:
        raise PipelineError(f"monitoring store {masked}: {_first_line(err)}") from None
    return engine


@contextmanager
def advisory_lock(url: str, name: str) -> Iterator[bool]:
    """On a PostgreSQL store: yield True when this process holds the database-wide lock
    ``name`` (a session advisory lock, held until the block ends or the process dies), False
    when a process on any host does. On another store: True (the file lock is the only one).

    This is what keeps the crons of two hosts that share the store from both working."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "postgresql":
        yield True
        return
    key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
    try:
        engine = create_engine(
            parsed, poolclass=NullPool, connect_args={"connect_timeout": CONNECT_TIMEOUT_S}
        )
        conn = engine.connect()
    except SQLAlchemyError as err:
        raise PipelineError(f"monitoring store {mask_url(url)}: {_first_line(err)}") from None
    try:
        held = bool(conn.execute(text("SELECT pg_try_advisory_lock(:key)"), {"key": key}).scalar())
        conn.commit()
        yield held
        if held:
            conn.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": key})
    finally:
        conn.close()
        engine.dispose()


def _revision(conn: Connection) -> str | None:
    """The store's Alembic revision; None for an empty database, "legacy" for one made before
    the store used Alembic (its tables are revision 0001's)."""
    tables = set(inspect(conn).get_table_names())
    if "alembic_version" in tables:
        return conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
    return "legacy" if "events" in tables else None


@contextmanager
def _sqlite_migration_lock(engine: Engine) -> Iterator[None]:
    """One migrating process at a time on a SQLite file, from before its transaction begins to
    after it commits: a lock file beside the database (Alembic does not run SQLite's DDL in
    one transaction, so the database's own locking cannot serialise migrations)."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        yield
        return
    with open(f"{database}.migrating", "a") as lock:
        fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock.fileno(), fcntl.LOCK_UN)


def ensure_schema(engine: Engine) -> None:
    """Bring the schema to HEAD_REVISION with the Alembic migrations; safe when several
    processes connect at once. Up to date (every connect after the first) is one query."""
    with engine.connect() as conn:
        if _revision(conn) == HEAD_REVISION:
            return
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    known = {script.revision for script in ScriptDirectory.from_config(config).walk_revisions()}
    with _sqlite_migration_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Held until this transaction commits: the next process then sees the new schema.
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})
        current = _revision(conn)
        if current not in known | {None, "legacy"}:
            raise PipelineError(
                f"the monitoring store is at schema revision {current}, newer than this "
                f"code's {HEAD_REVISION}; upgrade the code"
            )
        config.attributes["connection"] = conn
        if current == "legacy":
            command.stamp(config, "0001")
        log.info("upgrading the monitoring store's schema to revision %s", HEAD_REVISION)
        command.upgrade(config, "head")


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
                f"monitoring store {mask_url(self.url)}: {_first_line(err)}"
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
