"""Random valid command sequences: read models kept incrementally equal a rebuild."""

from __future__ import annotations

import contextlib
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.application import Ledger
from domain.errors import DomainError
from domain.values import Actor, Decision, EmployeeCategory, Role, UnitKind
from projections import catalogue
from projections.database import read_model_engine
from tests.builders import ADMIN, person, unit_tree
from tests.conftest import TODAY
from tests.readside import dump, fresh_store

HR = Actor("hr", Role.HR_OFFICER, "SNV")
HEAD = Actor("head", Role.UNIT_HEAD, "SNV")
UNITS = ("SNV", "STC", "STC.NS")
NAMES = ("Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Ân", "Đỗ Thị Hà", "Phạm Quang Huy")


def _decision(day: date) -> Decision:
    return Decision(number=f"{day.toordinal() % 997}/QĐ", signed_on=day)


def run_command(ledger: Ledger, data: st.DataObject, profiles: list[str]) -> None:
    """One random command; a refused one (DomainError) changes nothing, as designed."""
    day = date(2011, 1, 1) + timedelta(days=data.draw(st.integers(0, 5000), label="day"))
    kind = data.draw(
        st.sampled_from(
            [
                "open",
                "open",
                "change",
                "approve",
                "reject",
                "move",
                "release",
                "receive",
                "second",
                "end_second",
                "retire",
                "resign",
                "dismiss",
                "die",
                "rehire",
                "rename_unit",
                "merge_unit",
                "quota",
            ]
        ),
        label="command",
    )
    if kind == "open" or not profiles:
        n = len(profiles)
        record = person(
            citizen_id=f"{1085000000 + n:012d}",
            unit_code=data.draw(st.sampled_from(UNITS)),
            salary_step=data.draw(st.integers(1, 9)),
        )
        record["identity"]["full_name"] = NAMES[n % len(NAMES)]
        profiles.append(str(ledger.open_profile(record, decision=_decision(day), actor=HR)))
        return
    pid = data.draw(st.sampled_from(profiles), label="profile")
    profile = ledger.profile(pid)
    pending = list(profile.pending_change_sets)
    d = _decision(day)
    if kind == "change":
        step = data.draw(st.integers(1, 9))
        coefficient = f"{2.34 + 0.33 * (step - 1):.2f}"  # chuyên viên's scale
        ledger.propose_change(
            pid,
            [("employment.salary_step", step), ("employment.coefficient", coefficient)],
            reason="Nâng bậc",
            effective_date=day,
            actor=HR,
        )
    elif kind == "approve" and pending:
        ledger.approve_change(pid, data.draw(st.sampled_from(pending)), actor=HEAD, decision=d)
    elif kind == "reject" and pending:
        ledger.reject_change(
            pid, data.draw(st.sampled_from(pending)), reason="Thiếu hồ sơ", actor=HEAD
        )
    elif kind == "move":
        ledger.move_within_unit(
            pid,
            department="Văn phòng",
            position="Chuyên viên",
            effective_date=day,
            decision=d,
            actor=HR,
        )
    elif kind == "release":
        ledger.release_transfer(
            pid, data.draw(st.sampled_from(UNITS)), effective_date=day, decision=d, actor=HR
        )
    elif kind == "receive" and profile.transfer_to:
        ledger.receive_transfer(
            pid,
            profile.transfer_to,
            department="Phòng 1",
            position="Chuyên viên",
            effective_date=day,
            decision=d,
            actor=HR,
        )
    elif kind == "second":
        ledger.start_secondment(
            pid, host="Ban Quản lý dự án", until=None, effective_date=day, decision=d, actor=HR
        )
    elif kind == "end_second":
        ledger.end_secondment(pid, effective_date=day, decision=d, actor=HR)
    elif kind in ("retire", "resign"):
        getattr(ledger, kind)(pid, effective_date=day, decision=d, actor=HR)
    elif kind == "dismiss":
        ledger.dismiss(pid, reason="Vi phạm", effective_date=day, decision=d, actor=HR)
    elif kind == "die":
        ledger.record_death(pid, date_of_death=min(day, TODAY), decision=d, actor=HR)
    elif kind == "rehire":
        ledger.rehire(
            pid,
            data.draw(st.sampled_from(UNITS)),
            employment={
                "category": "civil_servant",
                "department": "Phòng 2",
                "position": "Chuyên viên",
                "rank_code": "01.003",
                "salary_step": 2,
            },
            effective_date=day,
            decision=d,
            actor=HR,
        )
    elif kind == "rename_unit":
        ledger.rename_unit(
            data.draw(st.sampled_from(UNITS)),
            f"Đơn vị {day.isoformat()}",
            actor=ADMIN,
            effective_date=day,
        )
    elif kind == "merge_unit":
        ledger.merge_unit("STC.NS", "STC", actor=ADMIN, effective_date=day, decision=d)
    elif kind == "quota":
        ledger.set_staffing_quota(
            data.draw(st.sampled_from(UNITS)),
            day.year,
            EmployeeCategory.CIVIL_SERVANT,
            data.draw(st.integers(0, 50)),
            actor=ADMIN,
        )


@pytest.mark.parametrize("backend_name", ["sqlite", "postgres"])
@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_incremental_read_models_equal_a_rebuild(
    backend_name: str, tmp_path: Path, data: st.DataObject
) -> None:
    with fresh_store(backend_name, tmp_path) as store:
        ledger = Ledger(store, clock=lambda: TODAY)
        engine = read_model_engine(store, writer=True)
        try:
            unit_tree(ledger)
            ledger.create_unit(
                "PSU",
                "Trung tâm Dịch vụ",
                UnitKind.PUBLIC_SERVICE_UNIT,
                "SNV",
                actor=ADMIN,
                effective_date=date(2020, 1, 1),
            )
            projector = catalogue.projector(
                ledger, engine, page_size=data.draw(st.integers(1, 7), label="page size")
            )
            projector.prepare()
            profiles: list[str] = []
            for _ in range(data.draw(st.integers(5, 30), label="commands")):
                with contextlib.suppress(DomainError):
                    run_command(ledger, data, profiles)
                if data.draw(st.booleans(), label="catch up now"):
                    projector.catch_up()
            projector.catch_up()
            incremental = dump(projector)
            assert any(incremental.values())
            projector.rebuild()
            assert dump(projector) == incremental
            assert all(s.lag == 0 for s in projector.status())
        finally:
            engine.dispose()
            ledger.close()
