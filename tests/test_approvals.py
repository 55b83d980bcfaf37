"""Approval by a chain of digital signatures, and its verification, on SQLite and PostgreSQL,
under the Ministry's chains (three levels for subordinate units, two for its departments)
and Hải Phòng's single signature in the last five days of the month."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from domain.application import Ledger
from domain.errors import SignatureRefused, SignatureRequired
from domain.values import Actor, Role
from signing import keystore
from signing.approvals import Approvals
from signing.pki import Authority, issue_certificate, make_issuing_ca, make_root_ca, pem_bundle
from signing.registry import (
    intermediates_path,
    register_certificate,
    revoke_certificate,
    trust_anchors_path,
)
from signing.signatures import certificate_pem, sign_digest
from tests.builders import ADMIN, person, unit_tree
from tests.conftest import HR, TODAY, decision

PASSPHRASE = "mật khẩu kho khóa"
NOW = datetime(2026, 11, 20, 3, 0, tzinfo=UTC)  # 10:00 in Hà Nội, on the fixed TODAY
RAISE = [("employment.salary_step", 4), ("employment.coefficient", "3.33")]
# The Ministry's chain for a sub-department (Điều 7.2.b) and for a department (7.2.a).
THREE_LEVELS = (Role.HR_OFFICER, Role.HR_HEAD, Role.UNIT_HEAD)


@dataclass
class Office:
    ledger: Ledger
    approvals: Approvals
    issuing: Authority
    clock: list[datetime] = field(default_factory=lambda: [NOW])
    signers: dict[str, Actor] = field(default_factory=dict)

    def signer(
        self,
        account: str,
        role: Role,
        unit: str,
        *,
        key_type: str = "ec",
        valid_until: datetime | None = None,
        profile_id: str | None = None,
    ) -> Actor:
        kind = "personal" if profile_id else "approver"
        self.ledger.create_account(account, account, kind, unit, actor=ADMIN, profile_id=profile_id)
        self.ledger.grant_role(account, role, unit, valid_from=date(2020, 1, 1), actor=ADMIN)
        key, cert = issue_certificate(
            self.issuing,
            f"Người ký {account}",
            key_type=key_type,
            valid_from=datetime(2020, 1, 1, tzinfo=UTC),
            valid_until=valid_until or datetime(2030, 1, 1, tzinfo=UTC),
        )
        keystore.store(
            keystore.default_directory(self.ledger.settings),
            account,
            key,
            cert,
            [self.issuing.certificate],
            PASSPHRASE,
        )
        register_certificate(self.ledger, cert, account, ADMIN)
        actor = Actor(account, role, unit)
        self.signers[account] = actor
        return actor

    def sign(self, actor: Actor, pid: str, item: str) -> None:
        self.approvals.sign_with_keystore(pid, item, actor=actor, passphrase=PASSPHRASE)

    def chain(self, unit: str) -> list[Actor]:
        roles = [Role(level["role"]) for level in self.ledger.approval_chain(unit)]
        return [
            self.signers.get(f"{r.value}.{unit}".lower())
            or self.signer(f"{r.value}.{unit}".lower(), r, unit)
            for r in roles
        ]


@pytest.fixture
def office(make_ledger: Callable[..., Ledger]) -> Callable[..., Office]:
    def make(jurisdiction: str = "bnv") -> Office:
        ledger = make_ledger(jurisdiction=jurisdiction)
        unit_tree(ledger)
        root = make_root_ca("Root CA thử nghiệm", valid_from=datetime(2019, 1, 1, tzinfo=UTC))
        issuing = make_issuing_ca(
            root, "CA cấp cho cán bộ", valid_from=datetime(2019, 1, 1, tzinfo=UTC)
        )
        for path, certs in (
            (trust_anchors_path(ledger.settings), [root.certificate]),
            (intermediates_path(ledger.settings), [issuing.certificate]),
        ):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pem_bundle(certs))
        clock = [NOW]
        return Office(ledger, Approvals(ledger, now=lambda: clock[0]), issuing, clock)

    return make


def staffed(o: Office, unit: str = "STC.NS", citizen_id: str = "001085012345") -> str:
    return str(
        o.ledger.open_profile(
            person(citizen_id, unit_code=unit, department="Phòng 1"), decision=decision(), actor=HR
        )
    )


def test_a_full_chain_of_three_signatures_approves_the_change(
    office: Callable[..., Office],
) -> None:
    o = office("bnv")
    pid = staffed(o)
    change = o.ledger.propose_change(
        pid, RAISE, reason="Nâng bậc lương", effective_date=date(2026, 9, 1), actor=HR
    )
    with pytest.raises(SignatureRequired):
        o.ledger.approve_change(pid, change, actor=HR)
    signers = o.chain("STC.NS")
    assert [s.role for s in signers] == list(THREE_LEVELS)
    for i, signer in enumerate(signers):
        assert o.ledger.profile(pid).record["employment"]["salary_step"] == 3  # not yet
        o.sign(signer, pid, change)
        assert len(o.ledger.profile(pid).approvals[change]["signatures"]) == i + 1
    profile = o.ledger.profile(pid)
    assert profile.record["employment"]["salary_step"] == 4
    assert profile.change_sets[change]["status"] == "approved"

    report = o.approvals.verify(change)
    assert report.passed, "\n".join(report.in_plain_words())
    words = "\n".join(report.in_plain_words())
    assert "employment.salary_step = 4" in words
    assert "Người ký hr_head.stc.ns" in words
    assert words.count("✓") == 3 * 7 and "✗" not in words


def test_a_department_signs_in_two_levels(office: Callable[..., Office]) -> None:
    o = office("bnv")
    pid = staffed(o, unit="STC")
    change = o.ledger.propose_change(
        pid, RAISE, reason="Nâng bậc lương", effective_date=date(2026, 9, 1), actor=HR
    )
    signers = o.chain("STC")
    assert [s.role for s in signers] == [Role.HR_OFFICER, Role.HR_HEAD]
    for signer in signers:
        o.sign(signer, pid, change)
    assert o.ledger.profile(pid).change_sets[change]["status"] == "approved"


def test_a_token_signs_the_digest_the_server_gives(office: Callable[..., Office]) -> None:
    """The signer's own device: fetch the digest, sign it there, post signature and
    certificate; the certificate is registered on first use."""
    o = office("bnv")
    pid = staffed(o, unit="STC")
    change = o.ledger.propose_change(
        pid, RAISE, reason="Nâng bậc lương", effective_date=date(2026, 9, 1), actor=HR
    )
    token_key, token_cert = issue_certificate(
        o.issuing,
        "Trần Văn Token",
        key_type="rsa",
        valid_from=datetime(2020, 1, 1, tzinfo=UTC),
        valid_until=datetime(2030, 1, 1, tzinfo=UTC),
    )
    o.ledger.create_account("token.user", "Trần Văn Token", "approver", "STC", actor=ADMIN)
    o.ledger.grant_role(
        "token.user", Role.HR_OFFICER, "STC", valid_from=date(2020, 1, 1), actor=ADMIN
    )
    actor = Actor("token.user", Role.HR_OFFICER, "STC")
    request = o.approvals.signing_request(pid, change, actor)
    assert request.payload["approves"]["changes"][0]["path"] == "employment.salary_step"
    o.approvals.submit(
        pid,
        change,
        actor=actor,
        signed_at=request.signed_at,
        signature=sign_digest(token_key, request.digest),
        certificate_pem=certificate_pem(token_cert),
    )
    assert len(o.ledger.profile(pid).approvals[change]["signatures"]) == 1
    assert o.approvals.verify(change).signatures[0].passed


def test_a_forged_signature_is_refused(office: Callable[..., Office]) -> None:
    o = office("bnv")
    pid = staffed(o, unit="STC")
    change = o.ledger.propose_change(
        pid, RAISE, reason="Nâng bậc lương", effective_date=date(2026, 9, 1), actor=HR
    )
    signer = o.chain("STC")[0]
    forger_key, _ = issue_certificate(
        o.issuing, "Kẻ giả mạo", valid_from=datetime(2020, 1, 1, tzinfo=UTC)
    )
    request = o.approvals.signing_request(pid, change, signer)
    from signing.registry import certificates

    (registered,) = [c for c in certificates(o.ledger) if c.holder_account == signer.account]
    before = o.ledger.profile(pid).version
    with pytest.raises(SignatureRefused, match="does not match what was approved"):
        o.approvals.submit(
            pid,
            change,
            actor=signer,
            signed_at=request.signed_at,
            signature=sign_digest(forger_key, request.digest),
            certificate_fingerprint=registered.fingerprint,
        )
    # A genuine signature over a different approval does not transfer either.
    other = sign_digest(forger_key, b"\0" * 32)
    with pytest.raises(SignatureRefused):
        o.approvals.submit(
            pid,
            change,
            actor=signer,
            signed_at=request.signed_at,
            signature=other,
            certificate_fingerprint=registered.fingerprint,
        )
    assert o.ledger.profile(pid).version == before


def test_a_signer_transferred_away_the_day_before_has_no_authority(
    office: Callable[..., Office],
) -> None:
    o = office("bnv")
    officer_pid = staffed(o, unit="STC", citizen_id="001090000001")
    officer = o.signer("lan.hr", Role.HR_OFFICER, "STC", profile_id=officer_pid)
    pid = staffed(o, unit="STC")
    change = o.ledger.propose_change(
        pid, RAISE, reason="Nâng bậc lương", effective_date=date(2026, 9, 1), actor=HR
    )
    d = decision("99/QĐ-UBND", date(2026, 11, 10))
    o.ledger.release_transfer(
        officer_pid, "SNV", effective_date=TODAY - timedelta(days=2), decision=d, actor=HR
    )
    o.ledger.receive_transfer(
        officer_pid,
        "SNV",
        department="Văn phòng",
        position="Chuyên viên",
        effective_date=TODAY - timedelta(days=1),
        decision=d,
        actor=HR,
    )
    with pytest.raises(SignatureRefused, match=r"lan\.hr worked in SNV on 2026-11-20, not in STC"):
        o.sign(officer, pid, change)
    assert o.ledger.profile(pid).approvals[change]["signatures"] == []


def test_an_expired_certificate_cannot_sign(office: Callable[..., Office]) -> None:
    o = office("bnv")
    pid = staffed(o, unit="STC")
    change = o.ledger.propose_change(
        pid, RAISE, reason="Nâng bậc lương", effective_date=date(2026, 9, 1), actor=HR
    )
    signer = o.signer(
        "hr_officer.stc", Role.HR_OFFICER, "STC", valid_until=datetime(2025, 12, 31, tzinfo=UTC)
    )
    with pytest.raises(SignatureRefused, match="expired"):
        o.sign(signer, pid, change)


def test_revocation_invalidates_signatures_from_its_date_on_not_before(
    office: Callable[..., Office],
) -> None:
    o = office("bnv")
    pid = staffed(o, unit="STC")
    first = o.ledger.propose_change(
        pid, RAISE, reason="Nâng bậc lương", effective_date=date(2026, 9, 1), actor=HR
    )
    officer, _ = o.chain("STC")
    o.sign(officer, pid, first)  # at 10:00
    from signing.registry import certificates

    (cert,) = [c for c in certificates(o.ledger) if c.holder_account == officer.account]
    revoked_at = NOW + timedelta(hours=2)
    revoke_certificate(o.ledger, cert.fingerprint, revoked_at, "Mất token", ADMIN)
    # The signature made before the revocation still verifies.
    report = o.approvals.verify(first)
    checks = {c.name: c for c in report.signatures[0].checks}
    assert checks["not revoked"].passed
    # After the revocation date the same certificate signs nothing.
    second = o.ledger.propose_change(
        pid,
        [("education.it_skills", "Ứng dụng CNTT cơ bản")],
        reason="Bổ sung",
        effective_date=TODAY,
        actor=HR,
    )
    o.clock[0] = revoked_at + timedelta(minutes=1)
    with pytest.raises(SignatureRefused, match="revoked on"):
        o.sign(officer, pid, second)


def test_hai_phong_signs_only_in_the_last_five_days_of_the_month(
    office: Callable[..., Office],
) -> None:
    o = office("haiphong")
    pid = staffed(o, unit="STC")
    change = o.ledger.propose_change(
        pid, RAISE, reason="Nâng bậc lương", effective_date=date(2026, 9, 1), actor=HR
    )
    (head,) = o.chain("STC")
    assert head.role is Role.UNIT_HEAD
    with pytest.raises(SignatureRefused, match="the window opens on 2026-11-26"):
        o.sign(head, pid, change)
    o.clock[0] = datetime(2026, 11, 27, 2, 0, tzinfo=UTC)
    o.sign(head, pid, change)  # one signature approves
    assert o.ledger.profile(pid).record["employment"]["salary_step"] == 4
    report = o.approvals.verify(change)
    window = {c.name: c for c in report.signatures[0].checks}["inside the signing window"]
    assert window.passed and "2026-11-27" in window.reason


def test_batch_signing_signs_all_in_one_act_or_nothing(office: Callable[..., Office]) -> None:
    o = office("bnv")
    pids = [staffed(o, unit="STC", citizen_id=f"0010850000{i:02d}") for i in range(4)]
    changes = [
        o.ledger.propose_change(
            pid, RAISE, reason="Nâng bậc lương", effective_date=date(2026, 9, 1), actor=HR
        )
        for pid in pids
    ]
    officer, head = o.chain("STC")
    items = list(zip(pids, changes, strict=True))
    # One of them is not this signer's to sign at this level: nothing is signed.
    o.sign(officer, pids[0], changes[0])
    with pytest.raises(SignatureRefused, match="nothing was signed") as refused:
        o.approvals.sign_batch(items[1:] + items[:1], actor=officer, passphrase=PASSPHRASE)
    assert changes[0] in refused.value.message
    assert all(o.ledger.profile(p).approvals[c]["signatures"] == [] for p, c in items[1:])
    o.approvals.sign_batch(items[1:], actor=officer, passphrase=PASSPHRASE)
    o.approvals.sign_batch(items, actor=head, passphrase=PASSPHRASE)
    assert all(o.ledger.profile(p).change_sets[c]["status"] == "approved" for p, c in items)


def test_rejection_sends_the_change_back_with_its_reason(office: Callable[..., Office]) -> None:
    o = office("bnv")
    pid = staffed(o, unit="STC")
    change = o.ledger.propose_change(
        pid, RAISE, reason="Nâng bậc lương", effective_date=date(2026, 9, 1), actor=HR
    )
    officer, head = o.chain("STC")
    o.sign(officer, pid, change)
    o.approvals.reject(pid, change, reason="Chưa đủ 36 tháng", actor=head)
    profile = o.ledger.profile(pid)
    assert profile.change_sets[change]["status"] == "rejected"
    assert profile.record["employment"]["salary_step"] == 3
    with pytest.raises(Exception, match="rejected"):
        o.sign(head, pid, change)


def test_a_transition_waits_for_its_chain_and_is_verified(office: Callable[..., Office]) -> None:
    o = office("bnv")
    pid = staffed(o, unit="STC")
    o.ledger.retire(pid, effective_date=date(2026, 10, 1), decision=decision("5/QĐ-STC"), actor=HR)
    profile = o.ledger.profile(pid)
    item = profile.record_item_id(profile.version - 1)
    pending: dict[str, Any] = profile.approvals[item]
    assert pending["subject"]["event"] == "Retired"
    assert [level["role"] for level in pending["chain"]] == ["hr_officer", "hr_head"]
    for signer in o.chain("STC"):
        o.sign(signer, pid, item)
    assert o.ledger.profile(pid).approvals[item]["status"] == "approved"
    report = o.approvals.verify(item)
    assert report.passed
    assert "effective_date = 2026-10-01" in "\n".join(report.in_plain_words())
