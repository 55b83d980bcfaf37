"""The web pages in a real browser: signing in (with the second factor), the dashboard of
the account's scope, the unit tree, the roster (search without diacritics, filters,
Vietnamese order, a past date, updates in place) and its Excel export; every page passes
the accessibility check and can be used with the keyboard alone.
Every module of browser tests starts a live server: this one runs on SQLite (the pages'
behaviour in the browser does not depend on the store); test_web_roster.py runs the
roster's queries on both stores.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from domain.values import Role
from scripts.demo import DEMO_PASSWORD
from tests.api_helpers import make_account
from tests.browser import *  # noqa: F403
from tests.browser import (
    LiveServer,
    check_accessibility,
    check_keyboard,
    screenshot,
    sign_in,
)
from tests.web_helpers import HOME_AFFAIRS_UNIT, ROOT_UNIT, count, figure, staff_now


@pytest.fixture(scope="module")
def web_backend() -> str:
    return "sqlite"


def test_the_login_asks_the_second_factor_of_an_approver_next_to_its_field(
    page: Any, live_server: LiveServer
) -> None:
    page.goto("/")  # a visitor is sent to the login page
    assert re.search(r"/login\?next=", page.url)
    assert page.locator("html").get_attribute("lang") == "vi"
    check_accessibility(page, context="login page")
    check_keyboard(page)

    page.get_by_label("Tên đăng nhập").fill("tccb.snv")
    page.get_by_label("Mật khẩu").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    totp = page.get_by_label("Mã xác thực hai lớp (TOTP)")
    assert totp.get_attribute("aria-invalid") == "true"
    message = page.locator("#f-totp-error")
    assert "mã xác thực hai lớp" in message.inner_text().lower()
    assert "/login" in page.url
    assert "hoso_session" not in {c["name"] for c in page.context.cookies()}
    check_accessibility(page, context="login page with an error")

    page.get_by_label("Mật khẩu").fill(DEMO_PASSWORD)
    totp.fill("000000")
    page.get_by_role("button", name="Đăng nhập").click()
    assert "không đúng" in page.locator("#f-totp-error").inner_text()

    sign_in(page, "tccb.snv")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Tổng quan")
    cookie = next(c for c in page.context.cookies() if c["name"] == "hoso_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"


def test_a_login_posted_without_the_forms_own_token_signs_nobody_in(
    live_server: LiveServer,
) -> None:
    """Another site can make a browser post the login form, but cannot read the token that
    the form carries and its cookie matches: nobody is signed in that way."""
    credentials = {"username": "nhanvien", "password": DEMO_PASSWORD, "next": "/dashboard"}
    with httpx.Client(base_url=live_server.url) as http:
        refused = http.post("/login", data=credentials)
        assert refused.status_code == 403
        assert "hoso_session" not in refused.cookies
        assert "đăng nhập lại" in refused.text

        form = http.get("/login")
        token = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
        assert token is not None
        wrong = http.post("/login", data={**credentials, "login_csrf": token[1] + "x"})
        assert wrong.status_code == 403 and "hoso_session" not in wrong.cookies

        form = http.get("/login")
        token = re.search(r'name="login_csrf" value="([^"]+)"', form.text)
        assert token is not None
        signed_in = http.post("/login", data={**credentials, "login_csrf": token[1]})
        assert signed_in.status_code == 303 and "hoso_session" in signed_in.cookies


def test_pages_allow_only_their_own_scripts_and_break_no_rule_of_it(
    page: Any, live_server: LiveServer
) -> None:
    """Every page is sent with a Content-Security-Policy that allows scripts from hoso
    alone; the pages keep to it (the browser reports no violation) and still work."""
    violations: list[str] = []
    page.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    sign_in(page, "sonoivu")
    for path in ("/dashboard", "/units", "/roster", "/reports", "/notices", "/audit"):
        answer = page.goto(path)
        assert answer is not None and answer.ok, path
        policy = answer.headers["content-security-policy"]
        assert "script-src 'self'" in policy and "frame-ancestors 'none'" in policy
        assert answer.headers["x-content-type-options"] == "nosniff"
    page.goto("/roster")
    page.locator("#roster-table tbody a").first.click()
    page.wait_for_url(re.compile(r"/profiles/"))
    page.evaluate("window.print = () => { window.printed = true; }")
    page.get_by_role("button", name="In hồ sơ").click()
    assert page.evaluate("window.printed === true")  # the print button, without inline code
    assert violations == []


def test_the_dashboard_shows_the_figures_of_the_accounts_scope_and_a_chart(
    page: Any, live_server: LiveServer
) -> None:
    sign_in(page, "tccb.snv")  # HR officer of the Department of Home Affairs
    mine = staff_now(live_server, HOME_AFFAIRS_UNIT)
    assert figure(page, "người đang công tác") == str(len(mine))
    assert HOME_AFFAIRS_UNIT in page.get_by_role("heading", level=1).inner_text()
    # the chart: drawn in the page, its figures the scope's
    chart = page.locator("figure.chart svg[role=img]")
    assert chart.count() == 1
    cells = page.locator("#age-gender-table tbody td").all_text_contents()
    shown = sum(int(v) for v in cells)
    assert shown == len(mine)
    # navigation offers what the account may use, and not the rest
    nav = page.get_by_role("navigation", name="Chức năng")
    assert nav.get_by_role("link", name="Danh sách").count() == 1

    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_url("**/login*")
    sign_in(page, "sonoivu")  # the Department: the whole province
    everyone = staff_now(live_server, ROOT_UNIT)
    assert figure(page, "người đang công tác") == f"{len(everyone):,}".replace(",", ".")
    per_unit = page.locator("#h-units + .table-wrap tbody tr")
    assert per_unit.count() > 5
    assert page.locator("#h-category + table tbody tr").count() >= 2
    screenshot(page, "dashboard")
    check_accessibility(page, context="dashboard")
    check_keyboard(page)


def test_a_personal_account_has_no_roster_and_is_refused_it_by_url(
    page: Any, live_server: LiveServer
) -> None:
    sign_in(page, "nhanvien", totp=None)
    nav = page.get_by_role("navigation", name="Chức năng")
    assert nav.get_by_role("link", name="Danh sách").count() == 0
    response = page.goto(f"/roster?unit={HOME_AFFAIRS_UNIT}")
    assert response.status == 404
    assert "Không tìm thấy" in page.get_by_role("heading", level=1).inner_text()
    assert page.goto(f"/roster.xlsx?unit={HOME_AFFAIRS_UNIT}").status == 404


def test_the_unit_tree_and_the_password_page(page: Any, live_server: LiveServer) -> None:
    sign_in(page, "sonoivu")
    page.get_by_role("navigation", name="Chức năng").get_by_role("link", name="Đơn vị").click()
    page.wait_for_url("**/units")
    tree = page.get_by_role("list", name="Cây đơn vị")
    root = tree.locator(".node").first
    everyone = staff_now(live_server, ROOT_UNIT)
    assert re.search(rf"\b{len(everyone)} / ", root.inner_text())
    screenshot(page, "units")
    check_accessibility(page, context="unit tree")
    check_keyboard(page)
    tree.get_by_role("link", name="Sở Nội vụ").click()
    page.wait_for_url(re.compile(rf"/roster\?unit={HOME_AFFAIRS_UNIT}"))
    assert count(page) == len(staff_now(live_server, HOME_AFFAIRS_UNIT))

    page.goto("/password")
    check_accessibility(page, context="password page")
    check_keyboard(page)
    page.get_by_label("Mật khẩu hiện tại").fill(DEMO_PASSWORD)
    page.locator("#f-new_password").fill("ngắn")
    page.get_by_label("Nhập lại mật khẩu mới").fill("ngắn")
    page.get_by_role("button", name="Đổi mật khẩu").click()
    assert page.locator("#f-new_password").get_attribute("aria-invalid") == "true"
    assert "12" in page.locator("#f-new_password-error").inner_text()
    check_accessibility(page, context="password page with an error")


def test_a_new_password_and_the_lockout_after_repeated_failures(
    page: Any, live_server: LiveServer
) -> None:
    # Accounts of this test, with passwords hashed cheaply (the demo's cost 64 MiB each).
    ledger = live_server.ledger()
    changer = make_account(ledger, "doimatkhau", Role.HR_OFFICER, HOME_AFFAIRS_UNIT)
    locked = make_account(ledger, "bikhoa", Role.HR_OFFICER, HOME_AFFAIRS_UNIT)

    sign_in(page, changer.username, changer.password, totp=changer.totp)
    page.goto("/password")
    page.get_by_label("Mật khẩu hiện tại").fill(changer.password)
    page.locator("#f-new_password").fill("một mật khẩu mới đủ dài")
    page.get_by_label("Nhập lại mật khẩu mới").fill("một mật khẩu mới đủ dài")
    page.get_by_role("button", name="Đổi mật khẩu").click()
    page.wait_for_url("**/dashboard")
    assert "Đã đổi mật khẩu" in page.locator("#messages").inner_text()
    page.get_by_role("button", name="Đăng xuất").click()
    page.wait_for_url("**/login*")
    sign_in(page, changer.username, "một mật khẩu mới đủ dài", totp=changer.totp)

    page.context.clear_cookies()
    for _ in range(5):
        page.goto("/login")
        page.get_by_label("Tên đăng nhập").fill(locked.username)
        page.get_by_label("Mật khẩu").fill("không phải mật khẩu")
        page.get_by_role("button", name="Đăng nhập").click()
        assert "không đúng" in page.locator("#f-password-error").inner_text()
    page.get_by_label("Mật khẩu").fill(locked.password)
    page.get_by_label("Mã xác thực hai lớp (TOTP)").fill(locked.totp() or "")
    page.get_by_role("button", name="Đăng nhập").click()
    assert "đã bị khóa" in page.get_by_role("alert").inner_text()
    assert "/login" in page.url
