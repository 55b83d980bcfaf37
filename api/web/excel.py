"""The roster as an Excel workbook: Vietnamese headers, dates as dates, numbers as numbers,
one row per person in the order of the page, and a second sheet saying what was exported."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter

from api.web import labels

DATE_FORMAT = "DD/MM/YYYY"


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _number(value: Any) -> float | None:
    return None if value is None else float(Decimal(str(value)))


def _integer(value: Any) -> int | None:
    return None if value is None else int(value)


def _date(value: Any) -> date | None:
    return value if isinstance(value, date) else None


# (header, roster field, how the cell is made, number format, column width)
Column = tuple[str, str, Callable[[Any], Any], str | None, int]
COLUMNS: tuple[Column, ...] = (
    ("Họ và tên", "full_name", _text, None, 28),
    ("Ngày sinh", "birth_date", _date, DATE_FORMAT, 12),
    ("Giới tính", "gender", lambda v: labels.label(labels.GENDERS, v) or None, None, 10),
    ("Mã đơn vị", "unit_code", _text, None, 16),
    ("Phòng, ban", "department", _text, None, 24),
    ("Chức vụ", "position", _text, None, 20),
    ("Loại", "category", lambda v: labels.label(labels.CATEGORIES, v) or None, None, 16),
    ("Mã vị trí việc làm", "job_position_code", _text, None, 14),
    ("Mã ngạch", "rank_code", _text, None, 10),
    ("Bậc lương", "salary_step", _integer, "0", 10),
    ("Hệ số lương", "coefficient", _number, "0.00", 11),
    ("Ngày bắt đầu công tác", "start_date", _date, DATE_FORMAT, 14),
    ("Trạng thái", "status", lambda v: labels.label(labels.STATUSES, v) or None, None, 16),
    ("Mã hồ sơ", "profile_id", _text, None, 38),
)
HEADERS = ("STT", *(c[0] for c in COLUMNS))


def roster_workbook(
    rows: Iterable[dict[str, Any]], *, title: str, described: list[tuple[str, str]]
) -> bytes:
    """The workbook: sheet "Danh sách" (headers on the first row, filters on, the header
    row frozen) and sheet "Thông tin" (``described``: what, of which unit, on which date,
    filtered how, exported by whom and when)."""
    book = Workbook()
    sheet = book.active
    sheet.title = "Danh sách"
    sheet.append(HEADERS)
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DCE3EE")
    for cell in sheet[1]:
        cell.font = bold
        cell.fill = fill
        cell.alignment = Alignment(wrap_text=True, vertical="center")
    count = 0
    for count, row in enumerate(rows, start=1):
        sheet.append([count, *(make(row.get(field)) for _, field, make, _, _ in COLUMNS)])
    for index, (_, _, _, number_format, width) in enumerate(COLUMNS, start=2):
        letter = get_column_letter(index)
        sheet.column_dimensions[letter].width = width
        if number_format:
            for (cell,) in sheet.iter_rows(min_row=2, min_col=index, max_col=index):
                cell.number_format = number_format
    sheet.column_dimensions["A"].width = 6
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{get_column_letter(len(HEADERS))}{count + 1}"
    info = book.create_sheet("Thông tin")
    info.append([title])
    info["A1"].font = Font(bold=True, size=13)
    for what, value in described:
        info.append([what, value])
    info.append(["Số người", count])
    info.column_dimensions["A"].width = 24
    info.column_dimensions["B"].width = 60
    book.properties.title = title
    book.properties.created = datetime.now()
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
