"""Helpers for read-side tests: stores made inside a test, and table dumps to compare."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import select

from domain.settings import Settings
from projections.framework import Projector
from tests.conftest import TEST_DATABASE_URL, require_postgres


@contextmanager
def fresh_store(backend: str, directory: Path, **values: Any) -> Iterator[Settings]:
    """Settings for a new, empty store (a SQLite file, or a PostgreSQL schema)."""
    base: dict[str, Any] = {
        "data_dir": directory / uuid.uuid4().hex[:8],
        "jurisdiction": "bnv",
        "database_url": None,
        "cipher_key": None,
        "cipher_key_file": None,
        "extra_days_off": "",
        "extra_working_days": "",
        **values,
    }
    if backend == "sqlite":
        yield Settings(**base)
        return
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield Settings(**{**base, "database_url": TEST_DATABASE_URL, "database_schema": schema})
    finally:
        with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal | float):
        return str(Decimal(str(value)).normalize())
    if isinstance(value, datetime):
        return value.replace(tzinfo=None).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return value


def dump(projector: Projector) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every read-model table, comparable across databases and rebuilds."""
    tables: dict[str, list[tuple[Any, ...]]] = {}
    with projector.engine.connect() as conn:
        for model in projector.models:
            for table in model.metadata.sorted_tables:
                rows = conn.execute(select(table)).all()
                tables[table.name] = sorted(
                    (tuple(_plain(v) for v in row) for row in rows), key=repr
                )
    return tables
