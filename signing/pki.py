"""X.509 certificates: a local hierarchy for demo and tests, PKCS#12 import, and path
validation at a moment (the signing date).

Revocation is not looked up on the network: it is recorded in the ledger with its date
(see ``domain.certificate``), so path validation here checks chain, validity periods and
key usage only.
"""

from __future__ import annotations

import asyncio
import unicodedata
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.authority import CertTrustAnchor
from pyhanko_certvalidator.errors import (
    DisallowedAlgorithmError,
    ExpiredError,
    InvalidCertificateError,
    NotYetValidError,
    PathBuildingError,
    PathValidationError,
    ValidationError,
)
from pyhanko_certvalidator.policy_decl import NO_REVOCATION, CertRevTrustPolicy

from domain.errors import DomainError
from signing.signatures import PrivateKey, fingerprint

KeyType = Literal["ec", "rsa"]
Usage = Literal["signing", "agency"]
KEY_TYPES: tuple[str, ...] = ("ec", "rsa")
RSA_BITS = 2048
SIGNING_KEY_USAGE = frozenset({"digital_signature"})

ROOT_YEARS = 20
ISSUING_YEARS = 10
END_ENTITY_DAYS = 730


class PkiError(DomainError):
    """A certificate, key or PKCS#12 file that cannot be used, in plain words."""

    code = "invalid_certificate"


@dataclass(frozen=True)
class Authority:
    """A certification authority: its key, its certificate, and the certificates above it
    (nearest first, the root last; empty for a root)."""

    key: PrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = field(default=())

    @property
    def name(self) -> str:
        return common_name(self.certificate)


# -- making certificates -------------------------------------------------------------------


def generate_key(key_type: str = "ec") -> PrivateKey:
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS)
    raise PkiError(f"key type is one of {', '.join(KEY_TYPES)}, not {key_type!r}")


def key_type_of(key: object) -> str:
    """``"ec"`` or ``"rsa"`` for a private key, a public key or a certificate."""
    if isinstance(key, x509.Certificate):
        key = key.public_key()
    if isinstance(key, rsa.RSAPrivateKey | rsa.RSAPublicKey):
        return "rsa"
    if isinstance(key, ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey):
        return "ec"
    raise PkiError("only RSA and ECDSA keys are supported")


def distinguished_name(
    common_name: str,
    *,
    organisation: str | None = None,
    country: str = "VN",
    email: str | None = None,
) -> x509.Name:
    """A subject name; Vietnamese text is kept in NFC and encoded as UTF8String."""
    cn = _text(common_name)
    if not cn:
        raise PkiError("a certificate needs a name")
    attributes = [x509.NameAttribute(NameOID.COUNTRY_NAME, country)]
    if organisation and _text(organisation):
        attributes.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, _text(organisation)))
    attributes.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
    if email:
        attributes.append(x509.NameAttribute(NameOID.EMAIL_ADDRESS, email.strip()))
    return x509.Name(attributes)


def make_root_ca(
    name: str,
    key_type: str = "ec",
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    *,
    organisation: str | None = None,
) -> Authority:
    """A self-signed root certification authority."""
    start = _utc(valid_from) if valid_from else _now()
    end = _utc(valid_until) if valid_until else start + timedelta(days=365 * ROOT_YEARS)
    key = generate_key(key_type)
    subject = distinguished_name(name, organisation=organisation)
    ski = x509.SubjectKeyIdentifier.from_public_key(key.public_key())
    builder = (
        _builder(subject, subject, key, start, end)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(ski, critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski), critical=False
        )
    )
    return Authority(key=key, certificate=builder.sign(key, hashes.SHA256()))


def make_issuing_ca(
    root: Authority,
    name: str,
    key_type: str = "ec",
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    *,
    organisation: str | None = None,
) -> Authority:
    """An issuing (subordinate) authority below ``root``; it issues end-entity
    certificates only (path length 0)."""
    start, end = _period(root, valid_from, valid_until, timedelta(days=365 * ISSUING_YEARS))
    key = generate_key(key_type)
    builder = (
        _builder(
            distinguished_name(name, organisation=organisation),
            root.certificate.subject,
            key,
            start,
            end,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(_authority_key_identifier(root.certificate), critical=False)
    )
    certificate = builder.sign(root.key, hashes.SHA256())
    return Authority(key=key, certificate=certificate, chain=(root.certificate, *root.chain))


def issue_certificate(
    issuer: Authority,
    subject_name: str,
    *,
    key_type: str = "ec",
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    email: str | None = None,
    organisation: str | None = None,
    usage: Usage = "signing",
) -> tuple[PrivateKey, x509.Certificate]:
    """A new key and its end-entity certificate for a signer (a person) or an agency
    (its seal). Both may sign: digitalSignature and nonRepudiation."""
    if usage not in ("signing", "agency"):
        raise PkiError(f"usage is 'signing' or 'agency', not {usage!r}")
    if usage == "agency" and not organisation:
        organisation = subject_name
    start, end = _period(issuer, valid_from, valid_until, timedelta(days=END_ENTITY_DAYS))
    key = generate_key(key_type)
    builder = (
        _builder(
            distinguished_name(subject_name, organisation=organisation, email=email),
            issuer.certificate.subject,
            key,
            start,
            end,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(cert_sign=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(_authority_key_identifier(issuer.certificate), critical=False)
    )
    if email:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.RFC822Name(email.strip())]), critical=False
        )
    return key, builder.sign(issuer.key, hashes.SHA256())


def _builder(
    subject: x509.Name, issuer: x509.Name, key: PrivateKey, start: datetime, end: datetime
) -> x509.CertificateBuilder:
    if end <= start:
        raise PkiError("a certificate must end after it starts")
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start)
        .not_valid_after(end)
    )


def _key_usage(*, cert_sign: bool) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=not cert_sign,  # nonRepudiation, for signers
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _authority_key_identifier(issuer: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    except x509.ExtensionNotFound:
        return x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer.public_key())  # type: ignore[arg-type]
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)


def _period(
    issuer: Authority,
    valid_from: datetime | None,
    valid_until: datetime | None,
    default_length: timedelta,
) -> tuple[datetime, datetime]:
    """Explicit dates are kept as given (tests need expired certificates); defaults start
    now and end with the issuer at the latest."""
    start = _utc(valid_from) if valid_from else _now()
    if valid_until:
        return start, _utc(valid_until)
    return start, min(start + default_length, issuer.certificate.not_valid_after_utc)


def _now() -> datetime:
    # A minute back, so that a certificate made now is valid for a signature made now.
    return datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise PkiError("give certificate dates with a time zone (UTC)")
    return moment.astimezone(UTC)


def _text(value: str) -> str:
    return unicodedata.normalize("NFC", value).strip()


# -- reading certificates ------------------------------------------------------------------


def common_name(certificate: x509.Certificate, *, issuer: bool = False) -> str:
    name = certificate.issuer if issuer else certificate.subject
    values = name.get_attributes_for_oid(NameOID.COMMON_NAME)
    if values:
        value = values[0].value
        return value if isinstance(value, str) else value.decode()
    return name.rfc4514_string()


def parse_certificate(data: str | bytes) -> x509.Certificate:
    """One certificate from PEM (or DER) bytes."""
    raw = data.encode() if isinstance(data, str) else data
    try:
        if b"-----BEGIN" in raw:
            return x509.load_pem_x509_certificate(raw)
        return x509.load_der_x509_certificate(raw)
    except ValueError:
        raise PkiError("not an X.509 certificate (PEM or DER)") from None


def parse_certificates(data: str | bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle; an empty bundle gives an empty list."""
    raw = data.encode() if isinstance(data, str) else data
    if b"-----BEGIN CERTIFICATE-----" not in raw:
        return []
    try:
        return x509.load_pem_x509_certificates(raw)
    except ValueError:
        raise PkiError("the PEM bundle holds something that is not a certificate") from None


def pem_bundle(certificates: Iterable[x509.Certificate]) -> bytes:
    return b"".join(c.public_bytes(serialization.Encoding.PEM) for c in certificates)


def is_authority(certificate: x509.Certificate) -> bool:
    try:
        constraints = certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    except x509.ExtensionNotFound:
        return False
    return constraints.value.ca


def key_matches(key: PrivateKey, certificate: x509.Certificate) -> bool:
    der = serialization.Encoding.DER
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    return key.public_key().public_bytes(der, spki) == certificate.public_key().public_bytes(
        der, spki
    )


# -- PKCS#12 ---------------------------------------------------------------------------------


def load_pkcs12(
    data: bytes, password: str | bytes | None
) -> tuple[PrivateKey, x509.Certificate, list[x509.Certificate]]:
    """Key, certificate and the other certificates (the chain) of a PKCS#12 (.p12, .pfx)."""
    secret = password.encode() if isinstance(password, str) else password
    try:
        key, certificate, others = pkcs12.load_key_and_certificates(data, secret or None)
    except ValueError:
        if not secret:
            raise PkiError(
                "could not open the PKCS#12 file: it needs a password, or it is damaged"
            ) from None
        raise PkiError(
            "could not open the PKCS#12 file: wrong password, or the file is damaged"
        ) from None
    if key is None or certificate is None:
        raise PkiError("the PKCS#12 file must hold a private key and its certificate")
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise PkiError("only RSA and ECDSA keys are supported")
    if not key_matches(key, certificate):
        raise PkiError("the PKCS#12 key does not belong to its certificate")
    return key, certificate, list(others)


# -- path validation at a moment -------------------------------------------------------------


async def chain_problem_async(
    certificate: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    trust_anchors: Sequence[x509.Certificate],
    moment: datetime,
    *,
    key_usage: frozenset[str] = SIGNING_KEY_USAGE,
) -> str | None:
    """Why ``certificate`` was not valid at ``moment`` under ``trust_anchors`` (its
    path, the validity periods along it, trust anchors' included, and its key usage), or
    None when it was. No revocation lookup: revocation is the ledger's business."""
    if moment.tzinfo is None:
        raise ValueError("moment needs a time zone")
    if not trust_anchors:
        return "not issued by a trusted authority (no trust anchors are configured)"
    context = ValidationContext(
        trust_roots=[
            CertTrustAnchor(_asn1(c), derive_default_quals_from_cert=True) for c in trust_anchors
        ],
        other_certs=[_asn1(c) for c in intermediates],
        moment=moment,
        allow_fetching=False,
        revinfo_policy=CertRevTrustPolicy(NO_REVOCATION),
    )
    validator = CertificateValidator(_asn1(certificate), validation_context=context)
    try:
        await validator.async_validate_usage(set(key_usage))
    except ExpiredError as exc:
        return _expired(exc, certificate, [*intermediates, *trust_anchors])
    except NotYetValidError as exc:
        return _not_yet_valid(exc, certificate, [*intermediates, *trust_anchors])
    except DisallowedAlgorithmError as exc:
        return f"the certificate path uses an algorithm not allowed: {exc.failure_msg}"
    except PathBuildingError:
        return "not issued by a trusted authority"
    except PathValidationError as exc:
        return f"the certificate path is not valid: {exc.failure_msg}"
    except InvalidCertificateError as exc:
        message = str(exc)
        if "self-signed" in message:
            return "not issued by a trusted authority (the certificate is self-signed)"
        if "purpose" in message:
            needed = ", ".join(sorted(u.replace("_", " ") for u in key_usage))
            return f"the certificate is not for signing: its key usage must include {needed}"
        return f"the certificate is not valid: {message}"
    except ValidationError as exc:
        return f"the certificate is not valid: {exc.failure_msg}"
    return None


def chain_problem(
    certificate: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    trust_anchors: Sequence[x509.Certificate],
    moment: datetime,
    *,
    key_usage: frozenset[str] = SIGNING_KEY_USAGE,
) -> str | None:
    """:func:`chain_problem_async` for synchronous callers (also from inside an event loop,
    where it runs on a worker thread)."""
    coroutine = chain_problem_async(
        certificate, intermediates, trust_anchors, moment, key_usage=key_usage
    )
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _asn1(certificate: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(certificate.public_bytes(serialization.Encoding.DER))


def _which(
    exc: PathValidationError,
    certificate: x509.Certificate,
    others: Sequence[x509.Certificate],
    moment: datetime,
    attribute: str,
) -> str:
    if exc.is_ee_cert:
        return "certificate"
    ee = fingerprint(certificate)
    for other in others:
        if fingerprint(other) != ee and getattr(other, attribute) == moment:
            role = "root authority" if other.subject == other.issuer else "issuing authority"
            return f"the {role} certificate “{common_name(other)}”"
    return "an authority certificate of the path"


def _expired(
    exc: ExpiredError, certificate: x509.Certificate, others: Sequence[x509.Certificate]
) -> str:
    when = exc.expired_dt.astimezone(UTC)
    who = _which(exc, certificate, others, when, "not_valid_after_utc")
    return f"{who} expired on {when:%Y-%m-%d} at {when:%H:%M:%S} UTC"


def _not_yet_valid(
    exc: NotYetValidError, certificate: x509.Certificate, others: Sequence[x509.Certificate]
) -> str:
    when = exc.valid_from.astimezone(UTC)
    who = _which(exc, certificate, others, when, "not_valid_before_utc")
    return f"{who} not yet valid: valid from {when:%Y-%m-%d} at {when:%H:%M:%S} UTC"
