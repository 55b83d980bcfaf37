"""Read models kept exactly once from the event log.

Each read model owns some SQL tables and a tracking row (its name, schema version and the
log position it has applied). The projector reads a page of notifications from the log,
decodes each event once, lets every read model apply the events it has not yet seen, and
moves each tracking row forward in the same transaction as the rows: after a crash the
work is either all there or not at all, and is redone from the tracked position.

Why not the library's ``ProjectionRunner``: the SQLite recorder has no ``subscribe()``,
and the runner applies one event per transaction, which caps catch-up far below what a
province's log needs. This projector uses the library's notification log, mapper and
positions, polls on both databases and applies a page of events per transaction.

What makes a page cheap: what the read models ask of an event (its approved values, its
aggregate id as text) is worked out once on ``Positioned``; rows are written with COPY on
PostgreSQL (``insert_rows``); the tracking rows of all the models behind are moved by one
statement; the cyclic garbage collector waits until the page is done. After a catch-up
that applied many events (a rebuild, a first start), the planner statistics of the tables
are brought up to date, or PostgreSQL would plan the queries for empty tables.

On PostgreSQL, a long catch-up (a rebuild, a first start) is shared with a helper process
(``Helper``, ``projections.helper``): it projects some of the read models while this
process projects the others, each model in transactions of its own as ever.
"""

from __future__ import annotations

import contextlib
import gc
import json
import logging
import os
import pickle
import subprocess
import sys
import tempfile
import threading
import weakref
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from operator import itemgetter
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Column,
    ColumnElement,
    Connection,
    Engine,
    Index,
    Integer,
    MetaData,
    ScalarSelect,
    String,
    Table,
    Text,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy import update as sql_update
from sqlalchemy.engine import Dialect
from sqlalchemy.types import JSON, TypeEngine

from domain.application import Ledger
from domain.settings import Settings
from domain.values import ProfileStatus
from projections.database import advisory_lock
from projections.facts import approved_values, status_after

log = logging.getLogger(__name__)

tracking_metadata = MetaData()
tracking = Table(
    "projection_tracking",
    tracking_metadata,
    Column("name", String(64), primary_key=True),
    Column("schema", String(100), nullable=False),
    Column("position", Integer, nullable=False),
)


# After a catch-up to the head of the log that applied at least this many events since the
# last time, PostgreSQL's planner statistics of the read-model tables are brought up to date.
ANALYZE_AFTER = 10_000
ANALYZE_SAMPLE = 10  # the statistics target of that ANALYZE
HELPER_AFTER = 20_000  # the backlog from which a helper process is worth starting

try:  # how SQLAlchemy hands JSON values to psycopg
    from sqlalchemy.dialects.postgresql.psycopg import _PGJSON

    _PG_JSON_BIND: Any = _PGJSON.bind_processor
except ImportError:  # pragma: no cover - another SQLAlchemy: values go through its processor
    _PG_JSON_BIND = None

# Move read models (``names``) from a position (``at``) to another (``to``).
ADVANCE = (
    sql_update(tracking)
    .where(
        tracking.c.name.in_(bindparam("names", expanding=True)),
        tracking.c.position == bindparam("at"),
    )
    .values(position=bindparam("to"))
)


@dataclass(frozen=True)
class Positioned:
    """A domain event with its position in the log, and what the read models ask of it,
    worked out once however many of them ask."""

    position: int
    event: Any

    @cached_property
    def kind(self) -> str:
        return type(self.event).__name__

    @cached_property
    def originator(self) -> str:
        """The aggregate's id as text."""
        return str(self.event.originator_id)

    @cached_property
    def values(self) -> dict[str, Any]:
        """``approved_values``: the single-valued fields the event sets in the record."""
        return approved_values(self.event)

    @cached_property
    def status(self) -> ProfileStatus | None:
        """``status_after``: the status the event leaves the person in, if any."""
        return status_after(self.event)


class ReadModel(ABC):
    name: ClassVar[str]
    version: ClassVar[int]  # change it when the tables or their meaning change: rebuilds
    metadata: ClassVar[MetaData]
    topics: ClassVar[tuple[type, ...]] = ()  # event classes it reads; empty for all
    # Tables its queries read from an index alone (PostgreSQL): vacuumed after a large
    # catch-up, so that they can.
    index_only: ClassVar[tuple[str, ...]] = ()

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def configuration(self) -> str:
        """What, besides the events, the rows depend on; a change rebuilds the model."""
        return ""

    @property
    def schema(self) -> str:
        return f"{self.version}:{self.configuration()}"

    def wants(self, event: Any) -> bool:
        return not self.topics or isinstance(event, self.topics)

    @abstractmethod
    def apply(self, conn: Connection, events: Sequence[Positioned]) -> None:
        """Apply events in log order. Must not fail on any event the ledger can record."""


class ConcurrentProjector(RuntimeError):
    """Another projector moved the same read model forward first."""


@dataclass(frozen=True)
class ProjectionStatus:
    name: str
    schema: str
    position: int
    head: int

    @property
    def lag(self) -> int:
        return self.head - self.position


@dataclass(frozen=True)
class Helper:
    """A second process that projects some of the read models (``models``, by name) while
    this one projects the others, during a catch-up long enough to be worth it (at least
    ``after`` positions on both sides). Each process reads and decodes the log; each model
    is applied by one of them only, in transactions of its own that move its tracking row,
    so a model is kept exactly once as ever. The helper opens the ledger and the read
    models from ``settings`` alone: the projector's engine must be the one
    ``read_model_engine(settings)`` makes (``database.serves``)."""

    settings: Settings
    models: frozenset[str]
    after: int = HELPER_AFTER


class Projector:
    def __init__(
        self,
        ledger: Ledger,
        engine: Engine,
        models: Sequence[ReadModel],
        page_size: int = 1000,
        *,
        helper: Helper | None = None,
        statistics: bool = True,
        quiet_topics: Sequence[str] = (),
    ) -> None:
        """``statistics``: update the planner statistics after a large catch-up.
        ``quiet_topics``: topics of events that change no read model but the audit trail
        (records of reads): the last change ``log_positions`` finds passes over them."""
        self.ledger, self.engine, self.models = ledger, engine, list(models)
        self.quiet_topics = tuple(quiet_topics)
        self.page_size = page_size
        self.helper = helper
        self.statistics = statistics
        self._helper: _HelperProcess | None = None  # started on the first long catch-up
        self.helped = 0  # catch-ups shared with the helper
        self._lock = threading.Lock()  # one catch-up at a time within this process
        self._unanalyzed = 0  # events applied since the planner statistics were updated

    # -- schema ----------------------------------------------------------------------------

    def prepare(self) -> list[str]:
        """Create what is missing; rebuild (from position 0) every read model whose schema
        version changed. Returns the names of the read models that were reset."""
        tracking_metadata.create_all(self.engine)
        if self.quiet_topics and self._changes is not None:
            with self.engine.begin() as conn:
                self._changes.create(conn, checkfirst=True)
        with self.engine.connect() as conn:
            known = {row.name: row.schema for row in conn.execute(select(tracking))}
        stale = [m for m in self.models if known.get(m.name) != m.schema]
        for model in stale:
            self.reset(model)
        return [m.name for m in stale]

    def reset(self, model: ReadModel) -> None:
        with self.engine.begin() as conn:
            model.metadata.drop_all(conn)
            model.metadata.create_all(conn)
            conn.execute(tracking.delete().where(tracking.c.name == model.name))
            conn.execute(tracking.insert().values(name=model.name, schema=model.schema, position=0))

    def model(self, name: str) -> ReadModel:
        for model in self.models:
            if model.name == name:
                return model
        names = ", ".join(m.name for m in self.models)
        raise KeyError(f"no read model {name!r}; there are: {names}")

    # -- following the log -----------------------------------------------------------------

    def head(self) -> int:
        return self.ledger.recorder.max_notification_id() or 0

    @cached_property
    def log(self) -> Table:
        """The columns of the ledger's event log that queries beside the read models need
        (same database, and on PostgreSQL the same schema): the position, and the topic."""
        position = "rowid" if self.engine.dialect.name == "sqlite" else "notification_id"
        return Table(
            self.ledger.recorder.events_table_name,
            MetaData(),
            Column(position, BigInteger, key="position"),
            Column("topic", Text),
        )

    @cached_property
    def _not_quiet(self) -> ColumnElement[bool]:
        # The topics as literals, not parameters: the planner uses a partial index only for
        # a query whose condition it can match against the index's own.
        return self.log.c.topic.notin_(
            bindparam("quiet", list(self.quiet_topics), expanding=True, literal_execute=True)
        )

    @cached_property
    def _changes(self) -> Index | None:
        """On PostgreSQL, an index of the log's positions but those of quiet topics. SQLite
        cannot index its positions (rowid); it reads the log backwards from its end."""
        if self.engine.dialect.name != "postgresql":
            return None
        return Index(
            f"{self.log.name}_changes", self.log.c.position, postgresql_where=self._not_quiet
        )

    def log_positions(self) -> tuple[ScalarSelect[Any], ScalarSelect[Any]]:
        """Two scalar subqueries, to read in the statement that reads the read models'
        positions: the head of the log, and the position of the last event that is not of
        a quiet topic (the last change any read model but the audit trail has to apply),
        found at once however many quiet events follow it."""
        log = self.log
        head = select(func.max(log.c.position)).scalar_subquery()
        changed = select(log.c.position).order_by(log.c.position.desc()).limit(1)
        if self.quiet_topics:
            changed = changed.where(self._not_quiet)
        return head, changed.scalar_subquery()

    def positions(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = {row.name: row.position for row in conn.execute(select(tracking))}
        return {m.name: rows.get(m.name, 0) for m in self.models}

    def status(self) -> list[ProjectionStatus]:
        head = self.head()
        positions = self.positions()
        return [ProjectionStatus(m.name, m.schema, positions[m.name], head) for m in self.models]

    def catch_up(
        self, until: int | None = None, progress: Callable[[int], None] | None = None
    ) -> int:
        """Apply everything up to the head of the log (or ``until``); returns how many
        log positions were read."""
        with self._lock:
            return self._catch_up(until, progress)

    def _catch_up(self, until: int | None, progress: Callable[[int], None] | None) -> int:
        # Read once, then kept here: a page moves every model behind it to its end, or
        # raises ConcurrentProjector when another projector moved one first.
        positions = self.positions()
        head = self.head()
        read = 0
        helping = self._start_helper(positions, head, until)
        if helping is not None:
            helper, names, target = helping
            own = [m for m in self.models if m.name not in names]
            try:
                self._follow(
                    own, {m.name: positions[m.name] for m in own}, target, target, progress
                )
            except BaseException:
                self._stop_helper()  # its page in progress is rolled back
                raise
            try:
                helper.done()
            except RuntimeError as exc:
                # Whatever went wrong there, this process projects its read models from now
                # on (from where they are: the helper's pages are transactions too).
                log.warning("%s\nprojecting %s in this process", exc, ", ".join(sorted(names)))
                self._stop_helper()
                self.helper = None
            except BaseException:
                self._stop_helper()
                raise
            else:
                read = target - min(positions.values())
                self.helped += 1
            positions, head = self.positions(), max(head, target)
        return read + self._follow(self.models, positions, until, head, progress, finish=True)

    def _follow(
        self,
        models: Sequence[ReadModel],
        positions: dict[str, int],
        until: int | None,
        head: int,
        progress: Callable[[int], None] | None,
        *,
        finish: bool = False,
    ) -> int:
        """Apply pages to ``models`` up to the head (or ``until``); returns how many log
        positions were read. ``finish``: the catch-up ends here (statistics may follow)."""
        read = 0
        while True:
            start = min(positions.values(), default=0)
            stop = head if until is None else min(until, head)
            if start >= stop:
                if until is None or until > head:
                    head = self.head()  # what was recorded meanwhile is part of the head
                    stop = head if until is None else min(until, head)
                if start >= stop:
                    if finish and start >= head:
                        self._analyze_if_due()
                    return read
            with _no_cycle_collection():
                page = self._read(start, stop)
                if not page:
                    return read
                last = page[-1].position
                self._unanalyzed += self._apply_page(page, models, positions, last)
            positions = {name: max(position, last) for name, position in positions.items()}
            read += len(page)
            if progress is not None:
                progress(last)

    def _start_helper(
        self, positions: dict[str, int], head: int, until: int | None
    ) -> tuple[_HelperProcess, set[str], int] | None:
        """Give the helper its part of this catch-up, when there is a helper and the backlog
        of both parts is worth it: the helper, the models it projects, and the position
        both parts go to."""
        helper = self.helper
        if helper is None:
            return None
        target = head if until is None else min(until, head)
        names = {m.name for m in self.models if m.name in helper.models}
        own = [m.name for m in self.models if m.name not in names]
        if not names or not own:
            return None
        if target - max(positions[n] for n in names) < helper.after:
            return None
        if target - max(positions[n] for n in own) < helper.after:
            return None
        try:
            if self._helper is None or not self._helper.alive():
                self._helper = _HelperProcess.start(helper.settings)
                weakref.finalize(self, self._helper.close)
            self._helper.project(
                [m for m in self.models if m.name in names], self.page_size, target
            )
        except OSError as exc:
            log.warning("no helper process (%s): projecting in this one", exc)
            self._stop_helper()
            return None
        return self._helper, names, target

    def _stop_helper(self) -> None:
        if self._helper is not None:
            self._helper.stop()
            self._helper = None

    def close(self) -> None:
        """Stop the helper process, if one was started (it stops with this process too)."""
        if self._helper is not None:
            self._helper.close()
            self._helper = None

    def _read(self, start: int, stop: int) -> list[Positioned]:
        """The page of the log after ``start``, decoded."""
        notifications = self.ledger.recorder.select_notifications(
            start=start + 1, limit=self.page_size, stop=stop
        )
        to_domain_event = self.ledger.mapper.to_domain_event
        return [Positioned(n.id, to_domain_event(n)) for n in notifications]

    def _apply_page(
        self,
        page: list[Positioned],
        models: Sequence[ReadModel],
        positions: dict[str, int],
        last: int,
    ) -> int:
        """Apply a page to ``models`` in one transaction; returns how many events they
        applied."""
        behind: dict[int, list[str]] = {}  # the models to move to ``last``, by position
        for model in models:
            if positions[model.name] < last:
                behind.setdefault(positions[model.name], []).append(model.name)
        applied = 0
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                # The commit does not wait for the write-ahead log to reach the disk. The
                # rows and the tracking rows stay in one transaction: were the server to
                # crash first, both would be lost together and the page applied again
                # from the tracked position, as after any failure. The log itself is
                # written as before; a read model can always be rebuilt from it.
                conn.execute(text("SET LOCAL synchronous_commit = off"))
            # The tracking rows first: they stay locked until the transaction ends, so a
            # second projector of the same models waits here, then finds them moved and
            # stops before writing anything.
            for position, names in behind.items():
                moved = conn.execute(ADVANCE, {"names": names, "at": position, "to": last})
                if moved.rowcount != len(names):
                    raise ConcurrentProjector(
                        f"{', '.join(names)}: moved past {position} by another projector"
                    )
            wanted: dict[tuple[int, tuple[type, ...]], list[Positioned]] = {}
            for model in models:
                position = positions[model.name]
                if position >= last:
                    continue
                if type(model).wants is ReadModel.wants:  # its topics alone decide
                    key = (position, model.topics)
                    events = wanted.get(key)
                    if events is None:
                        events = wanted[key] = _wanted(model, page, position)
                else:
                    events = [p for p in page if p.position > position and model.wants(p.event)]
                if events:
                    model.apply(conn, events)
                    applied += len(events)
        return applied

    def _analyze_if_due(self) -> None:
        """Planner statistics for the read-model tables after a large catch-up (a rebuild,
        a first start): without them PostgreSQL plans the queries for empty tables. The
        tables a model reads from the index alone are vacuumed as well, which marks their
        pages all-visible (until then every row is fetched from the table anyway)."""
        if self._unanalyzed < ANALYZE_AFTER:
            return
        self._unanalyzed = 0
        if not self.statistics or self.engine.dialect.name != "postgresql":
            return
        with self.engine.connect() as conn:
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")  # VACUUM needs it
            preparer = conn.dialect.identifier_preparer
            schema = _schema(conn)
            # A sample a tenth of the default size: enough for the plans of the queries
            # (the sizes of the tables, their null and distinct values), at a fraction of
            # the time; autovacuum refines them later.
            conn.execute(text(f"SET default_statistics_target = {ANALYZE_SAMPLE}"))
            try:
                for model in self.models:
                    for table in model.metadata.sorted_tables:
                        name = preparer.quote(table.name)
                        if schema:
                            name = f"{preparer.quote_schema(schema)}.{name}"
                        vacuum = "VACUUM (ANALYZE) " if table.name in model.index_only else ""
                        conn.execute(text(f"{vacuum or 'ANALYZE '}{name}"))
            finally:
                conn.execute(text("RESET default_statistics_target"))

    def rebuild(
        self, names: Iterable[str] | None = None, progress: Callable[[int], None] | None = None
    ) -> None:
        for model in self.models if names is None else [self.model(n) for n in names]:
            self.reset(model)
        self._unanalyzed = max(self._unanalyzed, ANALYZE_AFTER)  # however long the log
        self.catch_up(progress=progress)

    def follow(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Keep the read models current until ``stop`` is set; errors are logged and the
        page retried after a pause, never skipped."""
        pause = interval
        while not stop.is_set():
            try:
                with self._turn_to_follow() as mine:
                    read = self.catch_up() if mine else 0
                pause = interval
            except ConcurrentProjector as exc:
                log.info("%s", exc)
                read = 0
            except Exception:
                log.exception("projection failed; retrying")
                read, pause = 0, min(pause * 2, 30.0)
            if read == 0:
                stop.wait(pause)

    def _turn_to_follow(self) -> contextlib.AbstractContextManager[bool]:
        """Whether this process follows the log now. On PostgreSQL one process at a time
        does (a lock tried, never waited for): the followers of a server's worker processes
        would otherwise each apply the same events, and all but one roll their work back.
        A request still catches up itself when it needs to."""
        return advisory_lock(self.engine, "follower", wait=False)


class _HelperProcess:
    """A helper process (``python -m projections.helper``), kept for the catch-ups to come.
    Jobs go to its stdin and answers come from its stdout, pickled; its stderr goes to an
    unnamed temporary file, for the message should it stop."""

    def __init__(self, process: subprocess.Popen[bytes], errors: int) -> None:
        self.process, self.errors = process, errors

    @classmethod
    def start(cls, settings: Settings) -> _HelperProcess:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in sys.path if p)
        errors, path = tempfile.mkstemp(prefix="hoso-helper-")
        os.unlink(path)
        try:
            process = subprocess.Popen(
                [sys.executable, "-m", "projections.helper"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=errors,
                env=env,
            )
        except OSError:
            os.close(errors)
            raise
        helper = cls(process, errors)
        helper._send({"parent": os.getpid(), "settings": settings})
        return helper

    def alive(self) -> bool:
        return self.process.poll() is None

    def project(self, models: Sequence[ReadModel], page_size: int, until: int) -> None:
        """Start projecting ``models`` up to ``until``; ``done`` waits for it."""
        self._send(
            {
                "models": [(type(m).__module__, type(m).__qualname__) for m in models],
                "page_size": page_size,
                "until": until,
            }
        )

    def done(self) -> None:
        """Wait for the job to be done; raise if it failed."""
        assert self.process.stdout is not None
        try:
            answer, detail = pickle.load(self.process.stdout)
        except (EOFError, pickle.UnpicklingError, OSError):
            code = self.process.wait()
            raise RuntimeError(f"the helper process stopped ({code}):\n{self._said()}") from None
        if answer != "done":
            raise RuntimeError(f"the helper process failed:\n{detail}")

    def stop(self) -> None:
        """Kill it: what it committed stays (each page is a transaction), its page in
        progress is rolled back."""
        if self.process.poll() is None:
            self.process.kill()
        self._reap()

    def close(self) -> None:
        """Let it end: with its stdin closed, it exits once its job is done."""
        if self.process.poll() is None and self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
        self._reap()

    def _send(self, message: dict[str, Any]) -> None:
        assert self.process.stdin is not None
        try:
            pickle.dump(message, self.process.stdin)
            self.process.stdin.flush()
        except BrokenPipeError:
            raise OSError(f"the helper process stopped:\n{self._said()}") from None

    def _said(self) -> str:
        if self.errors < 0:
            return ""
        size = os.fstat(self.errors).st_size
        os.lseek(self.errors, max(0, size - 65536), os.SEEK_SET)  # its last words
        said = os.read(self.errors, 65536).decode(errors="replace")
        return "\n".join(said.strip().splitlines()[-15:])

    def _reap(self) -> None:
        self.process.wait()
        for stream in (self.process.stdin, self.process.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        if self.errors >= 0:
            errors, self.errors = self.errors, -1
            os.close(errors)


@contextlib.contextmanager
def _no_cycle_collection() -> Iterator[None]:
    """No cyclic garbage collection while a page is read and applied. A page allocates
    hundreds of thousands of small objects (decoded events, rows) that live until the page
    is done: the collector would walk them again and again, for a third of the time a
    page takes, and find next to nothing (they are freed by reference counting). What
    cyclic garbage a page leaves is collected after it."""
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def seen_before(events: Iterable[Positioned]) -> tuple[set[str], set[str]]:
    """The aggregates the events belong to, and those of them whose first event here is
    not their first: only those can have rows from earlier pages."""
    ids: set[str] = set()
    earlier: set[str] = set()
    for p in events:
        key = p.originator
        if key not in ids:
            ids.add(key)
            if p.event.originator_version != 1:
                earlier.add(key)
    return ids, earlier


def sort_key_type(length: int | None = 400) -> TypeEngine[str]:
    """A column of ``name_sort_key`` values: compared byte by byte on every database (the
    default collation of a PostgreSQL database may ignore spaces and punctuation)."""
    return String(length).with_variant(String(length, collation="C"), "postgresql")


def _wanted(model: ReadModel, page: Sequence[Positioned], position: int) -> list[Positioned]:
    """The events of the page after ``position`` of the model's topics."""
    topics = model.topics
    if position >= page[0].position:
        page = [p for p in page if p.position > position]
    if not topics:
        return list(page)
    return [p for p in page if isinstance(p.event, topics)]


def _schema(conn: Connection) -> str | None:
    translate: Mapping[str | None, str | None] = (
        conn.get_execution_options().get("schema_translate_map") or {}
    )
    return translate.get(None)


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """INSERT the rows (each with the keys of the first) in the connection's transaction.

    On PostgreSQL with COPY, which costs a fraction of an INSERT per row; every value goes
    through its column's type (JSON, time zones...) as it would for an INSERT, so the table
    holds the same. Elsewhere (SQLite), one executemany.
    """
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(table.insert(), list(rows))
        return
    dialect = conn.dialect
    preparer = dialect.identifier_preparer
    columns = [c for c in table.columns if c.key in rows[0]]
    spec = [(c.key, _copy_processor(c, dialect)) for c in columns]
    name = preparer.quote(table.name)
    schema = _schema(conn) if table.schema is None else table.schema
    if schema:
        name = f"{preparer.quote_schema(schema)}.{name}"
    names = ", ".join(preparer.quote(c.name) for c in columns)
    driver = conn.connection.driver_connection
    assert driver is not None
    values = itemgetter(*(key for key, _ in spec))  # a row's values, in column order
    converted = [(i, process) for i, (_, process) in enumerate(spec) if process is not None]
    with driver.cursor() as cursor, cursor.copy(f"COPY {name} ({names}) FROM STDIN") as copy:
        write = copy.write_row
        if len(spec) == 1:
            for row in rows:
                write([values(row) if not converted else converted[0][1](values(row))])
        elif not converted:
            for row in rows:
                write(values(row))
        else:
            for row in rows:
                line = list(values(row))
                for i, process in converted:
                    line[i] = process(line[i])
                write(line)


def _copy_processor(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """What an INSERT would do to a value of the column before the driver sends it. For
    JSON, the text the driver would send (``psycopg.types.json.Json`` with the dialect's
    serializer), written straight away."""
    kind = column.type
    impl = type(kind.dialect_impl(dialect))
    if (
        isinstance(kind, JSON)
        and _PG_JSON_BIND is not None
        and impl.bind_processor is _PG_JSON_BIND
    ):
        dumps: Callable[[Any], str] = getattr(dialect, "_json_serializer", None) or json.dumps
        null = None if kind.none_as_null else "null"

        def process(value: Any) -> str | None:
            if value is None:
                return null
            if value is JSON.NULL:
                return "null"
            return dumps(value)

        return process
    return kind._cached_bind_processor(dialect)


def utc(value: datetime | None) -> datetime | None:
    """A time in UTC, timezone-aware. SQLite keeps no zone (stored times are UTC) and
    PostgreSQL answers in the session's zone: both come back the same way."""
    if value is None or value.tzinfo is UTC:
        return value
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
