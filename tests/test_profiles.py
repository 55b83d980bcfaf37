"""A person's record from recruitment to departure, on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, date
from decimal import Decimal

import pytest

from domain.application import Ledger
from domain.errors import (
    ChangeSetNotPending,
    ConflictError,
    DuplicateCitizenId,
    InvalidInput,
    NotFound,
    TransitionNotAllowed,
)
from domain.values import Actor, Decision, Document, ProfileStatus, Role
from tests.builders import person, unit_tree
from tests.conftest import HEAD, HR, TODAY, decision

EMPLOYEE = Actor(account="an.nv", role=Role.EMPLOYEE, unit_code="SNV")
SCAN = Document(sha256="ab" * 32, filename="quyet-dinh.pdf", size=120_000)


def log_head(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


@pytest.fixture
def staffed(ledger: Ledger) -> tuple[Ledger, str]:
    unit_tree(ledger)
    profile_id = ledger.open_profile(person(), decision=decision(), actor=HR)
    return ledger, str(profile_id)


def test_opening_a_profile_records_who_when_and_why(ledger: Ledger) -> None:
    unit_tree(ledger)
    profile_id = ledger.open_profile(person(), decision=decision(), actor=HR)
    profile = ledger.profile(profile_id)
    assert profile.full_name == "Nguyễn Văn An"
    assert profile.status is ProfileStatus.ACTIVE
    # The coefficient comes from the rank catalogue: chuyên viên step 3 is 2.34 + 2 × 0.33.
    assert profile.record["employment"]["coefficient"] == Decimal("3.00")
    (opened,) = ledger.profile_events(profile_id)
    assert opened.actor == HR
    assert opened.decision == decision()
    assert opened.effective_date == date(2010, 9, 1)
    assert opened.timestamp.tzinfo is not None and opened.timestamp.utcoffset() == UTC.utcoffset(
        None
    )
    assert ledger.find_profile_id("001085012345") == profile_id


def test_one_profile_per_citizen_id(ledger: Ledger) -> None:
    unit_tree(ledger)
    ledger.open_profile(person(), decision=decision(), actor=HR)
    before = log_head(ledger)
    other = person()
    other["identity"]["full_name"] = "Trần Thị Bình"
    with pytest.raises(DuplicateCitizenId, match="001085012345"):
        ledger.open_profile(other, decision=decision(), actor=HR)
    assert log_head(ledger) == before


def _with(record: dict, group: str, **values: object) -> dict:
    return {**record, group: {**record[group], **values}}


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (_with(person(), "identity", birth_date=date(2030, 1, 1)), "birth date is in the future"),
        (_with(person(), "employment", start_date=date(1999, 1, 1)), "before the age of 15"),
        (_with(person(), "employment", start_date=date(2027, 1, 1)), "in the future"),
        (person(citizen_id="00108501234"), "exactly 12 digits"),
        (_with(person(), "employment", salary_step=10), "steps 1 to 9"),
        (_with(person(), "employment", coefficient="3.33"), "coefficient 3.00, not 3.33"),
        (_with(person(), "employment", rank_code="99.999"), "99.999"),
        (_with(person(), "employment", rank_code="V.08.01.03"), "not a rank for a civil servant"),
        (_with(person(), "identity", ethnicity="77"), "unknown ethnicity"),
        (_with(person(), "identity", gender="x"), "male"),
        (_with(person(), "identity", nickname="An"), "unknown field"),
        (_with(person(), "employment", unit_code="NOWHERE"), "NOWHERE"),
    ],
)
def test_an_impossible_record_is_refused_and_nothing_is_written(
    ledger: Ledger, record: dict, message: str
) -> None:
    unit_tree(ledger)
    before = log_head(ledger)
    with pytest.raises((InvalidInput, NotFound), match=message):
        ledger.open_profile(record, decision=decision(), actor=HR)
    assert log_head(ledger) == before


def test_a_change_stays_pending_until_approved(staffed: tuple[Ledger, str]) -> None:
    ledger, pid = staffed
    change_set = ledger.propose_change(
        pid,
        [
            ("employment.salary_step", 4),
            ("employment.coefficient", "3.33"),
            ("rewards", {"awarded_on": "2024-12-20", "form": "Giấy khen"}),
        ],
        reason="Nâng bậc lương thường xuyên",
        effective_date=date(2024, 9, 1),
        actor=HR,
    )
    profile = ledger.profile(pid)
    assert profile.record["employment"]["salary_step"] == 3  # pending is not approved
    assert list(profile.pending_change_sets) == [change_set]

    ledger.approve_change(pid, change_set, actor=HEAD, decision=decision("45/QĐ-SNV"))
    profile = ledger.profile(pid)
    assert profile.record["employment"]["salary_step"] == 4
    assert profile.record["employment"]["coefficient"] == Decimal("3.33")
    assert profile.record["rewards"] == [{"awarded_on": date(2024, 12, 20), "form": "Giấy khen"}]
    assert profile.pending_change_sets == {}
    with pytest.raises(ChangeSetNotPending, match="approved"):
        ledger.approve_change(pid, change_set, actor=HEAD)


def test_a_rejected_change_leaves_the_record_as_it_was(staffed: tuple[Ledger, str]) -> None:
    ledger, pid = staffed
    change_set = ledger.propose_change(
        pid,
        [("identity.full_name", "Nguyễn Văn Ân")],
        reason="Sai chính tả",
        effective_date=date(2024, 1, 1),
        actor=HR,
    )
    with pytest.raises(InvalidInput, match="reason"):
        ledger.reject_change(pid, change_set, reason=" ", actor=HEAD)
    ledger.reject_change(pid, change_set, reason="Không có giấy tờ chứng minh", actor=HEAD)
    profile = ledger.profile(pid)
    assert profile.full_name == "Nguyễn Văn An"
    assert profile.change_sets[change_set]["status"] == "rejected"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ([("employment.salary_step", 4)], "coefficient 3.33, not 3.00"),
        ([("employment.unit_code", "STC")], "move or transfer"),
        ([("identity.birth_date", "14/03/1985")], "not a date"),
        ([("rewards.form", "Bằng khen")], "added whole"),
        ([("identity", "x")], "name the field"),
        ([], "at least one field"),
    ],
)
def test_an_invalid_change_is_refused(
    staffed: tuple[Ledger, str], changes: list, message: str
) -> None:
    ledger, pid = staffed
    before = log_head(ledger)
    with pytest.raises(InvalidInput, match=message):
        ledger.propose_change(pid, changes, reason="x", effective_date=date(2024, 1, 1), actor=HR)
    assert log_head(ledger) == before


@pytest.mark.parametrize(
    ("jurisdiction", "needs_document"),
    [
        ("travinh", True),
        ("haiphong", False),
        ("cantho", False),
        ("tuyenquang", False),
        ("bnv", False),
    ],
)
def test_self_entered_changes_and_supporting_documents(
    make_ledger: Callable[..., Ledger], jurisdiction: str, needs_document: bool
) -> None:
    """Trà Vinh (Điều 6) wants a scanned supporting document with each change an employee
    enters; the Ministry's text does not."""
    ledger = make_ledger(jurisdiction=jurisdiction)
    unit_tree(ledger)
    pid = ledger.open_profile(person(), decision=decision(), actor=HR)
    change = [("education.foreign_languages", "Tiếng Anh B2")]
    if needs_document:
        with pytest.raises(InvalidInput, match="supporting document"):
            ledger.propose_change(
                pid, change, reason="Bổ sung", effective_date=TODAY, actor=EMPLOYEE
            )
    else:
        ledger.propose_change(pid, change, reason="Bổ sung", effective_date=TODAY, actor=EMPLOYEE)
    change_set = ledger.propose_change(
        pid, change, reason="Bổ sung", effective_date=TODAY, actor=EMPLOYEE, documents=[SCAN]
    )
    assert ledger.profile(pid).change_sets[change_set]["documents"] == [SCAN]


def test_a_transfer_between_units_is_released_then_received(
    staffed: tuple[Ledger, str],
) -> None:
    ledger, pid = staffed
    d = decision("88/QĐ-UBND", date(2025, 3, 1))
    ledger.release_transfer(pid, "STC", effective_date=date(2025, 3, 15), decision=d, actor=HR)
    assert ledger.profile(pid).status is ProfileStatus.RELEASED
    with pytest.raises(InvalidInput, match=r"released to STC, not to STC\.NS"):
        ledger.receive_transfer(
            pid,
            "STC.NS",
            department="Ngân sách",
            position="Chuyên viên",
            effective_date=date(2025, 3, 16),
            decision=d,
            actor=HR,
        )
    ledger.receive_transfer(
        pid,
        "STC",
        department="Phòng Quản lý giá",
        position="Chuyên viên",
        effective_date=date(2025, 3, 16),
        decision=d,
        actor=HR,
    )
    profile = ledger.profile(pid)
    assert profile.status is ProfileStatus.ACTIVE
    assert profile.unit_code == "STC"
    assert profile.record["employment"]["department"] == "Phòng Quản lý giá"


def test_a_move_within_the_unit_and_a_secondment(staffed: tuple[Ledger, str]) -> None:
    ledger, pid = staffed
    ledger.move_within_unit(
        pid,
        department="Văn phòng Sở",
        position="Phó Chánh Văn phòng",
        effective_date=date(2022, 5, 1),
        decision=decision(),
        actor=HR,
    )
    ledger.start_secondment(
        pid,
        host="Ban Quản lý dự án tỉnh",
        until=date(2024, 6, 30),
        effective_date=date(2023, 7, 1),
        decision=decision(),
        actor=HR,
    )
    assert ledger.profile(pid).status is ProfileStatus.SECONDED
    with pytest.raises(TransitionNotAllowed, match="seconded"):
        ledger.move_within_unit(
            pid,
            department="X",
            position="Y",
            effective_date=date(2024, 1, 1),
            decision=decision(),
            actor=HR,
        )
    ledger.end_secondment(pid, effective_date=date(2024, 6, 30), decision=decision(), actor=HR)
    profile = ledger.profile(pid)
    assert profile.status is ProfileStatus.ACTIVE
    assert profile.record["employment"]["position"] == "Phó Chánh Văn phòng"


def test_no_second_retirement_and_no_transfer_of_the_dead(staffed: tuple[Ledger, str]) -> None:
    ledger, pid = staffed
    ledger.retire(pid, effective_date=date(2026, 4, 1), decision=decision(), actor=HR)
    with pytest.raises(TransitionNotAllowed, match="retired"):
        ledger.retire(pid, effective_date=date(2026, 5, 1), decision=decision(), actor=HR)
    ledger.record_death(pid, date_of_death=date(2026, 10, 2), decision=decision(), actor=HR)
    before = log_head(ledger)
    with pytest.raises(TransitionNotAllowed, match="deceased"):
        ledger.release_transfer(
            pid, "STC", effective_date=date(2026, 11, 1), decision=decision(), actor=HR
        )
    with pytest.raises(TransitionNotAllowed, match="deceased"):
        ledger.record_death(pid, date_of_death=date(2026, 10, 2), decision=decision(), actor=HR)
    assert log_head(ledger) == before
    assert ledger.profile(pid).periods[-1]["end"] == "retire"


def test_transition_dates_must_make_sense(staffed: tuple[Ledger, str]) -> None:
    ledger, pid = staffed
    with pytest.raises(InvalidInput, match="before the birth date"):
        ledger.resign(pid, effective_date=date(1980, 1, 1), decision=decision(), actor=HR)
    with pytest.raises(InvalidInput, match="before the start of the current employment"):
        ledger.resign(pid, effective_date=date(2009, 1, 1), decision=decision(), actor=HR)
    with pytest.raises(InvalidInput, match="future"):
        ledger.record_death(pid, date_of_death=date(2027, 1, 1), decision=decision(), actor=HR)


def test_rehire_opens_a_new_employment_period(staffed: tuple[Ledger, str]) -> None:
    ledger, pid = staffed
    ledger.resign(pid, effective_date=date(2019, 12, 31), decision=decision(), actor=HR)
    ledger.rehire(
        pid,
        "STC.NS",
        employment={
            "category": "contract_worker",
            "department": "Ngân sách",
            "position": "Lái xe",
            "rank_code": "01.010",
            "salary_step": 2,
        },
        effective_date=date(2021, 2, 1),
        decision=decision(),
        actor=HR,
    )
    profile = ledger.profile(pid)
    assert profile.status is ProfileStatus.ACTIVE
    assert [(p["start_date"], p["end_date"]) for p in profile.periods] == [
        (date(2010, 9, 1), date(2019, 12, 31)),
        (date(2021, 2, 1), None),
    ]
    assert profile.record["employment"]["coefficient"] == Decimal("2.23")


def test_a_person_leaves_the_system_and_arrives_back(staffed: tuple[Ledger, str]) -> None:
    ledger, pid = staffed
    ledger.transfer_out_of_system(
        pid,
        destination="Bộ Tài chính",
        effective_date=date(2020, 1, 1),
        decision=decision(),
        actor=HR,
    )
    assert ledger.profile(pid).status is ProfileStatus.TRANSFERRED_OUT
    with pytest.raises(TransitionNotAllowed):
        ledger.rehire(
            pid,
            "SNV",
            employment={
                "category": "civil_servant",
                "department": "A",
                "position": "B",
                "rank_code": "01.003",
                "salary_step": 5,
            },
            effective_date=date(2023, 1, 1),
            decision=decision(),
            actor=HR,
        )
    ledger.rehire(
        pid,
        "SNV",
        employment={
            "category": "civil_servant",
            "department": "A",
            "position": "B",
            "rank_code": "01.003",
            "salary_step": 5,
        },
        effective_date=date(2023, 1, 1),
        decision=decision(),
        actor=HR,
        origin="arrival",
    )
    assert ledger.profile(pid).periods[-1]["origin"] == "arrival"


def test_a_stale_command_is_a_conflict_naming_the_current_version(
    staffed: tuple[Ledger, str],
) -> None:
    ledger, pid = staffed
    ledger.move_within_unit(
        pid,
        department="A",
        position="B",
        effective_date=date(2020, 1, 1),
        decision=decision(),
        actor=HR,
        expected_version=1,
    )
    before = log_head(ledger)
    with pytest.raises(ConflictError, match="version 1, the current version is 2") as caught:
        ledger.move_within_unit(
            pid,
            department="C",
            position="D",
            effective_date=date(2020, 2, 1),
            decision=decision(),
            actor=HR,
            expected_version=1,
        )
    assert caught.value.current == 2
    assert log_head(ledger) == before


def test_two_concurrent_edits_one_succeeds_one_conflicts(
    staffed: tuple[Ledger, str], make_ledger: Callable[..., Ledger]
) -> None:
    """Two HR officers, two servers, one profile: one edit wins, the other is told."""
    _, pid = staffed
    servers = [make_ledger(), make_ledger()]
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def edit(server: Ledger, department: str) -> None:
        profile = server.profile(pid)
        barrier.wait()
        try:
            server.move_within_unit(
                pid,
                department=department,
                position="Chuyên viên",
                effective_date=date(2021, 1, 1),
                decision=decision(),
                actor=HR,
                expected_version=profile.version,
            )
            outcomes.append("ok")
        except ConflictError as exc:
            assert exc.current == 2
            outcomes.append("conflict")

    threads = [
        threading.Thread(target=edit, args=(s, d))
        for s, d in zip(servers, ["Phòng A", "Phòng B"], strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) == ["conflict", "ok"]
    assert ledger_version(servers[0], pid) == 2


def ledger_version(ledger: Ledger, pid: str) -> int:
    return ledger.profile(pid).version


def test_the_record_at_a_version_and_as_of_a_date(staffed: tuple[Ledger, str]) -> None:
    ledger, pid = staffed
    ledger.move_within_unit(
        pid,
        department="Văn phòng Sở",
        position="Chánh Văn phòng",
        effective_date=date(2022, 5, 1),
        decision=decision(),
        actor=HR,
    )
    ledger.retire(pid, effective_date=date(2026, 4, 1), decision=decision(), actor=HR)
    assert ledger.profile(pid, version=1).record["employment"]["department"] == (
        "Phòng Công chức, viên chức"
    )
    as_of_2023 = ledger.profile_as_of(pid, date(2023, 12, 31))
    assert as_of_2023 is not None
    assert as_of_2023.status is ProfileStatus.ACTIVE
    assert as_of_2023.record["employment"]["department"] == "Văn phòng Sở"
    assert ledger.profile_as_of(pid, date(2026, 4, 1)).status is ProfileStatus.RETIRED
    assert ledger.profile_as_of(pid, date(2009, 1, 1)) is None


def test_snapshots_keep_a_long_history_loading_from_the_latest_snapshot(
    staffed: tuple[Ledger, str],
) -> None:
    ledger, pid = staffed
    for i in range(120):
        ledger.move_within_unit(
            pid,
            department=f"Phòng {i}",
            position="Chuyên viên",
            effective_date=date(2011, 1, 1),
            decision=decision(),
            actor=HR,
        )
    snapshots = list(ledger.snapshots.get(ledger.profile(pid).id, desc=True, limit=1))
    assert snapshots and snapshots[0].originator_version == 100
    profile = ledger.profile(pid)
    assert profile.version == 121
    assert profile.record["employment"]["department"] == "Phòng 119"


def test_event_state_is_encrypted_at_rest_with_a_cipher_key(
    make_ledger: Callable[..., Ledger],
    backend: str,
) -> None:
    from eventsourcing.cryptography import AESCipher

    ledger = make_ledger(cipher_key=AESCipher.create_key(32))
    unit_tree(ledger)
    pid = ledger.open_profile(person(), decision=decision(), actor=HR)
    assert ledger.profile(pid).full_name == "Nguyễn Văn An"
    stored = ledger.recorder.select_notifications(start=1, limit=100)
    assert stored
    for notification in stored:
        assert b"001085012345" not in notification.state
        assert "Nguyễn".encode() not in notification.state
    plain = make_ledger()  # the same store without the key cannot read it
    with pytest.raises(Exception):  # noqa: B017
        plain.profile(pid)


def test_decision_and_actor_travel_as_real_types(staffed: tuple[Ledger, str]) -> None:
    ledger, pid = staffed
    events = ledger.profile_events(pid)
    assert isinstance(events[0].decision, Decision)
    assert isinstance(events[0].decision.signed_on, date)
    assert isinstance(events[0].actor.role, Role)
