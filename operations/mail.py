"""E-mail for notices, through the SMTP server of the settings (``HOSO_SMTP_*``)."""

from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate, make_msgid

from domain.settings import Settings


class MailError(Exception):
    """The server refused the message, or did not answer."""


def mail_configured(settings: Settings) -> bool:
    return bool(settings.smtp_host)


def compose(settings: Settings, to: str, subject: str, body: str) -> EmailMessage:
    message = EmailMessage()
    message["From"] = settings.smtp_sender
    message["To"] = to
    message["Subject"] = subject
    message["Date"] = formatdate(localtime=False, usegmt=True)
    message["Message-ID"] = make_msgid(domain=settings.smtp_sender.rpartition("@")[2] or None)
    message.set_content(body)  # UTF-8, so Vietnamese text arrives as written
    return message


class Mailer:
    """One SMTP conversation for a batch of messages: connect once, send each, quit."""

    def __init__(self, settings: Settings) -> None:
        if not settings.smtp_host:
            raise MailError("no SMTP server is configured (HOSO_SMTP_HOST)")
        self.settings = settings
        self._smtp: smtplib.SMTP | None = None

    def __enter__(self) -> Mailer:
        s = self.settings
        try:
            smtp = smtplib.SMTP(s.smtp_host or "", s.smtp_port, timeout=s.smtp_timeout)
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password or "")
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"SMTP server {s.smtp_host}:{s.smtp_port}: {exc}") from exc
        self._smtp = smtp
        return self

    def __exit__(self, *_: object) -> None:
        if self._smtp is not None:
            try:
                self._smtp.quit()
            except (OSError, smtplib.SMTPException):
                self._smtp.close()
            self._smtp = None

    def send(self, to: str, subject: str, body: str) -> None:
        assert self._smtp is not None, "use the Mailer in a with block"
        try:
            self._smtp.send_message(compose(self.settings, to, subject, body))
        except (OSError, smtplib.SMTPException) as exc:
            raise MailError(f"to {to}: {exc}") from exc
