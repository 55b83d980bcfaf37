"""Backups: a PostgreSQL ledger with approvals, certificates, seals and a scanned document
is backed up, restored into SQLite and from there into a fresh PostgreSQL schema, and comes
back with the same Merkle root, the same read models, `hoso verify` passing and its
approvals still verifying; a damaged archive, a wrong key or a store that is not empty is
refused and leaves the target as it was; retention keeps the right archives around month
ends."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from uuid import UUID

import pytest
from click.testing import Result
from eventsourcing.cryptography import AESCipher
from rich.console import Console
from typer.testing import CliRunner

from api.documents import DocumentStore
from domain.application import Ledger
from domain.field_cipher import KEY_FILE_NAME
from domain.jurisdiction import BackupPolicy, load_jurisdiction
from domain.settings import Settings
from operations.backup import (
    EXPIRED_DIRECTORY,
    BackupError,
    add_months,
    apply_retention,
    archive_name,
    create_backup,
    restore,
    verify_archive,
)
from projections import catalogue
from projections.database import read_model_engine
from scripts import backup_cli, cli, seal_cli
from scripts.bench import open_profiles, run_commands
from signing.approvals import Approvals
from signing.merkle import MerkleRootStream, MerkleTree
from signing.pki import make_issuing_ca, make_root_ca, pem_bundle
from signing.registry import intermediates_path, trust_anchors_path
from signing.seal import SEAL_KEY_VARIABLE, read_log, seal
from tests.builders import unit_tree
from tests.cli_helpers import HOSO_VARIABLES
from tests.conftest import HR
from tests.readside import dump, fresh_store
from tests.test_approvals import NOW, RAISE, Office, staffed

CIPHER_KEY = AESCipher.create_key(32)
BACKUP_KEY = base64.b64encode(b"k" * 32).decode()
PDF = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
NOW_UTC = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)


def store_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"cipher_key": CIPHER_KEY, "backup_key": BACKUP_KEY})


def same_keys(source: Settings, target: Settings) -> None:
    """The field keys travel apart from the archives, as the seal key does."""
    target.data_dir.mkdir(parents=True, exist_ok=True)
    shutil.copy(source.data_dir / KEY_FILE_NAME, target.data_dir / KEY_FILE_NAME)


def merkle_root(settings: Settings) -> str:
    ledger = Ledger(settings)
    engine = read_model_engine(settings)
    try:
        return MerkleTree(read_log(ledger, engine).hashes).root().hex()
    finally:
        engine.dispose()
        ledger.close()


def read_models(settings: Settings) -> dict[str, list[tuple[object, ...]]]:
    """Every read model's rows, caught up with the log."""
    ledger = Ledger(settings)
    engine = read_model_engine(settings, writer=True)
    projector = catalogue.projector(ledger, engine)
    try:
        projector.prepare()
        projector.catch_up()
        return dump(projector)
    finally:
        projector.close()
        engine.dispose()
        ledger.close()


def events_in(settings: Settings) -> int:
    ledger = Ledger(settings)
    try:
        return ledger.recorder.max_notification_id() or 0
    finally:
        ledger.close()


def hoso(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> Result:
    """The ``hoso`` command line against ``settings``' store."""
    for name in (*HOSO_VARIABLES, SEAL_KEY_VARIABLE, "HOSO_BACKUP_KEY", "HOSO_BACKUP_KEY_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOSO_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("HOSO_JURISDICTION", settings.jurisdiction)
    monkeypatch.setenv("HOSO_CIPHER_KEY", CIPHER_KEY)
    monkeypatch.setenv("HOSO_BACKUP_KEY", BACKUP_KEY)
    if settings.database_url:
        monkeypatch.setenv("HOSO_DATABASE_URL", settings.database_url)
        monkeypatch.setenv("HOSO_DATABASE_SCHEMA", settings.database_schema)
    for module in (cli, seal_cli, backup_cli):
        monkeypatch.setattr(module, "console", Console(width=300, color_system=None))
    return CliRunner().invoke(cli.app, list(args))


# -- a ledger worth backing up ---------------------------------------------------------------


def office_ledger(settings: Settings) -> tuple[Office, str, str]:
    """The Ministry's ledger: units, profiles, a change approved by a chain of three
    digital signatures (three certificates registered), moves past the snapshot interval,
    two seals, a scanned decision. Returns the office, the change's profile and id."""
    ledger = Ledger(settings, clock=lambda: NOW.date())
    unit_tree(ledger)
    root = make_root_ca("Root CA thử nghiệm", valid_from=datetime(2019, 1, 1, tzinfo=UTC))
    issuing = make_issuing_ca(
        root, "CA cấp cho cán bộ", valid_from=datetime(2019, 1, 1, tzinfo=UTC)
    )
    for path, certs in (
        (trust_anchors_path(settings), [root.certificate]),
        (intermediates_path(settings), [issuing.certificate]),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pem_bundle(certs))
    o = Office(ledger, Approvals(ledger, now=lambda: NOW), issuing)
    ids = [staffed(o, citizen_id=f"00108501{n:04d}") for n in range(6)]
    pid = ids[0]
    change = o.ledger.propose_change(
        pid, RAISE, reason="Nâng bậc lương", effective_date=date(2026, 9, 1), actor=HR
    )
    for signer in o.chain("STC.NS"):
        o.sign(signer, pid, change)
    engine = read_model_engine(settings, writer=True)
    try:
        run_commands(ledger, [UUID(i) for i in ids[:2]], 30, 4)  # a profile passes 50 versions
        seal(ledger, engine)
        run_commands(ledger, [UUID(i) for i in ids], 30, 3, start=30)
        seal(ledger, engine)
        run_commands(ledger, [UUID(i) for i in ids], 3, 2, start=50)
        DocumentStore(engine, ledger.mapper.cipher).store(PDF, "qd-01.pdf", account="hr.officer")
    finally:
        engine.dispose()
    return o, pid, change


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Seal keys of this test only."""
    monkeypatch.setenv(SEAL_KEY_VARIABLE, str(tmp_path / "seal-key.pem"))
    return tmp_path


def test_a_postgres_ledger_restores_into_sqlite_and_back_into_postgres(
    isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    archives = isolated / "archives"
    with fresh_store("postgres", isolated) as pg_plain:
        source = store_settings(pg_plain)
        o, pid, change = office_ledger(source)
        o.ledger.close()
        assert events_in(source) > 200
        root = merkle_root(source)
        models = read_models(source)
        assert models["rm_roster"] and models["rm_audit_trail"]

        first = create_backup(source, archives, now=NOW_UTC)
        report = verify_archive(first, source)
        assert report.manifest["merkle_root"] == root
        assert report.manifest["source_backend"] == "postgresql"
        assert report.events == events_in(source)
        assert report.seals_checked == 2 and report.documents == 1
        assert report.files == ["intermediates.pem", "trust-anchors.pem"]

        with fresh_store("sqlite", isolated) as lite_plain:
            lite = store_settings(lite_plain)
            same_keys(source, lite)
            result = restore(first, lite)
            assert "roster" in result.read_models
            assert merkle_root(lite) == root
            assert read_models(lite) == models
            verified = hoso(lite, monkeypatch, "verify")
            assert verified.exit_code == 0, verified.output
            assert "OK" in verified.output
            restored = Ledger(lite, clock=lambda: NOW.date())
            try:
                # The certificates, signatures and trust anchors came back with the log.
                approval = Approvals(restored, now=lambda: NOW).verify(change)
                assert approval.passed, "\n".join(approval.in_plain_words())
                assert restored.profile(pid).record["employment"]["salary_step"] == 4
                # The scanned decision too, still matching its digest.
                engine = read_model_engine(lite)
                found = DocumentStore(engine, restored.mapper.cipher).find(
                    hashlib.sha256(PDF).hexdigest()
                )
                engine.dispose()
                assert found is not None and found.content == PDF
            finally:
                restored.close()

            second = create_backup(lite, archives, now=datetime(2026, 11, 21, tzinfo=UTC))
            with fresh_store("postgres", isolated) as again_plain:
                again = store_settings(again_plain)
                same_keys(source, again)
                made = hoso(again, monkeypatch, "restore", str(second))
                assert made.exit_code == 0, made.output
                assert "restored" in made.output and root in made.output
                assert merkle_root(again) == root
                assert read_models(again) == models
                verified = hoso(again, monkeypatch, "verify")
                assert verified.exit_code == 0, verified.output


# -- damaged archives, wrong keys, stores that are not empty ---------------------------------


@pytest.fixture
def small_archive(isolated: Path) -> Iterator[tuple[Settings, Path]]:
    """A sealed SQLite ledger and its archive."""
    with fresh_store("sqlite", isolated) as plain:
        source = store_settings(plain)
        ledger = Ledger(source)
        ids = open_profiles(ledger, 3)
        run_commands(ledger, ids, 30, 5)
        engine = read_model_engine(source, writer=True)
        seal(ledger, engine)
        engine.dispose()
        ledger.close()
        yield source, create_backup(source, isolated / "archives", now=NOW_UTC)


def _flip(path: Path, at: int) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


def _cut(path: Path, size: int) -> None:
    path.write_bytes(path.read_bytes()[:size])


DAMAGE: dict[str, tuple[Callable[[Path], None], str]] = {
    "a byte flipped in a chunk": (
        lambda p: _flip(p, p.stat().st_size // 2),
        "does not authenticate",
    ),
    "a byte flipped in the header": (lambda p: _flip(p, 40), "header is damaged"),
    "cut in the middle": (lambda p: _cut(p, p.stat().st_size // 2), "cut short"),
    "the manifest cut off": (lambda p: _cut(p, _last_chunk_start(p)), "without its manifest"),
    "not an archive": (lambda p: p.write_bytes(b"PK\x03\x04" + b"\x00" * 100), "not a hoso"),
}


def _last_chunk_start(path: Path) -> int:
    data = path.read_bytes()
    at = 8 + 4 + int.from_bytes(data[8:12], "big") + 32
    starts = []
    while at < len(data):
        starts.append(at)
        at += 4 + int.from_bytes(data[at : at + 4], "big")
    return starts[-1]


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_archive_is_refused_and_the_target_stays_empty(
    small_archive: tuple[Settings, Path], backend: str, isolated: Path, damage: str
) -> None:
    source, archive = small_archive
    change, message = DAMAGE[damage]
    change(archive)
    with pytest.raises(BackupError, match=message) as refused:
        verify_archive(archive, source)
    assert "Bản sao lưu" in refused.value.vietnamese or "không phải" in refused.value.vietnamese
    with fresh_store(backend, isolated) as plain:
        target = store_settings(plain)
        same_keys(source, target)
        with pytest.raises(BackupError, match=message):
            restore(archive, target)
        assert events_in(target) == 0


def test_an_archive_read_with_another_key_is_refused(
    small_archive: tuple[Settings, Path], backend: str, isolated: Path
) -> None:
    source, archive = small_archive
    other = source.model_copy(update={"backup_key": base64.b64encode(os.urandom(32)).decode()})
    with pytest.raises(BackupError, match="wrong backup key") as refused:
        verify_archive(archive, other)
    assert "Sai khóa sao lưu" in refused.value.vietnamese
    with fresh_store(backend, isolated) as plain:
        target = store_settings(plain).model_copy(update={"backup_key": other.backup_key})
        with pytest.raises(BackupError, match="wrong backup key"):
            restore(archive, target)
        assert events_in(target) == 0


def test_a_chunk_moved_or_dropped_does_not_authenticate(
    small_archive: tuple[Settings, Path],
) -> None:
    source, archive = small_archive
    data = archive.read_bytes()
    start = 8 + 4 + int.from_bytes(data[8:12], "big") + 32
    first_end = start + 4 + int.from_bytes(data[start : start + 4], "big")
    archive.write_bytes(data[:start] + data[first_end:])  # the first chunk dropped
    with pytest.raises(BackupError, match="chunk 0 does not authenticate"):
        verify_archive(archive, source)


def test_restore_refuses_a_store_that_is_not_empty_and_changes_nothing(
    small_archive: tuple[Settings, Path], backend: str, isolated: Path
) -> None:
    source, archive = small_archive
    with fresh_store(backend, isolated) as plain:
        target = store_settings(plain)
        same_keys(source, target)
        ledger = Ledger(target)
        unit_tree(ledger)
        ledger.close()
        before = events_in(target)
        with pytest.raises(BackupError, match="not empty") as refused:
            restore(archive, target)
        assert "không trống" in refused.value.vietnamese
        assert events_in(target) == before


def test_restore_refuses_other_field_keys_before_touching_the_store(
    small_archive: tuple[Settings, Path], isolated: Path
) -> None:
    source, archive = small_archive
    with fresh_store("sqlite", isolated) as plain:
        target = store_settings(plain)
        with pytest.raises(BackupError, match="field key file"):
            restore(archive, target)
        other_cipher = target.model_copy(update={"cipher_key": AESCipher.create_key(32)})
        same_keys(source, target)
        with pytest.raises(BackupError, match="another cipher key"):
            restore(archive, other_cipher)
        assert not target.sqlite_path.exists() or events_in(target) == 0


def test_the_command_line_backs_up_verifies_and_refuses_with_a_message(
    small_archive: tuple[Settings, Path], isolated: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source, _ = small_archive
    made = hoso(source, monkeypatch, "backup", "--to", str(isolated / "cli"))
    assert made.exit_code == 0, made.output
    (archive,) = (isolated / "cli").glob("*.hosobak")
    checked = hoso(source, monkeypatch, "backup", "--verify", str(archive))
    assert checked.exit_code == 0, checked.output
    assert "every chunk authenticates" in checked.output
    _flip(archive, archive.stat().st_size - 20)
    refused = hoso(source, monkeypatch, "backup", "--verify", str(archive))
    assert refused.exit_code == 1
    assert "Traceback" not in refused.output
    assert "Bản sao lưu bị hỏng" in refused.output and "does not authenticate" in refused.output


# -- the Merkle root, streamed ---------------------------------------------------------------


def test_the_streamed_merkle_root_is_the_trees_root_at_every_size() -> None:
    leaves = [hashlib.sha256(str(n).encode()).digest() for n in range(130)]
    tree = MerkleTree(leaves)
    stream = MerkleRootStream()
    assert stream.root() == tree.root(0)
    for size, leaf in enumerate(leaves, start=1):
        stream.add(leaf)
        assert stream.root() == tree.root(size)


# -- retention -------------------------------------------------------------------------------


def _archives(directory: Path, times: list[datetime]) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for time in times:
        (directory / archive_name(time, "postgresql")).write_bytes(b"")


def _days(directory: Path) -> list[str]:
    return sorted(p.name[5:13] for p in directory.glob("*.hosobak"))


def test_daily_backups_keep_a_month_of_days_and_three_months_of_monthly_copies(
    tmp_path: Path,
) -> None:
    policy = load_jurisdiction("cantho").backup  # daily, Điều 13.4
    assert policy.frequency == "daily" and policy.retention_days == 30
    # One a day at 23:00 in Cần Thơ (16:00 UTC), 25 January to 31 May 2026.
    first = date(2026, 1, 25).toordinal()
    times = [
        datetime.combine(date.fromordinal(first + n), datetime.min.time(), UTC).replace(hour=16)
        for n in range(date(2026, 5, 31).toordinal() - first + 1)
    ]
    _archives(tmp_path, times)
    moved = apply_retention(tmp_path, policy, date(2026, 5, 31))
    kept = _days(tmp_path)
    # The monthly copies of March, April and May are kept three months; February's (made
    # 1 February) was kept until 1 May, January's until 25 April.
    assert "20260301" in kept and "20260401" in kept and "20260501" in kept
    assert "20260201" not in kept and "20260125" not in kept
    # Every daily copy of the last 30 days.
    assert [d for d in kept if d >= "20260502"] == [f"202605{d:02d}" for d in range(2, 32)]
    assert "20260415" not in kept
    assert all(p.parent.name == EXPIRED_DIRECTORY for p in moved)
    assert len(moved) + len(kept) == len(times)  # moved aside, never deleted


def test_monthly_copies_are_kept_at_least_three_months_across_short_months(
    tmp_path: Path,
) -> None:
    policy = load_jurisdiction("travinh").backup  # monthly, kept at least 3 months (Điều 9)
    assert policy == BackupPolicy(frequency="monthly", retention_months=3)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)
    assert add_months(date(2027, 11, 30), 3) == date(2028, 2, 29)
    # Made at the end of each month, in Vietnam: 30 November 2026 at 20:00 (13:00 UTC) …
    times = [
        datetime(2026, 10, 31, 13, tzinfo=UTC),
        datetime(2026, 11, 30, 13, tzinfo=UTC),
        datetime(2026, 12, 31, 13, tzinfo=UTC),
        datetime(2027, 1, 31, 13, tzinfo=UTC),
        # … and one made late on 31 January UTC, which is already 1 February in Vietnam.
        datetime(2027, 1, 31, 18, tzinfo=UTC),
    ]
    _archives(tmp_path, times)
    assert apply_retention(tmp_path, policy, date(2027, 1, 30)) == []
    moved = apply_retention(tmp_path, policy, date(2027, 1, 31))  # October's: 3 months kept
    assert [p.name[5:13] for p in moved] == ["20261031"]
    assert apply_retention(tmp_path, policy, date(2027, 2, 27)) == []
    # 30 November plus three months is 28 February: kept until then, not a day longer.
    moved = apply_retention(tmp_path, policy, date(2027, 2, 28))
    assert [p.name[5:13] for p in moved] == ["20261130"]
    # January's two copies: the second one falls on 1 February in Vietnam and is February's
    # monthly copy, the newest, always kept.
    moved = apply_retention(tmp_path, policy, date(2027, 5, 1))
    assert [p.name for p in moved] == [archive_name(t, "postgresql") for t in times[2:4]]
    assert _days(tmp_path) == ["20270131"]
    assert len(list((tmp_path / EXPIRED_DIRECTORY).iterdir())) == 4
