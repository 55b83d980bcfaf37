"""A unit's roster and headcount over the authenticated JSON API, on SQLite and PostgreSQL,
following the log as it grows; and the public front page, which shows no personnel data.

A unit's roster and headcount cover the unit and every unit below it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

import pytest
from fastapi.testclient import TestClient

from domain.application import Ledger
from domain.settings import Settings
from domain.values import Actor, Role
from tests.api_helpers import auth_client, cheap_argon2, log_in_as, make_account
from tests.builders import person, unit_tree
from tests.conftest import HR, decision

STC_HR = Actor(account="hr.stc", role=Role.HR_OFFICER, unit_code="STC")
UNITS = ("UBND", "SNV", "STC", "STC.NS")


def hire(ledger: Ledger, citizen_id: str, full_name: str, gender: str = "male", **job: Any) -> UUID:
    record = person(citizen_id, **job)
    record["identity"]["full_name"] = full_name
    record["identity"]["gender"] = gender
    return ledger.open_profile(record, decision=decision(), actor=HR)


def transfer_an_to_stc_ns(ledger: Ledger) -> None:
    """Trần Văn An (001085000002) leaves SNV and joins STC.NS as deputy head of its budget
    section."""
    an = ledger.profile_id_for_citizen("001085000002")
    moved = decision("20/QĐ-UBND", date(2025, 2, 20))
    ledger.release_transfer(an, "STC.NS", effective_date=date(2025, 3, 1), decision=moved, actor=HR)
    ledger.receive_transfer(
        an,
        "STC.NS",
        department="Phòng Ngân sách",
        position="Phó Trưởng phòng",
        effective_date=date(2025, 3, 3),
        decision=moved,
        actor=STC_HR,
    )


@dataclass
class Reader:
    """The Department of Home Affairs over the whole province, signed in."""

    client: TestClient
    headers: dict[str, str]

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.headers)

    def roster(self, code: str, **params: Any) -> Any:
        return self.get(f"/api/units/{code}/roster", **params)

    def names(self, code: str, **params: Any) -> list[str]:
        response = self.roster(code, **params)
        assert response.status_code == 200, response.text
        return [member["full_name"] for member in response.json()["staff"]]

    def headcounts(self) -> dict[str, int]:
        counts = {}
        for code in UNITS:
            response = self.get(f"/api/units/{code}/headcount")
            assert response.status_code == 200, response.text
            counts[code] = sum(response.json()["including_subunits"]["headcount"].values())
        return counts


@pytest.fixture
def signed_in(
    ledger: Ledger, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> Callable[[], Iterator[Reader]]:
    """The app on the test's store, with a Home Affairs account of the province logged in."""
    cheap_argon2(monkeypatch)
    unit_tree(ledger)
    account = make_account(ledger, "home", Role.HOME_AFFAIRS, "UBND")

    def start() -> Iterator[Reader]:
        with auth_client(make_settings()) as client:
            yield Reader(client, log_in_as(client, account))

    return start


@pytest.fixture
def reader(ledger: Ledger, signed_in: Callable[[], Iterator[Reader]]) -> Iterator[Reader]:
    """The builders' unit tree and three people in SNV, then the app started."""
    hire(ledger, "001085000001", "Nguyễn Thị Bình", "female")
    hire(ledger, "001085000002", "Trần Văn An")
    hire(ledger, "001085000003", "Lê Văn Cường", department="Văn phòng")
    yield from signed_in()


def test_the_front_page_is_public_and_shows_no_personnel_data(reader: Reader) -> None:
    response = reader.client.get("/")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["service"] == "hoso"
    assert body["jurisdiction"] == "cantho"
    assert body["links"] == {
        "documentation": "/docs",
        "openapi": "/openapi.json",
        "health": "/api/healthz",
        "login": "/api/auth/login",
    }
    text = response.text
    for leaked in ("Bình", "Trần", "SNV", "headcount", "roster", "staff"):
        assert leaked not in text
    # The interim overview outside /api is gone, and the API asks who is calling.
    assert reader.client.get("/units/SNV/roster").status_code == 404
    assert reader.client.get("/api/units/SNV/roster").status_code == 401


def test_each_unit_has_its_headcount(reader: Reader) -> None:
    assert reader.headcounts() == {"UBND": 3, "SNV": 3, "STC": 0, "STC.NS": 0}


def test_a_roster_lists_the_active_staff_by_given_name(reader: Reader) -> None:
    response = reader.roster("SNV")
    assert response.status_code == 200, response.text
    assert reader.names("SNV") == ["Trần Văn An", "Nguyễn Thị Bình", "Lê Văn Cường"]
    body = response.json()
    assert body["unit"]["code"] == "SNV"
    assert body["total"] == 3
    cuong = body["staff"][-1]
    assert cuong["status"] == "active"
    assert cuong["unit_code"] == "SNV"
    assert cuong["department"] == "Văn phòng"
    assert cuong["position"] == "Chuyên viên"
    # Unit codes are not case-sensitive.
    assert reader.names("snv") == reader.names("SNV")


def test_an_unknown_unit_is_not_found(reader: Reader) -> None:
    response = reader.roster("KHONGCO")
    assert response.status_code == 404
    body = response.json()
    assert body["code"] == "not_found"
    assert "KHONGCO" in body["detail_en"]


def test_a_retired_person_leaves_the_roster(ledger: Ledger, reader: Reader) -> None:
    assert len(reader.names("SNV")) == 3
    binh = ledger.profile_id_for_citizen("001085000001")
    ledger.retire(
        binh,
        effective_date=date(2025, 6, 1),
        decision=decision("12/QĐ-SNV", date(2025, 5, 1)),
        actor=HR,
    )
    assert reader.names("SNV") == ["Trần Văn An", "Lê Văn Cường"]
    assert reader.headcounts() == {"UBND": 2, "SNV": 2, "STC": 0, "STC.NS": 0}


def test_a_transfer_moves_the_person_to_the_new_units_roster(
    ledger: Ledger, reader: Reader
) -> None:
    assert reader.names("STC.NS") == []
    transfer_an_to_stc_ns(ledger)

    assert reader.names("SNV") == ["Nguyễn Thị Bình", "Lê Văn Cường"]
    response = reader.roster("STC.NS")
    assert response.status_code == 200, response.text
    roster = response.json()["staff"]
    assert [member["full_name"] for member in roster] == ["Trần Văn An"]
    assert roster[0]["unit_code"] == "STC.NS"
    assert roster[0]["department"] == "Phòng Ngân sách"
    assert roster[0]["position"] == "Phó Trưởng phòng"
    assert reader.names("STC") == ["Trần Văn An"]  # the unit above
    assert reader.headcounts() == {"UBND": 3, "SNV": 2, "STC": 1, "STC.NS": 1}


def test_people_hired_after_the_app_started_appear(ledger: Ledger, reader: Reader) -> None:
    assert reader.headcounts()["STC"] == 0
    hire(ledger, "001085000004", "Phạm Thị Dung", "female", unit_code="STC")
    assert reader.names("STC") == ["Phạm Thị Dung"]
    assert reader.headcounts() == {"UBND": 4, "SNV": 3, "STC": 1, "STC.NS": 0}


def test_the_roster_follows_the_vietnamese_alphabet(
    ledger: Ledger, signed_in: Callable[[], Iterator[Reader]]
) -> None:
    for i, name in enumerate(["Lê Văn Đạt", "Hồ Văn Giang", "Vũ Văn Bình", "Lý Văn Dũng"]):
        hire(ledger, f"00108500010{i}", name)
    hire(ledger, "001185000109", "Mai Thị Ánh", "female")
    # Letters in the order a ă â b c d đ e ..., not in the order of their code points.
    for reader in signed_in():
        assert reader.names("SNV") == [
            "Mai Thị Ánh",
            "Vũ Văn Bình",
            "Lý Văn Dũng",
            "Lê Văn Đạt",
            "Hồ Văn Giang",
        ]
