"""Logging in, sessions and CSRF, bearer tokens, throttling, second factors and password
changes, over HTTP on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta

import pyotp
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from api.auth import AuthStore, credentials
from domain.account import Account
from domain.application import Ledger
from domain.settings import Settings
from domain.values import Role
from tests.api_helpers import (
    PASSWORD,
    TestAccount,
    auth_client,
    cheap_argon2,
    code,
    log_in_as,
    login,
    make_account,
    store,
)
from tests.builders import unit_tree


@dataclass
class World:
    ledger: Ledger
    client: TestClient
    store: AuthStore
    clerk: TestAccount  # no approving role: password only
    officer: TestAccount  # HR officer of SNV: password and TOTP
    head: TestAccount  # Department of Home Affairs: manages accounts


@pytest.fixture
def world(
    ledger: Ledger, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    cheap_argon2(monkeypatch)
    unit_tree(ledger)
    clerk = make_account(ledger, "clerk", Role.INSPECTOR, "STC", kind="inspector")
    officer = make_account(ledger, "officer", Role.HR_OFFICER, "SNV")
    head = make_account(ledger, "head", Role.HOME_AFFAIRS, "UBND")
    with auth_client(make_settings()) as client:
        yield World(ledger, client, store(client), clerk, officer, head)


def attempt(w: World, username: str, password: str, totp: str | None = None) -> object:
    body = {"username": username, "password": password}
    if totp is not None:
        body["totp"] = totp
    return w.client.post("/api/auth/login", json=body)


def test_a_login_sets_an_httponly_strict_cookie_and_returns_a_csrf_token(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    response = world.client.post(
        "/api/auth/login", json={"username": "clerk", "password": PASSWORD}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["must_change_password"] is False
    assert body["totp_enrolment_required"] is False
    assert len(body["csrf_token"]) >= 24
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("hoso_session=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie or "SameSite=Strict" in cookie
    assert "Secure" not in cookie
    assert "Path=/" in cookie

    me = world.client.get("/api/auth/me")  # the client's jar sends the cookie
    assert me.status_code == 200, me.text
    assert me.json()["username"] == "clerk"
    assert me.json()["grants"] == [{"role": "inspector", "unit_code": "STC"}]

    # Behind HTTPS (HOSO_COOKIE_SECURE=1) the cookie is Secure.
    monkeypatch.setattr(world.store.config, "cookie_secure", True)
    response = attempt(world, "clerk", PASSWORD)
    assert "Secure" in response.headers["set-cookie"]  # type: ignore[attr-defined]


def test_without_credentials_the_answer_is_401_with_a_challenge(world: World) -> None:
    response = world.client.get("/api/auth/me")
    assert response.status_code == 401
    assert code(response) == "unauthenticated"
    assert response.headers["www-authenticate"].startswith("Bearer")
    bad = world.client.get("/api/auth/me", headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401
    assert code(bad) == "invalid_token"
    basic = world.client.get("/api/auth/me", headers={"Authorization": "Basic Zm9vOmJhcg=="})
    assert basic.status_code == 401


def test_unsafe_methods_with_the_cookie_need_the_csrf_token(world: World) -> None:
    headers = log_in_as(world.client, world.clerk)
    cookie_only = {"Cookie": headers["Cookie"]}
    refused = world.client.post("/api/auth/logout", headers=cookie_only)
    assert refused.status_code == 403
    assert code(refused) == "csrf_failed"
    wrong = world.client.post(
        "/api/auth/logout", headers={**cookie_only, "X-CSRF-Token": "not-the-token"}
    )
    assert wrong.status_code == 403
    # Safe methods need no token.
    assert world.client.get("/api/auth/me", headers=cookie_only).status_code == 200
    # A form field does as well as the header.
    form = world.client.post(
        "/api/auth/logout", headers=cookie_only, data={"csrf_token": headers["X-CSRF-Token"]}
    )
    assert form.status_code == 204, form.text
    # The session is revoked.
    after = world.client.get("/api/auth/me", headers=cookie_only)
    assert after.status_code == 401
    assert code(after) == "invalid_token"


def test_sessions_and_bearer_tokens_expire(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    headers = log_in_as(world.client, world.clerk)
    token = world.client.post(
        "/api/auth/tokens", json={"name": "ngắn hạn", "days": 1}, headers=headers
    ).json()["token"]
    bearer = {"Authorization": f"Bearer {token}"}
    assert world.client.get("/api/auth/me", headers=headers).status_code == 200
    start = world.store.now()
    monkeypatch.setattr(world.store, "now", lambda: start + timedelta(hours=8, minutes=1))
    assert world.client.get("/api/auth/me", headers=headers).status_code == 401
    assert world.client.get("/api/auth/me", headers=bearer).status_code == 200
    monkeypatch.setattr(world.store, "now", lambda: start + timedelta(days=1, seconds=1))
    assert world.client.get("/api/auth/me", headers=bearer).status_code == 401


def test_five_failures_in_a_row_lock_the_account_until_an_administrator_unlocks_it(
    world: World,
) -> None:
    wrong = attempt(world, "clerk", "not the password at all")
    unknown = attempt(world, "nobody", "not the password at all")
    assert wrong.status_code == unknown.status_code == 401  # type: ignore[attr-defined]
    assert code(wrong) == code(unknown) == "invalid_credentials"
    assert log_in_as(world.client, world.clerk)  # a success ends the run
    for n in range(5):
        response = attempt(world, "clerk", f"wrong password {n}")
        assert code(response) == "invalid_credentials"
    account = world.ledger.account("clerk")
    assert account.locked and account.lock_reason == "failed_logins"
    assert type(list(world.ledger.repository.event_store.get(account.id))[-1]).__name__ == (
        "Locked"
    )
    locked = attempt(world, "clerk", PASSWORD)
    assert locked.status_code == 401  # type: ignore[attr-defined]
    assert code(locked) == "account_locked"
    for n in range(5):  # tries on a locked account count for the address only
        attempt(world, "clerk", f"still wrong {n}")

    admin = log_in_as(world.client, world.head)
    unlocked = world.client.post("/api/accounts/clerk/unlock", headers=admin)
    assert unlocked.status_code == 200, unlocked.text
    assert unlocked.json()["locked"] is False
    assert log_in_as(world.client, world.clerk)
    # The count starts again: one more failure does not lock.
    attempt(world, "clerk", "wrong again")
    assert not world.ledger.account("clerk").locked


def test_too_many_failures_from_one_address_get_429_with_retry_after(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    for n in range(20):
        response = attempt(world, f"user{n % 4}", "wrong password")
        assert response.status_code == 401  # type: ignore[attr-defined]
    throttled = attempt(world, "clerk", PASSWORD)
    assert throttled.status_code == 429  # type: ignore[attr-defined]
    assert code(throttled) == "too_many_attempts"
    wait = int(throttled.headers["retry-after"])  # type: ignore[attr-defined]
    assert 1 <= wait <= 600
    later = world.store.now() + timedelta(seconds=wait + 1)
    monkeypatch.setattr(world.store, "now", lambda: later)
    assert attempt(world, "clerk", PASSWORD).status_code == 200  # type: ignore[attr-defined]


def test_approvers_log_in_with_their_totp_code(world: World) -> None:
    officer = world.officer
    assert officer.totp_secret is not None
    missing = attempt(world, "officer", PASSWORD)
    assert missing.status_code == 401  # type: ignore[attr-defined]
    assert code(missing) == "totp_required"
    totp = pyotp.TOTP(officer.totp_secret)
    current = totp.at(world.store.now())
    wrong = "000000" if current != "000000" else "111111"
    assert code(attempt(world, "officer", PASSWORD, wrong)) == "invalid_totp"
    # One step of clock drift either way is accepted.
    previous = totp.at(world.store.now() - timedelta(seconds=30))
    assert attempt(world, "officer", PASSWORD, previous).status_code == 200  # type: ignore[attr-defined]
    too_old = totp.at(world.store.now() - timedelta(seconds=95))
    if too_old not in (current, previous, totp.at(world.store.now() + timedelta(seconds=30))):
        assert code(attempt(world, "officer", PASSWORD, too_old)) == "invalid_totp"


def test_an_approver_without_a_second_factor_must_enrol_one_first(world: World) -> None:
    make_account(world.ledger, "newhead", Role.UNIT_HEAD, "STC", totp=False)
    response = attempt(world, "newhead", PASSWORD)
    assert response.status_code == 200  # type: ignore[attr-defined]
    assert response.json()["totp_enrolment_required"] is True  # type: ignore[attr-defined]
    headers = login(world.client, "newhead", PASSWORD)
    blocked = world.client.get("/api/accounts/newhead", headers=headers)
    assert blocked.status_code == 403
    assert code(blocked) == "totp_enrolment_required"
    no_token = world.client.post("/api/auth/tokens", json={"name": "x", "days": 1}, headers=headers)
    assert code(no_token) == "totp_enrolment_required"
    started = world.client.post("/api/auth/totp", headers=headers)
    assert started.status_code == 200, started.text
    uri = started.json()["provisioning_uri"]
    assert uri.startswith("otpauth://totp/") and "newhead" in uri and "issuer=hoso" in uri
    secret = started.json()["secret"]
    bad = world.client.post("/api/auth/totp/confirm", json={"code": "12345x"}, headers=headers)
    assert bad.status_code == 422
    confirmed = world.client.post(
        "/api/auth/totp/confirm",
        json={"code": pyotp.TOTP(secret).at(world.store.now())},
        headers=headers,
    )
    assert confirmed.status_code == 204, confirmed.text
    assert world.ledger.account("newhead").totp_secret == secret
    assert world.client.get("/api/accounts/newhead", headers=headers).status_code == 200
    # From now on the code is required.
    assert code(attempt(world, "newhead", PASSWORD)) == "totp_required"
    again = world.client.post("/api/auth/totp", headers=headers)
    assert again.status_code == 409


def test_bearer_tokens_are_shown_once_listed_without_the_secret_and_revocable(
    world: World,
) -> None:
    headers = log_in_as(world.client, world.clerk)
    created = world.client.post(
        "/api/auth/tokens", json={"name": "báo cáo hằng tháng", "days": 30}, headers=headers
    )
    assert created.status_code == 201, created.text
    token = created.json()["token"]
    assert token.startswith("hoso_")
    bearer = {"Authorization": f"Bearer {token}"}
    me = world.client.get("/api/auth/me", headers=bearer)
    assert me.status_code == 200 and me.json()["credential"] == "bearer"
    # A program needs no CSRF token, and cannot make more tokens.
    more = world.client.post("/api/auth/tokens", json={"name": "x", "days": 1}, headers=bearer)
    assert more.status_code == 403
    assert code(more) == "session_required"

    listed = world.client.get("/api/auth/tokens", headers=headers).json()["tokens"]
    assert [t["name"] for t in listed] == ["báo cáo hằng tháng"]
    assert listed[0]["active"] is True
    assert "token" not in listed[0] and token not in str(listed)
    # Only hashes are stored.
    with world.store.reader.connect() as conn:
        stored = str(list(conn.execute(select(credentials))))
    assert token not in stored

    too_long = world.client.post(
        "/api/auth/tokens", json={"name": "x", "days": 91}, headers=headers
    )
    assert too_long.status_code == 422

    token_id = created.json()["id"]
    other = log_in_as(world.client, world.head)
    assert world.client.delete(f"/api/auth/tokens/{token_id}", headers=other).status_code == 404
    deleted = world.client.delete(f"/api/auth/tokens/{token_id}", headers=headers)
    assert deleted.status_code == 204
    assert world.client.get("/api/auth/me", headers=bearer).status_code == 401


def test_changing_ones_password(world: World) -> None:
    headers = log_in_as(world.client, world.clerk)
    other_session = log_in_as(world.client, world.clerk)
    short = world.client.post(
        "/api/auth/password",
        json={"old_password": PASSWORD, "new_password": "ngắn quá"},
        headers=headers,
    )
    assert short.status_code == 422
    assert code(short) == "weak_password"
    wrong = world.client.post(
        "/api/auth/password",
        json={"old_password": "sai mật khẩu rồi", "new_password": "một mật khẩu mới dài"},
        headers=headers,
    )
    assert wrong.status_code == 403
    changed = world.client.post(
        "/api/auth/password",
        json={"old_password": PASSWORD, "new_password": "một mật khẩu mới dài"},
        headers=headers,
    )
    assert changed.status_code == 204, changed.text
    assert world.client.get("/api/auth/me", headers=headers).status_code == 200
    assert world.client.get("/api/auth/me", headers=other_session).status_code == 401
    assert attempt(world, "clerk", PASSWORD).status_code == 401  # type: ignore[attr-defined]
    assert login(world.client, "clerk", "một mật khẩu mới dài")
    # The ledger holds an argon2id hash, never the password.
    events = list(world.ledger.repository.event_store.get(Account.create_id("clerk")))
    (last_set,) = [e for e in events if type(e).__name__ == "PasswordSet"][-1:]
    assert last_set.password_hash.startswith("$argon2id$")  # type: ignore[attr-defined]
    assert all("một mật khẩu mới dài" not in str(e.__dict__) for e in events)


def test_a_temporary_password_must_be_changed_before_anything_else(world: World) -> None:
    admin = log_in_as(world.client, world.head)
    reset = world.client.post("/api/accounts/clerk/password-reset", headers=admin)
    assert reset.status_code == 200, reset.text
    temporary = reset.json()["temporary_password"]
    assert code(attempt(world, "clerk", PASSWORD)) == "invalid_credentials"
    response = attempt(world, "clerk", temporary)
    assert response.json()["must_change_password"] is True  # type: ignore[attr-defined]
    headers = login(world.client, "clerk", temporary)
    blocked = world.client.get("/api/accounts/clerk", headers=headers)
    assert blocked.status_code == 403
    assert code(blocked) == "password_change_required"
    assert world.client.get("/api/auth/me", headers=headers).json()["due"] == (
        "password_change_required"
    )
    changed = world.client.post(
        "/api/auth/password",
        json={"old_password": temporary, "new_password": "mật khẩu riêng của tôi"},
        headers=headers,
    )
    assert changed.status_code == 204, changed.text
    assert world.client.get("/api/accounts/clerk", headers=headers).status_code == 200


def test_a_revoked_account_cannot_log_in_and_its_sessions_end(world: World) -> None:
    headers = log_in_as(world.client, world.clerk)
    admin = log_in_as(world.client, world.head)
    revoked = world.client.post(
        "/api/accounts/clerk/revoke", json={"reason": "chuyển công tác"}, headers=admin
    )
    assert revoked.status_code == 200, revoked.text
    assert world.client.get("/api/auth/me", headers=headers).status_code == 401
    assert code(attempt(world, "clerk", PASSWORD)) == "invalid_credentials"
