"""The SQLAlchemy engine for read models, on the same database as the event log."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
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
            pool_pre_ping=True,
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
    translate = engine.get_execution_options().get("schema_translate_map") or {}
    return (translate.get(None) or "") == settings.database_schema
