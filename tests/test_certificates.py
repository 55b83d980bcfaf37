"""Certificates in the ledger (SQLite and PostgreSQL) and the ``hoso pki`` command line."""

from __future__ import annotations

import json
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.serialization import pkcs12
from rich.console import Console
from typer.testing import CliRunner, Result

from domain.application import Ledger
from domain.certificate import Certificate, CertificateAlreadyRevoked, DuplicateCertificate
from domain.errors import InvalidInput, NotFound
from domain.settings import Settings
from domain.values import Actor, Role
from projections.framework import Projector
from scripts import pki_cli
from signing import keystore, pki, registry
from signing.canonical import digest
from signing.pki import Authority, PkiError
from signing.signatures import certificate_pem, fingerprint, sign_digest, signature_is_valid

ADMIN = Actor(account="admin.snv", role=Role.ADMINISTRATOR, unit_code="SNV")
PASSPHRASE = "demo-passphrase"


def utc(year: int, month: int = 1, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


@pytest.fixture(scope="module")
def issuing() -> Authority:
    root = pki.make_root_ca("Root CA Thử nghiệm", "ec", utc(2020), utc(2040))
    return pki.make_issuing_ca(root, "CA Cấp phát", "ec", utc(2021), utc(2035))


@pytest.fixture(scope="module")
def signer(issuing: Authority) -> tuple[object, str]:
    key, certificate = pki.issue_certificate(
        issuing, "Nguyễn Văn An", key_type="rsa", valid_from=utc(2024), valid_until=utc(2027)
    )
    return key, certificate_pem(certificate)


def events(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


# -- the Certificate aggregate in the store ----------------------------------------------------


def test_certificate_is_registered_once(
    ledger: Ledger, make_ledger: Callable[..., Ledger], signer: tuple[object, str]
) -> None:
    _, pem = signer
    registered = registry.register_certificate(ledger, pem, "an.nv", ADMIN)
    assert registered == fingerprint(pki.parse_certificate(pem))
    before = events(ledger)
    with pytest.raises(DuplicateCertificate, match="registered already"):
        registry.register_certificate(ledger, pem, "someone.else", ADMIN)
    assert events(ledger) == before

    # Another process, with nothing cached, is refused by the store itself.
    other = make_ledger()
    with pytest.raises(DuplicateCertificate):
        registry.register_certificate(other, pem.encode(), "someone.else", ADMIN)
    assert events(other) == before
    assert registry.certificate(other, registered).holder_account == "an.nv"


def test_registration_records_what_the_certificate_says(
    ledger: Ledger, make_ledger: Callable[..., Ledger], signer: tuple[object, str]
) -> None:
    _, pem = signer
    registered = registry.register_certificate(ledger, pem, "an.nv", ADMIN)
    certificate = registry.certificate(make_ledger(), registered.upper())  # fresh: from events
    parsed = pki.parse_certificate(pem)
    assert certificate.id == Certificate.create_id(registered)
    assert certificate.fingerprint == registered
    assert pki.parse_certificate(certificate.pem) == parsed
    assert certificate.subject == "CN=Nguyễn Văn An,C=VN"
    assert certificate.issuer == "CN=CA Cấp phát,C=VN"
    assert certificate.serial == format(parsed.serial_number, "x")
    assert certificate.not_before == utc(2024) and certificate.not_before.tzinfo is not None
    assert certificate.not_after == utc(2027)
    assert certificate.key_type == "rsa"
    assert certificate.registered_by == "admin.snv"
    assert not certificate.is_revoked
    assert [c.fingerprint for c in registry.certificates(ledger)] == [registered]


def test_unusable_certificates_are_refused(ledger: Ledger, issuing: Authority) -> None:
    with pytest.raises(PkiError, match="authority"):
        registry.register_certificate(ledger, issuing.certificate, "ca", ADMIN)
    with pytest.raises(PkiError, match=r"not an X\.509 certificate"):
        registry.register_certificate(ledger, "-----BEGIN CERTIFICATE-----\nxx", "an.nv", ADMIN)
    _, certificate = pki.issue_certificate(issuing, "X", valid_until=utc(2030))
    with pytest.raises(InvalidInput, match="holder"):
        registry.register_certificate(ledger, certificate, "  ", ADMIN)
    assert events(ledger) == 0
    with pytest.raises(NotFound):
        registry.certificate(ledger, fingerprint(certificate))
    with pytest.raises(InvalidInput, match="64 hex"):
        registry.certificate(ledger, "abc")


def test_revocation_is_recorded_with_its_date(
    ledger: Ledger, make_ledger: Callable[..., Ledger], signer: tuple[object, str]
) -> None:
    _, pem = signer
    registered = registry.register_certificate(ledger, pem, "an.nv", ADMIN)
    at = datetime(2025, 1, 15, 7, 0, tzinfo=timezone(timedelta(hours=7)))  # 00:00 UTC
    registry.revoke_certificate(ledger, registered, at, "  mất thiết bị ký số ", ADMIN)

    certificate = registry.certificate(make_ledger(), registered)
    assert certificate.revoked_at == utc(2025, 1, 15)
    assert certificate.revoked_at is not None and certificate.revoked_at.tzinfo is not None
    assert certificate.revocation_reason == "mất thiết bị ký số"
    # A revocation invalidates signatures from its moment on, not earlier ones.
    assert not certificate.revoked_at_or_before(utc(2025, 1, 14))
    assert not certificate.revoked_at_or_before(utc(2025, 1, 15) - timedelta(microseconds=1))
    assert certificate.revoked_at_or_before(utc(2025, 1, 15))
    assert certificate.revoked_at_or_before(utc(2026, 6, 1))
    assert certificate.valid_at(utc(2024, 6, 1))
    assert not certificate.valid_at(utc(2025, 6, 1))
    assert not certificate.valid_at(utc(2028, 1, 1))

    events_of = list(ledger.repository.event_store.get(certificate.id))
    assert [type(e).__name__ for e in events_of] == ["Registered", "Revoked"]
    assert events_of[1].actor == ADMIN  # type: ignore[attr-defined]

    before = events(ledger)
    with pytest.raises(CertificateAlreadyRevoked, match="revoked already"):
        registry.revoke_certificate(ledger, registered, utc(2026), "again", ADMIN)
    assert events(ledger) == before


def test_revocation_refusals(ledger: Ledger, signer: tuple[object, str]) -> None:
    _, pem = signer
    registered = registry.register_certificate(ledger, pem, "an.nv", ADMIN)
    with pytest.raises(InvalidInput, match="valid only from 2024-01-01"):
        registry.revoke_certificate(ledger, registered, utc(2023, 12, 31), "too early", ADMIN)
    with pytest.raises(InvalidInput, match="time zone"):
        registry.revoke_certificate(ledger, registered, datetime(2025, 1, 1), "naive", ADMIN)
    with pytest.raises(InvalidInput, match="reason"):
        registry.revoke_certificate(ledger, registered, utc(2025), "   ", ADMIN)
    with pytest.raises(NotFound):
        registry.revoke_certificate(ledger, "0" * 64, utc(2025), "unknown", ADMIN)
    assert events(ledger) == 1
    assert registry.certificate(ledger, registered).revoked_at is None
    with pytest.raises(InvalidInput, match="time zone"):
        registry.certificate(ledger, registered).revoked_at_or_before(datetime(2025, 1, 1))


# -- hoso pki ----------------------------------------------------------------------------------


@pytest.fixture
def pki_env(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("HOSO_KEYSTORE_PASSPHRASE", "HOSO_TRUST_ANCHORS", "HOSO_INTERMEDIATES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(pki_cli, "console", Console(width=250, color_system=None))
    return data_dir


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(pki_cli.app, list(args), env=env)


def ok(*args: str, env: dict[str, str] | None = None) -> Result:
    result = run(*args, env=env)
    assert result.exit_code == 0, result.output
    return result


def refused(*args: str, env: dict[str, str] | None = None) -> Result:
    result = run(*args, env=env)
    assert result.exit_code == 1, result.output
    assert isinstance(result.exception, SystemExit), result.exception
    assert "error:" in result.output and "Traceback" not in result.output
    return result


def store_events() -> int:
    ledger = Ledger(Settings())
    try:
        return events(ledger)
    finally:
        ledger.close()


def snapshot(directory: Path) -> dict[str, bytes]:
    if not directory.exists():
        return {}
    return {str(p.relative_to(directory)): p.read_bytes() for p in directory.rglob("*.pem")}


def one_line(output: str) -> str:
    return " ".join(output.split())


def test_pki_init_makes_a_hierarchy(pki_env: Path) -> None:
    result = ok("init", "--agency", "Sở Nội vụ thành phố Hải Phòng", "--passphrase", PASSPHRASE)
    assert PASSPHRASE not in result.output
    settings = Settings()
    anchors, intermediates = registry.trust_anchors(settings), registry.intermediates(settings)
    assert len(anchors) == 1 and len(intermediates) == 1
    key, certificate, chain = keystore.load(pki_env / "keystore", "agency", PASSPHRASE)
    assert chain == [*intermediates, *anchors]
    assert pki.common_name(certificate) == "Sở Nội vụ thành phố Hải Phòng"
    assert pki.chain_problem(certificate, intermediates, anchors, datetime.now(UTC)) is None
    for path in (pki_env / "keystore" / "agency.pem", pki_env / "pki" / "ca" / "issuing-ca.pem"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert PASSPHRASE.encode() not in path.read_bytes()
    assert fingerprint(certificate) in result.output

    listed = json.loads(ok("list", "--json").stdout)
    assert [(c["fingerprint"], c["holder_account"]) for c in listed] == [
        (fingerprint(certificate), "agency")
    ]
    approved = digest({"resume": "P-1"})
    assert signature_is_valid(certificate, approved, sign_digest(key, approved))

    before, files = store_events(), snapshot(pki_env)
    assert "holds a hierarchy already" in refused("init", "--passphrase", PASSPHRASE).output
    assert (store_events(), snapshot(pki_env)) == (before, files)


def test_pki_init_refuses_bad_input(pki_env: Path) -> None:
    assert "passphrase" in refused("init").output
    assert "at least 8" in refused("init", "--passphrase", "short").output
    assert "--key is one of" in refused("init", "--key", "dsa", "--passphrase", PASSPHRASE).output
    assert (
        "cannot name"
        in refused("init", "--agency-account", "../x", "--passphrase", PASSPHRASE).output
    )
    assert snapshot(pki_env) == {}
    assert store_events() == 0


def test_pki_issue_and_revoke(pki_env: Path) -> None:
    env = {"HOSO_KEYSTORE_PASSPHRASE": PASSPHRASE}
    ok("init", "--agency", "Bộ Nội vụ", env=env)
    result = ok(
        "issue", "an.nv", "--name", "Nguyễn Văn An", "--key", "rsa", "--days", "365", env=env
    )
    certificate = keystore.load(pki_env / "keystore", "an.nv", PASSPHRASE)[1]
    found = fingerprint(certificate)
    assert found in result.output
    assert pki.key_type_of(certificate) == "rsa"
    assert pki.common_name(certificate) == "Nguyễn Văn An"
    assert certificate.not_valid_after_utc - certificate.not_valid_before_utc == timedelta(days=365)
    settings = Settings()
    assert (
        pki.chain_problem(
            certificate,
            registry.intermediates(settings),
            registry.trust_anchors(settings),
            datetime.now(UTC),
        )
        is None
    )
    ledger = Ledger(settings)
    try:
        assert registry.certificate(ledger, found).holder_account == "an.nv"
    finally:
        ledger.close()

    # Nothing changes on bad input.
    before, files = store_events(), snapshot(pki_env)
    assert (
        "already holds a key for an.nv"
        in refused("issue", "an.nv", "--name", "Nguyễn Văn An", env=env).output
    )
    assert (
        "wrong passphrase"
        in refused(
            "issue", "binh.tt", "--name", "Trần Thị Bình", "--passphrase", "wrong-passphrase"
        ).output
    )
    assert "--days" in refused("issue", "binh.tt", "--name", "B", "--days", "0", env=env).output
    assert (
        "a certificate needs a name" in refused("issue", "binh.tt", "--name", " ", env=env).output
    )
    assert (store_events(), snapshot(pki_env)) == (before, files)

    # Revocation: not before the certificate starts; once; from the given moment.
    early = refused("revoke", found, "--at", "2020-01-15T00:00:00Z", "--reason", "lost")
    assert "valid only from" in one_line(early.output)
    assert (
        "time zone" in refused("revoke", found, "--at", "2030-01-15T00:00", "--reason", "x").output
    )
    assert "not a date" in refused("revoke", found, "--at", "soon", "--reason", "x").output
    assert (
        "no certificate"
        in refused("revoke", "ab" * 32, "--at", "2030-01-15", "--reason", "x").output
    )
    assert store_events() == before
    when = certificate.not_valid_before_utc + timedelta(days=30)
    ok(
        "revoke",
        found.upper(),
        "--at",
        when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "--reason",
        "mất token",
    )
    assert (
        "revoked already"
        in refused("revoke", found, "--at", "2030-01-15", "--reason", "again").output
    )
    listed = {c["fingerprint"]: c for c in json.loads(ok("list", "--json").stdout)}
    assert datetime.fromisoformat(listed[found]["revoked_at"]) == when
    assert listed[found]["revocation_reason"] == "mất token"
    table = ok("list").output
    assert "an.nv" in table and "mất token" in table and "agency" in table

    ok("issue", "an.nv", "--name", "Nguyễn Văn An", "--replace", env=env)
    assert keystore.load(pki_env / "keystore", "an.nv", PASSPHRASE)[1] != certificate


def test_pki_revoke_on_a_date_means_vietnam_midnight(pki_env: Path) -> None:
    env = {"HOSO_KEYSTORE_PASSPHRASE": PASSPHRASE}
    ok("init", env=env)
    ok("issue", "an.nv", "--name", "Nguyễn Văn An", env=env)
    certificate = keystore.load(pki_env / "keystore", "an.nv", PASSPHRASE)[1]
    day = (certificate.not_valid_before_utc + timedelta(days=3)).date()
    ok("revoke", fingerprint(certificate), "--at", day.isoformat(), "--reason", "nghỉ hưu")
    listed = {c["fingerprint"]: c for c in json.loads(ok("list", "--json").stdout)}
    revoked_at = datetime.fromisoformat(listed[fingerprint(certificate)]["revoked_at"])
    assert revoked_at == datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=7)


def test_pki_issue_needs_a_hierarchy(pki_env: Path) -> None:
    result = refused("issue", "an.nv", "--name", "An", "--passphrase", PASSPHRASE)
    assert "pki init" in result.output
    assert snapshot(pki_env) == {}


def test_pki_import_pkcs12(pki_env: Path, tmp_path: Path, issuing: Authority) -> None:
    key, certificate = pki.issue_certificate(
        issuing, "Lê Thị Cúc", key_type="rsa", valid_from=utc(2024), valid_until=utc(2030)
    )
    p12 = tmp_path / "cuc.p12"
    p12.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"cuc",
            key,  # type: ignore[arg-type]
            certificate,
            [issuing.certificate, *issuing.chain],
            serialization.BestAvailableEncryption(b"token-pin"),
        )
    )
    env = {"HOSO_KEYSTORE_PASSPHRASE": PASSPHRASE}

    assert (
        "wrong password"
        in refused("import", str(p12), "--account", "cuc.lt", "--password", "bad", env=env).output
    )
    assert "needs a password" in refused("import", str(p12), "--account", "cuc.lt", env=env).output
    assert "no file" in refused("import", str(tmp_path / "x.p12"), "--account", "c", env=env).output
    assert snapshot(pki_env) == {} and store_events() == 0

    result = ok("import", str(p12), "--account", "cuc.lt", "--password", "token-pin", env=env)
    assert fingerprint(certificate) in one_line(result.output)
    # Its root is not among the configured trust anchors: imported, with a warning.
    assert "warning" in result.output and "not issued by a trusted authority" in result.output
    loaded_key, loaded, chain = keystore.load(pki_env / "keystore", "cuc.lt", PASSPHRASE)
    assert loaded == certificate and chain == [issuing.certificate, *issuing.chain]
    approved = digest({"x": "y"})
    assert signature_is_valid(certificate, approved, sign_digest(loaded_key, approved))

    before, files = store_events(), snapshot(pki_env)
    again = refused("import", str(p12), "--account", "other", "--password", "token-pin", env=env)
    assert "registered already" in again.output
    assert (store_events(), snapshot(pki_env)) == (before, files)
    listed = json.loads(ok("list", "--json").stdout)
    assert [(c["holder_account"], c["key_type"]) for c in listed] == [("cuc.lt", "rsa")]


def test_pki_list_when_empty(pki_env: Path) -> None:
    assert "no certificates registered" in ok("list").output


def test_read_models_take_certificate_events(
    ledger: Ledger, projector: Projector, signer: tuple[object, str]
) -> None:
    _, pem = signer
    registered = registry.register_certificate(ledger, pem, "an.nv", ADMIN)
    registry.revoke_certificate(ledger, registered, utc(2025), "mất token", ADMIN)
    projector.catch_up()
    assert all(status.lag == 0 for status in projector.status())


def test_pki_init_undoes_its_files_when_registration_fails(
    pki_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> str:
        raise DuplicateCertificate("refused for the test")

    with monkeypatch.context() as patched:
        patched.setattr(registry, "register_certificate", refuse)
        assert "refused for the test" in refused("init", "--passphrase", PASSPHRASE).output
    assert snapshot(pki_env) == {}
    assert not (pki_env / "pki" / "ca").exists()
    ok("init", "--passphrase", PASSPHRASE)
    assert len(json.loads(ok("list", "--json").stdout)) == 1
