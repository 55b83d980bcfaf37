"""Bitemporal history: every person's periods of assignment, on business dates and as known.

One row is one period during which a person's assignment stayed the same: unit,
department, position, category, rank, salary step, coefficient, status (and name). Two
time axes:

* business time, ``valid_from``/``valid_to``: the dates the period held, half-open
  ``[valid_from, valid_to)``, ``valid_to`` NULL for a period still open;
* transaction time, ``recorded_from``/``recorded_to``: from the recording of the event
  that made the row true until the recording of the event that replaced it, NULL while it
  is current knowledge.

A departed person keeps a period too (status ``retired`` from the date on), so the
queries for staff filter on the statuses of people still on staff, as the roster does.

The timeline means what ``Ledger.profile_as_of`` means: on a day D, the record is every
event effective on or before D applied in the order recorded. So an event effective on E
sets its values on ``[E, ∞)`` over whatever the earlier events said, and leaves the days
before E alone; one effective before the opening takes effect from the opening. An event
recorded late (a step raise approved today, effective two years ago) therefore changes
the step from its date on without losing a transfer recorded before it; and when two
events set the same field, the one recorded later wins from its effective date on, as in
the approved record itself. The current rows of a person are thus all it takes to apply
the next event: the timeline is patched from the event's date, adjacent periods with the
same values merged, and compared with the current rows: rows no longer true are closed at
the event's recorded time, new ones are inserted from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Date,
    DateTime,
    Index,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    Text,
    and_,
    bindparam,
    delete,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.types import TypeDecorator

from domain.profile import Profile
from domain.vietnamese import fold, name_sort_key
from projections.facts import approved_values, status_after
from projections.framework import Positioned, ReadModel, insert_rows, seen_before, sort_key_type
from projections.roster import CURRENT
from projections.units import subtree_codes


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, stored in UTC and read back aware (SQLite keeps no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else utc(value)


def utc(moment: datetime) -> datetime:
    """An aware UTC time; a naive one is taken to be UTC already."""
    if moment.tzinfo is UTC:
        return moment
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


metadata = MetaData()
# Keyed by what the row is, not by a counter: a page applied again after a crash, or a
# rebuild, writes the very same rows. A row true for no moment at all (replaced by an
# event recorded at the same instant) is never kept, so the key is unique.
periods = Table(
    "rm_history",
    metadata,
    Column("profile_id", String(36), primary_key=True),
    Column("valid_from", Date, primary_key=True),
    Column("recorded_from", UTCDateTime(), primary_key=True),
    Column("valid_to", Date),
    Column("valid_until", Date, nullable=False),  # valid_to, or OPEN_END: one range to scan
    Column("recorded_to", UTCDateTime()),
    Column("unit_code", String(40)),
    Column("department", Text),
    Column("position", Text),
    Column("category", String(40)),
    Column("rank_code", String(40)),
    Column("salary_step", Integer),
    Column("coefficient", Numeric(6, 2)),
    Column("status", String(20)),
    Column("full_name", Text),
    Column("gender", String(10)),
    Column("birth_date", Date),
    Column("ethnicity", String(10)),
    Column("professional_level", String(40)),
    Column("political_theory", String(40)),
    Column("search_name", Text),  # fold(full_name): name words without diacritics
    Column("sort_key", sort_key_type(None)),  # name_sort_key(full_name): the staff order
    Index("ix_rm_history_unit", "unit_code", "valid_from"),
)
# Current knowledge, which the queries read unless asked about the past: in name order for
# a page of a staff list; by end of period, with what a headcount needs, for the periods
# holding on a date (read from the index alone once the table is vacuumed).
_current = periods.c.recorded_to.is_(None)
Index(
    "ix_rm_history_current_order",
    periods.c.sort_key,
    periods.c.profile_id,
    postgresql_where=_current,
    sqlite_where=_current,
)
Index(
    "ix_rm_history_current_until",
    periods.c.valid_until,
    postgresql_include=["valid_from", "status", "unit_code", "category"],
    postgresql_where=_current,
    sqlite_where=_current,
)

# The values a period holds, in this order, and the record paths that set them.
FIELDS = (
    "unit_code",
    "department",
    "position",
    "category",
    "rank_code",
    "salary_step",
    "coefficient",
    "status",
    "full_name",
    "gender",
    "birth_date",
    "ethnicity",
    "professional_level",
    "political_theory",
)
# The record group of each value that is not in the employment group.
GROUP_OF = {
    "full_name": "identity",
    "gender": "identity",
    "birth_date": "identity",
    "ethnicity": "identity",
    "professional_level": "education",
    "political_theory": "education",
}
PATHS = {
    f"{GROUP_OF.get(name, 'employment')}.{name}": i
    for i, name in enumerate(FIELDS)
    if name != "status"
}
STATUS = FIELDS.index("status")
FULL_NAME = FIELDS.index("full_name")
SALARY_STEP = FIELDS.index("salary_step")
COEFFICIENT = FIELDS.index("coefficient")
BIRTH_DATE = FIELDS.index("birth_date")
CENT = Decimal("0.01")
OPEN_END = date.max  # the valid_until of a period still open
NOTHING: tuple[Any, ...] = (None,) * len(FIELDS)

Values = tuple[Any, ...]
Period = tuple[date, date | None, Values]  # valid_from, valid_to, values


# -- applying events -------------------------------------------------------------------------


@dataclass
class Row:
    recorded_from: datetime
    recorded_to: datetime | None = None
    stored: bool = False  # already in the table (from an earlier page)


@dataclass
class Timeline:
    """One person's current rows while a page of events is applied."""

    rows: dict[Period, Row] = field(default_factory=dict)
    closed: list[tuple[Period, Row]] = field(default_factory=list)

    @property
    def start(self) -> date | None:
        return min((p[0] for p in self.rows), default=None)

    @property
    def last_recorded(self) -> datetime | None:
        return max((r.recorded_from for r in self.rows.values()), default=None)

    def apply(self, effective: date | None, changes: dict[int, Any], recorded: datetime) -> None:
        start = self.start
        if start is None:
            if effective is None:
                return  # nothing to open a timeline on (an opening always has its date)
            old: list[Period] = []
            new: list[Period] = [(effective, None, _patched(NOTHING, changes))]
        else:
            if effective is None or effective < start:
                effective = start
            old = sorted(self.rows)
            new = _coalesce(_patch(old, effective, changes))
        if new == old:
            return
        last = self.last_recorded
        if last is not None and recorded < last:
            recorded = last  # a clock that went back must not end a row before it began
        keep = set(new)
        for period in old:
            if period not in keep:
                row = self.rows.pop(period)
                row.recorded_to = recorded
                self.closed.append((period, row))
        for period in new:
            if period not in self.rows:
                self.rows[period] = Row(recorded)


def _patched(values: Values, changes: dict[int, Any]) -> Values:
    result = list(values)
    for i, value in changes.items():
        result[i] = value
    return tuple(result)


def _patch(timeline: list[Period], effective: date, changes: dict[int, Any]) -> list[Period]:
    """The timeline with the changes applied from ``effective`` on."""
    result: list[Period] = []
    for valid_from, valid_to, values in timeline:
        if valid_to is not None and valid_to <= effective:
            result.append((valid_from, valid_to, values))
            continue
        if valid_from < effective:
            result.append((valid_from, effective, values))
            valid_from = effective
        result.append((valid_from, valid_to, _patched(values, changes)))
    return result


def _coalesce(timeline: list[Period]) -> list[Period]:
    result: list[Period] = []
    for period in timeline:
        if result and result[-1][2] == period[2]:
            result[-1] = (result[-1][0], period[1], period[2])
        else:
            result.append(period)
    return result


def changes_of(event: Any) -> dict[int, Any]:
    """What an event sets, by index in FIELDS."""
    return _changes(approved_values(event), status_after(event))


def _changes(values: dict[str, Any], status: Any) -> dict[int, Any]:
    changes = {
        PATHS[path]: _clean(PATHS[path], value) for path, value in values.items() if path in PATHS
    }
    if status is not None:
        changes[STATUS] = status.value
    return changes


def _clean(index: int, value: Any) -> Any:
    """A value as the table gives it back, so that stored and new periods compare."""
    if value is None:
        return None
    if index == SALARY_STEP:
        try:
            return int(value)
        except (TypeError, ValueError):
            return None
    if index == COEFFICIENT:
        return _cents(value)
    if index == BIRTH_DATE:
        return value if isinstance(value, date) else None
    return value if isinstance(value, str) else str(getattr(value, "value", value))


def _cents(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        result = Decimal(str(value)).quantize(CENT)
    except (InvalidOperation, ValueError):
        return None
    return result if result.is_finite() and abs(result) < 10_000 else None


class History(ReadModel):
    name = "history"
    version = 3  # 2: valid_until, search_name and sort_key: staff lists in pages, in SQL
    # 3: gender, birth date, ethnicity, education and political theory: statistics as of a date
    metadata = metadata
    topics = (Profile.Event,)
    index_only = ("rm_history",)

    def apply(self, conn: Connection, events: Sequence[Positioned]) -> None:
        # A profile opened in this page has no rows yet: load only the others.
        ids, earlier = seen_before(events)
        timelines = {key: Timeline() for key in ids}
        for row in _current_rows(conn, sorted(earlier)):
            timelines[row.profile_id].rows[_period(row)] = Row(row.recorded_from, stored=True)
        for p in events:
            changes = _changes(p.values, p.status)
            if changes:
                timelines[p.originator].apply(
                    getattr(p.event, "effective_date", None), changes, utc(p.event.timestamp)
                )
        self._write(conn, timelines)

    @staticmethod
    def _write(conn: Connection, timelines: dict[str, Timeline]) -> None:
        deleted: list[dict[str, Any]] = []
        ended: list[dict[str, Any]] = []
        inserted: list[dict[str, Any]] = []
        for key, timeline in timelines.items():
            for period, row in timeline.closed:
                empty = row.recorded_to == row.recorded_from  # true for no moment: drop it
                if row.stored:
                    ident = {"k_id": key, "k_from": period[0], "k_recorded": row.recorded_from}
                    if empty:
                        deleted.append(ident)
                    else:
                        ended.append({**ident, "k_to": row.recorded_to})
                elif not empty:
                    inserted.append(_row(key, period, row))
            inserted.extend(
                _row(key, period, row) for period, row in timeline.rows.items() if not row.stored
            )
        same_row = and_(
            periods.c.profile_id == bindparam("k_id"),
            periods.c.valid_from == bindparam("k_from"),
            periods.c.recorded_from == bindparam("k_recorded"),
        )
        if deleted:
            conn.execute(delete(periods).where(same_row), deleted)
        if ended:
            conn.execute(
                update(periods).where(same_row).values(recorded_to=bindparam("k_to")), ended
            )
        insert_rows(conn, periods, inserted)


def _current_rows(conn: Connection, ids: list[str], chunk: int = 500) -> Iterable[Any]:
    for i in range(0, len(ids), chunk):
        yield from conn.execute(
            select(periods).where(
                periods.c.profile_id.in_(ids[i : i + chunk]), periods.c.recorded_to.is_(None)
            )
        )


def _period(row: Any) -> Period:
    values = tuple(_clean(i, row._mapping[name]) for i, name in enumerate(FIELDS))
    return (row.valid_from, row.valid_to, values)


@lru_cache(maxsize=4096)
def _names(full_name: str | None) -> tuple[str, str]:
    """The search name and the sort key of a name (a person's rows mostly share it)."""
    return fold(full_name or ""), name_sort_key(full_name or "")


def _row(key: str, period: Period, row: Row) -> dict[str, Any]:
    result = {
        "profile_id": key,
        "valid_from": period[0],
        "valid_to": period[1],
        "valid_until": OPEN_END if period[1] is None else period[1],
        "recorded_from": row.recorded_from,
        "recorded_to": row.recorded_to,
        **dict(zip(FIELDS, period[2], strict=True)),
    }
    result["search_name"], result["sort_key"] = _names(period[2][FULL_NAME])
    return result


# -- queries ---------------------------------------------------------------------------------


def _known(known_at: datetime | None) -> ColumnElement[bool]:
    """Rows that were current knowledge at ``known_at`` (now, when None)."""
    if known_at is None:
        return periods.c.recorded_to.is_(None)
    moment = utc(known_at)
    return and_(
        periods.c.recorded_from <= moment,
        or_(periods.c.recorded_to.is_(None), periods.c.recorded_to > moment),
    )


def _holds_on(on: date) -> ColumnElement[bool]:
    return and_(periods.c.valid_from <= on, periods.c.valid_until > on)


def _in_unit(conn: Connection, unit_code: str, subtree: bool) -> ColumnElement[bool]:
    if not subtree:
        return periods.c.unit_code == unit_code
    return periods.c.unit_code.in_(subtree_codes(conn, unit_code))


def _plain(row: Any) -> dict[str, Any]:
    result = dict(row._mapping)
    for derived in ("valid_until", "search_name", "sort_key"):
        result.pop(derived, None)
    result["coefficient"] = _cents(result.get("coefficient"))
    return result


def _on_staff(
    conn: Connection,
    unit_code: str,
    on: date,
    known_at: datetime | None,
    subtree: bool,
    q: str | None = None,
    category: str | None = None,
) -> list[ColumnElement[bool]]:
    where = [
        _in_unit(conn, unit_code, subtree),
        _holds_on(on),
        _known(known_at),
        periods.c.status.in_(CURRENT),
    ]
    for word in fold(q).split() if q else []:
        where.append(periods.c.search_name.contains(word, autoescape=True))
    if category:
        where.append(periods.c.category == category)
    return where


NAME_ORDER = (periods.c.sort_key, periods.c.profile_id)


def staff_on(
    conn: Connection,
    unit_code: str,
    on: date,
    known_at: datetime | None = None,
    subtree: bool = True,
) -> list[dict[str, Any]]:
    """The people on staff of a unit (and, with ``subtree``, of every unit below it or
    merged into it) on a business date, as known at ``known_at`` (by default now); in
    Vietnamese name order. Every one of them: for a list to show, ``staff_on_page``."""
    query = select(periods).where(*_on_staff(conn, unit_code, on, known_at, subtree))
    return [_plain(r) for r in conn.execute(query.order_by(*NAME_ORDER))]


def staff_on_page(
    conn: Connection,
    unit_code: str,
    on: date,
    known_at: datetime | None = None,
    page: int = 1,
    per_page: int = 50,
    *,
    subtree: bool = True,
    q: str | None = None,
    category: str | None = None,
) -> tuple[int, list[dict[str, Any]]]:
    """How many people ``staff_on`` finds, and one page of them in the same order;
    ``q``: name words, with or without diacritics; ``category``: one category."""
    where = _on_staff(conn, unit_code, on, known_at, subtree, q, category)
    total = conn.execute(select(func.count()).select_from(periods).where(*where)).scalar_one()
    rows = conn.execute(
        select(periods)
        .where(*where)
        .order_by(*NAME_ORDER)
        .limit(max(per_page, 0))
        .offset((max(page, 1) - 1) * max(per_page, 0))
    )
    return int(total), [_plain(r) for r in rows]


def headcount_on(
    conn: Connection, unit_code: str, on: date, known_at: datetime | None = None
) -> dict[str, int]:
    """People on staff per category in a unit and every unit below it, on a business date,
    as known at ``known_at`` (by default now)."""
    rows = conn.execute(
        select(periods.c.category, func.count())
        .where(*_on_staff(conn, unit_code, on, known_at, True))
        .group_by(periods.c.category)
    )
    return {category: int(n) for category, n in rows}


def assignments(
    conn: Connection, profile_id: str, known_at: datetime | None = None
) -> list[dict[str, Any]]:
    """A person's periods, earliest first, as known at ``known_at`` (by default now)."""
    rows = conn.execute(
        select(periods)
        .where(periods.c.profile_id == str(profile_id), _known(known_at))
        .order_by(periods.c.valid_from)
    )
    return [_plain(r) for r in rows]


def assignment_on(
    conn: Connection, profile_id: str, on: date, known_at: datetime | None = None
) -> dict[str, Any] | None:
    """A person's period holding on a business date, as known at ``known_at``; None
    before the profile's opening (or before anything about it was recorded)."""
    row = conn.execute(
        select(periods).where(
            periods.c.profile_id == str(profile_id), _holds_on(on), _known(known_at)
        )
    ).first()
    return _plain(row) if row else None
