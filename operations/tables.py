"""The tables of scheduled operations, in the same database as the event log: the runs of
each job and the claims that make each run happen once, the deadline alerts, and the
notices of each account's inbox with the addresses they are e-mailed to.

They hold what the jobs did, not personnel records: nothing in them is derived from the
log alone (a read model would be), so they are kept, not rebuilt. Rows are never deleted;
a run, an alert or a notice only gains its end (ended, closed, read).
"""

from __future__ import annotations

from sqlalchemy import (
    Column,
    Date,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError

from projections.audit import UtcDateTime

metadata = MetaData()

# One row per (job, scheduled time), inserted by the scheduler that runs it: the primary key
# is what lets one of two schedulers win and the other skip.
job_claims = Table(
    "ops_job_claims",
    metadata,
    Column("job_id", String(80), primary_key=True),
    Column("scheduled_for", UtcDateTime, primary_key=True),
    Column("status", String(12), nullable=False),  # running | succeeded | failed | abandoned
    Column("attempts", Integer, nullable=False),
    Column("owner", String(120), nullable=False),  # the scheduler running the last attempt
    Column("heartbeat_at", UtcDateTime, nullable=False),
    Column("retry_at", UtcDateTime),  # a failed attempt is tried again from then
)

# One row per attempt at a run.
job_runs = Table(
    "ops_job_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(80), nullable=False),
    Column("scheduled_for", UtcDateTime, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("runner", String(120), nullable=False),
    Column("started_at", UtcDateTime, nullable=False),
    Column("ended_at", UtcDateTime),
    Column("outcome", String(12), nullable=False),  # running | succeeded | failed | interrupted
    Column("summary", Text, nullable=False, default=""),
    Column("error", Text),
    Index("ix_ops_job_runs_job_scheduled", "job_id", "scheduled_for"),
)

alerts = Table(
    "ops_alerts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("kind", String(12), nullable=False),  # due_soon | overdue
    # the deadline item (projections.deadlines) the alert is about
    Column("item_position", Integer, nullable=False),
    Column("item_action", String(40), nullable=False),
    Column("profile_id", String(36), nullable=False),
    Column("unit_code", String(40), index=True),  # the unit that has to act
    Column("due_date", Date, nullable=False),
    Column("opened_on", Date, nullable=False),  # business dates (Asia/Ho_Chi_Minh)
    Column("opened_at", UtcDateTime, nullable=False),
    Column("closed_on", Date),
    Column("closed_at", UtcDateTime),
    Column("closed_because", String(12)),  # done | cancelled | overdue | gone
    UniqueConstraint("item_position", "item_action", "kind", name="uq_ops_alerts_item_kind"),
    Index("ix_ops_alerts_open", "closed_on", "unit_code"),
)

notices = Table(
    "ops_notices",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False),
    # what the notice is about, unique per account: a job run again sends nothing twice
    Column("topic", String(200), nullable=False),
    Column("subject", String(300), nullable=False),
    Column("body", Text, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    Column("read_at", UtcDateTime),
    Column("email", String(254)),  # the address it was (to be) mailed to
    Column("emailed_at", UtcDateTime),
    Column("email_error", Text),
    UniqueConstraint("account", "topic", name="uq_ops_notices_account_topic"),
    Index("ix_ops_notices_account_id", "account", "id"),
)

# The e-mail address an account's notices go to; the latest row is the one in force.
notice_addresses = Table(
    "ops_notice_addresses",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("account", String(64), nullable=False, index=True),
    Column("email", String(254), nullable=False),
    Column("set_at", UtcDateTime, nullable=False),
)


def prepare(engine: Engine) -> None:
    """Create the tables that are missing."""
    try:
        metadata.create_all(engine)
    except (IntegrityError, ProgrammingError, OperationalError):
        # Another process created them at the same moment: they are there now.
        metadata.create_all(engine)
