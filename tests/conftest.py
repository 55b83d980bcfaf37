"""Fixtures: every ledger test runs on the embedded SQLite store and on PostgreSQL.

PostgreSQL tests use ``HOSO_TEST_DATABASE_URL`` (default: the local test database), each
in a schema of its own that is dropped afterwards. They skip with a reason when no server
answers, and fail instead when ``HOSO_REQUIRE_POSTGRES=1``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path

import psycopg
import pytest
from rich.console import Console

from domain.application import Ledger
from domain.settings import Settings
from domain.values import Actor, Decision, Role
from projections import catalogue
from projections.database import read_model_engine
from projections.framework import Projector
from scripts import cli
from tests.cli_helpers import HOSO_VARIABLES
from tests.national_standin import NationalStandIn, start

TEST_DATABASE_URL = os.environ.get(
    "HOSO_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
TODAY = date(2026, 11, 20)

_postgres_problem: str | None = None
_postgres_checked = False


def postgres_unavailable() -> str | None:
    """Why PostgreSQL cannot be used, or None when it answers."""
    global _postgres_checked, _postgres_problem
    if not _postgres_checked:
        _postgres_checked = True
        try:
            with psycopg.connect(TEST_DATABASE_URL, connect_timeout=3) as conn:
                conn.execute("SELECT 1")
        except psycopg.Error as exc:
            _postgres_problem = f"PostgreSQL at {TEST_DATABASE_URL} does not answer: {exc}"
    return _postgres_problem


def require_postgres() -> None:
    problem = postgres_unavailable()
    if problem is None:
        return
    if os.environ.get("HOSO_REQUIRE_POSTGRES") == "1":
        pytest.fail(f"HOSO_REQUIRE_POSTGRES=1 but {problem}")
    pytest.skip(reason=f"PostgreSQL tests need a server: {problem}")


@pytest.fixture
def postgres_schema() -> Iterator[str]:
    require_postgres()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield schema
    finally:
        with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_settings(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> Callable[..., Settings]:
    """Settings for this test's store; the same store each time it is called."""
    schema = request.getfixturevalue("postgres_schema") if backend == "postgres" else ""

    def make(**overrides: object) -> Settings:
        # Explicit values, so that HOSO_* variables of the shell do not leak in.
        values: dict[str, object] = {
            "data_dir": tmp_path / "var",
            "jurisdiction": "cantho",  # approves without digital signatures: plain approvals
            "database_url": None,
            "cipher_key": None,
            "cipher_key_file": None,
            "extra_days_off": "",
            "extra_working_days": "",
        }
        if backend == "postgres":
            values.update(database_url=TEST_DATABASE_URL, database_schema=schema)
        values.update(overrides)
        return Settings(**values)  # type: ignore[arg-type]

    return make


@pytest.fixture
def make_ledger(make_settings: Callable[..., Settings]) -> Iterator[Callable[..., Ledger]]:
    opened: list[Ledger] = []

    def make(**overrides: object) -> Ledger:
        ledger = Ledger(make_settings(**overrides), clock=lambda: TODAY)
        opened.append(ledger)
        return ledger

    yield make
    for ledger in opened:
        ledger.close()


@pytest.fixture
def ledger(make_ledger: Callable[..., Ledger]) -> Ledger:
    return make_ledger()


@pytest.fixture
def projector(ledger: Ledger, make_settings: Callable[..., Settings]) -> Iterator[Projector]:
    """All read models over the test's store, prepared and empty."""
    engine = read_model_engine(make_settings(), writer=True)
    prepared = catalogue.projector(ledger, engine, page_size=50)
    prepared.prepare()
    yield prepared
    engine.dispose()


HR = Actor(account="hr.officer", role=Role.HR_OFFICER, unit_code="SNV")
HEAD = Actor(account="unit.head", role=Role.UNIT_HEAD, unit_code="SNV")


def decision(number: str = "01/QĐ-SNV", signed_on: date = date(2024, 1, 2)) -> Decision:
    return Decision(number=number, signed_on=signed_on, issuer="Sở Nội vụ")


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A SQLite store of this test only; HOSO_* variables of the shell do not leak in."""
    for name in HOSO_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOSO_DATA_DIR", str(tmp_path / "var"))
    # A wide terminal, so that table cells are not wrapped.
    monkeypatch.setattr(cli, "console", Console(width=250, color_system=None))
    return tmp_path / "var"


@pytest.fixture
def standin(tmp_path: Path) -> Iterator[NationalStandIn]:
    """The national database's stand-in: a real HTTPS server, for the tests of the
    exchange."""
    server_state, server = start(tmp_path / "standin")
    yield server_state
    server_state.release.set()
    server.shutdown()
    server.server_close()
