"""Deadline compliance: what each jurisdiction gives working days for, and who kept them."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

import eventsourcing.domain
import pytest
from sqlalchemy import Engine

from domain.application import Ledger
from domain.calendar import business_timezone, to_business_date
from domain.settings import Settings
from domain.values import Actor, DeadlineAction, Role
from projections.database import read_model_engine
from projections.deadlines import (
    DeadlineCompliance,
    deadline_items,
    overdue,
    summary_by_unit,
)
from projections.framework import Projector
from projections.units import UnitTree
from tests.builders import ADMIN, person, unit_tree
from tests.conftest import HEAD, HR, decision

A = DeadlineAction
STC_HR = Actor(account="hr.stc", role=Role.HR_OFFICER, unit_code="STC")
SALARY_RAISE = [("employment.salary_step", 4), ("employment.coefficient", "3.33")]


@pytest.fixture
def engine(make_settings: Callable[..., Settings]) -> Iterator[Engine]:
    engine = read_model_engine(make_settings(), writer=True)
    yield engine
    engine.dispose()


@dataclass
class Office:
    """A province under one jurisdiction, with Nguyễn Văn An on the staff of Sở Nội vụ."""

    ledger: Ledger
    engine: Engine
    an: str

    def project(self, page_size: int = 1000) -> None:
        models = [DeadlineCompliance(self.ledger), UnitTree(self.ledger)]
        projector = Projector(self.ledger, self.engine, models, page_size)
        projector.prepare()
        projector.catch_up()

    def items(self, **filters: object) -> list[dict]:
        self.project()
        with self.engine.connect() as conn:
            return deadline_items(conn, **filters)  # type: ignore[arg-type]

    def item(self, action: DeadlineAction | str, **filters: object) -> dict:
        (row,) = self.items(action=action, **filters)
        return row

    def due(self, start: date, action: DeadlineAction) -> date:
        days = self.ledger.jurisdiction.deadline(action)
        assert days is not None
        return self.ledger.calendar.add_working_days(start, days)


@pytest.fixture
def office(make_ledger: Callable[..., Ledger], engine: Engine) -> Callable[[str], Office]:
    def make(jurisdiction: str) -> Office:
        ledger = make_ledger(jurisdiction=jurisdiction)
        unit_tree(ledger)
        an = str(ledger.open_profile(person(), decision=decision(), actor=HR))
        return Office(ledger, engine, an)

    return make


@pytest.fixture
def recorded_on(monkeypatch: pytest.MonkeyPatch) -> Callable[[date], None]:
    """Record the next events at 9:30 on a business date instead of now."""

    def set_day(day: date) -> None:
        moment = datetime.combine(day, time(9, 30), tzinfo=business_timezone()).astimezone(UTC)
        monkeypatch.setattr(eventsourcing.domain, "datetime_now_with_tzinfo", lambda: moment)

    return set_day


def now() -> date:
    """Today's business date, by the real clock that stamps recorded times."""
    return to_business_date(datetime.now(UTC))


def test_the_jurisdictions_of_these_tests_give_different_deadlines() -> None:
    from domain.jurisdiction import load_jurisdiction

    cantho, bnv = load_jurisdiction("cantho"), load_jurisdiction("bnv")
    assert cantho.deadline(A.STATUS_CHANGE) == 5 and bnv.deadline(A.STATUS_CHANGE) == 10
    assert cantho.deadline(A.STATE_DECISION) == 3 and bnv.deadline(A.STATE_DECISION) is None
    assert cantho.deadline(A.TRANSFER_IN) == 3 and bnv.deadline(A.TRANSFER_IN) is None
    assert cantho.deadline(A.TRANSFER_MAX) is None and bnv.deadline(A.TRANSFER_MAX) == 30


@pytest.mark.parametrize(("done", "late"), [(date(2025, 2, 5), False), (date(2025, 2, 6), True)])
def test_working_days_skip_tet_and_the_due_day_itself_is_on_time(
    office: Callable[[str], Office],
    recorded_on: Callable[[date], None],
    done: date,
    late: bool,
) -> None:
    """Cần Thơ: a state decision within 3 working days of taking effect (Điều 11.2.c), a
    transfer received within 3 of reaching the new unit (Điều 12.2). Friday 24 January 2025
    is the last working day before Tết Ất Tỵ: three working days later is 5 February."""
    o = office("cantho")
    recorded_on(date(2025, 1, 24))
    change_set = o.ledger.propose_change(
        o.an, SALARY_RAISE, reason="Nâng bậc lương", effective_date=date(2025, 1, 24), actor=HR
    )
    transfer = decision("88/QĐ-UBND", date(2025, 1, 20))
    o.ledger.release_transfer(
        o.an, "STC", effective_date=date(2025, 1, 24), decision=transfer, actor=HR
    )
    released = o.item(A.TRANSFER_IN)
    assert (released["status"], released["unit_code"], released["due_date"]) == (
        "open",
        "STC",
        date(2025, 2, 5),
    )
    recorded_on(done)
    o.ledger.approve_change(o.an, change_set, actor=HEAD, decision=decision("45/QĐ-SNV"))
    o.ledger.receive_transfer(
        o.an,
        "STC",
        department="Phòng Quản lý giá",
        position="Chuyên viên",
        effective_date=date(2025, 1, 24),
        decision=transfer,
        actor=STC_HR,
    )

    for action in (A.STATE_DECISION, A.TRANSFER_IN):
        row = o.item(action)
        assert (row["start_date"], row["working_days"], row["due_date"]) == (
            date(2025, 1, 24),
            3,
            date(2025, 2, 5),
        )
        assert (row["status"], row["done_on"], row["late"]) == ("done", done, late)
    assert o.item(A.STATE_DECISION)["decision_number"] == "45/QĐ-SNV"
    assert o.item(A.TRANSFER_IN)["closed_by"] == "TransferReceived"
    # The release itself: 5 working days from taking effect, done the same day.
    out = o.item(A.TRANSFER_OUT)
    assert (out["unit_code"], out["due_date"], out["done_on"], out["late"]) == (
        "SNV",
        date(2025, 2, 7),
        date(2025, 1, 24),
        False,
    )
    # The unit verifies a change within 1 working day of its entry (Điều 11.2.b).
    approval = o.item("change_approval")
    assert (approval["start_date"], approval["due_date"], approval["late"]) == (
        date(2025, 1, 24),
        date(2025, 2, 3),
        True,
    )
    assert approval["change_set_id"] == change_set


@pytest.mark.parametrize("jurisdiction", ["cantho", "bnv"])
def test_a_status_change_recorded_in_time_and_one_recorded_late(
    office: Callable[[str], Office], jurisdiction: str
) -> None:
    o = office(jurisdiction)
    days = o.ledger.jurisdiction.deadline(A.STATUS_CHANGE)
    assert days is not None
    binh = o.ledger.open_profile(person("001190054321"), decision=decision(), actor=HR)
    o.ledger.retire(o.an, effective_date=now(), decision=decision("7/QĐ-SNV"), actor=HR)
    long_ago = o.ledger.calendar.add_working_days(now(), -(days + 3))
    o.ledger.resign(binh, effective_date=long_ago, decision=decision("8/QĐ-SNV"), actor=HR)

    on_time = o.item(A.STATUS_CHANGE, late=False)
    assert on_time["profile_id"] == o.an
    assert on_time["due_date"] == o.due(now(), A.STATUS_CHANGE) > on_time["done_on"]
    late = o.item(A.STATUS_CHANGE, late=True)
    assert late["profile_id"] == str(binh)
    assert (late["start_date"], late["working_days"]) == (long_ago, days)
    assert late["due_date"] == o.due(long_ago, A.STATUS_CHANGE) < late["done_on"]
    assert late["closed_by"] == "Resigned"
    # Both records were opened long after their start dates (2010): late too.
    assert [r["late"] for r in o.items(action=A.NEW_RECORD)] == [True, True]
    with o.engine.connect() as conn:
        assert summary_by_unit(conn, now()) == [
            {
                "unit_code": "SNV",
                "done_on_time": 1,
                "done_late": 3,
                "open_overdue": 0,
                "open_not_due": 0,
            }
        ]


@pytest.mark.parametrize(
    ("jurisdiction", "open_action", "absent"),
    [("cantho", A.TRANSFER_IN, A.TRANSFER_MAX), ("bnv", A.TRANSFER_MAX, A.TRANSFER_IN)],
)
def test_a_transfer_released_and_not_received_becomes_overdue(
    office: Callable[[str], Office],
    jurisdiction: str,
    open_action: DeadlineAction,
    absent: DeadlineAction,
) -> None:
    """Cần Thơ gives the new unit 3 working days from the record reaching it on the
    software (Điều 12.2), i.e. from the day the release is recorded, even when it took
    effect earlier; the Ministry gives the whole transfer 30 from the transfer decision
    (Điều 8.2) and nothing for the receipt alone."""
    o = office(jurisdiction)
    today = now()
    signed = o.ledger.calendar.add_working_days(today, -6)
    took_effect = o.ledger.calendar.add_working_days(today, -4)
    transfer = decision("88/QĐ-UBND", signed)
    o.ledger.release_transfer(o.an, "STC", effective_date=took_effect, decision=transfer, actor=HR)
    assert o.items(action=absent) == []
    item = o.item(open_action)
    assert (item["status"], item["done_on"], item["late"]) == ("open", None, None)
    assert item["unit_code"] == "STC"  # the receiving unit has to act
    assert item["start_date"] == (today if open_action is A.TRANSFER_IN else signed)
    assert item["due_date"] == o.due(item["start_date"], open_action)
    assert o.items(open_only=True) == [item]
    with o.engine.connect() as conn:
        assert overdue(conn, item["due_date"]) == []
        day_after = item["due_date"] + timedelta(days=1)
        assert overdue(conn, day_after) == [item]
        assert overdue(conn, day_after, unit_code="UBND") == [item]
        assert overdue(conn, day_after, unit_code="SNV") == []
        assert {r["unit_code"]: r["open_overdue"] for r in summary_by_unit(conn, day_after)} == {
            "SNV": 0,
            "STC": 1,
        }

    o.ledger.receive_transfer(
        o.an,
        "STC",
        department="Phòng Quản lý giá",
        position="Chuyên viên",
        effective_date=took_effect,
        decision=transfer,
        actor=STC_HR,
    )
    received = o.item(open_action)
    assert (received["status"], received["late"]) == ("done", False)
    assert o.items(open_only=True) == []
    with o.engine.connect() as conn:
        assert overdue(conn, day_after) == []


@pytest.mark.parametrize(
    ("jurisdiction", "department_days", "sub_department_days"),
    [("bnv", 5 + 10, 5 + 5 + 10), ("cantho", 1, 1), ("haiphong", None, None)],
)
def test_a_change_waits_for_approval_as_long_as_the_chain_of_the_unit_kind_allows(
    office: Callable[[str], Office],
    jurisdiction: str,
    department_days: int | None,
    sub_department_days: int | None,
) -> None:
    """The Ministry: a vụ's records go through Vụ TCCB (5 + 10 working days, Điều 7.2.a);
    other units through their own section and head (5 + 5 + 10, Điều 7.2.b). Hải Phòng
    signs in a monthly window, with no deadline in days: no row."""
    o = office(jurisdiction)
    binh = o.ledger.open_profile(
        person("001190054321", unit_code="STC.NS", department="Phòng Ngân sách"),
        decision=decision(),
        actor=STC_HR,
    )
    proposed = {
        pid: o.ledger.propose_change(
            pid, SALARY_RAISE, reason="Nâng bậc lương", effective_date=date(2025, 9, 1), actor=HR
        )
        for pid in (o.an, str(binh))
    }
    if department_days is None:
        assert o.items(action="change_approval") == []
        return
    assert sub_department_days is not None
    for pid, days, unit in (
        (o.an, department_days, "SNV"),
        (str(binh), sub_department_days, "STC.NS"),
    ):
        item = o.item("change_approval", profile_id=pid)
        (event,) = [e for e in o.ledger.profile_events(pid) if type(e).__name__ == "ChangeProposed"]
        entered = to_business_date(event.timestamp)
        assert (item["status"], item["unit_code"], item["working_days"]) == ("open", unit, days)
        assert item["start_date"] == entered
        assert item["due_date"] == o.ledger.calendar.add_working_days(entered, days)

    # What closes the item is the ChangeApproved event, whether the chain's last signature or
    # a plain approval produced it (the signatures themselves are tested with signing/).
    an = o.ledger.profile(o.an)
    an.approve_change(proposed[o.an], actor=HEAD, today=o.ledger.today())
    o.ledger.save(an)
    o.ledger.reject_change(str(binh), proposed[str(binh)], reason="Chưa đủ thời gian", actor=HEAD)
    closed = o.items(action="change_approval")
    assert {(r["closed_by"], r["status"], r["late"]) for r in closed} == {
        ("ChangeApproved", "done", False),
        ("ChangeRejected", "done", False),
    }
    # An approval without a decision is no state decision.
    assert o.items(action=A.STATE_DECISION) == []


def test_a_deadline_of_zero_days_falls_on_the_same_working_day(
    office: Callable[[str], Office],
) -> None:
    """Hải Phòng moves the record "ngay" (at once, Điều 9.2) and sets no deadline for a new
    record or a status change."""
    o = office("haiphong")
    for effective in (date(2025, 1, 24), date(2025, 1, 25)):  # a Friday; Saturday of Tết
        o.ledger.move_within_unit(
            o.an,
            department="Văn phòng Sở",
            position="Chuyên viên",
            effective_date=effective,
            decision=decision(),
            actor=HR,
        )
    o.ledger.retire(o.an, effective_date=date(2025, 6, 1), decision=decision(), actor=HR)
    moves = o.items(action=A.IN_UNIT_MOVE)
    assert [(r["start_date"], r["working_days"], r["due_date"]) for r in moves] == [
        (date(2025, 1, 24), 0, date(2025, 1, 24)),
        (date(2025, 1, 25), 0, date(2025, 2, 3)),
    ]
    assert {r["action"] for r in o.items()} == {"in_unit_move"}


def test_a_jurisdiction_without_deadlines_writes_no_row(office: Callable[[str], Office]) -> None:
    o = office("tuyenquang")
    o.ledger.move_within_unit(
        o.an,
        department="Văn phòng Sở",
        position="Chuyên viên",
        effective_date=date(2025, 1, 24),
        decision=decision(),
        actor=HR,
    )
    o.ledger.release_transfer(
        o.an, "STC", effective_date=date(2025, 3, 1), decision=decision(), actor=HR
    )
    assert o.items() == []


def test_a_transfer_ended_by_death_is_cancelled_and_every_event_is_handled(
    office: Callable[[str], Office],
) -> None:
    """A long life on the record under Cần Thơ's rules, projected a few events at a time
    and then again in one page: the same rows."""
    o = office("cantho")
    ledger, an = o.ledger, o.an
    ledger.start_secondment(
        an,
        host="Ban Quản lý dự án",
        until=None,
        effective_date=date(2015, 1, 5),
        decision=decision(),
        actor=HR,
    )
    ledger.end_secondment(an, effective_date=date(2016, 1, 5), decision=decision(), actor=HR)
    ledger.resign(an, effective_date=date(2018, 1, 1), decision=decision(), actor=HR)
    ledger.rehire(
        an,
        "STC.NS",
        employment={
            "category": "civil_servant",
            "department": "Phòng Ngân sách",
            "position": "Chuyên viên",
            "rank_code": "01.003",
            "salary_step": 5,
        },
        effective_date=date(2019, 1, 2),
        decision=decision(),
        actor=STC_HR,
    )
    change_set = ledger.propose_change(
        an,
        [("identity.hometown", "Cần Thơ")],
        reason="Sai quê quán",
        effective_date=date(2019, 2, 1),
        actor=STC_HR,
    )
    ledger.merge_unit(
        "STC.NS", "STC", actor=ADMIN, effective_date=date(2025, 7, 1), decision=decision()
    )
    ledger.release_transfer(
        an, "SNV", effective_date=date(2026, 1, 5), decision=decision(), actor=HR
    )
    ledger.record_death(an, date_of_death=date(2026, 2, 1), decision=decision(), actor=HR)
    ledger.approve_change(an, change_set, actor=HEAD, decision=decision("9/QĐ-STC"))

    o.project(page_size=2)
    rows = o.items()
    transfer_in = o.item(A.TRANSFER_IN)
    assert (transfer_in["status"], transfer_in["closed_by"], transfer_in["late"]) == (
        "cancelled",
        "Died",
        None,
    )
    with o.engine.connect() as conn:
        assert overdue(conn, date(2100, 1, 1)) == []
    assert [r["opened_by"] for r in o.items(action=A.STATUS_CHANGE)] == ["Resigned", "Died"]
    # Opened after the rehire in Phòng Ngân sách, merged into Sở Tài chính since.
    assert o.item("change_approval")["unit_code"] == "STC.NS"
    assert o.items(unit_code="STC") == [r for r in rows if r["unit_code"] in ("STC", "STC.NS")]
    assert {r["action"] for r in rows} == {
        "new_record",
        "status_change",
        "change_approval",
        "state_decision",
        "transfer_out",
        "transfer_in",
    }

    projector = Projector(ledger, o.engine, [DeadlineCompliance(ledger)], page_size=1000)
    projector.rebuild(["deadlines"])
    assert o.items() == rows
