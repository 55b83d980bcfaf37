"""The archive of departed staff, on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from sqlalchemy import Engine, select

from domain.application import Ledger
from domain.settings import Settings
from projections.archive import Archive, archive, departures, people
from projections.database import read_model_engine
from projections.framework import Projector
from projections.units import UnitTree
from tests.builders import person, unit_tree
from tests.conftest import HEAD, HR, decision

REHIRED_AS_DRIVER = {
    "category": "contract_worker",
    "department": "Ngân sách",
    "position": "Lái xe",
    "rank_code": "01.010",
    "salary_step": 2,
}


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
    prepared = Projector(ledger, engines[0], [UnitTree(ledger), Archive(ledger)], page_size=5)
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


def hire(
    ledger: Ledger, citizen_id: str, full_name: str, gender: str = "male", **employment: Any
) -> str:
    record = person(citizen_id, **employment)
    record["identity"] = {**record["identity"], "full_name": full_name, "gender": gender}
    return str(ledger.open_profile(record, decision=decision(), actor=HR))


def by_person(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {r["profile_id"]: r for r in rows}


def test_each_departure_lands_in_the_archive_with_its_date_and_decision(
    ledger: Ledger, read: Callable[..., Any]
) -> None:
    retired = hire(ledger, "001070000001", "Nguyễn Văn An")
    resigned = hire(
        ledger,
        "001070000002",
        "Trần Thị Bình",
        gender="female",
        unit_code="STC.NS",
        department="Phòng Ngân sách",
        category="public_employee",
        rank_code="V.07.01.03",
    )
    dismissed = hire(ledger, "001070000003", "Lê Văn Cường")
    died = hire(ledger, "001070000004", "Phạm Thị Dung")
    left = hire(ledger, "001070000005", "Hoàng Văn Em")
    staying = hire(ledger, "001070000006", "Vũ Văn Giang")
    released = hire(ledger, "001070000007", "Đỗ Văn Hải")
    ledger.retire(
        retired, effective_date=date(2026, 4, 1), decision=decision("11/QĐ-SNV"), actor=HR
    )
    ledger.resign(
        resigned, effective_date=date(2025, 6, 30), decision=decision("12/QĐ-STC"), actor=HR
    )
    ledger.dismiss(
        dismissed,
        reason="Kỷ luật buộc thôi việc",
        effective_date=date(2024, 5, 1),
        decision=decision("13/QĐ-SNV"),
        actor=HR,
    )
    ledger.record_death(
        died, date_of_death=date(2026, 10, 2), decision=decision("14/QĐ-SNV"), actor=HR
    )
    ledger.transfer_out_of_system(
        left,
        destination="Bộ Tài chính",
        effective_date=date(2023, 1, 1),
        decision=decision("15/QĐ-UBND"),
        actor=HR,
    )
    ledger.release_transfer(
        released, "STC", effective_date=date(2025, 1, 1), decision=decision(), actor=HR
    )

    page = read(archive)
    assert page.total == 5
    rows = by_person(page.rows)
    assert staying not in rows and released not in rows
    expected = {
        retired: ("retired", date(2026, 4, 1), "11/QĐ-SNV"),
        resigned: ("resigned", date(2025, 6, 30), "12/QĐ-STC"),
        dismissed: ("dismissed", date(2024, 5, 1), "13/QĐ-SNV"),
        died: ("deceased", date(2026, 10, 2), "14/QĐ-SNV"),
        left: ("transferred_out", date(2023, 1, 1), "15/QĐ-UBND"),
    }
    for pid, (status, day, number) in expected.items():
        row = rows[pid]
        assert (row["departure"], row["status"]) == (status, status)
        assert (row["departure_date"], row["decision_number"]) == (day, number)
        assert row["recorded_at"] == ledger.profile_events(pid)[-1].timestamp
        assert row["returned_on"] is None
        assert "0010700" not in repr(row)  # no citizen ID
    assert [r["profile_id"] for r in page.rows] == [died, retired, resigned, dismissed, left]
    assert rows[died]["died_on"] == date(2026, 10, 2)
    assert rows[retired]["died_on"] is None
    assert rows[left]["destination"] == "Bộ Tài chính"
    binh = rows[resigned]
    assert (binh["full_name"], binh["birth_date"], binh["gender"]) == (
        "Trần Thị Bình",
        date(1985, 3, 14),
        "female",
    )
    assert (binh["unit_code"], binh["category"], binh["rank_code"]) == (
        "STC.NS",
        "public_employee",
        "V.07.01.03",
    )
    assert binh["position_title"] == "Chuyên viên"

    def ids(**filters: Any) -> list[str]:
        return [r["profile_id"] for r in read(archive, **filters).rows]

    assert ids(status="retired") == [retired]
    assert ids(unit_code="STC") == [resigned]
    assert ids(unit_code="UBND") == [died, retired, resigned, dismissed, left]
    assert ids(departed_from=date(2024, 5, 1), departed_to=date(2025, 6, 30)) == [
        resigned,
        dismissed,
    ]
    second = read(archive, per_page=2, page=2)
    assert (second.total, [r["profile_id"] for r in second.rows]) == (5, [resigned, dismissed])


def test_a_rehired_person_keeps_the_old_row_and_is_no_longer_departed(
    ledger: Ledger, read: Callable[..., Any]
) -> None:
    pid = hire(ledger, "001085000001", "Nguyễn Văn An")
    ledger.resign(pid, effective_date=date(2019, 12, 31), decision=decision("1/QĐ"), actor=HR)
    assert read(archive).total == 1
    ledger.rehire(
        pid,
        "STC.NS",
        employment=REHIRED_AS_DRIVER,
        effective_date=date(2021, 2, 1),
        decision=decision("2/QĐ"),
        actor=HR,
    )
    assert read(archive).total == 0
    (old,) = read(archive, current_only=False).rows
    assert (old["status"], old["returned_on"]) == ("resigned", date(2021, 2, 1))
    assert (old["unit_code"], old["category"], old["rank_code"]) == (
        "SNV",
        "civil_servant",
        "01.003",
    )
    ledger.retire(pid, effective_date=date(2026, 4, 1), decision=decision("3/QĐ"), actor=HR)
    (current,) = read(archive).rows
    assert (current["status"], current["departure_date"]) == ("retired", date(2026, 4, 1))
    assert (current["unit_code"], current["category"], current["rank_code"]) == (
        "STC.NS",
        "contract_worker",
        "01.010",
    )
    assert current["position_title"] == "Lái xe" and current["returned_on"] is None
    history = read(departures, pid)
    assert [(r["departure"], r["returned_on"]) for r in history] == [
        ("resigned", date(2021, 2, 1)),
        ("retired", None),
    ]
    assert read(archive, current_only=False).total == 2


def test_a_person_back_from_outside_the_system_is_no_longer_departed(
    ledger: Ledger, read: Callable[..., Any]
) -> None:
    pid = hire(ledger, "001085000001", "Nguyễn Văn An")
    ledger.transfer_out_of_system(
        pid,
        destination="Bộ Tài chính",
        effective_date=date(2020, 1, 1),
        decision=decision(),
        actor=HR,
    )
    ledger.rehire(
        pid,
        "SNV",
        employment={**REHIRED_AS_DRIVER, "category": "civil_servant", "rank_code": "01.003"},
        effective_date=date(2023, 1, 1),
        decision=decision(),
        actor=HR,
        origin="arrival",
    )
    assert read(archive).total == 0
    (row,) = read(departures, pid)
    assert (row["status"], row["returned_on"]) == ("transferred_out", date(2023, 1, 1))


@pytest.mark.parametrize("caught_up_between", [True, False])
def test_a_death_after_retirement_updates_the_row(
    ledger: Ledger, read: Callable[..., Any], caught_up_between: bool
) -> None:
    retiree = hire(ledger, "001085000001", "Nguyễn Văn An")
    in_service = hire(ledger, "001085000002", "Trần Thị Bình")
    released = hire(ledger, "001085000003", "Lê Văn Cường")
    ledger.retire(
        retiree, effective_date=date(2026, 4, 1), decision=decision("11/QĐ-SNV"), actor=HR
    )
    ledger.release_transfer(
        released, "STC", effective_date=date(2025, 1, 1), decision=decision(), actor=HR
    )
    if caught_up_between:
        read(archive)
    ledger.record_death(
        retiree, date_of_death=date(2026, 10, 2), decision=decision("99/QĐ-SNV"), actor=HR
    )
    ledger.record_death(
        in_service, date_of_death=date(2026, 9, 1), decision=decision("98/QĐ-SNV"), actor=HR
    )
    ledger.record_death(
        released, date_of_death=date(2025, 2, 1), decision=decision("97/QĐ-SNV"), actor=HR
    )
    (row,) = read(departures, retiree)
    assert (row["departure"], row["status"]) == ("retired", "deceased")
    assert (row["departure_date"], row["decision_number"]) == (date(2026, 4, 1), "11/QĐ-SNV")
    assert (row["died_on"], row["death_decision_number"]) == (date(2026, 10, 2), "99/QĐ-SNV")
    (row,) = read(departures, in_service)
    assert (row["departure"], row["status"], row["died_on"]) == (
        "deceased",
        "deceased",
        date(2026, 9, 1),
    )
    (row,) = read(departures, released)
    assert (row["departure"], row["departure_date"]) == ("deceased", date(2025, 2, 1))
    assert row["unit_code"] == "SNV"

    def ids(**filters: Any) -> list[str]:
        return [r["profile_id"] for r in read(archive, **filters).rows]

    # The latest departure first: the retirement counts by its own date.
    assert ids(status="deceased") == [in_service, retiree, released]
    assert ids(departure="retired") == [retiree]
    assert ids(status="retired") == []


def test_names_are_found_without_diacritics(ledger: Ledger, read: Callable[..., Any]) -> None:
    an = hire(ledger, "001085000001", "Nguyễn Văn An")
    binh = hire(ledger, "001085000002", "Trần Thị Bình")
    dung = hire(ledger, "001085000003", "Đặng Đức Dũng")
    for pid in (an, binh, dung):
        ledger.retire(pid, effective_date=date(2026, 4, 1), decision=decision(), actor=HR)

    def found(q: str) -> list[str]:
        return [r["profile_id"] for r in read(archive, q=q).rows]

    assert found("nguyen van an") == [an]
    assert found("BINH") == [binh]
    assert found("Bình") == [binh]
    assert found("dang duc") == [dung]
    assert found("thi") == [binh]
    assert found("van") == [an]
    assert found("%") == []
    # A correction approved after departure reaches the archive's name.
    change_set = ledger.propose_change(
        an,
        [("identity.full_name", "Nguyễn Văn Ánh")],
        reason="Sai chính tả",
        effective_date=date(2026, 5, 1),
        actor=HR,
    )
    ledger.approve_change(an, change_set, actor=HEAD)
    assert found("anh") == [an]
    (row,) = read(departures, an)
    assert row["full_name"] == "Nguyễn Văn Ánh" and row["unit_code"] == "SNV"


def test_the_state_table_holds_no_citizen_id(ledger: Ledger, read: Callable[..., Any]) -> None:
    hire(ledger, "001085000001", "Nguyễn Văn An")
    rows = read(lambda conn: [dict(r._mapping) for r in conn.execute(select(people))])
    assert len(rows) == 1 and "001085000001" not in repr(rows)
