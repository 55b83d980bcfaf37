"""Who is calling: passwords, second factors, sessions, bearer tokens and throttling.

Passwords are hashed with argon2id; administrators and approvers log in with a TOTP code
as well. A browser gets a session in an HttpOnly, SameSite=Strict cookie and a CSRF token
it must send back (header ``X-CSRF-Token`` or form field ``csrf_token``) with every
state-changing request; a program gets a bearer token. Both expire and can be revoked.

Credentials live in the table ``api_credentials`` on the same database as the ledger,
holding only the SHA-256 of each token. Failed logins are counted in
``api_login_attempts``, so that every worker sees them: five in a row lock the account (a
``Locked`` event: an administrator unlocks it or resets its password), and an address with
twenty failures within ten minutes is answered 429 until the oldest leaves the window.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import secrets
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from time import monotonic
from typing import Any

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from fastapi import FastAPI, HTTPException, Request, Response
from fastapi.concurrency import run_in_threadpool
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy import (
    Column,
    Engine,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    and_,
    delete,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, ProgrammingError

from api.deps import READ_STATE, NotKept, ReadState, Services, services
from api.policy import Principal
from domain.account import FAILED_LOGINS, Account
from domain.errors import (
    ConflictError,
    DomainError,
    DuplicateAccount,
    InvalidInput,
    NotFound,
    TransitionNotAllowed,
)
from domain.settings import Settings
from domain.values import Actor, Role
from projections.audit import UtcDateTime
from projections.database import read_model_engine

SESSION_COOKIE = "hoso_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
BEARER_PREFIX = "hoso_"  # bearer tokens are recognisable, e.g. by secret scanners
MIN_PASSWORD = 12
MAX_PASSWORD = 256
SYSTEM_ACTOR = Actor(account="system", role=Role.SYSTEM, unit_code="")
# Paths a caller may use while their password must be changed or a second factor enrolled.
ONBOARDING_PATHS = frozenset(
    {
        "/api/auth/me",
        "/api/auth/logout",
        "/api/auth/password",
        "/api/auth/totp",
        "/api/auth/totp/confirm",
    }
)


class AuthConfig(BaseSettings):
    """``HOSO_*`` settings of authentication."""

    model_config = SettingsConfigDict(env_prefix="HOSO_", extra="ignore")

    session_hours: float = 8.0  # absolute lifetime of a browser session
    cookie_secure: bool = False  # HOSO_COOKIE_SECURE=1 behind HTTPS
    bearer_max_days: int = 90
    account_failures_lock: int = 5  # consecutive failures that lock an account
    address_failures: int = 20  # failures from one address within the window
    address_window_minutes: int = 10
    argon2_time_cost: int = 3
    argon2_memory_kib: int = 65536
    argon2_parallelism: int = 4
    totp_issuer: str = "hoso"
    # A process trusts a token it found valid for this long without looking it up again;
    # revocations made in the process itself take effect at once.
    credential_trust_seconds: float = 1.0


# -- errors -------------------------------------------------------------------------------

MESSAGES: dict[str, str] = {
    "unauthenticated": "Vui lòng đăng nhập để tiếp tục.",
    "invalid_token": "Phiên làm việc hoặc mã truy cập không hợp lệ, đã hết hạn hoặc đã bị thu hồi.",
    "invalid_credentials": "Tên đăng nhập hoặc mật khẩu không đúng.",
    "account_locked": (
        "Tài khoản đã bị khóa. Vui lòng liên hệ quản trị viên để mở khóa hoặc cấp lại mật khẩu."
    ),
    "account_unavailable": "Tài khoản đã bị khóa hoặc đã bị thu hồi.",
    "totp_required": "Vui lòng nhập mã xác thực hai lớp (TOTP).",
    "invalid_totp": "Mã xác thực hai lớp (TOTP) không đúng.",
    "too_many_attempts": "Đăng nhập sai quá nhiều lần từ địa chỉ này; vui lòng thử lại sau.",
    "csrf_failed": "Thiếu hoặc sai mã chống giả mạo yêu cầu (CSRF); vui lòng tải lại trang.",
    "password_change_required": "Vui lòng đổi mật khẩu tạm thời trước khi tiếp tục.",
    "totp_enrolment_required": "Vui lòng đăng ký xác thực hai lớp (TOTP) trước khi tiếp tục.",
    "totp_already_enrolled": "Tài khoản đã đăng ký xác thực hai lớp.",
    "totp_not_started": "Chưa bắt đầu đăng ký xác thực hai lớp; vui lòng thực hiện lại.",
    "wrong_password": "Mật khẩu hiện tại không đúng.",
    "weak_password": (
        f"Mật khẩu mới phải có từ {MIN_PASSWORD} đến {MAX_PASSWORD} ký tự, "
        "khác mật khẩu cũ và khác tên đăng nhập."
    ),
    "session_required": "Chỉ có thể tạo mã truy cập từ phiên đăng nhập trên trình duyệt.",
    "forbidden": "Bạn không có quyền thực hiện thao tác này.",
    "own_account": "Không thể tự cấp, thay đổi quyền hoặc khóa, thu hồi tài khoản của chính mình.",
    "not_found": "Không tìm thấy nội dung yêu cầu, hoặc bạn không có quyền xem nội dung này.",
    "invalid_input": "Dữ liệu gửi lên không hợp lệ; vui lòng kiểm tra lại.",
    "duplicate_account": "Tên tài khoản đã được sử dụng, hoặc người này đã có tài khoản cá nhân.",
    "version_conflict": "Tài khoản vừa được người khác cập nhật; vui lòng tải lại và thử lại.",
    "transition_not_allowed": (
        "Không thể thực hiện thao tác này với tài khoản ở trạng thái hiện tại."
    ),
    "unit_not_active": "Đơn vị đã được sáp nhập hoặc giải thể.",
    "domain_error": "Yêu cầu không thể thực hiện theo quy định của hệ thống.",
}
STATUS_OF_DOMAIN: dict[type[DomainError], int] = {
    NotFound: 404,
    InvalidInput: 422,
    DuplicateAccount: 409,
    ConflictError: 409,
    TransitionNotAllowed: 422,
}


def fail(
    status: int,
    code: str,
    detail_en: str = "",
    *,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> HTTPException:
    """An HTTP error with a stable code and a Vietnamese message."""
    detail = {
        "code": code,
        "message": MESSAGES.get(code, MESSAGES["domain_error"]),
        "detail_en": detail_en or code.replace("_", " "),
        **extra,
    }
    return HTTPException(status_code=status, detail=detail, headers=headers)


def unauthenticated(code: str = "unauthenticated", detail_en: str = "") -> HTTPException:
    challenge = 'Bearer realm="hoso"'
    if code != "unauthenticated":
        challenge += ', error="invalid_token"'
    return fail(401, code, detail_en, headers={"WWW-Authenticate": challenge})


@contextmanager
def domain_errors() -> Iterator[None]:
    """The domain's refusals as HTTP errors."""
    try:
        yield
    except DomainError as exc:
        status = next((s for t, s in STATUS_OF_DOMAIN.items() if isinstance(exc, t)), 422)
        extra: dict[str, Any] = {}
        if isinstance(exc, InvalidInput) and exc.field:
            extra["field"] = exc.field
        raise fail(status, exc.code, exc.message, **extra) from None


# -- passwords and second factors -----------------------------------------------------------


def password_hasher(config: AuthConfig) -> PasswordHasher:
    return PasswordHasher(
        time_cost=config.argon2_time_cost,
        memory_cost=config.argon2_memory_kib,
        parallelism=config.argon2_parallelism,
    )


def verify_password(hasher: PasswordHasher, password_hash: str | None, password: str) -> bool:
    """Whether the password matches; an account without a password is checked against a
    dummy hash, so the answer takes as long either way."""
    try:
        return hasher.verify(password_hash or _dummy_hash(hasher), password) and bool(password_hash)
    except (VerificationError, InvalidHashError):
        return False


_dummies: dict[tuple[int, int, int], str] = {}


def _dummy_hash(hasher: PasswordHasher) -> str:
    key = (hasher.time_cost, hasher.memory_cost, hasher.parallelism)
    if key not in _dummies:
        _dummies[key] = hasher.hash(secrets.token_urlsafe(16))
    return _dummies[key]


def check_new_password(password: str, *, username: str, old: str | None = None) -> None:
    if (
        not MIN_PASSWORD <= len(password) <= MAX_PASSWORD
        or password == old
        or password.strip().lower() == username
    ):
        raise fail(
            422,
            "weak_password",
            f"a new password has {MIN_PASSWORD}-{MAX_PASSWORD} characters and differs from "
            "the old one and the username",
            field="new_password",
        )


def temporary_password() -> str:
    """A temporary password to hand over once: 16 characters, none easily confused."""
    alphabet = "abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789"
    return "".join(secrets.choice(alphabet) for _ in range(16))


def totp_ok(secret: str, code: str | None, at: datetime) -> bool:
    code = (code or "").strip().replace(" ", "")
    if not (code.isdigit() and len(code) == 6):
        return False
    return pyotp.TOTP(secret).verify(code, for_time=at, valid_window=1)


# -- the credentials store ------------------------------------------------------------------

metadata = MetaData()
credentials = Table(
    "api_credentials",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("token_sha256", String(64), nullable=False, unique=True),
    Column("account", String(64), nullable=False, index=True),
    Column("kind", String(10), nullable=False),  # session | bearer
    Column("name", String(200), nullable=False, default=""),
    Column("csrf_token", String(64)),  # sessions only
    Column("totp_pending", String(64)),  # a second factor being enrolled, until confirmed
    Column("created_at", UtcDateTime, nullable=False),
    Column("expires_at", UtcDateTime, nullable=False),
    Column("revoked_at", UtcDateTime),
)
login_attempts = Table(
    "api_login_attempts",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("at", UtcDateTime, nullable=False, index=True),
    Column("address", String(64), nullable=False),
    Column("account", String(64), nullable=False),
    # failure | denied (tried a locked account) | success | locked | cleared; an address
    # is throttled on failures and denials, an account locked after a run of failures
    # (which anything else ends)
    Column("outcome", String(10), nullable=False),
    Index("ix_api_login_attempts_address_at", "address", "at"),
    Index("ix_api_login_attempts_account_id", "account", "id"),
)
KEEP_ATTEMPTS = timedelta(days=30)
FAILURES = ("failure", "denied")


@dataclass(frozen=True)
class Credential:
    id: str
    account: str
    kind: str
    name: str
    csrf_token: str | None
    totp_pending: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None

    @classmethod
    def of(cls, row: Any) -> Credential:
        return cls(
            **{c.name: row._mapping[c.name] for c in credentials.c if c.name != "token_sha256"}
        )

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "kind": self.kind,
            "created_at": self.created_at.isoformat(),
            "expires_at": self.expires_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


TRUSTED_CREDENTIALS = 10_000  # tokens trusted at once, at most


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


class AuthStore:
    def __init__(
        self,
        settings: Settings,
        config: AuthConfig | None = None,
        *,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config or AuthConfig()
        self.hasher = password_hasher(self.config)
        self.reader: Engine = read_model_engine(settings)
        self.writer: Engine = read_model_engine(settings, writer=True)
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        self._trusted: dict[str, tuple[float, Credential]] = {}

    def prepare(self) -> None:
        try:
            metadata.create_all(self.writer)
        except (IntegrityError, ProgrammingError):
            # Another worker created the tables at the same moment: they are there now.
            metadata.create_all(self.writer)

    def dispose(self) -> None:
        self.reader.dispose()
        self.writer.dispose()

    # -- credentials ---------------------------------------------------------------------

    def issue(
        self, account: str, kind: str, lifetime: timedelta, name: str = ""
    ) -> tuple[str, Credential]:
        """A new session or bearer token: the token itself is returned here only."""
        token = secrets.token_urlsafe(32)
        if kind == "bearer":
            token = BEARER_PREFIX + token
        now = self.now()
        row: dict[str, Any] = {
            "id": secrets.token_hex(8),
            "token_sha256": digest(token),
            "account": account,
            "kind": kind,
            "name": name,
            "csrf_token": secrets.token_urlsafe(24) if kind == "session" else None,
            "totp_pending": None,
            "created_at": now,
            "expires_at": now + lifetime,
            "revoked_at": None,
        }
        with self.writer.begin() as conn:
            conn.execute(insert(credentials).values(**row))
        row.pop("token_sha256")
        return token, Credential(**row)

    def find(self, token: str, *, kept_only: bool = False) -> Credential | None:
        """The credential of a token, while it is neither expired nor revoked.
        ``kept_only``: raise ``NotKept`` rather than read it."""
        key = digest(token)
        now = self.now()
        trusted = self._trusted.get(key)
        if trusted is not None:
            since, credential = trusted
            if monotonic() - since < self.config.credential_trust_seconds and (
                credential.expires_at > now
            ):
                return credential
        if kept_only:
            raise NotKept("the credential")
        with self.reader.connect() as conn:
            row = conn.execute(
                select(credentials).where(
                    credentials.c.token_sha256 == key,
                    credentials.c.revoked_at.is_(None),
                    credentials.c.expires_at > now,
                )
            ).first()
        if row is None:
            self._trusted.pop(key, None)
            return None
        credential = Credential.of(row)
        # A second factor being enrolled changes the credential from request to request.
        if credential.totp_pending is None and credential.expires_at.tzinfo is not None:
            if len(self._trusted) >= TRUSTED_CREDENTIALS:
                self._trusted.clear()
            self._trusted[key] = (monotonic(), credential)
        return credential

    def tokens(self, account: str) -> list[Credential]:
        with self.reader.connect() as conn:
            rows = conn.execute(
                select(credentials)
                .where(credentials.c.account == account, credentials.c.kind == "bearer")
                .order_by(credentials.c.created_at, credentials.c.id)
            )
            return [Credential.of(r) for r in rows]

    def revoke(self, credential_id: str, *, account: str | None = None) -> bool:
        """Revoke one credential (of ``account``, when given); False if there is none."""
        where = [credentials.c.id == credential_id, credentials.c.revoked_at.is_(None)]
        if account is not None:
            where.append(credentials.c.account == account)
        with self.writer.begin() as conn:
            found = conn.execute(update(credentials).where(*where).values(revoked_at=self.now()))
        self._trusted.clear()
        return found.rowcount > 0

    def revoke_all(self, account: str, *, kind: str | None = None, keep: str | None = None) -> int:
        where = [credentials.c.account == account, credentials.c.revoked_at.is_(None)]
        if kind is not None:
            where.append(credentials.c.kind == kind)
        if keep is not None:
            where.append(credentials.c.id != keep)
        with self.writer.begin() as conn:
            done = conn.execute(update(credentials).where(*where).values(revoked_at=self.now()))
        self._trusted.clear()
        return done.rowcount

    def set_totp_pending(self, credential_id: str, secret: str | None) -> None:
        with self.writer.begin() as conn:
            conn.execute(
                update(credentials)
                .where(credentials.c.id == credential_id)
                .values(totp_pending=secret)
            )
        self._trusted.clear()

    # -- login attempts ------------------------------------------------------------------

    def _window_start(self) -> datetime:
        return self.now() - timedelta(minutes=self.config.address_window_minutes)

    def retry_after(self, address: str) -> int | None:
        """Seconds until the address may try again; None while it may."""
        limit = self.config.address_failures
        with self.reader.connect() as conn:
            times = list(
                conn.execute(
                    select(login_attempts.c.at)
                    .where(
                        login_attempts.c.address == address,
                        login_attempts.c.outcome.in_(FAILURES),
                        login_attempts.c.at > self._window_start(),
                    )
                    .order_by(login_attempts.c.at.desc())
                    .limit(limit)
                ).scalars()
            )
        if len(times) < limit:
            return None
        window = timedelta(minutes=self.config.address_window_minutes)
        # Allowed again once the limit-th latest failure leaves the window.
        wait = (times[limit - 1] + window - self.now()).total_seconds()
        return max(1, math.ceil(wait))

    def record(self, address: str, account: str, outcome: str) -> None:
        now = self.now()
        with self.writer.begin() as conn:
            conn.execute(
                insert(login_attempts).values(
                    at=now, address=address[:64], account=account[:64], outcome=outcome
                )
            )
            if outcome in FAILURES:
                conn.execute(
                    delete(login_attempts).where(login_attempts.c.at < now - KEEP_ATTEMPTS)
                )

    def consecutive_failures(self, account: str) -> int:
        """Failed logins of the account since its last success, lock or unlock."""
        with self.reader.connect() as conn:
            last = conn.execute(
                select(func.max(login_attempts.c.id)).where(
                    login_attempts.c.account == account, login_attempts.c.outcome != "failure"
                )
            ).scalar()
            return int(
                conn.execute(
                    select(func.count()).where(
                        and_(
                            login_attempts.c.account == account,
                            login_attempts.c.outcome == "failure",
                            login_attempts.c.id > (last or 0),
                        )
                    )
                ).scalar()
                or 0
            )


_store_lock = threading.Lock()


def prepare_auth(app: FastAPI, settings: Settings) -> AuthStore:
    """The application's credential store, its tables created (call at startup)."""
    with _store_lock:
        store: AuthStore | None = getattr(app.state, "auth", None)
        if store is None:
            store = AuthStore(settings)
            store.prepare()
            app.state.auth = store
        return store


def auth_store(request: Request) -> AuthStore:
    store: AuthStore | None = getattr(request.app.state, "auth", None)
    if store is None:
        store = prepare_auth(request.app, services(request).ledger.settings)
    return store


# -- logging in -------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoginResult:
    account: Account
    token: str
    credential: Credential
    second_factor_enrolment_required: bool


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def set_session_cookie(response: Response, result: LoginResult, store: AuthStore) -> None:
    """The browser session of a login, in an HttpOnly, SameSite=Strict cookie that lives
    as long as the session does."""
    credential = result.credential
    response.set_cookie(
        SESSION_COOKIE,
        result.token,
        max_age=int((credential.expires_at - credential.created_at).total_seconds()),
        expires=credential.expires_at,
        path="/",
        secure=store.config.cookie_secure,
        httponly=True,
        samesite="strict",
    )


def login(
    svc: Services,
    store: AuthStore,
    *,
    username: str,
    password: str,
    totp: str | None,
    address: str,
) -> LoginResult:
    """Check the credentials and open a session; raise 401 or 429 otherwise."""
    username = username.strip().lower()[:64]
    wait = store.retry_after(address)
    if wait is not None:
        raise fail(
            429,
            "too_many_attempts",
            "too many failed logins from this address",
            headers={"Retry-After": str(wait)},
            retry_after=wait,
        )
    today = svc.ledger.today()
    try:
        account: Account | None = svc.ledger.account(username)
    except (NotFound, InvalidInput):
        account = None
    usable = account is not None and not account.revoked(today)
    password_ok = verify_password(
        store.hasher, account.password_hash if account and usable else None, password
    )
    if account is None or not usable or not password_ok:
        failed_attempt(svc, store, username, address, account if usable else None)
        raise unauthenticated("invalid_credentials", "wrong username or password")
    if account.locked:
        store.record(address, username, "denied")
        raise unauthenticated("account_locked", f"account locked: {account.lock_reason}")
    if account.totp_secret is not None:
        if not (totp or "").strip():
            raise unauthenticated("totp_required", "this account logs in with a TOTP code")
        if not totp_ok(account.totp_secret, totp, store.now()):
            failed_attempt(svc, store, username, address, account)
            raise unauthenticated("invalid_totp", "wrong TOTP code")
    store.record(address, username, "success")
    lifetime = timedelta(hours=store.config.session_hours)
    token, credential = store.issue(account.username, "session", lifetime)
    return LoginResult(
        account,
        token,
        credential,
        account.second_factor_required(today) and not account.totp_enrolled,
    )


def failed_attempt(
    svc: Services, store: AuthStore, username: str, address: str, account: Account | None
) -> None:
    """Count a failed attempt for the address and the account; the account is locked
    (a ``Locked`` event) at the configured number of failures in a row. Attempts on a
    locked account count for the address only."""
    if account is not None and account.locked:
        store.record(address, username, "denied")
        return
    store.record(address, username, "failure")
    if account is None:
        return
    if store.consecutive_failures(account.username) < store.config.account_failures_lock:
        return
    # Locked (or changed) meanwhile by another request: nothing more to do.
    with suppress(ConflictError, TransitionNotAllowed):
        svc.ledger.lock_account(account.username, FAILED_LOGINS, actor=SYSTEM_ACTOR)
    store.record("", account.username, "locked")


def clear_failures(store: AuthStore, username: str) -> None:
    """After an administrator unlocks an account or resets its password."""
    store.record("", username, "cleared")


# -- who is calling ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    principal: Principal
    account: Account
    credential: Credential
    today: date
    state: ReadState  # of the read models, when the caller was authenticated


def _token(request: Request) -> tuple[str, str] | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise unauthenticated("invalid_token", "use Authorization: Bearer TOKEN")
        return "bearer", value.strip()
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return "session", cookie
    return None


async def _csrf_token_sent(request: Request) -> str:
    sent = request.headers.get(CSRF_HEADER)
    if sent:
        return sent
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        if isinstance(value, str):
            return value
    return ""


def _resolve(
    request: Request, kind: str, token: str, state: ReadState, *, kept_only: bool = False
) -> Caller:
    """The caller of a token, with the read models in ``state`` (the unit tree of that
    state gives the scope of each grant). ``kept_only``: from memory alone, raising
    ``NotKept`` when something has to be read."""
    svc = services(request)
    store = auth_store(request)
    credential = store.find(token, kept_only=kept_only)
    if credential is None or credential.kind != kind:
        raise unauthenticated("invalid_token", "the token is unknown, expired or revoked")
    try:
        account = svc.account(credential.account, state.generation, kept_only=kept_only)
    except NotFound:
        raise unauthenticated("invalid_token", "the account does not exist") from None
    today = svc.ledger.today()
    if account.revoked(today) or account.locked:
        raise unauthenticated("account_unavailable", "the account is locked or revoked")
    principal = svc.principal(account, today, kept_only=kept_only)
    return Caller(principal, account, credential, today, state)


async def _caller(request: Request, kind: str, token: str) -> Caller:
    """``_resolve`` on the event loop while everything it needs is in memory (the state of
    the read models read there too, where it can be); in a thread otherwise."""
    state = await services(request).current_state_async()
    try:
        return _resolve(request, kind, token, state, kept_only=True)
    except NotKept:
        return await run_in_threadpool(_resolve, request, kind, token, state)


async def authenticated_caller(request: Request) -> Caller:
    """The caller, whatever onboarding step (password change, second factor) is due."""
    cached: Caller | None = getattr(request.state, "caller", None)
    if cached is not None:
        return cached
    found = _token(request)
    if found is None:
        raise unauthenticated()
    kind, token = found
    caller = await _caller(request, kind, token)
    if kind == "session" and request.method not in SAFE_METHODS:
        expected = caller.credential.csrf_token or ""
        sent = await _csrf_token_sent(request)
        if not (sent and expected and hmac.compare_digest(sent, expected)):
            raise fail(403, "csrf_failed", "missing or wrong CSRF token")
    if request.method in SAFE_METHODS:
        # The rest of a read request writes nothing but records of access: its handler may
        # rely on the state found here (``Services.current``).
        READ_STATE.set(caller.state)
    request.state.caller = caller
    return caller


def onboarding_due(caller: Caller) -> str | None:
    """What the caller must do before anything else, if anything."""
    if caller.account.must_change_password:
        return "password_change_required"
    if caller.account.second_factor_required(caller.today) and not caller.account.totp_enrolled:
        return "totp_enrolment_required"
    return None


async def current_caller(request: Request) -> Caller:
    caller = await authenticated_caller(request)
    due = onboarding_due(caller)
    if due is not None and request.url.path not in ONBOARDING_PATHS:
        raise fail(403, due, due.replace("_", " "))
    return caller


async def current_principal(request: Request) -> Principal:
    """The FastAPI dependency for every protected endpoint: a bearer token or the session
    cookie (with its CSRF token on unsafe methods); 401 when there is none or it does not
    hold, 403 while a temporary password or a required second factor is pending."""
    return (await current_caller(request)).principal
