"""Résumés (sơ yếu lý lịch, Mẫu 2C) in and out of Excel, and one résumé as a Word document.

The Excel layout: the sheet "Mẫu 2C" has one row per person and one column per single
field of the résumé (identity, citizen ID, education, membership, health, the current
post) plus the recruitment decision; each list group (work history, training, rewards…)
has a sheet of its own, one row per entry, tied to its person by the citizen ID. Codes
come from the catalogues (sheet "Danh mục" lists them); dates are date cells (or text
dd/mm/yyyy); gender, category and yes/no cells take the Vietnamese words.

An import checks every row before it writes anything: each cell with the résumé's own
field rules, the required fields, the whole record with the domain's rules (rank against
category, salary step, age at recruitment…), the unit (it exists, is active, and is within
the importer's scope) and the citizen ID (unique in the file and not in the store). Each
fault names its sheet, row, column and the reason in Vietnamese. While any row is faulty
nothing is imported, unless the faulty rows are left out explicitly (``skip_invalid``, or
the row numbers in ``skip_rows``); then every valid row is imported in one transaction of
the store (all of them or none), each profile opened by the importing account.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from functools import cached_property
from io import BytesIO
from typing import Any

from eventsourcing.persistence import IntegrityError
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from python_calamine import CalamineWorkbook

from domain import catalogues
from domain.application import Ledger
from domain.errors import DomainError, DuplicateCitizenId, InvalidInput, NotFound
from domain.profile import Profile
from domain.resume import GROUPS, clean_record
from domain.unit import Unit
from domain.values import Actor, Decision, nfc

MAIN_SHEET = "Mẫu 2C"
CATALOGUE_SHEET = "Danh mục"
ROW_NUMBER = "STT"
DATE_FORMAT = "DD/MM/YYYY"
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")

GENDER_WORDS = {"Nam": "male", "Nữ": "female"}
CATEGORY_WORDS = {
    "Cán bộ": "cadre",
    "Công chức": "civil_servant",
    "Viên chức": "public_employee",
    "Người lao động": "contract_worker",
}
YES, NO = "Có", "Không"


@dataclass(frozen=True)
class Column:
    path: str  # "identity.full_name"; "decision.number" for the recruitment decision
    label: str  # the Vietnamese heading
    kind: str = "text"  # how a cell is read: see CELL_REASONS

    @cached_property
    def group(self) -> str:
        return self.path.partition(".")[0]

    @cached_property
    def name(self) -> str:
        return self.path.partition(".")[2]


def _columns(group: str, labels: Mapping[str, str], kinds: Mapping[str, str]) -> list[Column]:
    return [
        Column(f"{group}.{name}", label, kinds.get(name, "text")) for name, label in labels.items()
    ]


MAIN_COLUMNS: tuple[Column, ...] = (
    *_columns(
        "identity",
        {
            "full_name": "Họ và tên",
            "other_names": "Tên gọi khác",
            "gender": "Giới tính",
            "birth_date": "Ngày sinh",
            "birth_place": "Nơi sinh",
            "hometown": "Quê quán",
            "permanent_address": "Nơi thường trú",
            "current_address": "Nơi ở hiện nay",
            "ethnicity": "Mã dân tộc",
            "religion": "Mã tôn giáo",
            "phone": "Điện thoại",
            "email": "Thư điện tử",
        },
        {
            "gender": "gender",
            "birth_date": "date",
            "ethnicity": "ethnicity",
            "religion": "religion",
        },
    ),
    *_columns(
        "citizen",
        {
            "citizen_id": "Số định danh cá nhân",
            "issued_on": "Ngày cấp CCCD",
            "issued_by": "Nơi cấp CCCD",
        },
        {"citizen_id": "citizen_id", "issued_on": "date"},
    ),
    *_columns(
        "education",
        {
            "general_education": "Giáo dục phổ thông",
            "professional_level": "Mã trình độ chuyên môn",
            "major": "Chuyên ngành",
            "political_theory": "Mã lý luận chính trị",
            "state_management": "Mã quản lý nhà nước",
            "foreign_languages": "Ngoại ngữ",
            "it_skills": "Tin học",
            "academic_title": "Học hàm",
        },
        {
            "professional_level": "education",
            "political_theory": "political_theory",
            "state_management": "state_management",
        },
    ),
    *_columns(
        "membership",
        {
            "party_join_date": "Ngày vào Đảng",
            "party_official_date": "Ngày chính thức vào Đảng",
            "youth_union_join_date": "Ngày vào Đoàn",
            "trade_union": "Công đoàn viên",
        },
        {
            "party_join_date": "date",
            "party_official_date": "date",
            "youth_union_join_date": "date",
            "trade_union": "bool",
        },
    ),
    *_columns(
        "health",
        {
            "health_status": "Tình trạng sức khỏe",
            "height_cm": "Chiều cao (cm)",
            "weight_kg": "Cân nặng (kg)",
            "blood_type": "Nhóm máu",
        },
        {"height_cm": "int", "weight_kg": "int"},
    ),
    *_columns(
        "employment",
        {
            "category": "Loại CBCCVC",
            "unit_code": "Mã đơn vị",
            "department": "Phòng, ban",
            "position": "Chức vụ, chức danh",
            "job_position_code": "Mã vị trí việc làm",
            "rank_code": "Mã ngạch",
            "salary_step": "Bậc lương",
            "coefficient": "Hệ số lương",
            "start_date": "Ngày bắt đầu công tác",
        },
        {
            "category": "category",
            "rank_code": "rank",
            "salary_step": "int",
            "coefficient": "decimal",
            "start_date": "date",
        },
    ),
    Column("decision.number", "Số quyết định tuyển dụng"),
    Column("decision.signed_on", "Ngày ký quyết định", "date"),
    Column("decision.issuer", "Cơ quan ban hành quyết định"),
)

# The list groups: their sheet names and their columns (after the citizen ID).
LIST_SHEETS: dict[str, tuple[str, tuple[Column, ...]]] = {
    "work_history": (
        "Quá trình công tác",
        tuple(
            _columns(
                "work_history",
                {"from_date": "Từ ngày", "to_date": "Đến ngày", "description": "Nội dung"},
                {"from_date": "date", "to_date": "date"},
            )
        ),
    ),
    "training": (
        "Đào tạo, bồi dưỡng",
        tuple(
            _columns(
                "training",
                {
                    "institution": "Cơ sở đào tạo",
                    "major": "Chuyên ngành",
                    "from_date": "Từ ngày",
                    "to_date": "Đến ngày",
                    "mode": "Hình thức",
                    "qualification": "Văn bằng",
                },
                {"from_date": "date", "to_date": "date"},
            )
        ),
    ),
    "rewards": (
        "Khen thưởng",
        tuple(
            _columns(
                "rewards",
                {
                    "awarded_on": "Ngày khen thưởng",
                    "form": "Hình thức",
                    "decision_number": "Số quyết định",
                    "reason": "Lý do",
                },
                {"awarded_on": "date"},
            )
        ),
    ),
    "discipline": (
        "Kỷ luật",
        tuple(
            _columns(
                "discipline",
                {
                    "decided_on": "Ngày quyết định",
                    "form": "Hình thức",
                    "decision_number": "Số quyết định",
                    "reason": "Lý do",
                },
                {"decided_on": "date"},
            )
        ),
    ),
    "family_relations": (
        "Quan hệ gia đình",
        tuple(
            _columns(
                "family_relations",
                {
                    "relation": "Quan hệ",
                    "full_name": "Họ và tên",
                    "birth_year": "Năm sinh",
                    "details": "Quê quán, nghề nghiệp, nơi ở",
                },
                {"birth_year": "int"},
            )
        ),
    ),
    "salary_history": (
        "Quá trình lương",
        tuple(
            _columns(
                "salary_history",
                {
                    "from_date": "Từ ngày",
                    "rank_code": "Mã ngạch",
                    "salary_step": "Bậc",
                    "coefficient": "Hệ số",
                },
                {
                    "from_date": "date",
                    "rank_code": "rank",
                    "salary_step": "int",
                    "coefficient": "decimal",
                },
            )
        ),
    ),
    "allowances": (
        "Phụ cấp",
        tuple(
            _columns(
                "allowances",
                {
                    "kind": "Loại phụ cấp",
                    "rate": "Mức",
                    "from_date": "Từ ngày",
                    "to_date": "Đến ngày",
                },
                {"rate": "decimal", "from_date": "date", "to_date": "date"},
            )
        ),
    ),
    "annual_evaluation": (
        "Đánh giá hằng năm",
        tuple(
            _columns("annual_evaluation", {"year": "Năm", "rating": "Xếp loại"}, {"year": "int"})
        ),
    ),
    "succession_planning": (
        "Quy hoạch",
        tuple(
            _columns(
                "succession_planning",
                {
                    "position": "Chức danh quy hoạch",
                    "period": "Giai đoạn",
                    "decision_number": "Số quyết định",
                },
                {},
            )
        ),
    ),
}
CITIZEN_ID_LABEL = "Số định danh cá nhân"

# Why a cell was refused, by how it is read; {value} is what the cell held.
CELL_REASONS = {
    "text": "Giá trị không hợp lệ",
    "date": "Ngày không hợp lệ (nhập ô ngày hoặc dạng dd/mm/yyyy)",
    "int": "Phải là số nguyên",
    "decimal": "Phải là số",
    "bool": "Nhập Có hoặc Không",
    "citizen_id": "Số định danh cá nhân phải gồm đúng 12 chữ số",
    "gender": "Giới tính là Nam hoặc Nữ",
    "category": "Loại CBCCVC là Cán bộ, Công chức, Viên chức hoặc Người lao động",
    "ethnicity": "Mã dân tộc {value} không có trong danh mục",
    "religion": "Mã tôn giáo {value} không có trong danh mục",
    "education": "Mã trình độ chuyên môn {value} không có trong danh mục",
    "political_theory": "Mã lý luận chính trị {value} không có trong danh mục",
    "state_management": "Mã quản lý nhà nước {value} không có trong danh mục",
    "rank": "Mã ngạch {value} không có trong danh mục",
}
# Why the domain refused a whole record, by the field it names.
RULE_REASONS = {
    "identity.birth_date": "Ngày sinh sau ngày hiện tại",
    "employment.rank_code": "Ngạch không phù hợp với loại CBCCVC, hoặc thiếu mã ngạch",
    "employment.salary_step": "Bậc lương không có trong thang lương của ngạch, hoặc thiếu bậc",
    "employment.coefficient": "Hệ số lương không đúng với ngạch và bậc",
    "employment.start_date": "Ngày bắt đầu công tác trước tuổi lao động hoặc sau ngày hiện tại",
    "salary_history": "Quá trình lương: hệ số không đúng với ngạch và bậc",
}


@dataclass(frozen=True)
class RowError:
    sheet: str
    row: int  # the row number the spreadsheet shows
    column: str  # the column's heading ("" for the row as a whole)
    reason: str  # in Vietnamese
    detail_en: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "sheet": self.sheet,
            "row": self.row,
            "column": self.column,
            "reason": self.reason,
            "detail_en": self.detail_en,
        }


@dataclass
class ImportReport:
    rows: int  # people in the file (rows of the main sheet)
    imported: int
    errors: list[RowError]
    faulty_rows: list[int]  # rows of the main sheet that cannot be imported
    excluded_rows: list[int]  # rows left out on request (skip_rows)
    profile_ids: list[str] = field(default_factory=list)
    dry_run: bool = False
    valid: int = 0  # rows that would be imported

    @property
    def refused(self) -> bool:
        """Nothing was imported because some row is faulty."""
        return self.imported == 0 and bool(self.errors) and not self.dry_run


class UnreadableWorkbook(InvalidInput):
    def __init__(self, message: str) -> None:
        super().__init__(message, "workbook")


# -- reading cells -------------------------------------------------------------------------


def _parse_date(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    parts = text.split("/")
    if len(parts) == 3 and all(p.isdigit() for p in parts):
        day, month, year = (int(p) for p in parts)
        return date(year, month, day)  # ValueError on a day that does not exist
    return text  # ISO text, checked by the field's own rule


def _whole(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def cell_value(column: Column, value: Any) -> Any:
    """A cell as the résumé's field rule takes it (the rule itself checks it)."""
    kind = column.kind
    if isinstance(value, str):
        value = nfc(value)
    if kind == "date":
        return _parse_date(value)
    if kind == "int":
        return _whole(value)
    if kind == "decimal":
        return str(value)
    if kind == "bool":
        return {YES: True, NO: False}.get(value, value)
    if kind == "gender":
        return GENDER_WORDS.get(value, value)
    if kind == "category":
        return CATEGORY_WORDS.get(value, value)
    if kind == "citizen_id" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value)).zfill(12)  # a number cell lost the leading zeros
    if kind == "ethnicity" and isinstance(value, int | float) and not isinstance(value, bool):
        return str(int(value)).zfill(2)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(_whole(value))
    return value


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _read_entry(
    columns: Sequence[Column], values: Mapping[str, Any], sheet: str, row: int
) -> tuple[dict[str, dict[str, Any]], list[RowError]]:
    """The cells of a row by group and field, each checked by its field rule."""
    found: dict[str, dict[str, Any]] = {}
    errors: list[RowError] = []
    for column in columns:
        raw = values.get(column.label)
        if _blank(raw):
            continue
        try:
            value = cell_value(column, raw)
            if column.group != "decision":
                value = GROUPS[column.group].fields[column.name](value)
        except (ValueError, LookupError, TypeError) as exc:
            reason = CELL_REASONS[column.kind].format(value=raw)
            errors.append(RowError(sheet, row, column.label, reason, str(exc).strip("'\"")))
            continue
        found.setdefault(column.group, {})[column.name] = value
    return found, errors


def _required(
    columns: Sequence[Column],
    found: Mapping[str, Mapping[str, Any]],
    sheet: str,
    row: int,
    faults: Sequence[RowError] = (),
) -> list[RowError]:
    """Required cells left empty (a cell refused already is not reported again)."""
    refused = {e.column for e in faults}
    errors = []
    for column in columns:
        if column.label in refused:
            continue
        group = GROUPS.get(column.group)
        required = group is not None and column.name in group.required
        if required and column.name not in found.get(column.group, {}):
            errors.append(RowError(sheet, row, column.label, f"Thiếu {column.label.lower()}"))
    return errors


# -- the workbook --------------------------------------------------------------------------


@dataclass
class _Sheet:
    name: str
    rows: list[tuple[int, dict[str, Any]]]  # row number, values by heading


def _sheets(data: bytes) -> dict[str, _Sheet]:
    """Every sheet's rows by heading (read with calamine: a bulk file reads in a moment)."""
    try:
        book = CalamineWorkbook.from_filelike(BytesIO(data))
        tables = {
            name: book.get_sheet_by_name(name).to_python(skip_empty_area=False)
            for name in book.sheet_names
        }
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # calamine's errors, or a panic of its parser, on a bad file
        raise UnreadableWorkbook(f"not an Excel workbook (.xlsx): {exc}") from None
    sheets: dict[str, _Sheet] = {}
    for name, lines in tables.items():
        if not lines:
            continue
        headings = [nfc(str(h)) if h is not None else "" for h in lines[0]]
        rows = [
            (number, dict(zip(headings, line, strict=False)))
            for number, line in enumerate(lines[1:], start=2)
            if not all(_blank(v) for v in line)
        ]
        sheets[nfc(name)] = _Sheet(nfc(name), rows)
    if MAIN_SHEET not in sheets:
        raise UnreadableWorkbook(f"the workbook has no sheet {MAIN_SHEET!r}")
    return sheets


@dataclass
class _Candidate:
    row: int
    record: dict[str, Any]
    decision: Decision | None
    citizen_id: str | None
    errors: list[RowError] = field(default_factory=list)


def _rule_error(exc: DomainError, row: int, by_path: Mapping[str, str]) -> RowError:
    field_name = getattr(exc, "field", None) or ""
    if exc.code == "unit_not_active":
        return RowError(
            MAIN_SHEET,
            row,
            by_path["employment.unit_code"],
            "Đơn vị đã sáp nhập hoặc giải thể",
            exc.message,
        )
    reason = RULE_REASONS.get(field_name, "Không hợp lệ theo quy định về hồ sơ")
    column = by_path.get(field_name, by_path.get(field_name.partition(".")[0], ""))
    return RowError(MAIN_SHEET, row, column, reason, exc.message)


def import_resumes(
    ledger: Ledger,
    data: bytes,
    *,
    scope: Callable[[str], Actor | None],
    skip_invalid: bool = False,
    skip_rows: Iterable[int] = (),
    decision: Decision | None = None,
    dry_run: bool = False,
    source: str = "",
) -> ImportReport:
    """Check every row of a Mẫu 2C workbook, then import the valid ones in one transaction
    if no row is faulty (or the faulty ones are left out). ``scope(unit_code)`` is the
    actor that records a profile of that unit, or None where the importer may not;
    ``decision`` stands for the rows that name no recruitment decision."""
    sheets = _sheets(data)
    excluded = set(skip_rows)
    by_path = {c.path: c.label for c in MAIN_COLUMNS}
    main = sheets[MAIN_SHEET]
    candidates: dict[int, _Candidate] = {}
    first_row_of: dict[str, int] = {}
    for row, values in main.rows:
        if row in excluded:
            continue
        found, faults = _read_entry(MAIN_COLUMNS, values, MAIN_SHEET, row)
        faults += _required(MAIN_COLUMNS, found, MAIN_SHEET, row, faults)
        citizen_id = found.get("citizen", {}).get("citizen_id")
        if citizen_id is not None:
            if citizen_id in first_row_of:
                faults.append(
                    RowError(
                        MAIN_SHEET,
                        row,
                        by_path["citizen.citizen_id"],
                        f"Số định danh cá nhân trùng với dòng {first_row_of[citizen_id]} của tệp",
                    )
                )
            else:
                first_row_of[citizen_id] = row
        candidates[row] = _Candidate(
            row, found, _decision(found.pop("decision", {}), decision), citizen_id, faults
        )
    errors: list[RowError] = []
    by_citizen = {c.citizen_id: c for c in candidates.values() if c.citizen_id}
    for group, (sheet_name, columns) in LIST_SHEETS.items():
        sheet = sheets.get(sheet_name)
        for row, values in sheet.rows if sheet else ():
            raw_id = values.get(CITIZEN_ID_LABEL)
            owner = (
                None if _blank(raw_id) else by_citizen.get(cell_value(CITIZEN_ID_COLUMN, raw_id))
            )
            if owner is None:
                if (
                    raw_id is not None
                    and str(raw_id).strip()
                    and _excluded_owner(raw_id, main, excluded)
                ):
                    continue
                errors.append(
                    RowError(
                        sheet_name,
                        row,
                        CITIZEN_ID_LABEL,
                        "Không có người có số định danh này ở trang Mẫu 2C",
                    )
                )
                continue
            found, entry_errors = _read_entry(columns, values, sheet_name, row)
            entry_errors += _required(columns, found, sheet_name, row, entry_errors)
            if entry_errors:
                owner.errors += entry_errors
                continue
            owner.record.setdefault(group, []).append(found.get(group, {}))
    checked = [c for c in candidates.values() if not c.errors]
    context = _Context(
        ledger,
        scope,
        by_path,
        source,
        units=_units(ledger, {str(c.record["employment"]["unit_code"]) for c in checked}),
        taken=ledger.citizen_ids_taken(c.citizen_id for c in checked if c.citizen_id),
    )
    built = [_build(context, candidate) for candidate in checked]
    for candidate in candidates.values():
        errors += candidate.errors
    errors.sort(key=lambda e: (e.sheet != MAIN_SHEET, e.sheet, e.row))
    faulty = sorted(c.row for c in candidates.values() if c.errors)
    ready = [b for b in built if b is not None]
    report = ImportReport(
        rows=len(main.rows),
        imported=0,
        errors=errors,
        faulty_rows=faulty,
        excluded_rows=sorted(excluded),
        dry_run=dry_run,
    )
    report.valid = len(ready)
    if (errors and not skip_invalid) or dry_run:
        return report
    aggregates = [a for pair in ready for a in pair]
    if aggregates:
        try:
            ledger.save(*aggregates)
        except IntegrityError:
            raise DuplicateCitizenId(
                "a citizen ID of the file was given a profile meanwhile; nothing was imported"
            ) from None
    report.imported = len(ready)
    report.profile_ids = [str(profile.id) for profile, _ in ready]
    return report


def _excluded_owner(raw_id: Any, main: _Sheet, excluded: set[int]) -> bool:
    """Whether an entry belongs to a person whose row was left out on request."""
    wanted = cell_value(Column("citizen.citizen_id", CITIZEN_ID_LABEL, "citizen_id"), raw_id)
    for row, values in main.rows:
        if row in excluded:
            other = values.get(CITIZEN_ID_LABEL)
            if (
                not _blank(other)
                and cell_value(Column("citizen.citizen_id", CITIZEN_ID_LABEL, "citizen_id"), other)
                == wanted
            ):
                return True
    return False


def _decision(values: Mapping[str, Any], default: Decision | None) -> Decision | None:
    number, signed_on = values.get("number"), values.get("signed_on")
    if number and isinstance(signed_on, date):
        return Decision(str(number), signed_on, str(values.get("issuer") or ""))
    return default


@dataclass(frozen=True)
class _Context:
    ledger: Ledger
    scope: Callable[[str], Actor | None]
    by_path: Mapping[str, str]
    source: str
    units: Mapping[str, Unit | None]  # by the code as written, None for an unknown one
    taken: set[str]  # citizen IDs that have a profile already


def _units(ledger: Ledger, codes: Iterable[str]) -> dict[str, Unit | None]:
    """Each unit named in the file, loaded once."""
    found: dict[str, Unit | None] = {}
    for code in codes:
        try:
            found[code] = ledger.unit(code)
        except NotFound:
            found[code] = None
    return found


def _build(context: _Context, candidate: _Candidate) -> tuple[Any, Any] | None:
    """The profile and citizen-ID claim of a row that passed its cells, or None with the
    row's faults added to it."""
    row, by_path = candidate.row, context.by_path
    unit = context.units[str(candidate.record["employment"]["unit_code"])]

    def fault(path: str, reason: str, detail_en: str = "") -> None:
        candidate.errors.append(RowError(MAIN_SHEET, row, by_path[path], reason, detail_en))

    if unit is None:
        code = candidate.record["employment"]["unit_code"]
        fault("employment.unit_code", f"Không có đơn vị mã {code}")
        return None
    candidate.record["employment"]["unit_code"] = unit.code
    actor = context.scope(unit.code)
    if actor is None:
        fault(
            "employment.unit_code", f"Đơn vị {unit.code} ngoài phạm vi quản lý của tài khoản nhập"
        )
        return None
    if candidate.decision is None:
        fault("decision.number", "Thiếu số và ngày ký quyết định tuyển dụng")
        return None
    assert candidate.citizen_id is not None
    if candidate.citizen_id in context.taken:
        fault("citizen.citizen_id", "Số định danh cá nhân này đã có hồ sơ trong hệ thống")
        return None
    note = f"Nhập từ Mẫu 2C{f' ({context.source})' if context.source else ''}, dòng {row}"
    ledger = context.ledger
    try:
        # What Ledger.build_profile does, with the unit loaded once for the whole file.
        profile = Profile.open(
            clean_record(candidate.record),
            unit,
            decision=candidate.decision,
            actor=actor,
            today=ledger.today(),
            origin_note=note,
        )
    except DomainError as exc:
        candidate.errors.append(_rule_error(exc, row, by_path))
        return None
    return profile, ledger.citizen_id_claim(profile.citizen_id, profile.id)


# -- export --------------------------------------------------------------------------------


def export_value(column: Column, value: Any) -> Any:
    """A record value (JSON-ready, as the read model holds it) as the cell shows it."""
    if value is None or (isinstance(value, dict) and value.get("restricted")):
        return None
    kind = column.kind
    if kind == "date":
        return date.fromisoformat(str(value)[:10])
    if kind == "int":
        return int(value)
    if kind == "decimal":
        return Decimal(str(value))
    if kind == "bool":
        return YES if value in (True, "true") else NO
    if kind == "gender":
        return {v: k for k, v in GENDER_WORDS.items()}.get(value, value)
    if kind == "category":
        return {v: k for k, v in CATEGORY_WORDS.items()}.get(value, value)
    return value


def _group(record: Mapping[str, Any], name: str) -> Any:
    value = record.get(name)
    if isinstance(value, dict) and value.get("restricted"):
        return {} if not GROUPS[name].many else []
    return value if value is not None else ({} if not GROUPS[name].many else [])


def resume_workbook(records: Iterable[Mapping[str, Any]], *, with_catalogues: bool = True) -> bytes:
    """Profiles (each ``{"record": …, "decision": …?}`` as the profile view gives it) in the
    Mẫu 2C layout; values withheld from the reader (``{"restricted": true}``) stay empty."""
    book = Workbook(write_only=True)
    main = _sheet(book, MAIN_SHEET, [Column("", ROW_NUMBER, "int"), *MAIN_COLUMNS])
    lists = {
        group: (_sheet(book, title, [CITIZEN_ID_COLUMN, *columns]), columns)
        for group, (title, columns) in LIST_SHEETS.items()
    }
    for number, profile in enumerate(records, start=1):
        record = profile["record"]
        line: list[Any] = [number]
        for column in MAIN_COLUMNS:
            if column.group == "decision":
                value = (profile.get("decision") or {}).get(column.name)
            else:
                value = _group(record, column.group).get(column.name)
            line.append(_cell(main, column, export_value(column, value)))
        main.append(line)
        citizen_id = _group(record, "citizen").get("citizen_id")
        for group, (sheet, columns) in lists.items():
            for entry in _group(record, group):
                sheet.append(
                    [
                        citizen_id,
                        *(_cell(sheet, c, export_value(c, entry.get(c.name))) for c in columns),
                    ]
                )
    if with_catalogues:
        catalogue = _sheet(
            book, CATALOGUE_SHEET, [Column("", "Danh mục"), Column("", "Mã"), Column("", "Tên")]
        )
        _catalogue_rows(catalogue)
    out = BytesIO()
    book.save(out)
    return out.getvalue()


CITIZEN_ID_COLUMN = Column("citizen.citizen_id", CITIZEN_ID_LABEL, "citizen_id")


def _sheet(book: Workbook, title: str, columns: Sequence[Column]) -> Any:
    """A write-only sheet with its bold headings, widths and frozen first row."""
    sheet = book.create_sheet(title)
    for index, column in enumerate(columns, start=1):
        width = max(10, min(34, len(column.label) + 4))
        sheet.column_dimensions[get_column_letter(index)].width = width
    sheet.freeze_panes = "A2"
    headings = []
    for column in columns:
        cell = WriteOnlyCell(sheet, column.label)
        cell.font, cell.fill = HEADER_FONT, HEADER_FILL
        headings.append(cell)
    sheet.append(headings)
    return sheet


def _cell(sheet: Any, column: Column, value: Any) -> Any:
    if column.kind == "date" and value is not None:
        cell = WriteOnlyCell(sheet, value)
        cell.number_format = DATE_FORMAT
        return cell
    return value


def _catalogue_rows(sheet: Any) -> None:
    for title, entries in (
        ("Giới tính", {k: k for k in GENDER_WORDS}),
        ("Loại CBCCVC", {k: k for k in CATEGORY_WORDS}),
        ("Dân tộc", catalogues.ethnicities()),
        ("Tôn giáo", catalogues.religions()),
        ("Trình độ chuyên môn", catalogues.education_levels()),
        ("Lý luận chính trị", catalogues.political_theory_levels()),
        ("Quản lý nhà nước", catalogues.state_management_levels()),
        ("Ngạch", catalogues.ranks()),
    ):
        for code, entry in entries.items():
            sheet.append([title, code, entry if isinstance(entry, str) else entry.name])


def decode_workbook(text: str) -> bytes:
    """A workbook sent as base64 text."""
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise InvalidInput("the workbook is not base64 text", "workbook") from None
