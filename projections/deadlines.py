"""Deadline compliance: each act the jurisdiction gives a deadline in working days, with the
date counted from, the due date, when it was done and whether it was late.

The acts and the events that show them:

================  ======================================  ==============================
action            opened by                               done by
================  ======================================  ==============================
new_record        Opened                                  the same event
state_decision    ChangeApproved carrying a decision      the same event
in_unit_move      MovedWithinUnit                         the same event
transfer_out      TransferReleased                        the same event
transfer_in       TransferReleased                        TransferReceived
transfer_max      TransferReleased                        TransferReceived
status_change     Retired, Resigned, Dismissed, Died,     the same event
                  TransferredOutOfSystem
change_approval   ChangeProposed                          ChangeApproved, ChangeRejected
================  ======================================  ==============================

An act is done on the business date (Asia/Ho_Chi_Minh) of the time its event was recorded,
and late when that date is after the due date. The due date is ``add_working_days(start,
days)``: 0 days is the start itself when it is a working day, else the next working day.
Where the jurisdiction gives no deadline for an action, no row is written.

The date counted from follows ``jurisdiction.deadline_start(action)``:

* ``decision_effective``, ``change_occurred``, ``request_received``: the event's effective
  date (the ledger records no separate request, so the transfer taking effect stands for it);
* ``decision_signed``: the date the event's decision was signed (transfer_max: the
  transfer decision), except for new_record, counted from the start date: a profile cannot
  be opened before the person starts (``Profile.open`` refuses a future start date), so
  counting from the recruitment decision would make records late by construction;
* ``record_handover``, ``record_received``: the day the released record reaches the new
  unit on the software, i.e. the business date the release was recorded, or its effective
  date when that is later (a receipt is not due before the transfer takes effect).

A change approval is counted from the business date the change was entered (the chain's
first level counts "from the employee's entry"). Its working days are the sum of the
levels of the approval chain for the kind of the person's unit when every level has a
deadline, else the jurisdiction's ``change_approval_working_days``; with neither (a monthly
signing window instead) there is no row.

Open items (a transfer not yet received, a change not yet decided) have no done date. A
transfer that can no longer be received, because the person left the system or died while
released, is closed as ``cancelled``: neither on time nor late.

The model keeps two small tables of its own, so that it never reads another read model while
applying events: profile -> current unit, and unit code -> unit kind (from Unit.Created).
Due dates depend on the jurisdiction and on the calendar settings (extra days off, worked
Saturdays): after changing either, rebuild this read model.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Boolean,
    Column,
    ColumnElement,
    Connection,
    Date,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    bindparam,
    case,
    func,
    or_,
    select,
    update,
)

from domain.calendar import to_business_date
from domain.jurisdiction import DEFAULT_CHAIN
from domain.profile import Profile
from domain.unit import Unit
from domain.values import DeadlineAction
from projections.framework import Positioned, ReadModel, insert_rows, seen_before
from projections.units import subtree

log = logging.getLogger(__name__)

A = DeadlineAction
CHANGE_APPROVAL = "change_approval"
OPEN, DONE, CANCELLED = "open", "done", "cancelled"

# Acts done by the very event that calls for them.
DONE_AT_ONCE: dict[str, DeadlineAction] = {
    "Opened": A.NEW_RECORD,
    "MovedWithinUnit": A.IN_UNIT_MOVE,
    "TransferReleased": A.TRANSFER_OUT,
    "Retired": A.STATUS_CHANGE,
    "Resigned": A.STATUS_CHANGE,
    "Dismissed": A.STATUS_CHANGE,
    "Died": A.STATUS_CHANGE,
    "TransferredOutOfSystem": A.STATUS_CHANGE,
}
# Acts a release opens for the new unit, done when it receives the person.
TRANSFER_ITEMS = (A.TRANSFER_IN, A.TRANSFER_MAX)
TRANSFER_ACTIONS = frozenset(a.value for a in TRANSFER_ITEMS)
# Events after which a released person can no longer be received.
TRANSFER_ENDS = frozenset({"TransferredOutOfSystem", "Died"})

metadata = MetaData()
items = Table(
    "rm_deadline_items",
    metadata,
    Column("opened_position", Integer, primary_key=True),  # the event that called for it
    Column("action", String(40), primary_key=True),
    Column("profile_id", String(36), nullable=False, index=True),
    Column("unit_code", String(40), index=True),  # the unit that has to act
    Column("opened_by", String(60), nullable=False),
    Column("change_set_id", String(36)),
    Column("decision_number", String(100)),
    Column("start_date", Date, nullable=False),
    Column("working_days", Integer, nullable=False),
    Column("due_date", Date, nullable=False),
    Column("status", String(12), nullable=False),  # open | done | cancelled
    Column("done_on", Date),
    Column("done_position", Integer),
    Column("closed_by", String(60)),
    Column("late", Boolean),  # set when done
    Index("ix_rm_deadline_items_status_due", "status", "due_date"),
)
profile_units = Table(
    "rm_deadline_profile_units",
    metadata,
    Column("profile_id", String(36), primary_key=True),
    Column("unit_code", String(40), nullable=False),
)
unit_kinds = Table(
    "rm_deadline_unit_kinds",
    metadata,
    Column("code", String(40), primary_key=True),
    Column("kind", String(40), nullable=False),
)

Key = tuple[int, str]


class DeadlineCompliance(ReadModel):
    name = "deadlines"
    version = 1
    metadata = metadata
    topics = (Profile.Event, Unit.Created)

    def configuration(self) -> str:
        """Due dates depend on the jurisdiction and the configured days off and working
        days: a change to any of them rebuilds this read model."""
        settings = self.ledger.settings
        basis = "|".join(
            (settings.jurisdiction, settings.extra_days_off, settings.extra_working_days)
        )
        return hashlib.sha256(basis.encode()).hexdigest()[:16]

    def apply(self, conn: Connection, events: Sequence[Positioned]) -> None:
        batch = _Batch.load(conn, events)
        for p in events:
            if isinstance(p.event, Unit.Created):
                code, kind = getattr(p.event, "code", None), getattr(p.event, "kind", None)
                if isinstance(code, str) and kind is not None and code not in batch.kinds:
                    batch.kinds[code] = batch.new_kinds[code] = str(getattr(kind, "value", kind))
            else:
                self._profile_event(batch, p)
        batch.save(conn)

    # -- one profile event -----------------------------------------------------------------

    def _profile_event(self, batch: _Batch, p: Positioned) -> None:
        event, name = p.event, p.kind
        profile_id = p.originator
        recorded = _business_date(event.timestamp)

        if name in ("ChangeApproved", "ChangeRejected"):
            change_set_id = getattr(event, "change_set_id", None)
            for item in batch.open_items(profile_id):
                if item["action"] == CHANGE_APPROVAL and item["change_set_id"] == change_set_id:
                    batch.close(item, p, recorded, DONE)
        elif name == "TransferReceived" or name in TRANSFER_ENDS:
            status = DONE if name == "TransferReceived" else CANCELLED
            for item in batch.open_items(profile_id):
                if item["action"] in TRANSFER_ACTIONS:
                    batch.close(item, p, recorded, status)

        code = p.values.get("employment.unit_code")
        if isinstance(code, str) and code and batch.units.get(profile_id) != code:
            batch.units[profile_id] = batch.moved[profile_id] = code
        unit = batch.units.get(profile_id)

        action = DONE_AT_ONCE.get(name)
        if action is None and name == "ChangeApproved" and getattr(event, "decision", None):
            action = A.STATE_DECISION
        if action is not None:
            start = self._start(action, p, recorded)
            done = self._item(p, action.value, profile_id, unit, start)
            if done is not None:
                batch.close(done, p, recorded, DONE)

        opened: list[dict[str, Any] | None] = []
        if name == "TransferReleased":
            to_unit = getattr(event, "to_unit_code", None) or unit
            for action in TRANSFER_ITEMS:
                start = self._start(action, p, recorded)
                opened.append(self._item(p, action.value, profile_id, to_unit, start))
        elif name == "ChangeProposed":
            days = self._approval_days(batch.kinds.get(unit or ""))
            opened.append(self._item(p, CHANGE_APPROVAL, profile_id, unit, recorded, days))
        for row in opened:
            if row is not None:
                batch.add(row)

    # -- the rules of the jurisdiction -----------------------------------------------------

    def _start(self, action: DeadlineAction, p: Positioned, recorded: date) -> date:
        event = p.event
        effective = getattr(event, "effective_date", None)
        if not isinstance(effective, date):
            effective = recorded
        if action is A.NEW_RECORD:
            return effective
        start = self.ledger.jurisdiction.deadline_start(action)
        if start == "decision_signed":
            signed = getattr(getattr(event, "decision", None), "signed_on", None)
            return signed if isinstance(signed, date) else effective
        if start in ("record_handover", "record_received"):
            return max(effective, recorded)
        if start == "employee_entry":
            return recorded
        return effective

    def _approval_days(self, kind: str | None) -> int | None:
        jurisdiction = self.ledger.jurisdiction
        chains = jurisdiction.approval_chains
        chain = chains.get(kind or DEFAULT_CHAIN) or chains.get(DEFAULT_CHAIN) or []
        days = [level.working_days for level in chain]
        if days and all(d is not None for d in days):
            return sum(d for d in days if d is not None)
        return jurisdiction.change_approval_working_days

    def _item(
        self,
        p: Positioned,
        action: str,
        profile_id: str,
        unit: str | None,
        start: date,
        days: int | None = None,
    ) -> dict[str, Any] | None:
        if days is None and action != CHANGE_APPROVAL:
            days = self.ledger.jurisdiction.deadline(DeadlineAction(action))
        if days is None:
            return None
        try:
            due = self.ledger.calendar.add_working_days(start, days)
        except (ValueError, TypeError) as exc:
            log.warning("no %s deadline for event %s: %s", action, p.position, exc)
            return None
        decision = getattr(p.event, "decision", None)
        return {
            "opened_position": p.position,
            "action": action,
            "profile_id": profile_id,
            "unit_code": unit,
            "opened_by": p.kind,
            "change_set_id": getattr(p.event, "change_set_id", None),
            "decision_number": getattr(decision, "number", None),
            "start_date": start,
            "working_days": days,
            "due_date": due,
            "status": OPEN,
            "done_on": None,
            "done_position": None,
            "closed_by": None,
            "late": None,
        }


class _Batch:
    """What one page of events reads and writes: the open items and the state of the
    profiles it touches, and the units' kinds."""

    def __init__(self) -> None:
        self.open: dict[str, dict[Key, dict[str, Any]]] = {}  # profile id -> open items
        self.existing: set[Key] = set()  # items already in the table
        self.rows: dict[Key, dict[str, Any]] = {}  # items to insert or update
        self.units: dict[str, str] = {}
        self.stored_units: set[str] = set()  # profiles with a row in profile_units
        self.moved: dict[str, str] = {}
        self.kinds: dict[str, str] = {}
        self.new_kinds: dict[str, str] = {}

    @classmethod
    def load(cls, conn: Connection, events: Sequence[Positioned]) -> _Batch:
        batch = cls()
        # A profile opened in this page has nothing stored yet: load only the others.
        _, ids = seen_before(p for p in events if isinstance(p.event, Profile.Event))
        if ids:
            query = select(items).where(items.c.status == OPEN, items.c.profile_id.in_(ids))
            for row in conn.execute(query):
                item = dict(row._mapping)
                key = (item["opened_position"], item["action"])
                batch.existing.add(key)
                batch.open.setdefault(item["profile_id"], {})[key] = item
            query = select(profile_units).where(profile_units.c.profile_id.in_(ids))
            batch.units = {r.profile_id: r.unit_code for r in conn.execute(query)}
            batch.stored_units = set(batch.units)
        codes = set(batch.units.values())
        for p in events:
            code = (
                getattr(p.event, "code", None)
                if isinstance(p.event, Unit.Created)
                else p.values.get("employment.unit_code")
            )
            if isinstance(code, str):
                codes.add(code)
        if codes:
            query = select(unit_kinds).where(unit_kinds.c.code.in_(codes))
            batch.kinds = {r.code: r.kind for r in conn.execute(query)}
        return batch

    def open_items(self, profile_id: str) -> list[dict[str, Any]]:
        return list(self.open.get(profile_id, {}).values())

    def add(self, row: dict[str, Any]) -> None:
        key = (row["opened_position"], row["action"])
        self.rows[key] = row
        if row["status"] == OPEN:
            self.open.setdefault(row["profile_id"], {})[key] = row

    def close(self, row: dict[str, Any], p: Positioned, on: date, status: str) -> None:
        row.update(
            status=status,
            done_on=on,
            done_position=p.position,
            closed_by=p.kind,
            late=on > row["due_date"] if status == DONE else None,
        )
        key = (row["opened_position"], row["action"])
        self.open.get(row["profile_id"], {}).pop(key, None)
        self.rows[key] = row

    def save(self, conn: Connection) -> None:
        new = [row for key, row in self.rows.items() if key not in self.existing]
        closed = [
            {
                "key_position": row["opened_position"],
                "key_action": row["action"],
                **{c: row[c] for c in ("status", "done_on", "done_position", "closed_by", "late")},
            }
            for key, row in self.rows.items()
            if key in self.existing
        ]
        insert_rows(conn, items, new)
        if closed:
            conn.execute(
                update(items).where(
                    items.c.opened_position == bindparam("key_position"),
                    items.c.action == bindparam("key_action"),
                ),
                closed,
            )
        if self.moved:
            replaced = self.stored_units.intersection(self.moved)
            if replaced:
                conn.execute(profile_units.delete().where(profile_units.c.profile_id.in_(replaced)))
            insert_rows(
                conn,
                profile_units,
                [{"profile_id": k, "unit_code": v} for k, v in self.moved.items()],
            )
        if self.new_kinds:
            conn.execute(unit_kinds.delete().where(unit_kinds.c.code.in_(self.new_kinds)))
            insert_rows(
                conn, unit_kinds, [{"code": k, "kind": v} for k, v in self.new_kinds.items()]
            )


def _business_date(moment: datetime) -> date:
    if moment.tzinfo is None or moment.utcoffset() is None:
        moment = moment.replace(tzinfo=UTC)  # recorded times are UTC
    return to_business_date(moment)


# -- queries -------------------------------------------------------------------------------


def _in_subtree(unit_code: str) -> ColumnElement[bool]:
    tree = subtree(unit_code)
    return or_(items.c.unit_code == unit_code, items.c.unit_code.in_(select(tree.c.code)))


def deadline_items(
    conn: Connection,
    *,
    unit_code: str | None = None,
    action: DeadlineAction | str | None = None,
    late: bool | None = None,
    open_only: bool = False,
    profile_id: UUID | str | None = None,
) -> list[dict[str, Any]]:
    """Items by due date. ``unit_code`` takes the unit with every unit below it (merged
    units included); ``action`` is a DeadlineAction or ``"change_approval"``; ``late``
    True/False keeps the items done late/on time (open and cancelled items are neither)."""
    query = select(items)
    if unit_code:
        query = query.where(_in_subtree(unit_code))
    if action is not None:
        query = query.where(items.c.action == getattr(action, "value", action))
    if late is not None:
        query = query.where(items.c.status == DONE, items.c.late.is_(late))
    if open_only:
        query = query.where(items.c.status == OPEN)
    if profile_id is not None:
        query = query.where(items.c.profile_id == str(profile_id))
    rows = conn.execute(query.order_by(items.c.due_date, items.c.opened_position, items.c.action))
    return [dict(r._mapping) for r in rows]


def overdue(conn: Connection, on: date, unit_code: str | None = None) -> list[dict[str, Any]]:
    """Open items whose due date is before ``on``, the longest overdue first."""
    query = select(items).where(items.c.status == OPEN, items.c.due_date < on)
    if unit_code:
        query = query.where(_in_subtree(unit_code))
    rows = conn.execute(query.order_by(items.c.due_date, items.c.opened_position, items.c.action))
    return [dict(r._mapping) for r in rows]


def summary_by_unit(
    conn: Connection, on: date, unit_code: str | None = None
) -> list[dict[str, Any]]:
    """Per unit that has items: done on time, done late, open and overdue on ``on``, open
    and not yet overdue. Items are counted under the unit that has to act, not rolled up to
    the units above it; ``unit_code`` keeps the units of that subtree."""

    def count(*conditions: ColumnElement[bool]) -> Any:
        return func.sum(case((and_(*conditions), 1), else_=0))

    query = select(
        items.c.unit_code,
        count(items.c.status == DONE, items.c.late.is_(False)).label("done_on_time"),
        count(items.c.status == DONE, items.c.late.is_(True)).label("done_late"),
        count(items.c.status == OPEN, items.c.due_date < on).label("open_overdue"),
        count(items.c.status == OPEN, items.c.due_date >= on).label("open_not_due"),
    ).group_by(items.c.unit_code)
    if unit_code:
        query = query.where(_in_subtree(unit_code))
    return [
        {
            "unit_code": r.unit_code,
            "done_on_time": int(r.done_on_time or 0),
            "done_late": int(r.done_late or 0),
            "open_overdue": int(r.open_overdue or 0),
            "open_not_due": int(r.open_not_due or 0),
        }
        for r in conn.execute(query.order_by(items.c.unit_code))
    ]
