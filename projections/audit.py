"""Audit trail: one row per event of the log, saying who did what, to whom, when and why.

Every position of the log has exactly one row, so the trail has no gaps an inspector would
have to explain. A row names the acting account (with the role it acted in and its unit),
the aggregate the event belongs to, the person it concerns, the subject unit, the event
type, the business date it takes effect, the decision behind it and the change set.

The subject unit is the unit the event concerns:

* for a unit event, the unit's own code;
* for a profile event, the unit the record names once the event is applied. A transfer's
  release is therefore under the old unit (it is the old unit's act) and its receipt, and
  everything after, under the new one; an opening or a rehiring is under the unit that
  takes the person on.

Citizen-ID claims (saved with each opening, in the same transaction) get a row too, with
the profile they point to and that profile's unit, but neither an actor (the claim carries
none: the opening beside it does) nor an aggregate id: the claim's id is derived from the
citizen ID, and a table in clear must not hold what would give the number back.

Access records (a read of restricted values, an export, a refused attempt) name the
profile they concern, when there is one, and are under that person's unit as this model
knows it when the access was recorded, so that a person's trail and a unit's trail show
who looked at their records. Their event type says what the access was:
``Access.restricted_read``, ``Access.export``, ``Access.refused``.

The model keeps two small tables of its own so that it never reads another read model while
applying events: profile -> current unit, and unit id -> unit code.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    Column,
    Connection,
    Date,
    DateTime,
    Integer,
    MetaData,
    Select,
    String,
    Table,
    TypeDecorator,
    func,
    or_,
    select,
)

from domain.access import AccessRecord
from domain.national_sync import NationalSync
from domain.profile import CitizenIdClaim, Profile
from domain.unit import Unit
from projections.framework import Positioned, ReadModel, insert_rows
from projections.units import subtree


class UtcDateTime(TypeDecorator[datetime]):
    """An aware datetime stored as UTC and read back aware, on PostgreSQL and SQLite alike
    (SQLite keeps the wall time only, so every value is brought to UTC first)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None or value.tzinfo is UTC:
            return value
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"naive datetime {value.isoformat()!r}: give recorded times with a time zone"
            )
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


metadata = MetaData()
trail = Table(
    "rm_audit_trail",
    metadata,
    Column("position", Integer, primary_key=True),
    Column("recorded_at", UtcDateTime, nullable=False, index=True),
    Column("actor_account", String(100), index=True),
    Column("actor_role", String(40)),
    Column("actor_unit", String(40)),
    Column("aggregate_kind", String(40), nullable=False),
    Column("aggregate_id", String(36), index=True),
    Column("aggregate_version", Integer, nullable=False),
    Column("profile_id", String(36), index=True),
    Column("unit_code", String(40), index=True),
    Column("event_type", String(60), nullable=False, index=True),
    Column("effective_date", Date),
    Column("decision_number", String(100)),
    Column("change_set_id", String(36)),
)
profile_units = Table(
    "rm_audit_profile_units",
    metadata,
    Column("profile_id", String(36), primary_key=True),
    Column("unit_code", String(40), nullable=False),
)
unit_codes = Table(
    "rm_audit_unit_codes",
    metadata,
    Column("unit_id", String(36), primary_key=True),
    Column("code", String(40), nullable=False),
)

PROFILE, UNIT, CLAIM = "profile", "unit", "citizen_id_claim"
ACCESS_TYPE = "Access.{kind}"  # the event type of an access record, by its kind


def aggregate_kind(event: Any) -> str:
    if isinstance(event, Profile.Event):
        return PROFILE
    if isinstance(event, Unit.Event):
        return UNIT
    if isinstance(event, CitizenIdClaim.Event):
        return CLAIM
    return type(event).__qualname__.split(".")[0].lower()


def unit_after(p: Positioned) -> str | None:
    """The unit a profile event places the person in, if it places them anywhere."""
    code = p.values.get("employment.unit_code")
    return code if isinstance(code, str) and code else None


class AuditTrail(ReadModel):
    name = "audit"
    version = 2  # 2: access records with their profile, unit and kind
    metadata = metadata

    def apply(self, conn: Connection, events: Sequence[Positioned]) -> None:
        profile_ids: set[str] = set()
        opened_here: set[str] = set()  # no earlier event, so nothing stored about them
        unit_ids: set[str] = set()
        for p in events:
            event = p.event
            if isinstance(event, Profile.Event):
                profile_ids.add(p.originator)
                if event.originator_version == 1:
                    opened_here.add(p.originator)
            elif isinstance(event, Unit.Event):
                unit_ids.add(p.originator)
            elif (pid := _profile_id(p)) is not None:
                profile_ids.add(pid)
        units_of = _load(conn, profile_units, "profile_id", "unit_code", profile_ids - opened_here)
        codes = _load(conn, unit_codes, "unit_id", "code", unit_ids)
        stored_units, stored_codes = set(units_of), set(codes)
        moved: dict[str, str] = {}
        created: dict[str, str] = {}
        rows: list[dict[str, Any]] = []
        for p in events:
            event = p.event
            kind = aggregate_kind(event)
            subject: str | None = None
            if kind == PROFILE:
                profile_id: str | None = p.originator
                code = unit_after(p)
                if code is not None and units_of.get(p.originator) != code:
                    units_of[p.originator] = moved[p.originator] = code
                subject = units_of.get(p.originator)
            elif kind == UNIT:
                profile_id = None
                unit_id = p.originator
                code = getattr(event, "code", None) if isinstance(event, Unit.Created) else None
                if isinstance(code, str) and unit_id not in codes:
                    codes[unit_id] = created[unit_id] = code
                subject = codes.get(unit_id)
            else:
                profile_id = _profile_id(p)
                if profile_id is not None:
                    subject = units_of.get(profile_id)
            rows.append(_row(p, kind, profile_id, subject))
        insert_rows(conn, trail, rows)
        _replace(conn, profile_units, "profile_id", "unit_code", moved, stored_units)
        _replace(conn, unit_codes, "unit_id", "code", created, stored_codes)


def _profile_id(p: Positioned) -> str | None:
    event = p.event
    if isinstance(event, Profile.Event):
        return p.originator
    if isinstance(event, CitizenIdClaim.Event | AccessRecord.Event | NationalSync.Event):
        profile_id = getattr(event, "profile_id", None)
        return str(profile_id) if profile_id is not None else None
    return None


def event_type(p: Positioned) -> str:
    """The event's class name; for an access record, what the access was."""
    if isinstance(p.event, AccessRecord.Event):
        kind = getattr(p.event, "kind", None)
        if isinstance(kind, str) and kind:
            return ACCESS_TYPE.format(kind=kind)
    return p.kind


def _row(p: Positioned, kind: str, profile_id: str | None, subject: str | None) -> dict[str, Any]:
    event = p.event
    actor = getattr(event, "actor", None)
    decision = getattr(event, "decision", None)
    role = getattr(actor, "role", None)
    return {
        "position": p.position,
        "recorded_at": _aware(event.timestamp),
        "actor_account": getattr(actor, "account", None),
        "actor_role": getattr(role, "value", role),
        "actor_unit": getattr(actor, "unit_code", None) or None,
        "aggregate_kind": kind,
        "aggregate_id": None if kind == CLAIM else p.originator,
        "aggregate_version": event.originator_version,
        "profile_id": profile_id,
        "unit_code": subject,
        "event_type": event_type(p),
        "effective_date": getattr(event, "effective_date", None),
        "decision_number": getattr(decision, "number", None),
        "change_set_id": getattr(event, "change_set_id", None),
    }


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _load(conn: Connection, table: Table, key: str, value: str, keys: set[str]) -> dict[str, str]:
    if not keys:
        return {}
    query = select(table.c[key], table.c[value]).where(table.c[key].in_(keys))
    return {k: v for k, v in conn.execute(query)}


def _replace(
    conn: Connection,
    table: Table,
    key: str,
    value: str,
    values: dict[str, str],
    stored: set[str],
) -> None:
    """Write ``values`` over the rows; ``stored``: the keys that have a row already."""
    if not values:
        return
    replaced = stored.intersection(values)
    if replaced:
        conn.execute(table.delete().where(table.c[key].in_(replaced)))
    insert_rows(conn, table, [{key: k, value: v} for k, v in values.items()])


# -- queries -------------------------------------------------------------------------------


def _filtered(
    query: Select[Any],
    *,
    profile_id: UUID | str | None,
    actor: str | None,
    unit_code: str | None,
    event_type: str | None,
    recorded_from: datetime | None,
    recorded_to: datetime | None,
) -> Select[Any]:
    if profile_id is not None:
        query = query.where(trail.c.profile_id == str(profile_id))
    if actor:
        query = query.where(trail.c.actor_account == actor)
    if unit_code:
        tree = subtree(unit_code)
        query = query.where(
            or_(trail.c.unit_code == unit_code, trail.c.unit_code.in_(select(tree.c.code)))
        )
    if event_type:
        query = query.where(trail.c.event_type == event_type)
    if recorded_from is not None:
        query = query.where(trail.c.recorded_at >= _utc(recorded_from))
    if recorded_to is not None:
        query = query.where(trail.c.recorded_at < _utc(recorded_to))
    return query


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"naive datetime {moment.isoformat()!r}: give a time zone")
    return moment.astimezone(UTC)


def audit(
    conn: Connection,
    *,
    profile_id: UUID | str | None = None,
    actor: str | None = None,
    unit_code: str | None = None,
    event_type: str | None = None,
    recorded_from: datetime | None = None,
    recorded_to: datetime | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[dict[str, Any]]:
    """Rows of the trail in log order. ``actor`` is an account; ``unit_code`` takes the
    unit with every unit below it (merged units included); ``recorded_from`` is inclusive
    and ``recorded_to`` exclusive, both aware datetimes."""
    query = _filtered(
        select(trail),
        profile_id=profile_id,
        actor=actor,
        unit_code=unit_code,
        event_type=event_type,
        recorded_from=recorded_from,
        recorded_to=recorded_to,
    )
    rows = conn.execute(
        query.order_by(trail.c.position).limit(max(limit, 0)).offset(max(offset, 0))
    )
    return [dict(r._mapping) for r in rows]


def audit_count(
    conn: Connection,
    *,
    profile_id: UUID | str | None = None,
    actor: str | None = None,
    unit_code: str | None = None,
    event_type: str | None = None,
    recorded_from: datetime | None = None,
    recorded_to: datetime | None = None,
) -> int:
    """How many rows ``audit`` would page through with the same filters."""
    query = _filtered(
        select(func.count()).select_from(trail),
        profile_id=profile_id,
        actor=actor,
        unit_code=unit_code,
        event_type=event_type,
        recorded_from=recorded_from,
        recorded_to=recorded_to,
    )
    return int(conn.execute(query).scalar_one())
