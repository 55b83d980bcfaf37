"""The profile page: the approved record by Mẫu 2C field group (restricted groups only for
those cleared), the change sets waiting with their field-by-field difference, a timeline
of every event with its signature status, the record as of a date or a version, and the
signed résumé; the form proposing a change with its scanned supporting document; and the
supporting documents themselves.

Reads go through the same guards as the API (``readable_profile``: a profile the caller
may not see is "not found", exactly like one that does not exist, and the refusal is
recorded); a read of restricted values is recorded as the API records it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from api.deps import Services, services
from api.policy import Action, Principal, decide
from api.routers import Disclosure, actor_of, profile_for_command
from api.routers.profiles import readable_profile
from api.web import forms, page
from api.web.approval_words import EVENT_NAMES, ROLE_NAMES
from api.web.record_view import change_set_diff, record_groups, vn_date, vn_time
from domain.errors import DomainError, InvalidInput, NotFound
from domain.profile import Profile
from domain.resume import GROUPS, TRANSITION_ONLY_FIELDS, clean_change, field_label
from domain.values import Document, json_ready
from projections.units import unit

router = APIRouter(include_in_schema=False)

# The fields a change form offers: every field of the single groups that a change set may
# set (the employment fields that only a transition changes are left out).
CHANGEABLE = [
    (f"{name}.{f}", f"{group.label} — {field_label(f'{name}.{f}')}")
    for name, group in GROUPS.items()
    if not group.many
    for f in group.fields
    if f"{name}.{f}" not in TRANSITION_ONLY_FIELDS
]
CHANGE_ROWS = 3
# Where the domain's field names go on the change form.
CHANGE_FIELDS = {
    "reason": "reason",
    "effective_date": "effective_date",
    "documents": "document",
    "changes": "path_1",
}


# -- the timeline ----------------------------------------------------------------------------


@dataclass
class TimelineRow:
    version: int
    what: str
    detail: str
    account: str
    role: str
    unit_code: str
    recorded_at: str
    effective_date: str
    decision: str
    signature: str  # ✓, ✗, "chờ ký" or "" where no signature is asked
    signature_title: str


def _item_of(profile: Profile, event: Any) -> str | None:
    """The approval item an event belongs to, if any."""
    for name in ("item_id", "change_set_id"):
        found = getattr(event, name, None)
        if found:
            return str(found)
    item = profile.record_item_id(event.originator_version)
    return item if item in profile.approvals else None


def timeline(svc: Services, profile: Profile) -> list[TimelineRow]:
    events = svc.ledger.profile_events(profile.id)
    reports = {}
    for item_id, item in profile.approvals.items():
        if item["signatures"]:
            reports[item_id] = svc.approvals.verify(item_id, str(profile.id))
    rows = []
    for event in events:
        name = type(event).__name__
        actor = getattr(event, "actor", None)
        decision = getattr(event, "decision", None)
        item_id = _item_of(profile, event)
        item = profile.approvals.get(item_id) if item_id else None
        mark, title = "", "Không yêu cầu ký số"
        report = reports.get(item_id) if item_id else None
        if name == "ApprovalSigned" and report is not None:
            level = event.level  # type: ignore[attr-defined]
            signed = [s for s in report.signatures if s.level == level + 1]
            ok = bool(signed) and signed[0].passed
            mark = "✓" if ok else "✗"
            title = "Chữ ký số hợp lệ" if ok else "Chữ ký số không hợp lệ"
        elif item is not None:
            if item["status"] == "pending":
                mark, title = "chờ ký", "Đang chờ ký số phê duyệt"
            elif item["status"] == "rejected":
                mark, title = "✗", "Bị từ chối phê duyệt"
            elif report is not None:
                mark = "✓" if report.passed else "✗"
                title = (
                    "Đã phê duyệt, chữ ký số hợp lệ" if report.passed else "Chữ ký số không hợp lệ"
                )
        detail = ""
        if name == "ChangeProposed":
            detail = ", ".join(field_label(c["path"]) for c in event.changes)  # type: ignore[attr-defined]
        elif name == "ApprovalSigned":
            detail = f"cấp {event.level + 1}"  # type: ignore[attr-defined]
        elif name == "ChangeRejected" or name == "RecordRejected":
            detail = str(getattr(event, "reason", ""))
        rows.append(
            TimelineRow(
                version=event.originator_version,
                what=EVENT_NAMES.get(name, name),
                detail=detail,
                account=actor.account if actor else "",
                role=ROLE_NAMES.get(actor.role.value, actor.role.value) if actor else "",
                unit_code=actor.unit_code if actor else "",
                recorded_at=vn_time(event.timestamp),
                effective_date=vn_date(getattr(event, "effective_date", None)),
                decision=forms.decision_text(decision),
                signature=mark,
                signature_title=title,
            )
        )
    return rows


# -- pending change sets ---------------------------------------------------------------------


def pending_views(
    profile: Profile, pending: list[dict[str, Any]], seen: Disclosure, record: dict[str, Any]
) -> list[dict[str, Any]]:
    result = []
    for change_set in pending:
        cid = change_set["change_set_id"]
        item = profile.approvals.get(cid)
        progress = ""
        if item is not None:
            done = len(item["signatures"])
            progress = f"Đã ký {done}/{len(item['chain'])} cấp"
            if item["status"] == "pending" and done < len(item["chain"]):
                role = item["chain"][done]["role"]
                progress += f"; chờ {ROLE_NAMES.get(role, role)} ký"
        result.append(
            {
                **change_set,
                "diff": change_set_diff(record, seen.changes(change_set["changes"])),
                "progress": progress,
                "proposed": vn_time(change_set.get("proposed_at")),
                "effective": vn_date(change_set.get("effective_date")),
            }
        )
    return result


def _as_of(
    svc: Services, pid: str, version: str, as_of: str, errors: dict[str, str]
) -> tuple[Profile | None, str]:
    """The record at a version or on a date, with the words saying which."""
    if version and as_of:
        errors["as_of"] = "Chọn theo ngày hoặc theo phiên bản, không chọn cả hai."
        return None, ""
    if as_of:
        try:
            day = date.fromisoformat(as_of)
        except ValueError:
            errors["as_of"] = "Ngày không hợp lệ."
            return None, ""
        found = svc.ledger.profile_as_of(pid, day)
        if found is None:
            errors["as_of"] = f"Hồ sơ chưa tồn tại vào ngày {vn_date(day)}."
            return None, ""
        return found, f"Hồ sơ tại ngày {vn_date(day)}"
    if version:
        try:
            number = int(version)
            if number < 1:
                raise ValueError
            return svc.ledger.profile(pid, version=number), f"Hồ sơ tại phiên bản {number}"
        except (ValueError, NotFound):
            errors["version"] = "Không có phiên bản này."
    return None, ""


@router.get("/profiles/{profile_id}", response_class=HTMLResponse)
def profile_page(
    request: Request,
    profile_id: str,
    caller: page.SignedIn,
    as_of: str = "",
    version: str = "",
) -> Response:
    svc = services(request)
    principal = caller.principal
    row = readable_profile(svc, principal, profile_id)
    pid = row["profile_id"]
    seen = Disclosure(principal, unit_code=row["unit_code"], profile_id=pid)
    profile = svc.ledger.profile(pid)
    errors: dict[str, str] = {}
    then, then_title = _as_of(svc, pid, version.strip(), as_of.strip(), errors)
    record = seen.record(row["record"])
    shown = seen.record(json_ready(then.record)) if then is not None else record
    with svc.reader.connect() as conn:
        found = unit(conn, row["unit_code"])
    context = {
        "row": row,
        "unit_name": found["name"] if found else row["unit_code"],
        "pid": pid,
        "groups": record_groups(shown),
        "then": then,
        "then_title": then_title,
        "as_of": as_of.strip(),
        "version": version.strip(),
        "pending": pending_views(profile, row["pending"], seen, record),
        "timeline": timeline(svc, profile),
        "withheld": sorted(GROUPS[g].label for g in seen.withheld),
        "may": _may(principal, row),
        "own": principal.profile_id == pid,
    }
    seen.record_read(svc, f"profile:{pid}")
    return page.render(
        request,
        "profile.html",
        caller,
        context,
        errors=errors,
        status_code=422 if errors else 200,
    )


def _may(principal: Principal, row: dict[str, Any]) -> dict[str, bool]:
    where = {"unit_code": row["unit_code"], "profile_id": row["profile_id"]}
    return {
        "export": bool(decide(principal, Action.EXPORT, **where)),
        "propose": bool(decide(principal, Action.PROPOSE_CHANGE, **where)),
        "transition": bool(decide(principal, Action.RECORD_TRANSITION, **where)),
        "audit": bool(decide(principal, Action.READ_AUDIT, **where)),
    }


# -- proposing a change --------------------------------------------------------------------------


def _change_form(
    request: Request,
    caller: Any,
    profile: Profile,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
) -> Response:
    svc = services(request)
    return page.render(
        request,
        "change_form.html",
        caller,
        {
            "profile": profile,
            "pid": str(profile.id),
            "options": CHANGEABLE,
            "rows": range(1, CHANGE_ROWS + 1),
            "values": values,
            "document_required": svc.ledger.jurisdiction.change_requires_document,
            "max_mb": forms.document_store(request).max_bytes // (1024 * 1024),
        },
        errors=errors,
        status_code=422 if errors else 200,
    )


@router.get("/profiles/{profile_id}/change", response_class=HTMLResponse)
def change_form(request: Request, profile_id: str, caller: page.SignedIn) -> Response:
    svc = services(request)
    profile, _ = profile_for_command(svc, caller.principal, profile_id, Action.PROPOSE_CHANGE)
    values = {"expected_version": str(profile.version), "effective_date": caller.today.isoformat()}
    return _change_form(request, caller, profile, values)


@router.post("/profiles/{profile_id}/change", response_class=HTMLResponse)
async def propose_change(request: Request, profile_id: str, caller: page.SignedIn) -> Response:
    form = await request.form()
    found = await forms.upload(form, "document", forms.document_store(request))
    return await run_in_threadpool(_propose, request, profile_id, caller, form, found)


def _propose(
    request: Request, profile_id: str, caller: Any, form: Any, found: tuple[bytes, str] | None
) -> Response:
    svc = services(request)
    store = forms.document_store(request)
    profile, verdict = profile_for_command(svc, caller.principal, profile_id, Action.PROPOSE_CHANGE)
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    errors: dict[str, str] = {}
    changes = []
    for n in range(1, CHANGE_ROWS + 1):
        path, value = forms.text(form, f"path_{n}", 100), forms.text(form, f"value_{n}")
        if not path and not value:
            continue
        if path not in dict(CHANGEABLE):
            errors[f"path_{n}"] = "Vui lòng chọn trường cần thay đổi."
            continue
        changes.append((n, path, value))
    if not changes and not errors:
        errors["path_1"] = "Vui lòng chọn ít nhất một trường cần thay đổi."
    reason = forms.text(form, "reason", 2000)
    if not reason:
        errors["reason"] = "Vui lòng nêu lý do thay đổi."
    effective = forms.date_field(form, "effective_date", errors, required=True)
    document = forms.check_upload(store, found, "document", errors)
    expected = forms.text(form, "expected_version", 12)
    if errors:
        return _change_form(request, caller, profile, values, errors)
    assert effective is not None
    for n, path, value in changes:
        try:
            clean_change(path, value if value != "" else None)
        except InvalidInput as exc:
            errors[f"value_{n}"] = forms.vietnamese(exc)
    if errors:
        return _change_form(request, caller, profile, values, errors)
    try:
        if document is not None and found is not None:
            # Stored before the change set that cites it: a refused change leaves at most
            # an unreferenced copy (content-addressed, found again on a retry), never a
            # change set citing a document that is not there.
            store.store(found[0], found[1], account=caller.principal.account)
        svc.ledger.propose_change(
            profile.id,
            [(path, value if value != "" else None) for _, path, value in changes],
            reason=reason,
            effective_date=effective,
            actor=actor_of(caller.principal, verdict),
            documents=[document] if document is not None else [],
            expected_version=int(expected) if expected.isdigit() else None,
        )
    except DomainError as exc:
        return _change_form(request, caller, profile, values, forms.error_for(exc, CHANGE_FIELDS))
    target = "/me" if caller.principal.profile_id == str(profile.id) else f"/profiles/{profile.id}"
    return page.redirect(request, target, "Đã gửi đề nghị thay đổi; đề nghị đang chờ phê duyệt.")


# -- supporting documents ----------------------------------------------------------------------


def _cited(svc: Services, profile: Profile, sha256: str) -> Document | None:
    """The document as the profile's change sets or decisions cite it, if they do."""
    for change_set in profile.change_sets.values():
        for document in change_set["documents"]:
            if document.sha256 == sha256:
                return document  # type: ignore[no-any-return]
    for event in svc.ledger.profile_events(profile.id):
        document = getattr(getattr(event, "decision", None), "document", None)
        if document is not None and document.sha256 == sha256:
            return document  # type: ignore[no-any-return]
    return None


@router.get("/documents/{sha256}")
def document(request: Request, sha256: str, caller: page.SignedIn, profile: str = "") -> Response:
    """A supporting document, to those who may read the profile that cites it; the same
    "not found" for a document that does not exist and one the caller may not see."""
    svc = services(request)
    digest = sha256.strip().lower()
    row = readable_profile(svc, caller.principal, profile or "-")
    cited = _cited(svc, svc.ledger.profile(row["profile_id"]), digest)
    stored = forms.document_store(request).find(digest) if cited is not None else None
    if cited is None or stored is None:
        raise NotFound(f"no document {digest}")
    return Response(
        stored.content,
        media_type=stored.media_type,
        headers={
            "Content-Disposition": f"attachment; filename*=UTF-8''{quote(cited.filename)}",
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
