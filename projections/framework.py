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
"""

from __future__ import annotations

import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import Column, Connection, Engine, Integer, MetaData, String, Table, select
from sqlalchemy import update as sql_update

from domain.application import Ledger

log = logging.getLogger(__name__)

tracking_metadata = MetaData()
tracking = Table(
    "projection_tracking",
    tracking_metadata,
    Column("name", String(64), primary_key=True),
    Column("schema", String(100), nullable=False),
    Column("position", Integer, nullable=False),
)


@dataclass(frozen=True)
class Positioned:
    """A domain event with its position in the log."""

    position: int
    event: Any

    @property
    def kind(self) -> str:
        return type(self.event).__name__


class ReadModel(ABC):
    name: ClassVar[str]
    version: ClassVar[int]  # change it when the tables or their meaning change: rebuilds
    metadata: ClassVar[MetaData]
    topics: ClassVar[tuple[type, ...]] = ()  # event classes it reads; empty for all

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


class Projector:
    def __init__(
        self, ledger: Ledger, engine: Engine, models: Sequence[ReadModel], page_size: int = 1000
    ) -> None:
        self.ledger, self.engine, self.models = ledger, engine, list(models)
        self.page_size = page_size
        self._lock = threading.Lock()  # one catch-up at a time within this process

    # -- schema ----------------------------------------------------------------------------

    def prepare(self) -> list[str]:
        """Create what is missing; rebuild (from position 0) every read model whose schema
        version changed. Returns the names of the read models that were reset."""
        tracking_metadata.create_all(self.engine)
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
        read = 0
        while True:
            positions = self.positions()
            start = min(positions.values(), default=0)
            stop = until if until is not None else self.head()
            if start >= stop:
                return read
            notifications = self.ledger.recorder.select_notifications(
                start=start + 1, limit=self.page_size, stop=stop
            )
            if not notifications:
                return read
            decoded = [
                Positioned(n.id, self.ledger.mapper.to_domain_event(n)) for n in notifications
            ]
            last = notifications[-1].id
            self._apply_page(decoded, positions, last)
            read += len(notifications)
            if progress is not None:
                progress(last)

    def _apply_page(self, page: list[Positioned], positions: dict[str, int], last: int) -> None:
        with self.engine.begin() as conn:
            for model in self.models:
                position = positions[model.name]
                if position >= last:
                    continue
                events = [p for p in page if p.position > position and model.wants(p.event)]
                if events:
                    model.apply(conn, events)
                moved = conn.execute(
                    sql_update(tracking)
                    .where(tracking.c.name == model.name, tracking.c.position == position)
                    .values(position=last)
                )
                if moved.rowcount != 1:
                    raise ConcurrentProjector(
                        f"{model.name} was moved past {position} by another projector"
                    )

    def rebuild(
        self, names: Iterable[str] | None = None, progress: Callable[[int], None] | None = None
    ) -> None:
        for model in self.models if names is None else [self.model(n) for n in names]:
            self.reset(model)
        self.catch_up(progress=progress)

    def follow(self, stop: threading.Event, interval: float = 0.5) -> None:
        """Keep the read models current until ``stop`` is set; errors are logged and the
        page retried after a pause, never skipped."""
        pause = interval
        while not stop.is_set():
            try:
                read = self.catch_up()
                pause = interval
            except ConcurrentProjector as exc:
                log.info("%s", exc)
                read = 0
            except Exception:
                log.exception("projection failed; retrying")
                read, pause = 0, min(pause * 2, 30.0)
            if read == 0:
                stop.wait(pause)


def utc(value: datetime | None) -> datetime | None:
    """A time in UTC, timezone-aware. SQLite keeps no zone (stored times are UTC) and
    PostgreSQL answers in the session's zone: both come back the same way."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)
