"""Units and their reorganisations, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date

import pytest

from domain.application import Ledger
from domain.errors import DuplicateUnitCode, InvalidInput, NotFound, UnitNotActive
from domain.values import EmployeeCategory, UnitKind
from tests.builders import ADMIN, person, unit_tree
from tests.conftest import HR, decision


def log_head(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


def test_a_unit_tree_is_built_and_read_back(ledger: Ledger) -> None:
    unit_tree(ledger)
    unit = ledger.unit("stc.ns")  # codes are case-insensitive on input
    assert unit.name == "Phòng Ngân sách"
    assert unit.kind is UnitKind.SUB_DEPARTMENT
    assert unit.parent_code == "STC"
    assert ledger.ancestors("STC.NS") == ["STC", "UBND"]


def test_a_unit_code_is_taken_once_and_the_store_is_unchanged(ledger: Ledger) -> None:
    unit_tree(ledger)
    before = log_head(ledger)
    with pytest.raises(DuplicateUnitCode, match="SNV"):
        ledger.create_unit("SNV", "Sở khác", UnitKind.DEPARTMENT, "UBND", actor=ADMIN)
    assert log_head(ledger) == before
    assert ledger.unit("SNV").name == "Sở Nội vụ"


@pytest.mark.parametrize(
    ("code", "name", "kind", "parent", "message"),
    [
        ("", "Sở X", UnitKind.DEPARTMENT, "UBND", "unit code"),
        ("SỞ X", "Sở X", UnitKind.DEPARTMENT, "UBND", "unit code"),
        ("SX", "  ", UnitKind.DEPARTMENT, "UBND", "name"),
        ("SX", "Sở X", UnitKind.DEPARTMENT, None, "parent"),
    ],
)
def test_a_malformed_unit_is_refused(
    ledger: Ledger, code: str, name: str, kind: UnitKind, parent: str | None, message: str
) -> None:
    unit_tree(ledger)
    before = log_head(ledger)
    with pytest.raises(InvalidInput, match=message):
        ledger.create_unit(code, name, kind, parent, actor=ADMIN)
    assert log_head(ledger) == before


def test_an_unknown_parent_is_named(ledger: Ledger) -> None:
    with pytest.raises(NotFound, match="SXX"):
        ledger.create_unit("SX", "Sở X", UnitKind.DEPARTMENT, "SXX", actor=ADMIN)


def test_rename_and_move_keep_the_earlier_names(ledger: Ledger) -> None:
    unit_tree(ledger)
    ledger.rename_unit(
        "STC.NS",
        "Phòng Quản lý ngân sách",
        actor=ADMIN,
        effective_date=date(2023, 1, 1),
        decision=decision(),
    )
    ledger.move_unit("STC.NS", "SNV", actor=ADMIN, effective_date=date(2024, 1, 1))
    unit = ledger.unit("STC.NS")
    assert (unit.name, unit.parent_code) == ("Phòng Quản lý ngân sách", "SNV")
    events = list(ledger.repository.event_store.get(unit.id))
    assert [type(e).__name__ for e in events] == ["Created", "Renamed", "Moved"]
    assert ledger.repository.get(unit.id, version=1).name == "Phòng Ngân sách"


def test_a_unit_is_never_moved_below_itself(ledger: Ledger) -> None:
    unit_tree(ledger)
    with pytest.raises(InvalidInput, match="itself"):
        ledger.move_unit("STC", "STC.NS", actor=ADMIN, effective_date=date(2024, 1, 1))
    assert ledger.unit("STC").parent_code == "UBND"


def test_a_merged_unit_takes_no_new_staff_and_keeps_its_people(ledger: Ledger) -> None:
    unit_tree(ledger)
    profile_id = ledger.open_profile(
        person(unit_code="STC.NS", department="Ngân sách"), decision=decision(), actor=HR
    )
    ledger.merge_unit(
        "STC.NS",
        "STC",
        actor=ADMIN,
        effective_date=date(2025, 7, 1),
        decision=decision("12/QĐ-UBND", date(2025, 6, 20)),
    )
    with pytest.raises(UnitNotActive, match="merged into STC"):
        ledger.open_profile(
            person("001085099999", unit_code="STC.NS"), decision=decision(), actor=HR
        )
    # The person's record still names the unit it was recorded under, and the unit tells
    # where it went: history stays readable after the reorganisation.
    assert ledger.profile(profile_id).unit_code == "STC.NS"
    assert ledger.unit("STC.NS").merged_into == "STC"


def test_a_dissolved_unit_cannot_be_dissolved_twice(ledger: Ledger) -> None:
    unit_tree(ledger)
    ledger.dissolve_unit(
        "STC.NS", actor=ADMIN, effective_date=date(2025, 7, 1), decision=decision()
    )
    with pytest.raises(UnitNotActive, match="dissolved"):
        ledger.dissolve_unit(
            "STC.NS", actor=ADMIN, effective_date=date(2025, 8, 1), decision=decision()
        )


def test_staffing_quota_per_year_and_category(ledger: Ledger) -> None:
    unit_tree(ledger)
    ledger.set_staffing_quota("SNV", 2026, EmployeeCategory.CIVIL_SERVANT, 42, actor=ADMIN)
    ledger.set_staffing_quota("SNV", 2026, EmployeeCategory.PUBLIC_EMPLOYEE, 5, actor=ADMIN)
    ledger.set_staffing_quota("SNV", 2026, EmployeeCategory.CIVIL_SERVANT, 40, actor=ADMIN)
    assert ledger.unit("SNV").quotas == {"2026": {"civil_servant": 40, "public_employee": 5}}
    with pytest.raises(InvalidInput, match="zero or more"):
        ledger.set_staffing_quota("SNV", 2026, EmployeeCategory.CADRE, -1, actor=ADMIN)
