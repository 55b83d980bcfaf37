"""The Certificate aggregate: an X.509 certificate the ledger knows, and its revocation.

A certificate is registered once: its id is derived from its SHA-256 fingerprint, so the
event store itself refuses a second registration. Signature events name a certificate by
that fingerprint. Revocation is recorded with the moment it takes effect: a signature made
from that moment on is invalid, an earlier one stays valid.

The aggregate holds data only; parsing certificates is the business of ``signing/``.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import DomainError, InvalidInput, TransitionNotAllowed
from domain.values import Actor, nfc

FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")
KEY_TYPES = ("ec", "rsa")
PEM_HEADER = "-----BEGIN CERTIFICATE-----"


class DuplicateCertificate(DomainError):
    code = "duplicate_certificate"


class CertificateAlreadyRevoked(TransitionNotAllowed):
    code = "certificate_already_revoked"


def normalise_fingerprint(text: str) -> str:
    """A fingerprint as the ledger writes it: 64 lowercase hex digits, no separators."""
    cleaned = text.strip().lower().replace(":", "").replace(" ", "")
    if not FINGERPRINT.match(cleaned):
        raise InvalidInput("a certificate fingerprint is 64 hex digits (SHA-256)", "fingerprint")
    return cleaned


class Certificate(Aggregate):
    @staticmethod
    def create_id(fingerprint: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"hoso:certificate:{fingerprint}")

    class Registered(Aggregate.Created):
        fingerprint: str
        pem: str
        subject: str
        issuer: str
        serial: str
        not_before: datetime
        not_after: datetime
        holder_account: str
        key_type: str
        actor: Actor

    class Revoked(Aggregate.Event):
        revoked_at: datetime
        reason: str
        actor: Actor

    @event(Registered)
    def __init__(
        self,
        fingerprint: str,
        pem: str,
        subject: str,
        issuer: str,
        serial: str,
        not_before: datetime,
        not_after: datetime,
        holder_account: str,
        key_type: str,
        actor: Actor,
    ) -> None:
        self.fingerprint = fingerprint
        self.pem = pem
        self.subject = subject
        self.issuer = issuer
        self.serial = serial
        self.not_before = not_before
        self.not_after = not_after
        self.holder_account = holder_account
        self.key_type = key_type
        self.registered_by = actor.account
        self.revoked_at: datetime | None = None
        self.revocation_reason: str | None = None

    @classmethod
    def register(
        cls,
        *,
        fingerprint: str,
        pem: str,
        subject: str,
        issuer: str,
        serial: str,
        not_before: datetime,
        not_after: datetime,
        holder_account: str,
        key_type: str,
        actor: Actor,
    ) -> Certificate:
        fingerprint = normalise_fingerprint(fingerprint)
        pem = pem.strip()
        if not pem.startswith(PEM_HEADER):
            raise InvalidInput("a certificate is registered in PEM form", "pem")
        holder_account = nfc(holder_account)
        if not holder_account:
            raise InvalidInput("a certificate has a holder account", "holder_account")
        if key_type not in KEY_TYPES:
            raise InvalidInput(f"key type is one of {', '.join(KEY_TYPES)}", "key_type")
        not_before, not_after = _utc(not_before, "not_before"), _utc(not_after, "not_after")
        if not_after <= not_before:
            raise InvalidInput("a certificate ends after it starts", "not_after")
        return cls(
            fingerprint=fingerprint,
            pem=pem + "\n",
            subject=nfc(subject),
            issuer=nfc(issuer),
            serial=serial,
            not_before=not_before,
            not_after=not_after,
            holder_account=holder_account,
            key_type=key_type,
            actor=actor,
        )

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None

    def revoke(self, revoked_at: datetime, *, reason: str, actor: Actor) -> None:
        """Revoked from ``revoked_at`` on; recorded once."""
        if self.revoked_at is not None:
            raise CertificateAlreadyRevoked(
                f"certificate {self.fingerprint} was revoked already, "
                f"from {self.revoked_at.isoformat()}"
            )
        revoked_at = _utc(revoked_at, "revoked_at")
        if revoked_at < self.not_before:
            raise InvalidInput(
                f"the certificate is valid only from {self.not_before.isoformat()}; "
                "it cannot be revoked before that",
                "revoked_at",
            )
        reason = nfc(reason)
        if not reason:
            raise InvalidInput("give the reason of the revocation", "reason")
        self._revoked(revoked_at=revoked_at, reason=reason, actor=actor)

    @event(Revoked)
    def _revoked(self, revoked_at: datetime, reason: str, actor: Actor) -> None:
        self.revoked_at = revoked_at
        self.revocation_reason = reason

    def revoked_at_or_before(self, moment: datetime) -> bool:
        """Whether a signature made at ``moment`` falls under the revocation."""
        moment = _utc(moment, "moment")
        return self.revoked_at is not None and self.revoked_at <= moment

    def valid_at(self, moment: datetime) -> bool:
        """Inside the validity period and not revoked at ``moment`` (the chain is checked
        by ``signing/``)."""
        moment = _utc(moment, "moment")
        return self.not_before <= moment <= self.not_after and not self.revoked_at_or_before(moment)


def _utc(moment: datetime, field: str) -> datetime:
    if moment.tzinfo is None:
        raise InvalidInput("give a time with its time zone (UTC)", field)
    return moment.astimezone(UTC)
