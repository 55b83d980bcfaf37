"""The HTTP overview: units with their headcount and each unit's roster, on SQLite and
PostgreSQL, following the log as it grows.

A unit's roster and headcount cover the unit and every unit below it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import date
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from domain.application import Ledger
from domain.settings import Settings
from domain.values import Actor, Role
from tests.builders import person, unit_tree
from tests.conftest import HR, decision

STC_HR = Actor(account="hr.stc", role=Role.HR_OFFICER, unit_code="STC")


def hire(ledger: Ledger, citizen_id: str, full_name: str, gender: str = "male", **job: Any) -> UUID:
    record = person(citizen_id, **job)
    record["identity"]["full_name"] = full_name
    record["identity"]["gender"] = gender
    return ledger.open_profile(record, decision=decision(), actor=HR)


def names(response: Any) -> list[str]:
    assert response.status_code == 200, response.text
    return [member["full_name"] for member in response.json()["staff"]]


def headcounts(client: TestClient) -> dict[str, int]:
    response = client.get("/")
    assert response.status_code == 200, response.text
    return {unit["code"]: unit["headcount"] for unit in response.json()["units"]}


@pytest.fixture
def ledger_and_client(
    ledger: Ledger, make_settings: Callable[..., Settings]
) -> Iterator[tuple[Ledger, TestClient]]:
    """The builders' unit tree, three people in SNV, and the app started on the same store."""
    unit_tree(ledger)
    hire(ledger, "001085000001", "Nguyễn Thị Bình", "female")
    hire(ledger, "001085000002", "Trần Văn An")
    hire(ledger, "001085000003", "Lê Văn Cường", department="Văn phòng")
    with TestClient(create_app(make_settings())) as client:
        yield ledger, client


def test_the_unit_list_shows_each_unit_with_its_headcount(
    ledger_and_client: tuple[Ledger, TestClient],
) -> None:
    _, client = ledger_and_client
    body = client.get("/").json()
    assert body["jurisdiction"] == "cantho"
    units = {unit["code"]: unit for unit in body["units"]}
    assert set(units) == {"UBND", "SNV", "STC", "STC.NS"}
    assert units["SNV"]["name"] == "Sở Nội vụ"
    assert units["STC.NS"]["parent_code"] == "STC"
    assert units["SNV"]["roster"] == "/units/SNV/roster"
    assert headcounts(client) == {"UBND": 3, "SNV": 3, "STC": 0, "STC.NS": 0}


def test_a_roster_lists_the_active_staff_by_given_name(
    ledger_and_client: tuple[Ledger, TestClient],
) -> None:
    _, client = ledger_and_client
    response = client.get("/units/SNV/roster")
    assert names(response) == ["Trần Văn An", "Nguyễn Thị Bình", "Lê Văn Cường"]
    body = response.json()
    assert body["unit"]["code"] == "SNV"
    assert body["total"] == 3
    cuong = body["staff"][-1]
    assert cuong["status"] == "active"
    assert cuong["unit_code"] == "SNV"
    assert cuong["department"] == "Văn phòng"
    assert cuong["position"] == "Chuyên viên"
    # Unit codes are not case-sensitive.
    assert names(client.get("/units/snv/roster")) == names(response)


def test_an_unknown_unit_is_not_found(ledger_and_client: tuple[Ledger, TestClient]) -> None:
    _, client = ledger_and_client
    response = client.get("/units/KHONGCO/roster")
    assert response.status_code == 404
    assert "KHONGCO" in response.json()["detail"]


def test_a_retired_person_leaves_the_roster(
    ledger_and_client: tuple[Ledger, TestClient],
) -> None:
    ledger, client = ledger_and_client
    assert len(names(client.get("/units/SNV/roster"))) == 3
    binh = ledger.profile_id_for_citizen("001085000001")
    ledger.retire(
        binh,
        effective_date=date(2025, 6, 1),
        decision=decision("12/QĐ-SNV", date(2025, 5, 1)),
        actor=HR,
    )
    assert names(client.get("/units/SNV/roster")) == ["Trần Văn An", "Lê Văn Cường"]
    assert headcounts(client) == {"UBND": 2, "SNV": 2, "STC": 0, "STC.NS": 0}


def test_a_transfer_moves_the_person_to_the_new_units_roster(
    ledger_and_client: tuple[Ledger, TestClient],
) -> None:
    ledger, client = ledger_and_client
    assert names(client.get("/units/STC.NS/roster")) == []
    an = ledger.profile_id_for_citizen("001085000002")
    ledger.release_transfer(
        an,
        "STC.NS",
        effective_date=date(2025, 3, 1),
        decision=decision("20/QĐ-UBND", date(2025, 2, 20)),
        actor=HR,
    )
    ledger.receive_transfer(
        an,
        "STC.NS",
        department="Phòng Ngân sách",
        position="Phó Trưởng phòng",
        effective_date=date(2025, 3, 3),
        decision=decision("20/QĐ-UBND", date(2025, 2, 20)),
        actor=STC_HR,
    )

    assert names(client.get("/units/SNV/roster")) == ["Nguyễn Thị Bình", "Lê Văn Cường"]
    roster = client.get("/units/STC.NS/roster").json()["staff"]
    assert [member["full_name"] for member in roster] == ["Trần Văn An"]
    assert roster[0]["unit_code"] == "STC.NS"
    assert roster[0]["department"] == "Phòng Ngân sách"
    assert roster[0]["position"] == "Phó Trưởng phòng"
    assert names(client.get("/units/STC/roster")) == ["Trần Văn An"]  # the unit above
    assert headcounts(client) == {"UBND": 3, "SNV": 2, "STC": 1, "STC.NS": 1}


def test_people_hired_after_the_app_started_appear(
    ledger_and_client: tuple[Ledger, TestClient],
) -> None:
    ledger, client = ledger_and_client
    assert headcounts(client)["STC"] == 0
    hire(ledger, "001085000004", "Phạm Thị Dung", "female", unit_code="STC")
    assert names(client.get("/units/STC/roster")) == ["Phạm Thị Dung"]
    assert headcounts(client) == {"UBND": 4, "SNV": 3, "STC": 1, "STC.NS": 0}


def test_the_roster_follows_the_vietnamese_alphabet(
    ledger: Ledger, make_settings: Callable[..., Settings]
) -> None:
    unit_tree(ledger)
    for i, name in enumerate(["Lê Văn Đạt", "Hồ Văn Giang", "Vũ Văn Bình", "Lý Văn Dũng"]):
        hire(ledger, f"00108500010{i}", name)
    hire(ledger, "001185000109", "Mai Thị Ánh", "female")
    # Letters in the order a ă â b c d đ e ..., not in the order of their code points.
    with TestClient(create_app(make_settings())) as client:
        assert names(client.get("/units/SNV/roster")) == [
            "Mai Thị Ánh",
            "Vũ Văn Bình",
            "Lý Văn Dũng",
            "Lê Văn Đạt",
            "Hồ Văn Giang",
        ]
