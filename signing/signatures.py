"""Signatures over digests with keys held in X.509 certificates (RSA or ECDSA, SHA-256)."""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
PREHASHED = utils.Prehashed(hashes.SHA256())


def sign_digest(key: PrivateKey, digest: bytes) -> bytes:
    """Sign a SHA-256 digest as a USB token would: RSA PKCS#1 v1.5 or ECDSA."""
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(digest, padding.PKCS1v15(), PREHASHED)
    return key.sign(digest, ec.ECDSA(PREHASHED))


def signature_is_valid(certificate: x509.Certificate, digest: bytes, signature: bytes) -> bool:
    public_key = certificate.public_key()
    try:
        if isinstance(public_key, rsa.RSAPublicKey):
            public_key.verify(signature, digest, padding.PKCS1v15(), PREHASHED)
        elif isinstance(public_key, ec.EllipticCurvePublicKey):
            public_key.verify(signature, digest, ec.ECDSA(PREHASHED))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the certificate's DER encoding, in hex: how the ledger names it."""
    return hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()


def load_certificate(pem: str | bytes) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode() if isinstance(pem, str) else pem)


def certificate_pem(certificate: x509.Certificate) -> str:
    return certificate.public_bytes(serialization.Encoding.PEM).decode()
