"""Mẫu 2C in Excel: a bulk import checks every row first and imports nothing while any
row is faulty; with the faulty rows left out it imports the rest at once; an export reads
back in. On SQLite and PostgreSQL."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from openpyxl import Workbook, load_workbook

from domain.application import Ledger
from domain.values import Actor, Decision
from operations.resume_io import (
    CITIZEN_ID_LABEL,
    LIST_SHEETS,
    MAIN_COLUMNS,
    MAIN_SHEET,
    import_resumes,
    resume_workbook,
)
from projections.framework import Projector
from projections.profiles import profile_view
from tests.builders import person, unit_tree
from tests.conftest import HR, TODAY, decision
from tests.readside import fresh_store

LABEL = {c.path: c.label for c in MAIN_COLUMNS}
IMPORTER = Actor(account="tccb.snv", role=HR.role, unit_code="SNV")
DEFAULT_DECISION = Decision("15/QĐ-SNV", date(2024, 1, 2), "Sở Nội vụ")
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi"]
GIVEN = ["An", "Bình", "Cường", "Dung", "Hà", "Giang", "Khánh", "Linh", "Minh", "Ngọc"]


def snv_scope(code: str) -> Actor | None:
    """The importer holds the HR role of the Department of Home Affairs only."""
    return IMPORTER if code == "SNV" else None


def valid_row(n: int) -> dict[str, Any]:
    rng = random.Random(n)
    return {
        LABEL["identity.full_name"]: f"{rng.choice(FAMILY)} Văn {rng.choice(GIVEN)}",
        LABEL["identity.gender"]: rng.choice(["Nam", "Nữ"]),
        LABEL["identity.birth_date"]: date(1970 + n % 30, 1 + n % 12, 1 + n % 28),
        LABEL["identity.ethnicity"]: rng.choice(["01", "02", "03"]),
        LABEL["identity.religion"]: "khong",
        LABEL["citizen.citizen_id"]: f"0790{n:08d}",
        LABEL["education.professional_level"]: rng.choice(["dai_hoc", "thac_si"]),
        LABEL["employment.category"]: "Công chức",
        LABEL["employment.unit_code"]: "SNV",
        LABEL["employment.department"]: "Phòng Công chức, viên chức",
        LABEL["employment.position"]: "Chuyên viên",
        LABEL["employment.rank_code"]: "01.003",
        LABEL["employment.salary_step"]: 1 + n % 9,
        LABEL["employment.start_date"]: date(2015, 1 + n % 12, 1),
        LABEL["decision.number"]: f"{n}/QĐ-SNV",
        LABEL["decision.signed_on"]: date(2014, 12, 20),
    }


# Ten kinds of fault, five rows each: what to change, and the column it is reported on.
FAULTS: list[tuple[str, Callable[[dict[str, Any], int], None], str]] = [
    (
        "unknown ethnicity",
        lambda r, n: r.update({LABEL["identity.ethnicity"]: "99"}),
        "identity.ethnicity",
    ),
    (
        "no such day",
        lambda r, n: r.update({LABEL["identity.birth_date"]: "31/02/1990"}),
        "identity.birth_date",
    ),
    (
        "short citizen ID",
        lambda r, n: r.update({LABEL["citizen.citizen_id"]: "07901234567"}),
        "citizen.citizen_id",
    ),
    (
        "twice in the file",
        lambda r, n: r.update({LABEL["citizen.citizen_id"]: f"0790{n - 1:08d}"}),
        "citizen.citizen_id",
    ),
    (
        "already in the store",
        lambda r, n: r.update({LABEL["citizen.citizen_id"]: f"00108500{n % 10_000:04d}"}),
        "citizen.citizen_id",
    ),
    (
        "unknown unit",
        lambda r, n: r.update({LABEL["employment.unit_code"]: "XYZ"}),
        "employment.unit_code",
    ),
    (
        "outside the importer's scope",
        lambda r, n: r.update({LABEL["employment.unit_code"]: "STC"}),
        "employment.unit_code",
    ),
    (
        "rank of another category",
        lambda r, n: r.update({LABEL["employment.rank_code"]: "V.07.01.03"}),
        "employment.rank_code",
    ),
    (
        "step out of range",
        lambda r, n: r.update({LABEL["employment.salary_step"]: 15}),
        "employment.salary_step",
    ),
    ("no name", lambda r, n: r.pop(LABEL["identity.full_name"]), "identity.full_name"),
]


def workbook(rows: list[dict[str, Any]], entries: list[list[Any]] = ()) -> bytes:  # type: ignore[assignment]
    book = Workbook(write_only=True)
    main = book.create_sheet(MAIN_SHEET)
    main.append(["STT", *(c.label for c in MAIN_COLUMNS)])
    for n, row in enumerate(rows, start=1):
        main.append([n, *(row.get(c.label) for c in MAIN_COLUMNS)])
    title, columns = LIST_SHEETS["rewards"]
    rewards = book.create_sheet(title)
    rewards.append([CITIZEN_ID_LABEL, *(c.label for c in columns)])
    for entry in entries:
        rewards.append(entry)
    out = BytesIO()
    book.save(out)
    return out.getvalue()


def head(ledger: Ledger) -> int:
    return ledger.recorder.max_notification_id() or 0


@pytest.fixture
def units(ledger: Ledger) -> Ledger:
    unit_tree(ledger)
    return ledger


def test_a_bulk_import_with_faulty_rows_imports_nothing_until_they_are_left_out(
    backend: str, units: Ledger
) -> None:
    ledger = units
    size = 5000 if backend == "sqlite" else 1000
    per_kind = 5
    for k in range(per_kind):  # the people the "already in the store" rows collide with
        ledger.open_profile(person(f"00108500{k:04d}"), decision=decision(), actor=HR)
    rows = [valid_row(n) for n in range(size)]
    expected: dict[int, tuple[str, str]] = {}  # spreadsheet row -> (kind, column)
    spacing = size // (len(FAULTS) * per_kind)  # faulty rows far apart, kinds interleaved
    for i in range(len(FAULTS) * per_kind):
        kind, spoil, path = FAULTS[i % len(FAULTS)]
        index = 3 + i * spacing
        spoil(rows[index], index if kind != "already in the store" else i // len(FAULTS))
        expected[index + 2] = (kind, LABEL[path])  # a heading row, and rows counted from 1
    rows_with_rewards = [
        rows[0][LABEL["citizen.citizen_id"]],
        date(2020, 5, 1),
        "Bằng khen",
        "12/QĐ",
        "",
    ]
    data = workbook(rows, [rows_with_rewards])
    before = head(ledger)

    refused = import_resumes(ledger, data, scope=snv_scope, source="hoso.xlsx")
    assert refused.refused and refused.imported == 0
    assert head(ledger) == before  # the store is unchanged
    assert refused.rows == size and refused.valid == size - len(expected)
    assert refused.faulty_rows == sorted(expected)
    found = {e.row: (e.column, e.reason) for e in refused.errors}
    assert len(refused.errors) == len(expected) == 50
    for row, (kind, column) in expected.items():
        assert found[row][0] == column, (kind, found[row])
        assert found[row][1] and found[row][1].isascii() is False, (kind, found[row])
    reasons = {expected[e.row][0]: e.reason for e in refused.errors}
    assert reasons["unknown ethnicity"] == "Mã dân tộc 99 không có trong danh mục"
    assert reasons["twice in the file"].startswith("Số định danh cá nhân trùng với dòng")
    assert reasons["already in the store"] == "Số định danh cá nhân này đã có hồ sơ trong hệ thống"
    assert reasons["outside the importer's scope"] == (
        "Đơn vị STC ngoài phạm vi quản lý của tài khoản nhập"
    )
    assert reasons["no name"] == "Thiếu họ và tên"

    imported = import_resumes(
        ledger, data, scope=snv_scope, skip_rows=sorted(expected), source="hoso.xlsx"
    )
    assert imported.errors == [] and imported.imported == size - 50
    assert head(ledger) == before + 2 * (size - 50)  # a profile and its citizen-ID claim each
    first = ledger.profile(ledger.profile_id_for_citizen(rows[0][LABEL["citizen.citizen_id"]]))
    assert first.record["rewards"] == [
        {"awarded_on": date(2020, 5, 1), "form": "Bằng khen", "decision_number": "12/QĐ"}
    ]
    opened = ledger.profile_events(first.id)[0]
    assert opened.actor == IMPORTER  # type: ignore[attr-defined]
    assert opened.decision.number == "0/QĐ-SNV"  # type: ignore[attr-defined]
    assert ledger.profile(imported.profile_ids[-1]).unit_code == "SNV"


def test_skip_invalid_imports_the_valid_rows_and_names_the_others(units: Ledger) -> None:
    ledger = units
    rows = [valid_row(n) for n in range(6)]
    rows[2][LABEL["identity.gender"]] = "Khác"
    rows[4][LABEL["employment.start_date"]] = date(1975, 1, 1)  # before the age of 15
    data = workbook(rows, [["079000000099", date(2020, 1, 1), "Giấy khen", "", ""]])
    report = import_resumes(ledger, data, scope=snv_scope, skip_invalid=True)
    assert report.imported == 4 and report.faulty_rows == [4, 6]
    assert [(e.sheet, e.row, e.column) for e in report.errors] == [
        (MAIN_SHEET, 4, "Giới tính"),
        (MAIN_SHEET, 6, "Ngày bắt đầu công tác"),
        ("Khen thưởng", 2, CITIZEN_ID_LABEL),  # nobody with that citizen ID
    ]
    assert report.errors[0].reason == "Giới tính là Nam hoặc Nữ"


def test_without_a_decision_in_the_row_the_default_one_is_recorded(units: Ledger) -> None:
    ledger = units
    row = valid_row(1)
    del row[LABEL["decision.number"]], row[LABEL["decision.signed_on"]]
    refused = import_resumes(ledger, workbook([row]), scope=snv_scope)
    assert refused.errors[0].reason == "Thiếu số và ngày ký quyết định tuyển dụng"
    report = import_resumes(ledger, workbook([row]), scope=snv_scope, decision=DEFAULT_DECISION)
    assert report.imported == 1
    opened = ledger.profile_events(report.profile_ids[0])[0]
    assert opened.decision == DEFAULT_DECISION  # type: ignore[attr-defined]


def test_an_export_reads_back_in(
    backend: str, units: Ledger, projector: Projector, tmp_path: Path
) -> None:
    ledger = units
    record = person("001085012345")
    record["rewards"] = [{"awarded_on": date(2021, 3, 1), "form": "Bằng khen"}]
    record["education"] = {"professional_level": "thac_si", "political_theory": "cao_cap"}
    pid = ledger.open_profile(record, decision=decision(), actor=HR)
    projector.catch_up()
    with projector.engine.connect() as conn:
        view = profile_view(conn, str(pid))
    assert view is not None
    data = resume_workbook([view])
    book = load_workbook(BytesIO(data))
    sheet = book[MAIN_SHEET]
    values = dict(zip([c.value for c in sheet[1]], [c.value for c in sheet[2]], strict=True))
    assert values["Họ và tên"] == "Nguyễn Văn An" and values["Giới tính"] == "Nam"
    assert values["Ngày sinh"] == datetime(1985, 3, 14)  # a date cell
    assert values["Bậc lương"] == 3 and float(values["Hệ số lương"]) == 3.0
    assert book["Khen thưởng"]["A2"].value == "001085012345"

    with fresh_store(backend, tmp_path, jurisdiction="cantho") as settings:
        other = Ledger(settings, clock=lambda: TODAY)
        try:
            unit_tree(other)
            report = import_resumes(other, data, scope=snv_scope, decision=DEFAULT_DECISION)
            assert report.imported == 1, report.errors
            assert other.profile(report.profile_ids[0]).record == ledger.profile(pid).record
        finally:
            other.close()
