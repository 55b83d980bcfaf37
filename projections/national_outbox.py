"""National outbox: the approved records and changes that go to the national database.

One row per item, put there exactly once from the log (the projector's tracking row moves
in the same transaction): an item is the profile event whose values are sent, keyed by
its idempotency key (``domain.national_sync.idempotency_key``), in log order per profile.

What is queued, and when:

* a change set, when it is approved (``ChangeApproved``);
* a new record or a status transition (transfer, secondment, retirement, death…), once it
  is approved: where the jurisdiction asks a chain of signatures for it, the command's
  ``ApprovalRequested`` is the next event of the same save (the next log position), and the
  item is queued at its ``RecordApproved``; a rejected one never leaves. Recorded without an
  approval request, it is approved as recorded.

A pending change never leaves. Nothing is queued under a jurisdiction without national
sync, nor for people whose unit (at approval) is of a kind the jurisdiction excludes
(Hải Phòng Điều 4.3, 5.1: the special associations).

The row keeps no value of the record: the values are read from the (encrypted) log when the
item is sent. The acknowledgements and failures recorded by the sender (events of
``NationalSync``) mark rows sent or failed, so the outbox rebuilds from the log alone.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    case,
    func,
    select,
)

from domain.national_sync import NationalSync, idempotency_key
from domain.profile import Profile
from domain.unit import Unit
from domain.values import UnitKind
from projections.audit import UtcDateTime, unit_after
from projections.facts import STATUS_AFTER
from projections.framework import Positioned, ReadModel, insert_rows, utc

QUEUED, SENT, FAILED = "queued", "sent", "failed"
# Profile events that record a new record or a transition (approved as recorded, or once
# their approval item is approved).
RECORDED = frozenset({*STATUS_AFTER, "MovedWithinUnit"})
CHANGE_PROPOSED = "ChangeProposed"

metadata = MetaData()
outbox = Table(
    "rm_national_outbox",
    metadata,
    Column("idempotency_key", String(36), primary_key=True),
    Column("profile_id", String(36), nullable=False, index=True),
    Column("version", Integer, nullable=False),  # of the profile event whose values are sent
    Column("position", Integer, nullable=False, index=True),  # of the approving event
    Column("event_type", String(60), nullable=False),
    Column("unit_code", String(40), index=True),
    Column("approved_at", UtcDateTime, nullable=False),
    Column("state", String(10), nullable=False, index=True),
    Column("failures", Integer, nullable=False),
    Column("last_error", Text),
    Column("acknowledged_at", UtcDateTime),
    Column("receipt_id", String(100)),
    Column("national_record_id", String(100)),
)
awaiting = Table(  # records and transitions waiting for their approval
    "rm_national_awaiting",
    metadata,
    Column("item_id", String(36), primary_key=True),
    Column("profile_id", String(36), nullable=False),
    Column("version", Integer, nullable=False),
    Column("event_type", String(60), nullable=False),
)
profile_units = Table(
    "rm_national_profile_units",
    metadata,
    Column("profile_id", String(36), primary_key=True),
    Column("unit_code", String(40), nullable=False),
)
unit_kinds = Table(
    "rm_national_unit_kinds",
    metadata,
    Column("unit_code", String(40), primary_key=True),
    Column("kind", String(40), nullable=False),
)


class NationalOutbox(ReadModel):
    name = "national_outbox"
    version = 1
    metadata = metadata
    topics = (Profile.Event, Unit.Created, NationalSync.Event)

    def configuration(self) -> str:
        """What is synced depends on the jurisdiction: a change of it rebuilds."""
        j = self.ledger.jurisdiction
        excluded = ",".join(sorted(k.value for k in j.national_sync_excluded_unit_kinds))
        by = j.national_sync_by.value if j.national_sync_by else "none"
        return f"{by}:{excluded}"

    def __init__(self, ledger: Any) -> None:
        super().__init__(ledger)
        # The kind of each unit, as read or applied: a unit's kind never changes.
        self.unit_kinds: dict[str, str | None] = {}

    def synced(self, kind: str | None) -> bool:
        if self.ledger.jurisdiction.national_sync_by is None:
            return False
        return kind is None or self.ledger.jurisdiction.synced_nationally(UnitKind(kind))

    def apply(self, conn: Connection, events: Sequence[Positioned]) -> None:
        batch = _Batch(self, conn, events)
        for index, p in enumerate(events):
            batch.apply(index, p)
        batch.write()


class _Batch:
    """One page of events applied to the outbox: state read once, written once."""

    def __init__(self, model: NationalOutbox, conn: Connection, events: Sequence[Positioned]):
        self.model, self.conn, self.events = model, conn, events
        self.last_position = events[-1].position if events else 0
        profiles = {p.originator for p in events if isinstance(p.event, Profile.Event)}
        opened = {
            p.originator
            for p in events
            if isinstance(p.event, Profile.Event) and p.event.originator_version == 1
        }
        self.units_of = _load(conn, profile_units, "profile_id", "unit_code", profiles - opened)
        self.stored_units = set(self.units_of)
        self.moved: dict[str, str] = {}
        self.kinds = model.unit_kinds
        self.new_kinds: dict[str, str] = {}
        self.waiting: dict[str, dict[str, Any]] = {}  # item id -> awaiting row, new here
        self.decided: set[str] = set()  # awaiting item ids approved or rejected here
        self.queued: dict[str, dict[str, Any]] = {}  # idempotency key -> new outbox row
        self.outcomes: list[tuple[str, dict[str, Any]]] = []  # (key, values) for stored rows

    # -- events ----------------------------------------------------------------------------

    def apply(self, index: int, p: Positioned) -> None:
        event = p.event
        if isinstance(event, Unit.Created):
            code, kind = event.code, event.kind  # type: ignore[attr-defined]
            self.kinds[code] = self.new_kinds[code] = kind.value
        elif isinstance(event, Profile.Event):
            self._profile_event(index, p)
        elif isinstance(event, NationalSync.Event):
            self._outcome(p)

    def _profile_event(self, index: int, p: Positioned) -> None:
        event, kind = p.event, p.kind
        code = unit_after(p)
        if code is not None and self.units_of.get(p.originator) != code:
            self.units_of[p.originator] = self.moved[p.originator] = code
        if kind == "ChangeApproved":
            self._queue(p, event.originator_version, kind)
        elif kind == "ApprovalRequested":
            subject = event.subject
            if subject.get("event") != CHANGE_PROPOSED:
                self.waiting[event.item_id] = {
                    "item_id": event.item_id,
                    "profile_id": p.originator,
                    "version": int(subject["version"]),
                    "event_type": str(subject["event"]),
                }
        elif kind in ("RecordApproved", "RecordRejected"):
            item = self._awaiting(event.item_id)
            if item is not None:
                self.decided.add(event.item_id)
                self.waiting.pop(event.item_id, None)
                if kind == "RecordApproved":
                    self._queue(p, item["version"], item["event_type"])
        elif kind in RECORDED and not self._approval_requested(index, p):
            self._queue(p, event.originator_version, kind)

    def _approval_requested(self, index: int, p: Positioned) -> bool:
        """Whether the command that recorded ``p`` asked for its approval: then the next
        log position holds the ``ApprovalRequested`` of the same save."""
        following = p.position + 1
        if index + 1 < len(self.events) and self.events[index + 1].position == following:
            return _requests_approval_of(self.events[index + 1], p)
        if p.position < self.last_position:
            return False  # the next position is not a profile event
        ledger = self.model.ledger
        for notification in ledger.recorder.select_notifications(start=following, limit=1):
            if notification.id == following and notification.originator_id == p.event.originator_id:
                after = Positioned(following, ledger.mapper.to_domain_event(notification))
                return _requests_approval_of(after, p)
        return False

    def _awaiting(self, item_id: str) -> dict[str, Any] | None:
        if item_id in self.waiting:
            return self.waiting[item_id]
        if item_id in self.decided:
            return None
        row = self.conn.execute(select(awaiting).where(awaiting.c.item_id == item_id)).first()
        return dict(row._mapping) if row is not None else None

    def _kind_of(self, code: str | None) -> str | None:
        if code is None:
            return None
        if code not in self.kinds:
            found = self.conn.execute(
                select(unit_kinds.c.kind).where(unit_kinds.c.unit_code == code)
            ).scalar_one_or_none()
            if found is None:
                return None
            self.kinds[code] = found
        return self.kinds[code]

    def _queue(self, p: Positioned, version: int, event_type: str) -> None:
        unit_code = self.units_of.get(p.originator)
        if not self.model.synced(self._kind_of(unit_code)):
            return
        key = idempotency_key(p.originator, version)
        if key in self.queued:
            return
        self.queued[key] = {
            "idempotency_key": key,
            "profile_id": p.originator,
            "version": version,
            "position": p.position,
            "event_type": event_type,
            "unit_code": unit_code,
            "approved_at": utc(p.event.timestamp),
            "state": QUEUED,
            "failures": 0,
            "last_error": None,
            "acknowledged_at": None,
            "receipt_id": None,
            "national_record_id": None,
        }

    def _outcome(self, p: Positioned) -> None:
        event, kind = p.event, p.kind
        values: dict[str, Any]
        if kind == "NationalSyncAcknowledged":
            values = {
                "state": SENT,
                "acknowledged_at": _aware(event.acknowledged_at),
                "receipt_id": event.receipt_id,
                "national_record_id": event.national_record_id,
            }
        elif kind == "NationalSyncFailed":
            values = {"state": FAILED, "last_error": event.error}
        else:
            return
        key = event.idempotency_key
        row = self.queued.get(key)
        if row is not None:
            if kind == "NationalSyncFailed":
                values["failures"] = row["failures"] + 1
            row.update(values)
        else:
            self.outcomes.append((key, values))

    # -- writing ---------------------------------------------------------------------------

    def write(self) -> None:
        conn = self.conn
        if self.queued:
            known = set(
                conn.execute(
                    select(outbox.c.idempotency_key).where(
                        outbox.c.idempotency_key.in_(list(self.queued))
                    )
                ).scalars()
            )
            insert_rows(conn, outbox, [r for k, r in self.queued.items() if k not in known])
        for key, values in self.outcomes:
            if values["state"] == FAILED:
                values = {**values, "failures": outbox.c.failures + 1}
            # An acknowledgement is final: a failure recorded after it changes nothing.
            query = outbox.update().where(outbox.c.idempotency_key == key)
            if values["state"] == FAILED:
                query = query.where(outbox.c.state != SENT)
            conn.execute(query.values(**values))
        if self.decided:
            conn.execute(awaiting.delete().where(awaiting.c.item_id.in_(self.decided)))
        insert_rows(conn, awaiting, list(self.waiting.values()))
        if self.moved:
            replaced = self.stored_units.intersection(self.moved)
            if replaced:
                conn.execute(profile_units.delete().where(profile_units.c.profile_id.in_(replaced)))
            insert_rows(
                conn,
                profile_units,
                [{"profile_id": k, "unit_code": v} for k, v in self.moved.items()],
            )
        insert_rows(
            conn, unit_kinds, [{"unit_code": k, "kind": v} for k, v in self.new_kinds.items()]
        )


def _requests_approval_of(candidate: Positioned, recorded: Positioned) -> bool:
    event = candidate.event
    return (
        candidate.kind == "ApprovalRequested"
        and event.originator_id == recorded.event.originator_id
        and int(event.subject.get("version", 0)) == recorded.event.originator_version
    )


def _load(conn: Connection, table: Table, key: str, value: str, keys: set[str]) -> dict[str, str]:
    if not keys:
        return {}
    query = select(table.c[key], table.c[value]).where(table.c[key].in_(keys))
    return {k: v for k, v in conn.execute(query)}


def _aware(moment: datetime) -> datetime:
    result = utc(moment)
    assert result is not None
    return result


# -- queries -------------------------------------------------------------------------------


def pending_items(
    conn: Connection, limit: int | None = None, *, unit_codes: Collection[str] | None = None
) -> list[dict[str, Any]]:
    """Items not yet acknowledged, in log order (queued ones and those that failed); of
    the people of ``unit_codes`` only, if given."""
    query = select(outbox).where(outbox.c.state != SENT).order_by(outbox.c.position)
    if unit_codes is not None:
        query = query.where(outbox.c.unit_code.in_(list(unit_codes)))
    if limit is not None:
        query = query.limit(limit)
    return [dict(r._mapping) for r in conn.execute(query)]


def items(conn: Connection, profile_id: str | None = None) -> list[dict[str, Any]]:
    """Every item (of one profile), in log order."""
    query = select(outbox).order_by(outbox.c.position)
    if profile_id is not None:
        query = query.where(outbox.c.profile_id == str(profile_id))
    return [dict(r._mapping) for r in conn.execute(query)]


def summary(conn: Connection, *, unit_codes: Collection[str] | None = None) -> list[dict[str, Any]]:
    """Per unit (of ``unit_codes`` only, if given): how many items are queued, sent and
    failed, and the last acknowledgement."""
    counts = {
        state: func.sum(case((outbox.c.state == state, 1), else_=0)).label(state)
        for state in (QUEUED, SENT, FAILED)
    }
    query = (
        select(
            outbox.c.unit_code,
            *counts.values(),
            func.max(outbox.c.acknowledged_at).label("last_acknowledged_at"),
        )
        .group_by(outbox.c.unit_code)
        .order_by(outbox.c.unit_code)
    )
    if unit_codes is not None:
        query = query.where(outbox.c.unit_code.in_(list(unit_codes)))
    return [
        {
            "unit_code": r.unit_code,
            **{state: int(getattr(r, state) or 0) for state in counts},
            "last_acknowledged_at": utc(r.last_acknowledged_at),
        }
        for r in conn.execute(query)
    ]
