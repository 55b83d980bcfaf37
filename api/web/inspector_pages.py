"""Pages for inspectors (and the Department of Home Affairs): the audit trail with filters
and its CSV export (the export itself recorded in the trail), an approval's verification
in plain words, and the ledger seal: its status and the proofs anyone can check with
``scripts/verify_proof.py``."""

from __future__ import annotations

import csv
import io
import json
from datetime import date, datetime, time, timedelta
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import select

from api.deps import Services, services
from api.policy import Action, Principal, decide
from api.routers import MAX_PAGE, actor_of, allowed_on_unit, refuse
from api.routers.approvals import verified
from api.routers.audit import audit_trail
from api.web import page
from api.web.approval_words import EVENT_NAMES, approval_in_words
from api.web.record_view import vn_date, vn_time
from domain.calendar import business_timezone
from domain.errors import InvalidInput, NotFound
from projections.audit import trail
from projections.units import unit
from signing.seal import (
    SealError,
    consistency_proof_document,
    inclusion_proof_document,
    key_fingerprint,
    verify,
)

router = APIRouter(include_in_schema=False)

NAV = (
    page.NavItem("Nhật ký", "/audit", 40, page.may(Action.READ_AUDIT)),
    page.NavItem("Xác minh", "/verify", 45, page.may(Action.VERIFY)),
)

PER_PAGE = 50
EXPORT_LIMIT = 100_000
COLUMNS = [
    ("position", "Vị trí"),
    ("recorded_at", "Ghi nhận lúc"),
    ("actor_account", "Tài khoản"),
    ("actor_role", "Vai trò"),
    ("actor_unit", "Đơn vị người thực hiện"),
    ("event_type", "Sự kiện"),
    ("profile_id", "Hồ sơ"),
    ("unit_code", "Đơn vị"),
    ("effective_date", "Ngày hiệu lực"),
    ("decision_number", "Số quyết định"),
]
ACCESS_NAMES = {
    "Access.restricted_read": "Xem thông tin hạn chế",
    "Access.export": "Xuất dữ liệu",
    "Access.refused": "Bị từ chối truy cập",
}


# -- the audit trail ---------------------------------------------------------------------------


def _filters(request: Request) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """The filters of the query string as ``audit_trail`` takes them, the values to show
    again in the form, and the errors next to each field."""
    q = request.query_params
    values = {
        k: q.get(k, "").strip()[:200] for k in ("profile", "actor", "unit", "type", "from", "to")
    }
    errors: dict[str, str] = {}
    days: dict[str, date | None] = {}
    for name in ("from", "to"):
        days[name] = None
        if values[name]:
            try:
                days[name] = date.fromisoformat(values[name])
            except ValueError:
                errors[name] = "Ngày không hợp lệ."
    zone = business_timezone()
    start, end = days["from"], days["to"]
    filters = {
        "profile": values["profile"] or None,
        "actor": values["actor"] or None,
        "unit_code": values["unit"] or None,
        "event_type": values["type"] or None,
        "recorded_from": datetime.combine(start, time(), zone) if start else None,
        # "to" is the last day included.
        "recorded_to": datetime.combine(end + timedelta(days=1), time(), zone) if end else None,
    }
    return filters, values, errors


def _row_view(row: dict[str, Any]) -> dict[str, Any]:
    kind = row["event_type"]
    return {
        **row,
        "what": ACCESS_NAMES.get(kind) or EVENT_NAMES.get(kind, kind),
        "recorded": vn_time(row["recorded_at"]),
        "effective": vn_date(row["effective_date"]) if row["effective_date"] else "",
    }


@router.get("/audit", response_class=HTMLResponse)
def audit_page(request: Request, caller: page.SignedIn, page_number: int = 1) -> Response:
    svc = services(request)
    filters, values, errors = _filters(request)
    number = min(max(page_number, 1), MAX_PAGE)
    found = {"total": 0, "rows": []}
    if not errors:
        found = audit_trail(caller.principal, svc, **filters, page=number, per_page=PER_PAGE)
    query = "&".join(f"{k}={v}" for k, v in values.items() if v)
    return page.render(
        request,
        "audit.html",
        caller,
        {
            "values": values,
            "rows": [_row_view(r) for r in found["rows"]],
            "total": found["total"],
            "page_number": number,
            "pages": max(1, -(-found["total"] // PER_PAGE)),
            "query": query,
            "types": sorted({**EVENT_NAMES, **ACCESS_NAMES}.items(), key=lambda kv: kv[1]),
        },
        errors=errors,
        status_code=422 if errors else 200,
    )


@router.get("/audit.csv")
def audit_export(request: Request, caller: page.SignedIn) -> Response:
    svc = services(request)
    filters, _, errors = _filters(request)
    if errors:
        raise InvalidInput("; ".join(errors.values()), next(iter(errors)))
    verdict = allowed_on_unit(svc, caller.principal, Action.EXPORT, None)
    out = io.StringIO()
    out.write("\ufeff")  # so that spreadsheet programs read the file as UTF-8
    writer = csv.writer(out)
    writer.writerow([label for _, label in COLUMNS])
    written = 0
    number = 1
    while written < EXPORT_LIMIT:
        found = audit_trail(caller.principal, svc, **filters, page=number, per_page=1000)
        for row in found["rows"]:
            writer.writerow(
                [
                    row[key].isoformat() if hasattr(row[key], "isoformat") else (row[key] or "")
                    for key, _ in COLUMNS
                ]
            )
        written += len(found["rows"])
        if len(found["rows"]) < 1000:
            break
        number += 1
    described = ", ".join(f"{k}={v}" for k, v in filters.items() if v is not None)
    svc.record_access(
        "export",
        "audit.csv",
        actor=actor_of(caller.principal, verdict),
        basis=f"{verdict.reason}; {written} rows; {described or 'no filter'}",
    )
    return Response(
        out.getvalue().encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": 'attachment; filename="nhat-ky.csv"',
            "Cache-Control": "no-store",
        },
    )


# -- an approval in plain words ----------------------------------------------------------------


@router.get("/verify", response_class=HTMLResponse)
def verify_page(request: Request, caller: page.SignedIn, item: str = "") -> Response:
    svc = services(request)
    allowed_on_unit(svc, caller.principal, Action.VERIFY, None)
    context: dict[str, Any] = {"item": item.strip()[:100], "words": None, "seal": None}
    errors: dict[str, str] = {}
    if item.strip():
        try:
            words, name = _approval_words(svc, caller.principal, item.strip())
            context.update(words=words, full_name=name)
        except NotFound:
            errors["item"] = "Không tìm thấy phê duyệt này, hoặc bạn không có quyền xem."
    else:
        context["seal"] = _seal_status(svc)
    return page.render(
        request, "verify.html", caller, context, errors=errors, status_code=404 if errors else 200
    )


def _approval_words(svc: Services, principal: Principal, item_id: str) -> tuple[Any, str]:
    """The verification of an approval, for a caller who may verify in the item's unit
    (the same answer for an unknown item and one the caller may not see)."""
    shown, _, profile = verified(svc, principal, item_id)
    return approval_in_words(shown), profile.full_name


# -- the ledger seal -------------------------------------------------------------------------------


def _seal_status(svc: Services) -> dict[str, Any]:
    try:
        report = verify(svc.ledger, svc.reader)
    except SealError as exc:
        return {"ok": False, "error": str(exc)}
    last = report.valid_seals[-1] if report.valid_seals else None
    return {
        "ok": report.ok,
        "events": report.events,
        "seals": len(report.seals),
        "valid_seals": len(report.valid_seals),
        "sealed_size": report.sealed_size,
        "unsealed": max(report.events - report.sealed_size, 0),
        "last_sealed_at": vn_time(last.sealed_at.replace("Z", "+00:00")) if last else "",
        "key": key_fingerprint(last.public_key_pem) if last else "",
        "first": report.first,
        "consistency": report.consistency_proofs,
    }


def _proof_response(svc: Services, caller: Any, document: dict[str, Any], name: str) -> Response:
    verdict = allowed_on_unit(svc, caller.principal, Action.VERIFY, None)
    svc.record_access(
        "export", f"seal:{name}", actor=actor_of(caller.principal, verdict), basis=verdict.reason
    )
    return Response(
        json.dumps(document, ensure_ascii=False, indent=2).encode("utf-8"),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
    )


@router.get("/verify/inclusion-proof")
def inclusion_proof(request: Request, caller: page.SignedIn, position: int = 0) -> Response:
    """An event's inclusion proof: for a caller who may verify in the event's unit (an
    event of no unit, such as an account's, only for a grant over the whole instance)."""
    svc = services(request)
    principal = caller.principal
    with svc.reader.connect() as conn:
        row = conn.execute(select(trail).where(trail.c.position == position)).first()
        grant_units = [unit(conn, g.unit_code) for g in principal.grants]
    unknown = f"no event at position {position}"
    if row is None:
        raise NotFound(unknown)
    if row.unit_code:
        verdict = decide(principal, Action.VERIFY, unit_code=row.unit_code)
    else:
        tops = [u["code"] for u in grant_units if u is not None and u["parent_code"] is None]
        verdict = next(
            (v for code in tops if (v := decide(principal, Action.VERIFY, unit_code=code))),
            decide(principal, Action.VERIFY, unit_code="-"),
        )
    if not verdict:
        refuse(
            svc, principal, f"seal:inclusion:{position}", verdict, visible=False, unknown=unknown
        )
    try:
        document = inclusion_proof_document(svc.ledger, svc.reader, position)
    except SealError as exc:
        raise NotFound(str(exc)) from None
    return _proof_response(svc, caller, document, f"inclusion-proof-{position}")


@router.get("/verify/consistency-proof")
def consistency_proof(request: Request, caller: page.SignedIn) -> Response:
    svc = services(request)
    allowed_on_unit(svc, caller.principal, Action.VERIFY, None)
    try:
        document = consistency_proof_document(svc.ledger, svc.reader)
    except SealError as exc:
        raise NotFound(str(exc)) from None
    return _proof_response(svc, caller, document, "consistency-proof")
