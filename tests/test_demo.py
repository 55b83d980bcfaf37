"""The demo province: realistic, repeatable, valid — on SQLite and PostgreSQL."""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

import psycopg
import pytest
from rich.console import Console
from typer.testing import CliRunner

from domain import rules
from domain.application import Ledger
from domain.profile import Profile
from domain.settings import Settings
from domain.unit import Unit
from domain.values import ProfileStatus, UnitKind
from scripts import cli
from scripts.demo import generate
from signing import keystore, registry
from tests.conftest import TEST_DATABASE_URL, TODAY

PEOPLE = 250
SEED = 1


def read_log(ledger: Ledger) -> list[Any]:
    """Every domain event of the store, in log order."""
    head = ledger.recorder.max_notification_id() or 0
    notifications = ledger.recorder.select_notifications(start=1, limit=head + 1)
    assert len(notifications) == head
    return [ledger.mapper.to_domain_event(n) for n in notifications]


@dataclass
class Story:
    """What the log says about the demo's people and units."""

    units: list[Unit.Created] = field(default_factory=list)
    profiles: dict[UUID, list[Profile.Event]] = field(default_factory=dict)

    @property
    def opened(self) -> list[Profile.Opened]:
        return [events[0] for events in self.profiles.values()]  # type: ignore[misc]


def story(ledger: Ledger) -> Story:
    result = Story()
    for event in read_log(ledger):
        if isinstance(event, Unit.Created):
            result.units.append(event)
        elif isinstance(event, Profile.Event):
            result.profiles.setdefault(event.originator_id, []).append(event)
    return result


def fingerprint(ledger: Ledger) -> list[tuple[Any, ...]]:
    """Profile by profile, in log order: id, name, citizen ID, record, event types."""
    rows = []
    for profile_id, events in story(ledger).profiles.items():
        profile = ledger.profile(profile_id)
        rows.append(
            (
                profile_id,
                profile.full_name,
                profile.citizen_id,
                profile.record,
                [type(event).__name__ for event in events],
            )
        )
    return rows


@pytest.fixture
def other_ledger(backend: str, make_settings: Callable[..., Settings]) -> Iterator[Ledger]:
    """A second, empty store beside the test's own one."""
    schema = ""
    if backend == "postgres":
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        settings = make_settings(database_schema=schema)
    else:
        settings = make_settings(data_dir=make_settings().data_dir.parent / "other")
    ledger = Ledger(settings, clock=lambda: TODAY)
    try:
        yield ledger
    finally:
        ledger.close()
        if schema:
            with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def demo_ledger(make_ledger: Callable[..., Ledger]) -> Ledger:
    ledger = make_ledger()
    generate(ledger, PEOPLE, SEED)
    return ledger


def test_the_same_seed_gives_the_same_data(
    make_ledger: Callable[..., Ledger], other_ledger: Ledger
) -> None:
    first = make_ledger()
    first_result = generate(first, PEOPLE, 7)
    second_result = generate(other_ledger, PEOPLE, 7)

    assert first_result == second_result
    first_rows, second_rows = fingerprint(first), fingerprint(other_ledger)
    assert len(first_rows) == PEOPLE
    assert first_rows == second_rows
    assert [(u.code, u.name, u.parent_code) for u in story(first).units] == [
        (u.code, u.name, u.parent_code) for u in story(other_ledger).units
    ]


def test_a_different_seed_gives_different_people(
    make_ledger: Callable[..., Ledger], other_ledger: Ledger
) -> None:
    first = make_ledger()
    generate(first, PEOPLE, 7)
    generate(other_ledger, PEOPLE, 8)

    first_rows, second_rows = fingerprint(first), fingerprint(other_ledger)
    assert {row[0] for row in first_rows}.isdisjoint(row[0] for row in second_rows)
    assert {row[2] for row in first_rows}.isdisjoint(row[2] for row in second_rows)
    assert [row[1] for row in first_rows] != [row[1] for row in second_rows]


def test_the_unit_tree_has_three_levels_and_unique_codes(demo_ledger: Ledger) -> None:
    units = story(demo_ledger).units
    codes = [unit.code for unit in units]
    assert len(codes) == len(set(codes))

    by_code = {unit.code: unit for unit in units}
    (root,) = [unit for unit in units if unit.parent_code is None]
    assert root.kind is UnitKind.AUTHORITY

    def depth(code: str) -> int:
        parent = by_code[code].parent_code
        return 1 if parent is None else 1 + depth(parent)

    kinds_at: dict[int, set[UnitKind]] = {}
    for unit in units:
        assert unit.parent_code is None or unit.parent_code in by_code
        kinds_at.setdefault(depth(unit.code), set()).add(unit.kind)
    assert set(kinds_at) == {1, 2, 3}
    assert kinds_at[1] == {UnitKind.AUTHORITY}
    assert {UnitKind.DEPARTMENT, UnitKind.DISTRICT_COMMITTEE} <= kinds_at[2]
    assert kinds_at[2] <= {
        UnitKind.DEPARTMENT,
        UnitKind.DISTRICT_COMMITTEE,
        UnitKind.SPECIAL_ASSOCIATION,
    }
    assert kinds_at[3] == {
        UnitKind.SUB_DEPARTMENT,
        UnitKind.PUBLIC_SERVICE_UNIT,
        UnitKind.COMMUNE,
    }
    # Everyone works in a unit of the tree, and nobody in the authority itself.
    for opened in story(demo_ledger).opened:
        unit_code = opened.record["employment"]["unit_code"]
        assert unit_code in by_code and unit_code != root.code


def test_names_are_vietnamese_and_citizen_ids_are_well_formed(demo_ledger: Ledger) -> None:
    opened = story(demo_ledger).opened
    assert len(opened) == PEOPLE
    names = [event.record["identity"]["full_name"] for event in opened]
    for name in names:
        assert unicodedata.is_normalized("NFC", name), name
        words = name.split(" ")
        assert len(words) >= 3 and all(word.isalpha() and word.istitle() for word in words), name
    with_diacritics = [name for name in names if not name.isascii()]
    assert len(with_diacritics) > len(names) // 2
    letters = {ch for name in with_diacritics for ch in name if not ch.isascii()}
    assert {"ễ", "ư", "Đ"} & letters  # Nguyễn, Dương, Đặng...: Vietnamese letters

    citizen_ids = [event.record["citizen"]["citizen_id"] for event in opened]
    assert len(set(citizen_ids)) == len(citizen_ids)
    for event, citizen_id in zip(opened, citizen_ids, strict=True):
        assert re.fullmatch(r"\d{12}", citizen_id), citizen_id
        # Digit 4 codes century and gender, digits 5–6 the year of birth.
        identity = event.record["identity"]
        born = identity["birth_date"]
        century_gender = (0 if born.year < 2000 else 2) + (identity["gender"] == "female")
        assert citizen_id[3] == str(century_gender), citizen_id
        assert citizen_id[4:6] == f"{born.year % 100:02d}", citizen_id


def test_several_years_of_history(demo_ledger: Ledger) -> None:
    told = story(demo_ledger)
    names = Counter(type(e).__name__ for events in told.profiles.values() for e in events)
    assert names["ChangeApproved"] > PEOPLE  # regular step raises
    assert names["TransferReleased"] > 0
    assert names["TransferReceived"] == names["TransferReleased"]
    assert names["Retired"] > 0
    assert names["Resigned"] + names["Died"] > 0

    years = {e.effective_date.year for events in told.profiles.values() for e in events}
    assert max(years) - min(years) >= 20

    # A step raise is approved by someone other than who proposed it, and raises the step;
    # a transfer is received by the unit it was released to.
    for events in told.profiles.values():
        profile: Profile | None = None
        proposed_by: dict[str, Any] = {}
        released_to = None
        for event in events:
            name = type(event).__name__
            before = profile.record["employment"].get("salary_step") if profile else None
            profile = event.mutate(profile)  # type: ignore[assignment]
            assert profile is not None
            if name == "ChangeProposed":
                proposed_by[event.change_set_id] = event.actor
            elif name == "ChangeApproved":
                assert event.actor != proposed_by[event.change_set_id]
                if before is not None:
                    assert profile.record["employment"]["salary_step"] == before + 1
            elif name == "TransferReleased":
                released_to = event.to_unit_code
            elif name == "TransferReceived":
                assert event.unit_code == released_to
                assert profile.unit_code == released_to

    # Retirement at the statutory age, to the day.
    for profile_id, events in told.profiles.items():
        retired = [e for e in events if type(e).__name__ == "Retired"]
        if retired:
            identity = events[0].record["identity"]
            expected = rules.retirement_date(identity["birth_date"], identity["gender"])
            assert retired[0].effective_date == expected, profile_id
            assert retired[0].effective_date <= TODAY


def test_nobody_is_still_active_past_the_retirement_date(
    make_ledger: Callable[..., Ledger],
) -> None:
    ledger = make_ledger()
    generate(ledger, PEOPLE, 3)  # the 55th person of seed 3 draws such a resignation
    overdue = []
    for profile_id in story(ledger).profiles:
        profile = ledger.profile(profile_id)
        retires_on = rules.retirement_date(profile.birth_date, profile.record["identity"]["gender"])
        if profile.status is ProfileStatus.ACTIVE and retires_on <= TODAY:
            overdue.append((profile.full_name, str(profile.birth_date), str(retires_on)))
    assert overdue == []


def test_every_profile_loads_and_is_a_valid_record(make_ledger: Callable[..., Ledger]) -> None:
    ledger = make_ledger()
    result = generate(ledger, PEOPLE, SEED)
    told = story(ledger)
    assert result.profiles == len(told.profiles) == PEOPLE
    assert result.units == len(told.units)
    assert result.events == ledger.recorder.max_notification_id()

    statuses: Counter[str] = Counter()
    for profile_id, events in told.profiles.items():
        profile = ledger.profile(profile_id)
        assert profile.version == len(events)
        rules.check_record(profile.record, TODAY)
        assert ledger.profile_id_for_citizen(profile.citizen_id) == profile_id
        assert not profile.pending_change_sets
        statuses[profile.status.value] += 1
    assert dict(statuses) == result.statuses


def test_the_cli_refuses_to_generate_into_a_non_empty_store(
    make_ledger: Callable[..., Ledger],
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ledger = make_ledger()
    generate(ledger, 30, SEED)
    head = ledger.recorder.max_notification_id()

    settings = make_settings()
    for name in (
        "HOSO_DATABASE_URL",
        "HOSO_DATABASE_SCHEMA",
        "HOSO_CIPHER_KEY",
        "HOSO_CIPHER_KEY_FILE",
        "HOSO_JURISDICTION",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOSO_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("HOSO_DATABASE_URL", settings.database_url)
        monkeypatch.setenv("HOSO_DATABASE_SCHEMA", settings.database_schema)
    monkeypatch.setattr(cli, "console", Console(width=200))

    result = CliRunner().invoke(cli.app, ["demo", "--people", "20", "--seed", "2"])
    assert result.exit_code == 1
    assert "the store is not empty" in result.output
    assert ledger.recorder.max_notification_id() == head


def test_with_a_keystore_passphrase_the_demo_approvers_get_signing_keys(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``make run`` sets a keystore passphrase: the demo then makes a local certificate
    hierarchy and a key for every approver, so that approvals can be signed in the demo
    (the default jurisdiction approves by digital signature)."""
    passphrase = "mật khẩu khóa ký của bản dùng thử"
    monkeypatch.setenv("HOSO_KEYSTORE_PASSPHRASE", passphrase)
    result = CliRunner().invoke(cli.app, ["demo", "--people", "20", "--seed", "2"])
    assert result.exit_code == 0, result.output
    signers = {"sonoivu", "tccb.snv", "truongphong.snv", "giamdoc.snv"}
    assert "signing keys in the server keystore for" in result.output

    settings = Settings()
    keys = keystore.default_directory(settings)
    for account in [*signers, "agency"]:
        _, _, chain = keystore.load(keys, account, passphrase)
        assert chain, account  # issued by the demo's issuing authority
    assert not keystore.has(keys, "nhanvien")  # an employee signs nothing
    ledger = Ledger(settings)
    try:
        holders = {c.holder_account for c in registry.certificates(ledger)}
    finally:
        ledger.close()
    assert signers <= holders

    again = CliRunner().invoke(cli.app, ["demo", "--people", "20", "--if-empty"])
    assert again.exit_code == 0 and "no demo data written" in again.output
