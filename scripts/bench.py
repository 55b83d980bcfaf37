"""Benchmarks of the ledger: ``python scripts/bench.py NAME [--json]``.

Each benchmark is a function registered in ``BENCHMARKS`` that returns a dict of figures.
Benchmarks that need PostgreSQL run against ``HOSO_DATABASE_URL``, each in a schema of its
own that is created for the run and dropped at the end, even on error. With ``--json`` the
figures are printed as one JSON object on the last line of output; progress goes to stderr.
A benchmark that reports ``failures`` makes the script exit with status 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from time import perf_counter
from typing import Any

import psycopg
from eventsourcing.postgres import PostgresAggregateRecorder, PostgresApplicationRecorder
from psycopg import sql
from rich.console import Console
from rich.table import Table

from domain.application import Ledger
from domain.settings import Settings
from domain.values import Actor, Decision, Role, UnitKind

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


TABLES: dict[str, Callable[[Figures], Table]] = {"append": append_table}


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
