"""Deadline compliance: acts the jurisdiction gives a deadline in working days that are
still open past their due date."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.policy import Action
from api.routers import READ_ERRORS, Caller, Svc, scope_unit
from api.schemas import OverdueOut
from projections.deadlines import overdue

router = APIRouter(prefix="/api/deadlines", tags=["deadlines"])


@router.get("/overdue", response_model=OverdueOut, responses=READ_ERRORS)
def overdue_items(
    principal: Caller,
    svc: Svc,
    unit_code: Annotated[
        str | None,
        Query(
            alias="unit",
            description="the unit that has to act, with every unit below it; by default the "
            "unit of the caller's grant",
        ),
    ] = None,
    on: Annotated[date | None, Query(description="the business date; today by default")] = None,
) -> dict[str, Any]:
    """Open items whose due date is before ``on``, the longest overdue first."""
    code = scope_unit(svc, principal, Action.READ_UNIT, unit_code)
    day = on or svc.ledger.today()
    with svc.reader.connect() as conn:
        items = overdue(conn, day, code)
    return {"on": day, "unit_code": code, "items": items}
