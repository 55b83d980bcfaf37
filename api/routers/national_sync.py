"""The national database exchange (operations.national_sync), as those who keep the
records of a unit see it: what is queued, sent and failed, and what is not acknowledged
yet."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.policy import Action
from api.routers import READ_ERRORS, Caller, Svc, scope_unit
from api.schemas import NationalSyncOut
from operations.national_sync import sends
from projections.national_outbox import pending_items, summary

router = APIRouter(prefix="/api/national-sync", tags=["national sync"])

# Items not yet acknowledged listed at most, oldest first.
UNSENT_LISTED = 100


@router.get("", response_model=NationalSyncOut, responses=READ_ERRORS)
def sync_status(
    principal: Caller,
    svc: Svc,
    unit_code: Annotated[
        str | None,
        Query(
            alias="unit",
            description="the unit, with every unit below it; by default the unit of the "
            "caller's grant",
        ),
    ] = None,
) -> dict[str, Any]:
    """Per unit: items queued for the national database, sent (acknowledged) and failed,
    and the last acknowledgement; then the items not acknowledged yet, oldest first (at
    most 100), each with its attempts and last error. Items belong to the unit the person
    worked in when the change was approved."""
    code = scope_unit(svc, principal, Action.READ_UNIT, unit_code)
    codes = svc.units().subtree(code) if code else None
    with svc.reads.connect() as conn:
        units = summary(conn, unit_codes=codes)
        unsent = pending_items(conn, UNSENT_LISTED, unit_codes=codes)
    return {
        "unit_code": code,
        "configured": sends(svc.ledger),
        "units": units,
        "unsent": unsent,
    }
