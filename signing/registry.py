"""Certificates in the ledger: registration (once), lookup, revocation; trust configuration.

Trust anchors and intermediate authorities are configuration, PEM bundles named by
``HOSO_TRUST_ANCHORS`` and ``HOSO_INTERMEDIATES`` (by default ``<data_dir>/pki/
trust-anchors.pem`` and ``<data_dir>/pki/intermediates.pem``).
"""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path
from uuid import UUID

from cryptography import x509
from cryptography.x509.oid import NameOID
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from eventsourcing.utils import get_topic

from domain.application import Ledger
from domain.certificate import Certificate, DuplicateCertificate, normalise_fingerprint
from domain.errors import NotFound
from domain.settings import Settings
from domain.values import Actor
from signing.pki import PkiError, is_authority, key_type_of, parse_certificate, parse_certificates
from signing.signatures import certificate_pem, fingerprint

TRUST_ANCHORS_VARIABLE = "HOSO_TRUST_ANCHORS"
INTERMEDIATES_VARIABLE = "HOSO_INTERMEDIATES"
NAMES = {NameOID.EMAIL_ADDRESS: "emailAddress", NameOID.SERIAL_NUMBER: "serialNumber"}


def build_certificate(
    pem: str | bytes | x509.Certificate, holder_account: str, actor: Actor
) -> Certificate:
    """A Certificate aggregate for an end-entity certificate, not yet saved."""
    parsed = pem if isinstance(pem, x509.Certificate) else parse_certificate(pem)
    if is_authority(parsed):
        raise PkiError("this is a certification authority's certificate, not a signer's")
    return Certificate.register(
        fingerprint=fingerprint(parsed),
        pem=certificate_pem(parsed),
        subject=parsed.subject.rfc4514_string(NAMES),
        issuer=parsed.issuer.rfc4514_string(NAMES),
        serial=format(parsed.serial_number, "x"),
        not_before=parsed.not_valid_before_utc,
        not_after=parsed.not_valid_after_utc,
        holder_account=holder_account,
        key_type=key_type_of(parsed),
        actor=actor,
    )


def register_certificate(
    ledger: Ledger, pem: str | bytes | x509.Certificate, holder_account: str, actor: Actor
) -> str:
    """Record a certificate (once) for ``holder_account``; returns its fingerprint."""
    certificate = build_certificate(pem, holder_account, actor)
    try:
        ledger.save(certificate)
    except IntegrityError:
        raise DuplicateCertificate(
            f"certificate {certificate.fingerprint} is registered already"
        ) from None
    return certificate.fingerprint


def certificate(ledger: Ledger, fingerprint: str) -> Certificate:
    normalised = normalise_fingerprint(fingerprint)
    try:
        found: Certificate = ledger.repository.get(Certificate.create_id(normalised))
    except AggregateNotFoundError:
        raise NotFound(f"no certificate {normalised}") from None
    if not isinstance(found, Certificate):
        raise NotFound(f"no certificate {normalised}")
    return found


def revoke_certificate(
    ledger: Ledger, fingerprint: str, revoked_at: datetime, reason: str, actor: Actor
) -> None:
    """Record that the certificate is revoked from ``revoked_at`` on."""
    found = certificate(ledger, fingerprint)
    found.revoke(revoked_at, reason=reason, actor=actor)
    ledger.save(found)


def certificates(ledger: Ledger) -> list[Certificate]:
    """Every registered certificate, in the order of registration."""
    topic = get_topic(Certificate.Registered)
    found: list[Certificate] = []
    start = 1
    while True:
        page = ledger.recorder.select_notifications(start, 500, topics=[topic])
        for notification in page:
            found.append(ledger.repository.get(UUID(str(notification.originator_id))))
        if len(page) < 500:
            return found
        start = page[-1].id + 1


def trust_anchors(settings: Settings) -> list[x509.Certificate]:
    """The configured trust anchors (root authorities)."""
    return _bundle(settings, TRUST_ANCHORS_VARIABLE, "trust-anchors.pem")


def intermediates(settings: Settings) -> list[x509.Certificate]:
    """The configured intermediate (issuing) authorities, used to build paths."""
    return _bundle(settings, INTERMEDIATES_VARIABLE, "intermediates.pem")


def trust_anchors_path(settings: Settings) -> Path:
    return _path(settings, TRUST_ANCHORS_VARIABLE, "trust-anchors.pem")


def intermediates_path(settings: Settings) -> Path:
    return _path(settings, INTERMEDIATES_VARIABLE, "intermediates.pem")


def _path(settings: Settings, variable: str, filename: str) -> Path:
    named = os.environ.get(variable, "").strip()
    return Path(named) if named else settings.data_dir / "pki" / filename


def _bundle(settings: Settings, variable: str, filename: str) -> list[x509.Certificate]:
    path = _path(settings, variable, filename)
    if not path.exists():
        if os.environ.get(variable, "").strip():
            raise PkiError(f"{variable} names {path}, which does not exist")
        return []
    try:
        return parse_certificates(path.read_bytes())
    except PkiError as exc:
        raise PkiError(f"{path}: {exc.message}") from None
