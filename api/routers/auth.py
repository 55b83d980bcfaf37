"""Logging in and out, the second factor, one's own password, and bearer tokens."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import pyotp
from fastapi import APIRouter, Depends, Request, Response, status
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, Field

from api.auth import (
    SESSION_COOKIE,
    AuthStore,
    Caller,
    auth_store,
    authenticated_caller,
    check_new_password,
    client_address,
    current_caller,
    domain_errors,
    fail,
    failed_attempt,
    login,
    onboarding_due,
    set_session_cookie,
    totp_ok,
    verify_password,
)
from api.deps import Services, services
from api.routers import FORBIDDEN, INVALID, NOT_FOUND, UNAUTHENTICATED, problem
from domain.values import Actor, Role

router = APIRouter(prefix="/api/auth", tags=["auth"])

Svc = Annotated[Services, Depends(services)]
Store = Annotated[AuthStore, Depends(auth_store)]
# Onboarding endpoints answer a caller who must still change a temporary password or
# enrol a second factor; every other endpoint refuses such a caller.
Onboarding = Annotated[Caller, Depends(authenticated_caller)]
Full = Annotated[Caller, Depends(current_caller)]


class LoginIn(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)
    totp: str | None = Field(default=None, max_length=16)


class LoginOut(BaseModel):
    username: str
    csrf_token: str
    expires_at: str
    must_change_password: bool
    totp_enrolment_required: bool


class PasswordIn(BaseModel):
    old_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=1, max_length=1024)


class TotpConfirmIn(BaseModel):
    code: str = Field(min_length=1, max_length=16)


class TokenIn(BaseModel):
    name: str = Field(min_length=1, max_length=200)
    days: int = Field(ge=1, le=3650)


Responses = dict[int | str, dict[str, Any]]
SIGNED_IN: Responses = {**UNAUTHENTICATED, **FORBIDDEN}
LOGIN_ERRORS: Responses = {
    401: problem(
        "Wrong username or password, a TOTP code missing or wrong, or the account locked",
        "invalid_credentials",
        401,
        "wrong username or password",
    ),
    **INVALID,
    429: problem(
        "Too many failed logins from this address: try again after Retry-After seconds",
        "too_many_attempts",
        429,
        "too many failed logins from this address",
        headers={"Retry-After": {"schema": {"type": "integer"}}},
    ),
}
TOTP_CONFLICT: Responses = {
    409: problem(
        "A second factor is enrolled already, or its enrolment was not started",
        "totp_already_enrolled",
        409,
        "a second factor is enrolled already",
    )
}


def _self_actor(caller: Caller) -> Actor:
    """The holder acting on their own account."""
    grant = caller.principal.grants[0] if caller.principal.grants else None
    if grant is None:
        return Actor(caller.account.username, Role.EMPLOYEE, caller.account.unit_code)
    return Actor(caller.account.username, grant.role, grant.unit_code)


@router.post("/login", response_model=LoginOut, responses=LOGIN_ERRORS)
def log_in(body: LoginIn, request: Request, response: Response, svc: Svc) -> dict[str, Any]:
    """Open a browser session: the token goes in an HttpOnly cookie, the CSRF token in the
    answer. Accounts with a second factor give their current TOTP code."""
    store = auth_store(request)
    result = login(
        svc,
        store,
        username=body.username,
        password=body.password,
        totp=body.totp,
        address=client_address(request),
    )
    set_session_cookie(response, result, store)
    credential = result.credential
    response.headers["Cache-Control"] = "no-store"
    return {
        "username": result.account.username,
        "csrf_token": credential.csrf_token,
        "expires_at": credential.expires_at.isoformat(),
        "must_change_password": result.account.must_change_password,
        "totp_enrolment_required": result.second_factor_enrolment_required,
    }


@router.post("/logout", status_code=status.HTTP_204_NO_CONTENT, responses=SIGNED_IN)
def log_out(caller: Onboarding, store: Store) -> Response:
    """End this session (or revoke the bearer token used)."""
    store.revoke(caller.credential.id)
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get("/me", responses=SIGNED_IN)
def me(caller: Onboarding) -> dict[str, Any]:
    """Who is calling, with the grants in force today and what is still due."""
    p, account = caller.principal, caller.account
    return {
        "username": p.account,
        "display_name": p.display_name,
        "kind": p.kind,
        "unit_code": account.unit_code,
        "profile_id": p.profile_id,
        "grants": [{"role": g.role.value, "unit_code": g.unit_code} for g in p.grants],
        "credential": caller.credential.kind,
        "expires_at": caller.credential.expires_at.isoformat(),
        "must_change_password": account.must_change_password,
        "totp_enrolled": account.totp_enrolled,
        "totp_required": account.second_factor_required(caller.today),
        "due": onboarding_due(caller),
    }


@router.post(
    "/password", status_code=status.HTTP_204_NO_CONTENT, responses={**SIGNED_IN, **INVALID}
)
async def change_password(
    body: PasswordIn, request: Request, caller: Onboarding, svc: Svc, store: Store
) -> None:
    """Change one's own password (a temporary one too); other sessions end."""
    account = caller.account
    ok = await run_in_threadpool(
        verify_password, store.hasher, account.password_hash, body.old_password
    )
    if not ok:
        address = client_address(request)
        await run_in_threadpool(failed_attempt, svc, store, account.username, address, account)
        raise fail(403, "wrong_password", "the current password is wrong", field="old_password")
    check_new_password(body.new_password, username=account.username, old=body.old_password)
    new_hash = await run_in_threadpool(store.hasher.hash, body.new_password)

    def record() -> None:
        with domain_errors():
            svc.ledger.set_password(account.username, new_hash, actor=_self_actor(caller))
        store.revoke_all(account.username, kind="session", keep=caller.credential.id)

    await run_in_threadpool(record)


@router.post("/totp", responses={**SIGNED_IN, **TOTP_CONFLICT})
def start_totp(caller: Onboarding, store: Store) -> dict[str, Any]:
    """Begin enrolling a second factor: a new secret, as a provisioning URI for an
    authenticator app; it takes effect once a code from it is confirmed."""
    if caller.account.totp_enrolled:
        raise fail(409, "totp_already_enrolled", "a second factor is enrolled already")
    secret = pyotp.random_base32()
    store.set_totp_pending(caller.credential.id, secret)
    uri = pyotp.TOTP(secret).provisioning_uri(
        name=caller.account.username, issuer_name=store.config.totp_issuer
    )
    return {"secret": secret, "provisioning_uri": uri}


@router.post(
    "/totp/confirm",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**SIGNED_IN, **TOTP_CONFLICT, **INVALID},
)
def confirm_totp(body: TotpConfirmIn, caller: Onboarding, svc: Svc, store: Store) -> None:
    """Confirm the second factor with a code from the authenticator app."""
    if caller.account.totp_enrolled:
        raise fail(409, "totp_already_enrolled", "a second factor is enrolled already")
    secret = caller.credential.totp_pending
    if secret is None:
        raise fail(409, "totp_not_started", "start with POST /api/auth/totp")
    if not totp_ok(secret, body.code, store.now()):
        raise fail(422, "invalid_totp", "wrong TOTP code", field="code")
    with domain_errors():
        svc.ledger.enroll_totp(caller.account.username, secret, actor=_self_actor(caller))
    store.set_totp_pending(caller.credential.id, None)


@router.post("/tokens", status_code=status.HTTP_201_CREATED, responses={**SIGNED_IN, **INVALID})
def create_token(body: TokenIn, caller: Full, store: Store) -> dict[str, Any]:
    """A bearer token for a program, shown this once; it lasts ``days`` (at most the
    configured maximum, 90 by default)."""
    if caller.credential.kind != "session":
        raise fail(403, "session_required", "bearer tokens are made from a browser session")
    if body.days > store.config.bearer_max_days:
        raise fail(
            422,
            "invalid_input",
            f"a bearer token lasts at most {store.config.bearer_max_days} days",
            field="days",
        )
    token, credential = store.issue(
        caller.account.username, "bearer", timedelta(days=body.days), name=body.name.strip()
    )
    return {**credential.public(), "token": token}


@router.get("/tokens", responses=SIGNED_IN)
def list_tokens(caller: Full, store: Store) -> dict[str, Any]:
    """The caller's bearer tokens (never the tokens themselves)."""
    now = store.now()
    return {
        "tokens": [
            {**c.public(), "active": c.revoked_at is None and c.expires_at > now}
            for c in store.tokens(caller.account.username)
        ]
    }


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={**SIGNED_IN, **NOT_FOUND, **INVALID},
)
def revoke_token(token_id: str, caller: Full, store: Store) -> None:
    """Revoke one of the caller's bearer tokens."""
    owned = {c.id for c in store.tokens(caller.account.username) if c.revoked_at is None}
    if token_id not in owned or not store.revoke(token_id, account=caller.account.username):
        raise fail(404, "not_found", f"no token {token_id}")
