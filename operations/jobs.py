"""The scheduled jobs. Each takes the context of the scheduler running it and the time it
was scheduled for, does its work as of that time, and returns a line saying what it did.

Each is safe to run again for the same scheduled time (after a crash): alerts are opened
and closed by comparison with what is there, notices are unique per account and topic, a
seal with nothing new to seal is skipped.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import Engine

from domain.application import Ledger
from domain.calendar import to_business_date
from domain.seal import SEAL_ID
from domain.settings import Settings
from operations import backup as backups
from operations.alerts import monitor_deadlines
from operations.notices import send_outbox
from operations.reminders import remind_reports, remind_signers
from projections import catalogue
from projections.database import read_model_engine
from projections.framework import ConcurrentProjector, Projector
from signing.seal import seal

log = logging.getLogger(__name__)

CATCH_UP_ATTEMPTS = 20


@dataclass
class JobContext:
    """What the jobs of one scheduler share: the ledger, the database the read models and
    the scheduler's tables are in, the projector that keeps the read models current, and
    the clock (UTC)."""

    settings: Settings
    ledger: Ledger
    engine: Engine
    projector: Projector | None = None  # made on first use when not given
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _own_projector: bool = field(default=False, init=False)

    def current(self) -> None:
        """Bring the read models up to the head of the log (another process, the server's
        follower, may be doing the same: go on from where it got to)."""
        if self.projector is None:
            writer = read_model_engine(self.settings, writer=True)
            self.projector = catalogue.projector(self.ledger, writer)
            self.projector.prepare()
            self._own_projector = True
        for attempt in range(1, CATCH_UP_ATTEMPTS + 1):
            try:
                self.projector.catch_up()
                return
            except ConcurrentProjector:
                if attempt == CATCH_UP_ATTEMPTS:
                    raise

    def close(self) -> None:
        if self._own_projector and self.projector is not None:
            self.projector.close()
            self.projector.engine.dispose()


def deadline_monitor(ctx: JobContext, scheduled_for: datetime) -> str:
    ctx.current()
    today = to_business_date(scheduled_for)
    changes = monitor_deadlines(ctx.engine, ctx.ledger.calendar, today, ctx.clock())
    return f"{changes} as of {today.isoformat()}"


def signing_window_reminder(ctx: JobContext, scheduled_for: datetime) -> str:
    ctx.current()
    opens = to_business_date(scheduled_for)
    signers, delivered = remind_signers(ctx.ledger, ctx.engine, opens, ctx.clock())
    sent, failed = send_outbox(ctx.engine, ctx.settings, ctx.clock)
    return (
        f"window opening {opens.isoformat()}: {signers} signers with items waiting, "
        f"{delivered} notices delivered, {sent} e-mailed, {failed} e-mails failed"
    )


def report_reminders(ctx: JobContext, scheduled_for: datetime) -> str:
    ctx.current()
    today = to_business_date(scheduled_for)
    delivered = remind_reports(ctx.ledger, ctx.engine, today, ctx.clock())
    sent, failed = send_outbox(ctx.engine, ctx.settings, ctx.clock)
    return f"{delivered} report reminders delivered, {sent} e-mailed, {failed} e-mails failed"


def mail_outbox(ctx: JobContext, scheduled_for: datetime) -> str:
    sent, failed = send_outbox(ctx.engine, ctx.settings, ctx.clock)
    return f"{sent} notices e-mailed, {failed} failed"


def ledger_seal(ctx: JobContext, scheduled_for: datetime) -> str:
    """Seal the log, unless the last thing in it is a seal already."""
    recorder = ctx.ledger.recorder
    head = recorder.max_notification_id() or 0
    if head == 0:
        return "the log is empty: nothing to seal"
    (last,) = recorder.select_notifications(head, 1)
    if last.originator_id == SEAL_ID:
        return f"nothing recorded since the last seal (position {head})"
    result = seal(ctx.ledger, ctx.engine)
    return f"sealed {result.tree_size} events: root {result.root[:16]}…"


def backup(ctx: JobContext, scheduled_for: datetime) -> str:
    """A backup archive, checked once written, then the jurisdiction's retention."""
    directory = backups.default_directory(ctx.settings)
    path = backups.create_backup(ctx.settings, directory, now=ctx.clock())
    report = backups.verify_archive(path, ctx.settings)
    today = to_business_date(scheduled_for)
    moved = backups.apply_retention(directory, ctx.ledger.jurisdiction.backup, today)
    return (
        f"wrote {path.name} ({report.events} events, verified); retention moved "
        f"{len(moved)} older archives to {directory.name}/expired"
    )
