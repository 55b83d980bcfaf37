"""The SQLAlchemy engine for read models, on the same database as the event log."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import URL
from sqlalchemy.pool import NullPool

from domain.settings import Settings


def read_model_engine(settings: Settings, *, writer: bool = False, **options: Any) -> Engine:
    """An engine for the read models; ``writer`` for the projector, whose SQLite
    transactions take the write lock when they begin (so they never deadlock upgrading a
    read lock while the ledger writes)."""
    env = settings.eventsourcing_env()
    if env["PERSISTENCE_MODULE"] == "eventsourcing.postgres":
        url = _postgres_url(env)
        # Connections for every request thread stay open: one opened per request costs the
        # server a new process each time.
        engine = create_engine(
            url,
            pool_size=settings.request_threads,
            max_overflow=settings.request_threads,
            pool_pre_ping=False,
            **options,
        )
        if settings.database_schema:
            return engine.execution_options(schema_translate_map={None: settings.database_schema})
        return engine
    engine = create_engine(
        f"sqlite:///{env['SQLITE_DBNAME']}",
        poolclass=NullPool,
        connect_args={"timeout": 30},
        **options,
    )

    @event.listens_for(engine, "connect")
    def _sqlite_pragmas(connection: Any, _: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()
        if writer:
            connection.isolation_level = None  # SQLAlchemy's recipe: we emit BEGIN ourselves

    if writer:

        @event.listens_for(engine, "begin")
        def _begin_immediate(connection: Any) -> None:
            connection.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def for_reading(engine: Engine) -> Engine:
    """The engine, its connections in autocommit on PostgreSQL: a query is one round trip,
    without BEGIN before it and ROLLBACK when the connection goes back to the pool. For
    reads only. It reads as a transaction would: PostgreSQL gives each statement a snapshot
    of its own either way (READ COMMITTED). The pool is the engine's own."""
    if engine.dialect.name != "postgresql":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def async_reading_pool(settings: Settings) -> AsyncConnectionPool | None:
    """On PostgreSQL, a small pool of asyncio connections in autocommit, their search path
    the schema of the settings, for the reads an event loop makes itself; None on SQLite.
    Opened (``await pool.open()``) on the loop that uses it."""
    env = settings.eventsourcing_env()
    if env["PERSISTENCE_MODULE"] != "eventsourcing.postgres":
        return None
    url = _postgres_url(env).set(drivername="postgresql").render_as_string(hide_password=False)
    options: dict[str, Any] = {"autocommit": True}
    if settings.database_schema:
        options["options"] = f"-c search_path={settings.database_schema}"
    return AsyncConnectionPool(url, min_size=1, max_size=4, kwargs=options, open=False)


@contextmanager
def advisory_lock(engine: Engine, name: str, *, wait: bool = True) -> Iterator[bool]:
    """A PostgreSQL session advisory lock on ``name`` within the engine's schema, held for
    the block: waited for, or (``wait=False``) only tried; yields whether it is held.
    SQLite serialises its writers itself: there it is always held."""
    if engine.dialect.name != "postgresql":
        yield True
        return
    key = {"key": f"hoso {name} {engine_schema(engine)}"}
    with engine.connect() as conn:
        if wait:
            conn.execute(_LOCK, key)
            held = True
        else:
            held = bool(conn.execute(_TRY_LOCK, key).scalar())
        conn.commit()
        try:
            yield held
        finally:
            if held:
                conn.execute(_UNLOCK, key)
                conn.commit()


_LOCK = text("SELECT pg_advisory_lock(hashtext(:key))")
_TRY_LOCK = text("SELECT pg_try_advisory_lock(hashtext(:key))")
_UNLOCK = text("SELECT pg_advisory_unlock(hashtext(:key))")


def engine_schema(engine: Engine) -> str:
    """The PostgreSQL schema the engine's tables are in ("" for the default)."""
    translate = engine.get_execution_options().get("schema_translate_map") or {}
    return str(translate.get(None) or "")


def _postgres_url(env: dict[str, str]) -> URL:
    return URL.create(
        "postgresql+psycopg",
        username=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"] or None,
        host=env["POSTGRES_HOST"],
        port=int(env["POSTGRES_PORT"]),
        database=env["POSTGRES_DBNAME"],
    )


def serves(engine: Engine, settings: Settings) -> bool:
    """Whether ``engine`` holds the read models of ``settings`` on PostgreSQL: the database
    and schema ``read_model_engine(settings)`` would give, so that another process can open
    the same with the settings alone."""
    if not settings.database_url or engine.dialect.name != "postgresql":
        return False
    url = _postgres_url(settings.eventsourcing_env())
    if engine.url.render_as_string(hide_password=False) != url.render_as_string(
        hide_password=False
    ):
        return False
    return engine_schema(engine) == settings.database_schema
