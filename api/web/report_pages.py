"""Reports as pages: the workforce statistics of a unit subtree on a date (and the changes
of a period) as tables, with the Excel and chart downloads of the API; the annual report
(Excel, PDF) and the Mẫu 2C export of a unit; and the Mẫu 2C bulk import, which lists
every faulty row and imports nothing until the person chooses to leave those rows out.

The downloads are the API's own (``/api/reports/…``): they ask the policy for ``export``
and record the file in the audit trail. The import asks for ``record_transition`` on the
unit, as the API does, and every profile it opens is recorded by the importing account.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response
from starlette.datastructures import FormData, UploadFile

from api.deps import Services, services
from api.policy import Action, Principal, decide
from api.routers import actor_of, scope_unit
from api.web import forms, page
from api.web.dashboard import scope_roots
from api.web.units import TreeNode, readable_tree
from domain.errors import DomainError, DuplicateCitizenId, InvalidInput
from domain.values import Actor, Decision
from operations.reports import CHANGE_NAMES, ENTERED, LEFT, unit_codes, workforce_statistics
from operations.resume_io import ImportReport, UnreadableWorkbook, import_resumes

router = APIRouter(include_in_schema=False)
NAV = (page.NavItem("Báo cáo", "/reports", 50, page.may(Action.READ_UNIT)),)

REPORTS_PATH = "/reports"
IMPORT_PATH = "/reports/import"
IMPORT_MAX_BYTES = 20 * 1024 * 1024  # a Mẫu 2C workbook of some ten thousand people
XLSX_MAGIC = b"PK\x03\x04"  # an .xlsx file is a zip archive
# An uploaded workbook waits this long for the choice to leave its faulty rows out.
PENDING_SECONDS = 30 * 60
PENDING_MAX = 8  # workbooks of up to IMPORT_MAX_BYTES each, held in memory
ERRORS_SHOWN = 1000


def unit_options(svc: Services, principal: Principal, action: Action) -> list[tuple[str, str]]:
    """The units the principal may take ``action`` on, in tree order, indented by depth."""
    options: list[tuple[str, str]] = []

    def walk(nodes: list[TreeNode], depth: int) -> None:
        for node in nodes:
            code = node.unit["code"]
            if decide(principal, action, unit_code=code):
                options.append((code, "\u00a0\u00a0" * depth + node.unit["name"]))
            walk(node.children, depth + 1)

    walk(readable_tree(svc, principal), 0)
    return options


def _day(value: str, name: str, errors: dict[str, str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        errors[name] = "Ngày không hợp lệ (ngày/tháng/năm)."
        return None


# -- statistics, annual report, export ------------------------------------------------------


STATISTICS_FIELDS = ("as_of", "period_from", "period_to")


def _reports(request: Request, caller: Any) -> Response:
    svc = services(request)
    principal = caller.principal
    query = request.query_params
    roots = scope_roots(principal)
    wanted = (query.get("unit") or "").strip() or (roots[0] if roots else None)
    code = scope_unit(svc, principal, Action.READ_UNIT, wanted)
    errors: dict[str, str] = {}
    as_of = _day(query.get("as_of", ""), "as_of", errors) or caller.today
    period_from = _day(query.get("period_from", ""), "period_from", errors)
    period_to = _day(query.get("period_to", ""), "period_to", errors)
    found = None
    if not errors:
        try:
            with svc.reader.connect() as conn:
                found = workforce_statistics(
                    conn, code, as_of, period_from=period_from, period_to=period_to
                )
        except InvalidInput as exc:
            where = exc.field if exc.field in STATISTICS_FIELDS else "_form"
            if "period ends before it begins" in exc.message:
                errors[where] = "Ngày bắt đầu kỳ phải trước ngày kết thúc kỳ."
            else:
                errors[where] = "Ngày phải từ 02/01/1900 đến 31/12/2200."
    may_export = bool(decide(principal, Action.EXPORT, unit_code=code))
    downloads: dict[str, str] = {}
    if found is not None and may_export:
        params = urlencode(
            {
                "unit": code,
                "as_of": found.as_of.isoformat(),
                "period_from": found.period_from.isoformat(),
                "period_to": found.period_to.isoformat(),
            }
        )
        downloads = {
            "xlsx": f"/api/reports/workforce.xlsx?{params}",
            "png": f"/api/reports/workforce.png?{params}",
            "resumes": f"/api/reports/resumes.xlsx?{urlencode({'unit': code})}",
        }
    this_year = caller.today.year
    changes = []
    if found is not None:
        changes = [
            {"name": CHANGE_NAMES[k], "count": found.changes[k], "entered": k in ENTERED}
            for k in (*ENTERED, *LEFT)
        ]
    return page.render(
        request,
        "reports.html",
        caller,
        {
            "units": unit_options(svc, principal, Action.READ_UNIT),
            "unit_code": code,
            "values": {
                "as_of": query.get("as_of") or as_of.isoformat(),
                "period_from": query.get("period_from")
                or (found.period_from.isoformat() if found else ""),
                "period_to": query.get("period_to")
                or (found.period_to.isoformat() if found else ""),
            },
            "stats": found,
            "changes": changes,
            "may_export": may_export,
            "may_import": bool(decide(principal, Action.RECORD_TRANSITION)),
            "downloads": downloads,
            "years": list(range(this_year, this_year - 11, -1)),
            "year": this_year - 1 if caller.today.month < 7 else this_year,
        },
        errors=errors,
        status_code=422 if errors else 200,
    )


@router.get(REPORTS_PATH, response_class=HTMLResponse)
async def reports_page(request: Request, caller: page.SignedIn) -> Response:
    return await run_in_threadpool(_reports, request, caller)


# -- Mẫu 2C bulk import --------------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """An uploaded workbook refused for its faulty rows, kept for the choice to import the
    other rows (never written anywhere: it is dropped after PENDING_SECONDS)."""

    account: str
    unit_code: str
    filename: str
    data: bytes
    faulty_rows: tuple[int, ...]
    decision: Decision | None
    expires: float


_pending_lock = threading.Lock()


def _pending(request: Request) -> dict[str, Pending]:
    found: dict[str, Pending] | None = getattr(request.app.state, "pending_imports", None)
    if found is None:
        found = {}
        request.app.state.pending_imports = found
    now = time.monotonic()
    for token in [t for t, p in found.items() if p.expires < now]:
        del found[token]
    return found


def _keep(request: Request, pending: Pending) -> str:
    token = secrets.token_urlsafe(24)
    with _pending_lock:
        waiting = _pending(request)
        for old in [t for t, p in waiting.items() if p.account == pending.account]:
            del waiting[old]
        while len(waiting) >= PENDING_MAX:
            del waiting[min(waiting, key=lambda t: waiting[t].expires)]
        waiting[token] = pending
    return token


def _take(request: Request, token: str, account: str) -> Pending | None:
    with _pending_lock:
        waiting = _pending(request)
        found = waiting.get(token)
        if found is None or found.account != account:
            return None
        del waiting[token]
        return found


def _import_form(
    request: Request,
    caller: Any,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    report: ImportReport | None = None,
    token: str = "",
) -> Response:
    svc = services(request)
    faults = report.errors if report else []
    return page.render(
        request,
        "resume_import.html",
        caller,
        {
            "units": unit_options(svc, caller.principal, Action.RECORD_TRANSITION),
            "values": values or {},
            "report": report,
            "faults": faults[:ERRORS_SHOWN],
            "faults_hidden": max(0, len(faults) - ERRORS_SHOWN),
            "token": token,
            "max_mb": IMPORT_MAX_BYTES // (1024 * 1024),
        },
        errors=errors,
        status_code=422 if errors or report else 200,
    )


@router.get(IMPORT_PATH, response_class=HTMLResponse)
def import_page(request: Request, caller: page.SignedIn) -> Response:
    scope_unit(services(request), caller.principal, Action.RECORD_TRANSITION, None)
    return _import_form(request, caller)


async def _upload(form: FormData, errors: dict[str, str]) -> tuple[bytes, str] | None:
    value = form.get("workbook")
    if not isinstance(value, UploadFile) or not value.filename:
        errors["workbook"] = "Vui lòng chọn tệp Excel (.xlsx) theo Mẫu 2C."
        return None
    data = await value.read(IMPORT_MAX_BYTES + 1)
    if len(data) > IMPORT_MAX_BYTES:
        errors["workbook"] = f"Tệp lớn hơn {IMPORT_MAX_BYTES // (1024 * 1024)} MB."
        return None
    if not data.startswith(XLSX_MAGIC):
        errors["workbook"] = "Tệp không phải bảng tính Excel (.xlsx)."
        return None
    return data, value.filename


def _decision(form: FormData, errors: dict[str, str]) -> Decision | None:
    """The recruitment decision for rows that name none: optional, but whole if given."""
    if not any(forms.text(form, n) for n in ("decision_number", "decision_signed_on")):
        return None
    return forms.decision_of(form, errors, None)


@router.post(IMPORT_PATH, response_class=HTMLResponse)
async def import_upload(request: Request, caller: page.SignedIn) -> Response:
    form = await request.form()
    errors: dict[str, str] = {}
    values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}
    found = await _upload(form, errors)
    decision = _decision(form, errors)
    return await run_in_threadpool(
        _import, request, caller, forms.text(form, "unit", 40), found, decision, values, errors
    )


def _import(
    request: Request,
    caller: Any,
    unit: str,
    found: tuple[bytes, str] | None,
    decision: Decision | None,
    values: dict[str, str],
    errors: dict[str, str],
) -> Response:
    svc = services(request)
    principal = caller.principal
    scope_unit(svc, principal, Action.RECORD_TRANSITION, None)
    if not unit:
        errors["unit"] = "Vui lòng chọn đơn vị."
    elif not decide(principal, Action.RECORD_TRANSITION, unit_code=unit.upper()):
        errors["unit"] = "Đơn vị không thuộc phạm vi quản lý của tài khoản."
    if errors or found is None:
        return _import_form(request, caller, values=values, errors=errors)
    data, filename = found
    code = scope_unit(svc, principal, Action.RECORD_TRANSITION, unit)
    try:
        report = _run(svc, principal, code, data, filename, decision, skip_rows=())
    except UnreadableWorkbook:
        message = "Không đọc được tệp: cần bảng tính Excel (.xlsx) có trang “Mẫu 2C”."
        return _import_form(request, caller, values=values, errors={"workbook": message})
    except (DomainError, DuplicateCitizenId) as exc:
        return _import_form(request, caller, values=values, errors=forms.error_for(exc))
    if report.refused:
        token = _keep(
            request,
            Pending(
                principal.account,
                code,
                filename,
                data,
                tuple(report.faulty_rows),
                decision,
                time.monotonic() + PENDING_SECONDS,
            ),
        )
        return _import_form(request, caller, values=values, report=report, token=token)
    return page.redirect(request, IMPORT_PATH, _done(report, filename))


@router.post(IMPORT_PATH + "/exclude", response_class=HTMLResponse)
async def import_excluding(request: Request, caller: page.SignedIn) -> Response:
    form = await request.form()
    token = forms.text(form, "token", 64)
    return await run_in_threadpool(_import_rest, request, caller, token)


def _import_rest(request: Request, caller: Any, token: str) -> Response:
    svc = services(request)
    principal = caller.principal
    pending = _take(request, token, principal.account)
    if pending is None:
        message = "Tệp đã tải lên không còn được giữ (quá 30 phút): vui lòng chọn lại tệp."
        return _import_form(request, caller, errors={"workbook": message})
    code = scope_unit(svc, principal, Action.RECORD_TRANSITION, pending.unit_code)
    values = {"unit": code}
    try:
        report = _run(
            svc,
            principal,
            code,
            pending.data,
            pending.filename,
            pending.decision,
            skip_rows=pending.faulty_rows,
            skip_invalid=True,
        )
    except (DomainError, DuplicateCitizenId) as exc:
        return _import_form(request, caller, values=values, errors=forms.error_for(exc))
    return page.redirect(request, IMPORT_PATH, _done(report, pending.filename))


def _run(
    svc: Services,
    principal: Principal,
    code: str,
    data: bytes,
    filename: str,
    decision: Decision | None,
    *,
    skip_rows: tuple[int, ...],
    skip_invalid: bool = False,
) -> ImportReport:
    with svc.reader.connect() as conn:
        inside = unit_codes(conn, code)

    def scope(unit_code: str) -> Actor | None:
        verdict = decide(principal, Action.RECORD_TRANSITION, unit_code=unit_code)
        return actor_of(principal, verdict) if verdict and unit_code in inside else None

    return import_resumes(
        svc.ledger,
        data,
        scope=scope,
        skip_invalid=skip_invalid,
        skip_rows=skip_rows,
        decision=decision,
        source=filename[:120],
    )


def _done(report: ImportReport, filename: str) -> str:
    text = f"Đã nhập {report.imported} hồ sơ mới từ tệp {filename[:120]}"
    if report.excluded_rows:
        text += f"; {len(report.excluded_rows)} dòng có lỗi được loại trừ"
    if report.errors:
        text += f"; {len(report.faulty_rows)} dòng khác có lỗi không được nhập"
    return text + "."
