"""Keys for the encryption of restricted field values (AES-256-GCM), and the keyed lookup
of citizen IDs.

The keys live in a JSON file named by ``HOSO_FIELD_KEYS_FILE`` (by default
``<data_dir>/field-keys.json``), made on first use with one key, readable by its owner only::

    {"current": "k2", "keys": {"k1": "<base64, 32 bytes>", "k2": "..."}, "lookup": "<base64>"}

New values are encrypted under the current key; every key ever current stays in the file, so
that values encrypted under it (in events, which are never rewritten) can still be read.
``lookup`` is the key of the HMAC that turns a citizen ID into the key of its claim: it is
never rotated, or the claims already recorded could not be found again.

An encrypted value is ``{"_enc": key_id, "ct": base64(nonce || ciphertext || tag)}``. The
associated data binds it to where it belongs (the aggregate and the field path), so that a
value moved elsewhere no longer decrypts. A value that cannot be decrypted (its key is not
in the file, or it was altered) raises :class:`FieldUnavailable`; callers put
:func:`redacted` in its place rather than stop.

Values are encrypted with a random nonce, or with a nonce derived from the key, the field
path and the value (``deterministic``): read models use the latter, so that a read model
rebuilt from the log holds the same bytes as one kept up to date event by event.
"""

from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import hmac
import json
import os
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from domain.settings import Settings

KEY_FILE_VARIABLE = "HOSO_FIELD_KEYS_FILE"
KEY_FILE_NAME = "field-keys.json"
KEY_BYTES = 32
NONCE_BYTES = 12
MARK, CIPHERTEXT = "_enc", "ct"
AAD_PREFIX = b"hoso-field-v1\x00"
RELOAD_EVERY = 1.0  # seconds: how stale another process's rotation may be seen here


class FieldUnavailable(Exception):
    """An encrypted value that cannot be read: its key is missing, or it was altered."""


class KeyFileError(RuntimeError):
    """The key file exists but is not a key file."""


def redacted() -> dict[str, bool]:
    """What stands in for a restricted value that cannot be decrypted."""
    return {"restricted": True, "unavailable": True}


def is_encrypted(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 2
        and isinstance(value.get(MARK), str)
        and isinstance(value.get(CIPHERTEXT), str)
    )


def is_redacted(value: Any) -> bool:
    return isinstance(value, dict) and value == redacted()


def key_file_path(settings: Settings) -> Path:
    named = os.environ.get(KEY_FILE_VARIABLE, "").strip()
    return Path(named) if named else settings.data_dir / KEY_FILE_NAME


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


class KeyRing:
    """The field keys of one key file. Safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._keys: dict[str, bytes] = {}
        self._current = ""
        self._lookup = b""
        self._stamp: tuple[int, int, int] | None = None
        self._checked = 0.0
        self._aead: dict[str, AESGCM] = {}
        self._nonce_keys: dict[str, bytes] = {}

    @classmethod
    def for_settings(cls, settings: Settings) -> KeyRing:
        """The key ring of the configured key file, shared within the process."""
        return _shared(key_file_path(settings))

    # -- what is in the file -----------------------------------------------------------------

    @property
    def current_id(self) -> str:
        self._refresh(create=True)
        return self._current

    @property
    def key_ids(self) -> list[str]:
        self._refresh(create=True)
        return sorted(self._keys, key=_key_number)

    def __contains__(self, key_id: object) -> bool:
        return key_id in self._keys

    # -- encryption --------------------------------------------------------------------------

    def encrypt(self, value: Any, path: str, *, deterministic: bool = False) -> dict[str, str]:
        """A JSON value encrypted under the current key, bound to ``path``."""
        return self.encrypt_bytes(canonical_json(value), path, deterministic=deterministic)

    def decrypt(self, token: Mapping[str, Any], path: str) -> Any:
        try:
            return json.loads(self.decrypt_bytes(token, path))
        except ValueError:
            raise FieldUnavailable(f"the value at {path} is not JSON") from None

    def encrypt_bytes(
        self, plaintext: bytes, path: str, *, deterministic: bool = False
    ) -> dict[str, str]:
        self._refresh(create=True)
        key_id = self._current
        aad = AAD_PREFIX + path.encode()
        if deterministic:
            digest = hmac.new(self._nonce_key(key_id), aad + b"\x00" + plaintext, hashlib.sha256)
            nonce = digest.digest()[:NONCE_BYTES]
        else:
            nonce = os.urandom(NONCE_BYTES)
        sealed = self._cipher(key_id).encrypt(nonce, plaintext, aad)
        return {MARK: key_id, CIPHERTEXT: base64.b64encode(nonce + sealed).decode("ascii")}

    def decrypt_bytes(self, token: Mapping[str, Any], path: str) -> bytes:
        key_id = token.get(MARK)
        if not isinstance(key_id, str):
            raise FieldUnavailable("not an encrypted value")
        self._refresh()
        if key_id not in self._keys:
            self._refresh(force=True)
            if key_id not in self._keys:
                raise FieldUnavailable(f"no field key {key_id} in {self.path}")
        try:
            data = base64.b64decode(str(token.get(CIPHERTEXT, "")), validate=True)
        except ValueError:
            raise FieldUnavailable("the encrypted value is not base64") from None
        if len(data) < NONCE_BYTES + 16:
            raise FieldUnavailable("the encrypted value is truncated")
        try:
            return self._cipher(key_id).decrypt(
                data[:NONCE_BYTES], data[NONCE_BYTES:], AAD_PREFIX + path.encode()
            )
        except InvalidTag:
            raise FieldUnavailable(f"the value at {path} does not authenticate") from None

    def lookup(self, text: str) -> str:
        """A keyed digest of ``text`` (a citizen ID): the same text gives the same digest,
        and the text cannot be found back from it without the lookup key."""
        self._refresh(create=True)
        return hmac.new(self._lookup, b"citizen-id:" + text.encode(), hashlib.sha256).hexdigest()

    # -- rotation ----------------------------------------------------------------------------

    def rotate(self) -> str:
        """Add a new key and make it current; the old ones stay for reading. Returns its id."""
        with self._file_lock():
            if not self.path.exists():
                self._create()
            keys, _, lookup, _ = self._read()
            number = max((_key_number(k) for k in keys), default=0) + 1
            key_id = f"k{number}"
            keys = {**keys, key_id: os.urandom(KEY_BYTES)}
            lookup = lookup if lookup is not None else os.urandom(KEY_BYTES)
            self._write(keys, key_id, lookup)
            self._set(keys, key_id, lookup, _stamp(self.path))
        return key_id

    # -- the file ----------------------------------------------------------------------------

    def _cipher(self, key_id: str) -> AESGCM:
        cipher = self._aead.get(key_id)
        if cipher is None:
            cipher = self._aead[key_id] = AESGCM(self._keys[key_id])
        return cipher

    def _nonce_key(self, key_id: str) -> bytes:
        key = self._nonce_keys.get(key_id)
        if key is None:
            key = hmac.new(self._keys[key_id], b"hoso-field-nonce", hashlib.sha256).digest()
            self._nonce_keys[key_id] = key
        return key

    def _refresh(self, *, force: bool = False, create: bool = False) -> None:
        if self._stamp is None:  # not read yet: the file is made on first use, not before
            if create or self.path.exists():
                self._load(create=create)
            return
        now = time.monotonic()
        if not force and now - self._checked < RELOAD_EVERY:
            return
        self._checked = now
        try:
            stamp = _stamp(self.path)
        except FileNotFoundError:
            return  # keep what was read: the file is only ever replaced whole
        if stamp != self._stamp:
            self._load(create=False)

    def _load(self, *, create: bool) -> None:
        if create and not self.path.exists():
            self._create()
        keys, current, lookup, stamp = self._read()
        if lookup is None:
            # A file written without a lookup key: add one, once and for good.
            with self._file_lock():
                keys, current, lookup, stamp = self._read()
                if lookup is None:
                    lookup = os.urandom(KEY_BYTES)
                    self._write(keys, current, lookup)
                    stamp = _stamp(self.path)
        self._set(keys, current, lookup, stamp)

    def _read(self) -> tuple[dict[str, bytes], str, bytes | None, tuple[int, int, int]]:
        stamp = _stamp(self.path)
        keys, current, lookup = _parse(self.path.read_text(), self.path)
        return keys, current, lookup, stamp

    def _set(
        self, keys: dict[str, bytes], current: str, lookup: bytes, stamp: tuple[int, int, int]
    ) -> None:
        with self._lock:
            self._aead = {k: v for k, v in self._aead.items() if keys.get(k) == self._keys.get(k)}
            self._nonce_keys = {
                k: v for k, v in self._nonce_keys.items() if keys.get(k) == self._keys.get(k)
            }
            self._keys, self._current, self._lookup = keys, current, lookup
            self._stamp, self._checked = stamp, time.monotonic()

    def _create(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self._temporary()
        keys = {"k1": os.urandom(KEY_BYTES)}
        _write_private(temporary, _render(keys, "k1", os.urandom(KEY_BYTES)))
        try:
            os.link(temporary, self.path)  # refused if another process made it first
        except FileExistsError:
            pass
        finally:
            temporary.unlink(missing_ok=True)

    def _write(self, keys: Mapping[str, bytes], current: str, lookup: bytes) -> None:
        temporary = self._temporary()
        _write_private(temporary, _render(keys, current, lookup))
        os.replace(temporary, self.path)

    def _temporary(self) -> Path:
        return self.path.with_name(f".{self.path.name}.{os.getpid()}.{threading.get_ident()}")

    @contextlib.contextmanager
    def _file_lock(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock = self.path.with_name(self.path.name + ".lock")
        descriptor = os.open(lock, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)
            os.close(descriptor)


_rings: dict[Path, KeyRing] = {}
_rings_lock = threading.Lock()


def _shared(path: Path) -> KeyRing:
    resolved = path.expanduser().absolute()
    with _rings_lock:
        ring = _rings.pop(resolved, None)
        if ring is None or not resolved.exists():
            ring = KeyRing(resolved)
        else:
            ring._refresh(force=True)
        # Most recently opened last: readers without a ring of their own try it first.
        _rings[resolved] = ring
        return ring


def known_rings() -> list[KeyRing]:
    """The key rings opened in this process, most recently opened first."""
    with _rings_lock:
        return list(reversed(_rings.values()))


def decrypt_with_any(token: Mapping[str, Any], path: str, preferred: KeyRing | None = None) -> Any:
    """Decrypt with ``preferred``, else with any key ring this process opened that holds the
    token's key id (a wrong key fails authentication, it never gives a wrong value)."""
    rings = [preferred] if preferred is not None else []
    rings += [r for r in known_rings() if r is not preferred]
    for ring in rings:
        with contextlib.suppress(FieldUnavailable):
            return ring.decrypt(token, path)
    raise FieldUnavailable(f"no key ring of this process reads the value at {path}")


def _stamp(path: Path) -> tuple[int, int, int]:
    status = path.stat()
    return status.st_ino, status.st_mtime_ns, status.st_size


def _key_number(key_id: str) -> int:
    digits = key_id.lstrip("k")
    return int(digits) if digits.isdigit() else 0


def _parse(text: str, path: Path) -> tuple[dict[str, bytes], str, bytes | None]:
    try:
        data = json.loads(text)
        keys = {str(k): base64.b64decode(v, validate=True) for k, v in data["keys"].items()}
        current = str(data["current"])
        lookup = base64.b64decode(data["lookup"], validate=True) if "lookup" in data else None
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise KeyFileError(f"{path} is not a field key file: {exc}") from None
    if current not in keys:
        raise KeyFileError(f"{path}: the current key {current} is not among its keys")
    short = [k for k, v in keys.items() if len(v) != KEY_BYTES]
    if short or (lookup is not None and len(lookup) != KEY_BYTES):
        raise KeyFileError(f"{path}: every key is {KEY_BYTES} bytes")
    return keys, current, lookup


def _render(keys: Mapping[str, bytes], current: str, lookup: bytes) -> str:
    data = {
        "current": current,
        "keys": {k: base64.b64encode(v).decode("ascii") for k, v in keys.items()},
        "lookup": base64.b64encode(lookup).decode("ascii"),
    }
    return json.dumps(data, indent=2) + "\n"


def _write_private(path: Path, text: str) -> None:
    # Readable by its owner only, from the first byte.
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
