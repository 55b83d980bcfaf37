"""Accounts and the roles they hold, with dates: who may act for which unit, and when.

An account may be linked to the person's own profile; a role is granted for a unit (and
the units below it) from a date, until a date or until it is ended. A grant can be
restricted (ended earlier, or narrowed to a unit below its own) and extended (ended
later). Every credential change is an event too: a password is kept only as its argon2id
hash; a password reset by an administrator is temporary and must be changed at the next
login; a second factor (TOTP) is enrolled with its secret; an account is locked (after
repeated failed logins, or by an administrator) and unlocked; a revoked account is closed
for good and holds no grant from the day of its revocation on.

Who may create which kind of account is the jurisdiction's account policy
(``may_create_account``), and who may grant which role is ``GRANTABLE``.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, NotFound, TransitionNotAllowed
from domain.values import Actor, Role, nfc

if TYPE_CHECKING:
    from domain.jurisdiction import AccountPolicy

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._\-]{1,62}$")
KINDS = ("personal", "unit", "administrator", "approver", "inspector", "service")
ARGON2ID_HASH = re.compile(
    r"^\$argon2id\$v=\d+\$m=\d+,t=\d+,p=\d+\$[A-Za-z0-9+/]+\$[A-Za-z0-9+/]+$"
)
FAILED_LOGINS = "failed_logins"  # the reason of a lock after repeated failed logins

# Roles that approve (a level of an approval chain) or administer: an account holding one
# of them in force, or of kind administrator or approver, must log in with a second factor.
SECOND_FACTOR_ROLES = frozenset(
    {
        Role.ADMINISTRATOR,
        Role.HOME_AFFAIRS,
        Role.INFORMATION_CENTRE,
        Role.UNIT_HEAD,
        Role.HR_HEAD,
        Role.HR_OFFICER,
    }
)
SECOND_FACTOR_KINDS = frozenset({"administrator", "approver"})

# Accounts outside the personal/unit model of the regulations: the instance's own
# administrators, approvers' and inspectors' accounts and service accounts.
STAFF_ACCOUNT_CREATORS: dict[str, frozenset[Role]] = {
    "administrator": frozenset({Role.ADMINISTRATOR}),
    "approver": frozenset({Role.ADMINISTRATOR, Role.HOME_AFFAIRS, Role.INFORMATION_CENTRE}),
    "inspector": frozenset({Role.ADMINISTRATOR, Role.HOME_AFFAIRS, Role.INFORMATION_CENTRE}),
    "service": frozenset({Role.ADMINISTRATOR, Role.HOME_AFFAIRS, Role.INFORMATION_CENTRE}),
}

# The roles each role may grant (restrict, extend) to others within its scope: nobody
# grants a role above their own, and only an administrator makes administrators.
_OFFICE_ROLES = frozenset(
    {Role.EMPLOYEE, Role.HR_OFFICER, Role.HR_HEAD, Role.UNIT_HEAD, Role.INSPECTOR}
)
GRANTABLE: dict[Role, frozenset[Role]] = {
    Role.SYSTEM: frozenset(set(Role) - {Role.SYSTEM}),
    Role.ADMINISTRATOR: frozenset(set(Role) - {Role.SYSTEM}),
    Role.HOME_AFFAIRS: _OFFICE_ROLES | {Role.HOME_AFFAIRS},
    Role.INFORMATION_CENTRE: _OFFICE_ROLES | {Role.INFORMATION_CENTRE},
    Role.UNIT_HEAD: frozenset({Role.EMPLOYEE, Role.HR_OFFICER, Role.HR_HEAD}),
    Role.HR_OFFICER: frozenset({Role.EMPLOYEE}),
}


def account_creators(policy: AccountPolicy, kind: str) -> frozenset[Role]:
    """The roles that may create an account of ``kind`` under the jurisdiction's policy.

    Personal and unit accounts follow the regulation: under ``per_person`` the policy's
    ``created_by`` creates personal accounts and ``unit_accounts_created_by`` (if any) unit
    accounts; under ``per_unit`` the other way round. The system (imports, the command
    line) may create any account.
    """
    if kind == "personal":
        role = policy.created_by if policy.model == "per_person" else None
        role = role or policy.personal_accounts_created_by
    elif kind == "unit":
        role = policy.created_by if policy.model == "per_unit" else None
        role = role or policy.unit_accounts_created_by
    elif kind in STAFF_ACCOUNT_CREATORS:
        return STAFF_ACCOUNT_CREATORS[kind] | {Role.SYSTEM}
    else:
        return frozenset()
    return frozenset({Role.SYSTEM} | ({role} if role else set()))


def may_create_account(policy: AccountPolicy, roles: Iterable[Role], kind: str) -> bool:
    """Whether a creator holding ``roles`` may create an account of ``kind``."""
    return bool(account_creators(policy, kind) & set(roles))


def may_grant(roles: Iterable[Role], role: Role) -> bool:
    """Whether a grantor holding ``roles`` may grant (restrict, extend) ``role``."""
    return any(role in GRANTABLE.get(own, frozenset()) for own in roles)


def require_argon2id(password_hash: str) -> str:
    if not ARGON2ID_HASH.match(password_hash or ""):
        raise InvalidInput("a password is stored as its argon2id hash only", "password_hash")
    return password_hash


def require_totp_secret(secret: str) -> str:
    secret = (secret or "").strip().upper()
    try:
        raw = base64.b32decode(secret + "=" * (-len(secret) % 8))
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) < 16:
        raise InvalidInput("a TOTP secret is base32 of at least 128 bits", "secret")
    return secret


class Account(Aggregate):
    @staticmethod
    def create_id(username: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"hoso:account:{username}")

    @event("Created")
    def __init__(
        self,
        username: str,
        display_name: str,
        kind: str,
        unit_code: str,
        profile_id: str | None,
        actor: Actor,
    ) -> None:
        self.username = username
        self.display_name = display_name
        self.kind = kind
        self.unit_code = unit_code
        self.profile_id = profile_id
        self.grants: dict[str, dict[str, Any]] = {}
        self.closed = False
        self.revoked_on: date | None = None
        self.revocation_reason = ""
        self.password_hash: str | None = None
        self.must_change_password = False
        self.totp_secret: str | None = None
        self.locked = False
        self.lock_reason = ""

    @classmethod
    def open(
        cls,
        username: str,
        display_name: str,
        kind: str,
        unit_code: str,
        *,
        actor: Actor,
        profile_id: str | None = None,
    ) -> Account:
        username = username.strip().lower()
        if not USERNAME.match(username):
            raise InvalidInput(
                "a username is 2–63 lower-case letters, digits, dots, dashes or underscores",
                "username",
            )
        if kind not in KINDS:
            raise InvalidInput(f"account kind is one of {', '.join(KINDS)}", "kind")
        if kind == "personal" and not profile_id:
            raise InvalidInput("a personal account belongs to a person's profile", "profile_id")
        return cls(
            username=username,
            display_name=nfc(display_name) or username,
            kind=kind,
            unit_code=unit_code,
            profile_id=profile_id,
            actor=actor,
        )

    # -- state -------------------------------------------------------------------------------

    @property
    def totp_enrolled(self) -> bool:
        return self.totp_secret is not None

    def revoked(self, day: date) -> bool:
        """Whether the account is closed on ``day``."""
        return self.revoked_on is not None and self.revoked_on <= day

    def second_factor_required(self, day: date) -> bool:
        """Administrators and approvers log in with a second factor."""
        return self.kind in SECOND_FACTOR_KINDS or any(
            g["role"] in SECOND_FACTOR_ROLES for g in self.grants_on(day)
        )

    def _require_open(self) -> None:
        if self.closed:
            raise TransitionNotAllowed(f"account {self.username} is revoked")

    def _grant(self, grant_id: str) -> dict[str, Any]:
        grant = self.grants.get(grant_id)
        if grant is None:
            raise NotFound(f"no grant {grant_id} on account {self.username}")
        return grant

    # -- grants ------------------------------------------------------------------------------

    def grant(
        self,
        role: Role,
        unit_code: str,
        *,
        valid_from: date,
        valid_until: date | None = None,
        actor: Actor,
    ) -> str:
        self._require_open()
        if valid_until is not None and valid_until < valid_from:
            raise InvalidInput("a grant ends after it starts", "valid_until")
        grant_id = str(uuid5(self.id, f"grant:{self.version + 1}"))
        self._granted(
            grant_id=grant_id,
            role=role,
            unit_code=unit_code,
            valid_from=valid_from,
            valid_until=valid_until,
            actor=actor,
        )
        return grant_id

    @event("RoleGranted")
    def _granted(
        self,
        grant_id: str,
        role: Role,
        unit_code: str,
        valid_from: date,
        valid_until: date | None,
        actor: Actor,
    ) -> None:
        self.grants[grant_id] = {
            "role": role,
            "unit_code": unit_code,
            "valid_from": valid_from,
            "valid_until": valid_until,
        }

    def end_grant(self, grant_id: str, *, ended_on: date, actor: Actor) -> None:
        grant = self._grant(grant_id)
        if ended_on < grant["valid_from"]:
            raise InvalidInput("a grant cannot end before it starts", "ended_on")
        self._grant_ended(grant_id=grant_id, ended_on=ended_on, actor=actor)

    @event("RoleEnded")
    def _grant_ended(self, grant_id: str, ended_on: date, actor: Actor) -> None:
        self.grants[grant_id] = {**self.grants[grant_id], "valid_until": ended_on}

    def restrict_grant(
        self,
        grant_id: str,
        *,
        actor: Actor,
        valid_until: date | None = None,
        unit_code: str | None = None,
        unit_ancestors: Iterable[str] = (),
    ) -> None:
        """End a grant earlier, or narrow it to a unit below its own (``unit_ancestors``
        are the units above ``unit_code``, to check that it is below)."""
        self._require_open()
        grant = self._grant(grant_id)
        if valid_until is None and unit_code is None:
            raise InvalidInput("a restriction ends the grant earlier or narrows its unit")
        if valid_until is not None:
            if valid_until < grant["valid_from"]:
                raise InvalidInput("a grant cannot end before it starts", "valid_until")
            if grant["valid_until"] is not None and valid_until >= grant["valid_until"]:
                raise InvalidInput(
                    f"a restriction ends the grant before {grant['valid_until'].isoformat()}",
                    "valid_until",
                )
        if unit_code is not None:
            if unit_code == grant["unit_code"]:
                unit_code = None
            elif grant["unit_code"] not in set(unit_ancestors):
                raise InvalidInput(
                    f"a restriction narrows the grant to a unit below {grant['unit_code']}",
                    "unit_code",
                )
        if valid_until is None and unit_code is None:
            raise InvalidInput("the restriction changes nothing")
        self._grant_restricted(
            grant_id=grant_id,
            valid_until=valid_until or grant["valid_until"],
            unit_code=unit_code or grant["unit_code"],
            actor=actor,
        )

    @event("GrantRestricted")
    def _grant_restricted(
        self, grant_id: str, valid_until: date | None, unit_code: str, actor: Actor
    ) -> None:
        self.grants[grant_id] = {
            **self.grants[grant_id],
            "valid_until": valid_until,
            "unit_code": unit_code,
        }

    def extend_grant(self, grant_id: str, *, valid_until: date | None, actor: Actor) -> None:
        """End a grant later (``None``: until further notice)."""
        self._require_open()
        grant = self._grant(grant_id)
        if grant["valid_until"] is None:
            raise InvalidInput("the grant has no end date to extend", "valid_until")
        if valid_until is not None and valid_until <= grant["valid_until"]:
            raise InvalidInput(
                f"an extension ends the grant after {grant['valid_until'].isoformat()}",
                "valid_until",
            )
        self._grant_extended(grant_id=grant_id, valid_until=valid_until, actor=actor)

    @event("GrantExtended")
    def _grant_extended(self, grant_id: str, valid_until: date | None, actor: Actor) -> None:
        self.grants[grant_id] = {**self.grants[grant_id], "valid_until": valid_until}

    def grants_on(self, day: date, role: Role | None = None) -> list[dict[str, Any]]:
        """The grants in force on a day (the last day of a grant is included); none from
        the day the account is revoked."""
        if self.revoked(day):
            return []
        return [
            g
            for g in self.grants.values()
            if g["valid_from"] <= day
            and (g["valid_until"] is None or day <= g["valid_until"])
            and (role is None or g["role"] == role)
        ]

    # -- credentials -------------------------------------------------------------------------

    def set_password(self, password_hash: str, *, actor: Actor) -> None:
        """The holder's own password (its argon2id hash)."""
        self._require_open()
        self._password_set(password_hash=require_argon2id(password_hash), actor=actor)

    @event("PasswordSet")
    def _password_set(self, password_hash: str, actor: Actor) -> None:
        self.password_hash = password_hash
        self.must_change_password = False

    def reset_password(self, password_hash: str, *, actor: Actor) -> None:
        """A temporary password given by an administrator, to be changed at the next login;
        it ends a lock after failed logins."""
        self._require_open()
        self._password_reset(password_hash=require_argon2id(password_hash), actor=actor)

    @event("PasswordReset")
    def _password_reset(self, password_hash: str, actor: Actor) -> None:
        self.password_hash = password_hash
        self.must_change_password = True
        if self.locked and self.lock_reason == FAILED_LOGINS:
            self.locked = False
            self.lock_reason = ""

    def enroll_totp(self, secret: str, *, actor: Actor) -> None:
        self._require_open()
        self._totp_enrolled(secret=require_totp_secret(secret), actor=actor)

    @event("TotpEnrolled")
    def _totp_enrolled(self, secret: str, actor: Actor) -> None:
        self.totp_secret = secret

    def lock(self, reason: str, *, actor: Actor) -> None:
        self._require_open()
        if self.locked:
            raise TransitionNotAllowed(f"account {self.username} is locked already")
        reason = nfc(reason)
        if not reason:
            raise InvalidInput("a lock gives its reason", "reason")
        self._locked(reason=reason, actor=actor)

    @event("Locked")
    def _locked(self, reason: str, actor: Actor) -> None:
        self.locked = True
        self.lock_reason = reason

    def unlock(self, *, actor: Actor) -> None:
        self._require_open()
        if not self.locked:
            raise TransitionNotAllowed(f"account {self.username} is not locked")
        self._unlocked(actor=actor)

    @event("Unlocked")
    def _unlocked(self, actor: Actor) -> None:
        self.locked = False
        self.lock_reason = ""

    def revoke(self, *, on: date, actor: Actor, reason: str = "") -> None:
        """Close the account: no login and no grant from ``on``."""
        self._require_open()
        self._revoked(revoked_on=on, reason=nfc(reason), actor=actor)

    @event("Revoked")
    def _revoked(self, revoked_on: date, reason: str, actor: Actor) -> None:
        self.closed = True
        self.revoked_on = revoked_on
        self.revocation_reason = reason


class PersonalAccountClaim(Aggregate):
    """One personal account per person: the claim's id is derived from the profile, so the
    event store itself refuses a second claim while the first holds. Revoking the account
    releases the claim, and a new personal account may claim it again."""

    @staticmethod
    def create_id(profile_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"hoso:personal-account:{profile_id}")

    @event("Claimed")
    def __init__(self, profile_id: str, username: str) -> None:
        self.profile_id = profile_id
        self.username: str | None = username

    @event("Released")
    def release(self) -> None:
        self.username = None

    def reclaim(self, username: str) -> None:
        if self.username is not None:
            raise TransitionNotAllowed(
                f"profile {self.profile_id} has a personal account already: {self.username}"
            )
        self._reclaimed(username=username)

    @event("Reclaimed")
    def _reclaimed(self, username: str) -> None:
        self.username = username
