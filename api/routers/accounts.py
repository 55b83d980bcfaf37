"""Accounts: create them as the jurisdiction says, grant, restrict and extend roles,
revoke accounts, reset passwords and unlock.

Two rules decide together: the policy (``decide(..., Action.MANAGE_ACCOUNTS, unit_code)``:
a role that manages accounts, within its unit subtree) and the jurisdiction's account
policy (who creates personal and unit accounts: Trà Vinh's Department of Home Affairs,
Hải Phòng's employing unit, the Ministry's Information Centre). Nobody grants a role above
their own (``domain.account.GRANTABLE``), manages an account holding such a role, or
manages their own account here. An account the caller may not manage is answered 404,
exactly as one that does not exist.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, status
from pydantic import BaseModel, Field

from api.auth import (
    AuthStore,
    Caller,
    auth_store,
    clear_failures,
    current_caller,
    domain_errors,
    fail,
    temporary_password,
)
from api.deps import Services, services
from api.policy import ALLOWED, Action, Grant, Principal, decide
from api.routers import COMMAND_ERRORS, READ_ERRORS
from domain.account import Account, account_creators, may_grant
from domain.errors import NotFound
from domain.values import Actor, Role, json_ready

router = APIRouter(prefix="/api/accounts", tags=["accounts"])

Svc = Annotated[Services, Depends(services)]
Store = Annotated[AuthStore, Depends(auth_store)]
Full = Annotated[Caller, Depends(current_caller)]
MANAGERS = ALLOWED[Action.MANAGE_ACCOUNTS]


class AccountIn(BaseModel):
    username: str = Field(min_length=2, max_length=63)
    display_name: str = Field(default="", max_length=200)
    kind: Literal["personal", "unit", "administrator", "approver", "inspector", "service"]
    unit_code: str | None = Field(default=None, description="not for personal accounts")
    profile_id: str | None = Field(default=None, description="personal accounts: the person")


class GrantIn(BaseModel):
    role: Role
    unit_code: str
    valid_from: date | None = None  # today by default
    valid_until: date | None = None


class RestrictIn(BaseModel):
    valid_until: date | None = None  # earlier than now
    unit_code: str | None = None  # a unit below the grant's own


class ExtendIn(BaseModel):
    valid_until: date | None  # later than now; null: until further notice


class RevokeIn(BaseModel):
    reason: str = Field(default="", max_length=500)


class LockIn(BaseModel):
    reason: str = Field(min_length=1, max_length=500)


# -- who may -------------------------------------------------------------------------------


def _not_found(username: str) -> Exception:
    return fail(404, "not_found", f"no account {username}")


def _account(svc: Services, username: str) -> Account:
    with domain_errors():
        try:
            return svc.ledger.account(username)
        except NotFound:
            raise _not_found(username) from None


def _home_unit(svc: Services, account: Account) -> str:
    """The unit an account belongs to now: a personal account follows its person."""
    if account.kind == "personal" and account.profile_id is not None:
        try:
            return svc.ledger.profile(account.profile_id).unit_code
        except NotFound:
            pass
    return account.unit_code


def _grants_over(principal: Principal, unit_code: str) -> list[Grant]:
    """The caller's account-managing grants that reach the unit."""
    return [g for g in principal.grants if g.role in MANAGERS and unit_code in g.scope]


def _actor(principal: Principal, grant: Grant) -> Actor:
    return Actor(principal.account, grant.role, grant.unit_code)


def _manager(caller: Caller, svc: Services, account: Account) -> Grant:
    """The grant through which the caller manages ``account``: 404 when the account is out
    of the caller's reach, 403 when it holds a role above the caller's."""
    principal = caller.principal
    home = _home_unit(svc, account)
    if not decide(principal, Action.MANAGE_ACCOUNTS, unit_code=home):
        if account.username == principal.account:
            raise fail(403, "own_account", "one's own account is managed by someone else")
        raise _not_found(account.username)
    if account.username == principal.account:
        raise fail(403, "own_account", "one's own account is managed by someone else")
    held = {
        g["role"]
        for g in account.grants.values()
        if g["valid_until"] is None or g["valid_until"] >= caller.today
    }
    if account.kind == "administrator":
        held.add(Role.ADMINISTRATOR)
    for grant in _grants_over(principal, home):
        if all(may_grant([grant.role], role) for role in held):
            return grant
    raise fail(403, "forbidden", f"{principal.account} may not manage {account.username}")


def _granting(caller: Caller, svc: Services, role: Role, unit_code: str) -> Grant:
    """The grant through which the caller may grant ``role`` for ``unit_code``; 403 if none."""
    verdict = decide(caller.principal, Action.MANAGE_ACCOUNTS, unit_code=unit_code)
    if verdict:
        for grant in _grants_over(caller.principal, unit_code):
            if may_grant([grant.role], role):
                return grant
    raise fail(
        403, "forbidden", f"{caller.principal.account} may not grant {role.value} for {unit_code}"
    )


def _view(account: Account, today: date) -> dict[str, Any]:
    in_force = {id(g) for g in account.grants_on(today)}
    return {
        "username": account.username,
        "display_name": account.display_name,
        "kind": account.kind,
        "unit_code": account.unit_code,
        "profile_id": account.profile_id,
        "revoked": account.revoked(today) or account.closed,
        "revoked_on": json_ready(account.revoked_on),
        "locked": account.locked,
        "lock_reason": account.lock_reason or None,
        "must_change_password": account.must_change_password,
        "totp_enrolled": account.totp_enrolled,
        "totp_required": account.second_factor_required(today),
        "grants": [
            {
                "id": grant_id,
                "role": g["role"].value,
                "unit_code": g["unit_code"],
                "valid_from": json_ready(g["valid_from"]),
                "valid_until": json_ready(g["valid_until"]),
                "in_force": id(g) in in_force,
            }
            for grant_id, g in account.grants.items()
        ],
    }


# -- endpoints -----------------------------------------------------------------------------


@router.post("", status_code=status.HTTP_201_CREATED, responses=COMMAND_ERRORS)
def create_account(body: AccountIn, caller: Full, svc: Svc, store: Store) -> dict[str, Any]:
    """Create an account with a temporary password, shown this once; the holder changes it
    at the first login. A personal account belongs to the unit its person works in."""
    principal = caller.principal
    with domain_errors():
        if body.kind == "personal":
            if not body.profile_id:
                raise fail(422, "invalid_input", "a personal account names its profile")
            unknown = fail(404, "not_found", f"no profile {body.profile_id}")
            try:
                profile = svc.ledger.profile(body.profile_id)
            except NotFound:
                raise unknown from None
            unit_code = profile.unit_code
            if not decide(principal, Action.MANAGE_ACCOUNTS, unit_code=unit_code):
                raise unknown
            profile_id: str | None = str(profile.id)
        else:
            if not body.unit_code:
                raise fail(422, "invalid_input", "the account's unit is required")
            unit_code = svc.ledger.unit(body.unit_code).code
            if not decide(principal, Action.READ_UNIT, unit_code=unit_code) and not decide(
                principal, Action.MANAGE_ACCOUNTS, unit_code=unit_code
            ):
                # A unit out of the caller's sight is answered as one that does not exist.
                raise fail(404, "not_found", f"no unit with code {body.unit_code}")
            profile_id = None
    creators = account_creators(svc.ledger.jurisdiction.accounts, body.kind)
    grant = next((g for g in _grants_over(principal, unit_code) if g.role in creators), None)
    if grant is None or not svc.ledger.may_create_account([grant.role], body.kind):
        who = ", ".join(sorted(r.value for r in creators - {Role.SYSTEM})) or "nobody"
        raise fail(
            403,
            "forbidden",
            f"under {svc.ledger.jurisdiction.code}, {body.kind} accounts for {unit_code} are "
            f"created by: {who}",
        )
    password = temporary_password()
    with domain_errors():
        username = svc.ledger.create_account(
            body.username,
            body.display_name or body.username,
            body.kind,
            unit_code,
            actor=_actor(principal, grant),
            profile_id=profile_id,
            temporary_password_hash=store.hasher.hash(password),
        )
    return {
        "username": username,
        "kind": body.kind,
        "unit_code": unit_code,
        "profile_id": profile_id,
        "temporary_password": password,
        "must_change_password": True,
    }


@router.get("/{username}", responses=READ_ERRORS)
def read_account(username: str, caller: Full, svc: Svc) -> dict[str, Any]:
    """One's own account, or an account within the caller's reach."""
    account = _account(svc, username)
    own = account.username == caller.principal.account
    if not own and not decide(
        caller.principal, Action.MANAGE_ACCOUNTS, unit_code=_home_unit(svc, account)
    ):
        raise _not_found(username)
    return _view(account, caller.today)


@router.post("/{username}/grants", status_code=status.HTTP_201_CREATED, responses=COMMAND_ERRORS)
def grant_role(username: str, body: GrantIn, caller: Full, svc: Svc) -> dict[str, Any]:
    """Grant a role for a unit (and the units below it)."""
    account = _account(svc, username)
    _manager(caller, svc, account)
    with domain_errors():
        unit_code = svc.ledger.unit(body.unit_code).code
    grant = _granting(caller, svc, body.role, unit_code)
    with domain_errors():
        grant_id = svc.ledger.grant_role(
            account.username,
            body.role,
            unit_code,
            valid_from=body.valid_from or caller.today,
            valid_until=body.valid_until,
            actor=_actor(caller.principal, grant),
        )
    return {"grant_id": grant_id, **_view(svc.ledger.account(account.username), caller.today)}


def _existing_grant(caller: Caller, svc: Services, account: Account, grant_id: str) -> Grant:
    _manager(caller, svc, account)
    held = account.grants.get(grant_id)
    if held is None:
        raise fail(404, "not_found", f"no grant {grant_id} on account {account.username}")
    return _granting(caller, svc, held["role"], held["unit_code"])


@router.post("/{username}/grants/{grant_id}/restrict", responses=COMMAND_ERRORS)
def restrict_grant(
    username: str, grant_id: str, body: RestrictIn, caller: Full, svc: Svc
) -> dict[str, Any]:
    """End a grant earlier, or narrow it to a unit below its own."""
    account = _account(svc, username)
    grant = _existing_grant(caller, svc, account, grant_id)
    with domain_errors():
        svc.ledger.restrict_grant(
            account.username,
            grant_id,
            valid_until=body.valid_until,
            unit_code=body.unit_code,
            actor=_actor(caller.principal, grant),
        )
    return _view(svc.ledger.account(account.username), caller.today)


@router.post("/{username}/grants/{grant_id}/extend", responses=COMMAND_ERRORS)
def extend_grant(
    username: str, grant_id: str, body: ExtendIn, caller: Full, svc: Svc
) -> dict[str, Any]:
    """End a grant later, or never."""
    account = _account(svc, username)
    grant = _existing_grant(caller, svc, account, grant_id)
    with domain_errors():
        svc.ledger.extend_grant(
            account.username,
            grant_id,
            valid_until=body.valid_until,
            actor=_actor(caller.principal, grant),
        )
    return _view(svc.ledger.account(account.username), caller.today)


@router.post("/{username}/revoke", responses=COMMAND_ERRORS)
def revoke_account(
    username: str, body: RevokeIn, caller: Full, svc: Svc, store: Store
) -> dict[str, Any]:
    """Close the account: its sessions and tokens end, and it holds no grant from today."""
    account = _account(svc, username)
    grant = _manager(caller, svc, account)
    with domain_errors():
        svc.ledger.revoke_account(
            account.username, reason=body.reason, actor=_actor(caller.principal, grant)
        )
    store.revoke_all(account.username)
    return _view(svc.ledger.account(account.username), caller.today)


@router.post("/{username}/password-reset", responses=COMMAND_ERRORS)
def reset_password(username: str, caller: Full, svc: Svc, store: Store) -> dict[str, Any]:
    """A temporary password, shown this once, to be changed at the next login; the
    account's sessions and tokens end, and a lock after failed logins with them."""
    account = _account(svc, username)
    grant = _manager(caller, svc, account)
    password = temporary_password()
    with domain_errors():
        svc.ledger.reset_password(
            account.username, store.hasher.hash(password), actor=_actor(caller.principal, grant)
        )
    store.revoke_all(account.username)
    clear_failures(store, account.username)
    return {
        "username": account.username,
        "temporary_password": password,
        "must_change_password": True,
    }


@router.post("/{username}/unlock", responses=COMMAND_ERRORS)
def unlock_account(username: str, caller: Full, svc: Svc, store: Store) -> dict[str, Any]:
    """Unlock an account (locked after failed logins or by an administrator)."""
    account = _account(svc, username)
    grant = _manager(caller, svc, account)
    with domain_errors():
        svc.ledger.unlock_account(account.username, actor=_actor(caller.principal, grant))
    clear_failures(store, account.username)
    return _view(svc.ledger.account(account.username), caller.today)


@router.post("/{username}/lock", responses=COMMAND_ERRORS)
def lock_account(
    username: str, body: LockIn, caller: Full, svc: Svc, store: Store
) -> dict[str, Any]:
    """Lock an account (e.g. a password thought stolen) until it is unlocked."""
    account = _account(svc, username)
    grant = _manager(caller, svc, account)
    with domain_errors():
        svc.ledger.lock_account(
            account.username, body.reason, actor=_actor(caller.principal, grant)
        )
    store.revoke_all(account.username)
    return _view(svc.ledger.account(account.username), caller.today)
