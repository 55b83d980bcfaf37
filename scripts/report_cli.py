"""The ``hoso report stats|annual`` and ``hoso resumes export|import`` commands.

``register(app)`` adds them to a Typer application. (``hoso resume PROFILE`` prints one
signed résumé as a PDF; ``hoso resumes`` moves many résumés in and out of Excel.)
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine, select

from api.deps import principal_for
from api.policy import Action, decide
from domain.application import Ledger
from domain.errors import DomainError
from domain.settings import Settings
from domain.values import Actor, Decision, Role
from operations.report_files import (
    annual_pdf,
    annual_workbook,
    statistics_chart,
    statistics_workbook,
)
from operations.reports import CHANGE_NAMES, annual_report, unit_codes, workforce_statistics
from operations.resume_io import import_resumes, resume_workbook
from projections import catalogue
from projections.database import read_model_engine
from projections.profiles import profile_view, profiles
from projections.roster import CURRENT

console = Console()
report_app = typer.Typer(help="Workforce statistics and the annual report.", no_args_is_help=True)
resumes_app = typer.Typer(
    help="Résumés (Mẫu 2C) in and out of Excel, in bulk.", no_args_is_help=True
)


def fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=1)


@contextmanager
def opened() -> Iterator[tuple[Ledger, Engine]]:
    """The ledger and its read models, caught up with the log."""
    settings = Settings()
    ledger = Ledger(settings)
    engine = read_model_engine(settings, writer=True)
    projector = catalogue.projector(ledger, engine)
    try:
        projector.prepare()
        projector.catch_up()
        yield ledger, engine
    finally:
        projector.close()
        engine.dispose()
        ledger.close()


def _date(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not a date (YYYY-MM-DD)")
    return None


def _write(out: Path, data: bytes) -> None:
    out.write_bytes(data)
    console.print(f"wrote {out} ({len(data):,} bytes)")


@report_app.command("stats")
def stats_command(
    unit: Annotated[str, typer.Argument(help="unit code; its subunits are included")],
    as_of: Annotated[str | None, typer.Option(help="YYYY-MM-DD; today by default")] = None,
    period_from: Annotated[
        str | None, typer.Option("--from", help="changes from YYYY-MM-DD (1 January)")
    ] = None,
    period_to: Annotated[str | None, typer.Option("--to", help="changes until (--as-of)")] = None,
    xlsx: Annotated[Path | None, typer.Option(help="write the Excel workbook here")] = None,
    png: Annotated[Path | None, typer.Option(help="write the chart here")] = None,
) -> None:
    """Staff of a unit subtree on a date by category, rank, gender, age, ethnicity,
    education and political theory, and the changes of a period."""
    with opened() as (ledger, engine):
        day = _date(as_of, "--as-of") or ledger.today()
        try:
            with engine.connect() as conn:
                s = workforce_statistics(
                    conn,
                    unit,
                    day,
                    period_from=_date(period_from, "--from"),
                    period_to=_date(period_to, "--to"),
                )
        except DomainError as exc:
            fail(exc.message)
            return
    console.print(f"{s.unit_name} ({s.unit_code}) on {day.isoformat()}: {s.total} on staff")
    for dimension in s.dimensions:
        table = Table(title=dimension.title)
        for column in ("code", "name", "people"):
            table.add_column(column)
        for count in dimension.counts:
            table.add_row(count.code or "", count.label, str(count.count))
        console.print(table)
    changes = Table(title=f"changes {s.period_from} – {s.period_to}")
    changes.add_column("change")
    changes.add_column("people")
    changes.add_row(f"on staff {s.period_from} (start)", str(s.headcount_before))
    for kind, name in CHANGE_NAMES.items():
        changes.add_row(name, str(s.changes[kind]))
    changes.add_row(f"on staff {s.period_to} (end)", str(s.headcount_after))
    console.print(changes)
    if xlsx is not None:
        _write(xlsx, statistics_workbook(s))
    if png is not None:
        _write(png, statistics_chart(s))


@report_app.command("annual")
def annual_command(
    year: Annotated[int, typer.Argument(help="the year reported on")],
    unit: Annotated[
        str | None, typer.Option(help="a unit subtree; the whole instance if omitted")
    ] = None,
    xlsx: Annotated[Path | None, typer.Option(help="write the Excel workbook here")] = None,
    pdf: Annotated[Path | None, typer.Option(help="write the PDF here")] = None,
) -> None:
    """The report on the management of the database during a year."""
    from operations.report_files import annual_lines

    with opened() as (ledger, engine):
        try:
            with engine.connect() as conn:
                report = annual_report(
                    conn,
                    year,
                    jurisdiction=ledger.jurisdiction,
                    calendar=ledger.calendar,
                    unit_code=unit,
                    today=ledger.today(),
                )
        except DomainError as exc:
            fail(exc.message)
            return
    table = Table(title=f"{report.unit_name}: {year}")
    table.add_column("figure")
    table.add_column("value")
    for label, value in annual_lines(report):
        table.add_row(label, "—" if value is None else str(value))
    console.print(table)
    for line in report.reports_due:
        console.print(f"due {line.due.isoformat()}: {line.name} ({line.article})")
    if xlsx is not None:
        _write(xlsx, annual_workbook(report))
    if pdf is not None:
        _write(pdf, annual_pdf(report))


@resumes_app.command("export")
def export_command(
    out: Annotated[Path, typer.Option(help="the Excel file to write")],
    unit: Annotated[str | None, typer.Option(help="everyone on staff of this unit subtree")] = None,
    profile: Annotated[
        list[str] | None, typer.Option(help="a profile id or citizen ID (repeatable)")
    ] = None,
) -> None:
    """Résumés in the Mẫu 2C Excel layout: of a unit subtree, or of the profiles named."""
    if not unit and not profile:
        fail("name a --unit or at least one --profile")
    with opened() as (ledger, engine):
        with engine.connect() as conn:
            views = _views(ledger, conn, unit, profile or [])
        ledger.record_access(
            "export",
            f"resumes.xlsx:{unit or ','.join(v['profile_id'] for v in views)}",
            actor=Actor("cli", Role.SYSTEM, ""),
            basis="command line",
        )
    _write(out, resume_workbook(views))
    console.print(f"{len(views)} résumé(s)")


def _views(ledger: Ledger, conn: Any, unit: str | None, keys: list[str]) -> list[dict[str, Any]]:
    """The profile views of everyone on staff of a unit subtree, or of the profiles named."""
    try:
        if unit:
            codes = unit_codes(conn, unit.strip().upper())
            ids = list(
                conn.execute(
                    select(profiles.c.profile_id)
                    .where(profiles.c.unit_code.in_(sorted(codes)))
                    .where(profiles.c.status.in_(CURRENT))
                    .order_by(profiles.c.full_name)
                ).scalars()
            )
        else:
            ids = [str(ledger.find_profile_id(key)) for key in keys]
    except DomainError as exc:
        fail(exc.message)
        return []
    return [v for v in (profile_view(conn, pid) for pid in ids) if v is not None]


@resumes_app.command("import")
def import_command(
    workbook: Annotated[Path, typer.Argument(help="a Mẫu 2C Excel file")],
    importer: Annotated[str, typer.Option("--as", help="the importing account")],
    skip_invalid: Annotated[
        bool, typer.Option(help="import the valid rows and leave out the faulty ones")
    ] = False,
    skip_rows: Annotated[
        str, typer.Option(help="rows of the sheet 'Mẫu 2C' to leave out, e.g. 7,12,40")
    ] = "",
    dry_run: Annotated[bool, typer.Option(help="check every row, import nothing")] = False,
    decision: Annotated[
        str | None, typer.Option(help="recruitment decision for rows naming none")
    ] = None,
    decision_date: Annotated[str | None, typer.Option(help="its date, YYYY-MM-DD")] = None,
) -> None:
    """Load résumés in bulk: every row is checked first; nothing is imported while a row
    is faulty, unless faulty rows are left out (--skip-invalid or --skip-rows)."""
    try:
        excluded = [int(part) for part in skip_rows.split(",") if part.strip()]
    except ValueError:
        fail(f"--skip-rows {skip_rows!r} is not a list of row numbers")
        return
    default = None
    if decision:
        signed = _date(decision_date, "--decision-date")
        if signed is None:
            fail("--decision needs --decision-date")
            return
        default = Decision(decision, signed)
    if not workbook.is_file():
        fail(f"no file {workbook}")
    with opened() as (ledger, engine):
        try:
            account = ledger.account(importer)
            with engine.connect() as conn:
                principal = principal_for(account, conn, ledger.today())
        except DomainError as exc:
            fail(exc.message)
            return

        def scope(unit_code: str) -> Actor | None:
            verdict = decide(principal, Action.RECORD_TRANSITION, unit_code=unit_code)
            if not verdict or verdict.role is None:
                return None
            return Actor(principal.account, verdict.role, verdict.unit_code or "")

        try:
            report = import_resumes(
                ledger,
                workbook.read_bytes(),
                scope=scope,
                skip_invalid=skip_invalid,
                skip_rows=excluded,
                decision=default,
                dry_run=dry_run,
                source=workbook.name,
            )
        except DomainError as exc:
            fail(exc.message)
            return
    if report.errors:
        table = Table(title=f"{len(report.errors)} lỗi ({len(report.faulty_rows)} dòng)")
        for column in ("sheet", "row", "column", "reason"):
            table.add_column(column)
        for error in report.errors:
            table.add_row(error.sheet, str(error.row), error.column, error.reason)
        console.print(table)
    if report.dry_run:
        console.print(f"checked {report.rows} rows: {report.valid} valid, nothing imported")
    elif report.refused:
        fail(
            f"nothing imported: {len(report.faulty_rows)} faulty row(s); fix them, or leave "
            "them out with --skip-invalid or --skip-rows"
        )
    else:
        console.print(f"imported {report.imported} of {report.rows} rows")


def register(app: typer.Typer) -> None:
    app.add_typer(report_app, name="report")
    app.add_typer(resumes_app, name="resumes")
