"""The scheduler against a fake clock: deadline alerts around Tết, the signing-window
reminder in the inbox and by e-mail, report reminders, a run interrupted by a crash or an
exception run again once, two schedulers on one database running a due job once, and
``hoso jobs`` listing the runs. Nothing sleeps: the runner asks APScheduler's triggers for
the next run times from the clock the test moves."""

from __future__ import annotations

import base64
import email
import email.policy
import os
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any

import eventsourcing.domain
import pytest
from aiosmtpd.controller import Controller
from apscheduler.triggers.cron import CronTrigger
from fastapi.testclient import TestClient
from rich.console import Console

from api.app import create_app
from domain.application import Ledger
from domain.calendar import business_timezone
from domain.settings import Settings
from domain.values import Role
from operations import notices
from operations.alerts import unit_alerts
from operations.scheduler import LEASE, JobRunner, PlannedJob, job_run_history, planned_jobs
from scripts import scheduler_cli
from tests.api_helpers import cheap_argon2, log_in_as, make_account
from tests.builders import ADMIN, person, unit_tree
from tests.cli_helpers import HOSO_VARIABLES, ok
from tests.conftest import HR, decision
from tests.scheduled_jobs import BLOCK, COUNT_FILE

VN = business_timezone()


class Clock:
    """A clock the test sets: business date and time in Vietnam, read as UTC."""

    def __init__(self, day: date, at: time = time(6, 5)) -> None:
        self.now = datetime.combine(day, at, tzinfo=VN).astimezone(UTC)

    def set(self, day: date, at: time = time(6, 5)) -> None:
        self.now = datetime.combine(day, at, tzinfo=VN).astimezone(UTC)

    def __call__(self) -> datetime:
        return self.now


def only(jurisdiction: str, *ids: str) -> list[PlannedJob]:
    from domain.jurisdiction import load_jurisdiction

    return [job for job in planned_jobs(load_jurisdiction(jurisdiction)) if job.id in ids]


@pytest.fixture
def recorded_on(monkeypatch: pytest.MonkeyPatch) -> Callable[[date], None]:
    """Record the next events at 9:30 on a business date instead of now."""

    def set_day(day: date) -> None:
        moment = datetime.combine(day, time(9, 30), tzinfo=VN).astimezone(UTC)
        monkeypatch.setattr(eventsourcing.domain, "datetime_now_with_tzinfo", lambda: moment)

    return set_day


@pytest.fixture
def runners() -> Iterator[Callable[..., JobRunner]]:
    made: list[JobRunner] = []

    def make(settings: Settings, **kwargs: Any) -> JobRunner:
        runner = JobRunner(settings, **kwargs)
        runner.sync_jobs()
        made.append(runner)
        return runner

    yield make
    for runner in made:
        runner.close()


def runs(runner: JobRunner, job_id: str | None = None) -> list[dict[str, Any]]:
    return list(reversed(job_run_history(runner.engine, job_id=job_id)))


# -- deadline alerts around Tết ------------------------------------------------------------


def test_alerts_open_and_close_on_the_right_working_days_around_tet(
    make_ledger: Callable[..., Ledger],
    make_settings: Callable[..., Settings],
    recorded_on: Callable[[date], None],
    runners: Callable[..., JobRunner],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Cần Thơ: the new unit receives a transferred person within 3 working days (Điều
    12.2). Released on Tuesday 2 February 2027, An is due at Sở Tài chính on Friday 12
    February: Tết Đinh Mùi closes the offices from Thursday 4 to Wednesday 10 February, so
    the item is due soon (two working days left) from Wednesday 3 February, nine calendar
    days ahead. Bình, released on Thursday 11, is due on Tuesday 16 and received on time."""
    ledger = make_ledger(jurisdiction="cantho")
    unit_tree(ledger)
    an = str(ledger.open_profile(person(), decision=decision(), actor=HR))
    binh_record = person("001090054321")
    binh_record["identity"]["full_name"] = "Trần Thị Bình"
    binh = str(ledger.open_profile(binh_record, decision=decision(), actor=HR))
    recorded_on(date(2027, 2, 2))
    ledger.release_transfer(
        an, "STC", effective_date=date(2027, 2, 2), decision=decision("07/QĐ-UBND"), actor=HR
    )
    clock = Clock(date(2027, 2, 1), time(5, 0))  # the monitor is first due at 6:00
    runner = runners(
        make_settings(jurisdiction="cantho"),
        clock=clock,
        ledger=ledger,
        jobs=only("cantho", "deadline-monitor"),
    )

    def day(on: date) -> dict[str, list[tuple[str, date, date | None, str | None]]]:
        clock.set(on)
        runner.tick()
        with runner.engine.connect() as conn:
            found = unit_alerts(conn, None, status="all")
        by_person: dict[str, list[tuple[str, date, date | None, str | None]]] = {}
        for a in sorted(found, key=lambda a: a["id"]):
            name = "an" if a["profile_id"] == an else "binh"
            by_person.setdefault(name, []).append(
                (a["kind"], a["opened_on"], a["closed_on"], a["closed_because"])
            )
        return by_person

    assert day(date(2027, 2, 1)) == {}  # four working days left
    assert day(date(2027, 2, 2)) == {}  # three: 3, 11 and 12 February
    due_soon = ("due_soon", date(2027, 2, 3), None, None)
    assert day(date(2027, 2, 3)) == {"an": [due_soon]}
    assert day(date(2027, 2, 8)) == {"an": [due_soon]}  # Tết: nothing changes
    recorded_on(date(2027, 2, 11))
    ledger.release_transfer(
        binh, "STC", effective_date=date(2027, 2, 11), decision=decision("08/QĐ-UBND"), actor=HR
    )
    assert day(date(2027, 2, 11)) == {"an": [due_soon]}  # Bình: 12, 15, 16 February
    binh_due_soon = ("due_soon", date(2027, 2, 12), None, None)
    assert day(date(2027, 2, 12)) == {"an": [due_soon], "binh": [binh_due_soon]}

    # Monday 15: An is overdue (due Friday 12); Bình arrives on time.
    recorded_on(date(2027, 2, 15))
    ledger.receive_transfer(
        binh,
        "STC",
        department="Phòng Ngân sách",
        position="Chuyên viên",
        effective_date=date(2027, 2, 15),
        decision=decision("08/QĐ-UBND"),
        actor=HR,
    )
    assert day(date(2027, 2, 15)) == {
        "an": [
            ("due_soon", date(2027, 2, 3), date(2027, 2, 15), "overdue"),
            ("overdue", date(2027, 2, 15), None, None),
        ],
        "binh": [("due_soon", date(2027, 2, 12), date(2027, 2, 15), "done")],
    }
    recorded_on(date(2027, 2, 17))
    ledger.receive_transfer(
        an,
        "STC",
        department="Phòng Ngân sách",
        position="Chuyên viên",
        effective_date=date(2027, 2, 17),
        decision=decision("07/QĐ-UBND"),
        actor=HR,
    )
    closed = day(date(2027, 2, 17))["an"][-1]
    assert closed == ("overdue", date(2027, 2, 15), date(2027, 2, 17), "done")
    assert [r["outcome"] for r in runs(runner)] == ["succeeded"] * 8

    # In the API, each unit sees the alerts of its own subtree.
    cheap_argon2(monkeypatch)
    with TestClient(create_app(make_settings(jurisdiction="cantho"))) as client:
        stc = make_account(ledger, "hr.stc", Role.HR_OFFICER, "STC")
        snv = make_account(ledger, "hr.snv", Role.HR_OFFICER, "SNV")
        headers = log_in_as(client, stc)
        body = client.get("/api/alerts", params={"status": "all"}, headers=headers).json()
        assert body["unit_code"] == "STC"
        assert [(a["kind"], a["closed_because"]) for a in body["alerts"]] == [
            ("overdue", "done"),
            ("due_soon", "done"),
            ("due_soon", "overdue"),
        ]
        assert client.get("/api/alerts", headers=headers).json()["alerts"] == []
        refused = client.get("/api/alerts", params={"unit": "STC"}, headers=log_in_as(client, snv))
        assert refused.status_code == 404


# -- the signing-window reminder, in the inbox and by e-mail -----------------------------


class SmtpInbox:
    """An aiosmtpd handler keeping what it receives."""

    def __init__(self) -> None:
        self.received: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.received.append((list(envelope.rcpt_tos), message))  # type: ignore[arg-type]
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[int, SmtpInbox]]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    handler = SmtpInbox()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield port, handler
    finally:
        controller.stop()


def test_a_reminder_goes_to_every_signer_with_items_waiting_on_the_first_day_of_the_window(
    make_ledger: Callable[..., Ledger],
    make_settings: Callable[..., Settings],
    runners: Callable[..., JobRunner],
    smtp_server: tuple[int, SmtpInbox],
) -> None:
    """Hải Phòng: unit heads sign in the last five days of each month (Điều 5.2). The head
    of Sở Nội vụ has two items waiting (changes to An's and Bình's records); the head of Sở
    Tài chính none, and Sở Nội vụ's HR officer signs nothing."""
    port, smtp = smtp_server
    settings = make_settings(jurisdiction="haiphong", smtp_host="127.0.0.1", smtp_port=port)
    ledger = make_ledger(jurisdiction="haiphong", smtp_host="127.0.0.1", smtp_port=port)
    unit_tree(ledger)
    binh = person("001090054321")
    binh["identity"]["full_name"] = "Trần Thị Bình"
    for record in (person(), binh):
        ledger.propose_change(
            str(ledger.open_profile(record, decision=decision(), actor=HR)),
            [("identity.hometown", "Hải Phòng")],
            reason="Bổ sung quê quán",
            effective_date=date(2026, 11, 2),
            actor=HR,
        )
    for username, role, unit in (
        ("giamdoc.snv", Role.UNIT_HEAD, "SNV"),
        ("giamdoc.stc", Role.UNIT_HEAD, "STC"),
        ("tccb.snv", Role.HR_OFFICER, "SNV"),
    ):
        ledger.create_account(username, username, "approver", unit, actor=ADMIN)
        ledger.grant_role(username, role, unit, valid_from=date(2020, 1, 1), actor=ADMIN)
    clock = Clock(date(2027, 1, 26), time(23, 0))
    runner = runners(
        settings, clock=clock, ledger=ledger, jobs=only("haiphong", "signing-window-reminder")
    )
    notices.set_address(runner.engine, "giamdoc.snv", "giamdoc@snv.haiphong.gov.vn", clock())
    notices.set_address(runner.engine, "giamdoc.stc", "giamdoc@stc.haiphong.gov.vn", clock())

    runner.tick()  # the evening before: January's window opens on the 27th (31 - 5 + 1)
    assert runs(runner) == [] and smtp.received == []

    clock.set(date(2027, 1, 27), time(7, 1))
    runner.tick()
    (run,) = runs(runner)
    assert run["outcome"] == "succeeded", run["error"]
    assert run["scheduled_for"] == datetime(2027, 1, 27, 7, 0, tzinfo=VN)
    with runner.engine.connect() as conn:
        inbox = notices.inbox(conn, "giamdoc.snv")
        assert notices.inbox(conn, "giamdoc.stc")["notices"] == []
        assert notices.inbox(conn, "tccb.snv")["notices"] == []
    (notice,) = inbox["notices"]
    assert inbox["unread"] == 1
    assert notice["subject"] == "Kỳ ký duyệt tháng 01/2027: 2 hồ sơ chờ anh/chị ký số"
    assert "Nguyễn Văn An (SNV): ChangeProposed, cấp ký 1" in notice["body"]
    assert "Trần Thị Bình (SNV): ChangeProposed, cấp ký 1" in notice["body"]
    assert notice["emailed_at"] == clock()

    (to, message), *others = smtp.received
    assert others == []
    assert to == ["giamdoc@snv.haiphong.gov.vn"]
    assert message["Subject"] == notice["subject"]
    assert "Nguyễn Văn An (SNV)" in message.get_content()

    clock.set(date(2027, 1, 27), time(16, 0))
    runner.tick()  # later that day: nothing again; the next window opens on 24 February
    assert len(runs(runner)) == 1 and len(smtp.received) == 1
    (job,) = runner.jobs()
    assert job.next_run_time == datetime(2027, 2, 24, 7, 0, tzinfo=VN)

    with runner.engine.connect() as conn:
        read = notices.mark_read(runner.engine, "giamdoc.snv", notice["id"], clock())
        assert read["read_at"] == clock()
        assert notices.inbox(conn, "giamdoc.snv")["unread"] == 0


def test_report_reminders_go_to_the_home_affairs_body_from_ten_working_days_ahead(
    make_ledger: Callable[..., Ledger],
    make_settings: Callable[..., Settings],
    runners: Callable[..., JobRunner],
) -> None:
    """Trà Vinh: Sở Nội vụ reports on the database by 31 January (Điều 15.11). Ten working
    days before Sunday 31 January 2027 is Monday 18 January."""
    ledger = make_ledger(jurisdiction="travinh")
    unit_tree(ledger)
    for username, role in (("snv.director", Role.HOME_AFFAIRS), ("tccb.snv", Role.HR_OFFICER)):
        ledger.create_account(username, username, "approver", "SNV", actor=ADMIN)
        ledger.grant_role(username, role, "SNV", valid_from=date(2020, 1, 1), actor=ADMIN)
    clock = Clock(date(2027, 1, 15), time(7, 0))
    runner = runners(
        make_settings(jurisdiction="travinh"),
        clock=clock,
        ledger=ledger,
        jobs=only("travinh", "report-reminders"),
    )
    clock.set(date(2027, 1, 15), time(8, 0))

    def inboxes() -> dict[str, list[str]]:
        with runner.engine.connect() as conn:
            return {
                who: [n["subject"] for n in notices.inbox(conn, who)["notices"]]
                for who in ("snv.director", "tccb.snv")
            }

    runner.tick()
    assert inboxes() == {"snv.director": [], "tccb.snv": []}
    for day in (date(2027, 1, 18), date(2027, 1, 19)):
        clock.set(day, time(8, 0))
        runner.tick()
        assert inboxes() == {
            "snv.director": [
                "Sắp đến hạn: Báo cáo tình hình quản lý cơ sở dữ liệu CBCCVC, người lao động "
                "năm trước (hạn cuối 31/01/2027)"
            ],
            "tccb.snv": [],
        }
    assert [r["outcome"] for r in runs(runner)] == ["succeeded"] * 3


# -- crashes, failures, two schedulers -------------------------------------------------------


def counting_job(func: str = "tests.scheduled_jobs:count_and_block") -> list[PlannedJob]:
    return [PlannedJob("count", func, CronTrigger(hour=6, minute=0, timezone=VN), "Đếm")]


@pytest.fixture
def count_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    path = tmp_path / "runs.txt"
    path.touch()
    monkeypatch.setenv(COUNT_FILE, str(path))
    return lambda: len(path.read_text().splitlines())


def settings_env(settings: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in HOSO_VARIABLES}
    env.update(
        HOSO_DATA_DIR=str(settings.data_dir),
        HOSO_JURISDICTION=settings.jurisdiction,
        HOSO_DATABASE_SCHEMA=settings.database_schema,
    )
    if settings.database_url:
        env["HOSO_DATABASE_URL"] = settings.database_url
    return env


CRASHING_SCHEDULER = """
import sys
from datetime import datetime
from apscheduler.triggers.cron import CronTrigger
from domain.calendar import business_timezone
from domain.settings import Settings
from operations.scheduler import JobRunner, PlannedJob

now = datetime.fromisoformat(sys.argv[1])
trigger = CronTrigger(hour=6, minute=0, timezone=business_timezone())
job = PlannedJob("count", "tests.scheduled_jobs:count_and_block", trigger, "Đếm")
runner = JobRunner(Settings(), clock=lambda: now, jobs=[job], name="the one that dies")
runner.sync_jobs()
runner.tick()
"""


def test_a_run_killed_mid_way_runs_exactly_once_after_restart(
    make_settings: Callable[..., Settings],
    runners: Callable[..., JobRunner],
    count_file: Callable[[], int],
) -> None:
    settings = make_settings()
    clock = Clock(date(2027, 3, 1), time(5, 0))
    first = runners(settings, clock=clock, jobs=counting_job())  # the job, due at 6:00
    first.close()

    clock.set(date(2027, 3, 1), time(6, 1))
    process = subprocess.Popen(
        [sys.executable, "-c", CRASHING_SCHEDULER, clock().isoformat()],
        cwd=Path(__file__).parent.parent,
        env={**settings_env(settings), BLOCK: "1", COUNT_FILE: os.environ[COUNT_FILE]},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line == "started\n", process.stderr.read() if process.stderr else line
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert count_file() == 1

    # Restarted a minute later: the claim may still be alive elsewhere, so nothing runs.
    clock.set(date(2027, 3, 1), time(6, 2))
    restarted = runners(settings, clock=clock, jobs=counting_job())
    restarted.tick()
    assert count_file() == 1
    (killed,) = runs(restarted)
    assert (killed["outcome"], killed["runner"]) == ("running", "the one that dies")

    # Once its lease is over, the run is taken over, and runs once.
    clock.now += LEASE
    restarted.tick()
    restarted.tick()
    assert count_file() == 2
    killed, again = runs(restarted)
    assert killed["outcome"] == "interrupted" and "stopped" in killed["error"]
    assert (again["attempt"], again["outcome"], again["summary"]) == (2, "succeeded", "run 2")
    assert again["scheduled_for"] == killed["scheduled_for"]
    (job,) = restarted.jobs()
    assert job.next_run_time == datetime(2027, 3, 2, 6, 0, tzinfo=VN)


def test_a_run_that_failed_runs_once_more_after_restart(
    make_settings: Callable[..., Settings],
    runners: Callable[..., JobRunner],
    count_file: Callable[[], int],
) -> None:
    settings = make_settings()
    clock = Clock(date(2027, 3, 1), time(5, 0))
    jobs = counting_job("tests.scheduled_jobs:fail_first")
    first = runners(settings, clock=clock, jobs=jobs)
    clock.set(date(2027, 3, 1), time(6, 1))
    first.tick()
    (failed,) = runs(first)
    assert failed["outcome"] == "failed"
    assert failed["error"] == "RuntimeError: the disk is full"
    first.close()

    restarted = runners(settings, clock=clock, jobs=jobs)
    restarted.tick()  # not before the pause after a failure
    assert count_file() == 1
    clock.now += timedelta(minutes=6)
    restarted.tick()
    restarted.tick()
    assert count_file() == 2
    assert [(r["attempt"], r["outcome"]) for r in runs(restarted)] == [
        (1, "failed"),
        (2, "succeeded"),
    ]


def test_two_schedulers_on_one_database_run_each_due_job_once(
    make_settings: Callable[..., Settings],
    runners: Callable[..., JobRunner],
    count_file: Callable[[], int],
) -> None:
    settings = make_settings()
    clock = Clock(date(2027, 3, 1), time(5, 0))
    pair = [runners(settings, clock=clock, jobs=counting_job(), name=name) for name in ("a", "b")]
    for day in range(1, 6):
        clock.set(date(2027, 3, day), time(6, 0, 1))
        start = threading.Barrier(2)
        errors: list[BaseException] = []

        def tick(
            runner: JobRunner,
            start: threading.Barrier = start,
            errors: list[BaseException] = errors,
        ) -> None:
            try:
                start.wait()
                runner.tick()
            except BaseException as exc:  # pragma: no cover - reported below
                errors.append(exc)

        threads = [threading.Thread(target=tick, args=(r,)) for r in pair]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert errors == []
        assert count_file() == day
    done = runs(pair[0])
    assert [r["scheduled_for"].astimezone(VN).day for r in done] == [1, 2, 3, 4, 5]
    assert {r["outcome"] for r in done} == {"succeeded"}


# -- hoso jobs -----------------------------------------------------------------------------


def test_hoso_jobs_lists_the_jobs_and_their_runs(
    make_settings: Callable[..., Settings],
    runners: Callable[..., JobRunner],
    count_file: Callable[[], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    settings = make_settings(jurisdiction="cantho")
    clock = Clock(date(2027, 3, 1), time(5, 0))
    runner = runners(settings, clock=clock, jobs=counting_job("tests.scheduled_jobs:fail_first"))
    clock.set(date(2027, 3, 1), time(6, 1))
    runner.tick()
    clock.now += timedelta(minutes=6)
    runner.tick()
    for name, value in settings_env(settings).items():
        if name.startswith("HOSO_"):
            monkeypatch.setenv(name, value)
    monkeypatch.setattr(scheduler_cli, "console", Console(width=250, color_system=None))

    output = ok("jobs").output
    assert "count" in output and "2027-03-02 06:00:00" in output  # the next run
    lines = [line for line in output.splitlines() if "2027-03-01 06:00:00" in line]
    assert len(lines) == 2
    assert "succeeded" in lines[0] and "run 2" in lines[0]  # newest first
    assert "failed" in lines[1] and "RuntimeError: the disk is full" in lines[1]

    # ``hoso scheduler --once`` puts the jurisdiction's jobs in the store (and runs none:
    # by the real clock none is due yet).
    output = ok("scheduler", "--once").output
    for job_id in ("deadline-monitor", "ledger-seal", "backup", "report-reminders"):
        assert job_id in output
    assert "signing-window-reminder" not in output  # Cần Thơ signs without a window


# -- backups -----------------------------------------------------------------------------------


def test_the_backup_job_writes_a_verified_archive_on_the_jurisdictions_schedule(
    make_ledger: Callable[..., Ledger],
    make_settings: Callable[..., Settings],
    runners: Callable[..., JobRunner],
) -> None:
    """Cần Thơ backs up daily (Điều 13.4), at 1:00; without a backup key the run fails with
    the reason, and is tried again once there is one."""
    ledger = make_ledger(jurisdiction="cantho")
    unit_tree(ledger)
    ledger.open_profile(person(), decision=decision(), actor=HR)
    clock = Clock(date(2027, 3, 1), time(0, 30))
    runner = runners(
        make_settings(jurisdiction="cantho"),
        clock=clock,
        ledger=ledger,
        jobs=only("cantho", "backup"),
    )
    clock.set(date(2027, 3, 1), time(1, 0, 30))
    runner.tick()
    (failed,) = runs(runner)
    assert failed["outcome"] == "failed" and "key" in failed["error"].lower()
    runner.close()

    key = base64.b64encode(os.urandom(32)).decode()
    settings = make_settings(jurisdiction="cantho", backup_key=key)
    runner = runners(settings, clock=clock, ledger=ledger, jobs=only("cantho", "backup"))
    clock.now += timedelta(minutes=6)
    runner.tick()
    failed, made = runs(runner)
    assert (made["attempt"], made["outcome"]) == (2, "succeeded"), made["error"]
    archives = sorted((settings.data_dir / "backups").glob("*"))
    assert [a.name for a in archives if a.is_file()] == [made["summary"].split()[1]]
    assert "verified" in made["summary"]
    (job,) = runner.jobs()
    assert job.next_run_time == datetime(2027, 3, 2, 1, 0, tzinfo=VN)
