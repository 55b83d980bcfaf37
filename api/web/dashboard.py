"""The dashboard: for the unit subtree the account may read, headcount by category and by
unit against the staffing quota, what waits for this person's signature, overdue
deadlines, the latest changes, and the staff by age band and gender."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from sqlalchemy import select

from api.deps import Services, services
from api.policy import Action, Principal, decide
from api.routers.approvals import inbox
from api.routers.units import readable_unit
from api.web.charts import age_pyramid, band_label
from api.web.page import HOME_PATH, NavItem, SignedIn, render
from operations.alerts import open_alert_counts, unit_alerts
from projections.deadlines import overdue
from projections.roster import people
from projections.statistics import (
    UnitFigures,
    age_gender,
    figures_by_unit,
    recent_changes,
    rolled_up,
)
from projections.units import unit_list

router = APIRouter(include_in_schema=False)
NAV = (NavItem("Tổng quan", HOME_PATH, 10, lambda principal: True),)

OVERDUE_SHOWN = 10
ALERTS_SHOWN = 15


def scope_roots(principal: Principal) -> list[str]:
    """The units at the top of the account's grants that allow reading units, in grant
    order, without a unit that another of them covers."""
    readers = [
        g
        for g in principal.grants
        if decide(replace(principal, grants=(g,)), Action.READ_UNIT, unit_code=g.unit_code)
    ]
    codes = list(dict.fromkeys(g.unit_code for g in readers))
    return [c for c in codes if not any(c in g.scope and g.unit_code != c for g in readers)]


def percent(staff: int, places: int) -> int | None:
    return round(100 * staff / places) if places else None


def _figures(svc: Services, principal: Principal, code: str) -> dict[str, Any]:
    today = svc.ledger.today()
    with svc.reader.connect() as conn:
        units = unit_list(conn)
        totals = rolled_up(units, figures_by_unit(conn, today.year))
        ages = age_gender(conn, code, today)
        late = overdue(conn, today, code)
        recent = (
            recent_changes(conn, code)
            if decide(principal, Action.READ_PROFILE, unit_code=code)
            else []
        )
        alerts = _alerts(conn, principal, code)
    names = {u["code"]: u["name"] for u in units}
    children = [
        {
            "code": u["code"],
            "name": u["name"],
            "figures": totals.get(u["code"], UnitFigures({}, {})),
        }
        for u in units
        if u["parent_code"] == code and u["status"] == "active"
    ]
    children.sort(key=lambda c: (-c["figures"].staff, c["code"]))
    whole = totals.get(code, UnitFigures({}, {}))
    categories = sorted(set(whole.headcount) | set(whole.quota))
    return {
        "whole": whole,
        "categories": [
            {
                "category": c,
                "staff": whole.headcount.get(c, 0),
                "places": whole.quota.get(c, 0),
                "percent": percent(whole.headcount.get(c, 0), whole.quota.get(c, 0)),
            }
            for c in categories
        ],
        "children": children,
        "ages": [{**row, "label": band_label(row)} for row in ages],
        "chart": age_pyramid(ages),
        "overdue": late[:OVERDUE_SHOWN],
        "overdue_total": len(late),
        "recent": recent,
        "names": names,
        **alerts,
    }


def _alerts(conn: Any, principal: Principal, code: str) -> dict[str, Any]:
    """The open deadline alerts of the subtree (due soon, overdue), with the person's name
    where the account may read the profile."""
    counts = open_alert_counts(conn, code)
    shown = unit_alerts(conn, code, limit=ALERTS_SHOWN)
    ids = {a["profile_id"] for a in shown}
    full_names: dict[str, str] = {}
    if ids:
        query = select(people.c.profile_id, people.c.full_name).where(
            people.c.profile_id.in_(sorted(ids))
        )
        full_names = {r.profile_id: r.full_name for r in conn.execute(query)}
    for alert in shown:
        readable = decide(principal, Action.READ_PROFILE, unit_code=alert["unit_code"])
        alert["full_name"] = full_names.get(alert["profile_id"]) if readable else None
    return {
        "alerts": shown,
        "alerts_total": sum(c["due_soon"] + c["overdue"] for c in counts),
        "alerts_overdue": sum(c["overdue"] for c in counts),
    }


@router.get(HOME_PATH)
async def dashboard(request: Request, caller: SignedIn, unit: str | None = None) -> Response:
    svc = services(request)
    principal = caller.principal
    roots = scope_roots(principal)
    context: dict[str, Any] = {"roots": [], "shortcuts": []}
    if unit is None and not roots:
        # An account that reads no unit (a personal account): where it may go from here.
        context["shortcuts"] = [
            item for item in request.app.state.web_nav if item.allowed(principal)
        ][1:]
        return render(request, "dashboard.html", caller, context)

    def gather() -> dict[str, Any]:
        found = readable_unit(svc, principal, unit or roots[0])
        figures = _figures(svc, principal, found["code"])
        waiting = inbox(principal, svc)["items"] if decide(principal, Action.SIGN) else []
        return {"unit": found, **figures, "waiting": waiting, "percent": percent}

    context.update(await run_in_threadpool(gather))
    with svc.reader.connect() as conn:
        context["roots"] = [u for u in unit_list(conn) if u["code"] in roots]
    return render(request, "dashboard.html", caller, context)
