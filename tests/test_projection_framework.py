"""The projector's machinery: rows written with COPY, planner statistics after a large
catch-up, the tracking rows taken first, and the garbage collector left as it was."""

from __future__ import annotations

import gc
import os
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
    Helper,
    Positioned,
    Projector,
    ReadModel,
    insert_rows,
    sort_key_type,
)
from projections.history import UTCDateTime
from projections.roster import Roster
from scripts.demo import generate
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
            pytest.skip(reason="planner statistics (ANALYZE after a catch-up) are PostgreSQL's")
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


# -- a helper process on long catch-ups ------------------------------------------------------


def _helped(projector: Projector) -> Projector:
    """The projector with a helper even for a short catch-up."""
    assert projector.helper is not None
    projector.helper = Helper(projector.helper.settings, projector.helper.models, after=1)
    return projector


def test_a_helper_process_projects_some_read_models_the_same_way(
    ledger: Ledger, make_settings: Callable[..., Settings]
) -> None:
    engine = read_model_engine(make_settings(), writer=True)
    try:
        if engine.dialect.name != "postgresql":
            assert catalogue.projector(ledger, engine).helper is None  # one writer at a time
            pytest.skip(reason="a helper process writes beside the projector on PostgreSQL only")
        generate(ledger, people=30, seed=3)
        helped = _helped(catalogue.projector(ledger, engine, page_size=50))
        helped.prepare()
        head = ledger.recorder.max_notification_id() or 0
        seen: list[int] = []
        assert helped.catch_up(until=head // 2, progress=seen.append) == head // 2
        assert helped.positions() == {m.name: head // 2 for m in helped.models}
        assert seen and seen[-1] == head // 2 and max(seen) == head // 2
        first = helped._helper
        assert first is not None and first.alive()
        assert helped.catch_up() == head - head // 2
        assert helped._helper is first  # the same process for the next catch-up
        assert helped.helped == 2
        assert all(s.lag == 0 for s in helped.status())
        incremental = dump(helped)

        alone = catalogue.projector(ledger, engine, page_size=1000)
        alone.helper = None
        alone.rebuild()
        assert dump(alone) == incremental
        helped.close()
        assert not first.alive()
    finally:
        engine.dispose()


class _FailsInTheHelper(ReadModel):
    """Applies nothing in the test's process, and fails in a helper process."""

    name = "fails_in_the_helper"
    version = 1
    metadata = MetaData()
    topics = (Profile.Event,)

    def apply(self, conn: Connection, events: Sequence[Positioned]) -> None:
        if os.getpid() != int(os.environ["TEST_PROJECTOR_PID"]):
            raise RuntimeError("failing on purpose")


def test_when_the_helper_fails_this_process_projects_its_read_models(
    ledger: Ledger,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings = make_settings()
    if not settings.database_url:
        pytest.skip(reason="a helper process writes beside the projector on PostgreSQL only")
    monkeypatch.setenv("TEST_PROJECTOR_PID", str(os.getpid()))
    _story(ledger, people=4)
    engine = read_model_engine(settings, writer=True)
    try:
        models = [Roster(ledger), _FailsInTheHelper(ledger)]
        helper = Helper(settings, frozenset({_FailsInTheHelper.name}), after=1)
        projector = Projector(ledger, engine, models, page_size=2, helper=helper)
        projector.prepare()
        head = ledger.recorder.max_notification_id() or 0
        with caplog.at_level("WARNING", logger="projections.framework"):
            read = projector.catch_up()
        assert "failing on purpose" in caplog.text
        assert "projecting fails_in_the_helper in this process" in caplog.text
        assert projector.helper is None and projector._helper is None
        # The helper's read model stopped before the first profile event (the units'
        # events before it concern it not); this process took it from there.
        logged = ledger.recorder.select_notifications(start=1, limit=head)
        first = next(
            n.id for n in logged if isinstance(ledger.mapper.to_domain_event(n), Profile.Event)
        )
        assert read == head - (first - 1)
        assert all(s.lag == 0 for s in projector.status())
    finally:
        engine.dispose()


def test_on_postgresql_one_process_at_a_time_follows_the_log(
    ledger: Ledger, make_settings: Callable[..., Settings]
) -> None:
    """The followers of a server's worker processes take turns: while one follows, another
    applies nothing (it would only roll its work back); it follows once the turn is free."""
    import threading
    import time

    settings = make_settings()
    if not settings.database_url:
        pytest.skip(reason="SQLite has one writer at a time anyway: every follower follows")
    _story(ledger, people=4)
    engines = [read_model_engine(settings, writer=True) for _ in range(2)]
    following, waiting = (Projector(ledger, e, [Roster(ledger)]) for e in engines)
    following.prepare()
    stop = threading.Event()
    follower = threading.Thread(target=waiting.follow, args=(stop,), kwargs={"interval": 0.05})
    try:
        with following._turn_to_follow() as mine:
            assert mine
            follower.start()
            time.sleep(0.5)
            assert waiting.positions() == {Roster.name: 0}  # not its turn
        head = ledger.recorder.max_notification_id()
        deadline = time.monotonic() + 10
        while waiting.positions()[Roster.name] < (head or 0) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert waiting.positions() == {Roster.name: head}
    finally:
        stop.set()
        follower.join(10)
        for engine in engines:
            engine.dispose()
