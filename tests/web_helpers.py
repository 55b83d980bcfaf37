"""Helpers of the browser tests of the unit pages: what the read models hold, to compare
with what a page shows."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from projections.roster import CURRENT, people
from projections.units import units
from tests.browser import LiveServer

ROOT_UNIT = "000.00.00.H92"  # the demo province of Cần Thơ
HOME_AFFAIRS_UNIT = "000.00.01.H92"  # its Department of Home Affairs


def current(server: LiveServer) -> Any:
    svc = server.app.state.services
    svc.current(audit=True)
    return svc


def subtree_codes(conn: Any, code: str) -> set[str]:
    rows = list(conn.execute(select(units.c.code, units.c.parent_code, units.c.merged_into)))
    found, grew = {code}, True
    while grew:
        below = {c for c, parent, into in rows if (parent in found or into in found)} - found
        grew = bool(below)
        found |= below
    return found


def staff_now(server: LiveServer, code: str) -> list[dict[str, Any]]:
    svc = current(server)
    with svc.reader.connect() as conn:
        codes = subtree_codes(conn, code)
        rows = conn.execute(select(people).where(people.c.status.in_(CURRENT)))
        return [dict(r._mapping) for r in rows if r.unit_code in codes]


def figure(page: Any, what: str) -> str:
    item = page.locator(".figures li", has_text=what)
    return str(item.locator(".value").inner_text()).strip()


def names(page: Any) -> list[str]:
    return [
        n.strip() for n in page.locator("#roster-table tbody tr td:nth-child(2)").all_inner_texts()
    ]


def count(page: Any) -> int:
    return int(page.locator("#roster-count strong").inner_text().replace(".", ""))
