"""Deadline alerts: per unit, an alert for each open item of the deadline-compliance read
model (``projections.deadlines``) that falls due within two working days, and one for each
overdue item. An alert closes when its item is done (or cancelled); an item falling overdue
closes its "due soon" alert and opens an "overdue" one.

Working days are the jurisdiction's calendar (Tết, Giỗ Tổ and the swapped days off): an item
due on the first working day after Tết is due soon on the last working days before it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, Engine, func, or_, select, tuple_, update

from domain.calendar import WorkingDayCalendar
from operations.tables import alerts
from projections.deadlines import CANCELLED, DONE, OPEN, items
from projections.units import subtree

DUE_SOON, OVERDUE = "due_soon", "overdue"
DUE_SOON_WORKING_DAYS = 2  # an item due within this many working days is due soon


@dataclass(frozen=True)
class AlertChanges:
    opened: int
    closed: int

    def __str__(self) -> str:
        return f"{self.opened} alerts opened, {self.closed} closed"


def kind_on(calendar: WorkingDayCalendar, due: date, today: date) -> str | None:
    """The alert an open item due on ``due`` calls for on ``today``, if any."""
    if due < today:
        return OVERDUE
    if calendar.working_days_between(today, due) <= DUE_SOON_WORKING_DAYS:
        return DUE_SOON
    return None


def monitor_deadlines(
    engine: Engine, calendar: WorkingDayCalendar, today: date, now: datetime
) -> AlertChanges:
    """Open and close the alerts of every unit as of the business date ``today``."""
    opened = closed = 0
    with engine.begin() as conn:
        open_items = {
            (r.opened_position, r.action): r
            for r in conn.execute(select(items).where(items.c.status == OPEN))
        }
        open_alerts = conn.execute(select(alerts).where(alerts.c.closed_on.is_(None))).all()
        # The items of open alerts that are no longer open: how they ended.
        ended_keys = [
            (a.item_position, a.item_action)
            for a in open_alerts
            if (a.item_position, a.item_action) not in open_items
        ]
        ended: dict[tuple[int, str], str] = {}
        if ended_keys:
            statuses = conn.execute(
                select(items.c.opened_position, items.c.action, items.c.status).where(
                    tuple_(items.c.opened_position, items.c.action).in_(ended_keys)
                )
            )
            ended = {(r.opened_position, r.action): r.status for r in statuses}

        alerted: set[tuple[int, str, str]] = set()
        for alert in open_alerts:
            key = (alert.item_position, alert.item_action)
            item = open_items.get(key)
            because = None
            if item is None:
                status = ended.get(key)
                because = DONE if status == DONE else CANCELLED if status == CANCELLED else "gone"
            elif alert.kind == DUE_SOON and kind_on(calendar, item.due_date, today) == OVERDUE:
                because = OVERDUE
            if because is None:
                alerted.add((*key, alert.kind))
                continue
            conn.execute(
                update(alerts)
                .where(alerts.c.id == alert.id)
                .values(closed_on=today, closed_at=now, closed_because=because)
            )
            closed += 1

        candidates = []
        for key, item in open_items.items():
            kind = kind_on(calendar, item.due_date, today)
            if kind is not None and (*key, kind) not in alerted:
                candidates.append((key, kind, item))
        if candidates:
            # An alert closed once (its item done) is never opened again.
            had = {
                (r.item_position, r.item_action, r.kind)
                for r in conn.execute(
                    select(alerts.c.item_position, alerts.c.item_action, alerts.c.kind).where(
                        tuple_(alerts.c.item_position, alerts.c.item_action).in_(
                            [key for key, _, _ in candidates]
                        )
                    )
                )
            }
            rows = [
                {
                    "kind": kind,
                    "item_position": key[0],
                    "item_action": key[1],
                    "profile_id": item.profile_id,
                    "unit_code": item.unit_code,
                    "due_date": item.due_date,
                    "opened_on": today,
                    "opened_at": now,
                }
                for key, kind, item in candidates
                if (*key, kind) not in had
            ]
            if rows:
                conn.execute(alerts.insert(), rows)
                opened = len(rows)
    return AlertChanges(opened, closed)


# -- queries -------------------------------------------------------------------------------


def _in_subtree(unit_code: str) -> ColumnElement[bool]:
    tree = subtree(unit_code)
    return or_(alerts.c.unit_code == unit_code, alerts.c.unit_code.in_(select(tree.c.code)))


def unit_alerts(
    conn: Connection,
    unit_code: str | None,
    *,
    status: str = "open",
    kind: str | None = None,
    limit: int = 500,
) -> list[dict[str, Any]]:
    """Alerts of a unit and the units below it: open ones by due date, or closed ones (or
    all) newest first."""
    query = select(alerts)
    if unit_code:
        query = query.where(_in_subtree(unit_code))
    if status == "open":
        query = query.where(alerts.c.closed_on.is_(None)).order_by(alerts.c.due_date, alerts.c.id)
    else:
        if status == "closed":
            query = query.where(alerts.c.closed_on.is_not(None))
        query = query.order_by(alerts.c.id.desc())
    if kind:
        query = query.where(alerts.c.kind == kind)
    return [dict(r._mapping) for r in conn.execute(query.limit(limit))]


def open_alert_counts(conn: Connection, unit_code: str | None) -> list[dict[str, Any]]:
    """For a dashboard: per unit, its open alerts due soon and overdue."""
    query = select(
        alerts.c.unit_code,
        func.count().filter(alerts.c.kind == DUE_SOON).label("due_soon"),
        func.count().filter(alerts.c.kind == OVERDUE).label("overdue"),
    ).where(alerts.c.closed_on.is_(None))
    if unit_code:
        query = query.where(_in_subtree(unit_code))
    rows = conn.execute(query.group_by(alerts.c.unit_code).order_by(alerts.c.unit_code))
    return [
        {"unit_code": r.unit_code, "due_soon": int(r.due_soon), "overdue": int(r.overdue)}
        for r in rows
    ]
