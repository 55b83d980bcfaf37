#!/usr/bin/env python3
"""Check a proof exported by ``hoso proof`` without the ledger: Python and ``cryptography``.

    python verify_proof.py PROOF.json [--public-key KEY.pem]

An inclusion proof (``hoso-inclusion-proof/1``) holds one stored event record, its leaf
index, the RFC 9162 inclusion path and the signed tree head of a seal. The check:

1. the tree head's signature: ECDSA P-256 with SHA-256 over the RFC 8785 canonical JSON of
   ``{tree_size, root, sealed_at}``, with the public key in the file, which must be the one
   given with ``--public-key`` when that is given;
2. the leaf hash, recomputed from the event as stored: ``SHA-256(0x00 || u32 len(id) ||
   id || i64 version || u32 len(topic) || topic || u32 len(state) || state)``, big-endian
   integers, text in UTF-8, the id in the UUID's 36-character form;
3. the root, recomputed from the leaf hash and the inclusion path (RFC 9162 §2.1.3.2),
   equal to the signed root.

The event's position is the ledger's numbering, shown for reference: what the proof
establishes is the leaf index in the signed tree.

A consistency proof (``hoso-consistency-proof/1``) holds two signed tree heads and the
path that shows the first tree is a prefix of the second (RFC 9162 §2.1.4.2).

Prints ``OK: ...`` and exits 0, or ``FAILED: reason`` and exits 1.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import struct
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

HASH_SIZE = 32


class Failed(Exception):
    """The proof does not hold: the message says why."""


# -- RFC 9162 ---------------------------------------------------------------------------------


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def root_from_inclusion_path(
    leaf: bytes, index: int, size: int, path: Sequence[bytes]
) -> bytes | None:
    """RFC 9162 §2.1.3.2: the root the path leads to, or None if it cannot lead anywhere."""
    if not 0 <= index < size:
        return None
    fn, sn = index, size - 1
    r = leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def consistent(
    first: int, second: int, first_root: bytes, second_root: bytes, path: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2, with the cases it leaves to the caller (equal sizes, size 0)."""
    if not 0 <= first <= second:
        return False
    if first == second:
        return not path and first_root == second_root
    if first == 0:
        return not path and first_root == hashlib.sha256(b"").digest()
    if not path:
        return False
    items = list(path)
    if first & (first - 1) == 0:
        items.insert(0, first_root)
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = items[0]
    for c in items[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == first_root and sr == second_root and sn == 0


def leaf_hash(originator_id: str, version: int, topic: str, state: bytes) -> bytes:
    # The id in the UUID's 36-character form (an id given as its 32 hex digits, as SQLite
    # keeps it, stands for that form).
    if len(originator_id) == 32 and all(c in "0123456789abcdef" for c in originator_id):
        i = originator_id
        originator_id = f"{i[:8]}-{i[8:12]}-{i[12:16]}-{i[16:20]}-{i[20:]}"
    oid, top = originator_id.encode(), topic.encode()
    data = (
        struct.pack(">I", len(oid))
        + oid
        + struct.pack(">q", version)
        + struct.pack(">I", len(top))
        + top
        + struct.pack(">I", len(state))
        + state
    )
    return hashlib.sha256(b"\x00" + data).digest()


# -- reading the file -------------------------------------------------------------------------


def _field(obj: Any, name: str, kind: type | tuple[type, ...], where: str) -> Any:
    if not isinstance(obj, dict) or name not in obj:
        raise Failed(f"{where} has no {name!r}")
    value = obj[name]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise Failed(f"{where}.{name} is not the right kind of value")
    return value


def _hash(text: Any, where: str) -> bytes:
    if not isinstance(text, str):
        raise Failed(f"{where} is not a hex string")
    try:
        value = bytes.fromhex(text)
    except ValueError:
        raise Failed(f"{where} is not hex") from None
    if len(value) != HASH_SIZE or value.hex() != text.lower():
        raise Failed(f"{where} is not a {HASH_SIZE}-byte hash")
    return value


def _path(items: Any, where: str) -> list[bytes]:
    if not isinstance(items, list):
        raise Failed(f"{where} is not a list")
    return [_hash(item, f"{where}[{k}]") for k, item in enumerate(items)]


def canonical_json(value: Any) -> bytes:
    """RFC 8785 JSON of a tree head: an object of text and integer members."""
    if not isinstance(value, dict):
        raise Failed("tree_head is not an object")
    for key, member in value.items():
        if not isinstance(key, str):
            raise Failed("tree_head has a member name that is not text")
        if isinstance(member, bool) or not isinstance(member, str | int):
            raise Failed("tree_head holds other values than text and integers")
        if isinstance(member, int) and abs(member) >= 2**53:
            raise Failed("tree_head holds an integer JSON cannot carry exactly")
    # Members sorted by their UTF-16 code units; json.dumps without ensure_ascii escapes
    # exactly the characters RFC 8785 escapes, in the same way.
    keys = sorted(value, key=lambda k: k.encode("utf-16-be"))
    body = ",".join(
        json.dumps(k, ensure_ascii=False) + ":" + json.dumps(value[k], ensure_ascii=False)
        for k in keys
    )
    return ("{" + body + "}").encode()


def _public_key(pem: Any, where: str) -> ec.EllipticCurvePublicKey:
    if not isinstance(pem, str):
        raise Failed(f"{where} has no public key")
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        raise Failed(f"{where}: the public key cannot be read") from None
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
        raise Failed(f"{where}: the public key is not an ECDSA P-256 key")
    return key


def _pinned_key(path: Path) -> ec.EllipticCurvePublicKey:
    """The public key in a PEM file (of a public key, or of the private key itself)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise Failed(f"cannot read {path}: {exc.strerror}") from None
    if b"PRIVATE KEY" in data:
        try:
            private = serialization.load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            raise Failed(f"{path}: the key cannot be read") from None
        if not isinstance(private, ec.EllipticCurvePrivateKey):
            raise Failed(f"{path}: the key is not an ECDSA P-256 key")
        data = private.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return _public_key(data.decode("ascii", "replace"), str(path))


def _der(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def fingerprint(key: ec.EllipticCurvePublicKey) -> str:
    return hashlib.sha256(_der(key)).hexdigest()


def check_seal(seal: Any, where: str, pinned: ec.EllipticCurvePublicKey | None) -> dict[str, Any]:
    """The tree head of a seal whose signature holds: ``tree_size``, ``root`` (bytes),
    ``sealed_at`` and the key."""
    head = _field(seal, "tree_head", dict, where)
    tree_size = _field(head, "tree_size", int, f"{where}.tree_head")
    root = _hash(_field(head, "root", str, f"{where}.tree_head"), f"{where}.tree_head.root")
    sealed_at = _field(head, "sealed_at", str, f"{where}.tree_head")
    if set(head) != {"tree_size", "root", "sealed_at"}:
        raise Failed(f"{where}.tree_head has other members than tree_size, root, sealed_at")
    if tree_size < 0:
        raise Failed(f"{where}.tree_head.tree_size is negative")
    key = _public_key(_field(seal, "public_key_pem", str, where), where)
    if pinned is not None and _der(key) != _der(pinned):
        raise Failed(f"{where} is signed with another key than the one given")
    try:
        signature = base64.b64decode(_field(seal, "signature", str, where), validate=True)
    except binascii.Error:
        raise Failed(f"{where}.signature is not base64") from None
    try:
        key.verify(signature, canonical_json(head), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise Failed(f"{where}: the tree head's signature does not verify") from None
    return {"tree_size": tree_size, "root": root, "sealed_at": sealed_at, "key": key}


def check_inclusion(document: dict[str, Any], pinned: ec.EllipticCurvePublicKey | None) -> str:
    head = check_seal(document.get("seal"), "seal", pinned)
    event = _field(document, "event", dict, "the proof")
    originator_id = _field(event, "originator_id", str, "event")
    version = _field(event, "originator_version", int, "event")
    topic = _field(event, "topic", str, "event")
    position = event.get("position")
    try:
        state = base64.b64decode(_field(event, "state_base64", str, "event"), validate=True)
    except binascii.Error:
        raise Failed("event.state_base64 is not base64") from None
    if not -(2**63) <= version < 2**63:
        raise Failed("event.originator_version is out of range")
    index = _field(document, "leaf_index", int, "the proof")
    size = _field(document, "tree_size", int, "the proof")
    if size != head["tree_size"]:
        raise Failed("the proof's tree size is not the signed tree size")
    if not 0 <= index < size:
        raise Failed(f"leaf index {index} is not in a tree of {size} leaves")
    path = _path(document.get("inclusion_path"), "inclusion_path")
    leaf = leaf_hash(originator_id, version, topic, state)
    root = root_from_inclusion_path(leaf, index, size, path)
    if root is None:
        raise Failed("the inclusion path does not fit a tree of that size")
    if root != head["root"]:
        raise Failed("the event and the inclusion path do not lead to the signed root")
    return (
        f"event at position {position} ({originator_id} version {version}, {topic}) is leaf "
        f"{index} of the {size}-event tree sealed at {head['sealed_at']} "
        f"(root {head['root'].hex()}), signed by key sha256:{fingerprint(head['key'])}"
    )


def check_consistency(document: dict[str, Any], pinned: ec.EllipticCurvePublicKey | None) -> str:
    first = check_seal(document.get("first"), "first", pinned)
    second = check_seal(document.get("second"), "second", pinned or first["key"])
    path = _path(document.get("consistency_path"), "consistency_path")
    m, n = first["tree_size"], second["tree_size"]
    if m > n:
        raise Failed("the first tree is larger than the second")
    if not consistent(m, n, first["root"], second["root"], path):
        raise Failed(f"the tree of {m} events is not shown to be a prefix of the tree of {n}")
    return (
        f"the {m}-event tree sealed at {first['sealed_at']} is a prefix of the {n}-event tree "
        f"sealed at {second['sealed_at']}, both signed by key sha256:{fingerprint(first['key'])}"
    )


CHECKS = {
    "hoso-inclusion-proof/1": check_inclusion,
    "hoso-consistency-proof/1": check_consistency,
}


def check(document: Any, pinned: ec.EllipticCurvePublicKey | None = None) -> str:
    """What the proof shows, or :class:`Failed`."""
    if not isinstance(document, dict):
        raise Failed("the file does not hold a JSON object")
    kind = document.get("format")
    if kind not in CHECKS:
        raise Failed(f"unknown proof format {kind!r}")
    return CHECKS[kind](document, pinned)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Check a proof exported by `hoso proof`.")
    parser.add_argument("proof", type=Path, help="the proof file (JSON)")
    parser.add_argument(
        "--public-key", type=Path, help="PEM public key the tree heads must be signed with"
    )
    args = parser.parse_args(argv)
    try:
        pinned = None
        if args.public_key is not None:
            pinned = _pinned_key(args.public_key)
        try:
            document = json.loads(args.proof.read_text(encoding="utf-8"))
        except OSError as exc:
            raise Failed(f"cannot read {args.proof}: {exc.strerror}") from None
        except ValueError as exc:
            raise Failed(f"{args.proof} is not JSON: {exc}") from None
        what = check(document, pinned)
    except Failed as exc:
        print(f"FAILED: {exc}")
        return 1
    print(f"OK: {what}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
