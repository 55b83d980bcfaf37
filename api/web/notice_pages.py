"""The notices inbox: the account's notices (unread first), marking one read, the address
notices are e-mailed to, and the count of unread notices in the navigation. The policy
decides as for the API: everyone reads their own inbox; an inspector changes nothing, not
even a notice's read mark."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from api.deps import Services, services
from api.policy import Action, Principal, decide
from api.routers import refuse
from api.web import forms, page
from domain.errors import InvalidInput
from operations import notices
from operations.tables import notice_addresses
from operations.tables import notices as notice_table

router = APIRouter(include_in_schema=False)
log = logging.getLogger(__name__)

NOTICES_PATH = "/notices"
SHOWN = 200


def _may(principal: Principal, action: Action) -> bool:
    return bool(decide(principal, action, profile_id=principal.profile_id))


def unread_count(request: Request, principal: Principal) -> int | None:
    """The account's unread notices, for the navigation (None when they cannot be read)."""
    if not _may(principal, Action.READ_NOTICES):
        return None
    try:
        with services(request).reader.connect() as conn:
            found = conn.execute(
                select(func.count())
                .select_from(notice_table)
                .where(
                    notice_table.c.account == principal.account,
                    notice_table.c.read_at.is_(None),
                )
            ).scalar_one()
    except SQLAlchemyError:  # an app started without the operations tables
        log.warning("unread notices not counted", exc_info=True)
        return None
    return int(found)


NAV = (
    page.NavItem(
        "Thông báo",
        NOTICES_PATH,
        80,
        lambda principal: _may(principal, Action.READ_NOTICES),
        badge=unread_count,
    ),
)


def _own(svc: Services, principal: Principal, action: Action) -> None:
    verdict = decide(principal, action, profile_id=principal.profile_id)
    if not verdict:
        refuse(svc, principal, "notices", verdict, visible=True, unknown="no notices")


def _address(svc: Services, account: str) -> str | None:
    with svc.reader.connect() as conn:
        found = conn.execute(
            select(notice_addresses.c.email)
            .where(notice_addresses.c.account == account)
            .order_by(notice_addresses.c.id.desc())
            .limit(1)
        ).scalar_one_or_none()
    return str(found) if found else None


def _inbox(
    request: Request, caller: Any, *, errors: dict[str, str] | None = None, email: str = ""
) -> Response:
    svc = services(request)
    principal = caller.principal
    _own(svc, principal, Action.READ_NOTICES)
    with svc.reader.connect() as conn:
        found = notices.inbox(conn, principal.account, limit=SHOWN)
    listed = sorted(found["notices"], key=lambda n: (n["read_at"] is not None, -n["id"]))
    current = _address(svc, principal.account)
    return page.render(
        request,
        "notices.html",
        caller,
        {
            "notices": listed,
            "unread": found["unread"],
            "may_manage": _may(principal, Action.MANAGE_NOTICES),
            "address": current,
            "email": email or current or "",
        },
        errors=errors,
        status_code=422 if errors else 200,
    )


@router.get(NOTICES_PATH, response_class=HTMLResponse)
def inbox_page(request: Request, caller: page.SignedIn) -> Response:
    return _inbox(request, caller)


@router.post(NOTICES_PATH + "/{notice_id}/read", response_class=HTMLResponse)
def mark_read(request: Request, notice_id: int, caller: page.SignedIn) -> Response:
    svc = services(request)
    _own(svc, caller.principal, Action.MANAGE_NOTICES)
    notices.mark_read(svc.reader, caller.principal.account, notice_id, datetime.now(UTC))
    return page.redirect(request, NOTICES_PATH, "Đã đánh dấu thông báo là đã đọc.")


@router.post(NOTICES_PATH + "/email", response_class=HTMLResponse)
async def set_email(request: Request, caller: page.SignedIn) -> Response:
    form = await request.form()
    email = forms.text(form, "email", 254)
    svc = services(request)
    _own(svc, caller.principal, Action.MANAGE_NOTICES)
    if not email:
        return _inbox(request, caller, errors={"email": "Vui lòng nhập địa chỉ thư điện tử."})
    try:
        saved = await run_in_threadpool(
            notices.set_address, svc.reader, caller.principal.account, email, datetime.now(UTC)
        )
    except InvalidInput:
        message = "Địa chỉ thư điện tử không hợp lệ (ví dụ: ten@donvi.gov.vn)."
        return _inbox(request, caller, errors={"email": message}, email=email)
    return page.redirect(request, NOTICES_PATH, f"Thông báo sẽ được gửi đến {saved}.")
