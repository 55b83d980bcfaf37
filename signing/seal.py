"""Sealing the event log, and checking it against its seals.

A seal is a signed tree head over every stored event record in log order: the RFC 9162
Merkle tree (:mod:`signing.merkle`) whose leaf ``i`` is the ``i``-th record of the log.
A leaf's data is an unambiguous, length-prefixed encoding of the record as stored
(big-endian integers; text in UTF-8)::

    u32 len(id)    || id        the originator id, as text (see below)
    i64 version                 the originator version
    u32 len(topic) || topic
    u32 len(state) || state     the stored bytes, compressed and encrypted as they are

and its hash is ``SHA-256(0x00 || data)``. The id is the UUID's standard 36-character form
whichever database holds it (PostgreSQL's uuid reads so; SQLite keeps the 32 hex digits it
stands for), so that a log restored into the other database keeps its seals. On SQLite an
id stored in any other spelling is no longer found by its aggregate: it is named as it is
stored, behind a ``!`` that no UUID starts with, so its leaf can only differ and the
rewrite is caught.

The tree head ``{tree_size, root, sealed_at}`` (root in lower-case hex, ``sealed_at`` a
UTC ISO time) is signed over its RFC 8785 canonical JSON with the instance's seal key, an
ECDSA P-256 key in PEM (file named by ``HOSO_SEAL_KEY_FILE``, by default
``<data_dir>/seal-key.pem``, made on the first seal, readable by its owner only). The
head, the signature and the public key are recorded as a ``LedgerSeal.Sealed`` event:
seals are part of the log, and each seal covers the ones before it.

The leaf hashes are also kept per position in the ``ledger_leaves`` table, written at seal
time: the signed roots say *that* the log changed, the table says *where*. The table is
checked against the signed roots as well, so a table edited along with the log is caught;
the change is then placed between two seals instead of at one position.

Log positions are notification ids. They may have gaps (PostgreSQL does not reuse the
ids of rolled-back inserts), so leaf ``i`` is the ``i``-th record, not the record with id
``i + 1``; ``ledger_leaves`` keeps both.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import islice, pairwise
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import psycopg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError, StoredEvent
from eventsourcing.utils import get_topic
from psycopg import sql
from sqlalchemy import (
    BigInteger,
    Column,
    Engine,
    LargeBinary,
    MetaData,
    Table,
    column,
    delete,
    inspect,
    literal_column,
    select,
    table,
)
from sqlalchemy.sql.expression import ColumnElement, TableClause

from domain.application import Ledger
from domain.seal import SEAL_ID, LedgerSeal
from domain.settings import Settings
from signing.canonical import canonical_json
from signing.merkle import HASH_SIZE, MerkleTree, verify_consistency

SEAL_KEY_VARIABLE = "HOSO_SEAL_KEY_FILE"
SEALED_TOPIC = get_topic(LedgerSeal.Sealed)  # type: ignore[attr-defined]
OPENED_TOPIC = get_topic(LedgerSeal.Opened)  # type: ignore[attr-defined]
PAGE_SIZE = 20_000
WRITE_BATCH = 20_000

leaves_metadata = MetaData()
ledger_leaves = Table(
    "ledger_leaves",
    leaves_metadata,
    Column("leaf_index", BigInteger, primary_key=True, autoincrement=False),
    Column("position", BigInteger, nullable=False),
    Column("leaf_hash", LargeBinary(32), nullable=False),
)


class SealError(Exception):
    """A seal or a proof that cannot be made: the message says why."""


# -- leaves ----------------------------------------------------------------------------------

_U32 = struct.Struct(">I")
_I64 = struct.Struct(">q")
_sha256 = hashlib.sha256


_SQLITE_ID = re.compile(r"[0-9a-f]{32}")
_STANDARD_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def leaf_id(originator_id: UUID | str, *, sqlite: bool = False) -> str:
    """The originator id as a leaf names it (see the module's documentation). ``sqlite``:
    the id is read from SQLite, where only the 32 hex digits the recorder writes are found
    by their aggregate."""
    if isinstance(originator_id, UUID):
        return str(originator_id)
    text = str(originator_id)
    if _SQLITE_ID.fullmatch(text):
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
    if sqlite:
        return "!" + text
    return text


def leaf_data(
    originator_id: UUID | str,
    originator_version: int,
    topic: str,
    state: bytes,
    *,
    sqlite: bool = False,
) -> bytes:
    """The leaf data of one stored event record (see the module's documentation)."""
    oid = leaf_id(originator_id, sqlite=sqlite).encode()
    top = topic.encode()
    return b"".join(
        (
            _U32.pack(len(oid)),
            oid,
            _I64.pack(originator_version),
            _U32.pack(len(top)),
            top,
            _U32.pack(len(state)),
            state,
        )
    )


def record_leaf_hash(
    originator_id: UUID | str,
    originator_version: int,
    topic: str,
    state: bytes,
    *,
    sqlite: bool = False,
) -> bytes:
    data = leaf_data(originator_id, originator_version, topic, state, sqlite=sqlite)
    return _sha256(b"\x00" + data).digest()


# -- the key and the signed tree head --------------------------------------------------------


def seal_key_path(settings: Settings) -> Path:
    value = os.environ.get(SEAL_KEY_VARIABLE, "").strip()
    return Path(value) if value else settings.data_dir / "seal-key.pem"


def load_seal_key(path: Path) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise SealError(f"cannot read the seal key {path}: {exc}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != "secp256r1":
        raise SealError(f"the seal key {path} is not an ECDSA P-256 private key")
    return key


def create_seal_key(path: Path) -> ec.EllipticCurvePrivateKey:
    """A new P-256 key in ``path``, readable by its owner only from the first byte."""
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(pem)
    return key


def public_key_pem(key: ec.EllipticCurvePrivateKey | ec.EllipticCurvePublicKey) -> str:
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def _public_key_der(pem: str) -> bytes | None:
    """The SubjectPublicKeyInfo DER of a PEM public key (or private key), or None."""
    data = pem.encode()
    try:
        public: Any = serialization.load_pem_public_key(data)
    except ValueError:
        try:
            public = serialization.load_pem_private_key(data, password=None).public_key()
        except (ValueError, TypeError):
            return None
    return bytes(
        public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def key_fingerprint(pem: str) -> str:
    """SHA-256 of the public key's SubjectPublicKeyInfo, in hex."""
    der = _public_key_der(pem)
    return hashlib.sha256(der).hexdigest() if der is not None else "(unreadable key)"


def same_public_key(a: str, b: str) -> bool:
    der_a, der_b = _public_key_der(a), _public_key_der(b)
    return der_a is not None and der_a == der_b


def tree_head(tree_size: int, root: str, sealed_at: str) -> dict[str, Any]:
    return {"tree_size": tree_size, "root": root, "sealed_at": sealed_at}


def sign_tree_head(key: ec.EllipticCurvePrivateKey, head: dict[str, Any]) -> str:
    """ECDSA P-256 with SHA-256 over the head's RFC 8785 JSON; DER, in base64."""
    return base64.b64encode(key.sign(canonical_json(head), ec.ECDSA(hashes.SHA256()))).decode()


class SignatureChecker:
    """Checks tree-head signatures, loading each public key once."""

    def __init__(self) -> None:
        self._keys: dict[str, ec.EllipticCurvePublicKey | None] = {}

    def _key(self, pem: str) -> ec.EllipticCurvePublicKey | None:
        if pem not in self._keys:
            try:
                key = serialization.load_pem_public_key(pem.encode())
            except (ValueError, TypeError):
                key = None
            ok = isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == "secp256r1"
            self._keys[pem] = key if ok else None  # type: ignore[assignment]
        return self._keys[pem]

    def valid(self, pem: str, head: dict[str, Any], signature: str) -> bool:
        key = self._key(pem)
        if key is None:
            return False
        try:
            key.verify(
                base64.b64decode(signature, validate=True),
                canonical_json(head),
                ec.ECDSA(hashes.SHA256()),
            )
        except (InvalidSignature, ValueError):
            return False
        return True


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


# -- reading the log -------------------------------------------------------------------------


@dataclass(frozen=True)
class SealRecord:
    """A ``Sealed`` event as found in the log."""

    position: int
    leaf_index: int
    version: int
    tree_size: int
    root: str
    sealed_at: str
    signature: str
    public_key_pem: str

    @property
    def head(self) -> dict[str, Any]:
        return tree_head(self.tree_size, self.root, self.sealed_at)

    def as_json(self) -> dict[str, Any]:
        return {
            "tree_head": self.head,
            "signature": self.signature,
            "public_key_pem": self.public_key_pem,
            "seal_position": self.position,
        }


@dataclass(frozen=True)
class Problem:
    """Something that does not match: ``position`` is the log position it names."""

    kind: str  # edited, deleted, inserted, reordered, swapped, altered, seal, leaves
    message: str
    position: int | None = None
    leaf_index: int | None = None
    span: str = ""  # where, when it is more than one position

    @property
    def where(self) -> str:
        if self.span:
            return self.span
        return f"position {self.position}" if self.position is not None else "the seals"

    def __str__(self) -> str:
        return f"{self.where}: {self.message}"


@dataclass
class Log:
    """The log as it is stored now: a leaf hash per record, and its seals."""

    positions: list[int] = field(default_factory=list)
    hashes: list[bytes] = field(default_factory=list)
    seals: list[SealRecord] = field(default_factory=list)
    seal_versions: list[tuple[int, int]] = field(default_factory=list)  # (position, version)
    problems: list[Problem] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.hashes)


def _sqlite_events(name: str) -> tuple[TableClause, ColumnElement[Any]]:
    """The SQLite recorder's table; a record's position is its rowid."""
    events = table(
        name,
        *(column(name) for name in ("originator_id", "originator_version", "topic", "state")),
    )
    return events, literal_column("rowid")


def _rows(
    ledger: Ledger, engine: Engine, *, stop: int | None = None, positions: Sequence[int] = ()
) -> Iterator[Sequence[Any]]:
    """(position, originator id, version, topic, state) of stored records, in log order."""
    if ledger.settings.database_url:
        yield from _postgres_rows(ledger, engine, stop=stop, positions=positions)
        return
    events, position = _sqlite_events(ledger.recorder.events_table_name)  # type: ignore[attr-defined]
    query = select(
        position,
        events.c.originator_id,
        events.c.originator_version,
        events.c.topic,
        events.c.state,
    ).order_by(position)
    if stop is not None:
        query = query.where(position <= stop)
    if positions:
        query = query.where(position.in_(list(positions)))
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=PAGE_SIZE).execute(query)
        for rows in result.partitions():
            yield from rows


def _postgres_rows(
    ledger: Ledger, engine: Engine, *, stop: int | None, positions: Sequence[int]
) -> Iterator[Sequence[Any]]:
    """The same rows through a server-side cursor in binary format: bytea travels as
    bytes rather than as hex text, which makes a full scan a third faster."""
    recorder: Any = ledger.recorder
    conditions: list[sql.Composable] = []
    params: list[Any] = []
    if stop is not None:
        conditions.append(sql.SQL("notification_id <= %s"))
        params.append(stop)
    if positions:
        conditions.append(sql.SQL("notification_id = ANY(%s)"))
        params.append(list(positions))
    where = sql.SQL(" WHERE ") + sql.SQL(" AND ").join(conditions) if conditions else sql.SQL("")
    query = sql.SQL(
        "SELECT notification_id, originator_id, originator_version, topic, state FROM {}{} "
        "ORDER BY notification_id"
    ).format(sql.Identifier(recorder.datastore.schema, recorder.events_table_name), where)
    raw = engine.raw_connection()
    try:
        conn: psycopg.Connection[Any] = raw.driver_connection  # type: ignore[assignment]
        with conn.cursor(name=f"hoso_seal_{uuid4().hex[:12]}", binary=True) as cursor:
            cursor.itersize = PAGE_SIZE
            cursor.execute(query, params)
            while rows := cursor.fetchmany(PAGE_SIZE):
                yield from rows
        conn.rollback()
    finally:
        raw.close()


def read_log(ledger: Ledger, engine: Engine, *, stop: int | None = None) -> Log:
    """Every stored record up to ``stop`` (all by default): its leaf hash, and the seals."""
    log = Log()
    positions, hashes = log.positions, log.hashes
    add_position, add_hash = positions.append, hashes.append
    u32, i64 = _U32.pack, _I64.pack
    seal_ids = (str(SEAL_ID), SEAL_ID.hex)
    seal_topics = (SEALED_TOPIC, OPENED_TOPIC)
    sqlite = not ledger.settings.database_url
    for pos, originator_id, version, topic, state in _rows(ledger, engine, stop=stop):
        try:
            oid = str(originator_id)
            state = bytes(state) if state is not None else b""
            topic = topic or ""
            oid_bytes = leaf_id(originator_id, sqlite=sqlite).encode()
            topic_bytes = topic.encode()
            leaf = _sha256(
                b"\x00"
                + u32(len(oid_bytes))
                + oid_bytes
                + i64(version)
                + u32(len(topic_bytes))
                + topic_bytes
                + u32(len(state))
                + state
            ).digest()
        except (TypeError, ValueError, AttributeError, UnicodeError, struct.error):
            # A record edited into something the recorder never writes (a version that is
            # not an integer, say): its leaf can only differ from the sealed one.
            leaf = _sha256(b"\x02" + repr((originator_id, version, topic, state)).encode()).digest()
            add_hash(leaf)
            add_position(pos)
            continue
        add_hash(leaf)
        add_position(pos)
        if oid in seal_ids or topic in seal_topics:
            _seal_event(ledger, log, pos, oid, version, topic, state)
    return log


def _seal_event(
    ledger: Ledger, log: Log, position: int, oid: str, version: int, topic: str, state: bytes
) -> None:
    leaf_index = len(log.hashes) - 1
    if oid not in (str(SEAL_ID), SEAL_ID.hex):
        log.problems.append(
            Problem(
                "seal",
                f"a seal event of another aggregate ({oid})",
                position,
                leaf_index,
            )
        )
        return
    log.seal_versions.append((position, version))
    if topic != SEALED_TOPIC:
        return
    try:
        stored = StoredEvent(
            originator_id=UUID(oid), originator_version=version, topic=topic, state=state
        )
        sealed: Any = ledger.mapper.to_domain_event(stored)
        record = SealRecord(
            position=position,
            leaf_index=leaf_index,
            version=version,
            tree_size=int(sealed.tree_size),
            root=str(sealed.root),
            sealed_at=str(sealed.sealed_at),
            signature=str(sealed.signature),
            public_key_pem=str(sealed.public_key_pem),
        )
    except Exception as exc:  # a seal edited into something unreadable
        log.problems.append(
            Problem(
                "seal",
                f"the seal event cannot be read ({type(exc).__name__})",
                position,
                leaf_index,
            )
        )
        return
    log.seals.append(record)


@dataclass
class Leaves:
    """The ``ledger_leaves`` table: positions and leaf hashes by leaf index."""

    positions: list[int] = field(default_factory=list)
    hashes: list[bytes] = field(default_factory=list)
    gap_at: int | None = None  # the first missing leaf index, if rows were deleted

    def __len__(self) -> int:
        return len(self.hashes)


def _leaves_table_exists(engine: Engine, settings: Settings) -> bool:
    schema = settings.database_schema or None if settings.database_url else None
    with engine.connect() as conn:
        return bool(inspect(conn).has_table(ledger_leaves.name, schema=schema))


def _leaves_target(engine: Engine) -> sql.Identifier:
    """``ledger_leaves`` in the schema the engine maps to (PostgreSQL)."""
    schema = (engine.get_execution_options().get("schema_translate_map") or {}).get(None)
    return (
        sql.Identifier(schema, ledger_leaves.name) if schema else sql.Identifier(ledger_leaves.name)
    )


def _leaf_rows(engine: Engine) -> Iterator[Sequence[Any]]:
    """(leaf_index, position, leaf_hash) in leaf order, through the driver: a million rows
    is a full read at every seal and every verify."""
    raw = engine.raw_connection()
    try:
        driver: Any = raw.driver_connection
        if engine.dialect.name == "postgresql":
            query = sql.SQL("SELECT leaf_index, position, leaf_hash FROM {} ORDER BY leaf_index")
            with driver.cursor(name=f"hoso_leaves_{uuid4().hex[:12]}", binary=True) as cursor:
                cursor.itersize = PAGE_SIZE
                cursor.execute(query.format(_leaves_target(engine)))
                while rows := cursor.fetchmany(PAGE_SIZE):
                    yield from rows
            driver.rollback()
            return
        cursor = driver.execute(
            f"SELECT leaf_index, position, leaf_hash FROM {ledger_leaves.name} ORDER BY leaf_index"
        )
        try:
            while rows := cursor.fetchmany(PAGE_SIZE):
                yield from rows
        finally:
            cursor.close()
    finally:
        raw.close()


def read_leaves(engine: Engine, settings: Settings) -> Leaves:
    leaves = Leaves()
    if not _leaves_table_exists(engine, settings):
        return leaves
    add_position, add_hash = leaves.positions.append, leaves.hashes.append
    for expected, (leaf_index, position, leaf_hash) in enumerate(_leaf_rows(engine)):
        if leaf_index != expected:
            leaves.gap_at = expected
            break
        value = bytes(leaf_hash or b"")
        if len(value) != HASH_SIZE:  # not a hash at all: it can only fail to match
            value = _sha256(b"\x03" + value).digest()
        add_position(position)
        add_hash(value)
    return leaves


def write_leaves(
    engine: Engine, start: int, positions: Sequence[int], hashes: Sequence[bytes]
) -> None:
    """Replace the table's leaves from ``start`` on with the given ones, in one
    transaction."""
    leaves_metadata.create_all(engine, tables=[ledger_leaves])
    rows = ((start + k, p, h) for k, (p, h) in enumerate(zip(positions, hashes, strict=True)))
    with engine.begin() as conn:
        conn.execute(delete(ledger_leaves).where(ledger_leaves.c.leaf_index >= start))
        if conn.dialect.name == "postgresql":
            # COPY in binary: a million leaves in seconds, in the same transaction.
            driver: Any = conn.connection.driver_connection
            statement = sql.SQL(
                "COPY {} (leaf_index, position, leaf_hash) FROM STDIN (FORMAT BINARY)"
            ).format(_leaves_target(engine))
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                copy.set_types(["int8", "int8", "bytea"])
                for row in rows:
                    copy.write_row(row)
            return
        insert_row = (
            f"INSERT INTO {ledger_leaves.name} (leaf_index, position, leaf_hash) VALUES (?, ?, ?)"
        )
        while batch := list(islice(rows, WRITE_BATCH)):
            conn.exec_driver_sql(insert_row, batch)


def _first_difference(a: Sequence[Any], b: Sequence[Any], start: int, end: int) -> int:
    """The first index in ``[start, end)`` where ``a`` and ``b`` differ (or one ends), or
    ``end``."""
    end_both = min(end, len(a), len(b))
    if start < end_both and a[start:end_both] != b[start:end_both]:
        for i in range(start, end_both):
            if a[i] != b[i]:
                return i
    return end_both


# -- sealing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class SealResult:
    tree_size: int
    root: str
    sealed_at: str
    position: int  # where the Sealed event was recorded
    key_path: Path
    key_created: bool
    leaves_written: int
    repaired_from: int | None  # the leaf index from which ledger_leaves was rewritten


def _open_seal(ledger: Ledger) -> LedgerSeal:
    try:
        found: LedgerSeal = ledger.repository.get(SEAL_ID)
    except AggregateNotFoundError:
        return LedgerSeal()
    return found


def seal(
    ledger: Ledger,
    engine: Engine,
    *,
    key_path: Path | None = None,
    repair_leaves: bool = False,
    clock: Callable[[], str] = utc_now,
) -> SealResult:
    """Seal every record stored so far. Refuses when the log no longer matches its last
    seal, or when ``ledger_leaves`` disagrees with the log (unless ``repair_leaves``: the
    log, checked against the last seal, is then written over the table)."""
    key_path = key_path or seal_key_path(ledger.settings)
    # The seal aggregate first: a seal recorded by someone else while this one reads the
    # log makes this one's save fail, so seals never go back in tree size.
    aggregate = _open_seal(ledger)
    log = read_log(ledger, engine)
    if log.problems:
        raise SealError(f"{log.problems[0].message}; run `hoso verify`")
    last = log.seals[-1] if log.seals else None
    if last is not None and not key_path.exists():
        raise SealError(
            f"the log has seals but the seal key {key_path} is missing: restore it "
            f"(or set {SEAL_KEY_VARIABLE})"
        )
    key_created = not key_path.exists()
    key = create_seal_key(key_path) if key_created else load_seal_key(key_path)
    our_key = public_key_pem(key)
    tree = MerkleTree(log.hashes)
    if last is not None:
        if not same_public_key(last.public_key_pem, our_key):
            raise SealError(
                f"the seal at position {last.position} was made with another key than {key_path}"
            )
        if not SignatureChecker().valid(last.public_key_pem, last.head, last.signature):
            raise SealError(
                f"the seal at position {last.position} has an invalid signature; run `hoso verify`"
            )
        if last.tree_size > len(tree) or tree.root(last.tree_size).hex() != last.root:
            raise SealError(
                f"the log no longer matches the seal at position {last.position} "
                f"(tree size {last.tree_size}); run `hoso verify`"
            )
    sealed_size = last.tree_size if last is not None else 0

    # The table of leaves must agree with the log where it has been sealed before.
    leaves = read_leaves(engine, ledger.settings)
    usable = len(leaves) if leaves.gap_at is None else leaves.gap_at
    agree = min(
        _first_difference(leaves.hashes, log.hashes, 0, min(usable, sealed_size)),
        _first_difference(leaves.positions, log.positions, 0, min(usable, sealed_size)),
    )
    damaged = agree < min(usable, sealed_size) or leaves.gap_at is not None
    beyond = usable > sealed_size
    if (damaged or beyond) and not repair_leaves:
        where = (
            f"at leaf {agree} (position {log.positions[agree]})"
            if agree < min(usable, sealed_size)
            else f"past the last seal (it holds {usable} leaves, the seal covers {sealed_size})"
            if beyond
            else f"at leaf {leaves.gap_at} (missing)"
        )
        raise SealError(
            f"ledger_leaves disagrees with the log {where}; run `hoso verify`, then "
            "`hoso seal --repair-leaves` to rewrite it from the log"
        )

    size = len(tree)
    root = tree.root().hex()
    sealed_at = clock()
    head = tree_head(size, root, sealed_at)
    aggregate.record_seal(
        tree_size=size,
        root=root,
        sealed_at=sealed_at,
        signature=sign_tree_head(key, head),
        public_key_pem=our_key,
    )
    try:
        recordings = ledger.save(aggregate)
    except IntegrityError:
        raise SealError("another seal was recorded at the same time: seal again") from None
    position = int(recordings[-1].notification.id)

    start = min(agree, usable, sealed_size)
    write_leaves(engine, start, log.positions[start:size], log.hashes[start:size])
    repaired = start < usable
    return SealResult(
        tree_size=size,
        root=root,
        sealed_at=sealed_at,
        position=position,
        key_path=key_path,
        key_created=key_created,
        leaves_written=size - start,
        repaired_from=start if repaired else None,
    )


# -- verifying -------------------------------------------------------------------------------


@dataclass
class VerifyReport:
    events: int
    seals: list[SealRecord]
    valid_seals: list[SealRecord]
    leaves: int
    problems: list[Problem]
    notes: list[str]
    pinned_key: str | None  # fingerprint of the key the seals must be signed with
    consistency_proofs: int = 0  # between consecutive seals, checked

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def sealed_size(self) -> int:
        return self.valid_seals[-1].tree_size if self.valid_seals else 0

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None


def pinned_key_pem(settings: Settings, public_key: Path | None = None) -> str | None:
    """The public key seals must carry: from ``public_key`` (a PEM public or private key)
    if given, else from the instance's seal key file if it exists."""
    path = public_key or seal_key_path(settings)
    if not path.exists():
        if public_key is not None:
            raise SealError(f"no key file {public_key}")
        return None
    der = _public_key_der(path.read_text())
    if der is None:
        raise SealError(f"{path} holds no readable PEM key")
    return (
        serialization.load_der_public_key(der)
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def _check_seals(
    log: Log, pinned: str | None, checker: SignatureChecker
) -> tuple[list[SealRecord], list[Problem]]:
    valid: list[SealRecord] = []
    problems: list[Problem] = []
    reference = pinned
    for s in log.seals:
        where = f"the seal of tree size {s.tree_size}"
        problem: str | None = None
        if not checker.valid(s.public_key_pem, s.head, s.signature):
            problem = f"{where} has an invalid signature"
        elif reference is not None and not same_public_key(s.public_key_pem, reference):
            whose = "the instance's seal key" if pinned else "the first seal's key"
            problem = f"{where} is signed with another key than {whose}"
        elif valid and s.tree_size < valid[-1].tree_size:
            problem = f"{where} is smaller than the seal at position {valid[-1].position}"
        if problem is not None:
            problems.append(Problem("seal", problem, s.position, s.leaf_index))
            continue
        reference = reference or s.public_key_pem
        valid.append(s)
    # The seal aggregate's versions run 1, 2, 3... in log order: a missing one was deleted.
    for k, (position, version) in enumerate(log.seal_versions, start=1):
        if version != k:
            problems.append(
                Problem(
                    "seal",
                    f"seal event version {version} where {k} was "
                    "expected: a seal event is missing or out of order",
                    position,
                )
            )
            break
    return valid, problems


def _first_failing(tree: MerkleTree, seals: Sequence[SealRecord]) -> int | None:
    for j, s in enumerate(seals):
        if s.tree_size > tree.size or tree.root(s.tree_size).hex() != s.root:
            return j
    return None


class _Locator:
    """Names what happened at the first leaf where the log departs from trusted leaves."""

    def __init__(self, ledger: Ledger, engine: Engine, log: Log, leaves: Leaves) -> None:
        self.ledger, self.engine, self.log, self.leaves = ledger, engine, log, leaves
        self._in_log: set[bytes] | None = None
        self._in_table: dict[bytes, int] | None = None

    def in_log(self, h: bytes) -> bool:
        if self._in_log is None:
            self._in_log = set(self.log.hashes)
        return h in self._in_log

    def table_index(self, h: bytes) -> int | None:
        if self._in_table is None:
            self._in_table = {v: k for k, v in enumerate(self.leaves.hashes)}
        return self._in_table.get(h)

    def log_index(self, h: bytes) -> int:
        return self.log.hashes.index(h)

    def locate(self, start: int, end: int) -> Problem | None:
        """The first difference in ``[start, end)``, where the table is trusted."""
        log, leaves = self.log, self.leaves
        i = _first_difference(log.hashes, leaves.hashes, start, end)
        if i >= end:
            return None
        sealed_pos = leaves.positions[i]
        if i >= len(log):
            return Problem(
                "deleted",
                f"the sealed event is missing (deleted) — leaf {i}; the log ends before it",
                sealed_pos,
                i,
            )
        t, c = leaves.hashes[i], log.hashes[i]
        now_pos = log.positions[i]
        t_gone, c_new = not self.in_log(t), self.table_index(c) is None
        if t_gone and c_new:
            swapped = self._swap(i, end)
            if swapped is not None:
                return swapped
            return Problem(
                "edited",
                f"the stored event was edited (its id, version, topic or bytes differ from "
                f"what was sealed as position {sealed_pos}) — leaf {i}",
                now_pos,
                i,
            )
        if t_gone:
            return Problem(
                "deleted",
                f"the sealed event is missing (deleted) — leaf {i}",
                sealed_pos,
                i,
            )
        if c_new:
            return Problem(
                "inserted",
                f"an event that was never sealed was inserted before the event sealed at "
                f"position {sealed_pos} — leaf {i}",
                now_pos,
                i,
            )
        moved_to = log.positions[self.log_index(t)]
        return Problem(
            "reordered",
            f"the log was reordered — the event sealed here is now at position {moved_to}, "
            f"and position {now_pos} holds the one sealed at position "
            f"{leaves.positions[self.table_index(c) or 0]} — leaf {i}",
            sealed_pos,
            i,
        )

    def _swap(self, i: int, end: int) -> Problem | None:
        """Two records whose topics and bytes were exchanged."""
        log, leaves = self.log, self.leaves
        if len(log) != len(leaves) and end > min(len(log), len(leaves)):
            end = min(len(log), len(leaves))
        others: list[int] = []
        for j in range(i + 1, min(end, len(log))):
            if log.hashes[j] != leaves.hashes[j]:
                others.append(j)
                if len(others) >= 32:
                    break
        if not others:
            return None
        wanted = [log.positions[i], *(log.positions[j] for j in others)]
        rows = {row[0]: row for row in _rows(self.ledger, self.engine, positions=wanted)}
        first = rows.get(log.positions[i])
        if first is None:
            return None
        for j in others:
            other = rows.get(log.positions[j])
            if other is None:
                continue
            sqlite = not self.ledger.settings.database_url
            a = record_leaf_hash(
                first[1], first[2], other[3] or "", bytes(other[4] or b""), sqlite=sqlite
            )
            b = record_leaf_hash(
                other[1], other[2], first[3] or "", bytes(first[4] or b""), sqlite=sqlite
            )
            if a == leaves.hashes[i] and b == leaves.hashes[j]:
                p, q = log.positions[i], log.positions[j]
                return Problem(
                    "swapped",
                    f"the stored topics and bytes of positions {p} and {q} were swapped "
                    f"— leaves {i} and {j}",
                    p,
                    i,
                )
        return None


def verify(
    ledger: Ledger,
    engine: Engine,
    *,
    public_key: Path | None = None,
) -> VerifyReport:
    """Recompute every seal's tree from the log as stored now and from ``ledger_leaves``;
    check every signature; name the first position that differs from what was sealed."""
    settings = ledger.settings
    pinned = pinned_key_pem(settings, public_key)
    log = read_log(ledger, engine)
    leaves = read_leaves(engine, settings)
    checker = SignatureChecker()
    valid, seal_problems = _check_seals(log, pinned, checker)
    problems: list[Problem] = list(log.problems)
    notes: list[str] = []
    if pinned is None:
        notes.append(
            "no seal key here: signatures were checked against the key the seals carry "
            "(pin one with --public-key)"
        )

    log_tree = MerkleTree(log.hashes)
    table_tree = MerkleTree(leaves.hashes)
    jc = _first_failing(log_tree, valid)
    jt = _first_failing(table_tree, valid)
    last_size = valid[-1].tree_size if valid else 0
    good_log = valid[jc - 1].tree_size if jc else 0
    good_table = last_size if jt is None else (valid[jt - 1].tree_size if jt else 0)
    locator = _Locator(ledger, engine, log, leaves)

    def position_at(i: int) -> int | None:
        if i < len(leaves):
            return leaves.positions[i]
        return log.positions[i] if i < len(log) else None

    log_problem: Problem | None = None
    if jc is not None:
        bad = valid[jc]
        log_problem = locator.locate(good_log, min(good_table, bad.tree_size))
        if log_problem is None:
            start = max(good_log, good_table)
            first_pos, last_pos = position_at(start), position_at(bad.tree_size - 1)
            since = (
                f"the seal at position {valid[jc - 1].position} still matches"
                if jc
                else "no earlier seal matches"
            )
            log_problem = Problem(
                "altered",
                f"the log no longer matches the seal at position {bad.position} (tree size "
                f"{bad.tree_size}; {since}): an event in this range was edited, deleted, "
                "inserted or moved; ledger_leaves was altered too, so the exact event cannot "
                "be named",
                first_pos,
                start,
                span=f"positions {first_pos}–{last_pos}",
            )
    if log_problem is not None:
        problems.append(log_problem)

    # Each seal extends the one before it: RFC 9162 consistency proofs between consecutive
    # seals that match the log, checked against their signed roots.
    matching = valid[:jc] if jc is not None else valid
    consistency_proofs = 0
    for a, b in pairwise(matching):
        path = log_tree.consistency_proof(a.tree_size, b.tree_size)
        if verify_consistency(
            a.tree_size, b.tree_size, bytes.fromhex(a.root), bytes.fromhex(b.root), path
        ):
            consistency_proofs += 1
        else:
            problems.append(
                Problem(
                    "seal",
                    f"the seal of tree size {b.tree_size} does not extend the seal at "
                    f"position {a.position}",
                    b.position,
                    b.leaf_index,
                )
            )

    if jt is not None:
        bad = valid[jt]
        if (
            len(leaves) < bad.tree_size
            and jc is None
            and leaves.hashes == log.hashes[: len(leaves)]
        ):
            missing = leaves.gap_at if leaves.gap_at is not None else len(leaves)
            problems.append(
                Problem(
                    "leaves",
                    f"ledger_leaves stops at leaf {missing} but the seal at position "
                    f"{bad.position} covers {bad.tree_size} records (rows deleted, or a seal "
                    "was interrupted); the log itself matches: `hoso seal` writes the missing "
                    "leaves from it",
                    position_at(missing),
                    missing,
                )
            )
        elif jc is None or jc > jt:
            # The log matches this seal: it shows which row of the table was changed.
            i = _first_difference(leaves.hashes, log.hashes, good_table, bad.tree_size)
            problems.append(
                Problem(
                    "leaves",
                    f"ledger_leaves was altered: leaf {i} holds another hash than the log, "
                    f"which itself matches the seal at position {bad.position}",
                    position_at(i),
                    i,
                )
            )
        else:
            problems.append(
                Problem(
                    "leaves",
                    f"ledger_leaves no longer matches the seal at position {bad.position} "
                    f"(tree size {bad.tree_size}): rows in this range were altered",
                    position_at(good_table),
                    good_table,
                    span=(f"positions {position_at(good_table)}–{position_at(bad.tree_size - 1)}"),
                )
            )
    elif leaves.gap_at is not None and leaves.gap_at < last_size:
        problems.append(
            Problem("leaves", f"ledger_leaves lacks leaf {leaves.gap_at}", None, leaves.gap_at)
        )
    if len(leaves) > last_size:
        problems.append(
            Problem(
                "seal",
                f"ledger_leaves holds {len(leaves)} leaves but the last "
                f"valid seal covers {last_size}: a later seal was deleted or altered",
                position_at(last_size),
                last_size,
            )
        )
    if not log.seals and not valid and pinned is not None and public_key is None and len(log):
        problems.append(
            Problem(
                "seal",
                "the log holds no seal although this instance has a seal key: seals were "
                "deleted, or the log was never sealed with this key",
            )
        )
    if jc is None and jt is None:
        same_positions = leaves.positions[:last_size] == log.positions[:last_size]
        if not same_positions:
            i = _first_difference(leaves.positions, log.positions, 0, last_size)
            notes.append(
                f"leaf {i} was sealed at position {position_at(i)} and is now at position "
                f"{log.positions[i]}: the records are intact but were renumbered"
            )
    problems.extend(seal_problems)
    problems.sort(key=_problem_order)
    if len(log) > last_size:
        notes.append(f"{len(log) - last_size} events after the last seal are not sealed yet")
    if not log.seals:
        notes.append("nothing has been sealed yet")
    return VerifyReport(
        events=len(log),
        seals=log.seals,
        valid_seals=valid,
        leaves=len(leaves),
        problems=problems,
        notes=notes,
        pinned_key=key_fingerprint(pinned) if pinned else None,
        consistency_proofs=consistency_proofs,
    )


_KIND_ORDER = {
    "edited": 0,
    "deleted": 0,
    "inserted": 0,
    "reordered": 0,
    "swapped": 0,
    "altered": 0,
    "seal": 1,
    "leaves": 2,
}


def _problem_order(problem: Problem) -> tuple[int, int]:
    index = problem.leaf_index if problem.leaf_index is not None else 1 << 62
    return (_KIND_ORDER.get(problem.kind, 3), index)


# -- proofs ----------------------------------------------------------------------------------

LEAF_ENCODING = (
    "SHA-256(0x00 || u32 len(originator_id) || originator_id || i64 originator_version || "
    "u32 len(topic) || topic || u32 len(state) || state); big-endian integers, text in UTF-8; "
    "originator_id in the UUID's 36-character form"
)
SIGNATURE_SCHEME = (
    "ECDSA P-256 with SHA-256 (DER, base64) over the RFC 8785 canonical JSON of tree_head"
)


def _checked_log(ledger: Ledger, engine: Engine) -> tuple[Log, MerkleTree, list[SealRecord]]:
    log = read_log(ledger, engine)
    pinned = pinned_key_pem(ledger.settings)
    valid, _ = _check_seals(log, pinned, SignatureChecker())
    tree = MerkleTree(log.hashes)
    return log, tree, valid


def _matching(tree: MerkleTree, s: SealRecord) -> None:
    if s.tree_size > tree.size or tree.root(s.tree_size).hex() != s.root:
        raise SealError(
            f"the log no longer matches the seal at position {s.position}; run `hoso verify`"
        )


def inclusion_proof_document(ledger: Ledger, engine: Engine, position: int) -> dict[str, Any]:
    """The inclusion proof of the event at ``position`` in the latest seal that covers it,
    with that seal's signed tree head and the event's stored record."""
    log, tree, valid = _checked_log(ledger, engine)
    try:
        index = log.positions.index(position)
    except ValueError:
        raise SealError(f"no event at position {position}") from None
    covering = [s for s in valid if s.tree_size > index]
    if not covering:
        raise SealError(f"position {position} is not sealed yet: run `hoso seal` first")
    s = covering[-1]
    _matching(tree, s)
    rows = list(_rows(ledger, engine, positions=[position]))
    _, originator_id, version, topic, state = rows[0]
    return {
        "format": "hoso-inclusion-proof/1",
        "tree": "RFC 9162 §2.1 Merkle tree, SHA-256",
        "leaf_encoding": LEAF_ENCODING,
        "signature_scheme": SIGNATURE_SCHEME,
        "event": {
            "position": position,
            "originator_id": leaf_id(originator_id, sqlite=not ledger.settings.database_url),
            "originator_version": version,
            "topic": topic,
            "state_base64": base64.b64encode(bytes(state)).decode(),
        },
        "leaf_index": index,
        "tree_size": s.tree_size,
        "inclusion_path": [h.hex() for h in tree.inclusion_proof(index, s.tree_size)],
        "seal": s.as_json(),
    }


def consistency_proof_document(
    ledger: Ledger, engine: Engine, first: int | None = None, second: int | None = None
) -> dict[str, Any]:
    """The consistency proof between two seals, named by their tree sizes (by default the
    last two), with both signed tree heads."""
    _, tree, valid = _checked_log(ledger, engine)
    by_size = {s.tree_size: s for s in valid}
    if first is None and second is None:
        if len(valid) < 2:
            raise SealError("a consistency proof needs two seals: run `hoso seal` again")
        first, second = valid[-2].tree_size, valid[-1].tree_size
    if first is None or second is None:
        raise SealError("give both --from and --to")
    for size in (first, second):
        if size not in by_size:
            sizes = ", ".join(str(s.tree_size) for s in valid) or "none"
            raise SealError(f"no seal of tree size {size} (seals: {sizes})")
    if first > second:
        raise SealError("--from must not be larger than --to")
    a, b = by_size[first], by_size[second]
    _matching(tree, a)
    _matching(tree, b)
    return {
        "format": "hoso-consistency-proof/1",
        "tree": "RFC 9162 §2.1 Merkle tree, SHA-256",
        "signature_scheme": SIGNATURE_SCHEME,
        "first": a.as_json(),
        "second": b.as_json(),
        "consistency_path": [h.hex() for h in tree.consistency_proof(first, second)],
    }
