"""The ``hoso sync`` commands: the national database exchange.

``register(app)`` adds them to a Typer application.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from domain.application import Ledger
from domain.errors import DomainError
from domain.settings import Settings
from operations.national_sync import (
    Refused,
    Unavailable,
    catch_up_outbox,
    pull_arrivals,
    send_pending,
)
from projections.database import read_model_engine
from projections.national_outbox import summary

console = Console()
app = typer.Typer(help="The national database (CSDLQG về CBCCVC): send, pull, status.")


def fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=1)


@contextmanager
def opened() -> Iterator[tuple[Ledger, Engine]]:
    settings = Settings()
    ledger = Ledger(settings)
    engine = read_model_engine(settings, writer=True)
    try:
        yield ledger, engine
    finally:
        engine.dispose()
        ledger.close()


@app.command("send")
def send_command(
    limit: Annotated[int | None, typer.Option(help="send at most this many items")] = None,
) -> None:
    """Send the approved records and changes waiting in the outbox, in order per person."""
    with opened() as (ledger, engine):
        if ledger.jurisdiction.national_sync_by is None:
            console.print(f"{ledger.jurisdiction.name}: no national sync under this regulation")
            return
        try:
            report = send_pending(ledger, engine, now=datetime.now(UTC), limit=limit)
        except DomainError as exc:
            fail(exc.message)
        console.print(
            f"sent {report.sent} (already received before: {report.duplicates}), "
            f"failed {len(report.failed)}, waiting behind a failure {report.waiting}"
        )
        for key, reason in report.failed:
            console.print(f"  {key}: {reason}")
        if report.failed:
            raise typer.Exit(code=1)


@app.command("status")
def status_command() -> None:
    """Per unit: items queued, sent and failed, and the last acknowledgement."""
    with opened() as (ledger, engine):
        catch_up_outbox(ledger, engine)
        with engine.connect() as conn:
            rows = summary(conn)
    table = Table(title="Đồng bộ CSDLQG về CBCCVC")
    for column in ("unit", "queued", "sent", "failed", "last acknowledged (UTC)"):
        table.add_column(column)
    for row in rows:
        last = row["last_acknowledged_at"]
        table.add_row(
            row["unit_code"] or "",
            str(row["queued"]),
            str(row["sent"]),
            str(row["failed"]),
            last.strftime("%Y-%m-%d %H:%M:%S") if last else "",
        )
    console.print(table)


@app.command("pull")
def pull_command() -> None:
    """Open a profile for each person the national database lists as transferred in."""
    with opened() as (ledger, _):
        try:
            report = pull_arrivals(ledger, now=datetime.now(UTC))
        except DomainError as exc:
            fail(exc.message)
        except (Refused, Unavailable, httpx.HTTPError) as exc:
            fail(f"the national database did not answer: {exc}")
        console.print(
            f"opened {len(report.opened)}, came back {len(report.returned)}, "
            f"received before {report.already}, failed {len(report.failed)}"
        )
        for profile_id in report.opened:
            console.print(f"  opened {profile_id}")
        for arrival_id, reason in report.failed:
            console.print(f"  {arrival_id}: {reason}")
        if report.failed:
            raise typer.Exit(code=1)


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="sync")
