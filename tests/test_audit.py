"""The audit trail: who did what, to whom, in which unit, when and on what decision."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine

from domain.application import Ledger
from domain.settings import Settings
from domain.values import Actor, EmployeeCategory, Role
from projections.audit import AuditTrail, audit, audit_count
from projections.database import read_model_engine
from projections.framework import Projector
from projections.units import UnitTree
from tests.builders import ADMIN, person, unit_tree
from tests.conftest import HEAD, HR, decision

STC_HR = Actor(account="hr.stc", role=Role.HR_OFFICER, unit_code="STC")


@pytest.fixture
def engine(make_settings: Callable[..., Settings]) -> Iterator[Engine]:
    engine = read_model_engine(make_settings(), writer=True)
    yield engine
    engine.dispose()


def project(ledger: Ledger, engine: Engine, page_size: int = 1000) -> Projector:
    projector = Projector(ledger, engine, [AuditTrail(ledger), UnitTree(ledger)], page_size)
    projector.prepare()
    projector.catch_up()
    return projector


@dataclass
class Story:
    ledger: Ledger
    engine: Engine
    an: str  # Sở Nội vụ, transferred to Sở Tài chính
    binh: str  # Phòng Ngân sách of Sở Tài chính, merged into it

    def rows(self, **filters: object) -> list[dict]:
        with self.engine.connect() as conn:
            return audit(conn, limit=1000, **filters)  # type: ignore[arg-type]


@pytest.fixture
def story(ledger: Ledger, engine: Engine) -> Story:
    unit_tree(ledger)
    an = str(ledger.open_profile(person(), decision=decision(), actor=HR))
    binh_record = person("001190054321", unit_code="STC.NS", department="Phòng Ngân sách")
    binh_record["identity"]["full_name"] = "Trần Thị Bình"
    binh = str(ledger.open_profile(binh_record, decision=decision(), actor=STC_HR))
    change_set = ledger.propose_change(
        an,
        [("employment.salary_step", 4), ("employment.coefficient", "3.33")],
        reason="Nâng bậc lương thường xuyên",
        effective_date=date(2024, 9, 1),
        actor=HR,
    )
    ledger.approve_change(an, change_set, actor=HEAD, decision=decision("45/QĐ-SNV"))
    transfer = decision("88/QĐ-UBND", date(2025, 3, 1))
    ledger.release_transfer(
        an, "STC", effective_date=date(2025, 3, 15), decision=transfer, actor=HR
    )
    ledger.receive_transfer(
        an,
        "STC",
        department="Phòng Quản lý giá",
        position="Chuyên viên",
        effective_date=date(2025, 3, 16),
        decision=transfer,
        actor=STC_HR,
    )
    ledger.move_within_unit(
        an,
        department="Văn phòng Sở",
        position="Chuyên viên",
        effective_date=date(2025, 6, 1),
        decision=decision("102/QĐ-STC"),
        actor=STC_HR,
    )
    ledger.set_staffing_quota("SNV", 2026, EmployeeCategory.CIVIL_SERVANT, 40, actor=ADMIN)
    ledger.merge_unit(
        "STC.NS",
        "STC",
        actor=ADMIN,
        effective_date=date(2025, 7, 1),
        decision=decision("12/QĐ-UBND", date(2025, 6, 20)),
    )
    ledger.retire(
        binh, effective_date=date(2026, 1, 1), decision=decision("7/QĐ-STC"), actor=STC_HR
    )
    project(ledger, engine, page_size=3)  # pages end in the middle of saves
    return Story(ledger, engine, an, binh)


def test_every_event_of_the_log_has_exactly_one_row(story: Story) -> None:
    ledger = story.ledger
    head = ledger.recorder.max_notification_id() or 0
    logged: list[Any] = [
        ledger.mapper.to_domain_event(n)
        for n in ledger.recorder.select_notifications(start=1, limit=head)
    ]
    rows = story.rows()
    assert [r["position"] for r in rows] == list(range(1, head + 1))
    assert [r["event_type"] for r in rows] == [type(e).__name__ for e in logged]
    assert [r["recorded_at"] for r in rows] == [e.timestamp for e in logged]
    assert all(r["recorded_at"].utcoffset() == timedelta(0) for r in rows)
    with story.engine.connect() as conn:
        assert audit_count(conn) == head

    opened = story.rows(profile_id=story.an, event_type="Opened")[0]
    assert opened | {"recorded_at": None} == {
        "position": opened["position"],
        "recorded_at": None,
        "actor_account": "hr.officer",
        "actor_role": "hr_officer",
        "actor_unit": "SNV",
        "aggregate_kind": "profile",
        "aggregate_id": story.an,
        "aggregate_version": 1,
        "profile_id": story.an,
        "unit_code": "SNV",
        "event_type": "Opened",
        "effective_date": date(2010, 9, 1),
        "decision_number": "01/QĐ-SNV",
        "change_set_id": None,
    }
    # The citizen-ID claim saved with the opening: no actor, and no id that would give
    # the citizen ID back.
    claim = story.rows(event_type="Claimed")[0]
    assert claim["position"] == opened["position"] + 1
    assert (claim["aggregate_kind"], claim["aggregate_id"], claim["actor_account"]) == (
        "citizen_id_claim",
        None,
        None,
    )
    assert (claim["profile_id"], claim["unit_code"]) == (story.an, "SNV")
    approved = story.rows(event_type="ChangeApproved")[0]
    assert approved["decision_number"] == "45/QĐ-SNV"
    assert approved["change_set_id"] == story.rows(event_type="ChangeProposed")[0]["change_set_id"]
    assert approved["actor_role"] == "unit_head"
    merged = story.rows(event_type="Merged")[0]
    assert (merged["aggregate_kind"], merged["unit_code"], merged["profile_id"]) == (
        "unit",
        "STC.NS",
        None,
    )


def test_a_rebuild_in_one_page_gives_the_same_trail(story: Story) -> None:
    before = story.rows()
    Projector(story.ledger, story.engine, [AuditTrail(story.ledger)], page_size=1000).rebuild(
        ["audit"]
    )
    assert story.rows() == before


def test_each_filter_narrows_the_trail(story: Story) -> None:
    everything = story.rows()

    def expect(rows: list[dict], keep: Callable[[dict], bool]) -> None:
        wanted = [r for r in everything if keep(r)]
        assert rows == wanted
        assert 0 < len(rows) < len(everything)

    expect(story.rows(profile_id=story.binh), lambda r: r["profile_id"] == story.binh)
    expect(story.rows(actor="hr.stc"), lambda r: r["actor_account"] == "hr.stc")
    expect(story.rows(event_type="Created"), lambda r: r["event_type"] == "Created")
    middle = everything[len(everything) // 2]["recorded_at"]
    expect(story.rows(recorded_from=middle), lambda r: r["recorded_at"] >= middle)
    expect(story.rows(recorded_to=middle), lambda r: r["recorded_at"] < middle)
    assert story.rows(recorded_from=datetime.now(UTC) + timedelta(minutes=1)) == []
    assert story.rows(profile_id=story.an, actor="hr.stc", event_type="MovedWithinUnit") == [
        r for r in everything if r["event_type"] == "MovedWithinUnit"
    ]
    with story.engine.connect() as conn:
        page = audit(conn, limit=4, offset=2)
        assert page == everything[2:6]
        assert audit_count(conn, actor="admin.snv") == len(
            [r for r in everything if r["actor_account"] == "admin.snv"]
        )
        with pytest.raises(ValueError, match="naive"):
            audit(conn, recorded_from=datetime(2026, 1, 1))


def test_a_unit_sees_its_own_rows_and_those_of_every_unit_below_it(story: Story) -> None:
    everything = story.rows()
    finance = story.rows(unit_code="STC")
    assert {r["unit_code"] for r in finance} == {"STC", "STC.NS"}
    assert finance == [r for r in everything if r["unit_code"] in ("STC", "STC.NS")]
    # Bình's record stays under the merged Phòng Ngân sách, which is part of STC now.
    assert {r["event_type"] for r in finance if r["profile_id"] == story.binh} == {
        "Opened",
        "Claimed",
        "Retired",
    }
    budget = story.rows(unit_code="STC.NS")
    assert {r["unit_code"] for r in budget} == {"STC.NS"}
    assert story.rows(unit_code="UBND") == [r for r in everything if r["unit_code"]]
    assert story.rows(unit_code="NOWHERE") == []


def test_a_transfer_moves_the_persons_rows_from_the_old_unit_to_the_new(story: Story) -> None:
    by_unit = [(r["event_type"], r["unit_code"]) for r in story.rows(profile_id=story.an)]
    assert by_unit == [
        ("Opened", "SNV"),
        ("Claimed", "SNV"),
        ("ChangeProposed", "SNV"),
        ("ChangeApproved", "SNV"),
        ("TransferReleased", "SNV"),  # the old unit's act
        ("TransferReceived", "STC"),  # the new unit's act
        ("MovedWithinUnit", "STC"),
    ]
    assert [r["event_type"] for r in story.rows(profile_id=story.an, unit_code="SNV")] == [
        "Opened",
        "Claimed",
        "ChangeProposed",
        "ChangeApproved",
        "TransferReleased",
    ]


def test_the_trail_follows_new_events_where_it_stopped(story: Story) -> None:
    ledger = story.ledger
    ledger.rehire(
        story.binh,
        "SNV",
        employment={
            "category": "civil_servant",
            "department": "Văn phòng Sở",
            "position": "Chuyên viên",
            "rank_code": "01.003",
            "salary_step": 5,
        },
        effective_date=date(2026, 3, 1),
        decision=decision("3/QĐ-SNV"),
        actor=HR,
    )
    project(ledger, story.engine)
    rows = story.rows(profile_id=story.binh)
    assert [(r["event_type"], r["unit_code"]) for r in rows][-2:] == [
        ("Retired", "STC.NS"),
        ("Rehired", "SNV"),
    ]
    assert len(story.rows()) == ledger.recorder.max_notification_id()


def test_access_records_name_the_person_their_unit_and_what_the_access_was(
    story: Story,
) -> None:
    ledger, an = story.ledger, story.an  # An works in STC since the transfer
    inspector = Actor(account="inspector", role=Role.INSPECTOR, unit_code="UBND")
    ledger.record_access(
        "restricted_read",
        f"profile:{an}",
        actor=STC_HR,
        profile_id=an,
        fields=["citizen", "health"],
        basis="hr_officer of STC",
    )
    ledger.record_access("export", "unit:STC/roster.csv", actor=STC_HR, basis="hr_officer of STC")
    ledger.record_access(
        "refused", f"profile:{story.binh}", actor=HR, profile_id=story.binh, basis="not in scope"
    )
    ledger.record_access(
        "export", f"profile:{an}/resume.pdf", actor=inspector, profile_id=an, basis="inspector"
    )
    project(ledger, story.engine, page_size=2)

    read = story.rows(event_type="Access.restricted_read")
    assert [(r["profile_id"], r["unit_code"], r["actor_account"]) for r in read] == [
        (an, "STC", "hr.stc")
    ]
    assert (read[0]["aggregate_kind"], read[0]["actor_role"]) == ("accessrecord", "hr_officer")
    exports = story.rows(event_type="Access.export")
    assert [(r["profile_id"], r["unit_code"]) for r in exports] == [(None, None), (an, "STC")]
    refused = story.rows(event_type="Access.refused")
    assert [(r["profile_id"], r["unit_code"]) for r in refused] == [(story.binh, "STC.NS")]
    # The person's trail and the unit's trail show who looked at their records.
    mine = [r["event_type"] for r in story.rows(profile_id=an)]
    assert mine[-2:] == ["Access.restricted_read", "Access.export"]
    assert [r["event_type"] for r in story.rows(unit_code="STC.NS")][-1] == "Access.refused"
    assert "Access.restricted_read" not in {r["event_type"] for r in story.rows(unit_code="SNV")}
    assert len(story.rows()) == ledger.recorder.max_notification_id()

    before = story.rows()
    Projector(ledger, story.engine, [AuditTrail(ledger)], page_size=1000).rebuild(["audit"])
    assert story.rows() == before


def test_an_access_record_keeps_the_unit_the_person_was_in_at_the_time(
    ledger: Ledger, engine: Engine
) -> None:
    unit_tree(ledger)
    pid = str(ledger.open_profile(person(), decision=decision(), actor=HR))
    ledger.record_access(
        "restricted_read", f"profile:{pid}", actor=HR, profile_id=pid, basis="hr_officer of SNV"
    )
    transfer = decision("88/QĐ-UBND", date(2025, 3, 1))
    ledger.release_transfer(
        pid, "STC", effective_date=date(2025, 3, 15), decision=transfer, actor=HR
    )
    ledger.receive_transfer(
        pid,
        "STC",
        department="Phòng Quản lý giá",
        position="Chuyên viên",
        effective_date=date(2025, 3, 16),
        decision=transfer,
        actor=STC_HR,
    )
    ledger.record_access(
        "restricted_read", f"profile:{pid}", actor=STC_HR, profile_id=pid, basis="hr_officer"
    )
    projector = project(ledger, engine, page_size=1)
    with engine.connect() as conn:
        reads = audit(conn, profile_id=pid, event_type="Access.restricted_read")
        assert [(r["unit_code"], r["actor_account"]) for r in reads] == [
            ("SNV", "hr.officer"),
            ("STC", "hr.stc"),
        ]
        assert audit_count(conn, unit_code="SNV", event_type="Access.restricted_read") == 1
    projector.rebuild(["audit"])
    with engine.connect() as conn:
        assert audit(conn, profile_id=pid, event_type="Access.restricted_read") == reads
