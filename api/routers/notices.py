"""Notices: the caller's own inbox (signing-window and report reminders…), marking a
notice read, and the e-mail address notices are also sent to."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, Field

from api.policy import Action, Principal, decide
from api.routers import COMMAND_ERRORS, MAX_VERSION, READ_ERRORS, Caller, Svc, refuse
from api.schemas import example
from operations import notices

router = APIRouter(prefix="/api/notices", tags=["notices"])


class NoticeOut(BaseModel):
    model_config = example(
        {
            "id": 12,
            "topic": "signing-window:2027-01-27",
            "subject": "Kỳ ký duyệt tháng 01/2027: 2 hồ sơ chờ anh/chị ký số",
            "body": "Kỳ ký duyệt 5 ngày cuối tháng 01/2027 bắt đầu từ ngày 27/01/2027…",
            "created_at": "2027-01-27T00:00:03Z",
            "read_at": "2027-01-27T01:15:00Z",
            "emailed_at": "2027-01-27T00:00:04Z",
        }
    )

    id: int
    topic: str
    subject: str
    body: str
    created_at: datetime
    read_at: datetime | None
    emailed_at: datetime | None


class InboxOut(BaseModel):
    model_config = example(
        {
            "account": "truongphong.snv",
            "unread": 1,
            "notices": [
                {
                    "id": 12,
                    "topic": "signing-window:2027-01-27",
                    "subject": "Kỳ ký duyệt tháng 01/2027: 2 hồ sơ chờ anh/chị ký số",
                    "body": "Kỳ ký duyệt 5 ngày cuối tháng 01/2027 bắt đầu từ ngày 27/01/2027…",
                    "created_at": "2027-01-27T00:00:03Z",
                    "read_at": None,
                    "emailed_at": "2027-01-27T00:00:04Z",
                }
            ],
        }
    )

    account: str
    unread: int
    notices: list[NoticeOut]


class EmailIn(BaseModel):
    model_config = example({"email": "truongphong@snv.gov.vn"})

    email: str = Field(max_length=254, examples=["truongphong@snv.gov.vn"])


class EmailOut(BaseModel):
    model_config = example({"account": "truongphong.snv", "email": "truongphong@snv.gov.vn"})

    account: str
    email: str


def _own(svc: Any, principal: Principal, action: Action) -> None:
    """One's own inbox, as the policy allows it to the caller."""
    verdict = decide(principal, action, profile_id=principal.profile_id)
    if not verdict:
        refuse(svc, principal, "notices", verdict, visible=True, unknown="no notices")


@router.get("", response_model=InboxOut, responses=READ_ERRORS)
def inbox(
    principal: Caller,
    svc: Svc,
    unread: Annotated[bool, Query(description="only the notices not yet read")] = False,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> dict[str, Any]:
    """The caller's notices, newest first, and how many are unread."""
    _own(svc, principal, Action.READ_NOTICES)
    with svc.reader.connect() as conn:
        found = notices.inbox(conn, principal.account, unread_only=unread, limit=limit)
    return {"account": principal.account, **found}


@router.post("/{notice_id}/read", response_model=NoticeOut, responses=COMMAND_ERRORS)
def mark_read(
    notice_id: Annotated[int, Path(ge=1, le=MAX_VERSION)], principal: Caller, svc: Svc
) -> dict[str, Any]:
    """Mark one of the caller's notices read (another's is not found)."""
    _own(svc, principal, Action.MANAGE_NOTICES)
    return notices.mark_read(svc.reader, principal.account, notice_id, datetime.now(UTC))


@router.put("/email", response_model=EmailOut, responses=COMMAND_ERRORS)
def set_email(body: EmailIn, principal: Caller, svc: Svc) -> dict[str, Any]:
    """Where the caller's notices are e-mailed (when the server sends e-mail); by default
    the e-mail of the caller's own record."""
    _own(svc, principal, Action.MANAGE_NOTICES)
    email = notices.set_address(svc.reader, principal.account, body.email, datetime.now(UTC))
    return {"account": principal.account, "email": email}
