"""A server-side keystore: one passphrase-protected key per account, for demo and tests.

Real signers keep their keys on a USB token and post signatures; the keystore lets the
server sign for an account (and for the agency) when that is wanted. Each account has one
file ``<account>.pem``, readable by its owner only (0600): the private key as encrypted
PKCS#8, then the certificate, then the chain (nearest authority first). The file is
written whole or not at all.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from domain.errors import DomainError
from domain.settings import Settings
from signing.pki import key_matches, pem_bundle
from signing.signatures import PrivateKey

ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,127}$")
MIN_PASSPHRASE = 8
KEY_BEGIN = b"-----BEGIN ENCRYPTED PRIVATE KEY-----"
KEY_END = b"-----END ENCRYPTED PRIVATE KEY-----"


class KeystoreError(DomainError):
    code = "keystore_error"


def default_directory(settings: Settings) -> Path:
    return settings.data_dir / "keystore"


def path_for(directory: Path, account: str) -> Path:
    if not ACCOUNT.match(account) or ".." in account:
        raise KeystoreError(
            f"{account!r} cannot name a keystore entry: use letters, digits and . _ @ + -"
        )
    return Path(directory) / f"{account}.pem"


def has(directory: Path, account: str) -> bool:
    return path_for(directory, account).exists()


def accounts(directory: Path) -> list[str]:
    directory = Path(directory)
    if not directory.is_dir():
        return []
    return sorted(p.stem for p in directory.glob("*.pem") if ACCOUNT.match(p.stem))


def check_passphrase(passphrase: str | None) -> str:
    if not passphrase:
        raise KeystoreError(
            "give the keystore passphrase (--passphrase or HOSO_KEYSTORE_PASSPHRASE)"
        )
    if len(passphrase) < MIN_PASSPHRASE:
        raise KeystoreError(f"a keystore passphrase has at least {MIN_PASSPHRASE} characters")
    return passphrase


def store(
    directory: Path,
    account: str,
    key: PrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    passphrase: str,
    *,
    replace: bool = False,
) -> Path:
    """Keep ``account``'s key, certificate and chain; refuses to overwrite unless
    ``replace``."""
    target = path_for(directory, account)
    check_passphrase(passphrase)
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeystoreError("only RSA and ECDSA keys are kept")
    if not key_matches(key, certificate):
        raise KeystoreError(f"the key of {account} does not belong to its certificate")
    if target.exists() and not replace:
        raise KeystoreError(f"the keystore already holds a key for {account}")
    encrypted = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase.encode()),
    )
    content = encrypted + pem_bundle([certificate, *chain])
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as file:
            file.write(content)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, target)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
    return target


def load(
    directory: Path, account: str, passphrase: str
) -> tuple[PrivateKey, x509.Certificate, list[x509.Certificate]]:
    """``account``'s key, certificate and chain."""
    target = path_for(directory, account)
    if not target.exists():
        raise KeystoreError(f"the keystore {directory} holds no key for {account}")
    content = target.read_bytes()
    start, end = content.find(KEY_BEGIN), content.find(KEY_END)
    if start < 0 or end < 0:
        raise KeystoreError(f"the keystore entry of {account} holds no encrypted key")
    try:
        key = serialization.load_pem_private_key(
            content[start : end + len(KEY_END)], (passphrase or "").encode()
        )
    except (ValueError, TypeError):
        raise KeystoreError(f"wrong passphrase for the key of {account}") from None
    try:
        certificates = x509.load_pem_x509_certificates(content[end + len(KEY_END) :])
    except ValueError:
        raise KeystoreError(f"the keystore entry of {account} holds no certificate") from None
    if not isinstance(key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise KeystoreError(f"the key of {account} is neither RSA nor ECDSA")
    certificate, *chain = certificates
    if not key_matches(key, certificate):
        raise KeystoreError(f"the key of {account} does not belong to its certificate")
    return key, certificate, chain


def remove(directory: Path, account: str) -> None:
    path_for(directory, account).unlink(missing_ok=True)
