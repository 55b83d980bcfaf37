"""On the demo province, the roster on any past date equals a replay of the events effective
up to that date, and today's roster equals the profiles themselves."""

from __future__ import annotations

from datetime import date

from domain.application import Ledger
from domain.profile import Profile
from domain.values import DEPARTED_STATUSES
from projections.framework import Projector
from projections.history import headcount_on, staff_on
from projections.roster import RosterFilter, roster
from projections.units import unit_list
from scripts.demo import generate

DATES = (date(2003, 6, 30), date(2012, 12, 31), date(2020, 1, 1), date(2024, 12, 31))


def _profile_ids(ledger: Ledger) -> list[str]:
    ids: dict[str, None] = {}
    for n in ledger.recorder.select_notifications(start=1, limit=1_000_000):
        event = ledger.mapper.to_domain_event(n)
        if isinstance(event, Profile.Event):
            ids[str(event.originator_id)] = None
    return list(ids)


def test_roster_as_of_past_dates_matches_a_replay(ledger: Ledger, projector: Projector) -> None:
    generate(ledger, people=200, seed=11)
    projector.catch_up()
    profile_ids = _profile_ids(ledger)
    with projector.engine.connect() as conn:
        root = next(u["code"] for u in unit_list(conn) if u["kind"] == "authority")
        for day in DATES:
            expected: dict[str, tuple[str, str]] = {}
            for pid in profile_ids:
                then = ledger.profile_as_of(pid, day)
                if then is not None and then.status not in DEPARTED_STATUSES:
                    employment = then.record["employment"]
                    expected[pid] = (employment["unit_code"], then.status.value)
            found = {
                r["profile_id"]: (r["unit_code"], r["status"]) for r in staff_on(conn, root, day)
            }
            assert found == expected, day
            assert sum(headcount_on(conn, root, day).values()) == len(expected)
        assert len(expected) > 100  # the province is staffed on the last date

        now = roster(conn, RosterFilter(unit_code=root), per_page=1000)
        current = {
            pid for pid in profile_ids if ledger.profile(pid).status not in DEPARTED_STATUSES
        }
        assert {r["profile_id"] for r in now.rows} == current
        assert now.total == len(current)
