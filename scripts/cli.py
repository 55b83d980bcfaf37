"""The ``hoso`` command line."""

from __future__ import annotations

import json
import time
from datetime import date
from typing import Annotated, Any

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

app = typer.Typer(help="hoso — the personnel-records ledger (hồ sơ CBCCVC).", no_args_is_help=True)
console = Console()


def open_ledger() -> Ledger:
    return Ledger(Settings())


def fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=1)


@app.command()
def init() -> None:
    """Create the store (and the cipher key file named by HOSO_CIPHER_KEY_FILE, if missing)."""
    settings = Settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    key_file = settings.cipher_key_file
    if key_file is not None and not settings.cipher_key and not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(AESCipher.create_key(32) + "\n")
        key_file.chmod(0o600)
        console.print(f"generated a cipher key in {key_file}")
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
    from scripts.demo import generate

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
    console.print(
        f"wrote {result.units} units, {result.profiles} profiles and "
        f"{result.events} events in {seconds:.1f} s "
        f"({result.events / seconds:,.0f} events/s); statuses: {result.statuses}"
    )
    ledger.close()


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


@app.command()
def serve(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
) -> None:
    """Serve the application over HTTP."""
    import uvicorn

    from api.app import create_app

    uvicorn.run(create_app(), host=host, port=port)


if __name__ == "__main__":
    app()
