"""The pages of scheduled operations in a real browser: deadline alerts on the dashboard of
the unit they concern (and not another's), the notices inbox with its unread count in the
navigation, the reports page (its figures the read model's, the Excel download), and the
Mẫu 2C bulk import that lists every faulty row and imports nothing until they are left
out. Every page, the second-factor enrolment and the "not found" page included, passes the
accessibility and keyboard checks. SQLite: the queries behind these pages are tested on
both stores by the operations' own tests."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from io import BytesIO
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from domain.values import Actor, Role
from operations.alerts import monitor_deadlines
from operations.notices import deliver
from operations.reports import workforce_statistics
from operations.resume_io import MAIN_COLUMNS, MAIN_SHEET
from tests.api_helpers import make_account
from tests.browser import *  # noqa: F403
from tests.browser import (
    LiveServer,
    check_accessibility,
    check_keyboard,
    screenshot,
    sign_in,
)
from tests.web_helpers import HOME_AFFAIRS_UNIT, current, figure, staff_now

FINANCE_UNIT = "000.00.02.H92"  # the demo's Department of Finance
OFFICER = Actor("tccb.snv", Role.HR_OFFICER, HOME_AFFAIRS_UNIT)
LABEL = {c.path: c.label for c in MAIN_COLUMNS}


@pytest.fixture(scope="module")
def web_backend() -> str:
    return "sqlite"


def _number(text: str) -> int:
    return int(text.strip().replace(".", ""))


def test_a_deadline_alert_shows_on_its_units_dashboard_and_not_on_another(
    page: Any, live_server: LiveServer
) -> None:
    ledger = live_server.ledger()
    person = staff_now(live_server, HOME_AFFAIRS_UNIT)[0]
    # A change entered today must be verified within one working day (Cần Thơ Điều 11.2.b).
    ledger.propose_change(
        person["profile_id"],
        [("identity.phone", "0912345678")],
        reason="Cập nhật số điện thoại",
        effective_date=ledger.today(),
        actor=OFFICER,
    )
    svc = current(live_server)
    changes = monitor_deadlines(svc.reader, ledger.calendar, ledger.today(), datetime.now(UTC))
    assert changes.opened >= 1
    finance = make_account(ledger, "tccb.stc", Role.HR_OFFICER, FINANCE_UNIT)

    sign_in(page, "tccb.snv")
    alerts = page.locator("#alerts-table tbody tr", has_text=person["full_name"])
    assert alerts.count() == 1
    row = alerts.first.inner_text()
    assert "Sắp đến hạn" in row and "Phê duyệt thay đổi" in row and "Sở Nội vụ" in row
    assert re.search(r"\d{2}/\d{2}/\d{4}", row)
    assert _number(figure(page, "cảnh báo thời hạn")) >= 1
    screenshot(page, "dashboard-alerts")
    check_accessibility(page, context="dashboard with alerts")
    check_keyboard(page)

    page.context.clear_cookies()
    sign_in(page, finance.username, finance.password, totp=finance.totp())
    assert "Sở Tài chính" in page.get_by_role("heading", level=1).inner_text()
    assert page.get_by_text(person["full_name"]).count() == 0
    assert "Sở Nội vụ" not in page.locator("#h-alerts + *").inner_text()


def test_a_notice_is_read_in_the_inbox_and_the_unread_count_drops(
    page: Any, live_server: LiveServer
) -> None:
    ledger = live_server.ledger()
    engine = live_server.app.state.services.reader
    now = datetime.now(UTC)
    for topic, subject in (
        ("test:one", "Kỳ ký duyệt tháng này: 2 hồ sơ chờ ký"),
        ("test:two", "Báo cáo năm sắp đến hạn nộp"),
    ):
        assert deliver(engine, ledger, "truongphong.snv", topic, subject, "Nội dung.", now)

    sign_in(page, "truongphong.snv")
    nav = page.get_by_role("navigation", name="Chức năng")
    link = nav.get_by_role("link", name="Thông báo")
    assert link.locator(".nav-count").inner_text().startswith("2")
    link.click()
    page.wait_for_url("**/notices")
    assert "2" in page.locator("#unread-count").inner_text()
    rows = page.locator("#notices-table tbody tr")
    assert rows.count() == 2
    screenshot(page, "notices")
    check_accessibility(page, context="notices")
    check_keyboard(page)

    page.get_by_role("button", name="Đánh dấu đã đọc: Báo cáo năm sắp đến hạn nộp").click()
    page.wait_for_url("**/notices")
    assert "Đã đánh dấu" in page.locator("#messages").inner_text()
    assert page.locator("#notices-table tbody tr.unread").count() == 1
    assert "1" in page.locator("#unread-count").inner_text()
    badge = page.get_by_role("navigation", name="Chức năng").locator(".nav-count")
    assert badge.inner_text().startswith("1")
    # unread first: the notice still unread is on top
    assert "Kỳ ký duyệt" in rows.first.inner_text()

    page.get_by_label("Địa chỉ thư điện tử nhận thông báo").fill("không phải địa chỉ")
    page.get_by_role("button", name="Lưu địa chỉ").click()
    assert page.locator("#f-email").get_attribute("aria-invalid") == "true"
    assert "không hợp lệ" in page.locator("#f-email-error").inner_text()
    check_accessibility(page, context="notices with an error")
    page.get_by_label("Địa chỉ thư điện tử nhận thông báo").fill("truongphong@snv.gov.vn")
    page.get_by_role("button", name="Lưu địa chỉ").click()
    page.wait_for_url("**/notices")
    assert "truongphong@snv.gov.vn" in page.locator("#h-email + p").inner_text()

    # An inspector reads its inbox but may not mark a notice read.
    assert deliver(engine, ledger, "thanhtra", "test:three", "Niêm phong sổ cái", "…", now)
    page.context.clear_cookies()
    sign_in(page, "thanhtra")
    page.goto("/notices")
    unread = page.locator("#notices-table tbody tr.unread")
    assert unread.count() == 1
    assert page.get_by_role("button", name=re.compile("Đánh dấu đã đọc")).count() == 0
    token = page.locator("form[action='/logout'] input[name=csrf_token]").get_attribute("value")
    notice_id = str(unread.get_attribute("id")).removeprefix("notice-")
    refused = page.request.post(
        f"/notices/{notice_id}/read", form={"csrf_token": token}, headers={"Accept": "text/html"}
    )
    assert refused.status == 403
    page.reload()
    assert page.locator("#notices-table tbody tr.unread").count() == 1


def test_the_reports_page_shows_the_read_models_figures_and_downloads_excel(
    page: Any, live_server: LiveServer
) -> None:
    sign_in(page, "sonoivu")
    page.get_by_role("navigation", name="Chức năng").get_by_role("link", name="Báo cáo").click()
    page.wait_for_url("**/reports")
    page.get_by_label("Đơn vị (gồm các đơn vị trực thuộc)").select_option(HOME_AFFAIRS_UNIT)
    page.get_by_label("Biến động từ ngày").fill("2020-01-01")
    page.get_by_role("button", name="Xem báo cáo").click()
    page.wait_for_url(re.compile(r"/reports\?unit="))

    svc = current(live_server)
    today = live_server.ledger().today()
    with svc.reader.connect() as conn:
        expected = workforce_statistics(
            conn, HOME_AFFAIRS_UNIT, today, period_from=date(2020, 1, 1)
        )
    assert expected.total > 0
    assert _number(page.locator("#stat-total").inner_text()) == expected.total
    for dimension in expected.dimensions:
        table = page.locator(f"#stat-{dimension.name} tbody tr")
        shown = {
            r.locator("th").inner_text().strip(): _number(r.locator("td").first.inner_text())
            for r in table.all()
        }
        assert shown == {c.label: c.count for c in dimension.counts}, dimension.name
    changes = page.locator("#stat-changes tbody tr td").all_inner_texts()
    assert _number(changes[0]) == expected.headcount_before
    assert _number(changes[-1]) == expected.headcount_after
    assert sum(map(_number, changes[1:-1])) == sum(expected.changes.values())
    shot = screenshot(page, "reports")
    assert shot.stat().st_size > 10_000
    check_accessibility(page, context="reports")
    check_keyboard(page)

    with page.expect_download() as download:
        page.get_by_role("link", name="Thống kê (Excel)").click()
    assert download.value.suggested_filename.endswith(".xlsx")
    with open(download.value.path(), "rb") as file:
        workbook = load_workbook(BytesIO(file.read()))
    cells = [v for sheet in workbook for row in sheet.iter_rows(values_only=True) for v in row]
    assert expected.total in cells and expected.unit_name in " ".join(map(str, cells))

    page.get_by_label("Số liệu tại ngày").fill("3000-01-01")
    page.get_by_role("button", name="Xem báo cáo").click()
    assert page.locator("#f-as_of").get_attribute("aria-invalid") == "true"
    assert "1900" in page.locator("#f-as_of-error").inner_text()


def _row(n: int) -> dict[str, Any]:
    return {
        LABEL["identity.full_name"]: f"Lê Thị Nhập {chr(65 + n)}",
        LABEL["identity.gender"]: "Nữ",
        LABEL["identity.birth_date"]: date(1985 + n, 3, 1 + n),
        LABEL["identity.ethnicity"]: "01",
        LABEL["identity.religion"]: "khong",
        LABEL["citizen.citizen_id"]: f"0791{n:08d}",
        LABEL["education.professional_level"]: "dai_hoc",
        LABEL["employment.category"]: "Công chức",
        LABEL["employment.unit_code"]: HOME_AFFAIRS_UNIT,
        LABEL["employment.department"]: "Phòng Công chức, viên chức",
        LABEL["employment.position"]: "Chuyên viên",
        LABEL["employment.rank_code"]: "01.003",
        LABEL["employment.salary_step"]: 1 + n % 5,
        LABEL["employment.start_date"]: date(2016, 1 + n, 1),
        LABEL["decision.number"]: f"{n + 1}/QĐ-SNV",
        LABEL["decision.signed_on"]: date(2015, 12, 20),
    }


def _workbook(rows: list[dict[str, Any]]) -> bytes:
    book = Workbook(write_only=True)
    main = book.create_sheet(MAIN_SHEET)
    main.append(["STT", *(c.label for c in MAIN_COLUMNS)])
    for n, row in enumerate(rows, start=1):
        main.append([n, *(row.get(c.label) for c in MAIN_COLUMNS)])
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def test_the_import_lists_the_faulty_rows_and_imports_the_rest_only_when_asked(
    page: Any, live_server: LiveServer, tmp_path: Any
) -> None:
    rows = [_row(n) for n in range(10)]
    rows[2][LABEL["identity.ethnicity"]] = "99"  # not in the catalogue
    rows[5][LABEL["identity.birth_date"]] = "31/02/1990"  # no such day
    rows[8][LABEL["employment.unit_code"]] = FINANCE_UNIT  # outside the officer's scope
    path = tmp_path / "mau-2c.xlsx"
    path.write_bytes(_workbook(rows))
    before = len(staff_now(live_server, HOME_AFFAIRS_UNIT))

    sign_in(page, "tccb.snv")
    page.goto("/reports")
    page.get_by_role("link", name="Nhập hồ sơ từ Mẫu 2C").click()
    page.wait_for_url("**/reports/import")
    check_accessibility(page, context="import form")
    check_keyboard(page)
    page.get_by_role("button", name="Kiểm tra và nhập").click()  # nothing chosen
    assert page.locator("#f-unit-error").inner_text() == "Vui lòng chọn đơn vị."
    assert "chọn tệp" in page.locator("#f-workbook-error").inner_text()

    page.get_by_label("Đơn vị nhập hồ sơ").select_option(HOME_AFFAIRS_UNIT)
    not_excel = tmp_path / "danh-sach.xlsx"
    not_excel.write_text("Họ và tên;Ngày sinh\n", encoding="utf-8")
    page.get_by_label("Tệp Excel Mẫu 2C (.xlsx)").set_input_files(str(not_excel))
    page.get_by_role("button", name="Kiểm tra và nhập").click()
    assert "không phải bảng tính Excel" in page.locator("#f-workbook-error").inner_text()
    assert page.locator("#f-unit").input_value() == HOME_AFFAIRS_UNIT
    page.get_by_label("Tệp Excel Mẫu 2C (.xlsx)").set_input_files(str(path))
    page.get_by_role("button", name="Kiểm tra và nhập").click()
    faults = page.locator("#faults-table tbody tr")
    assert faults.count() == 3
    by_row = {
        _number(r.locator("td").nth(1).inner_text()): r.locator("td").all_inner_texts()
        for r in faults.all()
    }
    assert sorted(by_row) == [4, 7, 10]  # a heading row, then the people from row 2
    assert by_row[4][2:] == ["Mã dân tộc", "Mã dân tộc 99 không có trong danh mục"]
    assert by_row[7][2] == "Ngày sinh"
    assert "ngoài phạm vi quản lý" in by_row[10][3]
    assert "Chưa có hồ sơ nào được nhập" in page.locator("#import-faults").inner_text()
    assert len(staff_now(live_server, HOME_AFFAIRS_UNIT)) == before
    screenshot(page, "resume-import-faults")
    check_accessibility(page, context="import with faulty rows")
    check_keyboard(page)

    page.get_by_role("button", name="Loại trừ 3 dòng lỗi và nhập 7 dòng còn lại").click()
    page.wait_for_url("**/reports/import")
    assert "Đã nhập 7 hồ sơ mới" in page.locator("#messages").inner_text()
    assert len(staff_now(live_server, HOME_AFFAIRS_UNIT)) == before + 7
    page.goto(f"/roster?unit={HOME_AFFAIRS_UNIT}&q=Lê Thị Nhập")
    assert page.get_by_text("Lê Thị Nhập A").count() >= 1


def test_second_factor_enrolment_and_the_not_found_page_are_accessible(
    page: Any, live_server: LiveServer
) -> None:
    newcomer = make_account(
        live_server.ledger(), "pheduyet.moi", Role.HR_HEAD, HOME_AFFAIRS_UNIT, totp=False
    )
    sign_in(page, newcomer.username, newcomer.password, totp=None, expect="/totp")
    assert "xác thực hai lớp" in page.get_by_role("heading", level=1).inner_text()
    check_accessibility(page, context="second-factor enrolment")
    check_keyboard(page)
    page.get_by_role("button", name="Xác nhận").click()
    assert page.locator("#f-code").get_attribute("aria-invalid") == "true"
    check_accessibility(page, context="second-factor enrolment with an error")

    response = page.goto("/khong-co-trang-nay")
    assert response.status == 404
    assert "Không tìm thấy" in page.get_by_role("heading", level=1).inner_text()
    check_accessibility(page, context="not found page")
    check_keyboard(page)
