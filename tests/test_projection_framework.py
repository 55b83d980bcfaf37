"""The projector's machinery: rows written with COPY, planner statistics after a large
catch-up, the tracking rows taken first, and the garbage collector left as it was."""

from __future__ import annotations

import gc
from collections.abc import Callable, Sequence
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Date,
    DateTime,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    cast,
    select,
    text,
)

from domain.application import Ledger
from domain.profile import Profile
from domain.settings import Settings
from projections import catalogue, framework
from projections.database import read_model_engine
from projections.framework import (
    ConcurrentProjector,
    Positioned,
    Projector,
    ReadModel,
    insert_rows,
    sort_key_type,
)
from projections.history import UTCDateTime
from tests.builders import person, unit_tree
from tests.conftest import HR, decision
from tests.readside import dump


def _table(metadata: MetaData, name: str) -> Table:
    return Table(
        name,
        metadata,
        Column("id", Integer, primary_key=True),
        Column("name", String(100)),
        Column("note", Text),
        Column("amount", Numeric(6, 2)),
        Column("day", Date),
        Column("moment", DateTime(timezone=True)),
        Column("utc_moment", UTCDateTime()),
        Column("document", JSON(none_as_null=True)),
        Column("json_null", JSON()),
        Column("flag", Boolean),
        Column("sort_key", sort_key_type()),
    )


ROWS: list[dict[str, Any]] = [
    {
        "id": 1,
        "name": "Nguyễn Văn Ân",
        "note": "tab\there, new\nline, back\\slash, quote ' and \" and |",
        "amount": Decimal("4.40"),
        "day": date(2024, 12, 31),
        "moment": datetime(2024, 12, 31, 23, 30, tzinfo=UTC),
        "utc_moment": datetime(2025, 1, 1, 6, 30, tzinfo=timezone(timedelta(hours=7))),
        "document": {"changes": [{"path": "identity.full_name", "value": "Ân"}], "n": 1.5},
        "json_null": None,
        "flag": True,
        "sort_key": "00 01|00",
    },
    {
        "id": 2,
        "name": None,
        "note": "",
        "amount": None,
        "day": None,
        "moment": None,
        "utc_moment": None,
        "document": None,
        "json_null": [None, "\\N", "\t"],
        "flag": False,
        "sort_key": None,
    },
]


def test_copy_writes_what_an_insert_writes(make_settings: Callable[..., Settings]) -> None:
    engine = read_model_engine(make_settings(), writer=True)
    metadata = MetaData()
    copied, inserted = _table(metadata, "t_copied"), _table(metadata, "t_inserted")
    try:
        metadata.create_all(engine)
        with engine.begin() as conn:
            insert_rows(conn, copied, ROWS)
            insert_rows(conn, copied, [])  # nothing to write: no statement
            conn.execute(inserted.insert(), ROWS)
        with engine.connect() as conn:

            def everything(table: Table) -> list[Any]:
                texts = [cast(table.c[c], Text) for c in ("document", "json_null")]
                return [tuple(r) for r in conn.execute(select(table, *texts).order_by("id"))]

            assert everything(copied) == everything(inserted)
            (first, _) = everything(copied)
            assert first[6] == datetime(2024, 12, 31, 23, 30, tzinfo=UTC)
    finally:
        metadata.drop_all(engine)
        engine.dispose()


def _story(ledger: Ledger, people: int = 3) -> None:
    unit_tree(ledger)
    for n in range(people):
        ledger.open_profile(person(f"0010850000{n:02d}"), decision=decision(), actor=HR)


def test_a_large_catch_up_leaves_statistics_and_a_vacuumed_history(
    ledger: Ledger,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _story(ledger)
    engine = read_model_engine(make_settings(), writer=True)
    try:
        projector = catalogue.projector(ledger, engine, page_size=4)
        projector.prepare()
        if engine.dialect.name != "postgresql":
            projector.catch_up()
            pytest.skip("planner statistics are PostgreSQL's")
        schema = make_settings().database_schema

        def relation(name: str) -> tuple[float, int]:
            with engine.connect() as conn:
                row = conn.execute(
                    text(
                        "SELECT reltuples, relallvisible FROM pg_class c JOIN pg_namespace n "
                        "ON n.oid = c.relnamespace WHERE n.nspname = :schema AND relname = :name"
                    ),
                    {"schema": schema, "name": name},
                ).one()
            return float(row[0]), int(row[1])

        monkeypatch.setattr(framework, "ANALYZE_AFTER", 5)
        projector.catch_up(until=4)  # not the head yet: no statistics
        assert relation("rm_history")[0] < 0  # never analyzed
        projector.catch_up()
        history_rows, _ = relation("rm_history")
        assert history_rows == 3  # analyzed (how much VACUUM marks visible depends on others)
        assert relation("rm_roster")[0] == 3
        assert relation("rm_audit_trail")[0] == ledger.recorder.max_notification_id()
        with engine.connect() as conn:  # the sample size was the session's, not kept
            assert conn.execute(text("SHOW default_statistics_target")).scalar() == "100"
    finally:
        engine.dispose()


class _Failing(ReadModel):
    name = "failing"
    version = 1
    metadata = MetaData()
    topics = (Profile.Event,)

    def apply(self, conn: Connection, events: Sequence[Positioned]) -> None:
        raise RuntimeError("no")


def test_the_cycle_collector_is_left_as_it_was(
    ledger: Ledger, make_settings: Callable[..., Settings]
) -> None:
    _story(ledger, people=1)
    engine = read_model_engine(make_settings(), writer=True)
    try:
        failing = Projector(ledger, engine, [_Failing(ledger)])
        failing.prepare()
        assert gc.isenabled()
        with pytest.raises(RuntimeError):
            failing.catch_up()
        assert gc.isenabled()
        gc.disable()
        try:
            with pytest.raises(RuntimeError):
                failing.catch_up()
            assert not gc.isenabled()
        finally:
            gc.enable()
    finally:
        engine.dispose()


def test_a_second_projector_stops_before_writing_anything(
    ledger: Ledger, make_settings: Callable[..., Settings]
) -> None:
    _story(ledger)
    engine = read_model_engine(make_settings(), writer=True)
    try:
        first = catalogue.projector(ledger, engine, page_size=5)
        first.prepare()
        second = catalogue.projector(ledger, engine, page_size=5)
        stale = second.positions()  # read before the first projector moves
        first.catch_up(until=5)
        written = dump(first)
        second.positions = lambda: dict(stale)  # type: ignore[method-assign]
        with pytest.raises(ConcurrentProjector, match="by another projector"):
            second.catch_up()
        assert dump(first) == written
        assert set(first.positions().values()) == {5}
        first.catch_up()
        assert all(s.lag == 0 for s in first.status())
    finally:
        engine.dispose()
