"""The résumé (sơ yếu lý lịch, Mẫu 2C) as data: field groups, their fields and types.

A profile's approved record is a dict ``{group: {field: value}}`` for single groups and
``{group: [ {field: value}, ... ]}`` for list groups (work history, rewards...). Field values
are checked and coerced here, so events only ever hold well-typed values.

``restricted`` marks the access-restriction level of a group (0 = open to everyone who may
see the record); restricted groups are shown only to roles cleared for that level.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from domain import catalogues
from domain.errors import InvalidInput
from domain.values import EmployeeCategory, Gender, nfc

CITIZEN_ID = re.compile(r"^\d{12}$")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError("expected text")
    return nfc(value)


def _date(value: Any) -> date:
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise ValueError(f"{value!r} is not a date (YYYY-MM-DD)") from None
    raise ValueError("expected a date")


def _int(value: Any) -> int:
    if isinstance(value, bool):
        raise ValueError("expected a whole number")
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{value!r} is not a whole number") from None


def _decimal(value: Any) -> Decimal:
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{value!r} is not a number") from None
    if not result.is_finite():
        raise ValueError(f"{value!r} is not a number")
    return result


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "1", 1):
        return True
    if value in ("false", "0", 0):
        return False
    raise ValueError("expected true or false")


def _citizen_id(value: Any) -> str:
    text = _text(value)
    if not CITIZEN_ID.match(text):
        raise ValueError("a citizen ID (số định danh cá nhân) is exactly 12 digits")
    return text


def _gender(value: Any) -> str:
    try:
        return Gender(value).value
    except ValueError:
        raise ValueError("gender is 'male' or 'female'") from None


def _category(value: Any) -> str:
    try:
        return EmployeeCategory(value).value
    except ValueError:
        allowed = ", ".join(c.value for c in EmployeeCategory)
        raise ValueError(f"category is one of {allowed}") from None


def _from_catalogue(load: Callable[[], Mapping[str, Any]], what: str) -> Callable[[Any], str]:
    def check(value: Any) -> str:
        code = _text(value)
        if code not in load():
            raise ValueError(f"unknown {what} code {code!r}")
        return code

    return check


def _rank_code(value: Any) -> str:
    code = _text(value)
    catalogues.rank(code)  # raises with a clear message on an unknown code
    return code


@dataclass(frozen=True)
class FieldGroup:
    name: str
    label: str
    fields: Mapping[str, Callable[[Any], Any]]
    many: bool = False
    restricted: int = 0
    required: tuple[str, ...] = ()


GROUPS: dict[str, FieldGroup] = {
    g.name: g
    for g in (
        FieldGroup(
            "identity",
            "Thông tin cá nhân",
            {
                "full_name": _text,
                "other_names": _text,
                "gender": _gender,
                "birth_date": _date,
                "birth_place": _text,
                "hometown": _text,
                "permanent_address": _text,
                "current_address": _text,
                "ethnicity": _from_catalogue(catalogues.ethnicities, "ethnicity"),
                "religion": _from_catalogue(catalogues.religions, "religion"),
                "phone": _text,
                "email": _text,
            },
            required=("full_name", "gender", "birth_date", "ethnicity"),
        ),
        FieldGroup(
            "citizen",
            "Căn cước",
            {"citizen_id": _citizen_id, "issued_on": _date, "issued_by": _text},
            restricted=2,
            required=("citizen_id",),
        ),
        FieldGroup(
            "education",
            "Trình độ",
            {
                "general_education": _text,
                "professional_level": _from_catalogue(
                    catalogues.education_levels, "education level"
                ),
                "major": _text,
                "political_theory": _from_catalogue(
                    catalogues.political_theory_levels, "political theory level"
                ),
                "state_management": _from_catalogue(
                    catalogues.state_management_levels, "state management level"
                ),
                "foreign_languages": _text,
                "it_skills": _text,
                "academic_title": _text,
            },
        ),
        FieldGroup(
            "membership",
            "Đảng, đoàn thể",
            {
                "party_join_date": _date,
                "party_official_date": _date,
                "youth_union_join_date": _date,
                "trade_union": _bool,
            },
            restricted=1,
        ),
        FieldGroup(
            "health",
            "Sức khỏe",
            {
                "health_status": _text,
                "height_cm": _int,
                "weight_kg": _int,
                "blood_type": _text,
            },
            restricted=2,
        ),
        FieldGroup(
            "family_relations",
            "Quan hệ gia đình",
            {
                "relation": _text,
                "full_name": _text,
                "birth_year": _int,
                "details": _text,
            },
            many=True,
            restricted=2,
            required=("relation", "full_name"),
        ),
        FieldGroup(
            "work_history",
            "Quá trình công tác",
            {"from_date": _date, "to_date": _date, "description": _text},
            many=True,
            required=("from_date", "description"),
        ),
        FieldGroup(
            "training",
            "Đào tạo, bồi dưỡng",
            {
                "institution": _text,
                "major": _text,
                "from_date": _date,
                "to_date": _date,
                "mode": _text,
                "qualification": _text,
            },
            many=True,
            required=("institution",),
        ),
        FieldGroup(
            "rewards",
            "Khen thưởng",
            {"awarded_on": _date, "form": _text, "decision_number": _text, "reason": _text},
            many=True,
            required=("awarded_on", "form"),
        ),
        FieldGroup(
            "discipline",
            "Kỷ luật",
            {"decided_on": _date, "form": _text, "decision_number": _text, "reason": _text},
            many=True,
            restricted=1,
            required=("decided_on", "form"),
        ),
        FieldGroup(
            "salary_history",
            "Quá trình lương",
            {
                "from_date": _date,
                "rank_code": _rank_code,
                "salary_step": _int,
                "coefficient": _decimal,
            },
            many=True,
            required=("from_date", "coefficient"),
        ),
        FieldGroup(
            "allowances",
            "Phụ cấp",
            {"kind": _text, "rate": _decimal, "from_date": _date, "to_date": _date},
            many=True,
            required=("kind", "rate", "from_date"),
        ),
        FieldGroup(
            "annual_evaluation",
            "Đánh giá, xếp loại hằng năm",
            {"year": _int, "rating": _text},
            many=True,
            required=("year", "rating"),
        ),
        FieldGroup(
            "succession_planning",
            "Quy hoạch",
            {"position": _text, "period": _text, "decision_number": _text},
            many=True,
            required=("position", "period"),
        ),
        FieldGroup(
            "employment",
            "Công tác hiện tại",
            {
                "category": _category,
                "unit_code": _text,
                "department": _text,
                "position": _text,
                "job_position_code": _text,
                "rank_code": _rank_code,
                "salary_step": _int,
                "coefficient": _decimal,
                "start_date": _date,
            },
            required=("category", "unit_code", "department", "position", "start_date"),
        ),
    )
}

# Fields of the employment group that only transitions may change (with their decision).
TRANSITION_ONLY_FIELDS = frozenset(
    {"employment.unit_code", "employment.department", "employment.start_date"}
)


def clean_entry(group: FieldGroup, data: Mapping[str, Any], *, partial: bool) -> dict[str, Any]:
    """Check and coerce one group's values; unknown fields and bad values are errors."""
    unknown = set(data) - set(group.fields)
    if unknown:
        raise InvalidInput(f"unknown field(s) {', '.join(sorted(unknown))}", group.name)
    cleaned: dict[str, Any] = {}
    for name, value in data.items():
        if value is None or value == "":
            continue
        try:
            cleaned[name] = group.fields[name](value)
        except (ValueError, LookupError) as exc:
            raise InvalidInput(str(exc).strip("'\""), f"{group.name}.{name}") from None
    if not partial:
        missing = [f for f in group.required if f not in cleaned]
        if missing:
            raise InvalidInput(f"required: {', '.join(missing)}", group.name)
    return cleaned


def clean_record(data: Mapping[str, Any]) -> dict[str, Any]:
    """Check a whole record given at opening: every group optional but the required ones."""
    unknown = set(data) - set(GROUPS)
    if unknown:
        raise InvalidInput(f"unknown field group(s) {', '.join(sorted(unknown))}")
    record: dict[str, Any] = {}
    for name, group in GROUPS.items():
        value = data.get(name)
        if group.many:
            if value is None:
                record[name] = []
                continue
            if not isinstance(value, list | tuple):
                raise InvalidInput("expected a list of entries", name)
            record[name] = [clean_entry(group, _mapping(e, name), partial=False) for e in value]
        else:
            record[name] = clean_entry(group, _mapping(value or {}, name), partial=False)
    return record


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput("expected an object of fields", where)
    return value


@dataclass(frozen=True)
class FieldChange:
    """One change in a change set: set a field, or append an entry to a list group."""

    path: str  # "identity.full_name" or, to append, the group name "rewards"
    value: Any

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "value": self.value}


def clean_change(path: str, value: Any) -> FieldChange:
    group_name, _, field = path.partition(".")
    group = GROUPS.get(group_name)
    if group is None:
        raise InvalidInput(f"unknown field group {group_name!r}", path)
    if path in TRANSITION_ONLY_FIELDS:
        raise InvalidInput("changes only through a move or transfer with its decision", path)
    if group.many:
        if field:
            raise InvalidInput("entries of a list group are added whole", path)
        return FieldChange(path, clean_entry(group, _mapping(value, path), partial=False))
    if not field:
        raise InvalidInput("name the field to change, e.g. identity.full_name", path)
    if field not in group.fields:
        raise InvalidInput(f"unknown field {field!r} in {group_name}", path)
    cleaned = clean_entry(group, {field: value}, partial=True)
    return FieldChange(path, cleaned.get(field))


def apply_changes(record: Mapping[str, Any], changes: list[dict[str, Any]]) -> dict[str, Any]:
    """A new record with the changes applied; the given record is left untouched."""
    result = {k: (list(v) if isinstance(v, list) else dict(v)) for k, v in record.items()}
    for change in changes:
        group_name, _, field = change["path"].partition(".")
        if GROUPS[group_name].many:
            result[group_name].append(change["value"])
        elif change["value"] is None:
            result[group_name].pop(field, None)
        else:
            result[group_name][field] = change["value"]
    return result


# The Vietnamese label of each field, as the Mẫu 2C form words it.
FIELD_LABELS: dict[str, str] = {
    "identity.full_name": "Họ và tên khai sinh",
    "identity.other_names": "Tên gọi khác",
    "identity.gender": "Giới tính",
    "identity.birth_date": "Ngày sinh",
    "identity.birth_place": "Nơi sinh",
    "identity.hometown": "Quê quán",
    "identity.permanent_address": "Nơi đăng ký hộ khẩu thường trú",
    "identity.current_address": "Nơi ở hiện nay",
    "identity.ethnicity": "Dân tộc",
    "identity.religion": "Tôn giáo",
    "identity.phone": "Điện thoại",
    "identity.email": "Thư điện tử",
    "citizen.citizen_id": "Số định danh cá nhân",
    "citizen.issued_on": "Ngày cấp",
    "citizen.issued_by": "Nơi cấp",
    "education.general_education": "Trình độ giáo dục phổ thông",
    "education.professional_level": "Trình độ chuyên môn cao nhất",
    "education.major": "Chuyên ngành",
    "education.political_theory": "Lý luận chính trị",
    "education.state_management": "Quản lý nhà nước",
    "education.foreign_languages": "Ngoại ngữ",
    "education.it_skills": "Tin học",
    "education.academic_title": "Học hàm, học vị",
    "membership.party_join_date": "Ngày vào Đảng",
    "membership.party_official_date": "Ngày chính thức",
    "membership.youth_union_join_date": "Ngày vào Đoàn",
    "membership.trade_union": "Đoàn viên công đoàn",
    "health.health_status": "Tình trạng sức khỏe",
    "health.height_cm": "Chiều cao (cm)",
    "health.weight_kg": "Cân nặng (kg)",
    "health.blood_type": "Nhóm máu",
    "family_relations.relation": "Quan hệ",
    "family_relations.full_name": "Họ và tên",
    "family_relations.birth_year": "Năm sinh",
    "family_relations.details": "Quê quán, nghề nghiệp, nơi công tác",
    "work_history.from_date": "Từ ngày",
    "work_history.to_date": "Đến ngày",
    "work_history.description": "Chức danh, chức vụ, đơn vị công tác",
    "training.institution": "Tên trường",
    "training.major": "Chuyên ngành",
    "training.from_date": "Từ ngày",
    "training.to_date": "Đến ngày",
    "training.mode": "Hình thức đào tạo",
    "training.qualification": "Văn bằng, chứng chỉ",
    "rewards.awarded_on": "Ngày khen thưởng",
    "rewards.form": "Hình thức",
    "rewards.decision_number": "Số quyết định",
    "rewards.reason": "Lý do",
    "discipline.decided_on": "Ngày kỷ luật",
    "discipline.form": "Hình thức",
    "discipline.decision_number": "Số quyết định",
    "discipline.reason": "Lý do",
    "salary_history.from_date": "Từ ngày",
    "salary_history.rank_code": "Mã ngạch",
    "salary_history.salary_step": "Bậc lương",
    "salary_history.coefficient": "Hệ số lương",
    "allowances.kind": "Loại phụ cấp",
    "allowances.rate": "Mức, tỷ lệ",
    "allowances.from_date": "Từ ngày",
    "allowances.to_date": "Đến ngày",
    "annual_evaluation.year": "Năm",
    "annual_evaluation.rating": "Xếp loại",
    "succession_planning.position": "Chức danh quy hoạch",
    "succession_planning.period": "Giai đoạn",
    "succession_planning.decision_number": "Số quyết định",
    "employment.category": "Đối tượng",
    "employment.unit_code": "Cơ quan, đơn vị",
    "employment.department": "Phòng, ban",
    "employment.position": "Chức vụ, chức danh",
    "employment.job_position_code": "Mã vị trí việc làm",
    "employment.rank_code": "Mã ngạch",
    "employment.salary_step": "Bậc lương",
    "employment.coefficient": "Hệ số lương",
    "employment.start_date": "Ngày bắt đầu công tác",
}


def field_label(path: str) -> str:
    """The Vietnamese label of a field ("identity.full_name") or of a group ("rewards")."""
    if path in FIELD_LABELS:
        return FIELD_LABELS[path]
    group = GROUPS.get(path.partition(".")[0])
    return group.label if group is not None else path
