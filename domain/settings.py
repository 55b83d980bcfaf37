"""Configuration from ``HOSO_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import unquote, urlsplit

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from domain.jurisdiction import JURISDICTION_CODES


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HOSO_", extra="ignore")

    data_dir: Path = Path("var")
    database_url: str | None = None  # postgresql://user:password@host:port/dbname
    database_schema: str = ""
    cipher_key: str | None = None  # base64 AES key; encrypts event state at rest
    cipher_key_file: Path | None = None  # or a file holding it (``hoso init`` makes one)
    backup_key: str | None = None  # base64 AES-256 key; encrypts backup archives
    backup_key_file: Path | None = None  # or a file holding it (``hoso backup --new-key``)
    jurisdiction: str = "bnv"
    extra_days_off: str = ""  # comma-separated ISO dates
    extra_working_days: str = ""  # make-up working Saturdays, comma-separated ISO dates
    # Requests of the HTTP server handled at once (the others wait their turn), and so the
    # database connections a process keeps open for them. One thread of a process runs
    # Python at a time: with 16, the threads waited on each other so much that storing a
    # group of access records took twice as long as with 8.
    request_threads: int = Field(default=8, ge=1, le=200)
    # Roster pages a server process keeps, as sent, until the log gains a change (0: none).
    read_cache_pages: int = Field(default=1024, ge=0, le=1_000_000)
    # The national database exchange (operations.national_sync): its https:// base URL,
    # the CA file its server certificate is verified against, the agency's bearer token,
    # the time allowed for one request, attempts per item and the back-off between them.
    national_url: str | None = None
    national_ca_file: Path | None = None
    national_token: str | None = None
    national_timeout: float = 10.0
    national_attempts: int = 5
    national_backoff: float = 1.0  # seconds: the first wait; it doubles, with jitter
    national_backoff_max: float = 60.0
    # Scheduled jobs (operations.scheduler): ``hoso serve`` runs them unless this is false.
    scheduler: bool = True
    # E-mail for notices (operations.mail): sent only when smtp_host is set.
    smtp_host: str | None = None
    smtp_port: int = 25
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_sender: str = "hoso@localhost"  # the From address
    smtp_starttls: bool = False  # upgrade the connection with STARTTLS before logging in
    smtp_timeout: float = 10.0

    @field_validator("jurisdiction")
    @classmethod
    def known_jurisdiction(cls, value: str) -> str:
        if value not in JURISDICTION_CODES:
            raise ValueError(f"HOSO_JURISDICTION is one of {', '.join(JURISDICTION_CODES)}")
        return value

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "hoso.sqlite3"

    def eventsourcing_env(self) -> dict[str, str]:
        """The persistence settings of the eventsourcing library for this configuration."""
        env: dict[str, str] = {}
        if self.database_url:
            url = urlsplit(self.database_url)
            if url.scheme not in ("postgresql", "postgres", "postgresql+psycopg"):
                raise ValueError("HOSO_DATABASE_URL must be a postgresql:// URL")
            env.update(
                PERSISTENCE_MODULE="eventsourcing.postgres",
                POSTGRES_DBNAME=url.path.lstrip("/") or "postgres",
                POSTGRES_HOST=url.hostname or "127.0.0.1",
                POSTGRES_PORT=str(url.port or 5432),
                POSTGRES_USER=unquote(url.username or "postgres"),
                POSTGRES_PASSWORD=unquote(url.password or ""),
                # Writers of one application commit one at a time (table lock); wait for
                # it a bounded time rather than forever.
                POSTGRES_LOCK_TIMEOUT="10",
                POSTGRES_SCHEMA=self.database_schema,
                POSTGRES_POOL_SIZE="5",
                POSTGRES_MAX_OVERFLOW="10",
            )
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            env.update(
                PERSISTENCE_MODULE="eventsourcing.sqlite",
                SQLITE_DBNAME=str(self.sqlite_path),
                SQLITE_LOCK_TIMEOUT="30",
            )
        # Recently used aggregates stay in memory; each load still reads the events saved
        # since (by any process), so the cache never serves a stale aggregate.
        env["AGGREGATE_CACHE_MAXSIZE"] = "2000"
        # Records are kept for good: stored state is compressed (before it is encrypted).
        # Decided once: stored bytes must stay decodable.
        env["COMPRESSOR_TOPIC"] = "domain.compression:LargeStateCompressor"
        key = self.resolved_cipher_key()
        if key:
            env.update(CIPHER_TOPIC="eventsourcing.cryptography:AESCipher", CIPHER_KEY=key)
        return env

    def resolved_cipher_key(self) -> str | None:
        if self.cipher_key:
            return self.cipher_key
        if self.cipher_key_file is not None and self.cipher_key_file.exists():
            return self.cipher_key_file.read_text().strip()
        return None
