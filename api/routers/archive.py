"""The archive: staff who left (retired, resigned, dismissed, deceased, transferred out of
the system), kept apart from the roster and kept for good."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.policy import Action
from api.routers import MAX_PAGE, READ_ERRORS, Caller, Svc, scope_unit
from api.schemas import ArchiveOut
from domain.values import json_ready
from projections.archive import archive

router = APIRouter(prefix="/api/archive", tags=["archive"])


@router.get("", response_model=ArchiveOut, responses=READ_ERRORS)
def departed_staff(
    principal: Caller,
    svc: Svc,
    unit_code: Annotated[
        str | None,
        Query(
            alias="unit",
            description="the unit the person left, with every unit below it; by default "
            "the unit of the caller's grant",
        ),
    ] = None,
    status: Annotated[str | None, Query(description="status now, e.g. deceased")] = None,
    departure: Annotated[str | None, Query(description="how the person left")] = None,
    departed_from: Annotated[date | None, Query(alias="from")] = None,
    departed_to: Annotated[date | None, Query(alias="to")] = None,
    q: Annotated[str | None, Query(description="name, with or without diacritics")] = None,
    current_only: Annotated[
        bool, Query(description="leave out departures the person came back from")
    ] = True,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> dict[str, Any]:
    """Departures, the latest first."""
    code = scope_unit(svc, principal, Action.READ_UNIT, unit_code)
    with svc.reader.connect() as conn:
        found = archive(
            conn,
            unit_code=code,
            status=status,
            departure=departure,
            departed_from=departed_from,
            departed_to=departed_to,
            q=q,
            current_only=current_only,
            page=page,
            per_page=per_page,
        )
    return {
        "total": found.total,
        "page": found.page,
        "per_page": found.per_page,
        "rows": json_ready(found.rows),
    }
