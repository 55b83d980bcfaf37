"""Figures over the read models for the dashboard and the unit tree: headcount against
quota for every unit at once, headcount by age band and gender, the choices a roster can
be filtered by, and the latest changes to the records of a unit subtree."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Connection, desc, func, select

from projections.audit import PROFILE, trail
from projections.roster import CURRENT, people
from projections.units import quotas, subtree

# Age bands as (first age, last age); None: no bound.
AGE_BANDS: tuple[tuple[int | None, int | None], ...] = (
    (None, 29),
    (30, 39),
    (40, 49),
    (50, 59),
    (60, None),
)

AGE_BAND_NAMES = ("Dưới 30 tuổi", "30–39 tuổi", "40–49 tuổi", "50–59 tuổi", "Từ 60 tuổi")


def age_on(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def band_of(age: int) -> int:
    for index, (low, high) in enumerate(AGE_BANDS):
        if (low is None or age >= low) and (high is None or age <= high):
            return index
    raise ValueError(age)


@dataclass(frozen=True)
class UnitFigures:
    """Staff on the roster and the year's staffing quota of one unit, by category."""

    headcount: dict[str, int]
    quota: dict[str, int]

    @property
    def staff(self) -> int:
        return sum(self.headcount.values())

    @property
    def places(self) -> int:
        return sum(self.quota.values())


def figures_by_unit(conn: Connection, year: int) -> dict[str, UnitFigures]:
    """Every unit's own headcount (staff still on the roster) and quota, by category: two
    grouped queries, whatever the number of units (the unit tree adds them up)."""
    counts: dict[str, dict[str, int]] = {}
    for code, category, n in conn.execute(
        select(people.c.unit_code, people.c.category, func.count())
        .where(people.c.status.in_(CURRENT))
        .group_by(people.c.unit_code, people.c.category)
    ):
        counts.setdefault(code, {})[category] = int(n)
    places: dict[str, dict[str, int]] = {}
    for code, category, n in conn.execute(
        select(quotas.c.code, quotas.c.category, quotas.c.headcount).where(quotas.c.year == year)
    ):
        places.setdefault(code, {})[category] = int(n)
    return {
        code: UnitFigures(counts.get(code, {}), places.get(code, {}))
        for code in set(counts) | set(places)
    }


def age_gender(conn: Connection, unit_code: str, on: date) -> list[dict[str, Any]]:
    """Staff of the unit subtree on the roster, by age band (on ``on``) and gender."""
    tree = subtree(unit_code)
    rows = conn.execute(
        select(people.c.birth_date, people.c.gender).where(
            people.c.unit_code.in_(select(tree.c.code)), people.c.status.in_(CURRENT)
        )
    )
    counted: Counter[tuple[int, str]] = Counter()
    for born, gender in rows:
        counted[(band_of(age_on(born, on)), gender)] += 1
    return [
        {
            "low": low,
            "high": high,
            "male": counted[(index, "male")],
            "female": counted[(index, "female")],
        }
        for index, (low, high) in enumerate(AGE_BANDS)
    ]


def roster_choices(conn: Connection, unit_code: str) -> dict[str, list[str]]:
    """The ranks and categories found among the staff of a unit subtree (for filters)."""
    tree = subtree(unit_code)
    where = people.c.unit_code.in_(select(tree.c.code))
    ranks = conn.execute(
        select(people.c.rank_code).where(where, people.c.rank_code.is_not(None)).distinct()
    ).scalars()
    categories = conn.execute(select(people.c.category).where(where).distinct()).scalars()
    return {"ranks": sorted(ranks), "categories": sorted(categories)}


def recent_changes(conn: Connection, unit_code: str, limit: int = 10) -> list[dict[str, Any]]:
    """The latest events of the records of people in the unit subtree (access records
    apart), newest first, with the person's name."""
    tree = subtree(unit_code)
    rows = conn.execute(
        select(trail, people.c.full_name)
        .join(people, people.c.profile_id == trail.c.profile_id, isouter=True)
        .where(trail.c.aggregate_kind == PROFILE, trail.c.unit_code.in_(select(tree.c.code)))
        .order_by(desc(trail.c.position))
        .limit(limit)
    )
    return [dict(r._mapping) for r in rows]


def rolled_up(
    unit_rows: list[dict[str, Any]], figures: dict[str, UnitFigures]
) -> dict[str, UnitFigures]:
    """Each unit's figures with every unit below it (and units merged into it) added."""
    children: dict[str, list[str]] = {}
    for row in unit_rows:
        parent = row["merged_into"] or row["parent_code"]
        if parent:
            children.setdefault(parent, []).append(row["code"])
    totals: dict[str, UnitFigures] = {}

    def total(code: str) -> UnitFigures:
        if code not in totals:
            own = figures.get(code, UnitFigures({}, {}))
            staff, places = Counter(own.headcount), Counter(own.quota)
            for child in children.get(code, []):
                below = total(child)
                staff.update(below.headcount)
                places.update(below.quota)
            totals[code] = UnitFigures(dict(staff), dict(places))
        return totals[code]

    for row in unit_rows:
        total(row["code"])
    return totals
