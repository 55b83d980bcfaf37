"""The audit trail: one row per event of the log (access records included), for
inspectors and the Department of Home Affairs within their scope."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query

from api.policy import Action, decide
from api.routers import MAX_PAGE, READ_ERRORS, Caller, Svc, allowed_on_unit, refuse
from api.schemas import AuditPage
from domain.calendar import business_timezone
from domain.errors import NotFound
from projections.audit import audit, audit_count
from projections.profiles import profile_view
from projections.units import unit

router = APIRouter(prefix="/api/audit", tags=["audit"])


def _aware(moment: datetime | None) -> datetime | None:
    """A time without a zone is a time in Hà Nội."""
    if moment is None or moment.tzinfo is not None:
        return moment
    return moment.replace(tzinfo=business_timezone())


@router.get("", response_model=AuditPage, responses=READ_ERRORS)
def audit_trail(
    principal: Caller,
    svc: Svc,
    profile: Annotated[str | None, Query(description="a profile id")] = None,
    actor: Annotated[str | None, Query(description="the acting account")] = None,
    unit_code: Annotated[
        str | None,
        Query(
            alias="unit",
            description="the subject unit, with every unit below it; by default the unit "
            "of the caller's audit grant (everything, for the governing authority)",
        ),
    ] = None,
    event_type: Annotated[str | None, Query(description="e.g. ChangeApproved")] = None,
    recorded_from: Annotated[
        datetime | None,
        Query(alias="from", description="recorded at or after (no zone: Hà Nội time)"),
    ] = None,
    recorded_to: Annotated[
        datetime | None, Query(alias="to", description="recorded before (exclusive)")
    ] = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> dict[str, Any]:
    """Who did what, to whom, when and why, in log order."""
    svc.current(audit=True)
    profile_id: str | None = None
    with svc.reader.connect() as conn:
        if profile is not None:
            row = profile_view(conn, profile.strip())
            if row is None:
                raise NotFound(f"no profile {profile}")
            verdict = decide(
                principal,
                Action.READ_AUDIT,
                unit_code=row["unit_code"],
                profile_id=row["profile_id"],
            )
            if not verdict:
                refuse(
                    svc,
                    principal,
                    f"audit:profile:{row['profile_id']}",
                    verdict,
                    visible=False,
                    unknown=f"no profile {profile}",
                    profile_id=row["profile_id"],
                )
            profile_id = row["profile_id"]
            scope = None  # the person's trail, wherever it was recorded
        elif unit_code is not None:
            found = unit(conn, unit_code.strip().upper())
            if found is None:
                raise NotFound(f"no unit {unit_code.strip().upper()}")
            allowed_on_unit(svc, principal, Action.READ_AUDIT, found["code"])
            scope = found["code"]
        else:
            verdict = allowed_on_unit(svc, principal, Action.READ_AUDIT, None)
            # A grant at the top covers everything, access records (which name no unit)
            # included; below it, the grant's subtree.
            grant_unit = unit(conn, verdict.unit_code or "")
            below_top = grant_unit is not None and grant_unit["parent_code"] is not None
            scope = grant_unit["code"] if grant_unit is not None and below_top else None
        filters: dict[str, Any] = {
            "profile_id": profile_id,
            "actor": actor,
            "unit_code": scope,
            "event_type": event_type,
            "recorded_from": _aware(recorded_from),
            "recorded_to": _aware(recorded_to),
        }
        total = audit_count(conn, **filters)
        rows = audit(conn, **filters, limit=per_page, offset=(page - 1) * per_page)
    return {"total": total, "page": page, "per_page": per_page, "rows": rows}
