"""An inspector checks an approval from the command line."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from domain.application import Ledger
from domain.settings import Settings
from domain.values import Actor, Role
from signing.approvals import Approvals
from tests.builders import ADMIN, person, unit_tree
from tests.cli_helpers import ok, one_line, refused
from tests.conftest import HR, decision

PASSPHRASE = "mật khẩu kho khóa"


def test_verify_approval_reports_each_check_in_plain_words(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOSO_JURISDICTION", "bnv")
    monkeypatch.setenv("HOSO_KEYSTORE_PASSPHRASE", PASSPHRASE)
    ledger = Ledger(Settings())
    unit_tree(ledger)
    pid = ledger.open_profile(person(unit_code="STC"), decision=decision(), actor=HR)
    change = ledger.propose_change(
        pid,
        [("education.it_skills", "Ứng dụng CNTT nâng cao")],
        reason="Bổ sung chứng chỉ",
        effective_date=date(2026, 5, 1),
        actor=HR,
    )
    ledger.close()
    ok("pki", "init")
    signers = [("cb.stc", Role.HR_OFFICER), ("tp.stc", Role.HR_HEAD)]  # a department: 2 levels
    for account, _ in signers:
        ok("pki", "issue", account, "--name", f"Cán bộ {account}")
    ledger = Ledger(Settings())
    for account, role in signers:
        ledger.create_account(account, account, "approver", "STC", actor=ADMIN)
        ledger.grant_role(account, role, "STC", valid_from=date(2020, 1, 1), actor=ADMIN)
        Approvals(ledger).sign_with_keystore(
            str(pid), change, actor=Actor(account, role, "STC"), passphrase=PASSPHRASE
        )
    ledger.close()

    report = one_line(ok("verify-approval", change).output)
    assert "approved, 2 of 2 signatures — VERIFIED" in report
    assert "education.it_skills = Ứng dụng CNTT nâng cao" in report
    for check in (
        "signature valid",
        "certificate chain valid",
        "not revoked",
        "authority",
        "inside the signing window",
        "within the deadline",
        "approvals chain",
    ):
        assert f"✓ {check}" in report
    assert "✗" not in report
    assert "no approval nonsense" in one_line(refused("verify-approval", "nonsense").output)
