"""Benchmarks of the ledger: ``python scripts/bench.py NAME [--json]``.

Each benchmark is a function registered in ``BENCHMARKS`` that returns a dict of figures.
Benchmarks that need PostgreSQL run against ``HOSO_DATABASE_URL``, each in a schema of its
own that is created for the run and dropped at the end, even on error. With ``--json`` the
figures are printed as one JSON object on the last line of output; progress goes to stderr.
A benchmark that reports ``failures`` makes the script exit with status 1.
"""

from __future__ import annotations

import argparse
import inspect
import json
import math
import os
import statistics
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from time import perf_counter
from typing import Any

import psycopg
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder
from psycopg import sql
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, MetaData, select
from sqlalchemy import Table as SqlTable

from domain.application import Ledger
from domain.settings import Settings
from domain.values import Actor, Decision, Role, UnitKind
from projections import catalogue
from projections.database import read_model_engine
from projections.framework import Projector
from projections.history import headcount_on, staff_on, staff_on_page
from projections.roster import RosterFilter, roster
from projections.roster import people as roster_table
from projections.units import unit_list
from scripts.demo import generate

DATABASE_URL_VARIABLE = "HOSO_DATABASE_URL"

Figures = dict[str, Any]
progress = Console(stderr=True)


# -- the registry ------------------------------------------------------------------------


@dataclass(frozen=True)
class Benchmark:
    name: str
    summary: str
    run: Callable[[argparse.Namespace], Figures]
    add_arguments: Callable[[argparse.ArgumentParser], None]
    needs_postgres: bool = True


BENCHMARKS: dict[str, Benchmark] = {}


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    return None


def benchmark(
    name: str,
    summary: str,
    *,
    add_arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments,
    needs_postgres: bool = True,
) -> Callable[[Callable[[argparse.Namespace], Figures]], Callable[[argparse.Namespace], Figures]]:
    """Register a benchmark function under ``name``."""

    def register(
        run: Callable[[argparse.Namespace], Figures],
    ) -> Callable[[argparse.Namespace], Figures]:
        if name in BENCHMARKS:
            raise ValueError(f"benchmark {name} is registered twice")
        BENCHMARKS[name] = Benchmark(name, summary, run, add_arguments, needs_postgres)
        return run

    return register


# -- PostgreSQL helpers ----------------------------------------------------------------------


def bench_settings(database_url: str, schema: str) -> Settings:
    """The application's settings for a benchmark run: explicit values, so that other
    ``HOSO_*`` variables of the shell (a cipher key file, say) do not leak in."""
    return Settings(
        database_url=database_url,
        database_schema=schema,
        cipher_key=None,
        cipher_key_file=None,
        jurisdiction="bnv",
        extra_days_off="",
        extra_working_days="",
    )


def connect(database_url: str, *, autocommit: bool = False) -> psycopg.Connection[Any]:
    """A plain psycopg connection to the server the application would use."""
    env = bench_settings(database_url, "").eventsourcing_env()
    return psycopg.connect(
        host=env["POSTGRES_HOST"],
        port=int(env["POSTGRES_PORT"]),
        dbname=env["POSTGRES_DBNAME"],
        user=env["POSTGRES_USER"],
        password=env["POSTGRES_PASSWORD"] or None,
        autocommit=autocommit,
        connect_timeout=10,
    )


@contextmanager
def fresh_schema(database_url: str, prefix: str) -> Iterator[str]:
    """A new schema for one run, dropped afterwards whatever happens."""
    schema = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield schema
    finally:
        with connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


# -- append ----------------------------------------------------------------------------------

APPEND_FLOOR = 0.25  # ledger events/s over raw rows/s, for batches of 10 events per command
APPEND_FLOOR_BATCH = 10

TODAY = date(2026, 11, 20)
MOVE_DATE = date(2024, 1, 2)
ADMIN = Actor(account="admin.snv", role=Role.HOME_AFFAIRS, unit_code="UBND")
HR = Actor(account="hr.officer", role=Role.HR_OFFICER, unit_code="SNV")
DECISION = Decision(number="01/QĐ-SNV", signed_on=date(2024, 1, 2), issuer="Sở Nội vụ")
DEPARTMENTS = (
    "Phòng Công chức, viên chức",
    "Phòng Tổ chức, biên chế và tổ chức phi chính phủ",
    "Phòng Xây dựng chính quyền và công tác thanh niên",
    "Văn phòng Sở",
)
POSITIONS = ("Chuyên viên", "Chuyên viên chính", "Phó Trưởng phòng", "Trưởng phòng")


def person(number: int) -> dict[str, Any]:
    """A civil servant of the Department of Home Affairs, with a citizen ID of its own."""
    return {
        "identity": {
            "full_name": "Nguyễn Văn An",
            "gender": "male",
            "birth_date": date(1985, 3, 14),
            "birth_place": "Xã Tân Lập, huyện Đan Phượng, Hà Nội",
            "hometown": "Hà Nội",
            "ethnicity": "01",
            "religion": "khong",
        },
        "citizen": {"citizen_id": f"{1_085_000_000 + number:012d}"},
        "education": {"general_education": "12/12"},
        "employment": {
            "category": "civil_servant",
            "unit_code": "SNV",
            "department": DEPARTMENTS[0],
            "position": POSITIONS[0],
            "rank_code": "01.003",
            "salary_step": 3,
            "start_date": date(2010, 9, 1),
        },
    }


def open_profiles(ledger: Ledger, count: int) -> list[uuid.UUID]:
    ledger.create_unit(
        "UBND",
        "Ủy ban nhân dân tỉnh",
        UnitKind.AUTHORITY,
        None,
        actor=ADMIN,
        effective_date=date(2020, 1, 1),
    )
    ledger.create_unit(
        "SNV",
        "Sở Nội vụ",
        UnitKind.DEPARTMENT,
        "UBND",
        actor=ADMIN,
        effective_date=date(2020, 1, 1),
    )
    return [ledger.open_profile(person(n), decision=DECISION, actor=ADMIN) for n in range(count)]


@dataclass
class CommandTimes:
    total: float = 0.0
    load: float = 0.0
    domain: float = 0.0
    save: float = 0.0


def run_commands(
    ledger: Ledger,
    profile_ids: Sequence[uuid.UUID],
    commands: int,
    batch: int,
    *,
    start: int = 0,
    times: CommandTimes | None = None,
) -> CommandTimes:
    """``commands`` commands, each loading one profile, recording ``batch`` moves within
    the unit on it and saving it once: one transaction of ``batch`` events. Command
    ``start`` goes to profile ``start % len(profile_ids)``, and so round."""
    times = times or CommandTimes()
    count = len(profile_ids)
    started = perf_counter()
    for k in range(start, start + commands):
        t0 = perf_counter()
        profile = ledger.profile(profile_ids[k % count])
        t1 = perf_counter()
        for j in range(batch):
            profile.move_within_unit(
                department=DEPARTMENTS[(k + j + 1) % len(DEPARTMENTS)],
                position=POSITIONS[(k + j + 1) % len(POSITIONS)],
                effective_date=MOVE_DATE,
                decision=DECISION,
                actor=HR,
            )
        t2 = perf_counter()
        ledger.save(profile)
        t3 = perf_counter()
        times.load += t1 - t0
        times.domain += t2 - t1
        times.save += t3 - t2
    times.total += perf_counter() - started
    return times


RawBatch = list[tuple[uuid.UUID, int, str, bytes]]


def raw_batches(rows: Sequence[tuple[str, bytes]], batch: int, count: int) -> list[RawBatch]:
    """``count`` batches of ``batch`` rows with the topics and states of ``rows`` (cycled),
    each for a new originator."""
    batches: list[RawBatch] = []
    for k in range(count):
        originator_id = uuid.uuid4()
        batches.append(
            [(originator_id, j + 1, *rows[(k * batch + j) % len(rows)]) for j in range(batch)]
        )
    return batches


def create_raw_table(conn: psycopg.Connection[Any], schema: str) -> sql.Composed:
    """A table shaped like the application's events table; returns its INSERT statement."""
    table = sql.Identifier(schema, "raw_events")
    conn.execute(
        sql.SQL(
            "CREATE TABLE {} ("
            "originator_id uuid NOT NULL, "
            "originator_version integer NOT NULL, "
            "topic text, "
            "state bytea, "
            "notification_id bigserial, "
            "PRIMARY KEY (originator_id, originator_version))"
        ).format(table)
    )
    conn.execute(
        sql.SQL("CREATE UNIQUE INDEX {} ON {} (notification_id ASC)").format(
            sql.Identifier("raw_events_notification_id_idx"), table
        )
    )
    conn.commit()
    return sql.SQL(
        "INSERT INTO {} (originator_id, originator_version, topic, state) VALUES (%s, %s, %s, %s)"
    ).format(table)


def run_raw(
    conn: psycopg.Connection[Any], insert: sql.Composed, batches: Sequence[RawBatch]
) -> float:
    """One executemany and one commit per batch: a transaction per batch."""
    with conn.cursor() as cur:
        started = perf_counter()
        for rows in batches:
            cur.executemany(insert, rows)
            conn.commit()
        return perf_counter() - started


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text}")
    return value


def append_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--commands", type=_positive, default=2000, help="timed commands (default 2000)"
    )
    parser.add_argument(
        "--batch", type=_positive, default=10, help="events saved per command (default 10)"
    )
    parser.add_argument(
        "--profiles",
        type=_positive,
        default=100,
        help="profiles the commands go round (default 100)",
    )
    parser.add_argument(
        "--warmup",
        type=int,
        default=200,
        help="untimed commands, and raw transactions, before timing (default 200)",
    )
    parser.add_argument(
        "--rounds",
        type=_positive,
        default=10,
        help="turns the ledger and the raw inserts take, one after the other (default 10)",
    )
    parser.add_argument(
        "--floor",
        type=float,
        default=None,
        help=f"minimum ratio (default {APPEND_FLOOR} with --batch {APPEND_FLOOR_BATCH}, "
        "none otherwise)",
    )


@benchmark(
    "append",
    "events/s saved through the Ledger, next to raw INSERT rows/s of the same size",
    add_arguments=append_arguments,
)
def append(args: argparse.Namespace) -> Figures:
    database_url: str = args.database_url
    commands: int = args.commands
    batch: int = args.batch
    warmup: int = max(args.warmup, 0)
    floor: float | None = args.floor
    if floor is None and batch == APPEND_FLOOR_BATCH:
        floor = APPEND_FLOOR

    rounds = min(args.rounds, commands)

    with fresh_schema(database_url, "bench_append") as schema, connect(database_url) as conn:
        ledger = Ledger(bench_settings(database_url, schema), clock=lambda: TODAY)
        try:
            recorder = ledger.recorder
            assert isinstance(recorder, PostgresApplicationRecorder), recorder
            assert ledger.snapshots is not None
            snapshot_recorder = ledger.snapshots.recorder
            assert isinstance(snapshot_recorder, PostgresAggregateRecorder), snapshot_recorder
            events_table = sql.Identifier(schema, recorder.events_table_name)
            snapshot_table = sql.Identifier(schema, snapshot_recorder.events_table_name)

            def stored_since(position: int, expected: int) -> list[tuple[str, bytes]]:
                """The topics and states the ledger stored after ``position``."""
                rows = [
                    (str(topic), bytes(state))
                    for topic, state in conn.execute(
                        sql.SQL(
                            "SELECT topic, state FROM {} WHERE notification_id > %s "
                            "ORDER BY notification_id"
                        ).format(events_table),
                        (position,),
                    )
                ]
                conn.commit()
                if len(rows) != expected:
                    raise RuntimeError(f"expected {expected} stored events, found {len(rows)}")
                return rows

            insert = create_raw_table(conn, schema)
            progress.log(f"append: schema {schema}, opening {args.profiles} profiles")
            profile_ids = open_profiles(ledger, args.profiles)

            progress.log(f"append: warming up with {warmup} commands and raw transactions")
            position = recorder.max_notification_id() or 0
            run_commands(ledger, profile_ids, warmup, batch)
            if warmup:
                warm_rows = stored_since(position, warmup * batch)
                run_raw(conn, insert, raw_batches(warm_rows, batch, warmup))

            # Ledger and raw inserts take turns, so that both meet the same server load;
            # each raw turn inserts the very states the ledger turn before it stored.
            progress.log(
                f"append: timing {commands} commands of {batch} events and as many raw "
                f"transactions, in {rounds} rounds"
            )
            snapshots_before = _count(conn, snapshot_table)
            times = CommandTimes()
            raw_seconds = 0.0
            sizes: list[int] = []
            done = 0
            for round_number in range(rounds):
                size = commands // rounds + (1 if round_number < commands % rounds else 0)
                position = recorder.max_notification_id() or 0
                run_commands(ledger, profile_ids, size, batch, start=warmup + done, times=times)
                rows = stored_since(position, size * batch)
                sizes.extend(len(state) for _, state in rows)
                raw_seconds += run_raw(conn, insert, raw_batches(rows, batch, size))
                done += size
            snapshots = _count(conn, snapshot_table) - snapshots_before
            raw_count = _count(conn, sql.Identifier(schema, "raw_events"))
            if raw_count != (warmup + commands) * batch:
                raise RuntimeError(f"raw table holds {raw_count} rows, not the rows inserted")

            pool = recorder.datastore.pool
            config = {
                "cipher": ledger.mapper.cipher is not None,
                "compressor": ledger.mapper.compressor is not None,
                "aggregate_cache": ledger.repository.cache is not None,
                "pool_min_size": pool.min_size,
                "pool_max_size": pool.max_size,
                "server_version": conn.info.server_version,
            }
        finally:
            ledger.close()

    ledger_seconds = times.total
    events = commands * batch
    ledger_rate = events / ledger_seconds
    raw_rate = events / raw_seconds
    ratio = ledger_rate / raw_rate
    figures: Figures = {
        "benchmark": "append",
        "schema": schema,
        "commands": commands,
        "batch": batch,
        "profiles": args.profiles,
        "warmup": warmup,
        "events": events,
        "ledger_seconds": round(ledger_seconds, 4),
        "ledger_events_per_s": round(ledger_rate, 1),
        "raw_seconds": round(raw_seconds, 4),
        "raw_rows_per_s": round(raw_rate, 1),
        "ratio": round(ratio, 4),
        "floor": floor,
        "load_ms_per_command": round(times.load * 1000 / commands, 4),
        "domain_ms_per_command": round(times.domain * 1000 / commands, 4),
        "save_ms_per_command": round(times.save * 1000 / commands, 4),
        "save_only_events_per_s": round(events / times.save, 1),
        "raw_ms_per_transaction": round(raw_seconds * 1000 / commands, 4),
        "snapshots_written": snapshots,
        "state_bytes_mean": round(sum(sizes) / len(sizes), 1),
        "state_bytes_min": min(sizes),
        "state_bytes_max": max(sizes),
        "rounds": rounds,
        **config,
        "failures": [],
    }
    if floor is not None and ratio < floor:
        figures["failures"].append(
            f"ratio {ratio:.3f} is under the floor {floor} "
            f"({ledger_rate:,.0f} events/s against {raw_rate:,.0f} raw rows/s)"
        )
    return figures


def _count(conn: psycopg.Connection[Any], table: sql.Identifier) -> int:
    row = conn.execute(sql.SQL("SELECT count(*) FROM {}").format(table)).fetchone()
    conn.commit()
    return int(row[0]) if row else 0


def append_table(figures: Figures) -> Table:
    batch = figures["batch"]
    table = Table(title=f"append: {batch} event{'' if batch == 1 else 's'} per command")
    table.add_column("measure")
    table.add_column("value", justify="right")
    floor = figures["floor"]
    verdict = "" if floor is None else (" (under floor)" if figures["failures"] else " (ok)")
    rows = [
        ("Ledger events/s (load, domain, save)", f"{figures['ledger_events_per_s']:,.0f}"),
        ("raw INSERT rows/s (executemany)", f"{figures['raw_rows_per_s']:,.0f}"),
        ("ratio", f"{figures['ratio']:.3f}{verdict}"),
        ("floor", "none" if floor is None else f"{floor}"),
        ("commands timed", f"{figures['commands']:,} over {figures['profiles']} profiles"),
        ("load ms/command", f"{figures['load_ms_per_command']:.3f}"),
        ("domain ms/command", f"{figures['domain_ms_per_command']:.3f}"),
        ("save ms/command", f"{figures['save_ms_per_command']:.3f}"),
        ("save-only events/s", f"{figures['save_only_events_per_s']:,.0f}"),
        ("raw ms/transaction", f"{figures['raw_ms_per_transaction']:.3f}"),
        ("snapshots written", f"{figures['snapshots_written']:,}"),
        (
            "state bytes (mean, min-max)",
            f"{figures['state_bytes_mean']:.0f}, "
            f"{figures['state_bytes_min']}-{figures['state_bytes_max']}",
        ),
        ("cipher / compressor", f"{figures['cipher']} / {figures['compressor']}"),
        ("aggregate cache", f"{figures['aggregate_cache']}"),
        ("pool size", f"{figures['pool_min_size']}-{figures['pool_max_size']}"),
        ("PostgreSQL", f"{figures['server_version']}"),
    ]
    for measure, value in rows:
        table.add_row(measure, value)
    return table


# -- projections -----------------------------------------------------------------------------

PROJECTIONS_FLOOR = 0.2  # catch-up events/s over raw rows/s
QUERY_CEILING_MS = 50.0  # the median of each read-model query must stay under it
MIN_EVENTS = 100_000  # the catch-up is only timed over a log at least this long
AS_OF = date(2024, 12, 31)  # the business date of the as-of queries
DEFAULT_PAGE_SIZE: int = inspect.signature(catalogue.projector).parameters["page_size"].default
RAW_TABLE = "bench_raw_roster"


@dataclass
class CatchUpTimes:
    """Where the catch-up's time goes: reading pages of the log, decoding events, and each
    read model's ``apply``; the rest is the projector's own work (positions, tracking
    rows, commits)."""

    total: float = 0.0
    parts: dict[str, float] = field(default_factory=dict)

    def timed(self, key: str, call: Callable[..., Any]) -> Callable[..., Any]:
        self.parts.setdefault(key, 0.0)

        def timed_call(*args: Any, **kwargs: Any) -> Any:
            started = perf_counter()
            try:
                return call(*args, **kwargs)
            finally:
                self.parts[key] += perf_counter() - started

        return timed_call


def instrument(projector: Projector, times: CatchUpTimes) -> None:
    """Wrap the projector's log reads, event decoding and read models' ``apply`` in
    timers (a few perf_counter calls per page, and two per event)."""
    ledger = projector.ledger
    recorder, mapper = ledger.recorder, ledger.mapper
    recorder.select_notifications = times.timed(  # type: ignore[method-assign]
        "read log pages", recorder.select_notifications
    )
    mapper.to_domain_event = times.timed(  # type: ignore[method-assign]
        "decode events", mapper.to_domain_event
    )
    for model in projector.models:
        model.apply = times.timed(f"apply {model.name}", model.apply)  # type: ignore[method-assign]


def round_ends(head: int, page_size: int, rounds: int) -> list[int]:
    """Log positions the catch-up stops at, one per round, on page boundaries so that
    the rounds read the very pages one catch-up would."""
    pages = max(1, math.ceil(head / page_size))
    ends = {min(head, math.ceil(pages * k / rounds) * page_size) for k in range(1, rounds + 1)}
    return sorted(ends)


def raw_roster_table() -> SqlTable:
    """A scratch table shaped like the roster read model, with its key and indexes."""
    return roster_table.to_metadata(MetaData(), name=RAW_TABLE)


def roster_rows_like(engine: Engine, count: int) -> list[dict[str, Any]]:
    """``count`` rows with the values of the roster rows the projector has written so far
    (cycled), each under a new key; empty while the roster is."""
    with engine.connect() as conn:
        source = [dict(row._mapping) for row in conn.execute(select(roster_table))]
    if not source:
        return []
    return [{**source[k % len(source)], "profile_id": str(uuid.uuid4())} for k in range(count)]


def insert_raw(
    engine: Engine, table: SqlTable, rows: Sequence[dict[str, Any]], page_size: int
) -> float:
    """One SQLAlchemy Core executemany and one transaction per page of rows."""
    started = perf_counter()
    for k in range(0, len(rows), page_size):
        with engine.begin() as conn:
            conn.execute(table.insert(), rows[k : k + page_size])
    return perf_counter() - started


def analyze_schema(database_url: str, schema: str) -> float:
    """ANALYZE every table of the schema (what autovacuum does some time after a bulk
    load); returns the seconds it took."""
    started = perf_counter()
    with connect(database_url, autocommit=True) as conn:
        tables = [
            str(name)
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s", (schema,)
            )
        ]
        for name in tables:
            conn.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(schema, name)))
    return perf_counter() - started


def read_model_rows(database_url: str, schema: str) -> dict[str, int]:
    """Rows in each read-model table."""
    with connect(database_url, autocommit=True) as conn:
        names = [
            str(name)
            for (name,) in conn.execute(
                "SELECT tablename FROM pg_tables WHERE schemaname = %s "
                "AND tablename LIKE 'rm\\_%%' ORDER BY tablename",
                (schema,),
            )
        ]
        return {name: _count(conn, sql.Identifier(schema, name)) for name in names}


def percentile(samples: Sequence[float], share: float) -> float:
    """The nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def root_unit(conn: Any) -> str:
    roots = [u["code"] for u in unit_list(conn) if u["kind"] == UnitKind.AUTHORITY.value]
    if len(roots) != 1:
        raise RuntimeError(f"expected one unit of kind authority, found {roots}")
    return str(roots[0])


def time_queries(
    engine: Engine, repeat: int, warmup: int
) -> tuple[dict[str, list[float]], dict[str, Any]]:
    """Each query ``warmup`` times untimed, then ``repeat`` times; the three take turns,
    so that they meet the same load. Returns milliseconds per call, and what they found.

    ``roster``: the first page of 50 of the root unit's staff now, with the total;
    ``staff_on``: the same on a past date (``staff_on_page``, what an as-of roster shows);
    ``headcount_on``: the root unit's staff on that date, counted by category."""
    samples: dict[str, list[float]] = {"roster": [], "staff_on": [], "headcount_on": []}
    found: dict[str, Any] = {}
    with engine.connect() as conn:
        root = root_unit(conn)
        conn.rollback()
        found["root"] = root
        calls: dict[str, Callable[[], Any]] = {
            "roster": lambda: roster(conn, RosterFilter(unit_code=root), page=1, per_page=50),
            "staff_on": lambda: staff_on_page(conn, root, AS_OF, page=1, per_page=50),
            "headcount_on": lambda: headcount_on(conn, root, AS_OF),
        }
        for turn in range(warmup + repeat):
            for name, call in calls.items():
                started = perf_counter()
                result = call()
                elapsed = perf_counter() - started
                conn.rollback()
                if turn >= warmup:
                    samples[name].append(elapsed * 1000)
                found[name] = result
        # Untimed: the page is the head of the whole list, in the same order.
        everyone = [r["profile_id"] for r in staff_on(conn, root, AS_OF)]
        conn.rollback()
        found["staff_on_all"] = everyone
    return samples, found


def projections_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--people",
        type=_positive,
        default=20_000,
        help="people in the demo province (default 20000: about 250,000 events)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the demo (default 1)")
    parser.add_argument(
        "--page-size",
        type=_positive,
        default=DEFAULT_PAGE_SIZE,
        help=f"events per projector page, and raw rows per transaction "
        f"(default the projector's {DEFAULT_PAGE_SIZE})",
    )
    parser.add_argument(
        "--rounds",
        type=_positive,
        default=10,
        help="turns the catch-up and the raw inserts take, one after the other (default 10)",
    )
    parser.add_argument(
        "--repeat", type=_positive, default=50, help="timed calls of each query (default 50)"
    )
    parser.add_argument(
        "--warmup", type=int, default=5, help="untimed calls of each query first (default 5)"
    )
    parser.add_argument(
        "--min-events",
        type=int,
        default=MIN_EVENTS,
        help=f"fail when the log is shorter (default {MIN_EVENTS})",
    )
    parser.add_argument(
        "--floor",
        type=float,
        default=PROJECTIONS_FLOOR,
        help=f"minimum ratio of catch-up events/s to raw rows/s (default {PROJECTIONS_FLOOR})",
    )
    parser.add_argument(
        "--max-median-ms",
        type=float,
        default=QUERY_CEILING_MS,
        help=f"the median each query must stay under (default {QUERY_CEILING_MS:g} ms)",
    )
    parser.add_argument(
        "--no-analyze",
        action="store_true",
        help="query the read models as the catch-up leaves them, without ANALYZE first",
    )


@benchmark(
    "projections",
    "catch-up events/s of every read model next to raw INSERT rows/s; roster and as-of query times",
    add_arguments=projections_arguments,
)
def projections(args: argparse.Namespace) -> Figures:
    database_url: str = args.database_url
    people: int = args.people
    page_size: int = args.page_size
    warmup = max(args.warmup, 0)

    with fresh_schema(database_url, "bench_projections") as schema:
        settings = bench_settings(database_url, schema)
        ledger = Ledger(settings, clock=lambda: TODAY)
        writer = read_model_engine(settings, writer=True)
        reader = read_model_engine(settings)
        projector: Projector | None = None
        try:
            progress.log(f"projections: schema {schema}, generating {people:,} people")
            generated = 0

            def generated_more(count: int) -> None:
                nonlocal generated
                before, generated = generated, generated + count
                if generated // 5000 > before // 5000:
                    progress.log(f"projections: {generated:,} people generated")

            started = perf_counter()
            demo = generate(ledger, people=people, seed=args.seed, progress=generated_more)
            generate_seconds = perf_counter() - started
            head = ledger.recorder.max_notification_id() or 0
            progress.log(f"projections: the log holds {head:,} events")

            projector = catalogue.projector(ledger, writer, page_size=page_size)
            times = CatchUpTimes()
            instrument(projector, times)
            raw = raw_roster_table()
            raw.metadata.create_all(writer)

            # Catch-up and raw inserts take turns, so that both meet the same server load;
            # each raw turn inserts as many roster-shaped rows as the turn before it read
            # log positions, with the values of the roster rows written so far.
            ends = round_ends(head, page_size, args.rounds)
            progress.log(
                f"projections: timing catch-up of all {len(projector.models)} read models "
                f"from empty, and as many raw rows, taking {len(ends)} turns each"
            )
            read = 0
            owed = 0
            raw_rows = 0
            raw_seconds = 0.0
            for number, end in enumerate(ends):
                started = perf_counter()
                if number == 0:
                    projector.prepare()
                done = projector.catch_up(until=end)
                times.total += perf_counter() - started
                read += done
                owed += done
                rows = roster_rows_like(writer, owed)
                if rows:
                    raw_seconds += insert_raw(writer, raw, rows, page_size)
                    raw_rows += len(rows)
                    owed = 0
                progress.log(
                    f"projections: round {number + 1}/{len(ends)}: at {end:,}, "
                    f"{read / times.total:,.0f} events/s, "
                    f"{raw_rows / raw_seconds if raw_seconds else 0:,.0f} raw rows/s"
                )
            lagging = [s.name for s in projector.status() if s.position != head]
            if lagging or read != head:
                raise RuntimeError(f"catch-up read {read} of {head}; behind: {lagging}")
            if owed or raw_rows != read:
                raise RuntimeError(f"{raw_rows} raw rows inserted for {read} events")
            with connect(database_url) as conn:
                raw_count = _count(conn, sql.Identifier(schema, RAW_TABLE))
                server_version = conn.info.server_version
            if raw_count != raw_rows:
                raise RuntimeError(f"raw table holds {raw_count} rows, not {raw_rows}")
            writer.dispose()
            tables = read_model_rows(database_url, schema)

            analyze_seconds = None
            if not args.no_analyze:
                progress.log("projections: ANALYZE")
                analyze_seconds = analyze_schema(database_url, schema)
            progress.log(
                f"projections: timing queries, {args.repeat} calls each after {warmup} to warm up"
            )
            samples, found = time_queries(reader, args.repeat, warmup)
        finally:
            if projector is not None:
                projector.close()  # its helper process, if it started one
            ledger.close()
            writer.dispose()
            reader.dispose()

    helped = projector.helper.models if projector.helper and projector.helped else frozenset()
    catch_up_rate = read / times.total
    raw_rate = raw_rows / raw_seconds
    ratio = catch_up_rate / raw_rate
    floor: float = args.floor
    ceiling: float = args.max_median_ms
    page = found["roster"]
    staff_total, staff_page = found["staff_on"]
    everyone: list[str] = found["staff_on_all"]
    headcount: dict[str, int] = found["headcount_on"]
    parts = {key: round(seconds, 3) for key, seconds in times.parts.items()}
    figures: Figures = {
        "benchmark": "projections",
        "schema": schema,
        "people": people,
        "seed": args.seed,
        "events": head,
        "generate_seconds": round(generate_seconds, 2),
        "statuses": demo.statuses,
        "read_models": [m.name for m in projector.models],
        # Applied in a helper process during the long catch-ups, when it took part (their
        # apply times are not among the parts, which are this process's).
        "helper_models": [m.name for m in projector.models if m.name in helped],
        "page_size": page_size,
        "rounds": len(ends),
        "catch_up_events": read,
        "catch_up_seconds": round(times.total, 3),
        "catch_up_events_per_s": round(catch_up_rate, 1),
        "catch_up_parts_seconds": parts,
        "catch_up_other_seconds": round(times.total - sum(times.parts.values()), 3),
        "raw_rows": raw_rows,
        "raw_seconds": round(raw_seconds, 3),
        "raw_rows_per_s": round(raw_rate, 1),
        "ratio": round(ratio, 4),
        "floor": floor,
        "read_model_rows": tables,
        "read_model_rows_per_event": round(sum(tables.values()) / max(head, 1), 3),
        "analyzed": not args.no_analyze,
        "analyze_seconds": None if analyze_seconds is None else round(analyze_seconds, 3),
        "root_unit": found["root"],
        "as_of": AS_OF.isoformat(),
        "repeat": args.repeat,
        "warmup": warmup,
        "roster_total": page.total,
        "roster_page_rows": len(page.rows),
        "staff_on_rows": staff_total,
        "staff_on_page_rows": len(staff_page),
        "headcount_on": headcount,
        "max_median_ms": ceiling,
        "server_version": server_version,
        "failures": [],
    }
    for name, times_ms in samples.items():
        figures[f"{name}_median_ms"] = round(statistics.median(times_ms), 3)
        figures[f"{name}_p95_ms"] = round(percentile(times_ms, 0.95), 3)
        figures[f"{name}_min_ms"] = round(min(times_ms), 3)

    failures: list[str] = figures["failures"]
    if head < args.min_events:
        failures.append(
            f"the log holds {head:,} events, under the {args.min_events:,} the catch-up must "
            "be timed over (raise --people)"
        )
    if ratio < floor:
        failures.append(
            f"ratio {ratio:.3f} is under the floor {floor} "
            f"({catch_up_rate:,.0f} events/s against {raw_rate:,.0f} raw rows/s)"
        )
    for name in samples:
        median = figures[f"{name}_median_ms"]
        if median >= ceiling:
            failures.append(
                f"{name} median {median:.1f} ms is not under {ceiling:g} ms "
                f"(p95 {figures[f'{name}_p95_ms']:.1f} ms)"
            )
    if sum(headcount.values()) != staff_total:
        failures.append(
            f"headcount_on counts {sum(headcount.values())} people, staff_on_page {staff_total}"
        )
    if staff_total != len(everyone) or [r["profile_id"] for r in staff_page] != everyone[:50]:
        failures.append(
            f"staff_on_page ({staff_total} in all) is not the head of staff_on "
            f"({len(everyone)} people)"
        )
    return figures


def projections_table(figures: Figures) -> Table:
    page_size = figures["page_size"]
    when = "after ANALYZE" if figures["analyzed"] else "without ANALYZE"
    table = Table(
        title=f"projections: catch-up of {len(figures['read_models'])} read models over "
        f"{figures['events']:,} events",
        caption=(
            "Catch-up: Projector.prepare() and catch_up() from empty tables over the whole "
            "log, every read model. Raw: one row per log position into a scratch copy of "
            "rm_roster (same columns, key and indexes, values of the roster rows just "
            "written, new keys), SQLAlchemy Core executemany on the projector's engine, one "
            f"transaction per {page_size:,} rows as the projector has one per page; the two "
            f"take {figures['rounds']} turns each. Queries on the root unit's subtree (the "
            f"rosters: first page of 50 and the total; as of a date, staff_on_page), "
            f"{figures['repeat']} calls each after {figures['warmup']} to warm up, taking "
            f"turns, {when}."
        ),
    )
    table.add_column("measure")
    table.add_column("value", justify="right")
    floor = figures["floor"]
    ratio_failed = figures["ratio"] < floor
    ceiling = figures["max_median_ms"]

    def verdict(failed: bool) -> str:
        return " (FAIL)" if failed else " (ok)"

    rows: list[tuple[str, str]] = [
        (
            "events (demo: people, seed)",
            f"{figures['events']:,} ({figures['people']:,}, {figures['seed']})",
        ),
        ("demo generated in", f"{figures['generate_seconds']:.1f} s"),
        (
            "catch-up events/s",
            f"{figures['catch_up_events_per_s']:,.0f} "
            f"({figures['catch_up_events']:,} in {figures['catch_up_seconds']:.1f} s)",
        ),
        (
            "raw INSERT rows/s",
            f"{figures['raw_rows_per_s']:,.0f} "
            f"({figures['raw_rows']:,} in {figures['raw_seconds']:.1f} s)",
        ),
        ("ratio", f"{figures['ratio']:.3f}{verdict(ratio_failed)}"),
        ("floor", f"{floor}"),
        ("page size / rounds", f"{page_size:,} / {figures['rounds']}"),
    ]
    for key, seconds in sorted(
        figures["catch_up_parts_seconds"].items(), key=lambda item: -item[1]
    ):
        rows.append((f"  {key}", _seconds_share(seconds, figures["catch_up_seconds"])))
    helper_models = figures.get("helper_models") or []
    rows.append(
        (
            "  positions, tracking, commits"
            + (", waiting for the helper" if helper_models else ""),
            _seconds_share(figures["catch_up_other_seconds"], figures["catch_up_seconds"]),
        )
    )
    if helper_models:
        rows.append(("  applied in a helper process", ", ".join(helper_models)))
    rows.append(
        (
            "read-model rows per event",
            f"{figures['read_model_rows_per_event']:.2f} "
            f"({sum(figures['read_model_rows'].values()):,} in "
            f"{len(figures['read_model_rows'])} tables)",
        )
    )
    rows.append(("root unit", f"{figures['root_unit']}"))
    for name, label, size in (
        (
            "roster",
            "roster page of 50, median/p95",
            f"{figures['roster_total']:,} on staff",
        ),
        (
            "staff_on",
            f"as-of roster page of 50 on {figures['as_of']}, median/p95",
            f"{figures['staff_on_rows']:,} on staff",
        ),
        (
            "headcount_on",
            f"headcount_on {figures['as_of']}, median/p95",
            f"{sum(figures['headcount_on'].values()):,} counted",
        ),
    ):
        median, p95 = figures[f"{name}_median_ms"], figures[f"{name}_p95_ms"]
        rows.append((label, f"{median:.1f}/{p95:.1f} ms, {size}{verdict(median >= ceiling)}"))
    rows.append(("query median ceiling", f"{ceiling:g} ms"))
    if figures["analyze_seconds"] is not None:
        rows.append(("ANALYZE", f"{figures['analyze_seconds']:.2f} s"))
    rows.append(("PostgreSQL", f"{figures['server_version']}"))
    for measure, value in rows:
        table.add_row(measure, value)
    return table


def _seconds_share(seconds: float, total: float) -> str:
    return f"{seconds:.1f} s ({seconds / total:.0%})" if total else f"{seconds:.1f} s"


TABLES: dict[str, Callable[[Figures], Table]] = {
    "append": append_table,
    "projections": projections_table,
}


def figures_table(name: str, figures: Figures) -> Table:
    make = TABLES.get(name)
    if make is not None:
        return make(figures)
    table = Table(title=name)
    table.add_column("measure")
    table.add_column("value", justify="right")
    for key, value in figures.items():
        table.add_row(key, str(value))
    return table


# -- seal ------------------------------------------------------------------------------------

SEAL_FLOOR_SECONDS = 60.0  # to seal, and to verify, a log of 1,000,000 events
SEAL_EVENTS = 1_000_000
SEAL_TEMPLATE_PROFILES = 40
SEAL_EVENTS_PER_ORIGINATOR = 10


def seal_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--events",
        type=_positive,
        default=SEAL_EVENTS,
        help=f"events in the log to seal (default {SEAL_EVENTS:,})",
    )
    parser.add_argument(
        "--backend",
        choices=("auto", "sqlite", "postgres"),
        default="auto",
        help=f"auto (default): PostgreSQL when {DATABASE_URL_VARIABLE} is set, else SQLite",
    )
    parser.add_argument(
        "--signatures",
        type=_positive,
        default=2000,
        help="tree-head signatures verified for the rate (default 2000)",
    )
    parser.add_argument(
        "--floor",
        type=float,
        default=SEAL_FLOOR_SECONDS,
        help=f"most seconds to seal, and to verify (default {SEAL_FLOOR_SECONDS:.0f})",
    )


@contextmanager
def seal_store(args: argparse.Namespace, directory: str) -> Iterator[Settings]:
    """An empty store of the chosen backend; its data directory is ``directory``."""
    from pathlib import Path

    postgres = args.backend == "postgres" or (args.backend == "auto" and args.database_url)
    if postgres:
        if not args.database_url:
            raise SystemExit(f"--backend postgres needs {DATABASE_URL_VARIABLE}")
        with fresh_schema(args.database_url, "bench_seal") as schema:
            base = bench_settings(args.database_url, schema)
            yield base.model_copy(update={"data_dir": Path(directory)})
        return
    yield Settings(
        data_dir=Path(directory),
        database_url=None,
        database_schema="",
        cipher_key=None,
        cipher_key_file=None,
        jurisdiction="bnv",
        extra_days_off="",
        extra_working_days="",
    )


def stored_rows_like(
    templates: Sequence[tuple[str, bytes]], count: int, postgres: bool
) -> Iterator[tuple[Any, int, str, bytes]]:
    """``count`` stored-event rows with the topics and states of ``templates`` (cycled),
    ``SEAL_EVENTS_PER_ORIGINATOR`` per new originator, ids as the recorder stores them."""
    originator: Any = None
    for k in range(count):
        version = k % SEAL_EVENTS_PER_ORIGINATOR + 1
        if version == 1:
            new_id = uuid.uuid4()
            originator = new_id if postgres else new_id.hex
        topic, state = templates[k % len(templates)]
        yield originator, version, topic, state


def insert_stored_rows(
    ledger: Ledger, settings: Settings, templates: Sequence[tuple[str, bytes]], count: int
) -> str:
    """Insert rows straight into the ledger's events table; says how."""
    if settings.database_url:
        recorder: Any = ledger.recorder
        target = sql.Identifier(settings.database_schema, recorder.events_table_name)
        statement = sql.SQL(
            "COPY {} (originator_id, originator_version, topic, state) FROM STDIN"
        ).format(target)
        with connect(settings.database_url) as conn, conn.cursor() as cur:
            with cur.copy(statement) as copy:
                for row in stored_rows_like(templates, count, postgres=True):
                    copy.write_row(row)
            conn.commit()
        return "COPY into hoso_events"
    import sqlite3

    database = sqlite3.connect(settings.sqlite_path, timeout=30)
    try:
        database.executemany(
            "INSERT INTO stored_events (originator_id, originator_version, topic, state) "
            "VALUES (?, ?, ?, ?)",
            stored_rows_like(templates, count, postgres=False),
        )
        database.commit()
    finally:
        database.close()
    return "executemany INSERT into stored_events, one transaction"


@benchmark(
    "seal",
    "seconds to seal and to verify a log of 1,000,000 events; signatures verified/s",
    add_arguments=seal_arguments,
    needs_postgres=False,
)
def seal_benchmark(args: argparse.Namespace) -> Figures:
    import tempfile
    from pathlib import Path

    from signing.seal import (
        SignatureChecker,
        load_seal_key,
        public_key_pem,
        read_log,
        seal,
        sign_tree_head,
        tree_head,
        verify,
    )

    failures: list[str] = []
    with (
        tempfile.TemporaryDirectory(prefix="bench_seal_") as directory,
        seal_store(args, directory) as settings,
    ):
        backend = "postgres" if settings.database_url else "sqlite"
        key_path = Path(directory) / "seal-key.pem"
        ledger = Ledger(settings, clock=lambda: TODAY)
        engine = read_model_engine(settings, writer=True)
        try:
            progress.log(f"seal: {backend}; writing template events through the ledger")
            profile_ids = open_profiles(ledger, SEAL_TEMPLATE_PROFILES)
            run_commands(ledger, profile_ids, 4 * SEAL_TEMPLATE_PROFILES, 5)
            head = ledger.recorder.max_notification_id() or 0
            templates = [
                (n.topic, bytes(n.state))
                for n in ledger.recorder.select_notifications(start=1, limit=head)
            ]
            missing = max(args.events - len(templates), 0)
            progress.log(f"seal: inserting {missing:,} stored rows like those {len(templates)}")
            started = perf_counter()
            method = insert_stored_rows(ledger, settings, templates, missing)
            generate_seconds = perf_counter() - started
            events = ledger.recorder.max_notification_id() or 0

            progress.log(f"seal: sealing {events:,} events")
            started = perf_counter()
            sealed = seal(ledger, engine, key_path=key_path)
            seal_seconds = perf_counter() - started

            progress.log("seal: verifying")
            started = perf_counter()
            report = verify(ledger, engine, public_key=key_path)
            verify_seconds = perf_counter() - started
            if not report.ok:
                failures.append(f"verify failed: {report.problems[0].message}")

            started = perf_counter()
            read_log(ledger, engine)
            read_seconds = perf_counter() - started

            # The everyday case: a seal over a sealed log and the events since.
            run_commands(ledger, profile_ids, 100, 10, start=4 * SEAL_TEMPLATE_PROFILES)
            progress.log("seal: sealing again after 1,000 more events")
            started = perf_counter()
            resealed = seal(ledger, engine, key_path=key_path)
            reseal_seconds = perf_counter() - started

            key = load_seal_key(key_path)
            pem = public_key_pem(key)
            heads = [
                tree_head(n + 1, sealed.root, sealed.sealed_at) for n in range(args.signatures)
            ]
            signatures = [sign_tree_head(key, h) for h in heads]
            checker = SignatureChecker()
            started = perf_counter()
            valid = sum(checker.valid(pem, h, s) for h, s in zip(heads, signatures, strict=True))
            signature_seconds = perf_counter() - started
            if valid != args.signatures:
                failures.append(f"{args.signatures - valid} signatures did not verify")
        finally:
            engine.dispose()
            ledger.close()

    floor: float = args.floor
    for what, seconds in (("seal", seal_seconds), ("verify", verify_seconds)):
        if seconds >= floor:
            failures.append(f"{what} took {seconds:.1f} s for {events:,} events (floor {floor} s)")
    return {
        "benchmark": "seal",
        "backend": backend,
        "events": events,
        "template_events": len(templates),
        "generated_events": missing,
        "generation": method,
        "generate_seconds": round(generate_seconds, 3),
        "seal_seconds": round(seal_seconds, 3),
        "verify_seconds": round(verify_seconds, 3),
        "read_log_seconds": round(read_seconds, 3),
        "reseal_seconds": round(reseal_seconds, 3),
        "reseal_leaves_written": resealed.leaves_written,
        "seal_events_per_s": round(events / seal_seconds, 1),
        "verify_events_per_s": round(report.events / verify_seconds, 1),
        "tree_size": sealed.tree_size,
        "leaves_written": sealed.leaves_written,
        "signatures": args.signatures,
        "signatures_verified_per_s": round(args.signatures / signature_seconds, 1),
        "floor_seconds": floor,
        "failures": failures,
    }


def seal_table(figures: Figures) -> Table:
    table = Table(title=f"seal: {figures['events']:,} events on {figures['backend']}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    verdict = " (over the floor)" if figures["failures"] else " (ok)"
    rows = [
        ("seconds to seal", f"{figures['seal_seconds']:.2f}{verdict}"),
        ("seconds to verify", f"{figures['verify_seconds']:.2f}{verdict}"),
        ("floor (each)", f"{figures['floor_seconds']:.0f} s"),
        ("signatures verified/s", f"{figures['signatures_verified_per_s']:,.0f}"),
        ("seal events/s", f"{figures['seal_events_per_s']:,.0f}"),
        ("verify events/s", f"{figures['verify_events_per_s']:,.0f}"),
        ("reading the log alone", f"{figures['read_log_seconds']:.2f} s"),
        (
            "sealing again, 1,000 events later",
            f"{figures['reseal_seconds']:.2f} s ({figures['reseal_leaves_written']:,} leaves)",
        ),
        ("leaves written", f"{figures['leaves_written']:,}"),
        (
            "events generated",
            f"{figures['generated_events']:,} in {figures['generate_seconds']:.1f} s by "
            f"{figures['generation']}, copying {figures['template_events']} events written "
            "through the ledger",
        ),
    ]
    for measure, value in rows:
        table.add_row(measure, value)
    return table


TABLES["seal"] = seal_table


# -- api -------------------------------------------------------------------------------------

API_MAX_P99_MS = 200.0  # every endpoint's p99 latency, and that of all requests, stays under
API_CLIENTS = 50
API_SECONDS = 30.0
API_WARMUP_SECONDS = 5.0
# uvicorn workers: one process of Python serves on one core at a time; on 2 cores, with the
# load generator and PostgreSQL on the same machine, 2 served 166 requests/s where 1 served
# 115, at a lower p99 (600 ms against 700).
API_WORKERS = 2
API_PER_PAGE = 50
API_PASSWORD = "mật khẩu của phép đo tải 2026"
API_SYSTEM_ACTOR = Actor(account="system", role=Role.SYSTEM, unit_code="")
API_HR_UNIT_KINDS = frozenset({UnitKind.DEPARTMENT.value, UnitKind.DISTRICT_COMMITTEE.value})
API_ENDPOINTS = {
    "roster": "GET /api/units/{code}/roster?page=N",
    "profile": "GET /api/profiles/{id}",
}


@dataclass(frozen=True)
class ApiUser:
    """An account the clients act as, with the password and second factor it logs in with."""

    username: str
    totp_secret: str
    role: Role
    unit_code: str


@dataclass
class ApiClient:
    """One simulated person at a browser: a bearer token of its own, and what it asks for.
    A roster client browses rosters of random units and pages; a profile client opens
    random profiles of its unit."""

    endpoint: str  # a key of API_ENDPOINTS
    user: ApiUser
    token: str = ""
    rosters: tuple[tuple[str, int], ...] = ()  # (unit code, pages of its roster)
    profile_ids: tuple[str, ...] = ()


@dataclass
class ApiSamples:
    """Latencies (ms) of the requests started within the timed window, and its errors."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    errors: dict[str, int] = field(default_factory=dict)  # by endpoint
    error_kinds: dict[str, int] = field(default_factory=dict)  # "HTTP 500", "ReadTimeout"…
    error_samples: list[str] = field(default_factory=list)
    sent: int = 0  # requests sent, warm-up included
    load_cpu_seconds: float = 0.0


def api_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--people",
        type=_positive,
        default=20_000,
        help="people in the demo province (default 20000)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of the demo (default 1)")
    parser.add_argument(
        "--clients",
        type=_positive,
        default=API_CLIENTS,
        help=f"concurrent clients, each sending its next request once answered "
        f"(default {API_CLIENTS})",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=API_SECONDS,
        help=f"length of the timed window (default {API_SECONDS:g})",
    )
    parser.add_argument(
        "--warmup",
        type=float,
        default=API_WARMUP_SECONDS,
        help=f"seconds of load before the window, not counted (default {API_WARMUP_SECONDS:g})",
    )
    parser.add_argument(
        "--workers",
        type=_positive,
        default=API_WORKERS,
        help=f"uvicorn worker processes (default {API_WORKERS})",
    )
    parser.add_argument(
        "--profile-share",
        type=float,
        default=0.5,
        help="share of the clients that are unit HR officers opening profiles; the others "
        "browse rosters as the Department of Home Affairs (default 0.5)",
    )
    parser.add_argument(
        "--read-cache-pages",
        type=int,
        default=Settings.model_fields["read_cache_pages"].default,
        help="roster pages each server process keeps until the log gains a change "
        "(HOSO_READ_CACHE_PAGES; 0 measures every page computed)",
    )
    parser.add_argument(
        "--max-p99-ms",
        type=float,
        default=API_MAX_P99_MS,
        help=f"the p99 latency each endpoint must stay under (default {API_MAX_P99_MS:g} ms)",
    )


def api_users(
    ledger: Ledger, root: str, hr_units: Sequence[str], hasher: Any
) -> tuple[ApiUser, list[ApiUser]]:
    """An approver of the Department of Home Affairs over the whole province, and an HR
    officer for each of ``hr_units``; each with a password and a second factor."""
    import pyotp

    password_hash = hasher.hash(API_PASSWORD)

    def make(username: str, kind: str, role: Role, unit_code: str) -> ApiUser:
        secret = pyotp.random_base32()
        ledger.create_account(username, username, kind, unit_code, actor=API_SYSTEM_ACTOR)
        ledger.set_password(username, password_hash, actor=API_SYSTEM_ACTOR)
        ledger.enroll_totp(username, secret, actor=API_SYSTEM_ACTOR)
        ledger.grant_role(
            username, role, unit_code, valid_from=date(2020, 1, 1), actor=API_SYSTEM_ACTOR
        )
        return ApiUser(username, secret, role, unit_code)

    home_affairs = make("bench.snv", "approver", Role.HOME_AFFAIRS, root)
    officers = [
        make(f"bench.tccb.{n:02d}", "unit", Role.HR_OFFICER, code)
        for n, code in enumerate(hr_units, start=1)
    ]
    return home_affairs, officers


def api_targets(
    engine: Engine, hr_units: Sequence[str]
) -> tuple[list[tuple[str, int]], dict[str, list[str]]]:
    """Every unit with the pages of its roster; the profiles each HR unit's officer may
    open (those whose current unit is the unit or one below it)."""
    from projections.profiles import profiles as profiles_table
    from projections.units import subtree

    with engine.connect() as conn:
        rosters = []
        for row in unit_list(conn):
            total = roster(conn, RosterFilter(unit_code=row["code"]), per_page=1).total
            rosters.append((str(row["code"]), max(1, math.ceil(total / API_PER_PAGE))))
        profile_ids = {
            code: [
                str(pid)
                for pid in conn.execute(
                    select(profiles_table.c.profile_id)
                    .where(profiles_table.c.unit_code.in_(select(subtree(code).c.code)))
                    .order_by(profiles_table.c.profile_id)
                ).scalars()
            ]
            for code in hr_units
        }
    return rosters, profile_ids


def hr_units_of(engine: Engine, count: int) -> list[str]:
    """Up to ``count`` departments and district committees, most staff first."""
    with engine.connect() as conn:
        candidates = [u["code"] for u in unit_list(conn) if u["kind"] in API_HR_UNIT_KINDS]
        staffed = sorted(
            (
                (roster(conn, RosterFilter(unit_code=code), per_page=1).total, str(code))
                for code in candidates
            ),
            key=lambda item: (-item[0], item[1]),
        )
    return [code for total, code in staffed if total > 0][:count]


def free_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_environment(settings: Settings, key_file: str) -> dict[str, str]:
    """The environment of the server: this one's, without other ``HOSO_*`` variables, and
    the run's store, jurisdiction and field-key file."""
    from pathlib import Path

    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSO_")}
    root = str(Path(__file__).resolve().parent.parent)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH", "")) if p)
    env.update(
        HOSO_DATABASE_URL=settings.database_url or "",
        HOSO_DATABASE_SCHEMA=settings.database_schema,
        HOSO_DATA_DIR=str(settings.data_dir),
        HOSO_FIELD_KEYS_FILE=key_file,
        HOSO_JURISDICTION=settings.jurisdiction,
        HOSO_EXTRA_DAYS_OFF="",
        HOSO_EXTRA_WORKING_DAYS="",
        HOSO_SCHEDULER="false",
        HOSO_READ_CACHE_PAGES=str(settings.read_cache_pages),
        HOSO_REQUEST_THREADS=str(settings.request_threads),
        # The server's connections, told apart from others' in pg_stat_activity.
        PGAPPNAME=api_application_name(settings),
    )
    return env


def api_application_name(settings: Settings) -> str:
    return f"hoso-bench {settings.database_schema}"[:63]


def _proc_stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (Linux): state, ppid, pgrp…"""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rpartition(")")[2].split()
    except OSError:
        return None


def _pid_cpu_seconds(pid: int) -> float | None:
    """CPU time (user and system) of a live process; None if it cannot be read."""
    fields = _proc_stat(pid)
    if fields is None:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class PostgresUsage:
    """Counters of the PostgreSQL server that only grow: the CPU time of all its processes
    (None unless it runs on this machine) and the sessions opened on the database (None
    before PostgreSQL 14)."""

    cpu_seconds: float | None
    sessions: int | None


def postgres_usage(database_url: str) -> PostgresUsage:
    with connect(database_url, autocommit=True) as conn:
        row = conn.execute("SELECT pg_backend_pid()").fetchone()
        backend = int(row[0]) if row else 0
        try:
            found = conn.execute(
                "SELECT sessions FROM pg_stat_database WHERE datname = current_database()"
            ).fetchone()
            sessions = int(found[0]) if found else None
        except psycopg.Error:
            sessions = None
        return PostgresUsage(_postgres_cpu_seconds(backend), sessions)


def _postgres_cpu_seconds(backend: int) -> float | None:
    """The postmaster's CPU time with that of its children: those that exited (which the
    kernel adds to the parent's once reaped) and the live ones. A backend that exits moves
    its time from the one to the other, so the sum only grows."""
    mine = _proc_stat(backend)
    if mine is None:
        return None
    postmaster = int(mine[1])
    fields = _proc_stat(postmaster)
    if fields is None:
        return None
    ticks = sum(int(fields[k]) for k in (11, 12, 13, 14))  # utime stime cutime cstime
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            child = _proc_stat(int(entry))
            if child is not None and int(child[1]) == postmaster:
                ticks += int(child[11]) + int(child[12])
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class ApiServer:
    pid: int  # of the server's process, and of its process group
    base_url: str


@contextmanager
def api_server(
    settings: Settings, key_file: str, workers: int, log_path: str
) -> Iterator[ApiServer]:
    """uvicorn serving ``api.app:serving_app`` on 127.0.0.1 and a free port, in a process
    group of its own, once /api/healthz answers with the read models current; the group is
    stopped afterwards."""
    import signal
    import subprocess
    import time
    from pathlib import Path

    import httpx

    port = free_port()
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "api.app:serving_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
    ]
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            command,
            env=server_environment(settings, key_file),
            cwd=str(Path(__file__).resolve().parent.parent),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    server = ApiServer(process.pid, f"http://127.0.0.1:{port}")
    try:
        deadline = time.monotonic() + 120
        while True:
            if process.poll() is not None:
                raise RuntimeError(
                    f"the server exited with status {process.returncode}:\n{_tail(log_path)}"
                )
            try:
                answer = httpx.get(f"{server.base_url}/api/healthz", timeout=5)
                if answer.status_code == 200 and answer.json().get("lag", 1) == 0:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not answer in 120 s:\n{_tail(log_path)}")
            time.sleep(0.25)
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _tail(path: str, lines: int = 30) -> str:
    with open(path, encoding="utf-8", errors="replace") as text:
        return "".join(text.readlines()[-lines:])


def bearer_tokens(base_url: str, user: ApiUser, count: int) -> list[str]:
    """Log in as ``user`` (password and TOTP code) and make ``count`` bearer tokens from
    the browser session."""
    import httpx
    import pyotp

    with httpx.Client(base_url=base_url, timeout=60) as http:
        answer = http.post(
            "/api/auth/login",
            json={
                "username": user.username,
                "password": API_PASSWORD,
                "totp": pyotp.TOTP(user.totp_secret).now(),
            },
        )
        if answer.status_code != 200:
            raise RuntimeError(f"login of {user.username}: {answer.status_code} {answer.text}")
        csrf = {"X-CSRF-Token": answer.json()["csrf_token"]}
        tokens = []
        for number in range(1, count + 1):
            made = http.post(
                "/api/auth/tokens", json={"name": f"bench {number}", "days": 1}, headers=csrf
            )
            if made.status_code != 201:
                raise RuntimeError(f"token of {user.username}: {made.status_code} {made.text}")
            tokens.append(str(made.json()["token"]))
    return tokens


def drive_clients(
    base_url: str, clients: Sequence[ApiClient], seconds: float, warmup: float, seed: int
) -> ApiSamples:
    """Every client in a closed loop (send, await the answer, send the next) for
    ``warmup + seconds``; latencies of the requests started after the warm-up are kept."""
    import asyncio
    import random
    import time

    import aiohttp

    samples = ApiSamples(
        latencies={name: [] for name in API_ENDPOINTS},
        errors=dict.fromkeys(API_ENDPOINTS, 0),
    )

    def next_path(client: ApiClient, rng: random.Random) -> str:
        if client.endpoint == "roster":
            code, pages = rng.choice(client.rosters)
            return f"/api/units/{code}/roster?page={rng.randint(1, pages)}&per_page={API_PER_PAGE}"
        return f"/api/profiles/{rng.choice(client.profile_ids)}"

    def failed(endpoint: str, kind: str, detail: str) -> None:
        samples.errors[endpoint] += 1
        samples.error_kinds[kind] = samples.error_kinds.get(kind, 0) + 1
        if len(samples.error_samples) < 10:
            samples.error_samples.append(f"{kind}: {detail[:300]}")

    async def run(index: int, client: ApiClient, start: float, end: float) -> None:
        rng = random.Random(f"{seed}:{index}")
        kept = samples.latencies[client.endpoint]
        # aiohttp rather than httpx here: the clients share the machine with the server, and
        # aiohttp spends a fraction of the CPU per request that httpx does.
        async with aiohttp.ClientSession(
            base_url,
            headers={"Authorization": f"Bearer {client.token}"},
            timeout=aiohttp.ClientTimeout(total=30.0),
            connector=aiohttp.TCPConnector(limit=1),
        ) as http:
            while (sent := perf_counter()) < end:
                path = next_path(client, rng)
                problem: tuple[str, str] | None = None
                try:
                    async with http.get(path) as answer:
                        body = await answer.read()
                        if not 200 <= answer.status < 300:
                            text = body[:300].decode("utf-8", "replace")
                            problem = (f"HTTP {answer.status}", f"{path} {text}")
                except (aiohttp.ClientError, TimeoutError) as exc:
                    problem = (type(exc).__name__, f"{path} {exc}")
                elapsed = perf_counter() - sent
                samples.sent += 1
                if sent >= start:
                    kept.append(elapsed * 1000)
                    if problem is not None:
                        failed(client.endpoint, *problem)

    async def run_all() -> None:
        start = perf_counter() + warmup
        end = start + seconds
        await asyncio.gather(*(run(i, c, start, end) for i, c in enumerate(clients)))

    cpu = time.process_time()
    asyncio.run(run_all())
    samples.load_cpu_seconds = time.process_time() - cpu
    return samples


def _process_group_cpu_seconds(group: int) -> float:
    """CPU time (user and system) of the live processes of a process group (Linux)."""
    total = 0.0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                in_group = int(stat.read().rpartition(")")[2].split()[2]) == group
        except OSError:
            continue
        if in_group:
            total += _pid_cpu_seconds(int(entry)) or 0.0
    return total


def _machine_busy_seconds() -> float:
    """CPU time every core of the machine spent busy since boot (Linux)."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def latency_figures(latencies: Sequence[float], errors: int, seconds: float) -> Figures:
    if not latencies:
        return {"requests": 0, "requests_per_s": 0.0, "errors": errors}
    return {
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / seconds, 1),
        "median_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(percentile(latencies, 0.95), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "max_ms": round(max(latencies), 2),
        "errors": errors,
    }


@benchmark(
    "api",
    "roster and profile endpoints under concurrent clients over HTTP: requests/s, latency "
    "percentiles, errors",
    add_arguments=api_arguments,
)
def api_benchmark(args: argparse.Namespace) -> Figures:
    import tempfile
    from pathlib import Path

    from api.auth import AuthConfig, password_hasher
    from domain.field_cipher import key_file_path

    database_url: str = args.database_url
    people: int = args.people
    clients_wanted: int = args.clients
    seconds: float = args.seconds
    warmup = max(args.warmup, 0.0)
    workers: int = args.workers
    if seconds <= 0:
        raise SystemExit("--seconds must be positive")
    share = min(max(args.profile_share, 0.0), 1.0)
    profile_clients = round(clients_wanted * share)
    roster_clients = clients_wanted - profile_clients

    with (
        tempfile.TemporaryDirectory(prefix="bench_api_") as directory,
        fresh_schema(database_url, "bench_api") as schema,
    ):
        settings = bench_settings(database_url, schema).model_copy(
            update={"data_dir": Path(directory), "read_cache_pages": max(args.read_cache_pages, 0)}
        )
        key_file = str(key_file_path(settings))
        ledger = Ledger(settings, clock=lambda: TODAY)
        writer = read_model_engine(settings, writer=True)
        try:
            progress.log(f"api: schema {schema}, generating {people:,} people")
            started = perf_counter()
            demo = generate(ledger, people=people, seed=args.seed)
            generate_seconds = perf_counter() - started

            projector = catalogue.projector(ledger, writer)
            projector.prepare()
            progress.log("api: catching up the read models")
            started = perf_counter()
            projector.catch_up()
            catch_up_seconds = perf_counter() - started
            with writer.connect() as conn:
                root = root_unit(conn)
            hr_units = hr_units_of(writer, min(profile_clients, 25)) if profile_clients else []
            if profile_clients and not hr_units:
                raise RuntimeError("no department or district committee has staff")

            progress.log(f"api: accounts: home affairs on {root}, {len(hr_units)} HR officers")
            home_affairs, officers = api_users(
                ledger, root, hr_units, password_hasher(AuthConfig())
            )
            projector.catch_up()
            events = ledger.recorder.max_notification_id() or 0
            analyze_schema(database_url, schema)
            rosters, profile_ids = api_targets(writer, hr_units)
            clients = [
                ApiClient("roster", home_affairs, rosters=tuple(rosters))
                for _ in range(roster_clients)
            ] + [
                ApiClient(
                    "profile",
                    officers[n % len(officers)],
                    profile_ids=tuple(profile_ids[officers[n % len(officers)].unit_code]),
                )
                for n in range(profile_clients)
            ]
        finally:
            writer.dispose()
            ledger.close()

        log_path = str(Path(directory) / "server.log")
        progress.log(f"api: starting uvicorn with {workers} worker(s)")
        with api_server(settings, key_file, workers, log_path) as server:
            base_url: str = server.base_url
            for user in [home_affairs, *officers]:
                mine = [c for c in clients if c.user is user]
                for client, token in zip(
                    mine, bearer_tokens(base_url, user, len(mine)), strict=True
                ):
                    client.token = token
            progress.log(
                f"api: {len(clients)} clients ({roster_clients} browsing rosters, "
                f"{profile_clients} opening profiles) for {warmup:g} s of warm-up and "
                f"{seconds:g} s timed, against {base_url}"
            )
            server_cpu = _process_group_cpu_seconds(server.pid)
            before = postgres_usage(database_url)
            busy = _machine_busy_seconds()
            started = perf_counter()
            samples = drive_clients(base_url, clients, seconds, warmup, args.seed)
            wall = perf_counter() - started
            kept = kept_lookups(base_url)
            busy = _machine_busy_seconds() - busy
            server_cpu = _process_group_cpu_seconds(server.pid) - server_cpu
            after = postgres_usage(database_url)
            postgres_cpu: float | None = None
            if after.cpu_seconds is not None and before.cpu_seconds is not None:
                postgres_cpu = after.cpu_seconds - before.cpu_seconds
            sessions: int | None = None
            if after.sessions is not None and before.sessions is not None:
                sessions = after.sessions - before.sessions
        server_log = Path(log_path).read_text(encoding="utf-8", errors="replace")
        if "Traceback" in server_log:
            first = server_log[server_log.index("Traceback") :]
            progress.print(f"api: the server logged errors; the first:\n{first[:4000]}")
        with connect(database_url) as conn:
            server_version = conn.info.server_version

    everything = [ms for name in API_ENDPOINTS for ms in samples.latencies[name]]
    endpoints = {
        name: latency_figures(samples.latencies[name], samples.errors[name], seconds)
        for name in API_ENDPOINTS
        if samples.latencies[name] or samples.errors[name]
    }
    overall = latency_figures(everything, sum(samples.errors.values()), seconds)
    ceiling: float = args.max_p99_ms
    figures: Figures = {
        "benchmark": "api",
        "schema": schema,
        "people": people,
        "seed": args.seed,
        "events": events,
        "statuses": demo.statuses,
        "units": len(rosters),
        "generate_seconds": round(generate_seconds, 2),
        "catch_up_seconds": round(catch_up_seconds, 2),
        "workers": workers,
        "clients": len(clients),
        "roster_clients": roster_clients,
        "profile_clients": profile_clients,
        "hr_units": hr_units,
        "seconds": seconds,
        "warmup_seconds": warmup,
        "per_page": API_PER_PAGE,
        **overall,
        "endpoints": endpoints,
        "error_kinds": samples.error_kinds,
        "error_samples": samples.error_samples,
        # CPU over the whole drive, warm-up included: in cores, and per request sent.
        "requests_sent": samples.sent,
        "cores": os.cpu_count(),
        "machine_cpu_cores": round(busy / wall, 2),
        "server_cpu_cores": round(server_cpu / wall, 2),
        "postgres_cpu_cores": None if postgres_cpu is None else round(postgres_cpu / wall, 2),
        "load_cpu_cores": round(samples.load_cpu_seconds / wall, 2),
        "other_cpu_cores": round(
            max(busy - server_cpu - (postgres_cpu or 0.0) - samples.load_cpu_seconds, 0.0) / wall,
            2,
        ),
        "server_cpu_ms_per_request": round(server_cpu * 1000 / max(samples.sent, 1), 2),
        "postgres_cpu_ms_per_request": None
        if postgres_cpu is None
        else round(postgres_cpu * 1000 / max(samples.sent, 1), 2),
        "load_cpu_ms_per_request": round(samples.load_cpu_seconds * 1000 / max(samples.sent, 1), 2),
        # New connections to the database while the load ran (the server's pools).
        "postgres_sessions_opened": sessions,
        "read_cache_pages": settings.read_cache_pages,
        # Lookups of kept roster pages, warm-up included, in the counters of the worker
        # that answered the scrape (each worker keeps pages of its own).
        "kept_page_hits": kept.get("hit", 0),
        "kept_page_misses": kept.get("miss", 0),
        "server_tracebacks": server_log.count("Traceback"),
        "max_p99_ms": ceiling,
        "server_version": server_version,
        "failures": [],
    }
    failures: list[str] = figures["failures"]
    if overall["requests"] == 0:
        failures.append("no request was answered within the timed window")
    if overall["errors"]:
        kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(samples.error_kinds.items()))
        failures.append(f"{overall['errors']} of {overall['requests']} requests failed ({kinds})")
    for name, measured in [*endpoints.items(), ("all requests", overall)]:
        p99 = measured.get("p99_ms")
        if p99 is not None and p99 >= ceiling:
            failures.append(f"{name} p99 {p99:.1f} ms is not under {ceiling:g} ms")
    return figures


def kept_lookups(base_url: str) -> dict[str, int]:
    """``hoso_read_cache_lookups_total`` by result, as one worker's /metrics gives it."""
    import httpx
    from prometheus_client.parser import text_string_to_metric_families

    found: dict[str, int] = {}
    text = httpx.get(f"{base_url}/metrics", timeout=30).text
    for family in text_string_to_metric_families(text):
        if family.name == "hoso_read_cache_lookups":
            for sample in family.samples:
                if sample.name.endswith("_total"):
                    found[sample.labels["result"]] = int(sample.value)
    return found


def _kept_text(figures: Figures) -> str:
    if not figures["read_cache_pages"]:
        return "No roster page kept: each computed (--read-cache-pages 0). "
    looked = figures["kept_page_hits"] + figures["kept_page_misses"]
    share = figures["kept_page_hits"] / looked if looked else 0.0
    return (
        f"Roster pages kept until the log gains a change ({figures['read_cache_pages']:,} a "
        f"worker): {share:.0%} of the lookups of one worker found theirs "
        "(--read-cache-pages 0 computes each). "
    )


def _api_cpu_text(figures: Figures) -> str:
    """Where the machine's CPU went during the run, in cores and per request sent."""
    parts = [("server", "server")]
    if figures["postgres_cpu_cores"] is not None:
        parts.append(("PostgreSQL", "postgres"))
    parts.append(("load generator", "load"))
    spent = ", ".join(
        f"{label} {figures[f'{key}_cpu_cores']:.2f} ({figures[f'{key}_cpu_ms_per_request']:.1f} "
        "ms a request)"
        for label, key in parts
    )
    opened = figures["postgres_sessions_opened"]
    sessions = "" if opened is None else f" Connections opened to the database: {opened:,}."
    return (
        f"CPU of {figures['cores']} cores, {figures['machine_cpu_cores']:.2f} busy: {spent}, "
        f"anything else {figures['other_cpu_cores']:.2f}.{sessions}"
    )


def api_table(figures: Figures) -> Table:
    table = Table(
        title=f"api: {figures['clients']} clients for {figures['seconds']:g} s, "
        f"{figures['workers']} uvicorn worker{'' if figures['workers'] == 1 else 's'}",
        caption=(
            f"Demo province of {figures['people']:,} people ({figures['events']:,} events, "
            f"{figures['units']} units) on PostgreSQL {figures['server_version']}. "
            + "; ".join(f"{name}: {path}" for name, path in API_ENDPOINTS.items())
            + ". "
            f"{figures['roster_clients']} clients browse rosters ({figures['per_page']} a "
            "page) of random units and pages as the Department of Home Affairs; "
            f"{figures['profile_clients']} open random profiles of their unit as HR officers "
            f"of {len(figures['hr_units'])} units, each read of restricted values recorded. "
            "Each client: a bearer token, one keep-alive connection, the next request sent "
            f"once answered; {figures['warmup_seconds']:g} s of warm-up not counted. "
            f"{_kept_text(figures)}{_api_cpu_text(figures)}"
        ),
    )
    for column in ("endpoint", "requests", "req/s", "median", "p95", "p99", "max", "errors"):
        table.add_column(column, justify="left" if column == "endpoint" else "right")
    ceiling = figures["max_p99_ms"]

    def row(label: str, measured: Figures) -> None:
        if not measured.get("requests"):
            table.add_row(label, "0", "0", "-", "-", "-", "-", f"{measured.get('errors', 0)}")
            return
        p99 = measured["p99_ms"]
        table.add_row(
            label,
            f"{measured['requests']:,}",
            f"{measured['requests_per_s']:,.1f}",
            f"{measured['median_ms']:.1f} ms",
            f"{measured['p95_ms']:.1f} ms",
            f"{p99:.1f} ms{' (FAIL)' if p99 >= ceiling else ''}",
            f"{measured['max_ms']:.1f} ms",
            f"{measured['errors']:,}{' (FAIL)' if measured['errors'] else ''}",
        )

    for name, measured in figures["endpoints"].items():
        row(name, measured)
    row("all", figures)
    table.add_row("floor", "", "", "", "", f"< {ceiling:g} ms", "", "0")
    return table


TABLES["api"] = api_table


# -- backup ----------------------------------------------------------------------------------

BACKUP_FLOOR_SECONDS = 120.0  # to back up, and to restore, a log of 1,000,000 events
BACKUP_FLOOR_MB = 500.0  # peak memory (RSS high-water mark) of either


def backup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--events",
        type=_positive,
        default=SEAL_EVENTS,
        help=f"events in the log to back up (default {SEAL_EVENTS:,})",
    )
    parser.add_argument(
        "--floor",
        type=float,
        default=BACKUP_FLOOR_SECONDS,
        help=f"most seconds to back up, and to restore (default {BACKUP_FLOOR_SECONDS:.0f})",
    )
    parser.add_argument(
        "--memory-floor",
        type=float,
        default=BACKUP_FLOOR_MB,
        help=f"most MB of peak memory (default {BACKUP_FLOOR_MB:.0f})",
    )


def _peak_rss_mb() -> float:
    """This process's RSS high-water mark (VmHWM), in MB."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak_rss() -> None:
    """Start the high-water mark again from the current RSS (Linux: clear_refs 5)."""
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")


@benchmark(
    "backup",
    "seconds to back up and to restore 1,000,000 events on PostgreSQL; peak memory",
    add_arguments=backup_arguments,
)
def backup_benchmark(args: argparse.Namespace) -> Figures:
    import base64
    import tempfile
    from datetime import UTC, datetime
    from pathlib import Path

    from operations.backup import create_backup, restore, verify_archive
    from signing.seal import seal, verify

    args.backend = "postgres"
    failures: list[str] = []
    key = base64.b64encode(os.urandom(32)).decode()
    with (
        tempfile.TemporaryDirectory(prefix="bench_backup_") as directory,
        seal_store(args, directory) as plain,
    ):
        settings = plain.model_copy(update={"backup_key": key})
        ledger = Ledger(settings, clock=lambda: TODAY)
        engine = read_model_engine(settings, writer=True)
        try:
            progress.log("backup: writing template events through the ledger")
            profile_ids = open_profiles(ledger, SEAL_TEMPLATE_PROFILES)
            run_commands(ledger, profile_ids, 4 * SEAL_TEMPLATE_PROFILES, 5)
            head = ledger.recorder.max_notification_id() or 0
            templates = [
                (n.topic, bytes(n.state))
                for n in ledger.recorder.select_notifications(start=1, limit=head)
            ]
            missing = max(args.events - len(templates) - 1, 0)
            progress.log(f"backup: inserting {missing:,} stored rows like those {len(templates)}")
            started = perf_counter()
            insert_stored_rows(ledger, settings, templates, missing)
            generate_seconds = perf_counter() - started
            progress.log("backup: sealing the log (the archive carries the seal)")
            seal(ledger, engine, key_path=Path(directory) / "seal-key.pem")
            events = ledger.recorder.max_notification_id() or 0
        finally:
            engine.dispose()
            ledger.close()

        progress.log(f"backup: backing up {events:,} events")
        _reset_peak_rss()
        started = perf_counter()
        archive = create_backup(settings, Path(directory) / "archives", now=datetime.now(UTC))
        backup_seconds = perf_counter() - started
        backup_mb = _peak_rss_mb()
        size = archive.stat().st_size

        progress.log("backup: verifying the archive without restoring it")
        _reset_peak_rss()
        started = perf_counter()
        report = verify_archive(archive, settings)
        verify_seconds = perf_counter() - started
        verify_mb = _peak_rss_mb()

        with fresh_schema(args.database_url, "bench_restore") as schema:
            target = settings.model_copy(update={"database_schema": schema})
            progress.log("backup: restoring into an empty schema")
            _reset_peak_rss()
            started = perf_counter()
            restored = restore(archive, target, rebuild=False)
            restore_seconds = perf_counter() - started
            restore_mb = _peak_rss_mb()

            progress.log("backup: `hoso verify` over the restored log")
            ledger = Ledger(target)
            engine = read_model_engine(target)
            try:
                started = perf_counter()
                checked = verify(ledger, engine)
                seal_verify_seconds = perf_counter() - started
            finally:
                engine.dispose()
                ledger.close()
            if not checked.ok:
                failures.append(f"hoso verify failed after restore: {checked.problems[0]}")

    if report.events != events or restored.report.events != events:
        failures.append(f"{events:,} events backed up, {restored.report.events:,} restored")
    floor: float = args.floor
    for what, seconds in (("backup", backup_seconds), ("restore", restore_seconds)):
        if seconds >= floor:
            failures.append(f"{what} took {seconds:.1f} s for {events:,} events (floor {floor} s)")
    for what, mb in (("backup", backup_mb), ("restore", restore_mb)):
        if mb >= args.memory_floor:
            failures.append(f"{what} peaked at {mb:.0f} MB (floor {args.memory_floor:.0f} MB)")
    return {
        "benchmark": "backup",
        "backend": "postgres",
        "events": events,
        "generate_seconds": round(generate_seconds, 3),
        "backup_seconds": round(backup_seconds, 3),
        "verify_archive_seconds": round(verify_seconds, 3),
        "restore_seconds": round(restore_seconds, 3),
        "seal_verify_after_restore_seconds": round(seal_verify_seconds, 3),
        "backup_peak_rss_mb": round(backup_mb, 1),
        "verify_peak_rss_mb": round(verify_mb, 1),
        "restore_peak_rss_mb": round(restore_mb, 1),
        "archive_bytes": size,
        "backup_events_per_s": round(events / backup_seconds, 1),
        "restore_events_per_s": round(events / restore_seconds, 1),
        "read_models_rebuilt": False,
        "floor_seconds": floor,
        "floor_mb": args.memory_floor,
        "failures": failures,
    }


def backup_table(figures: Figures) -> Table:
    table = Table(title=f"backup: {figures['events']:,} events on {figures['backend']}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = [
        ("seconds to back up", f"{figures['backup_seconds']:.2f}"),
        ("seconds to restore (load, root and seals, leaves)", f"{figures['restore_seconds']:.2f}"),
        ("seconds to verify the archive alone", f"{figures['verify_archive_seconds']:.2f}"),
        ("`hoso verify` after restore", f"{figures['seal_verify_after_restore_seconds']:.2f} s"),
        ("floor (each)", f"{figures['floor_seconds']:.0f} s"),
        ("peak memory: backup", f"{figures['backup_peak_rss_mb']:.0f} MB"),
        ("peak memory: verify", f"{figures['verify_peak_rss_mb']:.0f} MB"),
        ("peak memory: restore", f"{figures['restore_peak_rss_mb']:.0f} MB"),
        ("memory floor", f"{figures['floor_mb']:.0f} MB"),
        ("archive size", f"{figures['archive_bytes'] / 1e6:,.1f} MB"),
        (
            "read models",
            "not rebuilt: the generated events copy a few templates (the projections "
            "benchmark measures catch-up)",
        ),
    ]
    for measure, value in rows:
        table.add_row(measure, value)
    return table


TABLES["backup"] = backup_table


# -- command line ----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bench.py",
        description=(
            "Run one benchmark of the ledger. Benchmarks that need PostgreSQL use "
            f"{DATABASE_URL_VARIABLE}, in a schema of their own that is dropped afterwards."
        ),
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--json", action="store_true", help="print the figures as JSON on the last line"
    )
    names = parser.add_subparsers(dest="name", metavar="NAME", required=True, title="benchmarks")
    for entry in BENCHMARKS.values():
        sub = names.add_parser(
            entry.name, parents=[common], help=entry.summary, description=entry.summary
        )
        entry.add_arguments(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    entry = BENCHMARKS[args.name]
    args.database_url = os.environ.get(DATABASE_URL_VARIABLE, "").strip() or None
    if entry.needs_postgres and not args.database_url:
        parser.error(
            f"benchmark {entry.name} needs PostgreSQL: set {DATABASE_URL_VARIABLE}, "
            "e.g. postgresql://postgres@127.0.0.1:5432/test"
        )

    try:
        figures = entry.run(args)
    except KeyboardInterrupt:
        progress.print(f"{entry.name}: interrupted")
        return 130

    out = Console()
    out.print(figures_table(entry.name, figures))
    failures: list[str] = list(figures.get("failures", []))
    for failure in failures:
        out.print(f"[bold red]FAIL[/] {entry.name}: {failure}")
    if args.json:
        sys.stdout.flush()
        print(json.dumps(figures, ensure_ascii=False), flush=True)
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
