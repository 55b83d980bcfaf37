"""``hoso keys``: the keys that encrypt restricted field values.

``keys list`` shows the key ids of the key file and which one is current (never the keys).
``keys rotate`` adds a new key, makes it current, and rebuilds from the log the read models
that hold encrypted values, so that they are under the new key only. The old keys stay in
the file: the events encrypted under them are never rewritten, and are still read.
"""

from __future__ import annotations

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from domain.application import Ledger
from domain.field_cipher import KeyFileError, KeyRing, key_file_path
from domain.settings import Settings
from projections import catalogue
from projections.database import read_model_engine

# The read models whose rows hold values encrypted under the current key.
ENCRYPTED_READ_MODELS = ("profiles",)

app = typer.Typer(
    help="Field encryption keys: list them, rotate to a new one.", no_args_is_help=True
)
console = Console()


def _ring(settings: Settings) -> KeyRing:
    try:
        ring = KeyRing.for_settings(settings)
        ring.key_ids  # noqa: B018 - reads (or on first use makes) the key file
        return ring
    except KeyFileError as exc:
        console.print(f"[red]error:[/red] {escape(str(exc))}")
        raise typer.Exit(code=1) from None


@app.command("list")
def list_keys() -> None:
    """The key ids of the key file, and which one encrypts new values."""
    settings = Settings()
    ring = _ring(settings)
    current = ring.current_id
    table = Table("key id", "current")
    for key_id in ring.key_ids:
        table.add_row(key_id, "yes" if key_id == current else "")
    console.print(table)
    console.print(f"key file: {escape(str(key_file_path(settings)))}", soft_wrap=True)


@app.command()
def rotate() -> None:
    """Make a new key current, and re-encrypt the read models under it."""
    settings = Settings()
    _ring(settings)
    ledger = Ledger(settings)
    engine = read_model_engine(settings, writer=True)
    try:
        previous = ledger.field_keys.current_id
        key_id = ledger.field_keys.rotate()
        console.print(f"new current key {key_id} (was {previous}); older keys kept for reading")
        projector = catalogue.projector(ledger, engine)
        # The view's rows depend on the current key: prepare() finds it stale and resets it.
        reset = set(projector.prepare())
        for name in ENCRYPTED_READ_MODELS:
            if name not in reset:
                projector.reset(projector.model(name))
        read = projector.catch_up()
        console.print(
            f"re-encrypted under {key_id}: {', '.join(ENCRYPTED_READ_MODELS)} "
            f"({read:,} log positions read)"
        )
    finally:
        engine.dispose()
        ledger.close()
