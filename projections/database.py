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
        url = URL.create(
            "postgresql+psycopg",
            username=env["POSTGRES_USER"],
            password=env["POSTGRES_PASSWORD"] or None,
            host=env["POSTGRES_HOST"],
            port=int(env["POSTGRES_PORT"]),
            database=env["POSTGRES_DBNAME"],
        )
        engine = create_engine(url, pool_size=5, max_overflow=10, pool_pre_ping=True, **options)
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
