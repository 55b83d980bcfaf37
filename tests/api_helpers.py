"""Helpers for HTTP tests: the app on a test store, accounts with passwords (and second
factors) made through the ledger, and logging in."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date
from typing import Any

import pyotp
import pytest
from argon2 import PasswordHasher
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import AuthStore, prepare_auth
from api.deps import Services
from domain.account import SECOND_FACTOR_KINDS, SECOND_FACTOR_ROLES
from domain.application import Ledger
from domain.settings import Settings
from domain.values import Actor, Role
from projections import catalogue
from projections.database import read_model_engine
from signing.approvals import Approvals
from tests.builders import ADMIN

# Hashing made cheap for tests: verifying reads the parameters from the hash itself.
CHEAP_ARGON2 = {"HOSO_ARGON2_TIME_COST": "1", "HOSO_ARGON2_MEMORY_KIB": "1024"}
CHEAP_ARGON2["HOSO_ARGON2_PARALLELISM"] = "1"
HASHER = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
PASSWORD = "mật khẩu đủ dài 2026"


def cheap_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in CHEAP_ARGON2.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HOSO_COOKIE_SECURE", raising=False)
    monkeypatch.delenv("HOSO_SESSION_HOURS", raising=False)


@dataclass
class TestAccount:
    __test__ = False  # not a test class

    username: str
    password: str
    totp_secret: str | None = None

    def totp(self, store: AuthStore | None = None) -> str | None:
        if self.totp_secret is None:
            return None
        totp = pyotp.TOTP(self.totp_secret)
        return totp.at(store.now()) if store is not None else totp.now()


def make_account(
    ledger: Ledger,
    username: str,
    role: Role | None = None,
    unit_code: str = "SNV",
    *,
    kind: str | None = None,
    password: str = PASSWORD,
    totp: bool | None = None,
    profile_id: str | None = None,
    valid_from: date = date(2020, 1, 1),
    actor: Actor = ADMIN,
) -> TestAccount:
    """An account with a password (and, for administrators and approvers, a second
    factor), holding ``role`` for ``unit_code`` from ``valid_from``."""
    if kind is None:
        kind = "personal" if profile_id else ("approver" if role else "service")
    ledger.create_account(username, username, kind, unit_code, actor=actor, profile_id=profile_id)
    ledger.set_password(username, HASHER.hash(password), actor=actor)
    if totp is None:
        totp = kind in SECOND_FACTOR_KINDS or role in SECOND_FACTOR_ROLES
    secret = pyotp.random_base32() if totp else None
    if secret is not None:
        ledger.enroll_totp(username, secret, actor=actor)
    if role is not None:
        ledger.grant_role(username, role, unit_code, valid_from=valid_from, actor=actor)
    return TestAccount(username, password, secret)


def login(
    client: TestClient, username: str, password: str, totp: str | None = None
) -> dict[str, str]:
    """Log in; the headers that carry the session (cookie and CSRF token) on later
    requests. The client's own cookie jar is emptied, so that several people can use one
    client, each with their headers."""
    body: dict[str, Any] = {"username": username, "password": password}
    if totp is not None:
        body["totp"] = totp
    response = client.post("/api/auth/login", json=body)
    assert response.status_code == 200, response.text
    token = response.cookies.get("hoso_session") or client.cookies.get("hoso_session")
    assert token, "the login set no session cookie"
    client.cookies.clear()
    return {"Cookie": f"hoso_session={token}", "X-CSRF-Token": response.json()["csrf_token"]}


def log_in_as(client: TestClient, account: TestAccount) -> dict[str, str]:
    return login(client, account.username, account.password, account.totp(store(client)))


def code(response: Any) -> str:
    """The error code of a refusal, as a problem document or as plain FastAPI detail."""
    body = response.json()
    if isinstance(body.get("detail"), dict):
        return str(body["detail"]["code"])
    return str(body.get("code"))


def store(client: TestClient) -> AuthStore:
    app: FastAPI = client.app  # type: ignore[assignment]
    found: AuthStore | None = getattr(app.state, "auth", None)
    if found is None:
        found = prepare_auth(app, app.state.services.ledger.settings)
    return found


def _has_routes(app: FastAPI, prefix: str) -> bool:
    routes: Any = app.routes
    try:  # FastAPI keeps included routers whole, and flattens them on demand
        from fastapi.routing import iter_route_contexts

        routes = list(iter_route_contexts(app.routes))
    except ImportError:  # pragma: no cover - older FastAPI lists the routes themselves
        pass
    return any(str(getattr(route, "path", "") or "").startswith(prefix) for route in routes)


@contextmanager
def auth_client(settings: Settings) -> Iterator[TestClient]:
    """The HTTP app on the test store, with the auth and accounts routers and the shared
    services whether or not the app factory provides them yet."""
    from api.routers.accounts import router as accounts_router
    from api.routers.auth import router as auth_router

    app = create_app(settings)
    if not _has_routes(app, "/api/auth"):
        app.include_router(auth_router)
    if not _has_routes(app, "/api/accounts"):
        app.include_router(accounts_router)
    own: list[Any] = []
    with TestClient(app) as client:
        if getattr(app.state, "services", None) is None:
            ledger = Ledger(settings)
            engine = read_model_engine(settings, writer=True)
            projector = catalogue.projector(ledger, engine)
            projector.prepare()
            reader = read_model_engine(settings)
            app.state.services = Services(ledger, projector, reader, Approvals(ledger))
            own.extend([ledger, engine, reader])
        prepare_auth(app, settings)
        try:
            yield client
        finally:
            auth = getattr(app.state, "auth", None)
            if auth is not None:
                auth.dispose()
            for thing in own:
                if isinstance(thing, Ledger):
                    thing.close()
                else:
                    thing.dispose()
