"""Unit tree: units, their reorganisations and staffing quotas; headcount against quota."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    CTE,
    Column,
    Connection,
    Date,
    Integer,
    MetaData,
    ScalarSelect,
    String,
    Table,
    and_,
    func,
    or_,
    select,
)

from domain.unit import Unit
from projections.framework import Positioned, ReadModel, insert_rows

metadata = MetaData()
units = Table(
    "rm_units",
    metadata,
    Column("code", String(40), primary_key=True),
    Column("unit_id", String(36), nullable=False, unique=True),
    Column("name", String(300), nullable=False),
    Column("kind", String(40), nullable=False),
    Column("parent_code", String(40), index=True),
    Column("status", String(20), nullable=False),
    Column("merged_into", String(40), index=True),
    Column("created_on", Date, nullable=False),
    Column("version", Integer, nullable=False),
)
unit_changes = Table(
    "rm_unit_changes",
    metadata,
    Column("position", Integer, primary_key=True),
    Column("code", String(40), nullable=False, index=True),
    Column("change", String(40), nullable=False),
    Column("name", String(300)),
    Column("parent_code", String(40)),
    Column("merged_into", String(40)),
    Column("effective_date", Date),
    Column("decision_number", String(100)),
)
quotas = Table(
    "rm_staffing_quotas",
    metadata,
    Column("code", String(40), primary_key=True),
    Column("year", Integer, primary_key=True),
    Column("category", String(40), primary_key=True),
    Column("headcount", Integer, nullable=False),
)


class UnitTree(ReadModel):
    name = "units"
    version = 1
    metadata = metadata
    topics = (Unit.Event,)

    def apply(self, conn: Connection, events: Sequence[Positioned]) -> None:
        ids = {str(p.event.originator_id) for p in events}
        current = {
            row.unit_id: dict(row._mapping)
            for row in conn.execute(select(units).where(units.c.unit_id.in_(ids)))
        }
        changes: list[dict[str, Any]] = []
        quota_rows: dict[tuple[str, int, str], int] = {}
        for p in events:
            event, unit_id = p.event, str(p.event.originator_id)
            if isinstance(event, Unit.Created):
                row = current[unit_id] = {
                    "code": event.code,
                    "unit_id": unit_id,
                    "name": event.name,
                    "kind": event.kind.value,
                    "parent_code": event.parent_code,
                    "status": "active",
                    "merged_into": None,
                    "created_on": event.effective_date,
                }
            else:
                row = current[unit_id]
            row["version"] = event.originator_version
            if p.kind == "Renamed":
                row["name"] = event.name
            elif p.kind == "Moved":
                row["parent_code"] = event.parent_code
            elif p.kind == "Merged":
                row.update(status="merged", merged_into=event.into_code)
            elif p.kind == "Dissolved":
                row["status"] = "dissolved"
            elif p.kind == "StaffingQuotaSet":
                quota_rows[(row["code"], event.year, event.category.value)] = event.headcount
                continue
            decision = getattr(event, "decision", None)
            changes.append(
                {
                    "position": p.position,
                    "code": row["code"],
                    "change": p.kind,
                    "name": row["name"],
                    "parent_code": row["parent_code"],
                    "merged_into": row["merged_into"],
                    "effective_date": event.effective_date,
                    "decision_number": decision.number if decision else None,
                }
            )
        conn.execute(units.delete().where(units.c.unit_id.in_(ids)))
        insert_rows(conn, units, list(current.values()))
        insert_rows(conn, unit_changes, changes)
        for code, year, category in quota_rows:
            conn.execute(
                quotas.delete().where(
                    quotas.c.code == code, quotas.c.year == year, quotas.c.category == category
                )
            )
        insert_rows(
            conn,
            quotas,
            [
                {"code": c, "year": y, "category": k, "headcount": h}
                for (c, y, k), h in quota_rows.items()
            ],
        )


def subtree(code: str, name: str = "subtree") -> CTE:
    """The codes of a unit and every unit below it, including units merged into it."""
    base = select(units.c.code).where(units.c.code == code).cte(name, recursive=True)
    below = select(units.c.code).where(
        or_(units.c.parent_code == base.c.code, units.c.merged_into == base.c.code)
    )
    return base.union(below)


@dataclass(frozen=True)
class UnitMap:
    """Every unit of the read model, in memory: what ``unit`` and ``subtree`` ask the
    database, answered without it. ``fingerprint`` tells one state of the tree from
    another: the number of units and the sum of their versions (any change moves it)."""

    rows: Mapping[str, dict[str, Any]]
    below: Mapping[str, tuple[str, ...]]  # the units under each, or merged into it

    @property
    def fingerprint(self) -> tuple[int, int]:
        """What ``fingerprint_query`` reads of the read model."""
        return len(self.rows), sum(row["version"] for row in self.rows.values())

    def get(self, code: str) -> dict[str, Any] | None:
        found = self.rows.get(code)
        return dict(found) if found is not None else None

    def subtree(self, code: str) -> list[str]:
        """``subtree``: the unit and every unit below it, including units merged into it."""
        if code not in self.rows:
            return []
        found, waiting = [code], [code]
        seen = {code}
        while waiting:
            for child in self.below.get(waiting.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    found.append(child)
                    waiting.append(child)
        return found


def fingerprint_query() -> tuple[ScalarSelect[Any], ScalarSelect[Any]]:
    """``UnitMap.fingerprint`` of the unit tree the read model holds, as two scalar
    subqueries (to read beside other positions in one statement)."""
    return (
        select(func.count()).select_from(units).scalar_subquery(),
        select(func.coalesce(func.sum(units.c.version), 0)).scalar_subquery(),
    )


def unit_map(conn: Connection) -> UnitMap:
    rows = {row["code"]: row for row in unit_list(conn)}
    below: dict[str, list[str]] = {}
    for row in rows.values():
        for parent in {row["parent_code"], row["merged_into"]} - {None}:
            below.setdefault(parent, []).append(row["code"])
    return UnitMap(rows, {code: tuple(children) for code, children in below.items()})


def subtree_codes(conn: Connection, code: str) -> list[str]:
    """``subtree`` read into a list: a filter on a list of codes lets the planner use its
    statistics, where it can only guess how many rows a recursive query gives."""
    tree = subtree(code)
    return list(conn.execute(select(tree.c.code)).scalars())


def unit(conn: Connection, code: str) -> dict[str, Any] | None:
    row = conn.execute(select(units).where(units.c.code == code)).first()
    return dict(row._mapping) if row else None


def unit_history(conn: Connection, code: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(unit_changes).where(unit_changes.c.code == code).order_by(unit_changes.c.position)
    )
    return [dict(r._mapping) for r in rows]


def unit_list(conn: Connection) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in conn.execute(select(units).order_by(units.c.code))]


def headcount(conn: Connection, code: str, year: int | None = None) -> dict[str, Any]:
    """Headcount per category against the year's staffing quota, for the unit itself and
    including every unit below it."""
    from projections.roster import CURRENT, people

    year = year or date.today().year
    tree = subtree(code)
    own_units = select(units.c.code).where(or_(units.c.code == code, units.c.merged_into == code))

    def counts(scope: Any) -> dict[str, int]:
        rows = conn.execute(
            select(people.c.category, func.count())
            .where(people.c.unit_code.in_(scope), people.c.status.in_(CURRENT))
            .group_by(people.c.category)
        )
        return {category: n for category, n in rows}

    def quota(scope: Any) -> dict[str, int]:
        rows = conn.execute(
            select(quotas.c.category, func.sum(quotas.c.headcount))
            .where(and_(quotas.c.code.in_(scope), quotas.c.year == year))
            .group_by(quotas.c.category)
        )
        return {category: int(n) for category, n in rows}

    whole = select(tree.c.code)
    return {
        "code": code,
        "year": year,
        "own": {
            "headcount": counts(own_units),
            "quota": quota(select(units.c.code).where(units.c.code == code)),
        },
        "including_subunits": {"headcount": counts(whole), "quota": quota(whole)},
    }
