"""The reports as files people open: Excel workbooks (openpyxl), a chart image (matplotlib,
Agg backend) and a PDF (fpdf2), with Vietnamese headings in Noto Sans.

Cells hold real types: counts are numbers, shares are fractions shown as percentages, dates
are dates; so a spreadsheet can sum and chart them again.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from datetime import date
from io import BytesIO
from typing import Any

from fpdf import FPDF
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.worksheet import Worksheet

from operations.reports import (
    CHANGE_NAMES,
    ENTERED,
    LEFT,
    TRANSITION_NAMES,
    AnnualReport,
    WorkforceStatistics,
)
from signing.resume_pdf import _static_fonts  # Noto Sans, regular and bold, made once

DATE_FORMAT = "DD/MM/YYYY"
PERCENT_FORMAT = "0.0%"
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
TITLE_FONT = Font(bold=True, size=14)


def _vn_date(day: date) -> str:
    return day.strftime("%d/%m/%Y")


def _header(sheet: Worksheet, row: int, titles: Sequence[str]) -> None:
    for column, title in enumerate(titles, start=1):
        cell = sheet.cell(row=row, column=column, value=title)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        cell.alignment = Alignment(wrap_text=True, vertical="center")


def _widths(sheet: Worksheet, widths: Iterable[int]) -> None:
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width


def _saved(book: Workbook) -> bytes:
    out = BytesIO()
    book.save(out)
    return out.getvalue()


# -- workforce statistics ------------------------------------------------------------------


def statistics_workbook(s: WorkforceStatistics) -> bytes:
    """A summary sheet (the unit, the date, the total, the changes of the period), then
    one sheet per dimension: code, name, people, share of the total."""
    book = Workbook()
    summary = book.active
    assert summary is not None
    summary.title = "Tổng hợp"
    summary["A1"] = "THỐNG KÊ ĐỘI NGŨ CÁN BỘ, CÔNG CHỨC, VIÊN CHỨC"
    summary["A1"].font = TITLE_FONT
    for row, (label, value) in enumerate(
        (
            ("Đơn vị", f"{s.unit_name} ({s.unit_code}), gồm các đơn vị trực thuộc"),
            ("Số liệu tính đến ngày", s.as_of),
            ("Tổng số người", s.total),
            ("Kỳ biến động từ ngày", s.period_from),
            ("Đến ngày", s.period_to),
        ),
        start=3,
    ):
        summary.cell(row=row, column=1, value=label).font = HEADER_FONT
        cell = summary.cell(row=row, column=2, value=value)
        if isinstance(value, date):
            cell.number_format = DATE_FORMAT
    _header(summary, 9, ["Biến động trong kỳ", "Số người"])
    lines: list[tuple[str, int]] = [
        (f"Có mặt ngày {_vn_date(s.period_from)} (đầu kỳ)", s.headcount_before)
    ]
    lines += [(f"Tăng: {CHANGE_NAMES[k]}", s.changes[k]) for k in ENTERED]
    lines += [(f"Giảm: {CHANGE_NAMES[k]}", s.changes[k]) for k in LEFT]
    lines.append((f"Có mặt ngày {_vn_date(s.period_to)} (cuối kỳ)", s.headcount_after))
    for row, (label, count) in enumerate(lines, start=10):
        summary.cell(row=row, column=1, value=label)
        summary.cell(row=row, column=2, value=count)
    _widths(summary, (44, 60))
    for dimension in s.dimensions:
        sheet = book.create_sheet(dimension.title[:31])
        sheet["A1"] = f"{dimension.title} — {s.unit_name}, ngày {_vn_date(s.as_of)}"
        sheet["A1"].font = TITLE_FONT
        _header(sheet, 3, ["Mã", dimension.title, "Số người", "Tỷ lệ"])
        for line, entry in enumerate(dimension.counts, start=4):
            sheet.cell(row=line, column=1, value=entry.code)
            sheet.cell(row=line, column=2, value=entry.label)
            sheet.cell(row=line, column=3, value=entry.count)
            share = sheet.cell(row=line, column=4, value=entry.count / s.total if s.total else 0)
            share.number_format = PERCENT_FORMAT
        total_row = 4 + len(dimension.counts)
        sheet.cell(row=total_row, column=2, value="Tổng cộng").font = HEADER_FONT
        sheet.cell(row=total_row, column=3, value=s.total).font = HEADER_FONT
        _widths(sheet, (14, 48, 12, 10))
        sheet.freeze_panes = "A4"
    return _saved(book)


_chart_lock = threading.Lock()  # pyplot's state is global
CHART_BARS = 10  # bars in one chart at most


def statistics_chart(s: WorkforceStatistics) -> bytes:
    """One PNG with a bar chart per dimension and one for the changes of the period."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fonts = _static_fonts()
    with _chart_lock:
        for path in fonts.values():
            font_manager.fontManager.addfont(str(path))
        family = font_manager.FontProperties(fname=str(fonts[""])).get_name()
        with plt.rc_context({"font.family": family, "font.size": 9}):
            shown = [d for d in s.dimensions if d.name != "ethnicity"] + [None]
            rows = (len(shown) + 1) // 2
            figure, axes = plt.subplots(rows, 2, figsize=(13, 4 * rows), constrained_layout=True)
            figure.suptitle(
                f"Đội ngũ {s.unit_name} ngày {_vn_date(s.as_of)}: {s.total} người",
                fontsize=14,
                fontweight="bold",
            )
            for axis, dimension in zip(axes.flat, shown, strict=False):
                if dimension is None:
                    labels = [CHANGE_NAMES[k] for k in (*ENTERED, *LEFT)]
                    values = [s.changes[k] for k in (*ENTERED, *LEFT)]
                    title = f"Biến động từ {_vn_date(s.period_from)} đến {_vn_date(s.period_to)}"
                    colors = ["#2e7d32"] * len(ENTERED) + ["#c62828"] * len(LEFT)
                else:
                    top = list(dimension.counts)
                    if len(top) > CHART_BARS:  # the largest, where there are many
                        top = sorted(top, key=lambda c: -c.count)[:CHART_BARS]
                    labels = [_short(c.label) for c in top]
                    values = [c.count for c in top]
                    title = dimension.title
                    colors = ["#1565c0"] * len(values)
                positions = list(range(len(values)))
                axis.barh(positions, values, color=colors)
                axis.set_yticks(positions, labels)
                axis.invert_yaxis()
                axis.set_title(title, fontweight="bold")
                for y, value in zip(positions, values, strict=True):
                    axis.annotate(
                        str(value),
                        (value, y),
                        xytext=(3, 0),
                        textcoords="offset points",
                        va="center",
                    )
                axis.margins(x=0.15)
                axis.xaxis.set_major_locator(MaxNLocator(integer=True))
            for axis in list(axes.flat)[len(shown) :]:
                axis.set_visible(False)
            out = BytesIO()
            figure.savefig(out, format="png", dpi=80)
            plt.close(figure)
    return out.getvalue()


def _short(label: str, limit: int = 38) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


# -- the annual report ---------------------------------------------------------------------


def annual_lines(r: AnnualReport) -> list[tuple[str, Any]]:
    """The report's figures as (Vietnamese label, value) lines, in reading order."""
    delays = r.approval_delays
    lines: list[tuple[str, Any]] = [
        ("Hồ sơ mới được lập", r.records_created),
        ("Đề nghị thay đổi thông tin đã nhận", r.changes_proposed),
        ("Thay đổi thông tin đã phê duyệt", r.changes_approved),
        ("Thay đổi thông tin bị từ chối", r.changes_rejected),
        ("Hồ sơ, biến động được phê duyệt bằng chữ ký số", r.records_approved),
    ]
    lines += [(name, r.transitions[kind]) for kind, name in TRANSITION_NAMES.items()]
    lines += [
        ("Thời gian phê duyệt: số thay đổi", delays.count),
        ("Thời gian phê duyệt trung bình (ngày làm việc)", delays.mean),
        ("Thời gian phê duyệt trung vị (ngày làm việc)", delays.median),
        ("Thời gian phê duyệt dài nhất (ngày làm việc)", delays.maximum),
    ]
    lines += [(f"Phê duyệt trong {band} ngày làm việc", n) for band, n in delays.within.items()]
    lines += [
        ("Việc hoàn thành trễ hạn trong năm", r.done_late),
        ("Việc quá hạn chưa hoàn thành tại ngày 31/12", r.overdue_at_year_end),
        ("Dữ liệu đã đồng bộ lên CSDL quốc gia (lượt xác nhận)", r.syncs),
    ]
    return lines


def _title(r: AnnualReport) -> str:
    return f"BÁO CÁO TÌNH HÌNH QUẢN LÝ CƠ SỞ DỮ LIỆU CBCCVC NĂM {r.year}"


def annual_workbook(r: AnnualReport) -> bytes:
    """The figures, the deadlines by action, the units, and the report's due dates."""
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Báo cáo năm"
    sheet["A1"] = _title(r)
    sheet["A1"].font = TITLE_FONT
    sheet["A2"] = f"{r.unit_name} — {r.jurisdiction}"
    sheet["A3"] = "Ngày lập"
    sheet["B3"] = r.generated_on
    sheet["B3"].number_format = DATE_FORMAT
    _header(sheet, 5, ["Nội dung", "Số liệu"])
    for row, (label, value) in enumerate(annual_lines(r), start=6):
        sheet.cell(row=row, column=1, value=label)
        sheet.cell(row=row, column=2, value=value)
    _widths(sheet, (58, 14))

    deadlines = book.create_sheet("Thời hạn xử lý")
    _header(
        deadlines,
        1,
        ["Mã", "Việc", "Đúng hạn trong năm", "Trễ hạn trong năm", "Quá hạn tại 31/12"],
    )
    for row, line in enumerate(r.deadlines, start=2):
        for column, value in enumerate(
            (line.action, line.label, line.done_on_time, line.done_late, line.overdue_at_year_end),
            start=1,
        ):
            deadlines.cell(row=row, column=column, value=value)
    _widths(deadlines, (18, 40, 18, 18, 18))

    by_unit = book.create_sheet("Theo đơn vị")
    _header(
        by_unit,
        1,
        ["Mã đơn vị", "Tên đơn vị", "Hồ sơ mới", "Thay đổi đã duyệt", "Trễ hạn", "Quá hạn 31/12"],
    )
    for row, u in enumerate(r.by_unit, start=2):
        for column, value in enumerate(
            (
                u.unit_code,
                u.unit_name,
                u.records_created,
                u.changes_approved,
                u.done_late,
                u.overdue_at_year_end,
            ),
            start=1,
        ):
            by_unit.cell(row=row, column=column, value=value)
    _widths(by_unit, (16, 44, 12, 18, 10, 14))

    due = book.create_sheet("Hạn báo cáo")
    _header(due, 1, ["Báo cáo", "Căn cứ", "Phạm vi", "Hạn nộp"])
    for row, report in enumerate(r.reports_due, start=2):
        due.cell(row=row, column=1, value=report.name)
        due.cell(row=row, column=2, value=report.article)
        scope = "Đơn vị" if report.scope == "unit" else "Tỉnh, thành phố"
        due.cell(row=row, column=3, value=scope)
        due.cell(row=row, column=4, value=report.due).number_format = DATE_FORMAT
    _widths(due, (70, 14, 16, 14))
    return _saved(book)


def annual_pdf(r: AnnualReport) -> bytes:
    """The report on A4 in Noto Sans: the figures, the deadlines by action and by unit."""
    pdf = FPDF(format="A4")
    for style, path in _static_fonts().items():
        pdf.add_font("NotoSans", style, str(path))
    pdf.set_title(_title(r))
    pdf.set_margins(18, 16, 18)
    pdf.add_page()
    pdf.set_font("NotoSans", "B", 13)
    pdf.multi_cell(0, 7, _title(r), align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("NotoSans", "", 10)
    pdf.multi_cell(
        0,
        6,
        f"{r.unit_name} — {r.jurisdiction}. Ngày lập: {_vn_date(r.generated_on)}",
        align="C",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.ln(3)
    _pdf_table(
        pdf, ("Nội dung", "Số liệu"), [(k, _shown(v)) for k, v in annual_lines(r)], (130, 44)
    )
    if r.deadlines:
        pdf.ln(4)
        _pdf_heading(pdf, "Thời hạn xử lý theo loại việc")
        _pdf_table(
            pdf,
            ("Việc", "Đúng hạn", "Trễ hạn", "Quá hạn 31/12"),
            [
                (d.label, str(d.done_on_time), str(d.done_late), str(d.overdue_at_year_end))
                for d in r.deadlines
            ],
            (86, 28, 28, 32),
        )
    if r.by_unit:
        pdf.ln(4)
        _pdf_heading(pdf, "Theo đơn vị")
        _pdf_table(
            pdf,
            ("Đơn vị", "Hồ sơ mới", "Đã duyệt", "Trễ hạn", "Quá hạn"),
            [
                (
                    f"{u.unit_name} ({u.unit_code})",
                    str(u.records_created),
                    str(u.changes_approved),
                    str(u.done_late),
                    str(u.overdue_at_year_end),
                )
                for u in r.by_unit
            ],
            (82, 23, 23, 23, 23),
        )
    if r.reports_due:
        pdf.ln(4)
        _pdf_heading(pdf, "Hạn nộp báo cáo theo quy chế")
        _pdf_table(
            pdf,
            ("Báo cáo", "Căn cứ", "Hạn nộp"),
            [(d.name, d.article, _vn_date(d.due)) for d in r.reports_due],
            (110, 32, 32),
        )
    return bytes(pdf.output())


def _shown(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.2f}".replace(".", ",")
    return str(value)


def _pdf_heading(pdf: FPDF, text: str) -> None:
    pdf.set_font("NotoSans", "B", 11)
    pdf.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("NotoSans", "", 10)


def _pdf_table(
    pdf: FPDF, headings: Sequence[str], rows: Sequence[Sequence[str]], widths: Sequence[int]
) -> None:
    pdf.set_font("NotoSans", "", 9)
    with pdf.table(col_widths=tuple(widths), text_align="LEFT", line_height=5.5) as table:
        heading = table.row()
        for text in headings:
            heading.cell(text)
        for values in rows:
            row = table.row()
            for text in values:
                row.cell(str(text))
    pdf.set_font("NotoSans", "", 10)
