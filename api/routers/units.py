"""Units: the tree, one unit with its reorganisations and headcount, its roster (now or on
a past date, and exported in CSV), and the commands that create and reorganise units."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic import TypeAdapter

from api.deps import Services
from api.policy import Action, Principal, decide
from api.routers import (
    COMMAND_ERRORS,
    FORBIDDEN,
    MAX_PAGE,
    READ_ERRORS,
    Caller,
    Svc,
    actor_of,
    allowed_on_unit,
    known_unit,
    unit_row,
)
from api.schemas import (
    HeadcountOut,
    RosterOut,
    StaffingQuotaIn,
    UnitDetail,
    UnitDissolve,
    UnitIn,
    UnitMerge,
    UnitMove,
    UnitNode,
    UnitOut,
    UnitRename,
    UnitTreeOut,
)
from domain.values import EmployeeCategory, json_ready
from projections.history import staff_on_page
from projections.roster import RosterFilter, roster
from projections.units import headcount, unit_history, unit_list

router = APIRouter(prefix="/api/units", tags=["units"])


def readable_unit(svc: Services, principal: Principal, code: str) -> dict[str, Any]:
    """A unit the caller may read, from the read model; 404 otherwise."""
    svc.current()
    return _visible_unit(svc, principal, code)


def _visible_unit(svc: Services, principal: Principal, code: str) -> dict[str, Any]:
    """``readable_unit`` once the read models are current."""
    found = unit_row(svc, code)
    allowed_on_unit(svc, principal, Action.READ_UNIT, found["code"])
    return found


def _unit_out(svc: Services, code: str) -> dict[str, Any]:
    svc.current()
    return unit_row(svc, code)


@router.get("", response_model=UnitTreeOut, responses=READ_ERRORS)
def unit_tree(principal: Caller, svc: Svc) -> dict[str, Any]:
    """The units the caller may read, as a tree (a unit whose parent the caller may not
    read is a root)."""
    svc.current()
    with svc.reader.connect() as conn:
        rows = [
            r for r in unit_list(conn) if decide(principal, Action.READ_UNIT, unit_code=r["code"])
        ]
    nodes = {r["code"]: UnitNode(**r, children=[]) for r in rows}
    roots: list[UnitNode] = []
    for r in rows:
        parent = nodes.get(r["parent_code"] or "")
        (parent.children if parent else roots).append(nodes[r["code"]])
    return {"units": roots}


@router.post(
    "",
    response_model=UnitOut,
    status_code=status.HTTP_201_CREATED,
    responses=COMMAND_ERRORS,
)
def create_unit(body: UnitIn, principal: Caller, svc: Svc, response: Response) -> dict[str, Any]:
    """A new unit under its parent (the governing authority has none)."""
    parent = known_unit(svc, body.parent_code) if body.parent_code else None
    verdict = allowed_on_unit(svc, principal, Action.MANAGE_UNITS, parent)
    code = svc.ledger.create_unit(
        body.code,
        body.name,
        body.kind,
        parent,
        actor=actor_of(principal, verdict),
        effective_date=body.effective_date,
        decision=body.decision.value() if body.decision else None,
    )
    response.headers["Location"] = f"/api/units/{code}"
    return _unit_out(svc, code)


@router.get("/{code}", response_model=UnitDetail, responses=READ_ERRORS)
def unit_detail(code: str, principal: Caller, svc: Svc) -> dict[str, Any]:
    """A unit with its reorganisations and this year's headcount against quota."""
    found = readable_unit(svc, principal, code)
    with svc.reader.connect() as conn:
        history = unit_history(conn, found["code"])
        counts = headcount(conn, found["code"], svc.ledger.today().year)
    return {**found, "history": history, "headcount": counts}


@router.get("/{code}/headcount", response_model=HeadcountOut, responses=READ_ERRORS)
def unit_headcount(
    code: str,
    principal: Caller,
    svc: Svc,
    year: Annotated[
        int | None, Query(ge=1945, le=2200, description="quota year; this year by default")
    ] = None,
) -> dict[str, Any]:
    """Headcount per category against the year's staffing quota, for the unit itself and
    with every unit below it."""
    found = readable_unit(svc, principal, code)
    with svc.reader.connect() as conn:
        return headcount(conn, found["code"], year or svc.ledger.today().year)


def _staff(
    svc: Services,
    code: str,
    *,
    as_of: date | None,
    q: str | None,
    category: EmployeeCategory | None,
    page: int,
    per_page: int,
) -> tuple[int, list[dict[str, Any]]]:
    """The staff of the unit and every unit below it, in Vietnamese name order: now, or on
    a past date (from the bitemporal history); the total and one page."""
    with svc.reads.connect() as conn:
        if as_of is None:
            result = roster(
                conn,
                RosterFilter(unit_code=code, q=q, category=category.value if category else None),
                page=page,
                per_page=per_page,
                unit_codes=svc.units().subtree(code),
            )
            return result.total, result.rows
        return staff_on_page(
            conn,
            code,
            as_of,
            page=page,
            per_page=per_page,
            q=q,
            category=category.value if category else None,
        )


def _entry(row: dict[str, Any]) -> dict[str, Any]:
    coefficient = row.get("coefficient")
    return row if coefficient is None else {**row, "coefficient": str(coefficient)}


AS_OF = Query(description="the roster as it stood on this business date")
NAME_QUERY = Query(description="name, with or without diacritics")


@router.get("/{code}/roster", response_model=RosterOut, responses=READ_ERRORS)
def unit_roster(
    code: str,
    principal: Caller,
    svc: Svc,
    as_of: Annotated[date | None, AS_OF] = None,
    q: Annotated[str | None, NAME_QUERY] = None,
    category: EmployeeCategory | None = None,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    per_page: Annotated[int, Query(ge=1, le=500)] = 50,
) -> Response:
    """Staff of the unit and every unit below it, in Vietnamese name order: now, or on a
    past date (``as_of``, from the bitemporal history)."""
    generation = svc.current()
    found = _visible_unit(svc, principal, code)
    # The page is the same for whoever may read the unit: kept, as sent, until the log
    # gains a change.
    key = ("roster", found["code"], as_of, q, category, page, per_page)
    body = svc.pages.get(generation, key)
    if body is None:
        total, rows = _staff(
            svc, found["code"], as_of=as_of, q=q, category=category, page=page, per_page=per_page
        )
        # The coefficient, a decimal in the read model, is given as text.
        staff = [_entry(r) for r in rows]
        page_out = {
            "unit": found,
            "as_of": as_of,
            "total": total,
            "page": page,
            "per_page": per_page,
            "staff": staff,
        }
        body = ROSTER.dump_json(ROSTER.validate_python(page_out))
        svc.pages.put(generation, key, body)
    return Response(body, media_type="application/json")


ROSTER = TypeAdapter(RosterOut)


# The columns of the roster export: (Vietnamese header, field of a roster entry).
CSV_COLUMNS = (
    ("Họ và tên", "full_name"),
    ("Ngày sinh", "birth_date"),
    ("Giới tính", "gender"),
    ("Dân tộc", "ethnicity"),
    ("Mã đơn vị", "unit_code"),
    ("Phòng, ban", "department"),
    ("Chức vụ", "position"),
    ("Loại cán bộ, công chức, viên chức", "category"),
    ("Mã vị trí việc làm", "job_position_code"),
    ("Mã ngạch", "rank_code"),
    ("Bậc lương", "salary_step"),
    ("Hệ số lương", "coefficient"),
    ("Ngày bắt đầu công tác", "start_date"),
    ("Trạng thái", "status"),
    ("Mã hồ sơ", "profile_id"),
)
CSV_EXAMPLE = (
    "\ufeffSTT,"
    + ",".join(header for header, _ in CSV_COLUMNS)
    + "\r\n1,Nguyễn Văn An,1985-03-14,male,01,STC.NS,Phòng Ngân sách,Chuyên viên,"
    "civil_servant,,01.003,3,3.00,2010-09-01,active,3f6c1c1e-8d8a-4f43-9a59-1c2f3b0e7a10\r\n"
)


@router.get(
    "/{code}/roster.csv",
    response_class=Response,
    responses={
        200: {
            "description": "The roster in CSV: UTF-8 with a byte order mark, headers in "
            "Vietnamese, one row per person",
            "content": {
                "text/csv": {
                    "schema": {"type": "string"},
                    "example": CSV_EXAMPLE,
                }
            },
        },
        **READ_ERRORS,
        **FORBIDDEN,
    },
)
def export_roster(
    code: str,
    principal: Caller,
    svc: Svc,
    as_of: Annotated[date | None, AS_OF] = None,
    category: EmployeeCategory | None = None,
) -> Response:
    """The whole roster of the unit and every unit below it, for a spreadsheet (Excel
    reads the byte order mark as UTF-8). Every export is recorded in the audit trail."""
    svc.current()
    found = unit_row(svc, code)
    verdict = allowed_on_unit(svc, principal, Action.EXPORT, found["code"])
    _, rows = _staff(
        svc, found["code"], as_of=as_of, q=None, category=category, page=1, per_page=10**9
    )
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["STT", *(header for header, _ in CSV_COLUMNS)])
    for number, row in enumerate(json_ready(rows), start=1):
        writer.writerow([number, *("" if row.get(f) is None else row[f] for _, f in CSV_COLUMNS)])
    svc.record_access(
        "export",
        f"unit:{found['code']}/roster.csv",
        actor=actor_of(principal, verdict),
        basis=verdict.reason,
    )
    day = (as_of or svc.ledger.today()).isoformat()
    return Response(
        ("\ufeff" + out.getvalue()).encode("utf-8"),
        media_type="text/csv; charset=utf-8",
        headers={
            "Content-Disposition": f'attachment; filename="danh-sach-{found["code"]}-{day}.csv"',
            "Cache-Control": "no-store",
        },
    )


@router.post("/{code}/rename", response_model=UnitOut, responses=COMMAND_ERRORS)
def rename_unit(code: str, body: UnitRename, principal: Caller, svc: Svc) -> dict[str, Any]:
    target = known_unit(svc, code)
    verdict = allowed_on_unit(svc, principal, Action.MANAGE_UNITS, target)
    svc.ledger.rename_unit(
        target,
        body.name,
        actor=actor_of(principal, verdict),
        effective_date=body.effective_date,
        decision=body.decision.value() if body.decision else None,
    )
    return _unit_out(svc, target)


@router.post("/{code}/move", response_model=UnitOut, responses=COMMAND_ERRORS)
def move_unit(code: str, body: UnitMove, principal: Caller, svc: Svc) -> dict[str, Any]:
    """Place the unit under another parent; the caller manages both."""
    target = known_unit(svc, code)
    parent = known_unit(svc, body.parent_code)
    allowed_on_unit(svc, principal, Action.MANAGE_UNITS, parent)
    verdict = allowed_on_unit(svc, principal, Action.MANAGE_UNITS, target)
    svc.ledger.move_unit(
        target,
        parent,
        actor=actor_of(principal, verdict),
        effective_date=body.effective_date,
        decision=body.decision.value() if body.decision else None,
    )
    return _unit_out(svc, target)


@router.post("/{code}/merge", response_model=UnitOut, responses=COMMAND_ERRORS)
def merge_unit(code: str, body: UnitMerge, principal: Caller, svc: Svc) -> dict[str, Any]:
    """Merge the unit into another (sáp nhập); the caller manages both."""
    target = known_unit(svc, code)
    into = known_unit(svc, body.into_code)
    allowed_on_unit(svc, principal, Action.MANAGE_UNITS, into)
    verdict = allowed_on_unit(svc, principal, Action.MANAGE_UNITS, target)
    svc.ledger.merge_unit(
        target,
        into,
        actor=actor_of(principal, verdict),
        effective_date=body.effective_date,
        decision=body.decision.value(),
    )
    return _unit_out(svc, target)


@router.post("/{code}/dissolve", response_model=UnitOut, responses=COMMAND_ERRORS)
def dissolve_unit(code: str, body: UnitDissolve, principal: Caller, svc: Svc) -> dict[str, Any]:
    target = known_unit(svc, code)
    verdict = allowed_on_unit(svc, principal, Action.MANAGE_UNITS, target)
    svc.ledger.dissolve_unit(
        target,
        actor=actor_of(principal, verdict),
        effective_date=body.effective_date,
        decision=body.decision.value(),
    )
    return _unit_out(svc, target)


@router.put("/{code}/staffing-quota", response_model=HeadcountOut, responses=COMMAND_ERRORS)
def set_staffing_quota(
    code: str, body: StaffingQuotaIn, principal: Caller, svc: Svc
) -> dict[str, Any]:
    """Set the unit's staffing quota (biên chế) of one category for a year; answers the
    year's headcount against quota."""
    target = known_unit(svc, code)
    verdict = allowed_on_unit(svc, principal, Action.MANAGE_UNITS, target)
    svc.ledger.set_staffing_quota(
        target,
        body.year,
        body.category,
        body.headcount,
        actor=actor_of(principal, verdict),
        decision=body.decision.value() if body.decision else None,
    )
    svc.current()
    with svc.reader.connect() as conn:
        return headcount(conn, target, body.year)
