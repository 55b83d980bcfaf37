"""The roster in a real browser, on SQLite and on PostgreSQL: search without diacritics,
filters, Vietnamese order, pages, the roster on a past date, updates in place, and the
view exported to Excel (opened with openpyxl, and recorded in the audit trail); and the
dashboard's figures, which the same read models give."""

from __future__ import annotations

import io
import re
from datetime import date, datetime
from pathlib import Path
from typing import Any

import openpyxl

from domain.vietnamese import fold, name_sort_key
from projections.audit import audit
from projections.history import staff_on
from tests.browser import *  # noqa: F403
from tests.browser import LiveServer, check_accessibility, check_keyboard, screenshot, sign_in
from tests.web_helpers import (
    HOME_AFFAIRS_UNIT,
    ROOT_UNIT,
    count,
    current,
    figure,
    names,
    staff_now,
)


def test_the_dashboard_counts_the_staff_of_the_scope(page: Any, live_server: LiveServer) -> None:
    sign_in(page, "tccb.snv")
    assert figure(page, "người đang công tác") == str(
        len(staff_now(live_server, HOME_AFFAIRS_UNIT))
    )
    page.goto(f"/dashboard?unit={ROOT_UNIT}")  # outside the officer's scope
    assert page.get_by_role("heading", level=1).inner_text() == "Không tìm thấy"


def test_the_roster_searches_without_diacritics_filters_and_keeps_vietnamese_order(
    page: Any, live_server: LiveServer
) -> None:
    sign_in(page, "sonoivu")
    page.goto("/roster")
    everyone = staff_now(live_server, ROOT_UNIT)
    assert count(page) == len(everyone)
    first = names(page)
    assert len(first) == 50  # one page
    assert first == sorted(first, key=name_sort_key)
    in_order = sorted(everyone, key=lambda r: (name_sort_key(r["full_name"]), r["profile_id"]))
    assert first == [r["full_name"] for r in in_order][:50]

    search = page.get_by_label("Họ tên (gõ có hoặc không dấu)")
    search.fill("nguyen thi")
    page.wait_for_url(re.compile(r"q=nguyen\+thi"))  # updated in place, address kept
    expected = [
        r for r in everyone if "nguyen" in fold(r["full_name"]) and "thi" in fold(r["full_name"])
    ]
    assert expected and count(page) == len(expected)
    assert all("Nguyễn" in n and "Thị" in n for n in names(page))

    page.get_by_label("Giới tính").select_option(label="Nữ")
    page.wait_for_url(re.compile(r"gender=female"))
    women = [r for r in expected if r["gender"] == "female"]
    assert count(page) == len(women)
    assert set(page.locator("#roster-table tbody td:nth-child(4)").all_inner_texts()) <= {"Nữ"}

    search.fill("")
    page.wait_for_url(lambda url: "q=" not in url)
    page.get_by_label("Loại", exact=True).select_option(label="Công chức")
    page.wait_for_url(re.compile(r"category=civil_servant"))
    civil = [r for r in everyone if r["category"] == "civil_servant" and r["gender"] == "female"]
    assert count(page) == len(civil)

    page.get_by_label("Nhóm tuổi").select_option(label="30–39 tuổi")
    page.wait_for_url(re.compile(r"age=1"))
    today = date.today()
    thirties = [r for r in civil if 30 <= _age(r["birth_date"], today) <= 39]
    assert count(page) == len(thirties)

    page.get_by_label("Đơn vị (gồm các đơn vị trực thuộc)").select_option(HOME_AFFAIRS_UNIT)
    page.wait_for_url(re.compile(HOME_AFFAIRS_UNIT))
    mine = {r["profile_id"] for r in staff_now(live_server, HOME_AFFAIRS_UNIT)}
    assert count(page) == len([r for r in thirties if r["profile_id"] in mine])

    page.goto("/roster")
    page.get_by_role("link", name="Trang sau ›").click()
    page.wait_for_url(re.compile(r"page=2"))
    assert page.locator("#roster-table tbody tr td:first-child").first.inner_text() == "51"
    screenshot(page, "roster")
    check_accessibility(page, context="roster")
    check_keyboard(page)

    # A name opens that person's profile page.
    person = in_order[50]
    page.get_by_role("link", name=person["full_name"]).first.click()
    page.wait_for_url(re.compile(r"/profiles/"))
    assert page.locator("h1").inner_text().strip() == person["full_name"]


def _age(born: date, on: date) -> int:
    return on.year - born.year - ((on.month, on.day) < (born.month, born.day))


def test_the_roster_as_it_stood_on_a_past_date(page: Any, live_server: LiveServer) -> None:
    sign_in(page, "sonoivu")
    page.goto("/roster")
    now = count(page)
    page.get_by_label("Tính đến ngày").fill("2012-06-30")
    page.wait_for_url(re.compile(r"as_of=2012-06-30"))
    svc = current(live_server)
    with svc.reader.connect() as conn:
        then = staff_on(conn, ROOT_UNIT, date(2012, 6, 30))
    assert count(page) == len(then) != now
    assert "tính đến ngày 30/06/2012" in page.locator("#roster-count").inner_text()
    assert names(page) == [r["full_name"] for r in then][:50]


def test_the_roster_view_exported_to_excel(page: Any, live_server: LiveServer) -> None:
    sign_in(page, "sonoivu")
    page.goto(f"/roster?unit={ROOT_UNIT}&category=public_employee")
    shown = count(page)
    before = len(_exports(live_server))
    assert shown > 50  # more than a page: the export has the whole view
    with page.expect_download() as waiting:
        page.get_by_role("link", name=re.compile("Xuất Excel")).click()
    download = waiting.value
    assert download.suggested_filename.endswith(".xlsx")
    book = openpyxl.load_workbook(io.BytesIO(Path(download.path()).read_bytes()))
    sheet = book["Danh sách"]
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][:4] == ("STT", "Họ và tên", "Ngày sinh", "Giới tính")
    assert "Hệ số lương" in rows[0] and "Ngày bắt đầu công tác" in rows[0]
    body = rows[1:]
    assert len(body) == shown
    header = rows[0]
    for row in body:
        record = dict(zip(header, row, strict=True))
        assert isinstance(record["STT"], int)
        assert isinstance(record["Ngày sinh"], datetime)
        assert record["Loại"] == "Viên chức"
        assert record["Giới tính"] in ("Nam", "Nữ")
        assert record["Hệ số lương"] is None or isinstance(record["Hệ số lương"], int | float)
        assert record["Bậc lương"] is None or isinstance(record["Bậc lương"], int)
    formats = {header[i]: sheet.cell(row=2, column=i + 1).number_format for i in range(len(header))}
    assert formats["Ngày sinh"] == "DD/MM/YYYY" and formats["Hệ số lương"] == "0.00"
    exported = [r[1] for r in body]
    assert exported == sorted(exported, key=name_sort_key)
    assert exported[:50] == names(page)
    # recorded in the audit trail, with who and when
    after = _exports(live_server)
    assert len(after) == before + 1
    assert after[-1]["actor_role"] == "home_affairs" and after[-1]["recorded_at"] is not None


def _exports(server: LiveServer) -> list[dict[str, Any]]:
    svc = current(server)
    with svc.reader.connect() as conn:
        return audit(conn, actor="sonoivu", event_type="Access.export", limit=1000)
