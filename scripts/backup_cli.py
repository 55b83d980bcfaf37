"""The ``hoso backup`` and ``hoso restore`` commands.

``register(app)`` adds them to a Typer application.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from domain.jurisdiction import load_jurisdiction
from domain.settings import Settings
from operations.backup import (
    BUSINESS_ZONE,
    ArchiveReport,
    BackupError,
    apply_retention,
    create_backup,
    default_directory,
    new_key_file,
    restore,
    verify_archive,
)

console = Console()


def fail(message: str) -> None:
    console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(code=1)


def _manifest_table(report: ArchiveReport) -> Table:
    manifest = report.manifest
    table = Table(title=f"bản sao lưu — {report.path.name}")
    table.add_column("measure")
    table.add_column("value", justify="right")
    rows = (
        ("created (UTC)", str(manifest.get("created_at"))),
        ("source backend", str(manifest.get("source_backend"))),
        ("jurisdiction", str(manifest.get("jurisdiction"))),
        ("events", f"{report.events:,}"),
        ("positions", f"{manifest.get('first_position')}–{manifest.get('last_position')}"),
        ("Merkle root", str(manifest.get("merkle_root"))),
        ("seals checked", str(report.seals_checked)),
        ("documents", f"{report.documents:,} ({manifest.get('document_bytes', 0):,} bytes)"),
        ("configuration files", ", ".join(report.files) or "none"),
        ("chunks authenticated", f"{report.chunks + 1:,}"),
    )
    for measure, value in rows:
        table.add_row(measure, value)
    return table


def backup_command(
    to: Annotated[
        Path | None,
        typer.Option(help="folder for the archive (default: <data dir>/backups)"),
    ] = None,
    verify: Annotated[
        Path | None,
        typer.Option("--verify", help="check this archive without restoring it"),
    ] = None,
    retention: Annotated[
        bool,
        typer.Option(help="then move the archives the jurisdiction no longer keeps to expired/"),
    ] = False,
    new_key: Annotated[
        Path | None,
        typer.Option(help="write a new random backup key to this file (owner-only) and stop"),
    ] = None,
) -> None:
    """Write an encrypted, compressed archive of the log, seals, certificates and
    documents (--verify: check one)."""
    settings = Settings()
    try:
        if new_key is not None:
            new_key_file(new_key)
            console.print(
                f"wrote a new backup key to {new_key}; set HOSO_BACKUP_KEY_FILE={new_key} and "
                "keep a copy apart from the archives: without it they cannot be read"
            )
            return
        if verify is not None:
            report = verify_archive(verify, settings)
            console.print(_manifest_table(report))
            console.print(
                f"[bold green]OK[/bold green]: {report.path.name} — every chunk "
                f"authenticates; {report.events:,} events, Merkle root "
                f"{report.manifest['merkle_root']} as in its manifest; "
                f"{report.seals_checked} seals verified"
            )
            return
        directory = to or default_directory(settings)
        path = create_backup(settings, directory, now=datetime.now(UTC))
        report = verify_archive(path, settings)
        console.print(_manifest_table(report))
        console.print(f"[bold green]wrote[/bold green] {path} ({path.stat().st_size:,} bytes)")
        if retention:
            policy = load_jurisdiction(settings.jurisdiction).backup
            today = datetime.now(BUSINESS_ZONE).date()
            for moved in apply_retention(directory, policy, today):
                console.print(f"retention: moved {moved.name} to {moved.parent}")
    except BackupError as exc:
        fail(str(exc))


def restore_command(
    archive: Annotated[Path, typer.Argument(help="the archive to restore")],
    rebuild: Annotated[
        bool, typer.Option(help="rebuild the read models once the log is restored")
    ] = True,
) -> None:
    """Restore an archive into an EMPTY database (SQLite or PostgreSQL), check the
    restored log against the archive's Merkle root and seals, rebuild the read models."""
    settings = Settings()
    try:
        result = restore(archive, settings, rebuild=rebuild, progress=console.log)
    except BackupError as exc:
        fail(str(exc))
        return
    report = result.report
    console.print(_manifest_table(report))
    for written in result.files_written:
        console.print(f"wrote {written}")
    for note in result.notes:
        console.print(f"note: {note}")
    where = settings.database_url or settings.sqlite_path
    console.print(
        f"[bold green]restored[/bold green] {report.events:,} events and "
        f"{report.documents:,} documents into {where}; the restored log has the manifest's "
        f"Merkle root {report.manifest['merkle_root']} and matches its "
        f"{report.seals_checked} seals; read models rebuilt: "
        f"{', '.join(result.read_models) or 'none (--no-rebuild)'}"
    )


def register(app: typer.Typer) -> None:
    app.command("backup")(backup_command)
    app.command("restore")(restore_command)
