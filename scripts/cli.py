"""The ``hoso`` command line."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from eventsourcing.cryptography import AESCipher
from rich.console import Console
from rich.progress import MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

from domain.application import Ledger
from domain.errors import DomainError
from domain.profile import Profile
from domain.resume import GROUPS
from domain.settings import Settings
from projections import catalogue
from projections.database import read_model_engine
from projections.framework import Projector
from projections.roster import RosterFilter, roster
from projections.units import unit as find_unit
from scripts import backup_cli, keys_cli, pki_cli, report_cli, scheduler_cli, seal_cli, sync_cli

app = typer.Typer(help="hoso — the personnel-records ledger (hồ sơ CBCCVC).", no_args_is_help=True)
app.add_typer(pki_cli.app, name="pki")
app.add_typer(keys_cli.app, name="keys")
seal_cli.register(app)
backup_cli.register(app)
scheduler_cli.register(app)
sync_cli.register(app)
report_cli.register(app)
console = Console()


def open_ledger() -> Ledger:
    return Ledger(Settings())


def fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=1)


@app.command()
def init() -> None:
    """Create the store (and the key files named by HOSO_CIPHER_KEY_FILE and
    HOSO_BACKUP_KEY_FILE, if missing)."""
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key_file = settings.cipher_key_file
    if key_file is not None and not settings.cipher_key and not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        # Created readable by its owner only, from the first byte.
        descriptor = os.open(key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as file:
            file.write(AESCipher.create_key(32) + "\n")
        console.print(f"generated a cipher key in {key_file}")
    backup_key = settings.backup_key_file
    if backup_key is not None and not settings.backup_key and not backup_key.exists():
        from operations.backup import new_key_file

        new_key_file(backup_key)
        console.print(f"generated a backup key in {backup_key}: keep a copy apart from backups")
    ledger = Ledger(settings)
    where = settings.database_url or settings.sqlite_path
    console.print(
        f"store ready: {where} (jurisdiction {ledger.jurisdiction.code}, "
        f"{ledger.recorder.max_notification_id() or 0} events)"
    )
    ledger.close()


@app.command()
def demo(
    people: Annotated[int, typer.Option(help="how many people")] = 2000,
    seed: Annotated[int, typer.Option(help="the same seed gives the same data")] = 1,
    if_empty: Annotated[bool, typer.Option(help="do nothing if the store has events")] = False,
) -> None:
    """Fill the store with a realistic synthetic province or ministry."""
    from scripts.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, create_demo_accounts, generate

    ledger = open_ledger()
    if ledger.recorder.max_notification_id():
        if if_empty:
            console.print("the store already has data: no demo data written")
            return
        fail("the store is not empty; demo data goes into an empty store")
    started = time.perf_counter()
    with Progress(
        *Progress.get_default_columns()[:-1],
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    ) as progress:
        task = progress.add_task("demo people", total=people)
        result = generate(ledger, people, seed, progress=lambda n: progress.advance(task, n))
    seconds = time.perf_counter() - started
    accounts = create_demo_accounts(ledger)
    signers = _demo_signing_keys(accounts)
    table = Table(
        title=f"demo accounts — password {DEMO_PASSWORD!r}, second factor "
        f"(TOTP) secret {DEMO_TOTP_SECRET}"
    )
    for column in ("username", "kind", "role", "what"):
        table.add_column(column)
    for account in accounts:
        table.add_row(
            account.username, account.kind, account.role.value if account.role else "", account.what
        )
    console.print(table)
    if signers:
        console.print(
            f"signing keys in the server keystore for {', '.join(signers)}, under the "
            f"passphrase in {pki_cli.PASSPHRASE_VARIABLE}"
        )
    console.print(
        f"wrote {result.units} units, {result.profiles} profiles and "
        f"{result.events} events in {seconds:.1f} s "
        f"({result.events / seconds:,.0f} events/s); statuses: {result.statuses}; "
        f"{len(accounts)} demo accounts: {ledger.recorder.max_notification_id()} events in all"
    )
    ledger.close()


def _demo_signing_keys(accounts: list[Any]) -> list[str]:
    """With a keystore passphrase set (``make run`` sets one), a local certificate
    hierarchy and a signing key for every demo approver, so that approvals can be signed
    in the demo as the jurisdiction requires; nothing otherwise, or if keys exist."""
    from signing import keystore

    passphrase = os.environ.get(pki_cli.PASSPHRASE_VARIABLE)
    if not passphrase or keystore.has(keystore.default_directory(Settings()), "agency"):
        return []
    pki_cli.init(
        directory=None, passphrase=passphrase, agency=None, agency_account="agency", by="demo"
    )
    signers = [a for a in accounts if a.kind in ("approver", "administrator")]
    for account in signers:
        pki_cli.issue(
            account.username,
            name=account.display_name,
            directory=None,
            passphrase=passphrase,
            by="demo",
        )
    return [a.username for a in signers]


@app.command()
def history(
    profile: Annotated[str, typer.Argument(help="profile id or 12-digit citizen ID")],
) -> None:
    """Every event of a profile: position, recorded time, actor, event, effective date,
    decision."""
    ledger = open_ledger()
    try:
        events = ledger.profile_events(ledger.find_profile_id(profile))
    except DomainError as exc:
        fail(exc.message)
    table = Table(title=f"Lịch sử hồ sơ {profile}")
    for column in ("#", "recorded (UTC)", "actor", "event", "effective", "decision"):
        table.add_column(column)
    for event in events:
        actor = event.actor  # type: ignore[attr-defined]
        decision = getattr(event, "decision", None)
        table.add_row(
            str(event.originator_version),
            event.timestamp.strftime("%Y-%m-%d %H:%M:%S"),
            f"{actor.account} ({actor.role.value}, {actor.unit_code})",
            type(event).__name__,
            str(getattr(event, "effective_date", "")),
            f"{decision.number} ({decision.signed_on})" if decision else "",
        )
    console.print(table)


@app.command()
def show(
    profile: Annotated[str, typer.Argument(help="profile id or 12-digit citizen ID")],
    at_version: Annotated[int | None, typer.Option(help="the record at this version")] = None,
    as_of: Annotated[str | None, typer.Option(help="the record as it stood on YYYY-MM-DD")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """The approved record of a profile, now, at a version or as of a date."""
    ledger = open_ledger()
    try:
        profile_id = ledger.find_profile_id(profile)
        if as_of is not None:
            try:
                day = date.fromisoformat(as_of)
            except ValueError:
                fail(f"--as-of {as_of!r} is not a date (YYYY-MM-DD)")
            found = ledger.profile_as_of(profile_id, day)
            if found is None:
                fail(f"no record of {profile} as of {day}")
            record: Profile = found  # type: ignore[assignment]
        else:
            record = ledger.profile(profile_id, version=at_version)
    except DomainError as exc:
        fail(exc.message)
    data = profile_summary(record)
    if as_json:
        print(json.dumps(data, ensure_ascii=False, default=str, indent=2))
        return
    console.print(
        f"[bold]{record.full_name}[/bold] — {record.status.value}, version {record.version}"
    )
    for name, group in GROUPS.items():
        values = record.record.get(name)
        if not values:
            continue
        table = Table(title=group.label, show_header=group.many)
        if group.many:
            columns = list(group.fields)
            for column in columns:
                table.add_column(column)
            for entry in values:
                table.add_row(*(str(entry.get(c, "")) for c in columns))
        else:
            table.add_column("field")
            table.add_column("value")
            for key, value in values.items():
                table.add_row(key, str(value))
        console.print(table)
    for change_set_id, change_set in record.pending_change_sets.items():
        console.print(f"pending change set {change_set_id}: {change_set['changes']}")


def profile_summary(profile: Profile) -> dict[str, Any]:
    return {
        "id": str(profile.id),
        "version": profile.version,
        "status": profile.status.value,
        "record": profile.record,
        "periods": profile.periods,
        "pending_change_sets": profile.pending_change_sets,
    }


def open_projector(ledger: Ledger, page_size: int = 1000) -> Projector:
    projector = catalogue.projector(
        ledger, read_model_engine(ledger.settings, writer=True), page_size=page_size
    )
    reset = projector.prepare()
    if reset:
        console.print(f"read models to build from the log: {', '.join(reset)}")
    return projector


def catch_up_with_progress(projector: Projector, label: str) -> None:
    start, head = min(projector.positions().values(), default=0), projector.head()
    if start >= head:
        return
    with Progress(
        *Progress.get_default_columns(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=True,
    ) as progress:
        task = progress.add_task(label, total=head, completed=start)
        projector.catch_up(progress=lambda position: progress.update(task, completed=position))


def print_status(projector: Projector) -> None:
    table = Table(title="read models")
    for column in ("name", "schema", "position", "head", "lag"):
        table.add_column(column)
    for s in projector.status():
        table.add_row(s.name, s.schema, str(s.position), str(s.head), str(s.lag))
    console.print(table)


@app.command()
def project(
    once: Annotated[bool, typer.Option(help="catch up and stop instead of following")] = False,
    page_size: Annotated[int, typer.Option(help="events per transaction")] = 1000,
) -> None:
    """Keep the read models current with the log (resumes where it stopped)."""
    ledger = open_ledger()
    projector = open_projector(ledger, page_size)
    catch_up_with_progress(projector, "catching up")
    print_status(projector)
    if once:
        return
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    console.print("following the log; Ctrl-C stops")
    try:
        projector.follow(stop)
    except KeyboardInterrupt:
        stop.set()


@app.command()
def status() -> None:
    """Each read model's position against the head of the log."""
    print_status(open_projector(open_ledger()))


@app.command()
def rebuild(
    name: Annotated[str | None, typer.Argument(help="one read model; all if omitted")] = None,
) -> None:
    """Drop a read model (or all) and rebuild it from the log."""
    ledger = open_ledger()
    projector = open_projector(ledger)
    try:
        models = [projector.model(name)] if name else projector.models
    except KeyError as exc:
        fail(str(exc.args[0]))
    for model in models:
        projector.reset(model)
    catch_up_with_progress(projector, f"rebuilding {name or 'all read models'}")
    print_status(projector)


def _business_midnight(day: date) -> datetime:
    """The start of a business day in Vietnam (Asia/Ho_Chi_Minh)."""
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))


def _date_option(value: str | None, option: str) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        fail(f"{option} {value!r} is not a date (YYYY-MM-DD)")
    return None


@app.command("roster")
def roster_command(
    unit: Annotated[str, typer.Argument(help="unit code; its subunits are included")],
    as_of: Annotated[str | None, typer.Option(help="staff on a past date YYYY-MM-DD")] = None,
    q: Annotated[str | None, typer.Option(help="name, diacritics optional")] = None,
    category: Annotated[str | None, typer.Option()] = None,
    page: Annotated[int, typer.Option(min=1)] = 1,
    per_page: Annotated[int, typer.Option(min=1, max=1000)] = 50,
) -> None:
    """A unit's staff now, or on a past date, from the read models."""
    from projections.history import staff_on_page

    ledger = open_ledger()
    projector = open_projector(ledger)
    catch_up_with_progress(projector, "catching up")
    day = _date_option(as_of, "--as-of")
    with projector.engine.connect() as conn:
        found = find_unit(conn, unit.strip().upper())
        if found is None:
            fail(f"no unit with code {unit}")
        assert found is not None
        if day is None:
            result = roster(
                conn,
                RosterFilter(unit_code=found["code"], q=q, category=category),
                page=page,
                per_page=per_page,
            )
            rows, total = result.rows, result.total
        else:
            total, rows = staff_on_page(
                conn, found["code"], day, page=page, per_page=per_page, q=q, category=category
            )
    when = f"on {day}" if day else "now"
    table = Table(title=f"{found['name']} — {total} people {when}")
    for column in ("name", "unit", "department", "position", "category", "rank", "step", "status"):
        table.add_column(column)
    for r in rows:
        table.add_row(
            r["full_name"],
            r["unit_code"],
            r.get("department") or "",
            r.get("position") or "",
            r["category"],
            r.get("rank_code") or "",
            str(r.get("salary_step") or ""),
            r["status"],
        )
    console.print(table)


@app.command("audit")
def audit_command(
    profile: Annotated[str | None, typer.Option(help="profile id or citizen ID")] = None,
    actor: Annotated[str | None, typer.Option(help="acting account")] = None,
    unit: Annotated[str | None, typer.Option(help="unit code, subunits included")] = None,
    event_type: Annotated[str | None, typer.Option("--type", help="e.g. ChangeApproved")] = None,
    recorded_from: Annotated[
        str | None, typer.Option("--from", help="recorded on or after YYYY-MM-DD (Vietnam time)")
    ] = None,
    recorded_to: Annotated[str | None, typer.Option("--to", help="YYYY-MM-DD, inclusive")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10000)] = 100,
) -> None:
    """Who did what and when, from the audit trail."""
    from projections.audit import audit

    ledger = open_ledger()
    projector = open_projector(ledger)
    catch_up_with_progress(projector, "catching up")
    try:
        profile_id = str(ledger.find_profile_id(profile)) if profile else None
    except DomainError as exc:
        fail(exc.message)
    start, end = _date_option(recorded_from, "--from"), _date_option(recorded_to, "--to")
    with projector.engine.connect() as conn:
        rows = audit(
            conn,
            profile_id=profile_id,
            actor=actor,
            unit_code=unit.strip().upper() if unit else None,
            event_type=event_type,
            recorded_from=_business_midnight(start) if start else None,
            recorded_to=_business_midnight(end + timedelta(days=1)) if end else None,
            limit=limit,
        )
    table = Table(title=f"audit trail — {len(rows)} events")
    for column in (
        "#",
        "recorded (UTC)",
        "actor",
        "role",
        "unit",
        "event",
        "effective",
        "decision",
    ):
        table.add_column(column)
    for r in rows:
        table.add_row(
            str(r["position"]),
            str(r["recorded_at"])[:19],
            r["actor_account"],
            r["actor_role"],
            r.get("unit_code") or "",
            r["event_type"],
            str(r.get("effective_date") or ""),
            r.get("decision_number") or "",
        )
    console.print(table)


@app.command("verify-approval")
def verify_approval(
    item: Annotated[str, typer.Argument(help="change set id, or a record's approval id")],
    profile: Annotated[str | None, typer.Option(help="profile id or citizen ID")] = None,
) -> None:
    """Check an approval's signatures from the ledger alone, in plain words."""
    from signing.approvals import Approvals

    ledger = open_ledger()
    try:
        profile_id = str(ledger.find_profile_id(profile)) if profile else None
        report = Approvals(ledger).verify(item.strip(), profile_id)
    except DomainError as exc:
        fail(exc.message)
    for line in report.in_plain_words():
        style = "red" if "✗" in line or "NOT VERIFIED" in line else ""
        console.print(line, style=style, markup=False, highlight=False)
    if not report.passed:
        raise typer.Exit(code=1)


@app.command()
def resume(
    profile: Annotated[str, typer.Argument(help="profile id or citizen ID")],
    out: Annotated[Path, typer.Option(help="where to write the PDF")],
    approver: Annotated[str, typer.Option(help="keystore account of the approver")],
    agency_account: Annotated[str, typer.Option(help="keystore account of the agency")] = "agency",
    passphrase: Annotated[
        str | None, typer.Option(envvar="HOSO_KEYSTORE_PASSPHRASE", help="keystore passphrase")
    ] = None,
) -> None:
    """The approved résumé (Mẫu 2C) as a PDF signed by the approver and the agency."""
    from projections.profiles import profile_view
    from signing import keystore
    from signing.resume_pdf import signed_resume

    ledger = open_ledger()
    projector = open_projector(ledger)
    catch_up_with_progress(projector, "catching up")
    try:
        profile_id = str(ledger.find_profile_id(profile))
        directory = keystore.default_directory(ledger.settings)
        approver_keys = keystore.load(directory, approver, passphrase or "")
        agency_keys = keystore.load(directory, agency_account, passphrase or "")
    except DomainError as exc:
        fail(exc.message)
    with projector.engine.connect() as conn:
        view = profile_view(conn, profile_id)
        assert view is not None
        found = find_unit(conn, view["unit_code"])
    pdf = signed_resume(
        view,
        approver=approver_keys,
        agency=agency_keys,
        unit_name=found["name"] if found else view["unit_code"],
        printed_on=ledger.today(),
    )
    out.write_bytes(pdf)
    console.print(f"wrote {out} ({len(pdf):,} bytes), signed by {approver} and {agency_account}")


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Serve the application over HTTP."""
    import uvicorn

    from api.app import serving_app

    uvicorn.run(serving_app(), host=host, port=port)


if __name__ == "__main__":
    app()
