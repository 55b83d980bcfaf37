"""The national database exchange against a stand-in national server (real HTTPS, faults
injected), on SQLite and PostgreSQL, under Hải Phòng's rules: a unit head signs each
record and change, and the staff of special associations are not synced."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console
from sqlalchemy import Engine

from domain.application import Ledger
from domain.national_sync import NationalSync
from domain.settings import Settings
from domain.values import Actor, Decision, Role, UnitKind
from operations.national_sync import pull_arrivals, send_pending
from operations.reports import annual_report
from projections import catalogue
from projections.audit import audit
from projections.database import read_model_engine
from projections.national_outbox import items, summary
from scripts import sync_cli
from tests.builders import ADMIN, person, unit_tree
from tests.cli_helpers import ok, one_line
from tests.conftest import HR, TODAY, decision
from tests.national_standin import TOKEN, NationalStandIn, arrival

NOW = datetime(2026, 11, 27, 3, 0, tzinfo=UTC)
HEAD = Actor(account="unit.head", role=Role.UNIT_HEAD, unit_code="SNV")
RAISE = [("employment.salary_step", 4), ("employment.coefficient", "3.33")]
ASSOCIATION = "HOI.CCB"


def national(standin: NationalStandIn, **more: Any) -> dict[str, Any]:
    """Settings of the exchange with the stand-in: short timeouts and back-off."""
    return {
        "jurisdiction": "haiphong",
        "national_url": standin.url,
        "national_ca_file": standin.ca_file,
        "national_token": TOKEN,
        "national_timeout": 0.5,
        "national_attempts": 6,
        "national_backoff": 0.01,
        "national_backoff_max": 0.05,
        **more,
    }


@pytest.fixture
def office(
    make_ledger: Callable[..., Ledger],
    make_settings: Callable[..., Settings],
    standin: NationalStandIn,
) -> Iterator[tuple[Ledger, Engine]]:
    ledger = make_ledger(**national(standin))
    unit_tree(ledger)
    ledger.create_unit(
        ASSOCIATION,
        "Hội Cựu chiến binh thành phố",
        UnitKind.SPECIAL_ASSOCIATION,
        "UBND",
        actor=ADMIN,
        effective_date=date(2020, 1, 1),
    )
    engine = read_model_engine(make_settings(**national(standin)), writer=True)
    yield ledger, engine
    engine.dispose()


def sign(ledger: Ledger, profile_id: Any, item_id: str, head: Actor = HEAD) -> None:
    """The unit head's signature (verified before it is recorded: see test_approvals)."""
    profile = ledger.profile(profile_id)
    profile.sign_approval(
        item_id,
        signature={
            "certificate_fingerprint": "ab" * 32,
            "signature": "",
            "digest": "",
            "previous_state": "",
            "signed_at": NOW,
            "role": head.role.value,
            "unit_code": head.unit_code,
        },
        actor=head,
        today=TODAY,
    )
    ledger.commit(profile)


def approved_change(ledger: Ledger, profile_id: Any, changes: list[tuple[str, Any]]) -> str:
    item = ledger.propose_change(
        profile_id, changes, reason="Quyết định nâng lương", effective_date=TODAY, actor=HR
    )
    sign(ledger, profile_id, item)
    return item


def test_every_approved_change_arrives_once_and_in_order_despite_faults(
    office: tuple[Ledger, Engine], standin: NationalStandIn
) -> None:
    ledger, engine = office
    an = ledger.open_profile(person("001085012345"), decision=decision(), actor=HR)
    binh = ledger.open_profile(person("001085012346"), decision=decision(), actor=HR)
    approved_change(ledger, an, RAISE)
    approved_change(ledger, an, [("identity.phone", "0912345678")])
    approved_change(ledger, an, [("health.blood_type", "O")])  # restricted, level 2
    ledger.propose_change(  # pending: never leaves
        an, [("identity.email", "an@example.vn")], reason="Email", effective_date=TODAY, actor=HR
    )
    ledger.retire(binh, effective_date=TODAY, decision=decision("9/QĐ-SNV"), actor=HR)
    retired = ledger.profile(binh)
    sign(ledger, binh, retired.record_item_id(retired.version - 1))
    ledger.move_within_unit(  # then refused: never leaves
        an,
        department="Phòng Hành chính",
        position="Chuyên viên",
        effective_date=TODAY,
        decision=decision("10/QĐ-SNV"),
        actor=HR,
    )
    moved = ledger.profile(an)
    refused = moved.record_item_id(moved.version - 1)
    moved.reject_approval(refused, reason="Sai phòng", actor=HEAD)
    ledger.commit(moved)

    standin.faults.extend(
        ["timeout_after_store", "error_500", "drop", "duplicate_ack", "drop_after_store"]
    )
    standin.faults.extend(["timeout", "error_500"])
    report = send_pending(ledger, engine, now=NOW)

    assert standin.invalid == []
    assert report.failed == [] and report.sent == 6
    assert standin.invalid == []
    assert len(standin.order) == len(set(standin.order)) == 6  # each item received once
    assert len(standin.submissions) > 6  # …though several were sent more than once
    sent_an = standin.records_of(str(an))
    assert [r["event"] for r in sent_an] == ["Opened", *["ChangeApproved"] * 3]
    assert [r["sequence"] for r in sent_an] == sorted(r["sequence"] for r in sent_an)
    assert sent_an[1]["values"] == {"employment.salary_step": 4, "employment.coefficient": "3.33"}
    assert sent_an[3]["values"] == {"health.blood_type": "O"}
    assert sent_an[3]["restricted"] == {"health": 2}
    assert sent_an[0]["citizen_id"] == "001085012345"
    assert all("identity.email" not in r["values"] for r in sent_an)
    assert all(r["event"] != "MovedWithinUnit" for r in sent_an)
    sent_binh = standin.records_of(str(binh))
    assert [(r["event"], r["status"]) for r in sent_binh] == [
        ("Opened", "active"),
        ("Retired", "retired"),
    ]
    assert sent_binh[1]["decision"]["number"] == "9/QĐ-SNV"

    # Nothing is left, and a second run sends nothing.
    again = send_pending(ledger, engine, now=NOW)
    assert (again.sent, again.failed) == (0, [])
    assert len(standin.order) == 6
    with engine.connect() as conn:
        states = {(r["profile_id"], r["version"]): r["state"] for r in items(conn)}
    assert set(states.values()) == {"sent"}


def test_acknowledgements_are_in_the_audit_trail_by_the_system(
    office: tuple[Ledger, Engine], standin: NationalStandIn
) -> None:
    ledger, engine = office
    an = ledger.open_profile(person(), decision=decision(), actor=HR)
    before = datetime.now(UTC)
    send_pending(ledger, engine, now=NOW)
    projector = catalogue.projector(ledger, engine)
    projector.prepare()
    projector.catch_up()
    with engine.connect() as conn:
        rows = audit(conn, profile_id=an, event_type="NationalSyncAcknowledged")
        synced = summary(conn)
        reported = [
            annual_report(
                conn,
                before.year,
                jurisdiction=ledger.jurisdiction,
                calendar=ledger.calendar,
                unit_code=code,
            ).syncs
            for code in ("SNV", None)
        ]
    assert len(rows) == 1
    row = rows[0]
    assert (row["actor_account"], row["actor_role"]) == ("system", "system")
    assert row["unit_code"] == "SNV"
    assert reported == [1, 1]  # the annual report counts it, for the unit and overall
    assert row["recorded_at"] >= before.replace(microsecond=0)
    assert synced == [
        {
            "unit_code": "SNV",
            "queued": 0,
            "sent": 1,
            "failed": 0,
            "last_acknowledged_at": synced[0]["last_acknowledged_at"],
        }
    ]
    sync: NationalSync = ledger.repository.get(NationalSync.create_id(an))
    receipt = next(iter(sync.acknowledged.values()))
    assert receipt["national_record_id"] == "QG-001085012345"
    assert ledger.profile(an).version == 1  # the profile itself did not move


def test_excluded_staff_and_failed_items_wait(
    office: tuple[Ledger, Engine], standin: NationalStandIn
) -> None:
    ledger, engine = office
    member = ledger.open_profile(
        person("001085099999", unit_code=ASSOCIATION), decision=decision(), actor=HR
    )
    association_head = Actor("hoi.head", Role.UNIT_HEAD, ASSOCIATION)
    item = ledger.propose_change(member, RAISE, reason="Nâng lương", effective_date=TODAY, actor=HR)
    sign(ledger, member, item, association_head)
    an = ledger.open_profile(person(), decision=decision(), actor=HR)
    approved_change(ledger, an, RAISE)

    standin.faults.extend(["error_500"] * 6)  # every attempt at the first item fails
    report = send_pending(ledger, engine, now=NOW)
    assert report.sent == 0 and len(report.failed) == 1
    assert report.waiting == 1  # the change waits behind the record it changes
    assert standin.order == []
    with engine.connect() as conn:
        by_unit = {r["unit_code"]: r for r in summary(conn)}
    assert set(by_unit) == {"SNV"}  # nothing of the association is queued
    assert (by_unit["SNV"]["failed"], by_unit["SNV"]["queued"]) == (1, 1)

    report = send_pending(ledger, engine, now=NOW)
    assert report.sent == 2
    assert [r["record_id"] for r in (p.payload for p in standin.received.values())] == [
        str(an),
        str(an),
    ]
    assert standin.records_of(str(member)) == []


def test_no_national_sync_sends_nothing(
    make_ledger: Callable[..., Ledger],
    make_settings: Callable[..., Settings],
    standin: NationalStandIn,
) -> None:
    ledger = make_ledger(**national(standin, jurisdiction="cantho"))
    unit_tree(ledger)
    pid = ledger.open_profile(person(), decision=decision(), actor=HR)
    item = ledger.propose_change(pid, RAISE, reason="Nâng lương", effective_date=TODAY, actor=HR)
    ledger.approve_change(pid, item, actor=HEAD)
    engine = read_model_engine(make_settings(**national(standin, jurisdiction="cantho")))
    try:
        report = send_pending(ledger, engine, now=NOW)
    finally:
        engine.dispose()
    assert report.sent == 0 and standin.submissions == []


def test_an_arrival_from_outside_opens_one_profile_with_its_origin(
    office: tuple[Ledger, Engine], standin: NationalStandIn
) -> None:
    ledger, engine = office
    newcomer = arrival("001190000001")
    standin.add_arrival(newcomer)
    unknown_unit = arrival("001190000002", unit_code="KHONG.CO")
    standin.add_arrival(unknown_unit)
    # A person who left for another body comes back through the national database.
    back = ledger.open_profile(person("001085012399"), decision=decision(), actor=HR)
    ledger.transfer_out_of_system(
        back,
        destination="Bộ Tài chính",
        effective_date=date(2025, 1, 2),
        decision=decision("5/QĐ-SNV"),
        actor=HR,
    )
    returning = arrival("001085012399", number="99/QĐ-BTC", effective_date="2026-11-03")
    standin.add_arrival(returning)
    standin.shuffle_arrivals = True  # out of order, one of them twice

    report = pull_arrivals(ledger, now=NOW)
    assert len(report.opened) == 1 and report.returned == [str(back)]
    assert [a for a, _ in report.failed] == [unknown_unit["arrival_id"]]
    assert "KHONG.CO" in report.failed[0][1]
    assert report.already == 1  # the one listed twice
    assert standin.invalid == []

    opened = report.opened[0]
    assert ledger.profile_id_for_citizen("001190000001") == ledger.profile(opened).id
    first = ledger.profile_events(opened)[0]
    assert type(first).__name__ == "Opened"
    assert first.origin == "arrival"  # type: ignore[attr-defined]
    assert "Bộ Tài chính" in first.origin_note  # type: ignore[attr-defined]
    assert "QG-001190000001" in first.origin_note  # type: ignore[attr-defined]
    assert first.decision == Decision("88/QĐ-BTC", date(2026, 10, 20), "Bộ Tài chính")  # type: ignore[attr-defined]
    rehired = [e for e in ledger.profile_events(back) if type(e).__name__ == "Rehired"]
    assert [e.origin for e in rehired] == ["arrival"]  # type: ignore[attr-defined]
    assert set(standin.confirmed) == {newcomer["arrival_id"], returning["arrival_id"]}

    # Pulled again (the confirmation lost): still one profile each.
    standin.confirmed.clear()
    again = pull_arrivals(ledger, now=NOW)
    assert again.opened == [] and again.returned == [] and again.already == 3
    assert ledger.profile(back).periods[-1]["origin"] == "arrival"
    assert len(ledger.profile(back).periods) == 2

    projector = catalogue.projector(ledger, engine)
    projector.prepare()
    projector.catch_up()
    with engine.connect() as conn:
        trail = audit(conn, profile_id=opened)
    assert [r["event_type"] for r in trail] == [
        "Opened",
        "Claimed",
        "NationalSyncOpened",
        "NationalArrivalRecorded",
    ]
    assert trail[-1]["decision_number"] == "88/QĐ-BTC"


def test_a_crash_mid_batch_sends_nothing_twice(
    office: tuple[Ledger, Engine],
    standin: NationalStandIn,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
) -> None:
    ledger, engine = office
    people = [
        ledger.open_profile(person(f"00108501{n:04d}"), decision=decision(), actor=HR)
        for n in range(5)
    ]
    standin.stall_after = 3  # the third new submission is stored, its answer held back
    settings = make_settings(**national(standin))
    env = {k: v for k, v in os.environ.items() if not k.startswith("HOSO_")}
    for name, value in settings.model_dump().items():
        if value is not None:
            env[f"HOSO_{name.upper()}"] = str(value)
    sender = subprocess.Popen(
        [sys.executable, "-c", "from scripts.sync_cli import app; app()", "send"],
        env=env,
        cwd=Path(__file__).resolve().parents[1],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert standin.stalled.wait(60), sender.communicate(timeout=5)[0]
    finally:
        sender.kill()  # the crash: between the national receipt and its record here
        sender.wait()
    standin.release.set()
    acknowledged = [k for k in standin.order if _acknowledged_here(ledger, k)]
    assert len(acknowledged) == 2 and len(standin.order) == 3

    report = send_pending(ledger, engine, now=NOW)
    assert report.sent == 3 and report.duplicates == 1  # the third was received already
    assert len(standin.order) == 5  # each person's record received once
    assert {r.payload["record_id"] for r in standin.received.values()} == {str(p) for p in people}
    for key in acknowledged:
        assert standin.submissions.count(key) == 1  # not sent again
    with engine.connect() as conn:
        assert {r["state"] for r in items(conn)} == {"sent"}
    acks = [
        e
        for p in people
        for e in ledger.repository.event_store.get(NationalSync.create_id(p))
        if type(e).__name__ == "NationalSyncAcknowledged"
    ]
    assert len(acks) == 5


def _acknowledged_here(ledger: Ledger, key: str) -> bool:
    for sync_id in _sync_ids(ledger):
        sync: NationalSync = ledger.repository.get(sync_id)
        if sync.is_acknowledged(key):
            return True
    return False


def _sync_ids(ledger: Ledger) -> list[Any]:
    topic = "domain.national_sync:NationalSync.NationalSyncOpened"
    return [n.originator_id for n in ledger.recorder.select_notifications(1, 1000, topics=[topic])]


def test_an_untrusted_server_certificate_is_refused(
    office: tuple[Ledger, Engine],
    standin: NationalStandIn,
    make_ledger: Callable[..., Ledger],
    tmp_path: Path,
) -> None:
    ledger, engine = office
    ledger.open_profile(person(), decision=decision(), actor=HR)
    from tests.national_standin import make_certificates

    other_ca, _, _ = make_certificates(tmp_path / "other")
    impostor = make_ledger(**national(standin, national_ca_file=other_ca))
    report = send_pending(impostor, engine, now=NOW)
    assert report.sent == 0 and len(report.failed) == 1
    assert "certificate" in report.failed[0][1].lower()
    assert standin.submissions == []  # nothing left this side of the TLS handshake
    assert send_pending(ledger, engine, now=NOW).sent == 1


def test_send_status_and_pull_from_the_command_line(
    office: tuple[Ledger, Engine],
    standin: NationalStandIn,
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger, _ = office
    ledger.open_profile(person(), decision=decision(), actor=HR)
    for name, value in make_settings(**national(standin)).model_dump().items():
        if value is not None:
            monkeypatch.setenv(f"HOSO_{name.upper()}", str(value))
    monkeypatch.setattr(sync_cli, "console", Console(width=200, color_system=None))
    status = one_line(ok("sync", "status").output)
    assert "SNV │ 1 │ 0 │ 0" in status
    assert "sent 1" in one_line(ok("sync", "send").output)
    assert "SNV │ 0 │ 1 │ 0" in one_line(ok("sync", "status").output)
    standin.add_arrival(arrival("001190000009"))
    assert "opened 1" in one_line(ok("sync", "pull").output)
