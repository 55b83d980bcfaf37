"""Backups of the ledger: one compressed, encrypted archive file, written and read as a
stream; checked without restoring; restored into an empty database of either kind.

What an archive holds: every stored event record of the log as it is stored (state bytes
compressed and encrypted at rest as they are), seals included (they are events) and the
certificate registry (``Certificate`` events); the supporting documents (table
``documents``: scans cited by digest, which nothing else could give back); the trust
anchors and intermediate authorities configured for signature checks. What it leaves out,
because it is rebuilt from the log: the read models, ``ledger_leaves`` (leaf hashes of the
log) and the snapshots (a cache of aggregate state; not covered by the seals, so a
restored snapshot would be state nobody can check). Keys are not in it: the at-rest cipher
key, the field-key file and the seal key are kept apart from the copies of the data they
protect; the manifest names them by fingerprint so that a restore with other keys is
refused.

The file::

    b"HOSOBAK1" || u32 len(header) || header (JSON, in clear) || SHA-256(header) || chunk*

    chunk = u32 len(sealed) || sealed;  sealed = AES-256-GCM(plain)
    plain = zstd(msgpack([kind, items]))

The header names the format, the source, when it was made, the backup key's id and a
random salt. Each archive has its own data key, HKDF-SHA256(backup key, salt); chunk ``i``
is encrypted under nonce ``i`` with associated data ``SHA-256(header) || u64 i || u8
last``, so an altered header, a chunk moved, dropped or altered, or an archive cut after
any chunk does not authenticate. The last chunk is the manifest: counts, the source
backend, the Merkle root of the log (RFC 9162, the leaves the seals use, see
:mod:`signing.seal`) and the seals found in it.

Integers are big-endian.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import struct
from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import IO, Any
from uuid import UUID
from zoneinfo import ZoneInfo

import msgpack
import zstandard
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from eventsourcing.persistence import StoredEvent
from psycopg import sql
from sqlalchemy import Engine, func, insert, select

from api.documents import documents as documents_table
from api.documents import metadata as documents_metadata
from domain.application import Ledger
from domain.field_cipher import KeyRing, key_file_path
from domain.jurisdiction import BackupPolicy
from domain.seal import SEAL_ID
from domain.settings import Settings
from projections.database import read_model_engine
from signing.merkle import MerkleRootStream
from signing.registry import intermediates_path, trust_anchors_path
from signing.seal import (
    SEALED_TOPIC,
    SealRecord,
    SignatureChecker,
    _rows,
    leaf_id,
    record_leaf_hash,
    write_leaves,
)

FORMAT = "hoso-backup/1"
MAGIC = b"HOSOBAK1"
SUFFIX = ".hosobak"
KEY_BYTES = 32
SALT_BYTES = 16
CHUNK_BYTES = 4 * 1024 * 1024  # plain bytes per chunk, about
CHUNK_RECORDS = 20_000
MAX_SEALED_CHUNK = 256 * 1024 * 1024  # a length above this is damage, not data
MAX_HEADER = 64 * 1024
ZSTD_LEVEL = 3
HKDF_INFO = b"hoso-backup/1 AES-256-GCM"
KEY_ID_PREFIX = b"hoso-backup-key-id\x00"
CIPHER_ID_PREFIX = b"hoso-cipher-key-id\x00"
LOOKUP_CHECK = "hoso-backup-lookup-check"
BUSINESS_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")
ARCHIVE_NAME = re.compile(r"hoso-(\d{8}T\d{6}Z)-[a-z]+\.hosobak")
EXPIRED_DIRECTORY = "expired"

EVENTS, DOCUMENTS, FILE, MANIFEST = "events", "documents", "file", "manifest"
# The configuration files an archive carries, by the name it gives them.
CONFIG_FILES: dict[str, Callable[[Settings], Path]] = {
    "trust-anchors.pem": trust_anchors_path,
    "intermediates.pem": intermediates_path,
}

_U32 = struct.Struct(">I")
_U64 = struct.Struct(">Q")


class BackupError(Exception):
    """An archive that cannot be made, read or restored; says why in Vietnamese and in
    English."""

    def __init__(self, vietnamese: str, english: str) -> None:
        super().__init__(f"{vietnamese} — {english}")
        self.vietnamese = vietnamese
        self.english = english


# -- keys ------------------------------------------------------------------------------------


def backup_key(settings: Settings) -> bytes:
    """The configured backup key (``HOSO_BACKUP_KEY``, or the file ``HOSO_BACKUP_KEY_FILE``
    names): 32 bytes, in base64."""
    text = settings.backup_key
    if not text and settings.backup_key_file is not None:
        try:
            text = settings.backup_key_file.read_text().strip()
        except OSError as exc:
            raise BackupError(
                f"Không đọc được tệp khóa sao lưu {settings.backup_key_file}",
                f"cannot read the backup key file {settings.backup_key_file}: {exc.strerror}",
            ) from None
    if not text:
        raise BackupError(
            "Chưa cấu hình khóa sao lưu (HOSO_BACKUP_KEY hoặc HOSO_BACKUP_KEY_FILE)",
            "no backup key: set HOSO_BACKUP_KEY or HOSO_BACKUP_KEY_FILE "
            "(`hoso backup --new-key FILE` makes one)",
        )
    try:
        key = base64.b64decode(text, validate=True)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise BackupError(
            "Khóa sao lưu không hợp lệ: cần 32 byte mã hóa base64",
            "the backup key is not 32 bytes in base64",
        )
    return key


def new_key_file(path: Path) -> None:
    """A new random backup key in ``path``, readable by its owner only from the first
    byte; an existing file is never overwritten."""
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise BackupError(
            f"Tệp {path} đã tồn tại; không ghi đè khóa",
            f"{path} exists: a key is never overwritten",
        ) from None
    with os.fdopen(descriptor, "w") as file:
        file.write(base64.b64encode(os.urandom(KEY_BYTES)).decode() + "\n")


def key_id(key: bytes) -> str:
    """Names a backup key without revealing it."""
    return hashlib.sha256(KEY_ID_PREFIX + key).hexdigest()[:16]


def _data_key(key: bytes, salt: bytes) -> AESGCM:
    derived = HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=salt, info=HKDF_INFO)
    return AESGCM(derived.derive(key))


def _nonce(index: int) -> bytes:
    return b"\x00\x00\x00\x00" + _U64.pack(index)


def _associated(header_digest: bytes, index: int, last: bool) -> bytes:
    return header_digest + _U64.pack(index) + (b"\x01" if last else b"\x00")


def keys_in_use(settings: Settings) -> dict[str, Any]:
    """Fingerprints of the keys the stored bytes need: the at-rest cipher key and the
    field keys (with their lookup key)."""
    cipher = settings.resolved_cipher_key()
    keys: dict[str, Any] = {
        "cipher_key_id": hashlib.sha256(CIPHER_ID_PREFIX + cipher.encode()).hexdigest()[:16]
        if cipher
        else None,
        "field_key_ids": [],
        "lookup_check": None,
    }
    if key_file_path(settings).exists():
        ring = KeyRing.for_settings(settings)
        keys["field_key_ids"] = sorted(ring.key_ids)
        keys["lookup_check"] = ring.lookup(LOOKUP_CHECK)[:16]
    return keys


# -- writing ---------------------------------------------------------------------------------


def default_directory(settings: Settings) -> Path:
    """Where archives go when no folder is given: ``<data dir>/backups``. Copies meant to
    survive the loss of this machine belong elsewhere (``hoso backup --to``)."""
    return settings.data_dir / "backups"


def archive_name(now: datetime, backend: str) -> str:
    return f"hoso-{now.astimezone(UTC):%Y%m%dT%H%M%SZ}-{backend}{SUFFIX}"


def backend_of(settings: Settings) -> str:
    return "postgresql" if settings.database_url else "sqlite"


class _ChunkWriter:
    def __init__(self, out: IO[bytes], header: bytes, key: bytes, salt: bytes) -> None:
        self.out = out
        self.header_digest = hashlib.sha256(header).digest()
        self.aead = _data_key(key, salt)
        self.compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self.index = 0

    def write(self, kind: str, items: Any, *, last: bool = False) -> None:
        plain = self.compressor.compress(msgpack.packb([kind, items], use_bin_type=True))
        sealed = self.aead.encrypt(
            _nonce(self.index), plain, _associated(self.header_digest, self.index, last)
        )
        self.out.write(_U32.pack(len(sealed)))
        self.out.write(sealed)
        self.index += 1


@dataclass
class _LogDigest:
    """What the manifest says of the log, gathered as its records go by."""

    stream: MerkleRootStream = field(default_factory=MerkleRootStream)
    first_position: int | None = None
    last_position: int | None = None
    seal_positions: list[int] = field(default_factory=list)
    roots_at: dict[int, str] = field(default_factory=dict)  # tree size -> root, when wanted
    wanted: frozenset[int] = frozenset()

    def add(self, position: int, oid: str, version: int, topic: str, state: bytes) -> bytes:
        leaf = record_leaf_hash(oid, version, topic, state)
        self.stream.add(leaf)
        if self.first_position is None:
            self.first_position = position
        self.last_position = position
        if topic == SEALED_TOPIC and oid == str(SEAL_ID):
            self.seal_positions.append(position)
        if self.stream.size in self.wanted:
            self.roots_at[self.stream.size] = self.stream.root().hex()
        return leaf


def _seal_record(
    ledger: Ledger, position: int, index: int, version: int, state: bytes
) -> SealRecord:
    stored = StoredEvent(
        originator_id=SEAL_ID, originator_version=version, topic=SEALED_TOPIC, state=state
    )
    sealed: Any = ledger.mapper.to_domain_event(stored)
    return SealRecord(
        position=position,
        leaf_index=index,
        version=version,
        tree_size=int(sealed.tree_size),
        root=str(sealed.root),
        sealed_at=str(sealed.sealed_at),
        signature=str(sealed.signature),
        public_key_pem=str(sealed.public_key_pem),
    )


def _seal_json(s: SealRecord) -> dict[str, Any]:
    return {
        "position": s.position,
        "leaf_index": s.leaf_index,
        "tree_size": s.tree_size,
        "root": s.root,
        "sealed_at": s.sealed_at,
        "signature": s.signature,
        "public_key_pem": s.public_key_pem,
    }


def create_backup(settings: Settings, directory: Path, *, now: datetime) -> Path:
    """Write an archive of the store ``settings`` names into ``directory``; returns its
    path. The file appears under its name only once complete."""
    key = backup_key(settings)
    directory.mkdir(parents=True, exist_ok=True)
    backend = backend_of(settings)
    target = directory / archive_name(now, backend)
    partial = target.with_name(target.name + ".partial")
    salt = os.urandom(SALT_BYTES)
    created_at = now.astimezone(UTC).isoformat().replace("+00:00", "Z")
    header = json.dumps(
        {
            "format": FORMAT,
            "created_at": created_at,
            "source_backend": backend,
            "backup_key_id": key_id(key),
            "keys": keys_in_use(settings),
            "salt": base64.b64encode(salt).decode(),
            "cipher": "AES-256-GCM, HKDF-SHA256 data key",
            "compression": "zstd",
            "serialisation": "msgpack",
        },
        sort_keys=True,
    ).encode()
    ledger = Ledger(settings)
    engine = read_model_engine(settings)
    try:
        descriptor = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as out:
            out.write(MAGIC + _U32.pack(len(header)) + header + hashlib.sha256(header).digest())
            writer = _ChunkWriter(out, header, key, salt)
            manifest = _write_contents(ledger, engine, writer)
            manifest.update(
                format=FORMAT,
                created_at=created_at,
                source_backend=backend,
                application=ledger.name,
                jurisdiction=settings.jurisdiction,
                keys=keys_in_use(settings),
                chunks=writer.index,
            )
            writer.write(MANIFEST, manifest, last=True)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        engine.dispose()
        ledger.close()
    return target


def _write_contents(ledger: Ledger, engine: Engine, writer: _ChunkWriter) -> dict[str, Any]:
    digest = _LogDigest()
    seals: list[SealRecord] = []
    batch: list[list[Any]] = []
    size = 0
    sqlite = not ledger.settings.database_url
    for position, originator_id, version, topic, state in _rows(ledger, engine):
        state = bytes(state) if state is not None else b""
        topic = topic or ""
        if not isinstance(version, int):
            raise BackupError(
                f"Bản ghi ở vị trí {position} không phải bản ghi sự kiện hợp lệ",
                f"the record at position {position} is not a stored event the recorder "
                "writes: run `hoso verify`",
            )
        oid = leaf_id(originator_id, sqlite=sqlite)
        digest.add(position, oid, version, topic, state)
        if digest.seal_positions and digest.seal_positions[-1] == position:
            seals.append(_seal_record(ledger, position, digest.stream.size - 1, version, state))
        batch.append([position, oid, version, topic, state])
        size += len(state) + len(topic) + 60
        if len(batch) >= CHUNK_RECORDS or size >= CHUNK_BYTES:
            writer.write(EVENTS, batch)
            batch, size = [], 0
    if batch:
        writer.write(EVENTS, batch)

    documents = document_bytes = 0
    if _documents_exist(engine):
        rows: list[list[Any]] = []
        size = 0
        with engine.connect() as conn:
            query = select(documents_table).order_by(documents_table.c.sha256)
            result = conn.execution_options(yield_per=16).execute(query)
            for row in result:
                rows.append(
                    [
                        row.sha256,
                        row.media_type,
                        row.size,
                        bytes(row.content),
                        row.stored_at.isoformat(),
                        row.stored_by,
                    ]
                )
                documents += 1
                document_bytes += len(row.content)
                size += len(row.content)
                if size >= CHUNK_BYTES:
                    writer.write(DOCUMENTS, rows)
                    rows, size = [], 0
        if rows:
            writer.write(DOCUMENTS, rows)

    files: dict[str, str] = {}
    for name, where in CONFIG_FILES.items():
        path = where(ledger.settings)
        if path.exists():
            content = path.read_bytes()
            writer.write(FILE, [name, content])
            files[name] = hashlib.sha256(content).hexdigest()

    return {
        "events": digest.stream.size,
        "first_position": digest.first_position,
        "last_position": digest.last_position,
        "merkle_root": digest.stream.root().hex(),
        "seals": [_seal_json(s) for s in seals],
        "documents": documents,
        "document_bytes": document_bytes,
        "files": files,
    }


def _documents_exist(engine: Engine) -> bool:
    from sqlalchemy import inspect

    with engine.connect() as conn:
        schema = (conn.get_execution_options().get("schema_translate_map") or {}).get(None)
        return bool(inspect(conn).has_table(documents_table.name, schema=schema))


# -- reading ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Chunk:
    index: int
    kind: str
    items: Any
    last: bool


def _damaged(vietnamese: str, english: str) -> BackupError:
    return BackupError(f"Bản sao lưu bị hỏng: {vietnamese}", f"the archive is damaged: {english}")


def read_header(file: IO[bytes], path: Path) -> tuple[bytes, dict[str, Any]]:
    magic = file.read(len(MAGIC))
    if magic != MAGIC:
        raise BackupError(
            f"{path.name} không phải tệp sao lưu hoso",
            f"{path.name} is not a hoso backup archive (it does not start with {MAGIC!r})",
        )
    raw_length = file.read(4)
    if len(raw_length) < 4:
        raise _damaged("tệp bị cắt cụt ở phần đầu", "the file is cut short in its header")
    (length,) = _U32.unpack(raw_length)
    header = file.read(length) if length <= MAX_HEADER else b""
    if file.read(32) != hashlib.sha256(header).digest():
        raise _damaged("phần đầu bị hỏng", "its header is damaged (its checksum differs)")
    try:
        values = json.loads(header)
        if not isinstance(values, dict) or values.get("format") != FORMAT:
            raise ValueError
        base64.b64decode(values["salt"], validate=True)
        str(values["backup_key_id"])
    except (ValueError, KeyError, TypeError):
        raise _damaged("phần đầu không đọc được", "its header cannot be read") from None
    return header, values


def read_chunks(path: Path, key: bytes) -> Iterator[Chunk]:
    """The archive's chunks in order, each authenticated, ending with the manifest;
    :class:`BackupError` names the first thing wrong."""
    try:
        file = path.open("rb")
    except OSError as exc:
        raise BackupError(f"Không mở được {path}", f"cannot open {path}: {exc.strerror}") from None
    with file:
        header, values = read_header(file, path)
        _check_key_id(values, key)
        aead = _data_key(key, base64.b64decode(values["salt"]))
        header_digest = hashlib.sha256(header).digest()
        decompressor = zstandard.ZstdDecompressor()
        yield from _chunks(file, aead, header_digest, decompressor)


def _check_key_id(values: dict[str, Any], key: bytes) -> None:
    if values["backup_key_id"] != key_id(key):
        raise BackupError(
            "Sai khóa sao lưu: bản sao lưu này được mã hóa bằng khóa khác "
            f"(mã khóa {values['backup_key_id']}, khóa đang cấu hình {key_id(key)})",
            "wrong backup key: the archive was encrypted with another key (key id "
            f"{values['backup_key_id']}; the configured key is {key_id(key)})",
        )


def _chunks(
    file: IO[bytes], aead: AESGCM, header_digest: bytes, decompressor: Any
) -> Iterator[Chunk]:
    index = 0
    while True:
        raw_length = file.read(4)
        if not raw_length:
            raise _damaged(
                f"tệp kết thúc sau khối {index} mà không có bản kê (bị cắt cụt)",
                f"the file ends after chunk {index} without its manifest (truncated)",
            )
        if len(raw_length) < 4:
            raise _damaged(f"khối {index} bị cắt cụt", f"chunk {index} is cut short")
        (length,) = _U32.unpack(raw_length)
        if length > MAX_SEALED_CHUNK:
            raise _damaged(
                f"độ dài khối {index} không hợp lệ", f"chunk {index} has an impossible length"
            )
        sealed = file.read(length)
        if len(sealed) < length:
            raise _damaged(
                f"khối {index} bị cắt cụt (tệp bị cắt ngắn)",
                f"chunk {index} is cut short (the file was truncated)",
            )
        plain = None
        last = False
        for last in (False, True):
            try:
                plain = aead.decrypt(_nonce(index), sealed, _associated(header_digest, index, last))
                break
            except InvalidTag:
                continue
        if plain is None:
            raise _damaged(
                f"khối {index} không xác thực được (đã bị sửa, đổi chỗ hoặc xóa bớt)",
                f"chunk {index} does not authenticate (altered, moved or removed)",
            )
        try:
            kind, items = msgpack.unpackb(
                decompressor.decompress(plain), raw=False, strict_map_key=False
            )
        except (zstandard.ZstdError, ValueError, msgpack.UnpackException):
            raise _damaged(
                f"khối {index} không giải nén được", f"chunk {index} cannot be unpacked"
            ) from None
        if last != (kind == MANIFEST):
            raise _damaged(f"khối {index} đặt sai chỗ", f"chunk {index} is not where it belongs")
        yield Chunk(index, kind, items, last)
        index += 1
        if last:
            if file.read(1):
                raise _damaged("có dữ liệu lạ sau bản kê", "there are bytes after the manifest")
            return


@dataclass
class ArchiveReport:
    path: Path
    header: dict[str, Any]
    manifest: dict[str, Any]
    chunks: int
    events: int
    documents: int
    files: list[str]
    seals_checked: int


def _check_manifest(
    manifest: dict[str, Any],
    digest: _LogDigest,
    documents: int,
    files: dict[str, str],
    chunks: int,
    check_roots: bool,
) -> int:
    """Everything counted and recomputed against the manifest; the seals' signatures, and
    (``check_roots``) their roots against the recomputed ones. Returns how many seals were
    checked."""
    problems: list[tuple[str, str]] = []
    if manifest.get("chunks") != chunks:
        problems.append(
            (
                f"bản kê ghi {manifest.get('chunks')} khối, tệp có {chunks}",
                f"the manifest counts {manifest.get('chunks')} chunks, the file has {chunks}",
            )
        )
    if manifest.get("events") != digest.stream.size:
        problems.append(
            (
                f"bản kê ghi {manifest.get('events')} sự kiện, tệp có {digest.stream.size}",
                f"the manifest counts {manifest.get('events')} events, the file holds "
                f"{digest.stream.size}",
            )
        )
    root = digest.stream.root().hex()
    if manifest.get("merkle_root") != root:
        problems.append(
            (
                "gốc Merkle tính lại khác gốc trong bản kê",
                f"the Merkle root recomputed from the events ({root}) is not the manifest's "
                f"({manifest.get('merkle_root')})",
            )
        )
    if manifest.get("documents") != documents:
        problems.append(
            (
                f"bản kê ghi {manifest.get('documents')} tài liệu, tệp có {documents}",
                f"the manifest counts {manifest.get('documents')} documents, the file holds "
                f"{documents}",
            )
        )
    if manifest.get("files") != files:
        problems.append(("tệp cấu hình khác bản kê", "the configuration files differ"))
    checker = SignatureChecker()
    seals = manifest.get("seals") or []
    if [s.get("position") for s in seals] != digest.seal_positions:
        problems.append(
            (
                "các dấu niêm phong trong nhật ký khác bản kê",
                "the seals in the log are not the ones the manifest lists",
            )
        )
    for s in seals:
        head = {"tree_size": s["tree_size"], "root": s["root"], "sealed_at": s["sealed_at"]}
        if not checker.valid(s["public_key_pem"], head, s["signature"]):
            problems.append(
                (
                    f"chữ ký của dấu niêm phong ở vị trí {s['position']} không hợp lệ",
                    f"the seal at position {s['position']} has an invalid signature",
                )
            )
        elif check_roots and digest.roots_at.get(s["tree_size"]) != s["root"]:
            problems.append(
                (
                    f"nhật ký không khớp dấu niêm phong ở vị trí {s['position']}",
                    f"the log does not match the seal at position {s['position']} "
                    f"(tree size {s['tree_size']})",
                )
            )
    if problems:
        vietnamese, english = problems[0]
        raise _damaged(vietnamese, english)
    return len(seals)


def _seal_sizes_of(path: Path, key: bytes) -> frozenset[int]:
    """The tree sizes the manifest's seals cover: the manifest is the last chunk, so this
    reads the archive once to its end (authenticating every chunk on the way)."""
    for chunk in read_chunks(path, key):
        if chunk.last:
            return frozenset(int(s["tree_size"]) for s in chunk.items.get("seals") or [])
    return frozenset()


def verify_archive(path: Path, settings: Settings) -> ArchiveReport:
    """Check an archive without restoring it: every chunk authenticates and unpacks, in
    order, to the end; counts, the Merkle root and every seal agree with the manifest."""
    key = backup_key(settings)
    wanted = _seal_sizes_of(path, key)
    return _scan(path, key, wanted, lambda chunk: None)


def _scan(
    path: Path, key: bytes, wanted: frozenset[int] | None, each: Callable[[Chunk], None]
) -> ArchiveReport:
    """Read every chunk, calling ``each``; check the manifest. ``wanted``: the tree sizes
    of the seals, whose roots are then checked too (None: not here)."""
    digest = _LogDigest(wanted=wanted or frozenset())
    documents = 0
    files: dict[str, str] = {}
    header: dict[str, Any] = {}
    manifest: dict[str, Any] = {}
    chunks = 0
    for chunk in read_chunks(path, key):
        if chunk.kind == EVENTS:
            for position, oid, version, topic, state in chunk.items:
                digest.add(position, oid, version, topic, state)
        elif chunk.kind == DOCUMENTS:
            documents += len(chunk.items)
        elif chunk.kind == FILE:
            name, content = chunk.items
            files[name] = hashlib.sha256(content).hexdigest()
        elif chunk.kind == MANIFEST:
            manifest = chunk.items
            break
        else:
            raise _damaged(
                f"khối {chunk.index} có loại lạ", f"chunk {chunk.index} is of an unknown kind"
            )
        each(chunk)
        chunks += 1
    with path.open("rb") as file:
        _, header = read_header(file, path)
    seals = _check_manifest(manifest, digest, documents, files, chunks, wanted is not None)
    return ArchiveReport(
        path=path,
        header=header,
        manifest=manifest,
        chunks=chunks,
        events=digest.stream.size,
        documents=documents,
        files=sorted(files),
        seals_checked=seals,
    )


# -- restoring -------------------------------------------------------------------------------


@dataclass
class RestoreResult:
    report: ArchiveReport
    leaves_written: int
    read_models: list[str]
    files_written: list[str]
    notes: list[str]


def _refuse_other_keys(manifest_keys: dict[str, Any], settings: Settings) -> None:
    here = keys_in_use(settings)
    if manifest_keys.get("cipher_key_id") != here["cipher_key_id"]:
        raise BackupError(
            "Khóa mã hóa dữ liệu (HOSO_CIPHER_KEY) ở đây khác khóa của nơi sao lưu; "
            "không khôi phục gì",
            "the log was encrypted at rest with another cipher key than HOSO_CIPHER_KEY here "
            f"(archive: {manifest_keys.get('cipher_key_id')}, here: {here['cipher_key_id']}); "
            "nothing was restored",
        )
    wanted_fields = manifest_keys.get("field_key_ids") or []
    if wanted_fields and (
        not set(wanted_fields) <= set(here["field_key_ids"])
        or manifest_keys.get("lookup_check") != here["lookup_check"]
    ):
        raise BackupError(
            f"Thiếu khóa mã hóa trường dữ liệu ({key_file_path(settings)}) của nơi sao lưu; "
            "không khôi phục gì",
            f"the field key file {key_file_path(settings)} lacks the keys of the source "
            f"(it needs {', '.join(wanted_fields)} and the same lookup key): copy the "
            "source's file there; nothing was restored",
        )


def _stored_count(conn: Any, table: Any) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def restore(
    path: Path,
    settings: Settings,
    *,
    rebuild: bool = True,
    progress: Callable[[str], None] = lambda message: None,
) -> RestoreResult:
    """Restore the archive into the empty store ``settings`` names, in one transaction:
    a damaged archive, other keys or a store that is not empty change nothing. Then check
    the log as the store reads it back against the manifest's root and seals, write
    ``ledger_leaves`` and (``rebuild``) rebuild every read model."""
    key = backup_key(settings)
    try:
        with path.open("rb") as file:
            _, header = read_header(file, path)
    except OSError as exc:
        raise BackupError(f"Không mở được {path}", f"cannot open {path}: {exc.strerror}") from None
    _check_key_id(header, key)
    # The header names the keys the stored bytes need: checked before the store is opened
    # (it is authenticated with every chunk: an altered one fails the load below).
    _refuse_other_keys(header.get("keys") or {}, settings)

    ledger = Ledger(settings)
    engine = read_model_engine(settings, writer=True)
    try:
        documents_metadata.create_all(engine, tables=[documents_table])
        progress("loading the archive")
        files: dict[str, bytes] = {}
        # The seals' roots are checked on the log read back (the manifest comes last).
        report = _load(path, key, None, ledger, engine, files)
        progress("checking the restored log")
        positions, hashes = _check_restored(ledger, engine, report.manifest)
        progress("writing ledger_leaves")
        write_leaves(engine, 0, positions, hashes)
        last_sealed = len(hashes)
        del positions, hashes
        files_written, notes = _restore_files(files, settings)
        models: list[str] = []
        if rebuild:
            progress("rebuilding the read models")
            models = rebuild_read_models(ledger, engine)
    finally:
        engine.dispose()
        ledger.close()
    return RestoreResult(report, last_sealed, models, files_written, notes)


def _load(
    path: Path,
    key: bytes,
    wanted: frozenset[int] | None,
    ledger: Ledger,
    engine: Engine,
    files: dict[str, bytes],
) -> ArchiveReport:
    postgres = bool(ledger.settings.database_url)
    recorder: Any = ledger.recorder
    snapshots: Any = ledger.snapshots.recorder if ledger.snapshots is not None else None
    with engine.begin() as conn:
        driver: Any = conn.connection.driver_connection
        if postgres:
            schema = recorder.datastore.schema
            events = sql.Identifier(schema, recorder.events_table_name)
            driver.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(events))
            held = driver.execute(sql.SQL("SELECT count(*) FROM {}").format(events)).fetchone()[0]
            kept = 0
            if snapshots is not None:
                kept = driver.execute(
                    sql.SQL("SELECT count(*) FROM {}").format(
                        sql.Identifier(schema, snapshots.events_table_name)
                    )
                ).fetchone()[0]
        else:
            held = driver.execute(f"SELECT count(*) FROM {recorder.events_table_name}").fetchone()[
                0
            ]
            kept = 0
            if snapshots is not None:
                kept = driver.execute(
                    f"SELECT count(*) FROM {snapshots.events_table_name}"
                ).fetchone()[0]
        stored_documents = _stored_count(conn, documents_table)
        if held or kept or stored_documents:
            raise BackupError(
                "Cơ sở dữ liệu đích không trống "
                f"({held} sự kiện, {stored_documents} tài liệu); chỉ khôi phục vào cơ sở dữ "
                "liệu trống, không thay đổi gì",
                f"the target database is not empty ({held} events, {kept} snapshots, "
                f"{stored_documents} documents): a restore goes into an empty database; "
                "nothing was changed",
            )

        # On PostgreSQL the events go in by one COPY, ended before the documents go in.
        copying = ExitStack()
        copy: Any = None
        if postgres:
            statement = sql.SQL(
                "COPY {} (notification_id, originator_id, originator_version, topic, state) "
                "FROM STDIN (FORMAT BINARY)"
            ).format(events)
            copy = copying.enter_context(driver.cursor().copy(statement))
            copy.set_types(["int8", "uuid", "int8", "text", "bytea"])
        insert_sqlite = (
            f"INSERT INTO {recorder.events_table_name} "
            "(rowid, originator_id, originator_version, topic, state) VALUES (?, ?, ?, ?, ?)"
        )
        last_position = [0]

        def load(chunk: Chunk) -> None:
            if chunk.kind == EVENTS:
                rows = [
                    (position, _target_id(oid, position, postgres), version, topic, state)
                    for position, oid, version, topic, state in chunk.items
                ]
                if rows:
                    last_position[0] = rows[-1][0]
                if postgres:
                    for row in rows:
                        copy.write_row(row)
                else:
                    driver.executemany(insert_sqlite, rows)
            elif chunk.kind == FILE:
                name, content = chunk.items
                files[name] = content
            elif chunk.kind == DOCUMENTS:
                copying.close()
                conn.execute(
                    insert(documents_table),
                    [
                        {
                            "sha256": sha,
                            "media_type": media,
                            "size": size,
                            "content": content,
                            "stored_at": datetime.fromisoformat(stored_at),
                            "stored_by": stored_by,
                        }
                        for sha, media, size, content, stored_at, stored_by in chunk.items
                    ],
                )

        with copying:
            report = _scan(path, key, wanted, load)
        if postgres and last_position[0]:
            driver.execute(
                "SELECT setval(pg_get_serial_sequence(%s, 'notification_id'), %s)",
                (f'"{schema}"."{recorder.events_table_name}"', last_position[0]),
            )
    return report


def _target_id(oid: str, position: int, postgres: bool) -> UUID | str:
    try:
        value = UUID(oid)
    except ValueError:
        raise BackupError(
            f"Bản ghi ở vị trí {position} có mã không phải UUID; không khôi phục gì",
            f"the record at position {position} has an id that is not a UUID ({oid!r}): the "
            "log was damaged before it was backed up; nothing was restored",
        ) from None
    return value if postgres else value.hex


def _check_restored(
    ledger: Ledger, engine: Engine, manifest: dict[str, Any]
) -> tuple[list[int], list[bytes]]:
    """The log as the store now reads it: its root and the roots at each seal's size must
    be the manifest's. Returns the positions and leaf hashes up to the last seal."""
    seals: Sequence[dict[str, Any]] = manifest.get("seals") or []
    wanted = frozenset(int(s["tree_size"]) for s in seals)
    keep = max(wanted, default=0)
    digest = _LogDigest(wanted=wanted)
    positions: list[int] = []
    hashes: list[bytes] = []
    sqlite = not ledger.settings.database_url
    for position, originator_id, version, topic, state in _rows(ledger, engine):
        oid = leaf_id(originator_id, sqlite=sqlite)
        state = bytes(state) if state is not None else b""
        leaf = digest.add(position, oid, version, topic or "", state)
        if digest.stream.size <= keep:
            positions.append(position)
            hashes.append(leaf)
    root = digest.stream.root().hex()
    if digest.stream.size != manifest.get("events") or root != manifest.get("merkle_root"):
        raise BackupError(
            "Nhật ký sau khi khôi phục không khớp gốc Merkle của bản kê",
            f"the restored log ({digest.stream.size} events, root {root}) does not match the "
            f"manifest ({manifest.get('events')} events, root {manifest.get('merkle_root')})",
        )
    for s in seals:
        if digest.roots_at.get(int(s["tree_size"])) != s["root"]:
            raise BackupError(
                f"Nhật ký sau khi khôi phục không khớp dấu niêm phong ở vị trí {s['position']}",
                f"the restored log does not match the seal at position {s['position']}",
            )
    return positions, hashes


def _restore_files(files: dict[str, bytes], settings: Settings) -> tuple[list[str], list[str]]:
    """The configuration files of the archive, written where this instance reads them
    unless a file is there already."""
    written: list[str] = []
    notes: list[str] = []
    for name, content in files.items():
        where = CONFIG_FILES.get(name)
        if where is None:
            continue
        target = where(settings)
        if target.exists():
            if target.read_bytes() != content:
                notes.append(f"{target} differs from the archive's {name}: kept as it is")
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(content)
        written.append(str(target))
    return written, notes


def rebuild_read_models(ledger: Ledger, engine: Engine) -> list[str]:
    """Every read model, rebuilt from the log."""
    from projections import catalogue

    projector = catalogue.projector(ledger, engine)
    try:
        projector.prepare()
        for model in projector.models:
            projector.reset(model)
        projector.catch_up()
        return [model.name for model in projector.models]
    finally:
        projector.close()


# -- retention -------------------------------------------------------------------------------


def archive_time(path: Path) -> datetime | None:
    """When an archive was made, from its name; None for other files."""
    match = ARCHIVE_NAME.fullmatch(path.name)
    if match is None:
        return None
    return datetime.strptime(match.group(1), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)


def add_months(day: date, months: int) -> date:
    """The same day ``months`` later, or that month's last day when it is shorter."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    next_month = date(year + month // 12, month % 12 + 1, 1)
    last_day = (next_month - date.resolution).day
    return date(year, month, min(day.day, last_day))


def archives_to_keep(made: dict[Path, date], policy: BackupPolicy, today: date) -> set[Path]:
    """Which archives retention keeps on ``today``: the newest; every one younger than the
    policy's days (daily backups); and each month's first archive (its monthly copy) until
    ``retention_months`` have passed since it was made."""
    if not made:
        return set()
    keep = {max(made, key=lambda p: (made[p], p.name))}
    first_of_month: dict[tuple[int, int], Path] = {}
    for path in sorted(made, key=lambda p: (made[p], p.name)):
        first_of_month.setdefault((made[path].year, made[path].month), path)
        if policy.retention_days and (today - made[path]).days < policy.retention_days:
            keep.add(path)
    for path in first_of_month.values():
        if today < add_months(made[path], policy.retention_months):
            keep.add(path)
    return keep


def apply_retention(directory: Path, policy: BackupPolicy, today: date) -> list[Path]:
    """Move the archives retention no longer keeps into ``directory/expired``; returns
    where they are now. Nothing is deleted: what becomes of expired copies (deleted, or
    taken off-site) is the operator's decision, past the minimum the regulation sets."""
    made = {
        path: time.astimezone(BUSINESS_ZONE).date()
        for path in sorted(directory.glob(f"*{SUFFIX}"))
        if (time := archive_time(path)) is not None
    }
    keep = archives_to_keep(made, policy, today)
    moved: list[Path] = []
    expired = directory / EXPIRED_DIRECTORY
    for path in sorted(made):
        if path in keep:
            continue
        expired.mkdir(exist_ok=True)
        target = expired / path.name
        os.replace(path, target)
        moved.append(target)
    return moved
