"""The approval inbox: what waits for this signer at this level, with the difference each
change makes; signing one item or a batch with the key the server keeps for the signer;
sending an item back with the reason; the signing window and each level's deadline.

The items, the checks and the signatures are those of the API (``api.routers.approvals``
and ``signing.approvals``): a batch is signed all-or-nothing, and a refusal lists every
reason.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from api.deps import Services, services
from api.policy import Action, decide
from api.routers import Disclosure, actor_of
from api.routers.approvals import _signer
from api.routers.approvals import inbox as inbox_items
from api.web import forms, page
from api.web.approval_words import (
    EVENT_NAMES,
    ROLE_NAMES,
    approved_values,
    reason_in_vietnamese,
)
from api.web.record_view import change_set_diff, vn_date
from domain.calendar import to_business_date
from domain.errors import DomainError, NotFound
from domain.values import json_ready
from projections.profiles import profile_view
from signing import keystore

router = APIRouter(include_in_schema=False)

NAV = (page.NavItem("Hộp phê duyệt", "/approvals", 30, page.may(Action.SIGN)),)


@dataclass
class InboxItem:
    item_id: str
    profile_id: str
    full_name: str
    unit_code: str
    what: str
    level: int
    of_levels: int
    role: str
    requested_by: str
    waiting_since: str
    due: str
    overdue: bool
    days: int | None
    diff: list[Any]
    values: list[tuple[str, str]]
    documents: list[dict[str, Any]]


def _waiting_since(svc: Services, profile_id: str, item: dict[str, Any], item_id: str) -> date:
    """Since when the level waits: the previous signature, or the request."""
    if item["signatures"]:
        return to_business_date(item["signatures"][-1]["signed_at"])
    for event in reversed(svc.ledger.profile_events(profile_id)):
        if type(event).__name__ == "ApprovalRequested" and event.item_id == item_id:  # type: ignore[attr-defined]
            return to_business_date(event.timestamp)
    return svc.ledger.today()


def waiting_items(svc: Services, caller: Any) -> list[InboxItem]:
    principal = caller.principal
    found = []
    for entry in inbox_items(principal, svc)["items"]:
        pid, item_id = entry["profile_id"], entry["item_id"]
        profile = svc.ledger.profile(pid)
        item = profile.approvals[item_id]
        index = len(item["signatures"])
        days = item["chain"][index].get("working_days")
        since = _waiting_since(svc, pid, item, item_id)
        due = svc.ledger.calendar.add_working_days(since, days) if days else None
        seen = Disclosure(principal, unit_code=item["unit_code"], profile_id=pid)
        subject = seen.data(json_ready(item["subject"]))
        diff: list[Any] = []
        if subject.get("event") == "ChangeProposed":
            with svc.reader.connect() as conn:
                row = profile_view(conn, pid)
            record = seen.record(row["record"]) if row else {}
            diff = change_set_diff(record, subject.get("changes", []))
        seen.record_read(svc, f"approval:{item_id}")
        documents = list(subject.get("documents", []))
        decision = subject.get("decision")
        if isinstance(decision, dict) and isinstance(decision.get("document"), dict):
            documents.append(decision["document"])
        found.append(
            InboxItem(
                item_id=item_id,
                profile_id=pid,
                full_name=entry["full_name"],
                unit_code=entry["unit_code"],
                what=EVENT_NAMES.get(entry["approves"], entry["approves"]),
                level=entry["level"],
                of_levels=entry["of_levels"],
                role=ROLE_NAMES.get(entry["role"], entry["role"]),
                requested_by=entry["requested_by"]["account"],
                waiting_since=vn_date(since),
                due=vn_date(due) if due else "",
                overdue=due is not None and caller.today > due,
                days=days,
                diff=diff,
                values=[] if diff else approved_values(subject),
                documents=documents,
            )
        )
    return found


def _window_text(svc: Services, today: date) -> str:
    window = svc.ledger.jurisdiction.signing_window
    if window is None:
        return (
            "Quy định không giới hạn thời gian ký trong tháng; "
            "mỗi cấp ký trong thời hạn của cấp đó."
        )
    if window.contains(today):
        return (
            f"Đang trong thời gian ký: {window.last_days_of_month} ngày cuối tháng "
            f"(hôm nay {vn_date(today)})."
        )
    return (
        f"Chỉ ký trong {window.last_days_of_month} ngày cuối mỗi tháng; "
        f"thời gian ký mở từ ngày {vn_date(window.opens_on(today))}."
    )


def _inbox(
    request: Request,
    caller: Any,
    errors: dict[str, str] | None = None,
    selected: list[str] | None = None,
) -> Response:
    svc = services(request)
    items = waiting_items(svc, caller)
    has_key = keystore.has(
        keystore.default_directory(svc.ledger.settings), caller.principal.account
    )
    return page.render(
        request,
        "approvals.html",
        caller,
        {
            "items": items,
            "window": _window_text(svc, caller.today),
            "window_open": svc.ledger.jurisdiction.signing_window is None
            or svc.ledger.jurisdiction.signing_window.contains(caller.today),
            "has_key": has_key,
            "selected": set(selected or []),
        },
        errors=errors,
        status_code=422 if errors else 200,
    )


def _require_signer(svc: Services, caller: Any) -> None:
    """The inbox is for accounts with a signing role; to others it does not exist."""
    if not decide(caller.principal, Action.SIGN):
        raise NotFound("no approval inbox for this account")


_WINDOW = re.compile(
    r"signatures are made in the last (\d+) days of the month; the window opens on (\S+)"
)


def refusal_words(message: str) -> str:
    """A refused signature's reasons (``item: reason; …``) in Vietnamese."""
    message = message.removeprefix("nothing was signed — ")
    message = _WINDOW.sub(
        lambda m: f"chỉ ký trong {m[1]} ngày cuối tháng, thời gian ký mở từ ngày {vn_date(m[2])}",
        message,
    )
    parts = []
    for part in message.split("; "):
        item, _, reason = part.partition(": ")
        if not reason:
            item, reason = "", part
        words = reason_in_vietnamese(reason, False) if not reason.startswith("chỉ ký") else reason
        parts.append(f"{item}: {words}" if item else words)
    return "Lý do: " + "; ".join(parts)


@router.get("/approvals", response_class=HTMLResponse)
def inbox_page(request: Request, caller: page.SignedIn) -> Response:
    _require_signer(services(request), caller)
    return _inbox(request, caller)


@router.post("/approvals/sign", response_class=HTMLResponse)
async def sign(request: Request, caller: page.SignedIn) -> Response:
    form = await request.form()
    items = [v for v in form.getlist("item") if isinstance(v, str)]
    passphrase = form.get("passphrase")
    return await run_in_threadpool(
        _sign, request, caller, items, passphrase if isinstance(passphrase, str) else ""
    )


def _sign(request: Request, caller: Any, items: list[str], passphrase: str) -> Response:
    svc = services(request)
    _require_signer(svc, caller)
    errors: dict[str, str] = {}
    if not items:
        errors["item"] = "Vui lòng chọn ít nhất một hồ sơ để ký."
    if not passphrase:
        errors["passphrase"] = "Vui lòng nhập mật khẩu khóa ký số."
    if errors:
        return _inbox(request, caller, errors, items)
    batch = []
    actors = set()
    for item_id in items:
        profile, verdict = _signer(svc, caller.principal, item_id.strip())
        actor = actor_of(caller.principal, verdict)
        actors.add(actor)
        batch.append((str(profile.id), item_id.strip()))
    if len(actors) != 1:
        errors["item"] = (
            "Các hồ sơ chọn ký cùng lúc phải chờ cùng một vai trò ký; vui lòng ký riêng."
        )
        return _inbox(request, caller, errors, items)
    try:
        svc.approvals.sign_batch(batch, actor=actors.pop(), passphrase=passphrase)
    except keystore.KeystoreError as exc:
        wrong = "passphrase" in exc.message or "decrypt" in exc.message.lower()
        errors["passphrase"] = (
            "Mật khẩu khóa ký số không đúng."
            if wrong
            else "Không dùng được khóa ký số của tài khoản này; vui lòng liên hệ quản trị."
        )
        return _inbox(request, caller, errors, items)
    except DomainError as exc:
        errors["_form"] = "Không ký được, chưa hồ sơ nào được ký. " + refusal_words(exc.message)
        return _inbox(request, caller, errors, items)
    words = "hồ sơ" if len(batch) == 1 else f"{len(batch)} hồ sơ"
    return page.redirect(request, "/approvals", f"Đã ký số phê duyệt {words}.")


@router.post("/approvals/{item_id}/reject", response_class=HTMLResponse)
async def reject(request: Request, item_id: str, caller: page.SignedIn) -> Response:
    form = await request.form()
    reason = forms.text(form, f"reason_{item_id}", 2000)
    return await run_in_threadpool(_reject, request, caller, item_id, reason)


def _reject(request: Request, caller: Any, item_id: str, reason: str) -> Response:
    svc = services(request)
    profile, verdict = _signer(svc, caller.principal, item_id.strip())
    if not reason:
        return _inbox(request, caller, {f"reason_{item_id}": "Vui lòng nêu lý do trả lại."})
    try:
        svc.approvals.reject(
            str(profile.id),
            item_id.strip(),
            reason=reason,
            actor=actor_of(caller.principal, verdict),
        )
    except DomainError as exc:
        return _inbox(request, caller, {f"reason_{item_id}": forms.vietnamese(exc)})
    return page.redirect(request, "/approvals", "Đã trả lại hồ sơ kèm lý do.")
