"""Deadline alerts: per unit, the items due within two working days and the overdue ones,
opened and closed by the scheduled deadline monitor (``operations.alerts``)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.policy import Action
from api.routers import READ_ERRORS, Caller, Svc, scope_unit
from api.schemas import example
from operations.alerts import open_alert_counts, unit_alerts

router = APIRouter(prefix="/api/alerts", tags=["alerts"])


class AlertOut(BaseModel):
    id: int
    kind: Literal["due_soon", "overdue"]
    item_position: int
    item_action: str
    profile_id: str
    unit_code: str | None
    due_date: date
    opened_on: date
    opened_at: datetime
    closed_on: date | None
    closed_at: datetime | None
    closed_because: str | None


class AlertCount(BaseModel):
    unit_code: str | None
    due_soon: int
    overdue: int


class AlertsOut(BaseModel):
    model_config = example(
        {
            "unit_code": "STC",
            "status": "open",
            "counts": [{"unit_code": "STC", "due_soon": 1, "overdue": 0}],
            "alerts": [
                {
                    "id": 7,
                    "kind": "due_soon",
                    "item_position": 61,
                    "item_action": "transfer_in",
                    "profile_id": "3f6c1c1e-8d8a-4f43-9a59-1c2f3b0e7a10",
                    "unit_code": "STC",
                    "due_date": "2027-02-12",
                    "opened_on": "2027-02-03",
                    "opened_at": "2027-02-02T23:00:00Z",
                    "closed_on": None,
                    "closed_at": None,
                    "closed_because": None,
                }
            ],
        }
    )

    unit_code: str
    status: Literal["open", "closed", "all"]
    counts: list[AlertCount]  # open alerts per unit of the subtree
    alerts: list[AlertOut]


@router.get("", response_model=AlertsOut, responses=READ_ERRORS)
def alerts(
    principal: Caller,
    svc: Svc,
    unit_code: Annotated[
        str | None,
        Query(
            alias="unit",
            max_length=40,
            description="the unit that has to act, with every unit below it; by default the "
            "unit of the caller's grant",
        ),
    ] = None,
    status: Annotated[
        Literal["open", "closed", "all"],
        Query(description="open alerts by due date, or the closed ones (or all) newest first"),
    ] = "open",
    kind: Annotated[Literal["due_soon", "overdue"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 200,
) -> dict[str, Any]:
    """Deadline alerts of a unit subtree: items due within two working days, and overdue
    ones; each closes when its item is done."""
    code = scope_unit(svc, principal, Action.READ_UNIT, unit_code)
    with svc.reader.connect() as conn:
        found = unit_alerts(conn, code, status=status, kind=kind, limit=limit)
        counts = open_alert_counts(conn, code)
    return {"unit_code": code, "status": status, "counts": counts, "alerts": found}
