"""Seals of the event log, on SQLite and PostgreSQL: a ledger sealed twice verifies; rows
changed, deleted, swapped, inserted or renumbered behind the ledger's back are caught and
named by position; proofs exported as JSON are checked by the standalone verifier."""

from __future__ import annotations

import base64
import json
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import typer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from rich.console import Console
from sqlalchemy import Engine
from typer.testing import CliRunner, Result

from domain.application import Ledger
from domain.seal import SEAL_ID, LedgerSeal
from domain.settings import Settings
from projections.database import read_model_engine
from scripts import seal_cli, verify_proof
from scripts.bench import open_profiles, run_commands
from signing.seal import (
    SEAL_KEY_VARIABLE,
    SealError,
    VerifyReport,
    read_leaves,
    read_log,
    record_leaf_hash,
    seal,
    verify,
)
from tests.cli_helpers import HOSO_VARIABLES
from tests.conftest import TEST_DATABASE_URL

ROOT = Path(__file__).resolve().parent.parent
VERIFY_PROOF = ROOT / "scripts" / "verify_proof.py"


@dataclass
class Store:
    settings: Settings
    ledger: Ledger
    engine: Engine
    first_size: int  # events covered by the first seal
    second_size: int

    @property
    def postgres(self) -> bool:
        return bool(self.settings.database_url)

    def positions(self) -> list[int]:
        return read_log(self.ledger, self.engine).positions

    def sql(self, statement: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run SQL on the store directly, as someone with access to the database would.
        ``{events}`` and ``{leaves}`` name the tables, ``{pos}`` the position column."""
        if self.postgres:
            schema = self.settings.database_schema
            text = statement.format(
                events=f'"{schema}".hoso_events',
                leaves=f'"{schema}".ledger_leaves',
                pos="notification_id",
            ).replace("?", "%s")
            with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as pg:
                cursor = pg.execute(text, params)  # type: ignore[arg-type]
                return list(cursor.fetchall()) if cursor.description else []
        text = statement.format(events="stored_events", leaves="ledger_leaves", pos="rowid")
        conn = sqlite3.connect(self.settings.sqlite_path)
        try:
            rows = conn.execute(text, params).fetchall()
            conn.commit()
            return rows
        finally:
            conn.close()

    def row(self, position: int) -> tuple[Any, ...]:
        return self.sql(
            "SELECT originator_id, originator_version, topic, state FROM {events} WHERE {pos} = ?",
            (position,),
        )[0]

    def verify(self, **options: Any) -> VerifyReport:
        return verify(self.ledger, self.engine, **options)


@pytest.fixture
def store(make_ledger: Callable[..., Ledger], monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    """A ledger with events, sealed twice, with a few events after the last seal."""
    monkeypatch.delenv(SEAL_KEY_VARIABLE, raising=False)
    ledger = make_ledger()
    engine = read_model_engine(ledger.settings, writer=True)
    profile_ids = open_profiles(ledger, 4)
    run_commands(ledger, profile_ids, 8, 2)
    first = seal(ledger, engine)
    run_commands(ledger, profile_ids, 4, 3, start=8)
    second = seal(ledger, engine)
    run_commands(ledger, profile_ids, 2, 1, start=12)
    yield Store(ledger.settings, ledger, engine, first.tree_size, second.tree_size)
    engine.dispose()


# -- the command line ------------------------------------------------------------------------


@pytest.fixture
def hoso(store: Store, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Result]:
    """``hoso seal``, ``verify`` and ``proof`` on the test's store."""
    for name in (*HOSO_VARIABLES, SEAL_KEY_VARIABLE):
        monkeypatch.delenv(name, raising=False)
    settings = store.settings
    monkeypatch.setenv("HOSO_DATA_DIR", str(settings.data_dir))
    if settings.database_url:
        monkeypatch.setenv("HOSO_DATABASE_URL", settings.database_url)
        monkeypatch.setenv("HOSO_DATABASE_SCHEMA", settings.database_schema)
    monkeypatch.setattr(seal_cli, "console", Console(width=400, color_system=None))
    app = typer.Typer()
    seal_cli.register(app)

    def run(*args: str) -> Result:
        return CliRunner().invoke(app, list(args))

    return run


def flat(output: str) -> str:
    return " ".join(output.split())


def test_an_untouched_ledger_verifies(store: Store, hoso: Callable[..., Result]) -> None:
    report = store.verify()
    assert report.ok, report.problems
    assert [s.tree_size for s in report.valid_seals] == [store.first_size, store.second_size]
    assert report.leaves == store.second_size
    assert report.consistency_proofs == 1
    assert report.events > store.second_size
    assert any("not sealed yet" in note for note in report.notes)
    result = hoso("verify")
    assert result.exit_code == 0, result.output
    assert "OK" in result.output
    # Sealing again covers everything, the earlier seals included.
    result = hoso("seal")
    assert result.exit_code == 0, result.output
    assert f"sealed {report.events:,} events" in flat(result.output)
    assert store.verify().ok


def test_the_seal_key_is_private_and_the_seals_are_events_of_the_log(store: Store) -> None:
    key_file = store.settings.data_dir / "seal-key.pem"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    key = serialization.load_pem_private_key(key_file.read_bytes(), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.name == "secp256r1"
    sealed: LedgerSeal = store.ledger.repository.get(SEAL_ID)
    assert sealed.seals == 2
    assert sealed.tree_size == store.second_size
    log = read_log(store.ledger, store.engine)
    assert [s.tree_size for s in log.seals] == [store.first_size, store.second_size]
    # Each seal sits after what it covers, and the second one covers the first.
    assert log.seals[0].leaf_index >= store.first_size
    assert log.seals[0].leaf_index < store.second_size


def test_every_leaf_is_the_hash_of_its_stored_record(store: Store) -> None:
    log = read_log(store.ledger, store.engine)
    leaves = read_leaves(store.engine, store.settings)
    assert leaves.hashes == log.hashes[: store.second_size]
    assert leaves.positions == log.positions[: store.second_size]
    for index, position in enumerate(log.positions[:5]):
        oid, version, topic, state = store.row(position)
        expected = record_leaf_hash(str(oid), version, topic, bytes(state))
        assert log.hashes[index] == expected
        assert verify_proof.leaf_hash(str(oid), version, topic, bytes(state)) == expected


# -- tampering -------------------------------------------------------------------------------


def _failed(hoso: Callable[..., Result], position: int) -> str:
    result = hoso("verify")
    assert result.exit_code == 1, result.output
    text = flat(result.output)
    assert f"FAILED: first problem at position {position}:" in text, text
    return text


def test_changed_bytes_are_named(store: Store, hoso: Callable[..., Result]) -> None:
    position = store.positions()[5]
    store.sql("UPDATE {events} SET state = ? WHERE {pos} = ?", (b"{}", position))
    report = store.verify()
    assert not report.ok
    assert report.first is not None
    assert (report.first.kind, report.first.position) == ("edited", position)
    assert "edited" in _failed(hoso, position)
    with pytest.raises(SealError, match="no longer matches"):
        seal(store.ledger, store.engine)


def test_a_changed_byte_after_the_first_seal_is_named(store: Store) -> None:
    position = store.positions()[store.first_size + 2]
    state = store.row(position)[3]
    changed = bytearray(state)
    changed[len(changed) // 2] ^= 0x01
    store.sql("UPDATE {events} SET state = ? WHERE {pos} = ?", (bytes(changed), position))
    first = store.verify().first
    assert first is not None
    assert (first.kind, first.position) == ("edited", position)


def test_a_record_edited_into_nonsense_is_named(store: Store) -> None:
    position = store.positions()[8]
    if store.postgres:
        store.sql("UPDATE {events} SET state = NULL WHERE {pos} = ?", (position,))
    else:
        store.sql("UPDATE {events} SET originator_version = 'x' WHERE {pos} = ?", (position,))
    first = store.verify().first
    assert first is not None
    assert (first.kind, first.position) == ("edited", position)


def test_a_deleted_row_is_named(store: Store, hoso: Callable[..., Result]) -> None:
    position = store.positions()[7]
    store.sql("DELETE FROM {events} WHERE {pos} = ?", (position,))
    first = store.verify().first
    assert first is not None
    assert (first.kind, first.position) == ("deleted", position)
    assert "deleted" in _failed(hoso, position)


def test_swapped_rows_are_named(store: Store, hoso: Callable[..., Result]) -> None:
    positions = store.positions()
    p, q = positions[3], positions[9]
    _, _, topic_p, state_p = store.row(p)
    _, _, topic_q, state_q = store.row(q)
    store.sql("UPDATE {events} SET topic = ?, state = ? WHERE {pos} = ?", (topic_q, state_q, p))
    store.sql("UPDATE {events} SET topic = ?, state = ? WHERE {pos} = ?", (topic_p, state_p, q))
    first = store.verify().first
    assert first is not None
    assert (first.kind, first.position) == ("swapped", p)
    assert f"positions {p} and {q}" in first.message
    _failed(hoso, p)


def test_reordered_rows_are_named(store: Store, hoso: Callable[..., Result]) -> None:
    positions = store.positions()
    p, q = positions[4], positions[10]
    store.sql("UPDATE {events} SET {pos} = ? WHERE {pos} = ?", (-1, p))
    store.sql("UPDATE {events} SET {pos} = ? WHERE {pos} = ?", (p, q))
    store.sql("UPDATE {events} SET {pos} = ? WHERE {pos} = ?", (q, -1))
    first = store.verify().first
    assert first is not None
    assert (first.kind, first.position) == ("reordered", p)
    assert f"now at position {q}" in first.message
    assert "reordered" in _failed(hoso, p)


def test_an_inserted_row_is_named(store: Store, hoso: Callable[..., Result]) -> None:
    _, version, topic, state = store.row(store.positions()[2])
    forged = "0" * 32 if not store.postgres else "00000000-0000-0000-0000-000000000000"
    store.sql(
        "INSERT INTO {events} ({pos}, originator_id, originator_version, topic, state) "
        "VALUES (0, ?, ?, ?, ?)",
        (forged, version, topic, state),
    )
    first = store.verify().first
    assert first is not None
    assert (first.kind, first.position) == ("inserted", 0)
    _failed(hoso, 0)


def test_a_changed_leaves_table_is_caught_and_named(
    store: Store, hoso: Callable[..., Result]
) -> None:
    positions = store.positions()
    store.sql("UPDATE {leaves} SET leaf_hash = ? WHERE leaf_index = 6", (b"\x01" * 32,))
    report = store.verify()
    assert [p.kind for p in report.problems] == ["leaves"]
    assert report.problems[0].position == positions[6]
    assert "leaf 6 holds another hash than the log" in report.problems[0].message
    _failed(hoso, positions[6])
    with pytest.raises(SealError, match="ledger_leaves disagrees"):
        seal(store.ledger, store.engine)
    seal(store.ledger, store.engine, repair_leaves=True)
    assert store.verify().ok


def test_leaves_missing_after_an_interrupted_seal_are_written_by_the_next(store: Store) -> None:
    store.sql("DELETE FROM {leaves} WHERE leaf_index >= ?", (store.first_size,))
    report = store.verify()
    assert [p.kind for p in report.problems] == ["leaves"]
    assert "`hoso seal` writes the missing leaves" in report.problems[0].message
    result = seal(store.ledger, store.engine)
    assert result.repaired_from is None
    assert result.leaves_written == result.tree_size - store.first_size
    assert store.verify().ok


def test_the_log_and_the_leaves_table_edited_together_are_still_caught(store: Store) -> None:
    positions = store.positions()
    index = store.second_size - 1  # a profile's event, sealed by the second seal only
    position = positions[index]
    oid, version, topic, _ = store.row(position)
    forged_state = b'{"forged": true}'
    store.sql("UPDATE {events} SET state = ? WHERE {pos} = ?", (forged_state, position))
    forged_leaf = record_leaf_hash(str(oid), version, topic, forged_state)
    store.sql("UPDATE {leaves} SET leaf_hash = ? WHERE leaf_index = ?", (forged_leaf, index))
    report = store.verify()
    assert report.first is not None
    first = report.first
    assert first.kind == "altered"
    # The change is placed between the first seal, which still matches, and the second.
    assert first.leaf_index == store.first_size
    assert first.position == positions[store.first_size]
    span = f"positions {positions[store.first_size]}–{positions[store.second_size - 1]}"
    assert first.where == span
    assert "cannot be named" in first.message
    assert any(p.kind == "leaves" for p in report.problems)


def test_a_deleted_seal_is_caught(store: Store) -> None:
    last = read_log(store.ledger, store.engine).seals[-1]
    store.sql("DELETE FROM {events} WHERE {pos} = ?", (last.position,))
    report = store.verify()
    assert not report.ok
    assert any("a later seal was deleted" in p.message for p in report.problems)


def test_seals_deleted_altogether_are_caught(store: Store) -> None:
    store.sql("DELETE FROM {leaves}")
    for s in reversed(read_log(store.ledger, store.engine).seals):
        store.sql("DELETE FROM {events} WHERE {pos} = ?", (s.position,))
    store.sql("DELETE FROM {events} WHERE originator_id = ?", (_stored_id(store, SEAL_ID),))
    report = store.verify()
    assert [p.kind for p in report.problems] == ["seal"]
    assert "holds no seal although this instance has a seal key" in report.problems[0].message


def test_sealing_without_the_key_that_made_the_seals_is_refused(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SEAL_KEY_VARIABLE, str(tmp_path / "elsewhere.pem"))
    with pytest.raises(SealError, match=r"seal key .* is missing"):
        seal(store.ledger, store.engine)
    assert not (tmp_path / "elsewhere.pem").exists()


def _stored_id(store: Store, value: Any) -> Any:
    return value if store.postgres else value.hex


def test_seals_signed_with_another_key_are_refused(store: Store, tmp_path: Path) -> None:
    other = tmp_path / "other.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    report = store.verify(public_key=other)
    assert not report.ok
    assert all(p.kind == "seal" for p in report.problems)
    assert any("another key" in p.message for p in report.problems)


# -- proofs ----------------------------------------------------------------------------------


def _check(path: Path, *args: str) -> tuple[int, str]:
    """The standalone verifier, in-process."""
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = verify_proof.main([str(path), *args])
    return code, out.getvalue()


def _edit(source: Path, target: Path, change: Callable[[dict[str, Any]], None]) -> Path:
    document = json.loads(source.read_text())
    change(document)
    target.write_text(json.dumps(document))
    return target


def _flip_hex(text: str, at: int = 0) -> str:
    value = bytearray(bytes.fromhex(text))
    value[at] ^= 0x01
    return value.hex()


def _flip_base64(text: str, at: int) -> str:
    value = bytearray(base64.b64decode(text))
    value[at] ^= 0x01
    return base64.b64encode(bytes(value)).decode()


def test_an_inclusion_proof_is_accepted_and_any_changed_byte_is_rejected(
    store: Store, hoso: Callable[..., Result], tmp_path: Path
) -> None:
    position = store.positions()[store.first_size + 1]
    proof = tmp_path / "inclusion.json"
    result = hoso("proof", "inclusion", str(position), "--out", str(proof))
    assert result.exit_code == 0, result.output
    document = json.loads(proof.read_text())
    assert document["event"]["position"] == position
    assert document["tree_size"] == store.second_size
    key = store.settings.data_dir / "seal-key.pem"
    public = tmp_path / "public.pem"
    public.write_text(document["seal"]["public_key_pem"])

    # The verifier needs nothing of the project: run it isolated, from elsewhere.
    isolated = subprocess.run(
        [sys.executable, "-I", str(VERIFY_PROOF), str(proof), "--public-key", str(public)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert isolated.returncode == 0, isolated.stdout + isolated.stderr
    assert isolated.stdout.startswith("OK:")
    assert _check(proof, "--public-key", str(key))[0] == 0

    changes: dict[str, Callable[[dict[str, Any]], None]] = {
        "a byte of the path": lambda d: d["inclusion_path"].__setitem__(
            1, _flip_hex(d["inclusion_path"][1], 9)
        ),
        "a byte of the event": lambda d: d["event"].__setitem__(
            "state_base64", _flip_base64(d["event"]["state_base64"], 20)
        ),
        "the event's version": lambda d: d["event"].__setitem__(
            "originator_version", d["event"]["originator_version"] + 1
        ),
        "the event's topic": lambda d: d["event"].__setitem__("topic", "x" + d["event"]["topic"]),
        "the leaf index": lambda d: d.__setitem__("leaf_index", d["leaf_index"] - 1),
        "the signed root": lambda d: d["seal"]["tree_head"].__setitem__(
            "root", _flip_hex(d["seal"]["tree_head"]["root"], 31)
        ),
        "the signed time": lambda d: d["seal"]["tree_head"].__setitem__(
            "sealed_at", "2020-01-01T00:00:00.000000Z"
        ),
        "the signature": lambda d: d["seal"].__setitem__(
            "signature", _flip_base64(d["seal"]["signature"], 10)
        ),
        "a dropped path item": lambda d: d["inclusion_path"].pop(),
    }
    for name, change in changes.items():
        changed = _edit(proof, tmp_path / "changed.json", change)
        code, output = _check(changed)
        assert code == 1, name
        assert output.startswith("FAILED:"), (name, output)

    # Another key: the file's own key checks out, but not the one pinned.
    other = tmp_path / "other.pem"
    other.write_bytes(
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    code, output = _check(proof, "--public-key", str(other))
    assert code == 1 and "another key" in output
    isolated = subprocess.run(
        [sys.executable, "-I", str(VERIFY_PROOF), str(changed)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        check=False,
    )
    assert isolated.returncode == 1 and isolated.stdout.startswith("FAILED:")


def test_the_standalone_canonical_json_is_rfc_8785() -> None:
    from signing.canonical import canonical_json

    heads = [
        {"tree_size": 1_000_000, "root": "ab" * 32, "sealed_at": "2026-11-20T01:02:03.000004Z"},
        {"tree_size": 0, "root": "", "sealed_at": 'Hồ sơ \u0007 "q" \\ / \u2028 😀 é'},
        {"b": 1, "a": -5, "é": "x", "aa": "\n\t"},
    ]
    for head in heads:
        assert verify_proof.canonical_json(head) == canonical_json(head)


def test_an_encrypted_ledger_seals_verifies_and_proves(
    make_ledger: Callable[..., Ledger], monkeypatch: pytest.MonkeyPatch
) -> None:
    from eventsourcing.cryptography import AESCipher

    from signing.seal import inclusion_proof_document

    monkeypatch.delenv(SEAL_KEY_VARIABLE, raising=False)
    ledger = make_ledger(cipher_key=AESCipher.create_key(32))
    engine = read_model_engine(ledger.settings, writer=True)
    try:
        open_profiles(ledger, 2)
        seal(ledger, engine)
        seal(ledger, engine)
        report = verify(ledger, engine)
        assert report.ok, report.problems
        assert len(report.valid_seals) == 2
        verify_proof.check(inclusion_proof_document(ledger, engine, 3))
    finally:
        engine.dispose()


def test_inclusion_proofs_of_every_event_verify(store: Store) -> None:
    from signing.seal import inclusion_proof_document

    for position in store.positions()[: store.second_size]:
        document = inclusion_proof_document(store.ledger, store.engine, position)
        verify_proof.check(document)
        if position == store.positions()[store.first_size - 1]:
            assert document["tree_size"] == store.second_size


def test_a_consistency_proof_between_seals(
    store: Store, hoso: Callable[..., Result], tmp_path: Path
) -> None:
    proof = tmp_path / "consistency.json"
    result = hoso("proof", "consistency", "--out", str(proof))
    assert result.exit_code == 0, result.output
    document = json.loads(proof.read_text())
    assert document["first"]["tree_head"]["tree_size"] == store.first_size
    assert document["second"]["tree_head"]["tree_size"] == store.second_size
    assert _check(proof)[0] == 0
    explicit = tmp_path / "explicit.json"
    result = hoso(
        "proof",
        "consistency",
        "--from",
        str(store.first_size),
        "--to",
        str(store.second_size),
        "--out",
        str(explicit),
    )
    assert result.exit_code == 0, result.output
    assert json.loads(explicit.read_text()) == document
    changed = _edit(
        proof,
        tmp_path / "changed.json",
        lambda d: d["consistency_path"].__setitem__(0, _flip_hex(d["consistency_path"][0], 3)),
    )
    assert _check(changed)[0] == 1
    result = hoso("proof", "consistency", "--from", "3", "--to", str(store.second_size))
    assert result.exit_code == 1
    assert "no seal of tree size 3" in flat(result.output)


def test_an_unsealed_position_has_no_proof_yet(store: Store, hoso: Callable[..., Result]) -> None:
    last = store.positions()[-1]
    result = hoso("proof", "inclusion", str(last))
    assert result.exit_code == 1
    assert "not sealed yet" in flat(result.output)


# -- the rest of the application -------------------------------------------------------------


def test_read_models_take_seal_events_in_their_stride(store: Store) -> None:
    from projections import catalogue

    engine = read_model_engine(store.settings, writer=True)
    try:
        projector = catalogue.projector(store.ledger, engine, page_size=50)
        projector.prepare()
        projector.catch_up()
        assert all(s.lag == 0 for s in projector.status())
    finally:
        engine.dispose()


def test_the_seal_benchmark_runs_small(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "scripts" / "bench.py"),
            "seal",
            "--events",
            "3000",
            "--backend",
            "sqlite",
            "--signatures",
            "50",
            "--json",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    figures = json.loads(result.stdout.strip().splitlines()[-1])
    assert figures["benchmark"] == "seal"
    assert figures["events"] >= 3000
    assert figures["seal_seconds"] > 0 and figures["verify_seconds"] > 0
    assert figures["signatures_verified_per_s"] > 0
    assert figures["failures"] == []


def test_a_ledger_never_sealed_verifies_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.readside import fresh_store

    monkeypatch.delenv(SEAL_KEY_VARIABLE, raising=False)
    with fresh_store("sqlite", tmp_path) as settings:
        ledger = Ledger(settings)
        engine = read_model_engine(settings)
        try:
            open_profiles(ledger, 1)
            report = verify(ledger, engine)
            assert report.ok
            assert "nothing has been sealed yet" in report.notes
        finally:
            engine.dispose()
            ledger.close()
