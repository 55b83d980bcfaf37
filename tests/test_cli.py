"""The ``hoso`` command line, driven as a user would, on a SQLite store (and PostgreSQL once)."""

from __future__ import annotations

import base64
import json
import re
import stat
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import MapperDeserialisationError

from domain.application import Ledger
from domain.profile import Profile
from domain.settings import Settings
from tests.cli_helpers import hoso, ok, one_line, refused
from tests.conftest import TEST_DATABASE_URL


@pytest.fixture
def store() -> Iterator[Ledger]:
    """The store the command line uses (as configured by the environment)."""
    ledger = Ledger(Settings())
    yield ledger
    ledger.close()


def profiles(ledger: Ledger) -> list[tuple[Profile.Opened, list[Any]]]:
    """Each profile's opening event and all its events."""
    head = ledger.recorder.max_notification_id() or 0
    found = []
    for notification in ledger.recorder.select_notifications(start=1, limit=head + 1):
        event = ledger.mapper.to_domain_event(notification)
        if isinstance(event, Profile.Event) and type(event).__name__ == "Opened":
            found.append((event, ledger.profile_events(event.originator_id)))
    return found


def with_step_raises(ledger: Ledger) -> tuple[Profile.Opened, list[Any]]:
    """A demo person whose salary step was raised after they were recruited."""
    for opened, events in profiles(ledger):
        if opened.record["employment"].get("salary_step") == 1 and any(
            type(e).__name__ == "ChangeApproved" for e in events
        ):
            return opened, events
    raise AssertionError("no demo profile with a step raise")


# -- init ------------------------------------------------------------------------------------


def test_init_creates_the_store_and_a_private_key_file(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "secrets" / "cipher.key"
    monkeypatch.setenv("HOSO_CIPHER_KEY_FILE", str(key_file))

    result = ok("init")
    assert (data_dir / "hoso.sqlite3").exists()
    assert "store ready" in result.output and "0 events" in result.output
    assert "generated a cipher key" in result.output
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = key_file.read_text()
    assert len(base64.b64decode(key.strip(), validate=True)) == 32

    # Running it again keeps the key: a new one would make the store unreadable.
    again = ok("init")
    assert "generated a cipher key" not in again.output
    assert key_file.read_text() == key


def test_init_without_a_key_file_makes_no_key(data_dir: Path) -> None:
    result = ok("init")
    assert (data_dir / "hoso.sqlite3").exists()
    assert "cipher key" not in result.output
    assert sorted(p.name for p in data_dir.iterdir()) == ["hoso.sqlite3"]


def test_with_a_key_file_event_state_is_encrypted(
    data_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key_file = tmp_path / "cipher.key"
    monkeypatch.setenv("HOSO_CIPHER_KEY_FILE", str(key_file))
    ok("init")
    ok("demo", "--people", "50", "--seed", "2")

    ledger = Ledger(Settings())
    opened, _ = profiles(ledger)[0]
    ledger.close()
    name = opened.record["identity"]["full_name"]
    citizen_id = opened.record["citizen"]["citizen_id"]

    raw = b"".join(path.read_bytes() for path in data_dir.glob("hoso.sqlite3*"))
    assert raw
    for secret in (name, citizen_id, name.split()[-1] + " ", "Bộ Nội vụ"):
        assert secret.encode() not in raw, secret

    # Without the key (or with another one) the events cannot be read back.
    monkeypatch.delenv("HOSO_CIPHER_KEY_FILE")
    for cipher_key in (None, base64.b64encode(bytes(32)).decode()):
        stranger = Ledger(Settings(cipher_key=cipher_key))
        with pytest.raises(MapperDeserialisationError):
            stranger.profile(opened.originator_id)
        stranger.close()


# -- demo ------------------------------------------------------------------------------------


def test_demo_reports_what_it_wrote_and_refuses_a_non_empty_store(data_dir: Path) -> None:
    result = ok("demo", "--people", "50", "--seed", "2")
    report = re.search(
        r"wrote (\d+) units, (\d+) profiles and ([\d,]+) events", one_line(result.output)
    )
    assert report, result.output
    units, people, events = (int(g.replace(",", "")) for g in report.groups())
    assert units > 0 and people == 50
    in_all = re.search(r"(\d+) demo accounts: (\d+) events in all", one_line(result.output))
    assert in_all, result.output
    ledger = Ledger(Settings())
    try:
        assert int(in_all.group(2)) == ledger.recorder.max_notification_id() > events
        assert ledger.account("sonoivu").grants_on(date.today())
        assert len(profiles(ledger)) == 50

        again = refused("demo", "--people", "50", "--seed", "2")
        assert "the store is not empty" in again.output
        assert ledger.recorder.max_notification_id() == int(in_all.group(2))

        quietly = ok("demo", "--people", "50", "--seed", "3", "--if-empty")
        assert "no demo data written" in quietly.output
        assert ledger.recorder.max_notification_id() == int(in_all.group(2))
    finally:
        ledger.close()


# -- history and show ------------------------------------------------------------------------


def test_history_lists_events_with_actor_and_decision(data_dir: Path) -> None:
    ok("demo", "--people", "50", "--seed", "2")
    ledger = Ledger(Settings())
    opened, events = with_step_raises(ledger)
    ledger.close()
    citizen_id = opened.record["citizen"]["citizen_id"]

    by_citizen_id = ok("history", citizen_id)
    assert citizen_id in by_citizen_id.output
    rows = [line for line in by_citizen_id.output.splitlines() if "│" in line]
    assert len(rows) == len(events)
    for row, event in zip(rows, events, strict=True):
        cells = [cell.strip() for cell in row.strip("│ ").split("│")]
        assert cells[0] == str(event.originator_version)
        assert event.actor.account in cells[2] and event.actor.role.value in cells[2]
        assert cells[3] == type(event).__name__
        assert cells[4] == str(event.effective_date)
        if getattr(event, "decision", None) is not None:
            assert event.decision.number in cells[5]
    assert any("/QĐ-" in row for row in rows)
    assert {"Opened", "ChangeProposed", "ChangeApproved"} <= {type(e).__name__ for e in events}

    by_id = ok("history", str(opened.originator_id))
    assert [line for line in by_id.output.splitlines() if "│" in line] == rows


def test_show_a_record_now_at_a_version_and_as_of_a_date(data_dir: Path) -> None:
    ok("demo", "--people", "50", "--seed", "2")
    ledger = Ledger(Settings())
    opened, events = with_step_raises(ledger)
    ledger.close()
    profile_id = str(opened.originator_id)
    name = opened.record["identity"]["full_name"]
    first_raise = next(e for e in events if type(e).__name__ == "ChangeApproved")

    now = ok("show", profile_id)
    assert f"version {len(events)}" in now.output
    first = ok("show", profile_id, "--at-version", "1")
    assert f"{name} — active, version 1" in first.output
    assert re.search(r"salary_step\W+1\W", first.output), first.output
    assert str(opened.record["employment"]["start_date"]) in first.output

    current = json.loads(ok("show", opened.record["citizen"]["citizen_id"], "--json").stdout)
    assert current["id"] == profile_id
    assert current["version"] == len(events)
    assert current["record"]["identity"]["full_name"] == name
    assert current["record"]["employment"]["salary_step"] > 1

    at_one = json.loads(ok("show", profile_id, "--at-version", "1", "--json").stdout)
    assert at_one["version"] == 1 and at_one["status"] == "active"
    assert at_one["record"]["employment"]["salary_step"] == 1
    assert at_one["pending_change_sets"] == {}

    day = first_raise.effective_date
    before = json.loads(
        ok("show", profile_id, "--as-of", str(day - timedelta(days=1)), "--json").stdout
    )
    assert before["record"]["employment"]["salary_step"] == 1
    on_the_day = json.loads(ok("show", profile_id, "--as-of", str(day), "--json").stdout)
    assert on_the_day["record"]["employment"]["salary_step"] == 2

    too_early = refused("show", profile_id, "--as-of", "1950-01-01")
    assert f"no record of {profile_id} as of 1950-01-01" in one_line(too_early.output)


def test_unknown_profiles_and_bad_dates_give_clear_errors(data_dir: Path) -> None:
    ok("demo", "--people", "20", "--seed", "2")

    assert "no profile with citizen ID 999999999999" in one_line(
        refused("show", "999999999999").output
    )
    assert "no profile with citizen ID 999999999999" in one_line(
        refused("history", "999999999999").output
    )
    unknown = "00000000-0000-4000-8000-000000000000"
    assert f"no profile {unknown}" in one_line(refused("show", unknown).output)
    assert f"no profile {unknown}" in one_line(refused("history", unknown).output)
    assert "no profile not-an-id" in one_line(refused("show", "not-an-id").output)

    ledger = Ledger(Settings())
    opened, _ = profiles(ledger)[0]
    ledger.close()
    bad = refused("show", str(opened.originator_id), "--as-of", "2020-13-01")
    assert "--as-of '2020-13-01' is not a date (YYYY-MM-DD)" in one_line(bad.output)
    worse = refused("show", str(opened.originator_id), "--as-of", "yesterday")
    assert "is not a date" in worse.output


def test_show_refuses_a_version_that_does_not_exist(data_dir: Path) -> None:
    ok("demo", "--people", "20", "--seed", "2")
    ledger = Ledger(Settings())
    opened, events = profiles(ledger)[0]
    ledger.close()
    result = hoso("show", str(opened.originator_id), "--at-version", str(len(events) + 100))
    assert result.exit_code == 1, result.output


# -- PostgreSQL ------------------------------------------------------------------------------


def test_demo_and_history_on_postgresql(
    data_dir: Path, postgres_schema: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSO_DATABASE_URL", TEST_DATABASE_URL)
    monkeypatch.setenv("HOSO_DATABASE_SCHEMA", postgres_schema)

    result = ok("demo", "--people", "40", "--seed", "2")
    assert "40 profiles" in one_line(result.output)
    assert not (data_dir / "hoso.sqlite3").exists()

    ledger = Ledger(Settings())
    opened, events = with_step_raises(ledger)
    ledger.close()
    history = ok("history", opened.record["citizen"]["citizen_id"])
    rows = [line for line in history.output.splitlines() if "│" in line]
    assert len(rows) == len(events)
    assert opened.actor.account in rows[0] and opened.decision.number in rows[0]

    assert "the store is not empty" in refused("demo", "--people", "40").output
