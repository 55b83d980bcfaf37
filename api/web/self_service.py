"""Self-service for an employee with a personal account: one's own record, the changes one
proposed and how far each has come through its approval."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from api.deps import services
from api.routers import Disclosure
from api.routers.profiles import readable_profile
from api.web import page
from api.web.approval_words import ROLE_NAMES
from api.web.record_view import change_set_diff, vn_date, vn_time
from domain.errors import NotFound
from domain.values import json_ready
from projections.profiles import change_sets

router = APIRouter(include_in_schema=False)

NAV = (page.NavItem("Hồ sơ của tôi", "/me", 15, lambda p: p.profile_id is not None),)

STATUS = {"pending": "Đang chờ phê duyệt", "approved": "Đã phê duyệt", "rejected": "Bị trả lại"}


@router.get("/me", response_class=HTMLResponse)
def my_record(request: Request, caller: page.SignedIn) -> Response:
    principal = caller.principal
    if principal.profile_id is None:
        raise NotFound("this account is not a personal account")
    svc = services(request)
    row = readable_profile(svc, principal, principal.profile_id)
    pid = row["profile_id"]
    profile = svc.ledger.profile(pid)
    seen = Disclosure(principal, unit_code=row["unit_code"], profile_id=pid)
    record = seen.record(row["record"])
    with svc.reader.connect() as conn:
        mine = change_sets(conn, profile_id=pid)
    proposals = []
    for cs in reversed(mine):
        item = profile.approvals.get(cs["change_set_id"])
        steps = []
        if item is not None:
            for index, level in enumerate(item["chain"]):
                signed = item["signatures"][index] if index < len(item["signatures"]) else None
                steps.append(
                    {
                        "role": ROLE_NAMES.get(level["role"], level["role"]),
                        "days": level.get("working_days"),
                        "signed_by": signed["signer"].account if signed else None,
                        "signed_at": vn_time(signed["signed_at"]) if signed else "",
                    }
                )
        proposals.append(
            {
                **cs,
                "status_text": STATUS.get(cs["status"], cs["status"]),
                "proposed": vn_time(cs["proposed_at"]),
                "decided": vn_time(cs["decided_at"]) if cs["decided_at"] else "",
                "effective": vn_date(cs["effective_date"]),
                "steps": steps,
                "item_id": cs["change_set_id"] if item is not None else None,
                "diff": change_set_diff(
                    record, seen.changes(json_ready(cs["applied_changes"] or cs["changes"]))
                ),
            }
        )
    return page.render(
        request,
        "me.html",
        caller,
        {"row": row, "pid": pid, "proposals": proposals},
    )
