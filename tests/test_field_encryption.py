"""Restricted values are encrypted at rest, in the events and in the read models, on SQLite
and PostgreSQL: a dump of the database shows none of them, while the ledger and the profile
view still give them back; keys rotate, old events still read, a missing key or an altered
value gives a placeholder instead of an error."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import sqlite3
import stat
import zlib
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import psycopg
import pytest
from eventsourcing.cryptography import AESCipher
from eventsourcing.persistence import StoredEvent
from sqlalchemy import Engine, select, update
from typer.testing import CliRunner

from domain.application import Ledger
from domain.errors import DuplicateCitizenId
from domain.field_cipher import KEY_FILE_VARIABLE, KeyRing, redacted
from domain.field_mapper import RESTRICTED_GROUPS
from domain.profile import CitizenIdClaim, Profile
from domain.settings import Settings
from domain.values import json_ready
from projections import catalogue
from projections.database import read_model_engine
from projections.framework import Projector
from projections.profiles import change_sets, change_sets_table, profile_view, profiles
from scripts import keys_cli
from scripts.demo import generate
from tests.builders import person, unit_tree
from tests.cli_helpers import HOSO_VARIABLES
from tests.conftest import HEAD, HR, TEST_DATABASE_URL, decision

CITIZEN_ID = "099199000731"
# ASCII markers inside restricted values: JSON columns may escape the rest of the text.
WIFE = "Trần Thị QXWIFE4412"
ILLNESS = "Viêm gan QXHEALTH9913"
ISSUER = "Cục Cảnh sát QXISSUER5520"
REPRIMAND = "Khiển trách QXFORM7731"
PENDING_BLOOD_TYPE = "QXBLOOD0042"
MARKERS = ("QXWIFE4412", "QXHEALTH9913", "QXISSUER5520", "QXFORM7731", "QXBLOOD0042")
OPEN_MARKER = "QXREASON-OPEN"  # in a change set's reason, which is not restricted


def secret_record() -> dict[str, Any]:
    record = person(CITIZEN_ID)
    record["citizen"] = {"citizen_id": CITIZEN_ID, "issued_on": date(2021, 5, 1)}
    record["health"] = {"health_status": ILLNESS, "height_cm": 170}
    record["membership"] = {"party_join_date": date(2015, 2, 3), "trade_union": True}
    record["family_relations"] = [{"relation": "Vợ", "full_name": WIFE, "birth_year": 1987}]
    return record


def tell_secrets(ledger: Ledger) -> tuple[UUID, str, str]:
    """A person with restricted values in every restricted group: opened with them, an
    approved change set adding more, and one left pending. Returns the profile and the two
    change sets."""
    unit_tree(ledger)
    pid = ledger.open_profile(secret_record(), decision=decision(), actor=HR)
    approved = ledger.propose_change(
        pid,
        [
            ("discipline", {"decided_on": date(2023, 4, 5), "form": REPRIMAND}),
            ("citizen.issued_by", ISSUER),
            ("employment.position", "Chuyên viên chính"),
        ],
        reason=f"Cập nhật hồ sơ {OPEN_MARKER}",
        effective_date=date(2023, 4, 5),
        actor=HR,
    )
    ledger.approve_change(pid, approved, actor=HEAD, decision=decision("45/QĐ-SNV"))
    pending = ledger.propose_change(
        pid,
        [("health.blood_type", PENDING_BLOOD_TYPE)],
        reason="Bổ sung nhóm máu",
        effective_date=date(2024, 1, 2),
        actor=HR,
    )
    return pid, approved, pending


def expected_record() -> dict[str, Any]:
    """The restricted groups of the record once the change set is approved."""
    record = secret_record()
    record["citizen"]["issued_by"] = ISSUER
    record["discipline"] = [{"decided_on": date(2023, 4, 5), "form": REPRIMAND}]
    return restricted(record)


def restricted(record: dict[str, Any]) -> dict[str, Any]:
    return {group: record[group] for group in sorted(RESTRICTED_GROUPS)}


# -- reading the database as an attacker with a copy of it would --------------------------


def _plain(data: bytes) -> list[bytes]:
    """Stored bytes, and what they decompress to when they are compressed."""
    found = [data]
    with contextlib.suppress(zlib.error):
        found.append(zlib.decompress(data))
    return found


def raw_dump(settings: Settings) -> bytes:
    """Everything the database holds, as bytes: for SQLite the files themselves, and for
    both every column of every table (compressed event state decompressed)."""
    parts: list[bytes] = []
    if settings.database_url is None:
        path = settings.sqlite_path
        for file in (path, path.with_name(path.name + "-wal")):
            if file.exists():
                parts.extend(_plain(file.read_bytes()))
        with sqlite3.connect(path) as conn:
            tables = [
                r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")
            ]
            assert "stored_events" in tables and "rm_profiles" in tables, tables
            for table in tables:
                for row in conn.execute(f'SELECT * FROM "{table}"'):
                    for value in row:
                        if isinstance(value, bytes):
                            parts.extend(_plain(value))
                        elif value is not None:
                            parts.append(str(value).encode())
        return b"\n".join(parts)
    schema = settings.database_schema
    with psycopg.connect(TEST_DATABASE_URL) as conn:
        tables = [
            r[0]
            for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
                (schema,),
            )
        ]
        assert "rm_profiles" in tables and any(t.endswith("_events") for t in tables), tables
        for table in tables:
            name = f'"{schema}"."{table}"'
            parts += [
                r[0].encode() for r in conn.execute(f"SELECT row_to_json(t)::text FROM {name} t")
            ]
            columns = conn.execute(
                "SELECT column_name FROM information_schema.columns"
                " WHERE table_schema = %s AND table_name = %s AND data_type = 'bytea'",
                (schema, table),
            ).fetchall()
            for (column,) in columns:
                for (value,) in conn.execute(f'SELECT "{column}" FROM {name}'):
                    if value is not None:
                        parts.extend(_plain(bytes(value)))
    return b"\n".join(parts)


def stored_states(ledger: Ledger) -> Iterator[tuple[StoredEvent, dict[str, Any]]]:
    """Every stored event with its state as stored (decompressed, still field-encrypted)."""
    for n in ledger.recorder.select_notifications(start=1, limit=1_000_000):
        data = n.state if n.state[:1] == b"{" else zlib.decompress(n.state)
        yield n, json.loads(data)


def key_ids(value: Any) -> set[str]:
    """The key ids of the encrypted values in a JSON structure."""
    if isinstance(value, dict):
        if set(value) == {"_enc", "ct"}:
            return {value["_enc"]}
        return set().union(*(key_ids(v) for v in value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*(key_ids(v) for v in value)) if value else set()
    return set()


def read_model_key_ids(engine: Engine) -> set[str]:
    found: set[str] = set()
    with engine.connect() as conn:
        for row in conn.execute(select(profiles.c.record)):
            found |= key_ids(row.record)
        query = select(change_sets_table.c.changes, change_sets_table.c.applied_changes)
        for row in conn.execute(query):
            found |= key_ids(row.changes) | key_ids(row.applied_changes)
    return found


@pytest.fixture
def cli_env(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """Run ``hoso keys ...`` on the test's store."""
    for name in (*HOSO_VARIABLES, KEY_FILE_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    settings = ledger.settings
    monkeypatch.setenv("HOSO_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HOSO_JURISDICTION", settings.jurisdiction)
    if settings.database_url:
        monkeypatch.setenv("HOSO_DATABASE_URL", settings.database_url)
        monkeypatch.setenv("HOSO_DATABASE_SCHEMA", settings.database_schema)

    def run(*args: str) -> Any:
        result = CliRunner().invoke(keys_cli.app, list(args))
        assert result.exit_code == 0, result.output
        return result

    return run


# -- the stories ------------------------------------------------------------------------------


def test_a_dump_of_the_database_shows_no_restricted_value_in_clear(
    ledger: Ledger, projector: Projector, make_settings: Callable[..., Settings]
) -> None:
    assert ledger.mapper.cipher is None, "field encryption holds without the state cipher"
    generate(ledger, 200, seed=5)
    pid, approved, pending = tell_secrets(ledger)
    projector.catch_up()

    opened: list[Any] = [
        ledger.mapper.to_domain_event(n)
        for n in ledger.recorder.select_notifications(start=1, limit=1_000_000)
        if n.topic.endswith("Profile.Opened")
    ]
    citizen_ids = {event.record["citizen"]["citizen_id"] for event in opened}
    assert len(citizen_ids) == 201

    dump = raw_dump(make_settings())
    assert OPEN_MARKER.encode() in dump, "the dump reads what is stored in clear"
    in_clear = sorted(c for c in citizen_ids if c.encode() in dump)
    assert in_clear == []
    assert [m for m in MARKERS if m.encode() in dump] == []

    # Whoever holds the keys reads it all back, through the ledger and the read model.
    assert restricted(ledger.profile(pid).record) == expected_record()
    fresh = Ledger(make_settings())
    try:
        assert restricted(fresh.profile(pid).record) == expected_record()
        for event in opened[:20]:
            citizen_id = event.record["citizen"]["citizen_id"]
            assert fresh.profile_id_for_citizen(citizen_id) == event.originator_id
    finally:
        fresh.close()
    with projector.engine.connect() as conn:
        view = profile_view(conn, str(pid))
        assert view is not None
        assert restricted(view["record"]) == json_ready(expected_record())
        assert view["record"]["employment"]["position"] == "Chuyên viên chính"
        assert view["pending"][0]["changes"] == [
            {"path": "health.blood_type", "value": PENDING_BLOOD_TYPE}
        ]
        (decided,) = change_sets(conn, profile_id=str(pid), status="approved")
        assert decided["change_set_id"] == approved
        assert {"path": "citizen.issued_by", "value": ISSUER} in decided["applied_changes"]
        assert decided["changes"][0] == {
            "path": "discipline",
            "value": {"decided_on": "2023-04-05", "form": REPRIMAND},
        }
        assert [c["change_set_id"] for c in change_sets(conn, status="pending")] == [pending]


def test_the_claim_of_a_citizen_id_is_keyed(ledger: Ledger) -> None:
    unit_tree(ledger)
    pid = ledger.open_profile(person(CITIZEN_ID), decision=decision(), actor=HR)
    unkeyed = uuid5(NAMESPACE_URL, f"hoso:citizen-id:{CITIZEN_ID}")
    claims = [(n, state) for n, state in stored_states(ledger) if "CitizenIdClaim" in n.topic]
    ((claim, state),) = claims
    assert claim.originator_id != unkeyed
    assert claim.originator_id == CitizenIdClaim.create_id(ledger.field_keys.lookup(CITIZEN_ID))
    assert CITIZEN_ID not in json.dumps(state)
    assert ledger.profile_id_for_citizen(CITIZEN_ID) == pid
    assert ledger.find_profile_id(CITIZEN_ID) == pid
    with pytest.raises(DuplicateCitizenId):
        ledger.open_profile(person(CITIZEN_ID), decision=decision(), actor=HR)


def test_keys_rotate_re_encrypts_the_read_models_and_old_events_still_read(
    ledger: Ledger,
    projector: Projector,
    make_ledger: Callable[..., Ledger],
    cli_env: Callable[..., Any],
) -> None:
    pid, _, pending = tell_secrets(ledger)
    projector.catch_up()
    assert read_model_key_ids(projector.engine) == {"k1"}

    rotated = cli_env("rotate")
    assert "new current key k2" in rotated.output
    assert ledger.field_keys.current_id == "k2"
    assert read_model_key_ids(projector.engine) == {"k2"}
    assert all(s.lag == 0 for s in projector.status())

    # Events are never rewritten: they keep k1, and still read.
    assert {k for _, state in stored_states(ledger) for k in key_ids(state)} == {"k1"}
    later = make_ledger()
    assert restricted(later.profile(pid).record) == expected_record()
    later.approve_change(pid, pending, actor=HEAD)
    *_, (_, approval) = stored_states(later)
    assert key_ids(approval) == {"k2"}
    projector.catch_up()
    assert read_model_key_ids(projector.engine) == {"k2"}
    with projector.engine.connect() as conn:
        view = profile_view(conn, str(pid))
    assert view is not None
    assert view["record"]["health"]["blood_type"] == PENDING_BLOOD_TYPE
    assert view["record"]["citizen"]["citizen_id"] == CITIZEN_ID

    listed = cli_env("list").output
    assert "k1" in listed and "k2" in listed
    material = json.loads(ledger.field_keys.path.read_text())
    for secret in (*material["keys"].values(), material["lookup"]):
        assert secret not in listed
    # The claim's key is not rotated: the person is still found by citizen ID.
    assert later.profile_id_for_citizen(CITIZEN_ID) == pid


def test_a_missing_key_gives_a_placeholder_and_projections_go_on(
    ledger: Ledger, make_ledger: Callable[..., Ledger], make_settings: Callable[..., Settings]
) -> None:
    pid, _, pending = tell_secrets(ledger)  # under k1
    ledger.field_keys.rotate()
    ledger.approve_change(pid, pending, actor=HEAD)  # under k2
    key_file = ledger.field_keys.path
    material = json.loads(key_file.read_text())
    del material["keys"]["k1"]
    key_file.write_text(json.dumps(material))

    lost = make_ledger()
    record = lost.profile(pid).record
    assert record["membership"] == redacted()
    # Approved under k2, after the key was lost: known again.
    assert record["health"] == {**redacted(), "blood_type": PENDING_BLOOD_TYPE}
    # A value changed under the lost key is unavailable too, in its place.
    assert record["citizen"] == {**redacted(), "issued_by": redacted()}
    assert record["family_relations"] == [redacted()]
    assert record["discipline"] == [redacted(), redacted()]  # opened empty, then one added
    assert record["identity"]["full_name"] == "Nguyễn Văn An"
    assert record["employment"]["position"] == "Chuyên viên chính"

    engine = read_model_engine(make_settings(), writer=True)
    try:
        projector = catalogue.projector(lost, engine, page_size=3)
        projector.prepare()
        projector.catch_up()
        assert all(s.lag == 0 for s in projector.status())
        with engine.connect() as conn:
            view = profile_view(conn, str(pid), keys=lost.field_keys)
        assert view is not None
        assert view["record"]["citizen"] == {**redacted(), "issued_by": redacted()}
        assert view["record"]["discipline"] == [redacted(), redacted()]
        # Approved under k2, after the key was lost: known again.
        assert view["record"]["health"] == {**redacted(), "blood_type": PENDING_BLOOD_TYPE}
        assert view["record"]["identity"]["full_name"] == "Nguyễn Văn An"
        assert view["status"] == "active"
    finally:
        engine.dispose()


def test_an_altered_value_gives_a_placeholder_not_an_error(
    ledger: Ledger, projector: Projector
) -> None:
    pid, _, _ = tell_secrets(ledger)
    other = ledger.open_profile(person("001085099999"), decision=decision(), actor=HR)
    projector.catch_up()

    # In an event: one byte of the ciphertext flipped.
    ((stored, state),) = [
        (n, s)
        for n, s in stored_states(ledger)
        if n.topic.endswith("Profile.Opened") and n.originator_id == pid
    ]
    data = bytearray(base64.b64decode(state["record"]["citizen"]["ct"]))
    data[20] ^= 0x01
    state["record"]["citizen"]["ct"] = base64.b64encode(bytes(data)).decode()
    encoded = json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode()
    altered = StoredEvent(
        originator_id=stored.originator_id,
        originator_version=stored.originator_version,
        topic=stored.topic,
        state=encoded if stored.state[:1] == b"{" else zlib.compress(encoded),
    )
    event = ledger.mapper.to_domain_event(altered)
    assert event.record["citizen"] == redacted()  # type: ignore[attr-defined]
    assert event.record["health"] == json_ready(secret_record()["health"])  # type: ignore[attr-defined]

    # In the read model: a flipped byte, and a value moved from one person to another.
    with projector.engine.begin() as conn:
        row = conn.execute(select(profiles.c.record).where(profiles.c.profile_id == str(pid))).one()
        record = dict(row.record)
        flipped = bytearray(base64.b64decode(record["health"]["ct"]))
        flipped[-1] ^= 0x80
        record["health"] = {**record["health"], "ct": base64.b64encode(bytes(flipped)).decode()}
        conn.execute(
            update(profiles).where(profiles.c.profile_id == str(pid)).values(record=record)
        )
        moved = conn.execute(
            select(profiles.c.record).where(profiles.c.profile_id == str(other))
        ).one()
        stolen = {**moved.record, "citizen": record["citizen"]}
        conn.execute(
            update(profiles).where(profiles.c.profile_id == str(other)).values(record=stolen)
        )
    with projector.engine.connect() as conn:
        view = profile_view(conn, str(pid))
        thief = profile_view(conn, str(other))
    assert view is not None and thief is not None
    assert view["record"]["health"] == redacted()
    assert view["record"]["citizen"]["citizen_id"] == CITIZEN_ID
    assert thief["record"]["citizen"] == redacted()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_approval_subjects_and_snapshots_are_encrypted_too(
    make_ledger: Callable[..., Ledger],
) -> None:
    ledger = make_ledger(jurisdiction="bnv")  # approves by digital signatures
    unit_tree(ledger)
    pid = ledger.open_profile(secret_record(), decision=decision(), actor=HR)
    ledger.propose_change(
        pid,
        [("discipline", {"decided_on": date(2023, 4, 5), "form": REPRIMAND})],
        reason="Kỷ luật",
        effective_date=date(2023, 4, 5),
        actor=HR,
    )
    profile = ledger.profile(pid)
    profile.request_approval(
        profile.record_item_id(1),
        subject={"event": "Opened", "version": 1, "record": json_ready(profile.record)},
        chain=[{"role": "unit_head", "working_days": 5}],
        effective_date=date(2024, 1, 2),
        actor=HR,
    )
    ledger.save(profile)
    kinds = [n.topic.rsplit(".", 1)[-1] for n, _ in stored_states(ledger)]
    assert kinds.count("ApprovalRequested") == 2
    for n, state in stored_states(ledger):
        text = json.dumps(state, ensure_ascii=False)
        assert CITIZEN_ID not in text, n.topic
        assert not [m for m in MARKERS if m in text], n.topic

    profile = ledger.profile(pid)
    snapshot = Profile.Snapshot.take(profile)
    stored = ledger.mapper.to_stored_event(snapshot)
    data = stored.state if stored.state[:1] == b"{" else zlib.decompress(stored.state)
    assert CITIZEN_ID.encode() not in data
    assert not [m for m in MARKERS if m.encode() in data]
    restored = ledger.mapper.to_domain_event(stored).mutate(None)  # type: ignore[attr-defined]
    assert restored.record == profile.record
    assert restored.approvals == profile.approvals
    assert restored.change_sets == profile.change_sets


@pytest.mark.parametrize("backend", ["sqlite"])
def test_with_the_state_cipher_as_well(make_ledger: Callable[..., Ledger]) -> None:
    ledger = make_ledger(cipher_key=AESCipher.create_key(32))
    pid, _, _ = tell_secrets(ledger)
    assert ledger.mapper.cipher is not None
    again = make_ledger(cipher_key=ledger.settings.cipher_key)
    assert restricted(again.profile(pid).record) == expected_record()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_key_file_is_made_on_first_use_for_its_owner_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_settings: Callable[..., Settings]
) -> None:
    monkeypatch.delenv(KEY_FILE_VARIABLE, raising=False)
    settings = make_settings()
    ring = KeyRing.for_settings(settings)
    assert ring.path == (settings.data_dir / "field-keys.json").absolute()
    assert not ring.path.exists()
    assert ring.current_id == "k1"
    assert stat.S_IMODE(os.stat(ring.path).st_mode) == 0o600
    content = json.loads(ring.path.read_text())
    assert content["current"] == "k1" and list(content["keys"]) == ["k1"]
    assert len(base64.b64decode(content["keys"]["k1"])) == 32

    elsewhere = tmp_path / "keys" / "hoso-keys.json"
    monkeypatch.setenv(KEY_FILE_VARIABLE, str(elsewhere))
    named = KeyRing.for_settings(settings)
    assert named.path == elsewhere
    assert named.rotate() == "k2"  # on first use: made with k1, then k2 added
    assert stat.S_IMODE(os.stat(elsewhere).st_mode) == 0o600
    assert named.key_ids == ["k1", "k2"]
    token = named.encrypt({"a": 1}, "p/citizen")
    assert token["_enc"] == "k2"
    assert named.decrypt(token, "p/citizen") == {"a": 1}
