"""Notices: an inbox per account, and e-mail where SMTP is configured.

A notice is about a topic (``signing-window:2027-01-27``, ``report:Điều 15.1:2027``…),
once per account: a job that runs again sends nothing twice. It is e-mailed to the address
the account set for its notices, else to the e-mail of the person's own record (personal
accounts); the mail goes out from an outbox, so that a failed send is tried again by the
next job that sends, and a sent one never again.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select, update
from sqlalchemy.exc import IntegrityError

from domain.application import Ledger
from domain.errors import InvalidInput, NotFound
from domain.settings import Settings
from operations.mail import Mailer, MailError, mail_configured
from operations.tables import notice_addresses, notices

log = logging.getLogger(__name__)

EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]{1,190}\.[^@\s.]{2,63}$")


def check_email(address: str) -> str:
    address = address.strip()
    if not EMAIL.match(address):
        raise InvalidInput("an e-mail address looks like ten@donvi.gov.vn", "email")
    return address


def set_address(engine: Engine, account: str, email: str, now: datetime) -> str:
    """Where the account's notices are e-mailed from now on."""
    email = check_email(email)
    with engine.begin() as conn:
        conn.execute(notice_addresses.insert().values(account=account, email=email, set_at=now))
    return email


def address_of(conn: Connection, ledger: Ledger, account: str) -> str | None:
    """The address set for the account's notices, else the e-mail of the person's record."""
    found = conn.execute(
        select(notice_addresses.c.email)
        .where(notice_addresses.c.account == account)
        .order_by(notice_addresses.c.id.desc())
        .limit(1)
    ).scalar_one_or_none()
    if found:
        return str(found)
    try:
        profile_id = ledger.account(account).profile_id
        if not profile_id:
            return None
        email = (ledger.profile(profile_id).record.get("identity") or {}).get("email")
    except NotFound:
        return None
    return email if isinstance(email, str) and EMAIL.match(email.strip()) else None


def deliver(
    engine: Engine,
    ledger: Ledger,
    account: str,
    topic: str,
    subject: str,
    body: str,
    now: datetime,
) -> bool:
    """Put a notice in the account's inbox (and in the outbox when it has an address and
    SMTP is configured); False when the account already has one on this topic."""
    with engine.begin() as conn:
        exists = conn.execute(
            select(notices.c.id).where(notices.c.account == account, notices.c.topic == topic)
        ).first()
        if exists:
            return False
        email = address_of(conn, ledger, account) if mail_configured(ledger.settings) else None
        try:
            conn.execute(
                notices.insert().values(
                    account=account,
                    topic=topic,
                    subject=subject,
                    body=body,
                    created_at=now,
                    email=email,
                )
            )
        except IntegrityError:  # another scheduler delivered it at the same moment
            return False
    return True


def send_outbox(
    engine: Engine, settings: Settings, clock: Callable[[], datetime]
) -> tuple[int, int]:
    """E-mail every notice waiting for it; (sent, failed). A failure is kept on the notice
    and tried again next time."""
    if not mail_configured(settings):
        return 0, 0
    with engine.connect() as conn:
        waiting = conn.execute(
            select(notices.c.id, notices.c.email, notices.c.subject, notices.c.body)
            .where(notices.c.email.is_not(None), notices.c.emailed_at.is_(None))
            .order_by(notices.c.id)
        ).all()
    if not waiting:
        return 0, 0
    sent = failed = 0
    try:
        with Mailer(settings) as mailer:
            for row in waiting:
                try:
                    mailer.send(row.email, row.subject, row.body)
                except MailError as exc:
                    failed += 1
                    _mark(engine, row.id, emailed_at=None, email_error=str(exc))
                else:
                    sent += 1
                    _mark(engine, row.id, emailed_at=clock(), email_error=None)
    except MailError as exc:
        log.warning("notices not e-mailed: %s", exc)
        for row in waiting[sent + failed :]:
            _mark(engine, row.id, emailed_at=None, email_error=str(exc))
        failed = len(waiting) - sent
    return sent, failed


def _mark(engine: Engine, notice_id: int, **values: Any) -> None:
    with engine.begin() as conn:
        conn.execute(update(notices).where(notices.c.id == notice_id).values(**values))


# -- the inbox -----------------------------------------------------------------------------


def inbox(
    conn: Connection, account: str, *, unread_only: bool = False, limit: int = 100
) -> dict[str, Any]:
    """The account's notices, newest first, and how many are unread."""
    query = select(notices).where(notices.c.account == account)
    if unread_only:
        query = query.where(notices.c.read_at.is_(None))
    rows = conn.execute(query.order_by(notices.c.id.desc()).limit(limit)).all()
    unread = conn.execute(
        select(func.count())
        .select_from(notices)
        .where(notices.c.account == account, notices.c.read_at.is_(None))
    ).scalar_one()
    return {"unread": int(unread), "notices": [public(r._mapping) for r in rows]}


def public(row: Any) -> dict[str, Any]:
    return {
        "id": row["id"],
        "topic": row["topic"],
        "subject": row["subject"],
        "body": row["body"],
        "created_at": row["created_at"],
        "read_at": row["read_at"],
        "emailed_at": row["emailed_at"],
    }


def mark_read(engine: Engine, account: str, notice_id: int, now: datetime) -> dict[str, Any]:
    """Mark one of the account's notices read (once: the first reading is kept). Another
    account's notice is not found, exactly as one that does not exist."""
    with engine.begin() as conn:
        row = conn.execute(
            select(notices).where(notices.c.id == notice_id, notices.c.account == account)
        ).first()
        if row is None:
            raise NotFound(f"no notice {notice_id}")
        if row.read_at is None:
            conn.execute(
                update(notices)
                .where(notices.c.id == notice_id, notices.c.read_at.is_(None))
                .values(read_at=now)
            )
        row = conn.execute(select(notices).where(notices.c.id == notice_id)).one()
    return public(row._mapping)
