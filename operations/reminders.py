"""Who is reminded of what: the signers with approval items waiting when a signing window
opens, and the officers whose report falls due.

A signer is an account whose grants, on the day, let it sign the level an item waits for
(the one policy decides, as it does for the signer's inbox); an item waits for the role of
its next level, in the unit the person worked in when approval was asked.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, datetime
from uuid import UUID

from eventsourcing.utils import get_topic
from sqlalchemy import Engine

from api.deps import principal_for
from api.policy import Principal
from api.routers import may_sign
from domain.account import Account
from domain.application import Ledger
from domain.jurisdiction import ReportDue
from domain.values import Role
from operations.notices import deliver
from signing.approvals import Approvals, WaitingItem

PAGE = 500
REPORT_REMINDER_WORKING_DAYS = 10  # the regulations set no reminder; two working weeks ahead
# Who prepares a report of each scope: the units' HR officers, or the home affairs body.
REPORT_PREPARERS: dict[str, frozenset[Role]] = {
    "unit": frozenset({Role.HR_OFFICER, Role.HR_HEAD}),
    "province": frozenset({Role.HOME_AFFAIRS}),
}


def _originators(ledger: Ledger, topic: str) -> Iterator[str]:
    """The aggregates that recorded an event of ``topic``, in the order they first did."""
    seen: set[str] = set()
    start = 1
    while True:
        page = ledger.recorder.select_notifications(start, PAGE, topics=[topic])
        for notification in page:
            key = str(notification.originator_id)
            if key not in seen:
                seen.add(key)
                yield key
        if len(page) < PAGE:
            return
        start = page[-1].id + 1


def principals(ledger: Ledger, reader: Engine, on: date) -> list[Principal]:
    """Every account's principal on a day (its grants in force, with the units they cover)."""
    topic = get_topic(Account.Created)  # type: ignore[attr-defined]
    found = []
    with reader.connect() as conn:
        for account_id in _originators(ledger, topic):
            account: Account = ledger.repository.get(UUID(account_id))
            if account.revoked(on):
                continue
            found.append(principal_for(account, conn, on))
    return found


def signers_waiting(ledger: Ledger, reader: Engine, on: date) -> dict[str, list[WaitingItem]]:
    """Each account that has items to sign on ``on``, with those items."""
    items = Approvals(ledger).waiting()
    if not items:
        return {}
    found: dict[str, list[WaitingItem]] = {}
    for principal in principals(ledger, reader, on):
        mine = [item for item in items if may_sign(principal, item)]
        if mine:
            found[principal.account] = mine
    return found


def remind_signers(
    ledger: Ledger, engine: Engine, window_opens: date, now: datetime
) -> tuple[int, int]:
    """A notice to every signer with items waiting, for the window opening on
    ``window_opens``; (signers with items, notices delivered now)."""
    waiting = signers_waiting(ledger, engine, window_opens)
    window = ledger.jurisdiction.signing_window
    last_days = window.last_days_of_month if window else 0
    delivered = 0
    for account, items in sorted(waiting.items()):
        lines = [
            f"Kỳ ký duyệt {last_days} ngày cuối tháng {window_opens:%m/%Y} bắt đầu từ ngày "
            f"{window_opens:%d/%m/%Y}. Các hồ sơ chờ anh/chị ký số:",
            "",
        ]
        lines += [
            f"- {item.full_name} ({item.unit_code}): {item.approves}, cấp ký {item.level} "
            f"(mã {item.item_id})"
            for item in items
        ]
        subject = f"Kỳ ký duyệt tháng {window_opens:%m/%Y}: {len(items)} hồ sơ chờ anh/chị ký số"
        topic = f"signing-window:{window_opens.isoformat()}"
        if deliver(engine, ledger, account, topic, subject, "\n".join(lines), now):
            delivered += 1
    return len(waiting), delivered


def report_reminder_dates(ledger: Ledger, report: ReportDue, year: int) -> tuple[date, date]:
    """The days a report due in ``year`` is reminded of: from ten working days before its
    last day, to that day."""
    last = report.last_day(year)
    return ledger.calendar.add_working_days(last, -REPORT_REMINDER_WORKING_DAYS), last


def remind_reports(ledger: Ledger, engine: Engine, today: date, now: datetime) -> int:
    """A notice to the officers who prepare each report whose reminder days include
    ``today``; the notices delivered now."""
    due = []
    for report in ledger.jurisdiction.reports:
        for year in (today.year, today.year + 1):
            first, last = report_reminder_dates(ledger, report, year)
            if first <= today <= last:
                due.append((report, last))
    if not due:
        return 0
    everyone = principals(ledger, engine, today)
    delivered = 0
    for report, last in due:
        roles = REPORT_PREPARERS[report.scope]
        subject = f"Sắp đến hạn: {report.name} (hạn cuối {last:%d/%m/%Y})"
        body = (
            f"{report.name} phải gửi chậm nhất ngày {last:%d/%m/%Y} ({report.article}, "
            f"{ledger.jurisdiction.regulation_number}).\n"
            f"Còn {ledger.calendar.working_days_between(today, last)} ngày làm việc."
        )
        topic = f"report:{report.article}:{report.month:02d}-{report.day:02d}:{last.isoformat()}"
        for principal in everyone:
            if roles & principal.roles and deliver(
                engine, ledger, principal.account, topic, subject, body, now
            ):
                delivered += 1
    return delivered
