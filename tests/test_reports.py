"""Workforce statistics as of a date and the annual report, on SQLite and PostgreSQL: the
figures match the people on staff then (replayed from the log, not from the read models),
the Excel files open with the right numbers and types, the chart is a PNG, the PDF a PDF."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, date, datetime
from io import BytesIO
from typing import Any

import pytest
from openpyxl import load_workbook
from PIL import Image
from pypdf import PdfReader

from domain.application import Ledger
from domain.calendar import to_business_date
from domain.national_sync import NationalSync
from domain.profile import Profile
from domain.values import Actor, Role
from operations.report_files import (
    annual_pdf,
    annual_workbook,
    statistics_chart,
    statistics_workbook,
)
from operations.reports import (
    AGE_BANDS,
    age_band,
    annual_report,
    workforce_statistics,
)
from projections.framework import Projector
from tests.builders import person, unit_tree
from tests.conftest import HEAD, HR, decision

SYSTEM = Actor(account="system", role=Role.SYSTEM, unit_code="")


def hire(ledger: Ledger, citizen_id: str, name: str, **values: Any) -> str:
    record = person(citizen_id)
    identity = {k: values.pop(k) for k in ("gender", "birth_date", "ethnicity") if k in values}
    record["identity"].update(full_name=name, **identity)
    if "education" in values:
        record["education"] = values.pop("education")
    record["employment"].update(values)
    return str(ledger.open_profile(record, decision=decision(), actor=HR))


@pytest.fixture
def province(ledger: Ledger, projector: Projector) -> dict[str, str]:
    """Seven people of a small province across a few years: recruitments, a transfer, a
    retirement, a death, a resignation and a degree."""
    unit_tree(ledger)
    people = {
        "an": hire(
            ledger,
            "001085000001",
            "Nguyễn Văn An",
            education={"professional_level": "dai_hoc", "political_theory": "trung_cap"},
        ),
        "binh": hire(
            ledger,
            "001090000002",
            "Trần Thị Bình",
            gender="female",
            birth_date=date(1990, 5, 2),
            ethnicity="02",
            start_date=date(2015, 3, 1),
            education={"professional_level": "thac_si"},
        ),
        "cuong": hire(
            ledger,
            "001064000003",
            "Lê Văn Cường",
            birth_date=date(1964, 2, 10),
            unit_code="STC.NS",
            start_date=date(2000, 1, 3),
        ),
        "dung": hire(
            ledger,
            "001080000004",
            "Phạm Thị Dung",
            gender="female",
            birth_date=date(1980, 8, 8),
            start_date=date(2005, 7, 1),
        ),
        "em": hire(
            ledger,
            "001075000005",
            "Hoàng Văn Em",
            birth_date=date(1975, 1, 20),
            unit_code="STC",
            start_date=date(2001, 4, 2),
            ethnicity="05",
        ),
        "ha": hire(
            ledger,
            "001092000006",
            "Vũ Thị Hà",
            gender="female",
            birth_date=date(1992, 12, 1),
            start_date=date(2012, 6, 1),
            category="contract_worker",
            rank_code="01.010",
            salary_step=2,
        ),
        "giang": hire(
            ledger,
            "001099000007",
            "Đỗ Văn Giang",
            birth_date=date(1999, 9, 9),
            start_date=date(2025, 6, 1),
        ),
    }
    d = decision("88/QĐ-UBND", date(2023, 2, 20))
    ledger.release_transfer(
        people["dung"], "STC", effective_date=date(2023, 3, 1), decision=d, actor=HR
    )
    ledger.receive_transfer(
        people["dung"],
        "STC",
        department="Phòng Quản lý giá",
        position="Chuyên viên",
        effective_date=date(2023, 3, 15),
        decision=d,
        actor=HR,
    )
    ledger.retire(people["cuong"], effective_date=date(2024, 7, 1), decision=d, actor=HR)
    ledger.record_death(people["em"], date_of_death=date(2025, 2, 10), decision=d, actor=HR)
    ledger.resign(people["ha"], effective_date=date(2024, 12, 31), decision=d, actor=HR)
    change = ledger.propose_change(
        people["an"],
        [("education.professional_level", "thac_si")],
        reason="Tốt nghiệp thạc sĩ",
        effective_date=date(2024, 6, 1),
        actor=HR,
    )
    ledger.approve_change(people["an"], change, actor=HEAD, decision=decision("45/QĐ-SNV"))
    projector.catch_up()
    return people


def replayed_staff(ledger: Ledger, people: dict[str, str], codes: set[str], day: date) -> list[Any]:
    """The people on staff of the units on a day, each profile replayed from its events."""
    found = []
    for pid in people.values():
        then = ledger.profile_as_of(pid, day)
        if then is not None and not then.status.departed and then.unit_code in codes:
            found.append(then)
    return found


UBND = {"UBND", "SNV", "STC", "STC.NS"}


@pytest.mark.parametrize(
    ("unit", "codes", "day"),
    [
        ("UBND", UBND, date(2023, 1, 1)),
        ("SNV", {"SNV"}, date(2023, 3, 10)),
        ("STC", {"STC", "STC.NS"}, date(2024, 8, 1)),
        ("UBND", UBND, date(2025, 12, 31)),
    ],
)
def test_statistics_as_of_a_past_date_count_the_people_present_then(
    ledger: Ledger,
    projector: Projector,
    province: dict[str, str],
    unit: str,
    codes: set[str],
    day: date,
) -> None:
    with projector.engine.connect() as conn:
        s = workforce_statistics(conn, unit, day)
    present = replayed_staff(ledger, province, codes, day)
    assert s.total == len(present) > 0
    record = [p.record for p in present]
    expected = {
        "category": Counter(r["employment"]["category"] for r in record),
        "rank": Counter(r["employment"].get("rank_code") for r in record),
        "gender": Counter(r["identity"]["gender"] for r in record),
        "ethnicity": Counter(r["identity"]["ethnicity"] for r in record),
        "education": Counter(r["education"].get("professional_level") for r in record),
        "political_theory": Counter(r["education"].get("political_theory") for r in record),
        "age_band": Counter(age_band(r["identity"]["birth_date"], day) for r in record),
    }
    for name, counts in expected.items():
        found = {k: v for k, v in s.counts(name).items() if v}
        assert found == {k: v for k, v in counts.items() if v}, name


def test_the_story_in_figures(projector: Projector, province: dict[str, str]) -> None:
    with projector.engine.connect() as conn:
        early = workforce_statistics(conn, "UBND", date(2023, 1, 1))
        snv_2023 = workforce_statistics(conn, "SNV", date(2023, 12, 31))
        stc_2023 = workforce_statistics(conn, "STC", date(2023, 12, 31))
        later = workforce_statistics(conn, "UBND", date(2025, 12, 31), period_from=date(2024, 1, 1))
    assert early.total == 6  # Giang starts in 2025
    assert early.counts("gender") == {"male": 3, "female": 3}
    assert early.counts("education") == {"dai_hoc": 1, "thac_si": 1, None: 4}
    assert snv_2023.changes["transferred_out"] == 1 and snv_2023.total == 3
    assert stc_2023.changes["transferred_in"] == 1 and stc_2023.total == 3
    # Within the province the transfer is no change; three left, one was recruited.
    assert dict(later.changes) == {
        "recruited": 1,
        "transferred_in": 0,
        "transferred_out": 0,
        "retired": 1,
        "deceased": 1,
        "resigned": 1,
        "dismissed": 0,
    }
    assert later.headcount_before == 6 and later.headcount_after == later.total == 4
    assert later.counts("education") == {"thac_si": 2, None: 2}  # An's degree of 2024


def test_the_statistics_workbook_opens_with_the_numbers_and_types(
    projector: Projector, province: dict[str, str]
) -> None:
    with projector.engine.connect() as conn:
        s = workforce_statistics(conn, "UBND", date(2025, 12, 31), period_from=date(2024, 1, 1))
    book = load_workbook(BytesIO(statistics_workbook(s)))
    assert book.sheetnames[0] == "Tổng hợp"
    assert len(book.sheetnames) == 1 + len(s.dimensions)
    summary = book["Tổng hợp"]
    values = {row[0]: row[1] for row in summary.iter_rows(min_row=3, values_only=True) if row[0]}
    assert values["Tổng số người"] == 4
    assert values["Số liệu tính đến ngày"] == datetime(2025, 12, 31)  # a date cell
    assert values["Giảm: Nghỉ hưu"] == 1 and values["Tăng: Tuyển dụng, tiếp nhận mới"] == 1
    gender = book["Giới tính"]
    rows = list(gender.iter_rows(min_row=4, values_only=True))
    assert rows[0][:3] == ("male", "Nam", 2) and rows[1][:3] == ("female", "Nữ", 2)
    assert isinstance(rows[0][3], float) and rows[0][3] == pytest.approx(0.5)
    assert gender.cell(row=4, column=4).number_format == "0.0%"
    assert rows[2][1:3] == ("Tổng cộng", 4)
    ages = {r[1]: r[2] for r in book["Độ tuổi"].iter_rows(min_row=4, values_only=True)}
    assert sum(v for k, v in ages.items() if k != "Tổng cộng") == 4
    assert set(ages) >= {label for _, _, label in AGE_BANDS}


def test_the_chart_is_a_png_image(projector: Projector, province: dict[str, str]) -> None:
    with projector.engine.connect() as conn:
        s = workforce_statistics(conn, "UBND", date(2025, 12, 31))
    png = statistics_chart(s)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    image = Image.open(BytesIO(png))
    image.verify()
    assert image.format == "PNG" and image.size[0] > 600 and image.size[1] > 600


@pytest.fixture
def syncs(ledger: Ledger, province: dict[str, str]) -> int:
    """Acknowledgements of the national database for two people (one twice)."""
    count = 0
    for name in ("an", "binh"):
        sync = NationalSync(profile_id=province[name], actor=SYSTEM)
        for version in (1, 2) if name == "an" else (1,):
            sync.acknowledge(
                f"{name}-{version}",
                item_version=version,
                receipt_id=f"R{version}",
                national_record_id=f"N-{name}",
                acknowledged_at=datetime.now(UTC),
                actor=SYSTEM,
            )
            count += 1
        ledger.save(sync)
    return count


def audit_counts(ledger: Ledger, year: int) -> Counter[str]:
    """Event types recorded in a year, counted from the log itself."""
    found: Counter[str] = Counter()
    head = ledger.recorder.max_notification_id() or 0
    for n in ledger.recorder.select_notifications(1, head):
        event = ledger.mapper.to_domain_event(n)
        if isinstance(event, Profile.Event) and to_business_date(event.timestamp).year == year:
            found[type(event).__name__] += 1
    return found


def test_the_annual_report_counts_the_events_of_the_year(
    ledger: Ledger, projector: Projector, province: dict[str, str], syncs: int
) -> None:
    rejected = ledger.propose_change(
        province["binh"],
        [("identity.hometown", "Huế")],
        reason="Sửa quê quán",
        effective_date=date(2026, 1, 5),
        actor=HR,
    )
    ledger.reject_change(province["binh"], rejected, reason="Thiếu giấy tờ", actor=HEAD)
    ledger.propose_change(
        province["an"],
        [("identity.hometown", "Hà Tĩnh")],
        reason="Sửa quê quán",
        effective_date=date(2026, 1, 5),
        actor=HR,
    )
    projector.catch_up()
    year = to_business_date(datetime.now(UTC)).year  # everything was recorded just now
    with projector.engine.connect() as conn:
        report = annual_report(
            conn, year, jurisdiction=ledger.jurisdiction, calendar=ledger.calendar
        )
        snv = annual_report(
            conn,
            year,
            jurisdiction=ledger.jurisdiction,
            calendar=ledger.calendar,
            unit_code="SNV",
        )
        before = annual_report(
            conn, year - 1, jurisdiction=ledger.jurisdiction, calendar=ledger.calendar
        )
    counted = audit_counts(ledger, year)
    assert report.records_created == counted["Opened"] == 7
    assert report.changes_proposed == counted["ChangeProposed"] == 3
    assert report.changes_approved == counted["ChangeApproved"] == 1
    assert report.changes_rejected == 1
    assert report.transitions["Retired"] == report.transitions["Died"] == 1
    assert report.transitions["TransferReceived"] == 1
    assert report.syncs == syncs == 3
    assert report.approval_delays.count == 1 and report.approval_delays.maximum == 0
    assert snv.records_created == 5  # all but Cường and Em were opened in SNV
    assert snv.transitions["TransferReceived"] == 0  # Dung was received by STC
    assert before.records_created == 0 and before.changes_approved == 0
    # Cần Thơ: reports before 25 May and 15 December (Điều 15.1).
    assert [d.due for d in report.reports_due] == [date(year, 12, 14), date(year + 1, 5, 24)]
    # The transfer in: entered years after it took effect, so done late.
    assert report.done_late >= 1
    assert sum(line.records_created for line in report.by_unit) == 7

    book = load_workbook(BytesIO(annual_workbook(report)))
    figures = {r[0]: r[1] for r in book["Báo cáo năm"].iter_rows(min_row=6, values_only=True)}
    assert figures["Hồ sơ mới được lập"] == 7
    assert figures["Thay đổi thông tin đã phê duyệt"] == 1
    assert figures["Dữ liệu đã đồng bộ lên CSDL quốc gia (lượt xác nhận)"] == 3
    assert figures["Thời gian phê duyệt trung bình (ngày làm việc)"] == 0  # a number
    assert book["Hạn báo cáo"]["D2"].value == datetime(year, 12, 14)

    pdf = annual_pdf(report)
    assert pdf[:5] == b"%PDF-"
    text = "".join(page.extract_text() for page in PdfReader(BytesIO(pdf)).pages)
    assert f"NĂM {year}" in text and "Hồ sơ mới được lập" in text
