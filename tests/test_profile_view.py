"""The profile view read model: the approved record and the change sets, on SQLite and
PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine

from domain.application import Ledger
from domain.settings import Settings
from domain.values import Actor, Document, Role, json_ready
from projections.database import read_model_engine
from projections.framework import Projector
from projections.profiles import ProfileView, change_sets, profile_view
from projections.units import UnitTree
from tests.builders import person, unit_tree
from tests.conftest import HEAD, HR, decision

EMPLOYEE = Actor(account="an.nv", role=Role.EMPLOYEE, unit_code="SNV")
SCAN = Document(sha256="ab" * 32, filename="quyet-dinh.pdf", size=120_000)


@pytest.fixture
def engines(make_settings: Callable[..., Settings]) -> Iterator[tuple[Engine, Engine]]:
    writer = read_model_engine(make_settings(), writer=True)
    reader = read_model_engine(make_settings())
    yield writer, reader
    writer.dispose()
    reader.dispose()


@pytest.fixture
def projector(ledger: Ledger, engines: tuple[Engine, Engine]) -> Projector:
    unit_tree(ledger)
    # A small page, so that a history spans several batches.
    prepared = Projector(ledger, engines[0], [UnitTree(ledger), ProfileView(ledger)], page_size=7)
    prepared.prepare()
    return prepared


@pytest.fixture
def read(projector: Projector, engines: tuple[Engine, Engine]) -> Callable[..., Any]:
    """Catch up, then run a query on the read models."""

    def query(function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        projector.catch_up()
        with engines[1].connect() as conn:
            return function(conn, *args, **kwargs)

    return query


def named(citizen_id: str, full_name: str, **employment: Any) -> dict[str, Any]:
    record = person(citizen_id, **employment)
    record["identity"] = {**record["identity"], "full_name": full_name}
    return record


def test_a_pending_change_is_listed_and_stays_out_of_the_record(
    ledger: Ledger, read: Callable[..., Any]
) -> None:
    pid = str(ledger.open_profile(person(), decision=decision(), actor=HR))
    change_set = ledger.propose_change(
        pid,
        [
            ("employment.salary_step", 4),
            ("employment.coefficient", "3.33"),
            ("rewards", {"awarded_on": "2024-12-20", "form": "Giấy khen"}),
        ],
        reason="Nâng bậc lương thường xuyên",
        effective_date=date(2024, 9, 1),
        actor=EMPLOYEE,
        documents=[SCAN],
    )
    view = read(profile_view, pid)
    assert view["record"]["employment"]["salary_step"] == 3
    assert view["record"]["employment"]["coefficient"] == "3.00"
    assert view["record"]["rewards"] == []
    assert view["status"] == "active" and view["version"] == 2
    (pending,) = view["pending"]
    proposed = ledger.profile_events(pid)[-1]
    assert pending["change_set_id"] == change_set
    assert pending["status"] == "pending"
    assert pending["changes"] == [
        {"path": "employment.salary_step", "value": 4},
        {"path": "employment.coefficient", "value": "3.33"},
        {"path": "rewards", "value": {"awarded_on": "2024-12-20", "form": "Giấy khen"}},
    ]
    assert pending["reason"] == "Nâng bậc lương thường xuyên"
    assert pending["effective_date"] == date(2024, 9, 1)
    assert [d["sha256"] for d in pending["documents"]] == ["ab" * 32]
    assert pending["documents"][0]["filename"] == "quyet-dinh.pdf"
    assert (pending["proposed_by"], pending["proposed_by_role"], pending["proposed_by_unit"]) == (
        "an.nv",
        "employee",
        "SNV",
    )
    assert pending["proposed_at"] == proposed.timestamp
    assert pending["decided_by"] is None and pending["decided_at"] is None
    assert read(profile_view, "00000000-0000-0000-0000-000000000000") is None


def test_an_approval_reaches_the_record_and_says_who_and_when(
    ledger: Ledger, read: Callable[..., Any]
) -> None:
    pid = str(ledger.open_profile(person(), decision=decision(), actor=HR))
    change_set = ledger.propose_change(
        pid,
        [("employment.salary_step", 4), ("employment.coefficient", "3.33")],
        reason="Nâng bậc lương thường xuyên",
        effective_date=date(2024, 9, 1),
        actor=HR,
    )
    read(profile_view, pid)  # the proposal and the approval in different batches
    ledger.approve_change(pid, change_set, actor=HEAD, decision=decision("45/QĐ-SNV"))
    approved = ledger.profile_events(pid)[-1]
    view = read(profile_view, pid)
    assert view["record"]["employment"]["salary_step"] == 4
    assert view["record"]["employment"]["coefficient"] == "3.33"
    assert view["pending"] == [] and view["version"] == 3
    (row,) = read(change_sets, profile_id=pid)
    assert row["status"] == "approved"
    assert (row["decided_by"], row["decided_by_role"], row["decided_by_unit"]) == (
        "unit.head",
        "unit_head",
        "SNV",
    )
    assert row["decided_at"] == approved.timestamp
    assert row["decision_number"] == "45/QĐ-SNV"
    assert row["decision_signed_on"] == date(2024, 1, 2)
    assert row["applied_changes"] == json_ready(approved.changes)
    assert row["proposed_by"] == "hr.officer" and row["rejection_reason"] is None


def test_a_rejection_keeps_its_reason_and_the_record(
    ledger: Ledger, read: Callable[..., Any]
) -> None:
    pid = str(ledger.open_profile(person(), decision=decision(), actor=HR))
    change_set = ledger.propose_change(
        pid,
        [("identity.full_name", "Nguyễn Văn Ân")],
        reason="Sai chính tả",
        effective_date=date(2024, 1, 1),
        actor=HR,
    )
    ledger.reject_change(pid, change_set, reason="Không có giấy tờ chứng minh", actor=HEAD)
    rejected = ledger.profile_events(pid)[-1]
    view = read(profile_view, pid)
    assert view["record"]["identity"]["full_name"] == "Nguyễn Văn An"
    assert view["full_name"] == "Nguyễn Văn An" and view["pending"] == []
    (row,) = read(change_sets, status="rejected")
    assert row["change_set_id"] == change_set
    assert row["rejection_reason"] == "Không có giấy tờ chứng minh"
    assert row["decided_by"] == "unit.head" and row["decided_at"] == rejected.timestamp
    assert row["applied_changes"] is None and row["decision_number"] is None
    assert read(change_sets, status="approved") == []


def test_the_inbox_follows_the_person_to_their_current_unit(
    ledger: Ledger, read: Callable[..., Any]
) -> None:
    an = str(ledger.open_profile(person(), decision=decision(), actor=HR))
    binh = str(
        ledger.open_profile(
            named("001190000002", "Trần Thị Bình", unit_code="STC.NS"),
            decision=decision(),
            actor=HR,
        )
    )
    for pid in (an, binh):
        ledger.propose_change(
            pid,
            [("education.it_skills", "Tin học văn phòng")],
            reason="Bổ sung",
            effective_date=date(2024, 1, 1),
            actor=HR,
        )

    def inbox(unit_code: str, with_subunits: bool = False) -> list[str]:
        rows = read(change_sets, status="pending", unit_code=unit_code, with_subunits=with_subunits)
        return [r["profile_id"] for r in rows]

    assert inbox("SNV") == [an]
    assert inbox("STC") == []
    assert inbox("STC", with_subunits=True) == [binh]
    assert inbox("UBND", with_subunits=True) == [an, binh]
    ledger.release_transfer(
        an, "STC", effective_date=date(2025, 3, 15), decision=decision(), actor=HR
    )
    ledger.receive_transfer(
        an,
        "STC",
        department="Phòng Quản lý giá",
        position="Chuyên viên",
        effective_date=date(2025, 3, 16),
        decision=decision(),
        actor=HR,
    )
    assert inbox("SNV") == []
    assert inbox("STC") == [an]
    rows = read(change_sets, unit_code="STC", with_subunits=True)
    assert [(r["full_name"], r["unit_code"]) for r in rows] == [
        ("Nguyễn Văn An", "STC"),
        ("Trần Thị Bình", "STC.NS"),
    ]


def _varied_histories(ledger: Ledger, read: Callable[..., Any]) -> list[str]:
    """Profiles whose histories touch every kind of event; read models caught up midway."""
    d = decision()
    a = str(ledger.open_profile(person(), decision=d, actor=HR))
    first = ledger.propose_change(
        a,
        [
            ("identity.full_name", "Nguyễn Văn Ân"),
            ("education.it_skills", "Tin học văn phòng"),
            ("rewards", {"awarded_on": "2024-12-20", "form": "Giấy khen"}),
        ],
        reason="Bổ sung",
        effective_date=date(2024, 1, 1),
        actor=HR,
    )
    ledger.approve_change(a, first, actor=HEAD, decision=decision("45/QĐ-SNV"))
    cleared = ledger.propose_change(
        a,
        [("education.it_skills", None)],
        reason="Bỏ thông tin",
        effective_date=date(2024, 2, 1),
        actor=HR,
    )
    ledger.approve_change(a, cleared, actor=HEAD)
    ledger.move_within_unit(
        a,
        department="Văn phòng Sở",
        position="Phó Chánh Văn phòng",
        effective_date=date(2022, 5, 1),
        decision=d,
        actor=HR,
    )
    ledger.propose_change(
        a,
        [("education.foreign_languages", "Tiếng Anh B2")],
        reason="Bổ sung",
        effective_date=date(2024, 3, 1),
        actor=EMPLOYEE,
    )
    ledger.release_transfer(a, "STC", effective_date=date(2025, 3, 15), decision=d, actor=HR)
    read(profile_view, a)
    ledger.receive_transfer(
        a,
        "STC",
        department="",
        position="Chuyên viên",
        effective_date=date(2025, 3, 16),
        decision=d,
        actor=HR,
    )

    b = str(ledger.open_profile(named("001085000002", "Trần Thị Bình"), decision=d, actor=HR))
    ledger.start_secondment(
        b,
        host="Ban Quản lý dự án tỉnh",
        until=date(2024, 6, 30),
        effective_date=date(2023, 7, 1),
        decision=d,
        actor=HR,
    )
    read(profile_view, b)
    ledger.end_secondment(b, effective_date=date(2024, 6, 30), decision=d, actor=HR)
    ledger.retire(b, effective_date=date(2026, 4, 1), decision=d, actor=HR)
    ledger.record_death(b, date_of_death=date(2026, 10, 2), decision=d, actor=HR)

    c = str(ledger.open_profile(named("001085000003", "Lê Văn Cường"), decision=d, actor=HR))
    ledger.resign(c, effective_date=date(2019, 12, 31), decision=d, actor=HR)
    ledger.rehire(
        c,
        "STC.NS",
        employment={
            "category": "contract_worker",
            "department": "Ngân sách",
            "position": "Lái xe",
            "rank_code": "01.010",
            "salary_step": 2,
        },
        effective_date=date(2021, 2, 1),
        decision=d,
        actor=HR,
    )
    rejected = ledger.propose_change(
        c,
        [("identity.phone", "0912345678")],
        reason="Bổ sung",
        effective_date=date(2024, 1, 1),
        actor=HR,
    )
    ledger.reject_change(c, rejected, reason="Sai số", actor=HEAD)
    ledger.transfer_out_of_system(
        c, destination="Bộ Tài chính", effective_date=date(2022, 1, 1), decision=d, actor=HR
    )
    ledger.rehire(
        c,
        "SNV",
        employment={
            "category": "civil_servant",
            "department": "Phòng Tổ chức",
            "position": "Chuyên viên",
            "rank_code": "01.003",
            "salary_step": 5,
        },
        effective_date=date(2023, 1, 1),
        decision=d,
        actor=HR,
        origin="arrival",
    )

    e = str(ledger.open_profile(named("001085000004", "Phạm Thị Dung"), decision=d, actor=HR))
    ledger.start_secondment(
        e, host="Hội Chữ thập đỏ", until=None, effective_date=d.signed_on, decision=d, actor=HR
    )
    ledger.dismiss(e, reason="Kỷ luật", effective_date=date(2024, 5, 1), decision=d, actor=HR)
    f = str(ledger.open_profile(named("001085000005", "Hoàng Văn Em"), decision=d, actor=HR))
    ledger.release_transfer(f, "STC", effective_date=date(2025, 1, 1), decision=d, actor=HR)
    g = str(ledger.open_profile(named("001085000006", "Vũ Văn Giang"), decision=d, actor=HR))
    ledger.move_within_unit(
        g,
        department="Phòng Tổ chức",
        position="Trưởng phòng",
        effective_date=date(2024, 1, 1),
        decision=d,
        actor=HR,
    )
    ledger.start_secondment(
        g,
        host="Văn phòng Tỉnh ủy",
        until=None,
        effective_date=date(2025, 1, 1),
        decision=d,
        actor=HR,
    )
    h = str(ledger.open_profile(named("001085000007", "Đỗ Văn Hải"), decision=d, actor=HR))
    ledger.release_transfer(h, "STC", effective_date=date(2025, 1, 1), decision=d, actor=HR)
    ledger.record_death(h, date_of_death=date(2025, 2, 1), decision=d, actor=HR)
    return [a, b, c, e, f, g, h]


def _assert_view_equals_aggregate(ledger: Ledger, read: Callable[..., Any], pid: str) -> None:
    profile = ledger.profile(pid)
    view = read(profile_view, pid)
    assert view["record"] == json_ready(profile.record)
    assert view["status"] == profile.status.value
    assert view["version"] == profile.version
    assert view["periods"] == json_ready(profile.periods)
    assert view["transfer_to"] == profile.transfer_to
    assert view["secondment"] == json_ready(profile.secondment)
    assert view["full_name"] == profile.full_name and view["unit_code"] == profile.unit_code
    assert [c["change_set_id"] for c in view["pending"]] == list(profile.pending_change_sets)
    rows = read(change_sets, profile_id=pid)
    assert {r["change_set_id"]: r["status"] for r in rows} == {
        k: v["status"] for k, v in profile.change_sets.items()
    }


def test_the_view_equals_the_aggregate(
    ledger: Ledger, read: Callable[..., Any], engines: tuple[Engine, Engine]
) -> None:
    pids = _varied_histories(ledger, read)
    for pid in pids:
        _assert_view_equals_aggregate(ledger, read, pid)
    statuses = {read(profile_view, pid)["status"] for pid in pids}
    assert statuses == {
        "active",
        "deceased",
        "dismissed",
        "released",
        "seconded",
    }
    # Rebuilt from scratch, in one page: the same.
    Projector(ledger, engines[0], [ProfileView(ledger)], page_size=1000).rebuild()
    for pid in pids:
        _assert_view_equals_aggregate(ledger, read, pid)
