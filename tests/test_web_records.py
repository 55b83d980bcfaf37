"""The record pages in a real browser (Debian's chromium), on SQLite and PostgreSQL, under
the Ministry's rules (approval by the digital signatures of the HR officer, then the head
of the HR section, for a department): an employee proposes a change with a scanned
document, the two levels sign it in their inbox, the roster shows the new value and an
inspector reads the verification in plain words; a transfer ends the old unit's access;
another unit's profile typed into the address bar is "not found" exactly like one that
does not exist. Every page passes the accessibility and keyboard checks."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from domain.values import Actor, Role
from signing import keystore
from signing.pki import issue_certificate, make_issuing_ca, make_root_ca, pem_bundle
from signing.registry import intermediates_path, register_certificate, trust_anchors_path
from tests.browser import *  # noqa: F403
from tests.browser import (
    LiveServer,
    check_accessibility,
    check_keyboard,
    screenshot,
    sign_in,
    totp_code,
)

PASSPHRASE = "khóa ký số thử nghiệm"
SIGNERS = ("tccb.snv", "truongphong.snv")
NEW_NAME = "Trần Thị Thử Nghiệm"
# A scanned document as a PDF file starts (its magic number is what is checked).
SCAN = b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
ADMIN = Actor("demo", Role.SYSTEM, "")


@pytest.fixture(scope="module")
def web_jurisdiction() -> str:
    return "bnv"


@pytest.fixture(scope="module")
def demo_people() -> int:
    return 80


@pytest.fixture(scope="module")
def signing_keys(live_server: LiveServer) -> None:
    """A local certificate hierarchy, and a key in the server keystore for each signer."""
    ledger = live_server.ledger()
    start = datetime.now(UTC) - timedelta(days=1)
    root = make_root_ca("Root CA thử nghiệm", valid_from=start)
    issuing = make_issuing_ca(root, "CA cấp cho cán bộ", valid_from=start)
    for path, certs in (
        (trust_anchors_path(ledger.settings), [root.certificate]),
        (intermediates_path(ledger.settings), [issuing.certificate]),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pem_bundle(certs))
    for account in SIGNERS:
        key, cert = issue_certificate(
            issuing, f"Người ký {account}", valid_from=start, valid_until=start + timedelta(days=30)
        )
        keystore.store(
            keystore.default_directory(ledger.settings),
            account,
            key,
            cert,
            [issuing.certificate],
            PASSPHRASE,
        )
        register_certificate(ledger, cert, account, ADMIN)


def _as(page: Any, account: str) -> None:
    """Sign in as another person (the previous one's session is dropped)."""
    page.context.clear_cookies()
    sign_in(page, account, totp=None if account == "nhanvien" else totp_code)


def _own_profile(page: Any) -> str:
    page.goto("/me")
    href = page.get_by_role("link", name="Xem toàn bộ hồ sơ").get_attribute("href")
    return str(href).rsplit("/", 1)[-1]


def _checked(page: Any, name: str) -> None:
    check_keyboard(page)
    check_accessibility(page, context=name)


def _sign_inbox(page: Any, account: str, person: str) -> None:
    _as(page, account)
    page.goto("/approvals")
    item = page.locator("article.approval-item", has_text=person)
    item.get_by_role("checkbox").check()
    page.get_by_label("Mật khẩu khóa ký số").fill(PASSPHRASE)
    page.get_by_role("button", name="Ký số các hồ sơ đã chọn").click()
    page.wait_for_url("**/approvals")
    assert "Đã ký số phê duyệt" in page.locator("#messages").inner_text()
    assert page.locator("article.approval-item", has_text=person).count() == 0


def test_a_change_with_its_scan_goes_through_two_signatures_to_the_roster(
    page: Any, live_server: LiveServer, signing_keys: None
) -> None:
    _as(page, "nhanvien")
    pid = _own_profile(page)
    _checked(page, "/me")
    page.get_by_role("link", name="Đề nghị thay đổi thông tin").click()
    _checked(page, "change form")

    # Wrong input: the message stands next to the field, and nothing is saved.
    page.get_by_label("Trường thay đổi 1").select_option("identity.full_name")
    page.get_by_label("Giá trị mới 1").fill(NEW_NAME)
    page.get_by_label("Bản quét tài liệu chứng minh").set_input_files(
        {"name": "giay-to.pdf", "mimeType": "application/pdf", "buffer": b"not a scan at all"}
    )
    page.get_by_role("button", name="Gửi đề nghị").click()
    assert page.locator("#f-reason-error").inner_text() == "Vui lòng nêu lý do thay đổi."
    assert "phải là bản quét" in page.locator("#f-document-error").inner_text()
    check_accessibility(page, context="change form with errors")

    page.get_by_label("Lý do thay đổi").fill("Cải chính họ tên theo giấy khai sinh")
    page.get_by_label("Bản quét tài liệu chứng minh").set_input_files(
        {"name": "giay-khai-sinh.pdf", "mimeType": "application/pdf", "buffer": SCAN}
    )
    page.get_by_role("button", name="Gửi đề nghị").click()
    page.wait_for_url("**/me")
    proposal = page.locator("article.change-set").first
    assert "Đang chờ phê duyệt" in proposal.inner_text()
    assert NEW_NAME in proposal.inner_text()
    with page.expect_download() as download:
        page.get_by_role("link", name="giay-khai-sinh.pdf").click()
    assert download.value.path().read_bytes() == SCAN  # type: ignore[union-attr]
    change_set_id = live_server.ledger().profile(pid).pending_change_sets.popitem()[0]

    # The HR officer sees the difference in the inbox and signs the first level.
    _as(page, "tccb.snv")
    page.goto("/approvals")
    item = page.locator("article.approval-item").filter(has_text=NEW_NAME)
    assert "Cấp 1/2" in item.inner_text()
    assert "Họ và tên khai sinh" in item.locator("table.diff").inner_text()
    screenshot(page, "approval-inbox")
    _checked(page, "/approvals")
    page.goto(f"/profiles/{pid}")
    assert "Đã ký 0/2 cấp" in page.locator("article.change-set").inner_text()
    screenshot(page, "profile")
    _checked(page, "/profiles/{id}")
    _sign_inbox(page, "tccb.snv", NEW_NAME)
    # The head of the HR section signs the last level: the change is approved.
    _sign_inbox(page, "truongphong.snv", NEW_NAME)

    page.goto(f"/roster?q={NEW_NAME}")
    assert page.locator("main tbody td", has_text=NEW_NAME).count() == 1
    page.goto(f"/profiles/{pid}")
    assert NEW_NAME in page.locator("h1").inner_text()
    signed = page.locator("table.timeline tr", has_text="Ký số phê duyệt một cấp")
    assert signed.count() == 2
    assert all("✓" in signed.nth(i).inner_text() for i in range(2))

    # The inspector reads the verification in plain words.
    _as(page, "thanhtra")
    page.goto("/verify")
    _checked(page, "/verify (seal)")
    page.get_by_label(re.compile("Mã phê duyệt")).fill(change_set_id)
    page.get_by_role("button", name="Xác minh").click()
    verification = page.locator("section.verification")
    text = verification.inner_text()
    assert "XÁC MINH ĐẠT" in text and "2/2 chữ ký" in text
    assert "Cấp 1: " in text and "Cấp 2: " in text and "Người ký tccb.snv" in text
    assert text.count("✓") == 2 * 7 and "✗" not in text
    assert "Chữ ký số đúng với nội dung được phê duyệt" in text
    assert f"Họ và tên khai sinh\n{NEW_NAME}" in text or NEW_NAME in text
    _checked(page, "/verify?item=")
    page.goto(f"/audit?profile={pid}")
    approved = page.locator("tbody tr", has_text="Phê duyệt thay đổi")
    assert approved.filter(has_text="truongphong.snv").count() == 1
    _checked(page, "/audit")


def test_a_transfer_ends_the_old_units_access(page: Any, live_server: LiveServer) -> None:
    ledger = live_server.ledger()
    pid = _someone(live_server, "tccb.snv", inside=True)
    name = ledger.profile(pid).full_name
    # A unit outside the officer's scope: there the officer has no rights over the person.
    svc = live_server.app.state.services
    svc.current()
    scope = set().union(
        *(g.scope for g in svc.principal(ledger.account("tccb.snv"), ledger.today()).grants)
    )
    other = next(u for u in _unit_codes(live_server) if u not in scope)
    _as(page, "tccb.snv")
    page.goto(f"/profiles/{pid}/transitions?kind=release_transfer")
    _checked(page, "transition form")
    page.get_by_label("Mã đơn vị chuyển đến").fill(other)
    page.get_by_label("Số quyết định").fill("77/QĐ-SNV")
    page.get_by_label("Ngày ký quyết định").fill("2026-01-05")
    page.get_by_label(re.compile("Bản quét quyết định")).set_input_files(
        {"name": "qd-77.pdf", "mimeType": "application/pdf", "buffer": SCAN}
    )
    page.get_by_role("button", name="Ghi nhận").click()
    page.wait_for_url(f"**/profiles/{pid}")
    assert "Đang chuyển công tác" in page.locator(".facts").inner_text()
    assert ledger.profile(pid).transfer_to == other

    # The Department receives the person into the new unit; the old unit loses access.
    _as(page, "sonoivu")
    page.goto(f"/profiles/{pid}/transitions?kind=receive_transfer")
    page.get_by_label("Phòng, ban").fill("Phòng Tổng hợp")
    page.get_by_label("Chức vụ").fill("Chuyên viên")
    page.get_by_label("Số quyết định").fill("78/QĐ-UBND")
    page.get_by_label("Ngày ký quyết định").fill("2026-01-05")
    page.get_by_role("button", name="Ghi nhận").click()
    page.wait_for_url(f"**/profiles/{pid}")
    assert other in page.locator(".facts").inner_text()

    _as(page, "tccb.snv")
    answer = page.goto(f"/profiles/{pid}")
    assert answer is not None and answer.status == 404
    assert name not in page.content()


def test_another_units_profile_by_url_is_not_found_like_a_missing_one(
    page: Any, live_server: LiveServer
) -> None:
    ledger = live_server.ledger()
    _as(page, "tccb.snv")
    elsewhere = _someone(live_server, "tccb.snv", inside=False)
    hidden = page.goto(f"/profiles/{elsewhere}")
    hidden_text = page.locator("main").inner_text()
    missing = page.goto(f"/profiles/{uuid.uuid4()}")
    missing_text = page.locator("main").inner_text()
    assert hidden is not None and missing is not None
    assert hidden.status == missing.status == 404
    assert hidden_text == missing_text
    assert ledger.profile(elsewhere).full_name not in page.content()


def _unit_codes(live_server: LiveServer) -> list[str]:
    from projections.units import unit_list

    svc = live_server.app.state.services
    with svc.reader.connect() as conn:
        return [u["code"] for u in unit_list(conn) if u.get("parent_code")]


def _someone(live_server: LiveServer, account: str, *, inside: bool) -> str:
    """An active person (not one with a personal account) working in a unit the account
    has a grant over, or in one it has none over."""
    from projections.profiles import profiles

    svc = live_server.app.state.services
    principal = svc.principal(svc.ledger.account(account), svc.ledger.today())
    scope = set().union(*(g.scope for g in principal.grants))
    personal = svc.ledger.account("nhanvien").profile_id
    with svc.reader.connect() as conn:
        rows = conn.execute(profiles.select().where(profiles.c.status == "active")).fetchall()
    return next(
        str(r.profile_id)
        for r in rows
        if (r.unit_code in scope) == inside and str(r.profile_id) != personal
    )
