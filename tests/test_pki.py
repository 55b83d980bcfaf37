"""Certificates, path validation at a moment, PKCS#12 and the keystore, with real keys."""

from __future__ import annotations

import asyncio
import stat
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from domain.settings import Settings
from signing import keystore, pki, registry
from signing.canonical import digest
from signing.keystore import KeystoreError
from signing.pki import Authority, PkiError, chain_problem
from signing.signatures import PrivateKey, sign_digest, signature_is_valid

PASSPHRASE = "mật khẩu thử nghiệm"


def utc(year: int, month: int = 1, day: int = 1) -> datetime:
    return datetime(year, month, day, tzinfo=UTC)


@dataclass(frozen=True)
class Hierarchy:
    root: Authority
    issuing: Authority
    ec_key: PrivateKey
    ec_cert: x509.Certificate  # 2024-01-01 .. 2025-03-01
    rsa_key: PrivateKey
    rsa_cert: x509.Certificate  # 2024-01-01 .. 2027-01-01
    stranger: Authority  # a root nobody trusts


@pytest.fixture(scope="module")
def h() -> Hierarchy:
    root = pki.make_root_ca("Root CA Thử nghiệm", "ec", utc(2020), utc(2040))
    issuing = pki.make_issuing_ca(root, "CA Cấp phát", "rsa", utc(2021), utc(2035))
    ec_key, ec_cert = pki.issue_certificate(
        issuing,
        "Nguyễn Văn An",
        key_type="ec",
        valid_from=utc(2024),
        valid_until=utc(2025, 3, 1),
        email="an.nv@noivu.gov.vn",
        organisation="Sở Nội vụ",
    )
    rsa_key, rsa_cert = pki.issue_certificate(
        issuing, "Trần Thị Bình", key_type="rsa", valid_from=utc(2024), valid_until=utc(2027)
    )
    stranger = pki.make_root_ca("Root CA lạ", "ec", utc(2020), utc(2040))
    return Hierarchy(root, issuing, ec_key, ec_cert, rsa_key, rsa_cert, stranger)


# -- the certificates themselves -------------------------------------------------------------


def test_signer_certificate_has_signing_extensions(h: Hierarchy) -> None:
    extensions = h.ec_cert.extensions
    assert extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    usage = extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature and usage.value.content_commitment
    assert not usage.value.key_cert_sign
    issuer_ski = h.issuing.certificate.extensions.get_extension_for_class(
        x509.SubjectKeyIdentifier
    ).value
    aki = extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    assert aki.key_identifier == issuer_ski.digest
    assert extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    san = extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.RFC822Name) == ["an.nv@noivu.gov.vn"]


def test_authorities_may_sign_certificates(h: Hierarchy) -> None:
    for authority, path_length in ((h.root, None), (h.issuing, 0)):
        extensions = authority.certificate.extensions
        constraints = extensions.get_extension_for_class(x509.BasicConstraints).value
        assert constraints.ca and constraints.path_length == path_length
        assert extensions.get_extension_for_class(x509.KeyUsage).value.key_cert_sign
    assert h.issuing.chain == (h.root.certificate,)
    assert h.issuing.certificate.issuer == h.root.certificate.subject


def test_vietnamese_names_are_utf8_strings(h: Hierarchy) -> None:
    name = h.ec_cert.subject
    assert name.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "Nguyễn Văn An"
    assert name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)[0].value == "Sở Nội vụ"
    encoded = "Nguyễn Văn An".encode()
    assert bytes([0x0C, len(encoded)]) + encoded in name.public_bytes()  # UTF8String tag
    assert pki.common_name(h.ec_cert, issuer=True) == "CA Cấp phát"


def test_agency_certificate_names_the_organisation(h: Hierarchy) -> None:
    _, certificate = pki.issue_certificate(
        h.issuing, "Sở Nội vụ thành phố Hải Phòng", usage="agency", valid_until=utc(2030)
    )
    organisation = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    assert organisation[0].value == "Sở Nội vụ thành phố Hải Phòng"
    assert chain_problem(certificate, [h.issuing.certificate], [h.root.certificate], utc(2031))
    assert (
        chain_problem(
            certificate,
            [h.issuing.certificate],
            [h.root.certificate],
            certificate.not_valid_before_utc,
        )
        is None
    )


def test_default_validity_ends_with_the_issuer(h: Hierarchy) -> None:
    _, certificate = pki.issue_certificate(h.issuing, "Lê Văn Cường")
    assert certificate.not_valid_after_utc <= h.issuing.certificate.not_valid_after_utc


def test_bad_requests_are_refused(h: Hierarchy) -> None:
    with pytest.raises(PkiError, match="key type"):
        pki.issue_certificate(h.issuing, "X", key_type="dsa")
    with pytest.raises(PkiError, match="name"):
        pki.issue_certificate(h.issuing, "  ")
    with pytest.raises(PkiError, match="time zone"):
        pki.issue_certificate(h.issuing, "X", valid_from=datetime(2024, 1, 1))
    with pytest.raises(PkiError, match="end after"):
        pki.issue_certificate(h.issuing, "X", valid_from=utc(2025), valid_until=utc(2024))


# -- path validation at a moment -------------------------------------------------------------


def test_chain_valid_at_a_moment_inside_validity(h: Hierarchy) -> None:
    trusted = [h.root.certificate]
    assert chain_problem(h.ec_cert, [h.issuing.certificate], trusted, utc(2024, 6, 1)) is None
    assert chain_problem(h.rsa_cert, [h.issuing.certificate], trusted, utc(2026, 6, 1)) is None


def test_expired_certificate_is_refused_with_its_expiry_date(h: Hierarchy) -> None:
    problem = chain_problem(h.ec_cert, [h.issuing.certificate], [h.root.certificate], utc(2025, 6))
    assert problem is not None
    assert problem.startswith("certificate expired on 2025-03-01")


def test_certificate_not_yet_valid_is_refused(h: Hierarchy) -> None:
    problem = chain_problem(h.ec_cert, [h.issuing.certificate], [h.root.certificate], utc(2023))
    assert problem is not None and problem.startswith("certificate not yet valid")
    assert "2024-01-01" in problem


def test_certificate_from_an_untrusted_root_is_refused(h: Hierarchy) -> None:
    problem = chain_problem(
        h.ec_cert, [h.issuing.certificate], [h.stranger.certificate], utc(2024, 6)
    )
    assert problem == "not issued by a trusted authority"
    _, foreign = pki.issue_certificate(
        h.stranger, "Kẻ lạ", valid_from=utc(2024), valid_until=utc(2026)
    )
    problem = chain_problem(foreign, [], [h.root.certificate], utc(2024, 6))
    assert problem == "not issued by a trusted authority"


def test_missing_intermediate_or_anchors_is_refused(h: Hierarchy) -> None:
    assert chain_problem(h.ec_cert, [], [h.root.certificate], utc(2024, 6)) == (
        "not issued by a trusted authority"
    )
    problem = chain_problem(h.ec_cert, [h.issuing.certificate], [], utc(2024, 6))
    assert problem is not None and "no trust anchors" in problem


def test_self_signed_certificate_is_refused(h: Hierarchy) -> None:
    problem = chain_problem(h.stranger.certificate, [], [h.root.certificate], utc(2024, 6))
    assert problem is not None and problem.startswith("not issued by a trusted authority")


def test_expired_authority_is_named(h: Hierarchy) -> None:
    short = pki.make_issuing_ca(h.root, "CA ngắn hạn", "ec", utc(2021), utc(2022))
    _, certificate = pki.issue_certificate(
        short, "Phạm Văn Dũng", valid_from=utc(2021), valid_until=utc(2030)
    )
    problem = chain_problem(certificate, [short.certificate], [h.root.certificate], utc(2023))
    assert problem == (
        "the issuing authority certificate “CA ngắn hạn” expired on 2022-01-01 at 00:00:00 UTC"
    )
    assert chain_problem(certificate, [short.certificate], [h.root.certificate], utc(2021, 6)) is (
        None
    )


def test_expired_trust_anchor_is_refused(h: Hierarchy) -> None:
    old = pki.make_root_ca("Root CA cũ", "ec", utc(2010), utc(2020))
    _, certificate = pki.issue_certificate(old, "X", valid_from=utc(2015), valid_until=utc(2030))
    problem = chain_problem(certificate, [], [old.certificate], utc(2023))
    assert problem is not None and "“Root CA cũ” expired on 2020-01-01" in problem
    assert chain_problem(certificate, [], [old.certificate], utc(2016)) is None


def test_authority_certificate_is_not_for_signing(h: Hierarchy) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = pki.distinguished_name("Chỉ mã hóa")
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(h.root.certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(utc(2024))
        .not_valid_after(utc(2026))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, True, False, False, False, False, False, False), True
        )
        .sign(h.root.key, hashes.SHA256())
    )
    problem = chain_problem(certificate, [], [h.root.certificate], utc(2025))
    assert problem is not None and problem.startswith("the certificate is not for signing")


def test_moment_needs_a_time_zone(h: Hierarchy) -> None:
    with pytest.raises(ValueError, match="time zone"):
        chain_problem(
            h.ec_cert, [h.issuing.certificate], [h.root.certificate], datetime(2024, 6, 1)
        )


def test_chain_problem_inside_an_event_loop(h: Hierarchy) -> None:
    async def both() -> tuple[str | None, str | None]:
        inside = chain_problem(
            h.ec_cert, [h.issuing.certificate], [h.root.certificate], utc(2024, 6)
        )
        awaited = await pki.chain_problem_async(
            h.ec_cert, [h.issuing.certificate], [h.root.certificate], utc(2025, 6)
        )
        return inside, awaited

    inside, awaited = asyncio.run(both())
    assert inside is None
    assert awaited is not None and "expired on 2025-03-01" in awaited


# -- signatures --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_sign_and_verify(h: Hierarchy, kind: str) -> None:
    key, certificate = (h.ec_key, h.ec_cert) if kind == "ec" else (h.rsa_key, h.rsa_cert)
    other = h.rsa_cert if kind == "ec" else h.ec_cert
    approved = digest({"profile": "P-1", "change_set": "cs-1", "họ tên": "Nguyễn Văn An"})
    signature = sign_digest(key, approved)
    assert signature_is_valid(certificate, approved, signature)
    assert not signature_is_valid(certificate, digest({"profile": "P-2"}), signature)
    assert not signature_is_valid(other, approved, signature)
    assert pki.key_type_of(certificate) == kind
    assert pki.key_matches(key, certificate)


# -- PKCS#12 ---------------------------------------------------------------------------------


def test_pkcs12_round_trip(h: Hierarchy) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"an.nv",
        h.rsa_key,  # type: ignore[arg-type]
        h.rsa_cert,
        [h.issuing.certificate, h.root.certificate],
        serialization.BestAvailableEncryption(b"p12-password"),
    )
    key, certificate, chain = pki.load_pkcs12(data, "p12-password")
    assert isinstance(key, rsa.RSAPrivateKey)
    assert certificate == h.rsa_cert
    assert chain == [h.issuing.certificate, h.root.certificate]
    assert pki.key_matches(key, certificate)
    assert chain_problem(certificate, chain, [h.root.certificate], utc(2025)) is None
    with pytest.raises(PkiError, match="wrong password"):
        pki.load_pkcs12(data, "not the password")
    with pytest.raises(PkiError, match="needs a password"):
        pki.load_pkcs12(data, None)
    with pytest.raises(PkiError, match="damaged"):
        pki.load_pkcs12(b"not a pkcs12 file", "p12-password")


def test_pkcs12_without_password(h: Hierarchy) -> None:
    data = pkcs12.serialize_key_and_certificates(
        None,
        h.ec_key,  # type: ignore[arg-type]
        h.ec_cert,
        None,
        serialization.NoEncryption(),
    )
    key, certificate, chain = pki.load_pkcs12(data, None)
    assert certificate == h.ec_cert and chain == [] and pki.key_matches(key, certificate)


# -- keystore ----------------------------------------------------------------------------------


def test_keystore_round_trip(h: Hierarchy, tmp_path: Path) -> None:
    directory = tmp_path / "keystore"
    chain = [h.issuing.certificate, h.root.certificate]
    path = keystore.store(directory, "an.nv", h.ec_key, h.ec_cert, chain, PASSPHRASE)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"ENCRYPTED PRIVATE KEY" in path.read_bytes()
    key, certificate, loaded_chain = keystore.load(directory, "an.nv", PASSPHRASE)
    assert certificate == h.ec_cert and loaded_chain == chain
    approved = digest({"x": 1})
    assert signature_is_valid(h.ec_cert, approved, sign_digest(key, approved))
    assert keystore.accounts(directory) == ["an.nv"]
    assert [p.name for p in directory.iterdir()] == ["an.nv.pem"]


def test_keystore_wrong_passphrase(h: Hierarchy, tmp_path: Path) -> None:
    keystore.store(tmp_path, "binh.tt", h.rsa_key, h.rsa_cert, [], PASSPHRASE)
    with pytest.raises(KeystoreError, match=r"wrong passphrase for the key of binh\.tt"):
        keystore.load(tmp_path, "binh.tt", "not the passphrase")
    with pytest.raises(KeystoreError, match="wrong passphrase"):
        keystore.load(tmp_path, "binh.tt", "")


def test_keystore_refusals(h: Hierarchy, tmp_path: Path) -> None:
    with pytest.raises(KeystoreError, match="holds no key for nobody"):
        keystore.load(tmp_path, "nobody", PASSPHRASE)
    with pytest.raises(KeystoreError, match="does not belong"):
        keystore.store(tmp_path, "an.nv", h.rsa_key, h.ec_cert, [], PASSPHRASE)
    with pytest.raises(KeystoreError, match="at least"):
        keystore.store(tmp_path, "an.nv", h.ec_key, h.ec_cert, [], "short")
    for account in ("../escape", "a/b", "", ".hidden"):
        with pytest.raises(KeystoreError, match="cannot name"):
            keystore.store(tmp_path, account, h.ec_key, h.ec_cert, [], PASSPHRASE)
    keystore.store(tmp_path, "an.nv", h.ec_key, h.ec_cert, [], PASSPHRASE)
    before = (tmp_path / "an.nv.pem").read_bytes()
    with pytest.raises(KeystoreError, match="already holds"):
        keystore.store(tmp_path, "an.nv", h.rsa_key, h.rsa_cert, [], PASSPHRASE)
    assert (tmp_path / "an.nv.pem").read_bytes() == before
    keystore.store(tmp_path, "an.nv", h.rsa_key, h.rsa_cert, [], PASSPHRASE, replace=True)
    assert keystore.load(tmp_path, "an.nv", PASSPHRASE)[1] == h.rsa_cert
    assert sorted(p.name for p in tmp_path.iterdir()) == ["an.nv.pem"]


# -- trust configuration ---------------------------------------------------------------------


def test_trust_anchors_and_intermediates_from_configuration(
    h: Hierarchy, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HOSO_TRUST_ANCHORS", raising=False)
    monkeypatch.delenv("HOSO_INTERMEDIATES", raising=False)
    settings = Settings(data_dir=tmp_path / "var")
    assert registry.trust_anchors(settings) == []
    assert registry.intermediates(settings) == []
    (tmp_path / "var" / "pki").mkdir(parents=True)
    (tmp_path / "var" / "pki" / "trust-anchors.pem").write_bytes(
        pki.pem_bundle([h.root.certificate, h.stranger.certificate])
    )
    (tmp_path / "var" / "pki" / "intermediates.pem").write_bytes(
        pki.pem_bundle([h.issuing.certificate])
    )
    assert registry.trust_anchors(settings) == [h.root.certificate, h.stranger.certificate]
    assert registry.intermediates(settings) == [h.issuing.certificate]

    elsewhere = tmp_path / "anchors.pem"
    elsewhere.write_bytes(pki.pem_bundle([h.stranger.certificate]))
    monkeypatch.setenv("HOSO_TRUST_ANCHORS", str(elsewhere))
    assert registry.trust_anchors(settings) == [h.stranger.certificate]
    monkeypatch.setenv("HOSO_INTERMEDIATES", str(tmp_path / "missing.pem"))
    with pytest.raises(PkiError, match=r"HOSO_INTERMEDIATES names .* which does not exist"):
        registry.intermediates(settings)
    elsewhere.write_text("-----BEGIN CERTIFICATE-----\ngarbage\n-----END CERTIFICATE-----\n")
    with pytest.raises(PkiError, match="not a certificate"):
        registry.trust_anchors(settings)
