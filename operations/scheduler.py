"""The scheduler: APScheduler 3 keeps the jobs (their triggers and next run times) in the
application's own database, so they survive a restart; this module runs what is due.

APScheduler 3 does not run a job once when two servers share a job store, and it moves a
job's next run time on before running it, so that a crash loses the run. So each run is
claimed first: a row per (job, scheduled time) whose primary key lets one scheduler win
and the others skip. The winner keeps a heartbeat on its claim while the job runs; a claim
whose heartbeat stopped (the process died) is taken over and run again, as is a failed
run after a pause, up to ``MAX_ATTEMPTS``. Every attempt is recorded with its outcome.

Time is whatever the clock given says (UTC): the runner asks APScheduler's triggers for the
next run times from it, so tests drive the jobs with a fake clock and never sleep. A
scheduler that missed runs (the server was down) runs the job once for the latest missed
time (coalescing), however late.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from apscheduler.job import Job
from apscheduler.jobstores.base import ConflictingIdError, JobLookupError
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.util import ref_to_obj
from sqlalchemy import Engine, and_, or_, select, update
from sqlalchemy.exc import IntegrityError

from domain.application import Ledger
from domain.calendar import business_timezone
from domain.jurisdiction import Jurisdiction, SigningWindow
from domain.settings import Settings
from operations import tables
from operations.jobs import JobContext
from operations.tables import job_claims, job_runs
from projections.database import read_model_engine
from projections.framework import Projector

log = logging.getLogger(__name__)

JOBS_TABLE = "ops_scheduled_jobs"
LEASE = timedelta(minutes=10)  # a claim without a heartbeat this long is a dead run
HEARTBEAT_SECONDS = 60.0  # real seconds between heartbeats of a running job
MAX_ATTEMPTS = 3
RETRY_AFTER = timedelta(minutes=5)  # after a failed attempt (times the attempts so far)
POLL_SECONDS = 30.0  # the longest a serving scheduler waits (others may change the jobs)
# APScheduler checks a job's stored arguments against its function; the runner passes the
# real ones (its context, the scheduled time) when it runs the job.
SUPPLIED_AT_RUN_TIME = ("context", "scheduled time")

RUNNING, SUCCEEDED, FAILED, ABANDONED, INTERRUPTED = (
    "running",
    "succeeded",
    "failed",
    "abandoned",
    "interrupted",
)


def utc_now() -> datetime:
    return datetime.now(UTC)


# -- triggers --------------------------------------------------------------------------------


class SigningWindowTrigger(BaseTrigger):
    """Fires on the first day of each month's signing window (the last ``last_days`` days of
    the month), at ``hour``:``minute`` business time."""

    def __init__(self, last_days: int, hour: int = 7, minute: int = 0, timezone: Any = None):
        self.window = SigningWindow(last_days_of_month=last_days)
        self.at = time(hour, minute)
        self.timezone: tzinfo = timezone or business_timezone()

    def __getstate__(self) -> dict[str, Any]:
        return {"last_days": self.window.last_days_of_month, "at": self.at, "tz": self.timezone}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.window = SigningWindow(last_days_of_month=state["last_days"])
        self.at, self.timezone = state["at"], state["tz"]

    def _fire_time(self, day: date) -> datetime:
        return datetime.combine(day, self.at, tzinfo=self.timezone)

    def get_next_fire_time(
        self, previous_fire_time: datetime | None, now: datetime
    ) -> datetime | None:
        start = now
        if previous_fire_time is not None:
            start = min(now, previous_fire_time + timedelta(microseconds=1))
        # This month's window, or next month's once this month's has begun.
        first = self.window.opens_on(start.astimezone(self.timezone).date())
        if self._fire_time(first) < start:  # it opens today, earlier than ``start``
            first = self.window.opens_on(first + timedelta(days=1))
        return self._fire_time(first)

    def __str__(self) -> str:
        return (
            f"signing window: last {self.window.last_days_of_month} days of each month, "
            f"{self.at:%H:%M}"
        )

    def __repr__(self) -> str:
        return f"<SigningWindowTrigger ({self})>"


# -- the jobs of a jurisdiction --------------------------------------------------------------


@dataclass(frozen=True)
class PlannedJob:
    id: str
    func: str  # "module:function", called with (JobContext, scheduled time)
    trigger: BaseTrigger
    name: str


# The backup frequency of a jurisdiction profile, as its description says it.
BACKUP_EVERY = {"daily": "hằng ngày", "weekly": "hằng tuần", "monthly": "hằng tháng"}


def planned_jobs(jurisdiction: Jurisdiction) -> list[PlannedJob]:
    """The jobs an instance under ``jurisdiction`` runs, timed from its profile."""
    tz = business_timezone()
    jobs = [
        PlannedJob(
            "deadline-monitor",
            "operations.jobs:deadline_monitor",
            CronTrigger(minute=0, timezone=tz),
            "Cảnh báo hạn xử lý (hằng giờ)",
        ),
        PlannedJob(
            "ledger-seal",
            "operations.jobs:ledger_seal",
            CronTrigger(minute=30, timezone=tz),
            "Niêm phong sổ cái (hằng giờ)",
        ),
        PlannedJob(
            "mail-outbox",
            "operations.jobs:mail_outbox",
            CronTrigger(minute="*/15", timezone=tz),
            "Gửi thư điện tử các thông báo chờ gửi",
        ),
    ]
    window = jurisdiction.signing_window
    if window is not None:
        jobs += [
            PlannedJob(
                "signing-window-reminder",
                "operations.jobs:signing_window_reminder",
                SigningWindowTrigger(window.last_days_of_month, hour=7, timezone=tz),
                f"Nhắc ký duyệt khi mở kỳ ký {window.last_days_of_month} ngày cuối tháng",
            ),
            PlannedJob(
                "ledger-seal-window-end",
                "operations.jobs:ledger_seal",
                CronTrigger(day="last", hour=23, minute=59, timezone=tz),
                "Niêm phong sổ cái khi kết thúc kỳ ký duyệt",
            ),
        ]
    backup_at = {
        "daily": CronTrigger(hour=1, minute=0, timezone=tz),
        "weekly": CronTrigger(day_of_week="sun", hour=1, minute=0, timezone=tz),
        "monthly": CronTrigger(day=1, hour=1, minute=0, timezone=tz),
    }[jurisdiction.backup.frequency]
    jobs.append(
        PlannedJob(
            "backup",
            "operations.jobs:backup",
            backup_at,
            f"Sao lưu {BACKUP_EVERY[jurisdiction.backup.frequency]}, giữ tối thiểu "
            f"{jurisdiction.backup.retention_months} tháng",
        )
    )
    if jurisdiction.reports:
        jobs.append(
            PlannedJob(
                "report-reminders",
                "operations.jobs:report_reminders",
                CronTrigger(hour=7, minute=15, timezone=tz),
                "Nhắc hạn gửi báo cáo định kỳ",
            )
        )
    return jobs


def _describe(trigger: Any) -> str:
    return f"{type(trigger).__name__}: {trigger}"


# -- the runner ----------------------------------------------------------------------------------


class JobRunner:
    """Runs the due jobs of the shared job store, each (job, scheduled time) once."""

    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], datetime] = utc_now,
        jobs: Sequence[PlannedJob] | None = None,
        ledger: Ledger | None = None,
        projector: Projector | None = None,
        name: str | None = None,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._own: list[Any] = []
        if ledger is None:
            ledger = Ledger(settings)
            self._own.append(ledger)
        self.ledger = ledger
        self.engine = read_model_engine(settings, writer=True)
        self._own.append(self.engine)
        self.context = JobContext(settings, ledger, self.engine, projector, clock)
        self.planned = list(planned_jobs(ledger.jurisdiction) if jobs is None else jobs)
        tables.prepare(self.engine)
        self.scheduler = BackgroundScheduler(
            jobstores={
                "default": SQLAlchemyJobStore(
                    engine=self.engine,
                    tablename=JOBS_TABLE,
                    tableschema=settings.database_schema or None,
                )
            },
            timezone=business_timezone(),
        )
        # Started paused: APScheduler keeps the job store; this runner runs what is due.
        self.scheduler.start(paused=True)

    # -- the jobs in the store -----------------------------------------------------------------

    def sync_jobs(self) -> None:
        """Put the planned jobs in the store: add the missing ones, reschedule those whose
        timing changed (the jurisdiction), remove the ones no longer planned. A job whose
        timing is unchanged keeps its next run time, so runs missed while down still run."""
        now = self.clock()
        planned = {job.id: job for job in self.planned}
        for existing in self.scheduler.get_jobs():
            if existing.id not in planned:
                self.scheduler.remove_job(existing.id)
        for job in self.planned:
            existing = self.scheduler.get_job(job.id)
            first = job.trigger.get_next_fire_time(None, now)
            if existing is None:
                # Another scheduler may have added it just now.
                with contextlib.suppress(ConflictingIdError):
                    self.scheduler.add_job(
                        job.func,
                        job.trigger,
                        args=SUPPLIED_AT_RUN_TIME,
                        id=job.id,
                        name=job.name,
                        next_run_time=first,
                        coalesce=True,
                        misfire_grace_time=None,
                    )
            elif (
                existing.func_ref != job.func
                or _describe(existing.trigger) != _describe(job.trigger)
                or existing.name != job.name
            ):
                self.scheduler.modify_job(
                    job.id, func=job.func, trigger=job.trigger, name=job.name, next_run_time=first
                )

    def jobs(self) -> list[Job]:
        return list(self.scheduler.get_jobs())

    # -- running ------------------------------------------------------------------------------

    def tick(self) -> datetime | None:
        """Run every run that is due now: first the runs to take over (a dead or failed
        attempt), then the jobs whose next run time has come. Returns the next run time in
        the store."""
        now = self.clock()
        for claim in self._takeovers(now):
            self._resume(claim)
        for job in self.scheduler.get_jobs():
            if job.next_run_time is None or job.next_run_time > now:
                continue
            run_times = []
            moment: datetime | None = job.next_run_time
            while moment is not None and moment <= now:
                run_times.append(moment)
                moment = job.trigger.get_next_fire_time(moment, now)
            scheduled_for = run_times[-1]  # coalesced: the latest missed time only
            won = self._claim(job.id, scheduled_for, now)
            # Moved on before running, whoever won: both schedulers move it to the same time
            # (or the other removed it first).
            with contextlib.suppress(JobLookupError):
                if moment is None:
                    self.scheduler.remove_job(job.id)
                else:
                    self.scheduler.modify_job(job.id, next_run_time=moment)
            if won:
                self._run(job.id, job.func, scheduled_for, attempt=1)
        return self.next_run_time()

    def next_run_time(self) -> datetime | None:
        times = [job.next_run_time for job in self.scheduler.get_jobs() if job.next_run_time]
        return min(times, default=None)

    def serve(self, stop: threading.Event) -> None:
        """Run jobs as they fall due until ``stop`` is set."""
        self.sync_jobs()
        while not stop.is_set():
            try:
                upcoming = self.tick()
            except Exception:
                log.exception("the scheduler could not look for due jobs")
                upcoming = None
            wait = POLL_SECONDS
            if upcoming is not None:
                wait = min(max((upcoming - self.clock()).total_seconds(), 0.5), POLL_SECONDS)
            stop.wait(wait)

    def close(self) -> None:
        if self.scheduler.running:
            self.scheduler.shutdown(wait=False)
        self.context.close()
        for thing in reversed(self._own):
            if isinstance(thing, Ledger):
                thing.close()
            else:
                thing.dispose()

    # -- claims --------------------------------------------------------------------------------

    def _claim(self, job_id: str, scheduled_for: datetime, now: datetime) -> bool:
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    job_claims.insert().values(
                        job_id=job_id,
                        scheduled_for=scheduled_for,
                        status=RUNNING,
                        attempts=1,
                        owner=self.name,
                        heartbeat_at=now,
                    )
                )
        except IntegrityError:
            return False  # another scheduler runs it (or ran it)
        return True

    def _takeovers(self, now: datetime) -> list[Any]:
        with self.engine.connect() as conn:
            return list(
                conn.execute(
                    select(job_claims)
                    .where(
                        or_(
                            and_(
                                job_claims.c.status == RUNNING,
                                job_claims.c.heartbeat_at < now - LEASE,
                            ),
                            and_(job_claims.c.status == FAILED, job_claims.c.retry_at <= now),
                        )
                    )
                    .order_by(job_claims.c.scheduled_for)
                )
            )

    def _resume(self, claim: Any) -> None:
        """Take over a dead or failed attempt, if no other scheduler does first, and run it
        again."""
        now = self.clock()
        attempt = claim.attempts + 1
        with self.engine.begin() as conn:
            taken = conn.execute(
                update(job_claims)
                .where(
                    job_claims.c.job_id == claim.job_id,
                    job_claims.c.scheduled_for == claim.scheduled_for,
                    job_claims.c.status == claim.status,
                    job_claims.c.attempts == claim.attempts,
                )
                .values(status=RUNNING, attempts=attempt, owner=self.name, heartbeat_at=now)
            ).rowcount
            if taken != 1:
                return
            conn.execute(
                update(job_runs)
                .where(
                    job_runs.c.job_id == claim.job_id,
                    job_runs.c.scheduled_for == claim.scheduled_for,
                    job_runs.c.ended_at.is_(None),
                )
                .values(
                    ended_at=now,
                    outcome=INTERRUPTED,
                    error=f"the scheduler running it ({claim.owner}) stopped: no heartbeat "
                    f"since {claim.heartbeat_at.isoformat()}",
                )
            )
        job = self.scheduler.get_job(claim.job_id)
        func = job.func if job is not None else None
        if func is None:
            planned = next((p for p in self.planned if p.id == claim.job_id), None)
            func = ref_to_obj(planned.func) if planned is not None else None
        if func is None:
            self._settle(claim.job_id, claim.scheduled_for, ABANDONED, None)
            return
        self._run(claim.job_id, func, claim.scheduled_for, attempt=attempt)

    def _settle(
        self, job_id: str, scheduled_for: datetime, status: str, retry_at: datetime | None
    ) -> None:
        with self.engine.begin() as conn:
            conn.execute(
                update(job_claims)
                .where(
                    job_claims.c.job_id == job_id,
                    job_claims.c.scheduled_for == scheduled_for,
                    job_claims.c.owner == self.name,
                )
                .values(status=status, retry_at=retry_at)
            )

    def _heartbeat(self, job_id: str, scheduled_for: datetime, stop: threading.Event) -> None:
        while not stop.wait(HEARTBEAT_SECONDS):
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        update(job_claims)
                        .where(
                            job_claims.c.job_id == job_id,
                            job_claims.c.scheduled_for == scheduled_for,
                            job_claims.c.owner == self.name,
                        )
                        .values(heartbeat_at=self.clock())
                    )
            except Exception:  # pragma: no cover - the next beat tries again
                log.exception("heartbeat of %s failed", job_id)

    def _run(
        self, job_id: str, func: Callable[..., Any], scheduled_for: datetime, *, attempt: int
    ) -> None:
        started = self.clock()
        with self.engine.begin() as conn:
            run_id = conn.execute(
                job_runs.insert().values(
                    job_id=job_id,
                    scheduled_for=scheduled_for,
                    attempt=attempt,
                    runner=self.name,
                    started_at=started,
                    outcome=RUNNING,
                    summary="",
                )
            ).inserted_primary_key
        assert run_id is not None
        stop = threading.Event()
        beat = threading.Thread(
            target=self._heartbeat, args=(job_id, scheduled_for, stop), daemon=True
        )
        beat.start()
        summary, error = "", None
        try:
            summary = str(func(self.context, scheduled_for) or "")
        except Exception as exc:
            error = "".join(traceback.format_exception_only(exc)).strip()
            log.warning("job %s (%s) failed: %s", job_id, scheduled_for, error)
        finally:
            stop.set()
            beat.join()
        ended = self.clock()
        if error is None:
            status, retry_at = SUCCEEDED, None
        elif attempt >= MAX_ATTEMPTS:
            status, retry_at = ABANDONED, None
        else:
            status, retry_at = FAILED, ended + RETRY_AFTER * attempt
        self._settle(job_id, scheduled_for, status, retry_at)
        with self.engine.begin() as conn:
            conn.execute(
                update(job_runs)
                .where(job_runs.c.id == run_id[0])
                .values(
                    ended_at=ended,
                    outcome=SUCCEEDED if error is None else FAILED,
                    summary=summary,
                    error=error,
                )
            )


# -- what ran --------------------------------------------------------------------------------


def job_run_history(
    engine: Engine, *, job_id: str | None = None, limit: int = 50
) -> list[dict[str, Any]]:
    """The latest attempts, newest first."""
    query = select(job_runs)
    if job_id:
        query = query.where(job_runs.c.job_id == job_id)
    with engine.connect() as conn:
        rows = conn.execute(query.order_by(job_runs.c.id.desc()).limit(limit))
        return [dict(r._mapping) for r in rows]


# -- in the server -------------------------------------------------------------------------------


class BackgroundJobs:
    """The scheduler in a thread of the server process, sharing its ledger and projector."""

    def __init__(self, settings: Settings, ledger: Ledger, projector: Projector) -> None:
        self.stop = threading.Event()
        self.runner = JobRunner(settings, ledger=ledger, projector=projector)
        self.thread = threading.Thread(
            target=self.runner.serve, args=(self.stop,), daemon=True, name="scheduler"
        )
        self.thread.start()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=30)
        self.runner.close()
