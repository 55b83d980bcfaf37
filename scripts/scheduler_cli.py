"""The ``hoso scheduler`` and ``hoso jobs`` commands: scheduled jobs on their own, and what
they did.

``register(app)`` adds them to a Typer application.
"""

from __future__ import annotations

import signal
import threading
from datetime import datetime
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from domain.calendar import business_timezone
from domain.settings import Settings
from operations.scheduler import JobRunner, job_run_history

console = Console()


def _when(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return moment.astimezone(business_timezone()).strftime("%Y-%m-%d %H:%M:%S")


def _print_jobs(runner: JobRunner) -> None:
    table = Table(title="scheduled jobs (times in Asia/Ho_Chi_Minh)")
    for column in ("job", "what", "when", "next run"):
        table.add_column(column)
    for job in runner.jobs():
        table.add_row(job.id, job.name, str(job.trigger), _when(job.next_run_time))
    console.print(table)


def _print_runs(rows: list[dict[str, Any]], title: str) -> None:
    table = Table(title=title)
    for column in ("job", "scheduled for", "attempt", "runner", "started", "ended", "outcome"):
        table.add_column(column)
    table.add_column("what it did / error")
    for r in rows:
        style = {"failed": "red", "interrupted": "yellow", "running": "cyan"}.get(r["outcome"])
        table.add_row(
            r["job_id"],
            _when(r["scheduled_for"]),
            str(r["attempt"]),
            r["runner"],
            _when(r["started_at"]),
            _when(r["ended_at"]),
            r["outcome"],
            r["error"] or r["summary"],
            style=style,
        )
    console.print(table)


def scheduler_command(
    once: Annotated[
        bool, typer.Option(help="run what is due now, then stop, instead of running on")
    ] = False,
) -> None:
    """Run the scheduled jobs of the jurisdiction (deadline alerts, signing-window and
    report reminders, seals, backups) without the HTTP server."""
    runner = JobRunner(Settings())
    try:
        runner.sync_jobs()
        _print_jobs(runner)
        if once:
            runner.tick()
            rows = [r for r in job_run_history(runner.engine) if r["runner"] == runner.name]
            _print_runs(rows, f"runs of this scheduler ({runner.name})")
            return
        stop = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: stop.set())
        console.print(f"scheduler {runner.name} running; Ctrl-C stops")
        try:
            runner.serve(stop)
        except KeyboardInterrupt:
            stop.set()
    finally:
        runner.close()


def jobs_command(
    job: Annotated[str | None, typer.Option(help="only the runs of this job")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="how many runs")] = 30,
) -> None:
    """The scheduled jobs with their next run, and the latest runs: when each was due,
    when it started and ended, and its outcome (or error)."""
    runner = JobRunner(Settings())
    try:
        _print_jobs(runner)
        rows = job_run_history(runner.engine, job_id=job, limit=limit)
        _print_runs(rows, f"latest runs ({len(rows)})")
    finally:
        runner.close()


def register(app: typer.Typer) -> None:
    app.command("scheduler")(scheduler_command)
    app.command("jobs")(jobs_command)
