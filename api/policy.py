"""Who may do what: the one policy every endpoint and every page calls.

Scope is the unit subtree an account was granted; a personal account sees its own record
in full and nothing else; an inspector reads within scope and changes nothing. A person's
record belongs to the unit the person works in now, so a transfer ends the old unit's
rights over the person at once (within any jurisdiction's limit, e.g. Trà Vinh's three
working days), and a role held for the old unit ends with it (the signer's authority is
checked against the person's unit on the date as well).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum

from domain.values import Role


class Action(Enum):
    READ_UNIT = "read_unit"  # unit tree, headcount, roster
    READ_PROFILE = "read_profile"  # the approved record (restricted values apart)
    READ_RESTRICTED = "read_restricted"  # values of restricted field groups
    EXPORT = "export"  # rosters and résumés leaving the system
    PROPOSE_CHANGE = "propose_change"
    RECORD_TRANSITION = "record_transition"  # moves, transfers, departures, new records
    SIGN = "sign"  # a level of an approval chain
    MANAGE_UNITS = "manage_units"
    MANAGE_ACCOUNTS = "manage_accounts"
    READ_AUDIT = "read_audit"
    VERIFY = "verify"  # approvals and seals
    READ_NOTICES = "read_notices"  # one's own inbox of notices
    MANAGE_NOTICES = "manage_notices"  # mark one's notices read, set where they are e-mailed


# The restriction level each role is cleared for (0 = open fields only); a person always
# sees their own record in full.
CLEARANCE: dict[Role, int] = {
    Role.EMPLOYEE: 0,
    Role.HR_OFFICER: 2,
    Role.HR_HEAD: 2,
    Role.UNIT_HEAD: 2,
    Role.HOME_AFFAIRS: 2,
    Role.INSPECTOR: 1,
    Role.INFORMATION_CENTRE: 0,
    Role.ADMINISTRATOR: 0,
    Role.SYSTEM: 0,
}

# Which roles may take each action within their scope.
ALLOWED: dict[Action, frozenset[Role]] = {
    Action.READ_UNIT: frozenset(set(Role) - {Role.EMPLOYEE}),
    Action.READ_PROFILE: frozenset(
        {Role.HR_OFFICER, Role.HR_HEAD, Role.UNIT_HEAD, Role.HOME_AFFAIRS, Role.INSPECTOR}
    ),
    Action.READ_RESTRICTED: frozenset(
        {Role.HR_OFFICER, Role.HR_HEAD, Role.UNIT_HEAD, Role.HOME_AFFAIRS, Role.INSPECTOR}
    ),
    Action.EXPORT: frozenset(
        {Role.HR_OFFICER, Role.HR_HEAD, Role.UNIT_HEAD, Role.HOME_AFFAIRS, Role.INSPECTOR}
    ),
    Action.PROPOSE_CHANGE: frozenset({Role.HR_OFFICER, Role.HR_HEAD, Role.HOME_AFFAIRS}),
    Action.RECORD_TRANSITION: frozenset({Role.HR_OFFICER, Role.HR_HEAD, Role.HOME_AFFAIRS}),
    Action.SIGN: frozenset({Role.HR_OFFICER, Role.HR_HEAD, Role.UNIT_HEAD, Role.HOME_AFFAIRS}),
    Action.MANAGE_UNITS: frozenset({Role.HOME_AFFAIRS, Role.ADMINISTRATOR}),
    Action.MANAGE_ACCOUNTS: frozenset(
        {
            Role.HOME_AFFAIRS,
            Role.ADMINISTRATOR,
            Role.INFORMATION_CENTRE,
            Role.UNIT_HEAD,
            Role.HR_OFFICER,
        }
    ),
    Action.READ_AUDIT: frozenset({Role.INSPECTOR, Role.HOME_AFFAIRS, Role.ADMINISTRATOR}),
    Action.VERIFY: frozenset({Role.INSPECTOR, Role.HOME_AFFAIRS, Role.ADMINISTRATOR}),
    # Everyone has an inbox; an inspector changes nothing, not even a notice's read mark.
    Action.READ_NOTICES: frozenset(Role),
    Action.MANAGE_NOTICES: frozenset(set(Role) - {Role.INSPECTOR}),
}
# What a person may do with their own record through a personal account.
OWN_RECORD = frozenset(
    {Action.READ_PROFILE, Action.READ_RESTRICTED, Action.EXPORT, Action.PROPOSE_CHANGE}
    | {Action.READ_NOTICES, Action.MANAGE_NOTICES}  # the person's own inbox
)


@dataclass(frozen=True)
class Grant:
    role: Role
    unit_code: str
    scope: frozenset[str]  # the unit and every unit below it


@dataclass(frozen=True)
class Principal:
    """The authenticated caller, with the grants in force today."""

    account: str
    display_name: str
    kind: str
    profile_id: str | None
    grants: tuple[Grant, ...] = field(default=())

    @property
    def roles(self) -> frozenset[Role]:
        return frozenset(g.role for g in self.grants)

    def clearance(self, unit_code: str | None = None) -> int:
        levels = [
            CLEARANCE[g.role] for g in self.grants if unit_code is None or unit_code in g.scope
        ]
        return max(levels, default=0)


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    reason: str
    role: Role | None = None  # the role the permission comes from
    unit_code: str | None = None  # the grant's unit

    def __bool__(self) -> bool:
        return self.allowed


def decide(
    principal: Principal,
    action: Action,
    *,
    unit_code: str | None = None,
    profile_id: str | None = None,
    level: int = 0,
) -> Verdict:
    """May ``principal`` take ``action`` on the unit (and the person in it, if any)?

    ``unit_code`` is where the target is now (the person's current unit); None for actions
    on the whole instance (managing units, accounts at the top). ``level`` is the
    restriction level of the fields read.
    """
    if profile_id is not None and principal.profile_id == profile_id and action in OWN_RECORD:
        return Verdict(True, "own record", Role.EMPLOYEE, unit_code)
    for grant in principal.grants:
        if grant.role not in ALLOWED[action]:
            continue
        if unit_code is not None and unit_code not in grant.scope:
            continue
        if action is Action.READ_RESTRICTED and CLEARANCE[grant.role] < level:
            continue
        return Verdict(
            True, f"{grant.role.value} of {grant.unit_code}", grant.role, grant.unit_code
        )
    where = f" for {unit_code}" if unit_code else ""
    return Verdict(False, f"{principal.account} may not {action.value}{where}")


def visible_record(
    principal: Principal, record: dict, *, unit_code: str, profile_id: str, levels: dict[str, int]
) -> tuple[dict, list[str], list[str]]:
    """The record as the principal may see it: restricted groups the principal is not
    cleared for keep their name but lose their values. Returns the record, the restricted
    groups shown, and those withheld."""
    shown, withheld = [], []
    result = {}
    for group, value in record.items():
        level = levels.get(group, 0)
        if level == 0:
            result[group] = value
        elif decide(
            principal,
            Action.READ_RESTRICTED,
            unit_code=unit_code,
            profile_id=profile_id,
            level=level,
        ):
            result[group] = value
            if value:
                shown.append(group)
        else:
            result[group] = {"restricted": True, "level": level}
            withheld.append(group)
    return result, shown, withheld
