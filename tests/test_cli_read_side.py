"""The read side from the command line: project, status, rebuild, roster and audit."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pypdf import PdfReader

from domain.application import Ledger
from domain.settings import Settings
from tests.builders import person, unit_tree
from tests.cli_helpers import ok, one_line, refused
from tests.conftest import HR, decision


def _story() -> str:
    """A small province: An moved from SNV to STC in 2025, Bình retired in 2024."""
    ledger = Ledger(Settings())
    unit_tree(ledger)
    an = ledger.open_profile(person(), decision=decision("11/QĐ-SNV"), actor=HR)
    binh_record = person("001185054321")
    binh_record["identity"].update(
        full_name="Trần Thị Bình", gender="female", birth_date=date(1966, 2, 1)
    )
    binh = ledger.open_profile(binh_record, decision=decision(), actor=HR)
    ledger.retire(binh, effective_date=date(2024, 3, 1), decision=decision("7/QĐ-SNV"), actor=HR)
    release = decision("88/QĐ-UBND", date(2025, 3, 1))
    ledger.release_transfer(an, "STC", effective_date=date(2025, 3, 15), decision=release, actor=HR)
    ledger.receive_transfer(
        an,
        "STC",
        department="Phòng Quản lý giá",
        position="Chuyên viên",
        effective_date=date(2025, 3, 16),
        decision=release,
        actor=HR,
    )
    ledger.close()
    return str(an)


def test_project_once_then_status_shows_no_lag(data_dir: Path) -> None:
    _story()
    result = one_line(ok("project", "--once").output)
    for name in ("units", "roster", "history", "profiles", "archive", "audit", "deadlines"):
        assert name in result
    status = ok("status").output
    rows = [line for line in status.splitlines() if "roster" in line]
    assert rows and rows[0].split("│")[-2].strip() == "0"  # lag column


def test_roster_now_and_on_a_past_date(data_dir: Path) -> None:
    _story()
    now = one_line(ok("roster", "STC").output)
    assert "Nguyễn Văn An" in now and "1 people now" in now
    before = one_line(ok("roster", "SNV", "--as-of", "2023-12-31").output)
    assert "Nguyễn Văn An" in before and "Trần Thị Bình" in before
    assert "2 people on 2023-12-31" in before
    after = one_line(ok("roster", "SNV").output)
    assert "0 people now" in after
    found = one_line(ok("roster", "UBND", "--q", "nguyen van an").output)
    assert "Nguyễn Văn An" in found and "1 people" in found
    assert "no unit with code NOWHERE" in one_line(refused("roster", "NOWHERE").output)
    assert "is not a date" in refused("roster", "SNV", "--as-of", "31/12/2023").output


def test_audit_filters(data_dir: Path) -> None:
    an = _story()
    by_profile = one_line(ok("audit", "--profile", an).output)
    for event in ("Opened", "TransferReleased", "TransferReceived"):
        assert event in by_profile
    assert "Retired" not in by_profile
    retired = one_line(ok("audit", "--type", "Retired").output)
    assert "1 events" in retired and "7/QĐ-SNV" in retired
    assert "hr.officer" in one_line(ok("audit", "--actor", "hr.officer").output)
    assert "0 events" in one_line(ok("audit", "--actor", "nobody").output)
    today = date.today().isoformat()
    assert "0 events" in one_line(ok("audit", "--to", "2000-01-01").output)
    assert "Opened" in one_line(ok("audit", "--from", today, "--unit", "SNV").output)


def test_rebuild_one_read_model_and_refuse_an_unknown_one(data_dir: Path) -> None:
    _story()
    ok("project", "--once")
    assert "rebuilding roster" not in ok("rebuild", "roster").output  # progress is transient
    assert "Nguyễn Văn An" in ok("roster", "STC").output
    assert "no read model 'nonsense'" in one_line(refused("rebuild", "nonsense").output)


def test_resume_is_printed_from_approved_data_and_signed_twice(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    an = _story()
    monkeypatch.setenv("HOSO_KEYSTORE_PASSPHRASE", "mật khẩu kho khóa")
    ok("pki", "init")
    ok("pki", "issue", "lanhdao.stc", "--name", "Lê Văn Lãnh Đạo")
    out = data_dir / "an.pdf"
    ok("resume", an, "--out", str(out), "--approver", "lanhdao.stc")
    text = "".join(page.extract_text() for page in PdfReader(out).pages)
    assert "NGUYỄN VĂN AN" in text and "Phòng Quản lý giá" in text
    assert out.read_bytes().count(b"/ByteRange") == 2
    bad = refused("resume", an, "--out", str(out), "--approver", "nobody")
    assert "nobody" in bad.output
