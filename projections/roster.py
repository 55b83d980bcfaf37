"""Roster: every person's current approved values; the roster shows those still on staff.

Pending changes never reach this table: only opening, approved change sets and status
transitions do.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Date,
    Integer,
    MetaData,
    Numeric,
    String,
    Table,
    func,
    select,
)

from domain.profile import Profile
from domain.rules import years_after
from domain.values import DEPARTED_STATUSES, ProfileStatus
from domain.vietnamese import fold, name_sort_key
from projections.framework import Positioned, ReadModel, insert_rows, seen_before, sort_key_type
from projections.units import subtree_codes

metadata = MetaData()
people = Table(
    "rm_roster",
    metadata,
    Column("profile_id", String(36), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("full_name", String(200), nullable=False),
    Column("search_name", String(200), nullable=False),
    Column("sort_key", sort_key_type(), nullable=False, index=True),
    Column("unit_code", String(40), nullable=False, index=True),
    Column("department", String(200)),
    Column("position", String(200)),
    Column("category", String(40), nullable=False),
    Column("job_position_code", String(40)),
    Column("rank_code", String(20)),
    Column("salary_step", Integer),
    Column("coefficient", Numeric(6, 2)),
    Column("birth_date", Date, nullable=False),
    Column("gender", String(10), nullable=False),
    Column("ethnicity", String(10)),
    Column("start_date", Date),
    Column("status", String(20), nullable=False, index=True),
)

CURRENT = tuple(s.value for s in ProfileStatus if s not in DEPARTED_STATUSES)
# Record path -> roster column.
COLUMNS = {
    "identity.full_name": "full_name",
    "identity.birth_date": "birth_date",
    "identity.gender": "gender",
    "identity.ethnicity": "ethnicity",
    **{
        f"employment.{c}": c
        for c in (
            "unit_code",
            "department",
            "position",
            "category",
            "job_position_code",
            "rank_code",
            "salary_step",
            "coefficient",
            "start_date",
        )
    },
}


class Roster(ReadModel):
    name = "roster"
    version = 2  # 2: sort_key compared byte by byte
    metadata = metadata
    topics = (Profile.Event,)

    def apply(self, conn: Connection, events: Sequence[Positioned]) -> None:
        _, earlier = seen_before(events)
        rows: dict[str, dict[str, Any]] = {}
        if earlier:
            query = select(people).where(people.c.profile_id.in_(earlier))
            rows = {row.profile_id: dict(row._mapping) for row in conn.execute(query)}
        stored = set(rows)
        blank = dict.fromkeys(c.name for c in people.columns)
        for p in events:
            key = p.originator
            row = rows.get(key)
            if row is None:
                row = rows[key] = {**blank, "profile_id": key}
            for path, value in p.values.items():
                column = COLUMNS.get(path)
                if column is not None:
                    row[column] = value
            status = p.status
            if status is not None:
                row["status"] = status.value
            row["version"] = p.event.originator_version
        for row in rows.values():
            row["search_name"] = fold(row["full_name"])
            row["sort_key"] = name_sort_key(row["full_name"])
        if stored:
            conn.execute(people.delete().where(people.c.profile_id.in_(stored)))
        insert_rows(conn, people, list(rows.values()))


@dataclass(frozen=True)
class RosterFilter:
    unit_code: str | None = None  # with every unit below it
    q: str | None = None  # name, with or without diacritics
    category: str | None = None
    rank_code: str | None = None
    status: str | None = None  # one status; by default everyone still on staff
    gender: str | None = None
    age_from: int | None = None
    age_to: int | None = None
    on: date | None = None  # the date ages are counted on


@dataclass(frozen=True)
class RosterPage:
    total: int
    page: int
    per_page: int
    rows: list[dict[str, Any]]


def roster(
    conn: Connection,
    f: RosterFilter,
    page: int = 1,
    per_page: int = 50,
    *,
    unit_codes: Sequence[str] | None = None,
) -> RosterPage:
    """``unit_codes``: ``f.unit_code`` and the units below it, when the caller has them at
    hand (otherwise they are read from the unit tree)."""
    query = select(people)
    if f.unit_code:
        codes = subtree_codes(conn, f.unit_code) if unit_codes is None else unit_codes
        query = query.where(people.c.unit_code.in_(codes))
    if f.q:
        for word in fold(f.q).split():
            query = query.where(people.c.search_name.contains(word, autoescape=True))
    if f.status:
        query = query.where(people.c.status == f.status)
    else:
        query = query.where(people.c.status.in_(CURRENT))
    for column, value in (
        ("category", f.category),
        ("rank_code", f.rank_code),
        ("gender", f.gender),
    ):
        if value:
            query = query.where(people.c[column] == value)
    on = f.on or date.today()
    if f.age_from is not None:
        query = query.where(people.c.birth_date <= years_after(on, -f.age_from))
    if f.age_to is not None:
        query = query.where(people.c.birth_date > years_after(on, -(f.age_to + 1)))
    total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = conn.execute(
        query.order_by(people.c.sort_key, people.c.profile_id)
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    )
    return RosterPage(total, page, per_page, [_plain(r._mapping) for r in rows])


def _plain(row: Any) -> dict[str, Any]:
    result = dict(row)
    result.pop("search_name", None)
    result.pop("sort_key", None)
    if isinstance(result.get("coefficient"), Decimal | float):
        result["coefficient"] = Decimal(str(result["coefficient"])).quantize(Decimal("0.01"))
    return result
