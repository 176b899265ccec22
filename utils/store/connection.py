"""Reaching the monitoring store: its URL (passwords kept out of it), a checked connection
with the schema brought up to date by the Alembic migrations, and the hosts' advisory lock."""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, event, inspect, text
from sqlalchemy.engine import URL, Connection, Engine, make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool

from utils.errors import PipelineError, first_line

log = logging.getLogger(__name__)

# The newest migration in utils/store/migrations/versions; utils.store.history's tables are
# its schema.
HEAD_REVISION = "0002"
MIGRATIONS = Path(__file__).resolve().parent / "migrations"
CONNECT_TIMEOUT_S = 5
# Any constant shared by every writer: PostgreSQL serialises schema changes on it.
_SCHEMA_LOCK_KEY = 727_001


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


def store_url_for(configured: str | None, root: Path) -> str:
    """The store's URL for ``config.store.url``, without its password, which goes to
    PGPASSWORD (never in a URL that could be logged or recorded): every entry point's one way
    to the store."""
    url, password = split_password(resolve_store_url(configured, root))
    if password is not None:
        os.environ["PGPASSWORD"] = password
    return url


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
        raise PipelineError(f"monitoring store {masked}: {first_line(err)}") from None
    return engine


@contextmanager
def advisory_lock(url: str, name: str, wait_s: float = 0.0) -> Iterator[bool]:
    """On a PostgreSQL store: yield True when this process holds the database-wide lock
    ``name`` (a session advisory lock, held until the block ends or the process dies), False
    when a process on any host still does after ``wait_s`` seconds. On another store: True
    (the file lock is the only one).

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
        raise PipelineError(f"monitoring store {mask_url(url)}: {first_line(err)}") from None
    try:
        deadline = time.monotonic() + wait_s
        while True:
            try_lock = text("SELECT pg_try_advisory_lock(:key)")
            held = bool(conn.execute(try_lock, {"key": key}).scalar())
            conn.commit()
            if held or time.monotonic() >= deadline:
                break
            time.sleep(min(0.5, max(0.0, deadline - time.monotonic())))
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
