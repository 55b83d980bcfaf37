"""Supporting documents: scanned decisions and evidence (PDF or image), kept by their
SHA-256 digest and never deleted.

They live in the table ``documents`` of the ledger's own database, not in files under the
data directory: a PostgreSQL deployment then backs them up, replicates them and serves
them to every application server together with the events that cite them, and on SQLite
they sit in the same file as the log. Content is encrypted at rest with the ledger's own
cipher when one is configured (``HOSO_CIPHER_KEY``): scans of identity papers are
sensitive personal data. The digest is of the document as uploaded, so anyone holding the
paper's scan can check it against the digest a change set or a decision carries.

A document is accepted by what its bytes are (magic numbers), never by its file name, and
up to ``HOSO_DOCUMENT_MAX_BYTES``. Storing the same bytes twice keeps the first copy.
"""

from __future__ import annotations

import hashlib
import threading
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import PurePosixPath, PureWindowsPath

import filetype
from eventsourcing.persistence import Cipher
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import Column, Engine, Integer, LargeBinary, MetaData, String, Table, select
from sqlalchemy.exc import IntegrityError, ProgrammingError

from domain.errors import InvalidInput
from domain.values import Document
from projections.audit import UtcDateTime

# What a scanned document may be, with the name a person knows it by.
ACCEPTED: dict[str, str] = {
    "application/pdf": "PDF",
    "image/jpeg": "JPEG",
    "image/png": "PNG",
    "image/tiff": "TIFF",
    "image/webp": "WebP",
}
MAX_FILENAME = 200

metadata = MetaData()
documents = Table(
    "documents",
    metadata,
    Column("sha256", String(64), primary_key=True),
    Column("media_type", String(100), nullable=False),
    Column("size", Integer, nullable=False),
    Column("content", LargeBinary, nullable=False),  # encrypted when the ledger is
    Column("stored_at", UtcDateTime, nullable=False),
    Column("stored_by", String(100), nullable=False),
)


class DocumentConfig(BaseSettings):
    """``HOSO_*`` settings of supporting documents."""

    model_config = SettingsConfigDict(env_prefix="HOSO_", extra="ignore")

    document_max_bytes: int = 10 * 1024 * 1024


class DocumentRejected(InvalidInput):
    """An upload that is not a document we keep; ``vietnamese`` says why, for people."""

    def __init__(self, message: str, vietnamese: str, field: str = "document") -> None:
        super().__init__(message, field)
        self.vietnamese = vietnamese


@dataclass(frozen=True)
class StoredDocument:
    sha256: str
    media_type: str
    content: bytes


def clean_filename(name: str) -> str:
    """The file's own name (no folders), NFC, without control characters, bounded."""
    base = PureWindowsPath(PurePosixPath(name or "").name).name
    text = "".join(c for c in unicodedata.normalize("NFC", base) if c.isprintable()).strip()
    return text[-MAX_FILENAME:] or "tai-lieu"


class DocumentStore:
    def __init__(
        self, engine: Engine, cipher: Cipher | None = None, config: DocumentConfig | None = None
    ) -> None:
        self.engine = engine
        self.cipher = cipher
        self.config = config or DocumentConfig()
        self._prepared = False
        self._lock = threading.Lock()

    @property
    def max_bytes(self) -> int:
        return self.config.document_max_bytes

    def prepare(self) -> None:
        with self._lock:
            if self._prepared:
                return
            try:
                metadata.create_all(self.engine)
            except (IntegrityError, ProgrammingError):
                # Another process created the table at the same moment: it is there now.
                metadata.create_all(self.engine)
            self._prepared = True

    def check(self, data: bytes, filename: str) -> Document:
        """What the upload is, or ``DocumentRejected`` with the reason."""
        if not data:
            raise DocumentRejected("the file is empty", "Tệp đính kèm trống.")
        if len(data) > self.max_bytes:
            limit = f"{self.max_bytes / (1024 * 1024):.0f}"
            raise DocumentRejected(
                f"the file is larger than {limit} MiB",
                f"Tệp đính kèm lớn hơn {limit} MB cho phép.",
            )
        kind = filetype.guess(data)
        media_type = kind.mime if kind is not None else None
        if media_type not in ACCEPTED:
            found = f" ({media_type})" if media_type else ""
            raise DocumentRejected(
                f"the file is not a scanned document (PDF, JPEG, PNG, TIFF or WebP){found}",
                "Tệp đính kèm phải là bản quét (PDF, JPEG, PNG, TIFF hoặc WebP); "
                "nội dung tệp không phải loại này.",
            )
        return Document(
            sha256=hashlib.sha256(data).hexdigest(),
            filename=clean_filename(filename),
            media_type=media_type,
            size=len(data),
        )

    def store(self, data: bytes, filename: str, *, account: str) -> Document:
        """Keep the upload (once per digest) and return the document that cites it."""
        document = self.check(data, filename)
        self.prepare()
        if self.find(document.sha256) is not None:
            return document
        content = self.cipher.encrypt(data) if self.cipher is not None else data
        row = {
            "sha256": document.sha256,
            "media_type": document.media_type,
            "size": document.size,
            "content": content,
            "stored_at": datetime.now(UTC),
            "stored_by": account[:100],
        }
        try:
            with self.engine.begin() as conn:
                conn.execute(documents.insert().values(**row))
        except IntegrityError:
            pass  # the same bytes stored at the same moment by someone else
        return document

    def find(self, sha256: str) -> StoredDocument | None:
        self.prepare()
        with self.engine.connect() as conn:
            row = conn.execute(
                select(documents.c.media_type, documents.c.content).where(
                    documents.c.sha256 == sha256.strip().lower()
                )
            ).first()
        if row is None:
            return None
        content = bytes(row.content)
        if self.cipher is not None:
            content = self.cipher.decrypt(content)
        if hashlib.sha256(content).hexdigest() != sha256.strip().lower():
            # Altered in the database: the digest the ledger cites no longer holds.
            return None
        return StoredDocument(sha256.strip().lower(), row.media_type, content)
