"""The authorisation policy as a matrix: every action × every role × own unit, subordinate
unit, other unit and own record."""

from __future__ import annotations

import pytest

from api.policy import (
    ALLOWED,
    CLEARANCE,
    OWN_RECORD,
    Action,
    Grant,
    Principal,
    decide,
    visible_record,
)
from domain.values import Role

# SNV has one unit below it (SNV.VP); STC is another department.
SNV = frozenset({"SNV", "SNV.VP"})
ROLES = [r for r in Role if r not in (Role.EMPLOYEE, Role.SYSTEM)]
TARGETS = {"own unit": "SNV", "subordinate unit": "SNV.VP", "other unit": "STC"}


def holder(role: Role) -> Principal:
    return Principal("someone", "Someone", "approver", "p-self", (Grant(role, "SNV", SNV),))


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("where", list(TARGETS))
def test_matrix(action: Action, role: Role, where: str) -> None:
    verdict = decide(holder(role), action, unit_code=TARGETS[where], profile_id="p-other", level=1)
    expected = (
        role in ALLOWED[action]
        and where != "other unit"
        and (action is not Action.READ_RESTRICTED or CLEARANCE[role] >= 1)
    )
    assert bool(verdict) is expected, verdict.reason
    if expected:
        assert (verdict.role, verdict.unit_code) == (role, "SNV")


@pytest.mark.parametrize("action", list(Action))
def test_a_personal_account_has_its_own_record_and_nothing_else(action: Action) -> None:
    me = Principal("an.nv", "Nguyễn Văn An", "personal", "p-an", ())
    own = decide(me, action, unit_code="SNV", profile_id="p-an", level=2)
    assert bool(own) is (action in OWN_RECORD)
    assert not decide(me, action, unit_code="SNV", profile_id="p-binh", level=0)


def test_an_inspector_reads_within_scope_and_changes_nothing() -> None:
    inspector = holder(Role.INSPECTOR)
    assert decide(inspector, Action.READ_PROFILE, unit_code="SNV.VP", profile_id="x")
    assert decide(inspector, Action.VERIFY, unit_code="SNV")
    for action in (
        Action.PROPOSE_CHANGE,
        Action.RECORD_TRANSITION,
        Action.SIGN,
        Action.MANAGE_UNITS,
    ):
        assert not decide(inspector, action, unit_code="SNV", profile_id="x")
    # cleared for level 1 (membership, discipline), not level 2 (citizen ID, health, family)
    assert decide(inspector, Action.READ_RESTRICTED, unit_code="SNV", profile_id="x", level=1)
    assert not decide(inspector, Action.READ_RESTRICTED, unit_code="SNV", profile_id="x", level=2)


def test_restricted_groups_show_that_they_exist_but_not_their_values() -> None:
    record = {
        "identity": {"full_name": "Trần Thị Bình"},
        "citizen": {"citizen_id": "0"},
        "discipline": [{"form": "Khiển trách"}],
    }
    levels = {"citizen": 2, "discipline": 1}
    seen, shown, withheld = visible_record(
        holder(Role.INSPECTOR), record, unit_code="SNV", profile_id="p-binh", levels=levels
    )
    assert seen["identity"] == {"full_name": "Trần Thị Bình"}
    assert seen["citizen"] == {"restricted": True, "level": 2}
    assert seen["discipline"] == [{"form": "Khiển trách"}]
    assert (shown, withheld) == (["discipline"], ["citizen"])
