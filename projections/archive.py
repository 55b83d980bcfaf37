"""Archive: staff who left (retired, resigned, dismissed, deceased, transferred out of the
system), kept apart from the roster and kept for good.

One row per departure from service, keyed by the log position of the departure event;
rows are never deleted. What a row says about the post (unit, category, rank, position)
is as it stood at departure. The identity summary (name, birth date, gender; never the
citizen ID) follows approved corrections, so that a corrected name is still found.

- A person who is rehired (or arrives back from outside the system) keeps the old row,
  with ``returned_on`` set; a later departure is a new row. ``current_only`` lists only
  rows without ``returned_on``: the people still departed.
- A death after departure is not a second departure: it sets ``died_on`` and
  ``death_decision_number`` on the open row and its ``status`` becomes "deceased", while
  ``departure`` keeps how the person left (retired...). Counts of departures by kind and
  period stay right, and the row shows both facts. A death in service (or while released
  between units) is itself the departure: a row with departure and status "deceased" and
  ``died_on`` equal to the departure date.

What a departure row needs (name, unit, category, rank...) is kept in a small state table
of this read model, fed from the profile events; no other read model's tables are read
while applying.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import (
    Column,
    Connection,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    func,
    select,
)

from domain.profile import Profile
from domain.values import DEPARTED_STATUSES, ProfileStatus
from domain.vietnamese import fold, name_sort_key
from projections.facts import DEPARTURES
from projections.framework import (
    Positioned,
    ReadModel,
    insert_rows,
    seen_before,
    sort_key_type,
    utc,
)
from projections.units import subtree

metadata = MetaData()
people = Table(
    "rm_archive_people",
    metadata,
    Column("profile_id", String(36), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("full_name", String(200)),
    Column("birth_date", Date),
    Column("gender", String(10)),
    Column("unit_code", String(40)),
    Column("category", String(40)),
    Column("rank_code", String(20)),
    Column("position_title", String(200)),
    Column("status", String(20), nullable=False),
)
departures_table = Table(
    "rm_archive",
    metadata,
    Column("position", Integer, primary_key=True),  # log position of the departure
    Column("profile_id", String(36), nullable=False, index=True),
    Column("full_name", String(200), nullable=False),
    Column("search_name", String(200), nullable=False),
    Column("sort_key", sort_key_type(), nullable=False),
    Column("birth_date", Date),
    Column("gender", String(10)),
    Column("unit_code", String(40), index=True),
    Column("category", String(40)),
    Column("rank_code", String(20)),
    Column("position_title", String(200)),
    Column("departure", String(20), nullable=False, index=True),  # how the person left
    Column("status", String(20), nullable=False, index=True),  # departure, or deceased
    Column("departure_date", Date, nullable=False, index=True),
    Column("decision_number", String(100)),
    Column("recorded_at", DateTime(timezone=True), nullable=False),
    Column("destination", String(300)),  # where a person transferred out of the system went
    Column("died_on", Date),
    Column("death_decision_number", String(100)),
    Column("returned_on", Date, index=True),  # rehired or back from outside the system
)

# Record path -> state column.
COLUMNS = {
    "identity.full_name": "full_name",
    "identity.birth_date": "birth_date",
    "identity.gender": "gender",
    "employment.unit_code": "unit_code",
    "employment.category": "category",
    "employment.rank_code": "rank_code",
    "employment.position": "position_title",
}
IDENTITY = ("full_name", "birth_date", "gender")
LEFT = frozenset(s.value for s in DEPARTED_STATUSES if s is not ProfileStatus.DECEASED)
DECEASED = ProfileStatus.DECEASED.value


class Archive(ReadModel):
    name = "archive"
    version = 2  # 2: sort_key compared byte by byte
    metadata = metadata
    topics = (Profile.Event,)

    def apply(self, conn: Connection, events: Sequence[Positioned]) -> None:
        _, earlier = seen_before(events)
        state: dict[str, dict[str, Any]] = {}
        if earlier:
            query = select(people).where(people.c.profile_id.in_(earlier))
            state = {row.profile_id: dict(row._mapping) for row in conn.execute(query)}
        stored = set(state)
        # Departure rows an event may change: deaths, returns and identity corrections; a
        # person first seen in this page has none yet.
        touching = {
            p.originator
            for p in events
            if p.kind in ("Died", "Rehired", "ChangeApproved") and p.originator in earlier
        }
        rows: dict[str, list[dict[str, Any]]] = {}  # profile id -> its rows, oldest first
        if touching:
            query = (
                select(departures_table)
                .where(departures_table.c.profile_id.in_(touching))
                .order_by(departures_table.c.position)
            )
            for row in conn.execute(query):
                rows.setdefault(row.profile_id, []).append(dict(row._mapping))
        before = {row["position"] for mine in rows.values() for row in mine}
        dirty: set[int] = set()
        for p in events:
            key = p.originator
            person = state.get(key)
            if person is None:
                person = state[key] = {c.name: None for c in people.columns}
                person.update(profile_id=key, status=ProfileStatus.ACTIVE.value)
            dirty |= _apply(p, person, rows.setdefault(key, []))
        if stored:
            conn.execute(people.delete().where(people.c.profile_id.in_(stored)))
        insert_rows(conn, people, list(state.values()))
        if dirty:
            written = [row for mine in rows.values() for row in mine if row["position"] in dirty]
            if dirty & before:
                conn.execute(
                    departures_table.delete().where(departures_table.c.position.in_(dirty & before))
                )
            insert_rows(conn, departures_table, written)


def _apply(p: Positioned, person: dict[str, Any], mine: list[dict[str, Any]]) -> set[int]:
    """Apply one event to a person's state and departure rows (``mine``, oldest first);
    returns the positions of the departure rows it changed."""
    event, kind = p.event, p.kind
    dirty: set[int] = set()
    still_out = [row for row in mine if row["returned_on"] is None]
    decision = getattr(event, "decision", None)
    number = decision.number if decision else None
    if kind == "Died" and person["status"] in LEFT and still_out:
        row = still_out[-1]
        row.update(status=DECEASED, died_on=event.effective_date, death_decision_number=number)
        dirty.add(row["position"])
    elif kind in DEPARTURES:
        status = p.status
        departure = status.value if status else kind.lower()
        name = person["full_name"] or ""
        mine.append(
            {
                "position": p.position,
                "profile_id": person["profile_id"],
                "full_name": name,
                "search_name": fold(name),
                "sort_key": name_sort_key(name),
                **{c: person[c] for c in COLUMNS.values() if c != "full_name"},
                "departure": departure,
                "status": departure,
                "departure_date": event.effective_date,
                "decision_number": number,
                "recorded_at": utc(event.timestamp),
                "destination": getattr(event, "destination", None),
                "died_on": event.effective_date if kind == "Died" else None,
                "death_decision_number": number if kind == "Died" else None,
                "returned_on": None,
            }
        )
        dirty.add(p.position)
    elif kind == "Rehired":
        for row in still_out:
            row["returned_on"] = event.effective_date
            dirty.add(row["position"])
    for path, value in p.values.items():
        column = COLUMNS.get(path)
        if column is not None:
            person[column] = value
    if kind == "ChangeApproved" and any(
        COLUMNS.get(c.get("path", "")) in IDENTITY for c in event.changes
    ):
        name = person["full_name"] or ""
        for row in mine:
            row.update(
                full_name=name,
                search_name=fold(name),
                sort_key=name_sort_key(name),
                **{c: person[c] for c in IDENTITY if c != "full_name"},
            )
            dirty.add(row["position"])
    status = p.status
    if status is not None:
        person["status"] = status.value
    person["version"] = event.originator_version
    return dirty


# -- queries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ArchivePage:
    total: int
    page: int
    per_page: int
    rows: list[dict[str, Any]]


def archive(
    conn: Connection,
    *,
    unit_code: str | None = None,
    status: str | None = None,
    departure: str | None = None,
    departed_from: date | None = None,
    departed_to: date | None = None,
    q: str | None = None,
    current_only: bool = True,
    page: int = 1,
    per_page: int = 50,
) -> ArchivePage:
    """Departures, the latest first.

    ``unit_code``: the unit the person left, with every unit below it (and units merged
    into it); ``status``: the status now (a retiree who died since is "deceased");
    ``departure``: how the person left; ``departed_from``/``departed_to``: the departure
    date, both inclusive; ``q``: name words, with or without diacritics;
    ``current_only``: leave out departures the person came back from.
    """
    query = select(departures_table)
    if unit_code:
        tree = subtree(unit_code)
        query = query.where(departures_table.c.unit_code.in_(select(tree.c.code)))
    if status:
        query = query.where(departures_table.c.status == status)
    if departure:
        query = query.where(departures_table.c.departure == departure)
    if departed_from is not None:
        query = query.where(departures_table.c.departure_date >= departed_from)
    if departed_to is not None:
        query = query.where(departures_table.c.departure_date <= departed_to)
    if q:
        for word in fold(q).split():
            query = query.where(departures_table.c.search_name.contains(word, autoescape=True))
    if current_only:
        query = query.where(departures_table.c.returned_on.is_(None))
    total = conn.execute(select(func.count()).select_from(query.subquery())).scalar_one()
    rows = conn.execute(
        query.order_by(
            departures_table.c.departure_date.desc(),
            departures_table.c.sort_key,
            departures_table.c.position,
        )
        .limit(per_page)
        .offset((max(page, 1) - 1) * per_page)
    )
    return ArchivePage(total, page, per_page, [_plain(r._mapping) for r in rows])


def departures(conn: Connection, profile_id: str) -> list[dict[str, Any]]:
    """Every departure of one person, in the order they happened."""
    rows = conn.execute(
        select(departures_table)
        .where(departures_table.c.profile_id == str(profile_id))
        .order_by(departures_table.c.position)
    )
    return [_plain(r._mapping) for r in rows]


def _plain(row: Any) -> dict[str, Any]:
    result = dict(row)
    result.pop("search_name", None)
    result.pop("sort_key", None)
    result["recorded_at"] = utc(result["recorded_at"])
    return result
