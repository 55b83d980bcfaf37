"""The ``hoso seal``, ``hoso verify`` and ``hoso proof`` commands: a tamper-evident log.

``register(app)`` adds them to a Typer application.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy import Engine

from domain.application import Ledger
from domain.settings import Settings
from projections.database import read_model_engine
from signing.seal import (
    SealError,
    consistency_proof_document,
    inclusion_proof_document,
    key_fingerprint,
    seal,
    verify,
)

console = Console()


def fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=1)


@contextmanager
def opened(*, writer: bool = False) -> Iterator[tuple[Ledger, Engine]]:
    settings = Settings()
    ledger = Ledger(settings)
    engine = read_model_engine(settings, writer=writer)
    try:
        yield ledger, engine
    finally:
        engine.dispose()
        ledger.close()


def seal_command(
    repair_leaves: Annotated[
        bool,
        typer.Option(help="rewrite ledger_leaves from the log when it disagrees with it"),
    ] = False,
) -> None:
    """Seal every event recorded so far: a signed Merkle tree head, recorded in the log."""
    with opened(writer=True) as (ledger, engine):
        try:
            result = seal(ledger, engine, repair_leaves=repair_leaves)
        except SealError as exc:
            fail(str(exc))
            return
    if result.key_created:
        console.print(
            f"created the seal key {result.key_path} (owner-only); keep a copy of it, and "
            "publish its public key"
        )
    if result.repaired_from is not None:
        console.print(f"rewrote ledger_leaves from leaf {result.repaired_from} on")
    console.print(
        f"sealed {result.tree_size:,} events: root {result.root}, at {result.sealed_at}; "
        f"the seal is recorded at position {result.position}"
    )


def verify_command(
    public_key: Annotated[
        Path | None,
        typer.Option(help="PEM public key the seals must be signed with (default: seal key)"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Check the log against every seal; name the first position that was changed."""
    with opened() as (ledger, engine):
        try:
            report = verify(ledger, engine, public_key=public_key)
        except SealError as exc:
            fail(str(exc))
            return
    if as_json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "events": report.events,
                    "seals": len(report.seals),
                    "valid_seals": len(report.valid_seals),
                    "sealed_size": report.sealed_size,
                    "consistency_proofs": report.consistency_proofs,
                    "pinned_key": report.pinned_key,
                    "problems": [
                        {
                            "kind": p.kind,
                            "where": p.where,
                            "position": p.position,
                            "leaf_index": p.leaf_index,
                            "message": p.message,
                        }
                        for p in report.problems
                    ],
                    "notes": report.notes,
                },
                ensure_ascii=False,
            )
        )
    else:
        table = Table(title="ledger seals")
        table.add_column("measure")
        table.add_column("value", justify="right")
        table.add_row("events in the log", f"{report.events:,}")
        table.add_row("seals (valid)", f"{len(report.seals)} ({len(report.valid_seals)})")
        table.add_row("events covered by the last seal", f"{report.sealed_size:,}")
        table.add_row("leaves table rows", f"{report.leaves:,}")
        table.add_row("consistency proofs between seals", f"{report.consistency_proofs}")
        if report.valid_seals:
            table.add_row("last sealed at", report.valid_seals[-1].sealed_at)
            table.add_row("signing key", key_fingerprint(report.valid_seals[-1].public_key_pem))
        console.print(table)
        for note in report.notes:
            console.print(f"note: {note}")
        for problem in report.problems:
            console.print(f"[red]{problem.kind}[/red] at {problem}")
    first = report.first
    if first is not None:
        console.print(f"[bold red]FAILED[/bold red]: first problem at {first}")
        raise typer.Exit(code=1)
    if not as_json:
        console.print(
            f"[bold green]OK[/bold green]: {report.events:,} events; "
            f"{len(report.valid_seals)} seals verified"
        )


proof_app = typer.Typer(
    help="Export proofs as JSON, checked by scripts/verify_proof.py.", no_args_is_help=True
)


def _write(document: dict[str, Any], out: Path | None) -> None:
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if out is None or str(out) == "-":
        print(text, end="")
        return
    out.write_text(text, encoding="utf-8")
    console.print(f"wrote {out}")


@proof_app.command("inclusion")
def inclusion_command(
    position: Annotated[int, typer.Argument(help="the event's position in the log")],
    out: Annotated[Path | None, typer.Option(help="output file ('-' or none: stdout)")] = None,
) -> None:
    """An event's stored record, its inclusion proof and the signed tree head that covers
    it."""
    with opened() as (ledger, engine):
        try:
            document = inclusion_proof_document(ledger, engine, position)
        except SealError as exc:
            fail(str(exc))
            return
    _write(document, out)


@proof_app.command("consistency")
def consistency_command(
    first: Annotated[
        int | None, typer.Option("--from", help="tree size of the earlier seal")
    ] = None,
    second: Annotated[int | None, typer.Option("--to", help="tree size of the later seal")] = None,
    out: Annotated[Path | None, typer.Option(help="output file ('-' or none: stdout)")] = None,
) -> None:
    """The consistency proof between two seals (by default the last two) and both signed
    tree heads."""
    with opened() as (ledger, engine):
        try:
            document = consistency_proof_document(ledger, engine, first, second)
        except SealError as exc:
            fail(str(exc))
            return
    _write(document, out)


def register(app: typer.Typer) -> None:
    app.command("seal")(seal_command)
    app.command("verify")(verify_command)
    app.add_typer(proof_app, name="proof")
