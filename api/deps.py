"""What every request needs: the services, and who is calling."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable, Sequence
from concurrent.futures import Future
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from typing import Any

from eventsourcing.domain import Aggregate
from fastapi import Request
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import Connection, Engine, Select, func, select
from starlette.concurrency import run_in_threadpool

from api.policy import Grant, Principal
from domain.access import AccessRecord
from domain.account import Account
from domain.application import Ledger
from domain.values import Actor
from projections.database import async_reading_pool, for_reading
from projections.framework import ConcurrentProjector, Projector, tracking
from projections.units import UnitMap, fingerprint_query, unit_map
from signing.approvals import Approvals

# Attempts at a catch-up that another process (a worker's follower) keeps getting ahead of.
CATCH_UP_ATTEMPTS = 20
# Principals kept, at most, for as long as their account and the unit tree stay as they are.
PRINCIPALS = 4096
# Accounts kept, at most, for as long as the log gains no change.
ACCOUNTS = 4096


class NotKept(Exception):
    """What was asked is not in memory: ask again where waiting for the database is
    allowed (a thread, not the event loop)."""


# The state the read models were found in for the request under way, when it only reads.
READ_STATE: ContextVar[ReadState | None] = ContextVar("READ_STATE", default=None)


@dataclass(frozen=True)
class ReadState:
    """Where the log and the read models stood, read in one statement."""

    head: int  # the log's last position
    changed: int  # the last position of an event that is not a record of access
    reached: int  # the position every read model has applied
    tree: tuple[int, int]  # the unit tree's units and the sum of their versions

    def holds(self, *, audit: bool) -> bool:
        """Whether the read models hold every event they need: every change, and for the
        audit trail every record of access too."""
        return self.reached >= (self.head if audit else self.changed)

    @property
    def generation(self) -> int | None:
        """What answers computed from the read models may be kept under: the last change
        they hold; None when they do not hold it (a change landed during a catch-up)."""
        return self.changed if self.holds(audit=False) else None


class Kept:
    """Answers computed from the read models at one generation (``Services.current``),
    at most ``size`` of them: a newer generation empties it, and when it is full the
    oldest answer goes. Counts its hits and misses for the metrics."""

    def __init__(self, size: int) -> None:
        self.size = size
        # The generation and its answers, replaced together (a reader takes both at once).
        self._kept: tuple[int | None, dict[Hashable, Any]] = (None, {})
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, generation: int | None, key: Hashable) -> Any | None:
        kept_generation, answers = self._kept
        found = None
        if generation is not None and generation == kept_generation:
            found = answers.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, generation: int | None, key: Hashable, answer: Any) -> None:
        if generation is None or self.size == 0:
            return
        with self._lock:
            kept_generation, answers = self._kept
            if kept_generation is None or generation > kept_generation:
                answers = {}
                self._kept = (generation, answers)
            elif generation < kept_generation:
                return  # computed before a change another request has seen since
            if len(answers) >= self.size:
                answers.pop(next(iter(answers)))
            answers[key] = answer


# A writer thread with nothing to write for this long ends (another starts when needed).
WRITER_IDLE_SECONDS = 30.0


class GroupCommit:
    """Saves aggregates for many requests, each in one transaction with those that arrived
    while the previous one was being written. The event log has one writer at a time (a
    table lock held until commit): a group of records costs about what one record does,
    where one transaction per record would queue every request behind that lock.

    A writer thread of its own writes everything waiting, then everything that arrived
    meanwhile, and so on. ``submit`` hands an aggregate over and returns at once, with a
    future that is done once the aggregate is stored (or holds what the write raised):
    a thread may wait on it, and a coroutine await it (``asyncio.wrap_future``) holding no
    thread."""

    def __init__(self, save: Callable[..., Any]) -> None:
        self._save = save
        self._arrived = threading.Condition()
        self._waiting: list[tuple[Aggregate, Future[None]]] = []
        self._writer: threading.Thread | None = None

    def save(self, aggregate: Aggregate) -> None:
        """``submit``, and wait until the aggregate is stored."""
        self.submit(aggregate).result()

    def submit(self, aggregate: Aggregate) -> Future[None]:
        stored: Future[None] = Future()
        with self._arrived:
            self._waiting.append((aggregate, stored))
            if self._writer is None:
                self._writer = threading.Thread(
                    target=self._write, daemon=True, name="access-records"
                )
                self._writer.start()
            self._arrived.notify()
        return stored

    def _write(self) -> None:
        while True:
            with self._arrived:
                if not self._waiting:
                    self._arrived.wait(WRITER_IDLE_SECONDS)
                if not self._waiting:
                    self._writer = None
                    return
                group, self._waiting = self._waiting, []
            try:
                self._save(*(aggregate for aggregate, _ in group))
            except Exception as exc:
                for _, stored in group:
                    stored.set_exception(exc)
            else:
                for _, stored in group:
                    stored.set_result(None)


@dataclass
class Services:
    ledger: Ledger
    projector: Projector
    reader: Engine
    approvals: Approvals
    # Answers kept per generation of the read models: roster pages.
    pages: Kept = field(default_factory=lambda: Kept(0))
    # The reader's connections for reads alone (``for_reading``).
    reads: Engine = field(init=False, repr=False)
    _seen: ReadState = field(default=ReadState(0, 0, 0, (0, 0)), init=False, repr=False)
    _access: GroupCommit = field(init=False, repr=False)
    _principals: dict[tuple[Any, ...], Principal] = field(
        default_factory=dict, init=False, repr=False
    )
    _accounts: dict[str, tuple[int, Account]] = field(default_factory=dict, init=False, repr=False)
    _units: tuple[tuple[int, int], UnitMap] | None = field(default=None, init=False, repr=False)
    _state_pool: AsyncConnectionPool | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._access = GroupCommit(self.ledger.save)
        self.reads = for_reading(self.reader)

    async def open_async(self) -> None:
        """Open, on the running event loop, what it reads the state of the read models
        with (PostgreSQL): then a request learns it there, without a thread."""
        self._state_pool = async_reading_pool(self.ledger.settings)
        if self._state_pool is not None:
            await self._state_pool.open()

    async def close_async(self) -> None:
        if self._state_pool is not None:
            await self._state_pool.close()
            self._state_pool = None

    @cached_property
    def _state_sql(self) -> str:
        # Table names unqualified: the asyncio connections' search path is the schema.
        compiled = self._state_query.compile(
            dialect=self.reader.dialect, compile_kwargs={"literal_binds": True}
        )
        return str(compiled)

    @cached_property
    def _state_query(self) -> Select[Any]:
        names = [model.name for model in self.projector.models]
        mine = tracking.c.name.in_(names)
        head, changed = self.projector.log_positions()
        return select(
            head,
            changed,
            select(func.count()).select_from(tracking).where(mine).scalar_subquery(),
            select(func.min(tracking.c.position)).where(mine).scalar_subquery(),
            *fingerprint_query(),
        )

    def current(self, *, audit: bool = False) -> int | None:
        """Read your writes: the read models hold every event the log held when this was
        called, so every command already answered; the request catches up itself if they
        do not. Records of access change nothing but the audit trail: unless ``audit``,
        read models behind the log by those alone count as current (the follower applies
        them within its interval).

        Returns the generation of what the read models now hold: the position of the last
        change (any event but a record of access). An answer computed from them may be
        kept under it, for as long as the log gains no change. None when a change landed
        during a catch-up: then nothing should be kept.

        Within a read request (``READ_STATE`` set), the state found when its caller was
        authenticated is current enough: it was found after the request arrived."""
        state = READ_STATE.get()
        if state is None or not state.holds(audit=audit):
            state = self.current_state(audit=audit)
        return state.generation

    def current_state(self, *, audit: bool = False) -> ReadState:
        """``current``, with the whole state found."""
        state = self._read_state()
        if not state.holds(audit=audit):
            self._catch_up(state.head)
            state = self._read_state()
        self._saw(state)
        return state

    def _saw(self, state: ReadState) -> None:
        # Only forward: a slower request must not take the unit tree back to what it found.
        seen = self._seen
        if state.holds(audit=False) and (state.changed, state.head) >= (seen.changed, seen.head):
            self._seen = state

    async def current_state_async(self) -> ReadState:
        """``current_state``, for the event loop: the state read on the loop itself where
        it can be (PostgreSQL); in a thread on SQLite, or when the read models must catch
        up first."""
        pool = self._state_pool
        if pool is None:
            return await run_in_threadpool(self.current_state)
        async with pool.connection() as conn:
            cursor = await conn.execute(self._state_sql, prepare=True)
            row = await cursor.fetchone()
        assert row is not None
        state = self._state_of(*row)
        if not state.holds(audit=False):
            return await run_in_threadpool(self.current_state)
        self._saw(state)
        return state

    def _read_state(self) -> ReadState:
        """``ReadState`` in one statement: the log, the tracking rows and the unit tree
        are in the same database."""
        with self.reads.connect() as conn:
            return self._state_of(*conn.execute(self._state_query).one())

    def _state_of(
        self, last: Any, last_change: Any, tracked: Any, low: Any, count: Any, versions: Any
    ) -> ReadState:
        # A read model without its tracking row has applied nothing yet.
        reached = int(low or 0) if tracked == len(self.projector.models) else 0
        return ReadState(
            int(last or 0), int(last_change or 0), reached, (int(count), int(versions))
        )

    def _catch_up(self, head: int) -> None:
        for attempt in range(1, CATCH_UP_ATTEMPTS + 1):
            try:
                self.projector.catch_up(until=head)
                return
            except ConcurrentProjector:
                # Another process applied the page first: go on from where it got to.
                if attempt == CATCH_UP_ATTEMPTS:
                    raise

    def account(self, username: str, generation: int | None, *, kept_only: bool = False) -> Account:
        """``Ledger.account``, kept while the log gains no change after ``generation``
        (what ``current`` returned): an account changes only by an event of its own.
        ``kept_only``: raise ``NotKept`` rather than read it."""
        key = username.strip().lower()
        found = self._accounts.get(key)
        if found is not None and generation is not None and found[0] == generation:
            return found[1]
        if kept_only:
            raise NotKept(username)
        account = self.ledger.account(username)
        if generation is not None:
            if len(self._accounts) >= ACCOUNTS:
                self._accounts.clear()
            self._accounts[key] = (generation, account)
        return account

    def units(self, *, kept_only: bool = False) -> UnitMap:
        """The unit tree as the read model held it at the last ``current``, which the
        caller made first; read again only when it has changed (``kept_only``: raise
        ``NotKept`` rather than read it)."""
        tree = self._seen.tree
        kept = self._units
        if kept is not None and kept[0] == tree:
            return kept[1]
        if kept_only:
            raise NotKept("the unit tree")
        with self.reads.connect() as conn:
            found = unit_map(conn)
        # Kept only if it is the tree of the key (not, say, a read model being rebuilt).
        if found.fingerprint == tree:
            self._units = (tree, found)
        return found

    def principal(self, account: Account, on: date, *, kept_only: bool = False) -> Principal:
        """``principal_for`` the account on a day, kept while the account and the unit tree
        stay as they were at the last ``current``, which the caller made first."""
        units_now = self.units(kept_only=kept_only)
        key = (account.username, account.version, on, units_now.fingerprint)
        found = self._principals.get(key)
        if found is None:
            found = principal_of(account, units_now, on)
            if len(self._principals) >= PRINCIPALS:
                self._principals.clear()
            self._principals[key] = found
        return found

    def record_access(self, kind: str, resource: str, **details: Any) -> None:
        """``submit_access``, returning once the record is stored."""
        self.submit_access(kind, resource, **details).result()

    def submit_access(
        self,
        kind: str,
        resource: str,
        *,
        actor: Actor,
        profile_id: str | None = None,
        fields: Sequence[str] = (),
        basis: str = "",
    ) -> Future[None]:
        """``Ledger.record_access``, stored in a transaction shared with the access records
        of concurrent requests, without waiting: the future is done once the record is
        stored. A request answers only after that."""
        record = AccessRecord(
            kind=kind,
            resource=resource,
            profile_id=profile_id,
            fields=list(fields),
            basis=basis,
            actor=actor,
        )
        return self._access.submit(record)


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def services_dependency(request: Request) -> Services:
    """``services`` as a dependency, answered on the event loop rather than in a thread."""
    return services(request)


def principal_for(account: Account, conn: Connection, on: date) -> Principal:
    """The account's grants in force on a day, each with the units it covers."""
    return principal_of(account, unit_map(conn), on)


def principal_of(account: Account, tree: UnitMap, on: date) -> Principal:
    """``principal_for`` with the unit tree at hand."""
    grants = [
        Grant(g["role"], g["unit_code"], frozenset(tree.subtree(g["unit_code"])) | {g["unit_code"]})
        for g in account.grants_on(on)
    ]
    return Principal(
        account.username, account.display_name, account.kind, account.profile_id, tuple(grants)
    )
