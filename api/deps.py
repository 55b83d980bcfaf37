"""What every request needs: the services, and who is calling."""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from time import monotonic
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.utils import get_topic
from fastapi import Request
from sqlalchemy import Connection, Engine, func, select

from api.policy import Grant, Principal
from domain.access import AccessRecord
from domain.account import Account
from domain.application import Ledger
from domain.values import Actor
from projections.framework import ConcurrentProjector, Projector, tracking
from projections.units import subtree, units
from signing.approvals import Approvals

# Events that change no read model but the audit trail: the reads of restricted values,
# exports and refusals that reads themselves record.
ACCESS_TOPICS = [get_topic(AccessRecord.Recorded)]
# Read models behind the log by at most this many access records are current for anything
# but the audit trail (the follower applies those within its interval); further behind, the
# request catches up itself.
ACCESS_LAG = 500
# How long a process trusts the position it found the read models at without reading their
# tracking rows again, while the log gains nothing but access records.
TRUST_SECONDS = 1.0
# Attempts at a catch-up that another process (a worker's follower) keeps getting ahead of.
CATCH_UP_ATTEMPTS = 20
# Principals kept, at most, for as long as their account and the unit tree stay as they are.
PRINCIPALS = 4096


@dataclass
class _Waiting:
    aggregate: Aggregate
    done: bool = False
    error: BaseException | None = None


class GroupCommit:
    """Saves aggregates for many threads, each in one transaction with those that arrived
    while the previous one was being written. The event log has one writer at a time (a
    table lock held until commit): a group of records costs about what one record does,
    where one transaction per record would queue every request behind that lock.

    Whoever finds no write under way writes everything waiting, its own among it; the
    others wait until theirs is stored. ``save`` returns once the aggregate is stored, and
    raises what the write raised otherwise."""

    def __init__(self, save: Callable[..., Any]) -> None:
        self._save = save
        self._changed = threading.Condition()
        self._waiting: list[_Waiting] = []
        self._writing = False

    def save(self, aggregate: Aggregate) -> None:
        mine = _Waiting(aggregate)
        with self._changed:
            self._waiting.append(mine)
            while self._writing and not mine.done:
                self._changed.wait()
            if mine.done:
                if mine.error is not None:
                    raise mine.error
                return
            self._writing = True
            group, self._waiting = self._waiting, []
        error: BaseException | None = None
        try:
            self._save(*(waiting.aggregate for waiting in group))
        except BaseException as exc:
            error = exc
            raise
        finally:
            with self._changed:
                for waiting in group:
                    waiting.done, waiting.error = True, error
                self._writing = False
                self._changed.notify_all()


@dataclass
class Services:
    ledger: Ledger
    projector: Projector
    reader: Engine
    approvals: Approvals
    # The position every read model but the audit trail is known to have reached, when that
    # was checked, and what the unit tree looked like then.
    _reached: tuple[int, float, tuple[int, int]] = field(
        default=(0, 0.0, (0, 0)), init=False, repr=False
    )
    _access: GroupCommit = field(init=False, repr=False)
    _principals: dict[tuple[Any, ...], Principal] = field(
        default_factory=dict, init=False, repr=False
    )

    def __post_init__(self) -> None:
        self._access = GroupCommit(self.ledger.save)

    def current(self, *, audit: bool = False) -> None:
        """Read your writes: the read models hold every event the log held when this was
        called, so every command already answered; the request catches up itself if they
        do not. Access records change nothing but the audit trail: unless ``audit``, read
        models behind the log by access records alone count as current (the follower
        applies those within its interval).

        A process remembers the position the read models were found at, and for up to
        ``TRUST_SECONDS`` checks only the events the log gained since, without reading the
        tracking rows: with nothing new, or only access records, that is one query or two."""
        head = self.projector.head()
        reached, checked, tree = self._reached
        if not audit and monotonic() - checked < TRUST_SECONDS:
            if head <= reached:
                return
            if self._access_only(reached, head):
                self._advance(head, checked, tree)
                return
        low, tree = self._state()
        if low < head and (audit or not self._access_only(low, head)):
            self._catch_up(head)
            low, tree = self._state()
        self._advance(max(low, head), monotonic(), tree)

    def _advance(self, position: int, checked: float, tree: tuple[int, int]) -> None:
        if position >= self._reached[0]:
            self._reached = (position, checked, tree)

    def _state(self) -> tuple[int, tuple[int, int]]:
        """The position every read model has reached, and a fingerprint of the unit tree
        (its units, and their versions: any change to a unit changes it), in one query."""
        names = [model.name for model in self.projector.models]
        mine = tracking.c.name.in_(names)
        query = select(
            select(func.count()).select_from(tracking).where(mine).scalar_subquery(),
            select(func.min(tracking.c.position)).where(mine).scalar_subquery(),
            select(func.count()).select_from(units).scalar_subquery(),
            select(func.coalesce(func.sum(units.c.version), 0)).scalar_subquery(),
        )
        with self.reader.connect() as conn:
            tracked, low, count, versions = conn.execute(query).one()
        # A read model without its tracking row has applied nothing yet.
        position = int(low or 0) if tracked == len(names) else 0
        return position, (int(count), int(versions))

    def _access_only(self, low: int, head: int) -> bool:
        """Whether every event after ``low`` up to ``head`` is an access record."""
        if head - low > ACCESS_LAG:
            return False
        found = self.ledger.recorder.select_notifications(
            start=low + 1, limit=head - low, stop=head, topics=ACCESS_TOPICS
        )
        return len(found) == head - low  # positions are consecutive

    def _catch_up(self, head: int) -> None:
        for attempt in range(1, CATCH_UP_ATTEMPTS + 1):
            try:
                self.projector.catch_up(until=head)
                return
            except ConcurrentProjector:
                # Another process applied the page first: go on from where it got to.
                if attempt == CATCH_UP_ATTEMPTS:
                    raise

    def principal(self, account: Account, on: date) -> Principal:
        """``principal_for`` the account on a day, kept while the account and the unit tree
        stay as they were at the last ``current``, which the caller made first."""
        tree = self._reached[2]
        key = (account.username, account.version, on, tree)
        found = self._principals.get(key)
        if found is not None:
            return found
        with self.reader.connect() as conn:
            found = principal_for(account, conn, on)
            # Kept only if the tree it was built on is the one of the key (not, say, a
            # read model being rebuilt meanwhile).
            kept = _tree(conn) == tree
        if kept:
            if len(self._principals) >= PRINCIPALS:
                self._principals.clear()
            self._principals[key] = found
        return found

    def record_access(
        self,
        kind: str,
        resource: str,
        *,
        actor: Actor,
        profile_id: str | None = None,
        fields: Sequence[str] = (),
        basis: str = "",
    ) -> None:
        """``Ledger.record_access``, stored in a transaction shared with the access records
        of concurrent requests; returns once the record is stored."""
        self._access.save(
            AccessRecord(
                kind=kind,
                resource=resource,
                profile_id=profile_id,
                fields=list(fields),
                basis=basis,
                actor=actor,
            )
        )


def _tree(conn: Connection) -> tuple[int, int]:
    """A fingerprint of the unit tree: its units, and their versions (so any change)."""
    count, versions = conn.execute(
        select(func.count(), func.coalesce(func.sum(units.c.version), 0)).select_from(units)
    ).one()
    return int(count), int(versions)


def services(request: Request) -> Services:
    return request.app.state.services  # type: ignore[no-any-return]


async def services_dependency(request: Request) -> Services:
    """``services`` as a dependency, answered on the event loop rather than in a thread."""
    return services(request)


def principal_for(account: Account, conn: Connection, on: date) -> Principal:
    """The account's grants in force on a day, each with the units it covers."""
    grants = []
    for g in account.grants_on(on):
        tree = subtree(g["unit_code"])
        codes = frozenset(conn.execute(select(tree.c.code)).scalars())
        grants.append(Grant(g["role"], g["unit_code"], codes | {g["unit_code"]}))
    return Principal(
        account.username, account.display_name, account.kind, account.profile_id, tuple(grants)
    )
