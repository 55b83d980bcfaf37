"""Jurisdiction profiles: the five regulations' rules as data."""

from __future__ import annotations

import tomllib
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from domain.jurisdiction import (
    JURISDICTION_CODES,
    JURISDICTIONS_DIR,
    ApprovalLevel,
    Jurisdiction,
    ReportDue,
    SigningWindow,
    load_jurisdiction,
    read_jurisdiction_file,
)
from domain.values import DeadlineAction, Role, UnitKind

REGULATIONS_DIR = Path(__file__).resolve().parents[2] / "shared" / "regulations"


def chain(code: str, kind: UnitKind) -> list[tuple[Role, int | None]]:
    return [
        (level.role, level.working_days) for level in load_jurisdiction(code).approval_chain(kind)
    ]


def raw(code: str) -> dict[str, Any]:
    with (JURISDICTIONS_DIR / f"{code}.toml").open("rb") as file:
        return tomllib.load(file)


# --- every profile -------------------------------------------------------------------------


def test_the_five_codes() -> None:
    assert JURISDICTION_CODES == ("haiphong", "cantho", "travinh", "tuyenquang", "bnv")
    assert sorted(p.stem for p in JURISDICTIONS_DIR.glob("*.toml")) == sorted(JURISDICTION_CODES)


@pytest.mark.parametrize("code", JURISDICTION_CODES)
def test_every_profile_loads_under_its_own_code(code: str) -> None:
    jurisdiction = load_jurisdiction(code)
    assert isinstance(jurisdiction, Jurisdiction)
    assert jurisdiction.code == code
    assert jurisdiction.name
    assert load_jurisdiction(code) is jurisdiction  # cached


@pytest.mark.parametrize("code", JURISDICTION_CODES)
def test_regulation_file_exists(code: str) -> None:
    if not REGULATIONS_DIR.is_dir():
        pytest.skip(reason=f"no regulation texts beside the repository: {REGULATIONS_DIR}")
    assert (REGULATIONS_DIR / load_jurisdiction(code).regulation_file).is_file()


@pytest.mark.parametrize("code", JURISDICTION_CODES)
@pytest.mark.parametrize("kind", list(UnitKind))
def test_every_unit_kind_has_a_chain_everywhere(code: str, kind: UnitKind) -> None:
    levels = load_jurisdiction(code).approval_chain(kind)
    assert levels
    assert all(isinstance(level, ApprovalLevel) for level in levels)


@pytest.mark.parametrize("code", JURISDICTION_CODES)
def test_every_deadline_says_where_it_starts(code: str) -> None:
    jurisdiction = load_jurisdiction(code)
    for action in DeadlineAction:
        days = jurisdiction.deadline(action)
        start = jurisdiction.deadline_start(action)
        assert (days is None) == (start is None), action


@pytest.mark.parametrize("code", JURISDICTION_CODES)
def test_every_value_cites_its_source(code: str) -> None:
    """Each line carrying a value has a comment (the article, or that the text is silent)."""
    text = (JURISDICTIONS_DIR / f"{code}.toml").read_text(encoding="utf-8")
    uncommented = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("[") and stripped.endswith("]"):  # table header
            continue
        if stripped == "]" or stripped.endswith("= ["):  # multi-line array brackets
            continue
        if " # " not in stripped:
            uncommented.append(f"{number}: {stripped}")
    assert not uncommented, uncommented


def test_approval_chain_is_a_copy() -> None:
    jurisdiction = load_jurisdiction("bnv")
    jurisdiction.approval_chain(UnitKind.PUBLIC_SERVICE_UNIT).clear()
    assert len(jurisdiction.approval_chain(UnitKind.PUBLIC_SERVICE_UNIT)) == 3


def test_profiles_are_frozen() -> None:
    jurisdiction = load_jurisdiction("cantho")
    with pytest.raises(ValidationError):
        jurisdiction.code = "x"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        jurisdiction.backup.retention_months = 1  # type: ignore[misc]


# --- Bộ Nội vụ (832/QĐ-BNV) ------------------------------------------------------------------


def test_ministry_subordinate_units_sign_in_three_levels() -> None:
    assert chain("bnv", UnitKind.PUBLIC_SERVICE_UNIT) == [
        (Role.HR_OFFICER, 5),
        (Role.HR_HEAD, 5),
        (Role.UNIT_HEAD, 10),
    ]


def test_ministry_departments_sign_in_two_levels() -> None:
    assert chain("bnv", UnitKind.DEPARTMENT) == [(Role.HR_OFFICER, 5), (Role.HR_HEAD, 10)]


def test_ministry_rules() -> None:
    bnv = load_jurisdiction("bnv")
    assert bnv.employee_signs and bnv.digital_signature_required
    assert bnv.signing_window is None
    assert bnv.deadline(DeadlineAction.IN_UNIT_MOVE) == 15
    assert bnv.deadline(DeadlineAction.TRANSFER_OUT) == 15
    assert bnv.deadline_start(DeadlineAction.TRANSFER_OUT) == "request_received"
    assert bnv.deadline(DeadlineAction.TRANSFER_MAX) == 30
    assert bnv.deadline(DeadlineAction.STATUS_CHANGE) == 10
    assert bnv.deadline(DeadlineAction.FIRST_DECLARATION) == 5
    assert bnv.deadline(DeadlineAction.STATE_DECISION) is None
    assert bnv.self_update_working_days == 5
    assert bnv.change_approval_working_days == 10
    assert bnv.accounts.model == "per_person"
    assert bnv.accounts.created_by is Role.INFORMATION_CENTRE
    assert bnv.accounts.working_days == 5
    assert bnv.backup.frequency == "monthly" and bnv.backup.retention_months == 3
    assert bnv.resume_print_after_approval and bnv.service_24_7
    assert bnv.national_sync_by is Role.HOME_AFFAIRS
    assert [step.working_days for step in bnv.new_record_steps] == [5, 5, 5]
    assert bnv.reports == []


# --- Hải Phòng (59/2023/QĐ-UBND) -------------------------------------------------------------


def test_haiphong_window_in_a_leap_february() -> None:
    window = load_jurisdiction("haiphong").signing_window
    assert window == SigningWindow(last_days_of_month=5)
    # February 2024 has 29 days: the last five are 25–29.
    assert window.contains(date(2024, 2, 25))
    assert window.contains(date(2024, 2, 29))
    assert not window.contains(date(2024, 2, 24))
    assert not window.contains(date(2024, 2, 20))
    assert window.opens_on(date(2024, 2, 20)) == date(2024, 2, 25)
    assert window.opens_on(date(2024, 2, 25)) == date(2024, 2, 25)


def test_signing_window_follows_month_length() -> None:
    window = SigningWindow(last_days_of_month=5)
    assert window.opens_on(date(2023, 2, 1)) == date(2023, 2, 24)  # 28 days
    assert window.opens_on(date(2024, 4, 1)) == date(2024, 4, 26)  # 30 days
    assert window.opens_on(date(2024, 1, 1)) == date(2024, 1, 27)  # 31 days
    # Once this month's window has opened, the next opening is next month's.
    assert window.opens_on(date(2024, 2, 27)) == date(2024, 3, 27)
    assert window.opens_on(date(2024, 12, 30)) == date(2025, 1, 27)
    with pytest.raises(ValidationError):
        SigningWindow(last_days_of_month=0)
    with pytest.raises(ValidationError):
        SigningWindow(last_days_of_month=29)


def test_haiphong_single_signature_by_the_unit_head() -> None:
    haiphong = load_jurisdiction("haiphong")
    assert haiphong.digital_signature_required
    for kind in UnitKind:
        assert chain("haiphong", kind) == [(Role.UNIT_HEAD, None)]
    association = haiphong.approval_chain(UnitKind.SPECIAL_ASSOCIATION)[0]
    assert association.title is not None and "Hội đặc thù" in association.title
    commune = haiphong.approval_chain(UnitKind.COMMUNE)[0]
    assert commune.title is not None and "xã" in commune.title


def test_haiphong_excludes_special_associations_from_national_sync() -> None:
    haiphong = load_jurisdiction("haiphong")
    assert haiphong.national_sync_excluded_unit_kinds == [UnitKind.SPECIAL_ASSOCIATION]
    assert not haiphong.synced_nationally(UnitKind.SPECIAL_ASSOCIATION)
    assert haiphong.synced_nationally(UnitKind.DEPARTMENT)
    assert haiphong.synced_nationally(UnitKind.COMMUNE)


def test_haiphong_moves_records_on_the_day() -> None:
    haiphong = load_jurisdiction("haiphong")
    assert haiphong.deadline(DeadlineAction.IN_UNIT_MOVE) == 0
    assert haiphong.deadline(DeadlineAction.TRANSFER_OUT) == 0
    assert haiphong.deadline(DeadlineAction.STATUS_CHANGE) is None
    assert haiphong.accounts.created_by is Role.HR_OFFICER
    assert haiphong.effective_from == date(2024, 1, 15)


# --- Cần Thơ (3473/QĐ-UBND) ------------------------------------------------------------------


def test_cantho_deadlines() -> None:
    cantho = load_jurisdiction("cantho")
    expected = {
        DeadlineAction.NEW_RECORD: 10,
        DeadlineAction.STATE_DECISION: 3,
        DeadlineAction.IN_UNIT_MOVE: 2,
        DeadlineAction.TRANSFER_OUT: 5,
        DeadlineAction.TRANSFER_IN: 3,
        DeadlineAction.STATUS_CHANGE: 5,
        DeadlineAction.ACCOUNT_CREATION: 2,
        DeadlineAction.FIRST_DECLARATION: 3,
    }
    for action in DeadlineAction:
        assert cantho.deadline(action) == expected.get(action), action
    assert cantho.deadline_start(DeadlineAction.TRANSFER_IN) == "record_received"
    assert cantho.transfer_requires_decision_scan


def test_cantho_new_record_steps_10_2_3_1_up_to_5() -> None:
    steps = load_jurisdiction("cantho").new_record_steps
    assert [step.working_days for step in steps] == [10, 2, 3, 1]
    assert [step.actor for step in steps] == [
        Role.HR_OFFICER,
        Role.HR_OFFICER,
        Role.EMPLOYEE,
        Role.HR_OFFICER,
    ]
    assert steps[-1].max_working_days == 5


def test_cantho_backups_reports_and_no_national_sync() -> None:
    cantho = load_jurisdiction("cantho")
    assert cantho.backup.frequency == "daily"
    assert [(r.month, r.day, r.scope) for r in cantho.reports] == [
        (5, 25, "unit"),
        (12, 15, "unit"),
    ]
    # "trước ngày 25 tháng 5": the 24th is the last day on time.
    assert [r.last_day(2025) for r in cantho.reports] == [date(2025, 5, 24), date(2025, 12, 14)]
    assert cantho.signing_window is None
    assert not cantho.digital_signature_required
    assert cantho.national_sync_by is None
    assert not any(cantho.synced_nationally(kind) for kind in UnitKind)
    assert chain("cantho", UnitKind.SUB_DEPARTMENT) == [(Role.HR_OFFICER, 1)]
    assert cantho.accounts.unit_accounts_created_by is Role.HOME_AFFAIRS


# --- Trà Vinh (07/2024/QĐ-UBND) --------------------------------------------------------------


def test_travinh_transfer_deadlines() -> None:
    travinh = load_jurisdiction("travinh")
    assert travinh.deadline(DeadlineAction.ACCESS_REVOCATION) == 3
    assert travinh.deadline(DeadlineAction.TRANSFER_IN) == 5
    assert travinh.deadline_start(DeadlineAction.TRANSFER_IN) == "record_handover"
    assert travinh.deadline(DeadlineAction.TRANSFER_OUT) is None


def test_travinh_rules() -> None:
    travinh = load_jurisdiction("travinh")
    assert travinh.accounts.model == "per_person"
    assert travinh.accounts.created_by is Role.HOME_AFFAIRS
    assert travinh.change_requires_document
    assert travinh.departed_kept_in_separate_archive
    assert travinh.backup.frequency == "monthly" and travinh.backup.retention_months == 3
    (report,) = travinh.reports
    assert (report.month, report.day, report.scope) == (1, 31, "province")
    assert report.last_day(2025) == date(2025, 1, 31)
    assert travinh.signing_window == SigningWindow(last_days_of_month=5)
    assert travinh.national_sync_by is Role.HOME_AFFAIRS


# --- Tuyên Quang (draft 2023) ----------------------------------------------------------------


def test_tuyenquang_rules() -> None:
    tuyenquang = load_jurisdiction("tuyenquang")
    assert tuyenquang.draft
    assert tuyenquang.accounts.model == "per_unit"
    assert tuyenquang.accounts.created_by is Role.HOME_AFFAIRS
    assert tuyenquang.accounts.personal_accounts_created_by is Role.HR_OFFICER
    assert [(r.month, r.day, r.scope) for r in tuyenquang.reports] == [
        (1, 10, "unit"),
        (1, 25, "province"),
    ]
    assert all(tuyenquang.deadline(action) is None for action in DeadlineAction)
    assert chain("tuyenquang", UnitKind.COMMUNE) == [(Role.UNIT_HEAD, None)]


# --- loader and validation -------------------------------------------------------------------


def test_unknown_code_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown jurisdiction code 'hanoi'") as info:
        load_jurisdiction("hanoi")
    for code in JURISDICTION_CODES:
        assert code in str(info.value)


def test_unknown_chain_key_is_rejected() -> None:
    data = raw("haiphong")
    data["approval_chains"]["ministry"] = [{"role": "unit_head"}]
    with pytest.raises(ValidationError, match="unknown approval chain key"):
        Jurisdiction.model_validate(data)


def test_default_chain_is_required() -> None:
    data = raw("bnv")
    del data["approval_chains"]["default"]
    with pytest.raises(ValidationError, match="'default' chain"):
        Jurisdiction.model_validate(data)


def test_empty_chain_is_rejected() -> None:
    data = raw("travinh")
    data["approval_chains"]["commune"] = []
    with pytest.raises(ValidationError, match="no level"):
        Jurisdiction.model_validate(data)


def test_deadline_without_start_is_rejected() -> None:
    data = raw("cantho")
    del data["deadline_starts"]["transfer_in"]
    with pytest.raises(ValidationError, match="missing: \\['transfer_in'\\]"):
        Jurisdiction.model_validate(data)


def test_account_deadline_must_agree() -> None:
    data = raw("bnv")
    data["deadlines"]["account_creation"] = 7
    with pytest.raises(ValidationError, match=r"accounts\.working_days"):
        Jurisdiction.model_validate(data)


def test_misspelt_and_bad_values_are_rejected() -> None:
    data = raw("travinh")
    data["backups"] = data.pop("backup")
    with pytest.raises(ValidationError) as info:
        Jurisdiction.model_validate(data)
    fields = {error["loc"][0] for error in info.value.errors()}
    assert fields == {"backup", "backups"}

    data = raw("travinh")
    data["deadlines"]["coffee_break"] = 1
    with pytest.raises(ValidationError):
        Jurisdiction.model_validate(data)

    data = raw("travinh")
    data["deadlines"]["transfer_in"] = -1
    with pytest.raises(ValidationError):
        Jurisdiction.model_validate(data)


def test_report_day_must_exist() -> None:
    with pytest.raises(ValidationError, match="not a day of the year"):
        ReportDue(name="x", month=4, day=31, scope="unit", article="Điều 1")


def test_invalid_file_names_itself(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    text = (JURISDICTIONS_DIR / "travinh.toml").read_text(encoding="utf-8")
    path.write_text(text.replace('frequency = "monthly"', 'frequency = "hourly"'), "utf-8")
    with pytest.raises(ValidationError) as info:
        read_jurisdiction_file(path)
    assert any(str(path) in note for note in info.value.__notes__)
    assert "frequency" in str(info.value)
