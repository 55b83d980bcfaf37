"""The national database exchange as those who keep a unit's records see it over the JSON
API (``GET /api/national-sync``), on SQLite and PostgreSQL: after approved records and
changes of people in two units and one send run against the stand-in national server
(real HTTPS) that fails one item, what was queued, sent and failed per unit, and what is
not acknowledged yet; each caller seeing only the units they may read."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pytest

from domain.application import Ledger
from domain.national_sync import idempotency_key
from domain.settings import Settings
from domain.values import Actor, Role
from operations.national_sync import send_pending
from projections.database import read_model_engine
from tests.api_helpers import TestAccount, auth_client, cheap_argon2, log_in_as, make_account
from tests.builders import person, unit_tree
from tests.conftest import TODAY, decision
from tests.national_standin import NationalStandIn
from tests.test_national_sync import NOW, RAISE, national, sign

PROBLEM = "application/problem+json"
SNV_HR = Actor(account="hr.officer", role=Role.HR_OFFICER, unit_code="SNV")
SNV_HEAD = Actor(account="unit.head", role=Role.UNIT_HEAD, unit_code="SNV")
NS_HR = Actor(account="hr.ns", role=Role.HR_OFFICER, unit_code="STC.NS")
NS_HEAD = Actor(account="head.ns", role=Role.UNIT_HEAD, unit_code="STC.NS")
STC_HR = Actor(account="hr.stc", role=Role.HR_OFFICER, unit_code="STC")
# What the stand-in answers a request it fails with a 500, as the sender records it.
REFUSAL = "Unavailable: HTTP 500: lỗi máy chủ"


def hire(ledger: Ledger, citizen_id: str, unit_code: str, actor: Actor) -> str:
    return str(
        ledger.open_profile(
            person(citizen_id, unit_code=unit_code), decision=decision(), actor=actor
        )
    )


def approved_change(ledger: Ledger, profile_id: str, hr: Actor, head: Actor) -> int:
    """A change proposed and signed by the unit head: the version of its approval."""
    item = ledger.propose_change(
        profile_id, RAISE, reason="Quyết định nâng lương", effective_date=TODAY, actor=hr
    )
    sign(ledger, profile_id, item, head)
    approval = ledger.profile_events(profile_id)[-1]
    assert type(approval).__name__ == "ChangeApproved"
    return int(approval.originator_version)


def key(profile_id: str, version: int) -> str:
    return idempotency_key(profile_id, version)


@dataclass
class Story:
    """Who was hired and changed where, what the stand-in received, and the accounts."""

    an: str  # SNV: opened (refused by the stand-in), then a change (waits behind it)
    binh: str  # SNV: opened, acknowledged
    cuong: str  # STC.NS: opened and a change, acknowledged; another change after the run
    dung: str  # STC: opened after the run
    an_changed: int  # versions of the approved changes
    cuong_changed: int
    cuong_later: int
    standin: NationalStandIn
    home: TestAccount  # the Department of Home Affairs, over the province (UBND)
    officer: TestAccount  # an HR officer of STC (and STC.NS below it)
    personal: TestAccount  # Bình's own account
    settings: Callable[..., Settings]

    def acknowledged_at(self, *keys: str) -> datetime:
        return max(
            datetime.fromisoformat(self.standin.received[k].ack["received_at"]) for k in keys
        )


@pytest.fixture
def story(
    make_ledger: Callable[..., Ledger],
    make_settings: Callable[..., Settings],
    standin: NationalStandIn,
    monkeypatch: pytest.MonkeyPatch,
) -> Story:
    cheap_argon2(monkeypatch)
    exchange = national(standin, national_attempts=1)  # one failed request fails the item
    ledger = make_ledger(**exchange)
    unit_tree(ledger)
    home = make_account(ledger, "home", Role.HOME_AFFAIRS, "UBND")
    officer = make_account(ledger, "hr.stc", Role.HR_OFFICER, "STC")

    an = hire(ledger, "001085012345", "SNV", SNV_HR)
    cuong = hire(ledger, "001085012347", "STC.NS", NS_HR)
    an_changed = approved_change(ledger, an, SNV_HR, SNV_HEAD)
    cuong_changed = approved_change(ledger, cuong, NS_HR, NS_HEAD)
    binh = hire(ledger, "001085012346", "SNV", SNV_HR)
    personal = make_account(ledger, "binh.personal", profile_id=binh)

    standin.faults.append("error_500")  # the first request, An's record, fails
    engine = read_model_engine(make_settings(**exchange), writer=True)
    try:
        report = send_pending(ledger, engine, now=NOW)
    finally:
        engine.dispose()
    assert (report.sent, len(report.failed), report.waiting) == (3, 1, 1)
    assert set(standin.order) == {key(binh, 1), key(cuong, 1), key(cuong, cuong_changed)}

    # Approved after the run: queued.
    dung = hire(ledger, "001085012348", "STC", STC_HR)
    cuong_later = approved_change(ledger, cuong, NS_HR, NS_HEAD)
    return Story(
        an,
        binh,
        cuong,
        dung,
        an_changed,
        cuong_changed,
        cuong_later,
        standin,
        home,
        officer,
        personal,
        make_settings,
    )


@contextmanager
def signed_in(settings: Settings, account: TestAccount) -> Iterator[Callable[..., Any]]:
    """GET as ``account`` on the app over ``settings``."""
    with auth_client(settings) as client:
        headers = log_in_as(client, account)

        def get(path: str, **params: Any) -> Any:
            return client.get(path, params=params, headers=headers)

        yield get


def ok(response: Any) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


def problem(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    return body


def by_unit(body: dict[str, Any]) -> dict[str, tuple[int, int, int, datetime | None]]:
    return {
        u["unit_code"]: (
            u["queued"],
            u["sent"],
            u["failed"],
            datetime.fromisoformat(u["last_acknowledged_at"])
            if u["last_acknowledged_at"]
            else None,
        )
        for u in body["units"]
    }


def unsent(body: dict[str, Any]) -> list[tuple[str, int, str, str, int, str | None]]:
    return [
        (i["profile_id"], i["version"], i["unit_code"], i["state"], i["failures"], i["last_error"])
        for i in body["unsent"]
    ]


def test_the_department_sees_every_unit_and_what_is_not_acknowledged(
    story: Story, standin: NationalStandIn
) -> None:
    s = story
    expected_units = {
        "SNV": (1, 1, 1, s.acknowledged_at(key(s.binh, 1))),
        "STC": (1, 0, 0, None),
        "STC.NS": (1, 2, 0, s.acknowledged_at(key(s.cuong, 1), key(s.cuong, s.cuong_changed))),
    }
    expected_unsent = [  # oldest first
        (s.an, 1, "SNV", "failed", 1, REFUSAL),
        (s.an, s.an_changed, "SNV", "queued", 0, None),
        (s.dung, 1, "STC", "queued", 0, None),
        (s.cuong, s.cuong_later, "STC.NS", "queued", 0, None),
    ]
    with signed_in(s.settings(**national(standin)), s.home) as get:
        body = ok(get("/api/national-sync"))
        assert body["configured"] is True
        assert body["unit_code"] == "UBND"  # the unit of the Department's grant
        assert [u["unit_code"] for u in body["units"]] == ["SNV", "STC", "STC.NS"]
        assert by_unit(body) == expected_units
        assert unsent(body) == expected_unsent
        assert [i["idempotency_key"] for i in body["unsent"]] == [
            key(s.an, 1),
            key(s.an, s.an_changed),
            key(s.dung, 1),
            key(s.cuong, s.cuong_later),
        ]
        assert [i["event_type"] for i in body["unsent"]] == [
            "Opened",
            "ChangeApproved",
            "Opened",
            "ChangeApproved",
        ]
        approved = [datetime.fromisoformat(i["approved_at"]) for i in body["unsent"]]
        assert approved == sorted(approved)
        # Asked for the province by name, the same; the unit code is not case-sensitive.
        assert ok(get("/api/national-sync", unit="ubnd")) == body
        # One unit: its own counts and items only.
        snv = ok(get("/api/national-sync", unit="SNV"))
        assert snv["unit_code"] == "SNV"
        assert by_unit(snv) == {"SNV": expected_units["SNV"]}
        assert unsent(snv) == expected_unsent[:2]

    # The same store served without a national endpoint: the outbox is still shown.
    with signed_in(s.settings(jurisdiction="haiphong"), s.home) as get:
        body = ok(get("/api/national-sync"))
        assert body["configured"] is False
        assert by_unit(body) == expected_units
        assert unsent(body) == expected_unsent
    # An endpoint set, under rules that send nothing to the national database (Cần Thơ).
    with signed_in(s.settings(**national(standin, jurisdiction="cantho")), s.home) as get:
        assert ok(get("/api/national-sync"))["configured"] is False


def test_an_hr_officer_sees_only_the_units_of_their_grant(
    story: Story, standin: NationalStandIn
) -> None:
    s = story
    settings = s.settings(**national(standin))
    with signed_in(settings, s.officer) as get:
        response = get("/api/national-sync")
        body = ok(response)
        assert body["unit_code"] == "STC"
        assert by_unit(body) == {
            "STC": (1, 0, 0, None),
            "STC.NS": (1, 2, 0, s.acknowledged_at(key(s.cuong, 1), key(s.cuong, s.cuong_changed))),
        }
        assert unsent(body) == [
            (s.dung, 1, "STC", "queued", 0, None),
            (s.cuong, s.cuong_later, "STC.NS", "queued", 0, None),
        ]
        for other in (s.an, s.binh):  # the people of SNV appear nowhere
            assert other not in response.text
            assert key(other, 1) not in response.text

        below = ok(get("/api/national-sync", unit="STC.NS"))
        assert by_unit(below) == {"STC.NS": by_unit(body)["STC.NS"]}
        assert unsent(below) == [(s.cuong, s.cuong_later, "STC.NS", "queued", 0, None)]

        # Units outside the grant: refused as the other unit-scoped listings refuse them.
        for outside in ("SNV", "UBND"):
            refused = get("/api/national-sync", unit=outside)
            listing = get("/api/deadlines/overdue", unit=outside)
            assert refused.status_code in (403, 404), refused.text
            assert refused.status_code == listing.status_code, (outside, listing.text)
            problem(refused, refused.status_code)
            assert s.an not in refused.text and s.binh not in refused.text

    with signed_in(settings, s.personal) as get:
        refused = get("/api/national-sync")
        assert refused.status_code in (403, 404), refused.text
        assert refused.status_code == get("/api/deadlines/overdue").status_code
        problem(refused, refused.status_code)
        assert s.binh not in refused.text  # not even the caller's own record
        mine = get("/api/national-sync", unit="SNV")
        assert mine.status_code in (403, 404), mine.text
        assert mine.status_code == get("/api/deadlines/overdue", unit="SNV").status_code


def test_an_unknown_unit_is_not_found(story: Story, standin: NationalStandIn) -> None:
    with signed_in(story.settings(**national(standin)), story.home) as get:
        body = problem(get("/api/national-sync", unit="KHONGCO"), 404)
        assert body["code"] == "not_found"
        assert "KHONGCO" in body["detail_en"]
