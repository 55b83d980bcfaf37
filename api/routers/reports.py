"""Reports: workforce statistics of a unit subtree (JSON, Excel, chart), the annual report
(JSON, Excel, PDF), and résumés in the Mẫu 2C Excel layout, out (export) and in (bulk
import, every row checked first). Every file handed out is recorded in the audit trail."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from api.deps import Services
from api.policy import Action, Principal, decide
from api.routers import (
    COMMAND_ERRORS,
    READ_ERRORS,
    Caller,
    Disclosure,
    Svc,
    actor_of,
    scope_unit,
)
from api.schemas import DECISION_EXAMPLE, DecisionIn, example
from domain.values import Actor, json_ready
from operations.report_files import (
    annual_pdf,
    annual_workbook,
    statistics_chart,
    statistics_workbook,
)
from operations.reports import (
    AnnualReport,
    WorkforceStatistics,
    annual_report,
    unit_codes,
    workforce_statistics,
)
from operations.resume_io import decode_workbook, import_resumes, resume_workbook
from projections.profiles import profile_view, profiles
from projections.roster import CURRENT

router = APIRouter(prefix="/api/reports", tags=["reports"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
UNIT = Query(description="unit code (its subunits included); the caller's own by default")
YEAR = Query(ge=1945, le=2200, description="the calendar year reported on")


def _file(kind: str, description: str, sample: str) -> dict[int | str, dict[str, Any]]:
    content = {kind: {"schema": {"type": "string", "format": "binary"}, "example": sample}}
    return {200: {"description": description, "content": content}, **READ_ERRORS}


WORKBOOK = "PK… (an Excel workbook: a summary sheet, then one sheet per table)"


class CountOut(BaseModel):
    code: str | None
    label: str
    count: int


class DimensionOut(BaseModel):
    name: str
    title: str
    counts: list[CountOut]


class WorkforceOut(BaseModel):
    model_config = example(
        {
            "unit_code": "000.00.04.H01",
            "unit_name": "Sở Nội vụ",
            "as_of": "2025-12-31",
            "total": 3,
            "dimensions": [
                {
                    "name": "gender",
                    "title": "Giới tính",
                    "counts": [
                        {"code": "female", "label": "Nữ", "count": 2},
                        {"code": "male", "label": "Nam", "count": 1},
                    ],
                }
            ],
            "period_from": "2025-01-01",
            "period_to": "2025-12-31",
            "headcount_before": 3,
            "headcount_after": 3,
            "changes": {"recruited": 1, "retired": 1},
        }
    )

    unit_code: str
    unit_name: str
    as_of: date
    total: int
    dimensions: list[DimensionOut]
    period_from: date
    period_to: date
    headcount_before: int
    headcount_after: int
    changes: dict[str, int]


class AnnualOut(BaseModel):
    model_config = example(
        {
            "year": 2025,
            "unit_code": "000.00.04.H01",
            "unit_name": "Sở Nội vụ",
            "jurisdiction": "cantho",
            "records_created": 12,
            "changes_proposed": 40,
            "changes_approved": 37,
            "changes_rejected": 2,
            "records_approved": 12,
            "transitions": {"retirement": 3, "release_transfer": 1},
            "approval_delays": {"count": 37, "mean": 2.4, "median": 2, "max": 9},
            "deadlines": [{"action": "change_approval", "late": 1, "overdue": 0}],
            "syncs": 49,
            "by_unit": [{"unit_code": "000.00.04.H01", "records_created": 12}],
            "reports_due": [{"name": "Báo cáo năm", "due": "2026-01-15"}],
            "generated_on": "2026-01-05",
        }
    )

    year: int
    unit_code: str | None
    unit_name: str
    jurisdiction: str
    records_created: int
    changes_proposed: int
    changes_approved: int
    changes_rejected: int
    records_approved: int
    transitions: dict[str, int]
    approval_delays: dict[str, Any]
    deadlines: list[dict[str, Any]]
    syncs: int
    by_unit: list[dict[str, Any]]
    reports_due: list[dict[str, Any]]
    generated_on: date


class RowErrorOut(BaseModel):
    sheet: str
    row: int
    column: str
    reason: str
    detail_en: str


class ResumeImportIn(BaseModel):
    model_config = example(
        {
            "unit": "000.00.04.H01",
            "workbook": "UEsDBBQAAAAIAA…",
            "skip_invalid": False,
            "skip_rows": [],
            "dry_run": True,
            "decision": DECISION_EXAMPLE,
        }
    )

    unit: str | None = Field(
        None, max_length=40, description="the unit the import is for; the caller's own by default"
    )
    workbook: str = Field(max_length=80_000_000, description="the .xlsx file, base64")
    skip_invalid: bool = Field(False, description="import the valid rows, leave out the others")
    skip_rows: list[int] = Field(
        default_factory=list, max_length=100_000, description="rows of 'Mẫu 2C' to leave out"
    )
    dry_run: bool = Field(False, description="check every row, import nothing")
    decision: DecisionIn | None = Field(None, description="for rows naming no decision")


class ResumeImportOut(BaseModel):
    model_config = example(
        {
            "rows": 3,
            "valid": 2,
            "imported": 0,
            "dry_run": True,
            "faulty_rows": [9],
            "excluded_rows": [],
            "errors": [
                {
                    "sheet": "Mẫu 2C",
                    "row": 9,
                    "column": "Dân tộc",
                    "reason": "Mã dân tộc không có trong danh mục",
                    "detail_en": "unknown ethnicity code",
                }
            ],
            "profile_ids": [],
        }
    )

    rows: int
    valid: int
    imported: int
    dry_run: bool
    faulty_rows: list[int]
    excluded_rows: list[int]
    errors: list[RowErrorOut]
    profile_ids: list[str]


def _statistics(
    svc: Services,
    principal: Principal,
    action: Action,
    unit: str | None,
    as_of: date | None,
    period_from: date | None,
    period_to: date | None,
) -> tuple[WorkforceStatistics, Any]:
    code = scope_unit(svc, principal, action, unit)
    verdict = decide(principal, action, unit_code=code)
    with svc.reader.connect() as conn:
        found = workforce_statistics(
            conn,
            code,
            as_of or svc.ledger.today(),
            period_from=period_from,
            period_to=period_to,
        )
    return found, verdict


def _annual(
    svc: Services, principal: Principal, action: Action, unit: str | None, year: int | None
) -> tuple[AnnualReport, Any]:
    code = scope_unit(svc, principal, action, unit)
    verdict = decide(principal, action, unit_code=code)
    with svc.reader.connect() as conn:
        found = annual_report(
            conn,
            year or svc.ledger.today().year,
            jurisdiction=svc.ledger.jurisdiction,
            calendar=svc.ledger.calendar,
            unit_code=code,
            today=svc.ledger.today(),
        )
    return found, verdict


def _download(
    svc: Services, principal: Principal, verdict: Any, data: bytes, kind: str, name: str
) -> Response:
    svc.record_access(
        "export", f"reports/{name}", actor=actor_of(principal, verdict), basis=verdict.reason
    )
    return Response(
        data,
        media_type=kind,
        headers={
            "Content-Disposition": f'attachment; filename="{name}"',
            "Cache-Control": "no-store",
        },
    )


@router.get("/workforce", response_model=WorkforceOut, responses=READ_ERRORS)
def workforce(
    principal: Caller,
    svc: Svc,
    unit: Annotated[str | None, UNIT] = None,
    as_of: Annotated[date | None, Query(description="staff on this date; today by default")] = None,
    period_from: Annotated[date | None, Query(description="changes from (1 January)")] = None,
    period_to: Annotated[date | None, Query(description="changes until (as_of)")] = None,
) -> dict[str, Any]:
    """Staff of a unit subtree on a date by category, rank, gender, age band, ethnicity,
    education and political theory, and who entered and left during a period."""
    found, _ = _statistics(svc, principal, Action.READ_UNIT, unit, as_of, period_from, period_to)
    return json_ready(found)  # type: ignore[no-any-return]


@router.get(
    "/workforce.xlsx", response_class=Response, responses=_file(XLSX, "Excel workbook", WORKBOOK)
)
def workforce_xlsx(
    principal: Caller,
    svc: Svc,
    unit: Annotated[str | None, UNIT] = None,
    as_of: Annotated[date | None, Query()] = None,
    period_from: Annotated[date | None, Query()] = None,
    period_to: Annotated[date | None, Query()] = None,
) -> Response:
    """The statistics as an Excel workbook: a summary and one sheet per dimension."""
    found, verdict = _statistics(svc, principal, Action.EXPORT, unit, as_of, period_from, period_to)
    name = f"thong-ke-{found.unit_code}-{found.as_of.isoformat()}.xlsx"
    return _download(svc, principal, verdict, statistics_workbook(found), XLSX, name)


@router.get(
    "/workforce.png",
    response_class=Response,
    responses=_file("image/png", "A chart", "(a PNG image of the chart)"),
)
def workforce_png(
    principal: Caller,
    svc: Svc,
    unit: Annotated[str | None, UNIT] = None,
    as_of: Annotated[date | None, Query()] = None,
    period_from: Annotated[date | None, Query()] = None,
    period_to: Annotated[date | None, Query()] = None,
) -> Response:
    """The statistics as one chart image."""
    found, verdict = _statistics(svc, principal, Action.EXPORT, unit, as_of, period_from, period_to)
    name = f"thong-ke-{found.unit_code}-{found.as_of.isoformat()}.png"
    return _download(svc, principal, verdict, statistics_chart(found), "image/png", name)


@router.get("/annual", response_model=AnnualOut, responses=READ_ERRORS)
def annual(
    principal: Caller,
    svc: Svc,
    unit: Annotated[str | None, UNIT] = None,
    year: Annotated[int | None, YEAR] = None,
) -> dict[str, Any]:
    """The report on the management of the database during a year, for a unit subtree."""
    found, _ = _annual(svc, principal, Action.READ_UNIT, unit, year)
    return json_ready(found)  # type: ignore[no-any-return]


@router.get(
    "/annual.xlsx", response_class=Response, responses=_file(XLSX, "Excel workbook", WORKBOOK)
)
def annual_xlsx(
    principal: Caller,
    svc: Svc,
    unit: Annotated[str | None, UNIT] = None,
    year: Annotated[int | None, YEAR] = None,
) -> Response:
    found, verdict = _annual(svc, principal, Action.EXPORT, unit, year)
    name = f"bao-cao-nam-{found.year}-{found.unit_code}.xlsx"
    return _download(svc, principal, verdict, annual_workbook(found), XLSX, name)


@router.get(
    "/annual.pdf",
    response_class=Response,
    responses=_file("application/pdf", "PDF document", "%PDF-1.7 … (the annual report)"),
)
def annual_pdf_file(
    principal: Caller,
    svc: Svc,
    unit: Annotated[str | None, UNIT] = None,
    year: Annotated[int | None, YEAR] = None,
) -> Response:
    found, verdict = _annual(svc, principal, Action.EXPORT, unit, year)
    name = f"bao-cao-nam-{found.year}-{found.unit_code}.pdf"
    return _download(svc, principal, verdict, annual_pdf(found), "application/pdf", name)


@router.get(
    "/resumes.xlsx", response_class=Response, responses=_file(XLSX, "Mẫu 2C workbook", WORKBOOK)
)
def resumes_xlsx(principal: Caller, svc: Svc, unit: Annotated[str | None, UNIT] = None) -> Response:
    """The résumés of everyone on staff of a unit subtree in the Mẫu 2C Excel layout;
    values of restricted groups the caller is not cleared for stay empty."""
    code = scope_unit(svc, principal, Action.EXPORT, unit)
    verdict = decide(principal, Action.EXPORT, unit_code=code)
    views = []
    with svc.reader.connect() as conn:
        codes = unit_codes(conn, code)
        ids = conn.execute(
            select(profiles.c.profile_id)
            .where(profiles.c.unit_code.in_(sorted(codes)), profiles.c.status.in_(CURRENT))
            .order_by(profiles.c.full_name)
        ).scalars()
        for pid in list(ids):
            view = profile_view(conn, pid)
            if view is None:
                continue
            seen = Disclosure(principal, unit_code=view["unit_code"], profile_id=pid)
            views.append({"record": seen.record(json_ready(view["record"]))})
            seen.record_read(svc, f"profile:{pid}")
    data = resume_workbook(views)
    return _download(svc, principal, verdict, data, XLSX, f"mau-2c-{code}.xlsx")


@router.post("/resume-import", response_model=ResumeImportOut, responses=COMMAND_ERRORS)
def resume_import(body: ResumeImportIn, principal: Caller, svc: Svc) -> dict[str, Any]:
    """Load résumés in bulk from a Mẫu 2C workbook. Every row is checked first; while any
    row is faulty nothing is imported (422 ``import_refused`` listing every fault with its
    sheet, row, column and reason), unless the faulty rows are left out (``skip_invalid``,
    ``skip_rows``); then all valid rows are imported at once, by the caller."""
    code = scope_unit(svc, principal, Action.RECORD_TRANSITION, body.unit)
    data = decode_workbook(body.workbook)
    with svc.reader.connect() as conn:
        inside = unit_codes(conn, code)

    def scope(unit_code: str) -> Actor | None:
        verdict = decide(principal, Action.RECORD_TRANSITION, unit_code=unit_code)
        return actor_of(principal, verdict) if verdict and unit_code in inside else None

    report = import_resumes(
        svc.ledger,
        data,
        scope=scope,
        skip_invalid=body.skip_invalid,
        skip_rows=body.skip_rows,
        decision=body.decision.value() if body.decision else None,
        dry_run=body.dry_run,
        source="API",
    )
    result = {
        "rows": report.rows,
        "valid": report.valid,
        "imported": report.imported,
        "dry_run": report.dry_run,
        "faulty_rows": report.faulty_rows,
        "excluded_rows": report.excluded_rows,
        "errors": [e.as_dict() for e in report.errors],
        "profile_ids": report.profile_ids,
    }
    if report.refused:
        raise HTTPException(
            422,
            detail={
                "code": "import_refused",
                "message": f"Không nhập hồ sơ nào: {len(report.faulty_rows)} dòng có lỗi. "
                "Hãy sửa các dòng này, hoặc loại trừ chúng khi nhập.",
                "detail_en": f"nothing imported: {len(report.faulty_rows)} faulty row(s)",
                **result,
            },
        )
    return result
