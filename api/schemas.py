"""Request and response bodies of the JSON API, each with an example for the OpenAPI
document.

Versions: every command on a profile takes ``expected_version``, the profile ``version`` the
caller last read (``GET /api/profiles/{id}``). When the profile has changed since, the
command changes nothing and the answer is 409 ``version_conflict`` with the
``current_version``; without it the command applies to whatever version is current.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from domain.values import Decision, Document, EmployeeCategory, UnitKind

PROFILE_ID = "3f6c1c1e-8d8a-4f43-9a59-1c2f3b0e7a10"
CHANGE_SET_ID = "6b1d8c43-2f0e-5a55-9d1b-7c0f2e3a4b5c"
EXPECTED_VERSION = Field(
    None,
    ge=1,
    description=(
        "The profile version this command is based on (``version`` of GET "
        "/api/profiles/{id}). A stale one changes nothing and gives 409 version_conflict."
    ),
    examples=[3],
)


# Bounds of what the read models keep: text of these lengths and integers of 32 bits.
UNIT_NAME = 300
SHORT_TEXT = 200  # a name, a department, a position
PLACE_TEXT = 300  # an agency outside the system
LONG_TEXT = 2000  # a reason
MAX_INTEGER = 2**31 - 1
MAX_HEADCOUNT = 1_000_000
# Record fields the read models keep in columns of their own, and their widths.
FIELD_LENGTH = {
    "identity.full_name": SHORT_TEXT,
    "employment.department": SHORT_TEXT,
    "employment.position": SHORT_TEXT,
    "identity.gender": 10,
    "identity.ethnicity": 10,
    "employment.unit_code": 40,
    "employment.category": 40,
    "employment.job_position_code": 40,
    "employment.rank_code": 20,
}
# Any other text of a record: generous, but bounded.
RECORD_TEXT = 4000


def check_values(path: str, value: Any) -> None:
    """Refuse a record value the read models could not keep: text longer than its field
    allows, an integer beyond 32 bits. ``path`` is "group.field", or a group's name."""
    if isinstance(value, dict):
        for key, item in value.items():
            check_values(f"{path}.{key}" if "." not in path else path, item)
    elif isinstance(value, list):
        for item in value:
            check_values(path, item)
    elif isinstance(value, str):
        limit = FIELD_LENGTH.get(path, RECORD_TEXT)
        if len(value) > limit:
            raise ValueError(f"{path}: at most {limit} characters")
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_INTEGER:
        raise ValueError(f"{path}: a number within ±{MAX_INTEGER}")


def record_values(record: dict[str, Any]) -> dict[str, Any]:
    for group, value in record.items():
        check_values(str(group), value)
    return record


def employment_values(employment: dict[str, Any]) -> dict[str, Any]:
    check_values("employment", employment)
    return employment


def example(*examples: dict[str, Any]) -> ConfigDict:
    return ConfigDict(json_schema_extra={"examples": list(examples)})


DECISION_EXAMPLE = {"number": "125/QĐ-SNV", "signed_on": "2026-11-02", "issuer": "Sở Nội vụ"}


# -- common --------------------------------------------------------------------------------


class Problem(BaseModel):
    """An error (RFC 9457): a stable code, a Vietnamese detail and the English one."""

    model_config = example(
        {
            "type": "urn:hoso:problem:version_conflict",
            "title": "Xung đột phiên bản",
            "status": 409,
            "detail": "Hồ sơ đã được người khác cập nhật; vui lòng tải lại và thử lại.",
            "code": "version_conflict",
            "detail_en": (
                "profile 3f6c1c1e-… was changed meanwhile: the command was based on "
                "version 3, the current version is 4; reload and try again"
            ),
            "instance": f"/api/profiles/{PROFILE_ID}/change-sets",
            "current_version": 4,
        }
    )

    type: str
    title: str
    status: int
    detail: str = Field(description="in Vietnamese, for people")
    code: str = Field(description="stable machine code")
    detail_en: str = Field(description="the English wording of the domain, for programs")
    instance: str | None = None
    field: str | None = Field(None, description="the input field at fault, if one is")


class DecisionIn(BaseModel):
    """The decision (quyết định) that is the legal basis of a change."""

    model_config = example(DECISION_EXAMPLE)

    number: str = Field(min_length=1, max_length=100)
    signed_on: date
    issuer: str = Field("", max_length=300)

    def value(self) -> Decision:
        return Decision(self.number.strip(), self.signed_on, self.issuer.strip())


class DocumentIn(BaseModel):
    """A supporting document stored elsewhere, named by its SHA-256 digest."""

    model_config = example(
        {
            "sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "filename": "quyet-dinh-125.pdf",
            "media_type": "application/pdf",
            "size": 48213,
        }
    )

    sha256: str = Field(pattern=r"^[0-9a-fA-F]{64}$")
    filename: str = Field(min_length=1, max_length=300)
    media_type: str = "application/pdf"
    size: int = Field(0, ge=0, le=MAX_INTEGER)

    def value(self) -> Document:
        return Document(self.sha256.lower(), self.filename, self.media_type, self.size)


class ActorOut(BaseModel):
    account: str
    role: str
    unit_code: str


# -- units ---------------------------------------------------------------------------------


UNIT_EXAMPLE = {
    "code": "STC.NS",
    "name": "Phòng Ngân sách",
    "kind": "sub_department",
    "parent_code": "STC",
    "status": "active",
    "merged_into": None,
    "created_on": "2020-01-01",
    "version": 1,
}


class UnitIn(BaseModel):
    model_config = example(
        {
            "code": "STC.NS",
            "name": "Phòng Ngân sách",
            "kind": "sub_department",
            "parent_code": "STC",
            "effective_date": "2020-01-01",
            "decision": DECISION_EXAMPLE,
        }
    )

    code: str = Field(description="the unit's electronic identification code")
    name: str = Field(min_length=1, max_length=UNIT_NAME)
    kind: UnitKind
    parent_code: str | None = Field(None, description="None only for the governing authority")
    effective_date: date | None = None
    decision: DecisionIn | None = None


class UnitOut(BaseModel):
    model_config = example(UNIT_EXAMPLE)

    code: str
    name: str
    kind: str
    parent_code: str | None
    status: str
    merged_into: str | None
    created_on: date
    version: int


class UnitChange(BaseModel):
    change: str
    name: str | None
    parent_code: str | None
    merged_into: str | None
    effective_date: date | None
    decision_number: str | None


class CountsAgainstQuota(BaseModel):
    headcount: dict[str, int]
    quota: dict[str, int]


class HeadcountOut(BaseModel):
    model_config = example(
        {
            "code": "STC",
            "year": 2026,
            "own": {"headcount": {"civil_servant": 12}, "quota": {"civil_servant": 15}},
            "including_subunits": {
                "headcount": {"civil_servant": 20, "public_employee": 4},
                "quota": {"civil_servant": 25},
            },
        }
    )

    code: str
    year: int
    own: CountsAgainstQuota
    including_subunits: CountsAgainstQuota


class UnitDetail(UnitOut):
    model_config = example(
        {
            **UNIT_EXAMPLE,
            "history": [
                {
                    "change": "Created",
                    "name": "Phòng Ngân sách",
                    "parent_code": "STC",
                    "merged_into": None,
                    "effective_date": "2020-01-01",
                    "decision_number": None,
                }
            ],
            "headcount": {
                "code": "STC.NS",
                "year": 2026,
                "own": {"headcount": {"civil_servant": 8}, "quota": {}},
                "including_subunits": {"headcount": {"civil_servant": 8}, "quota": {}},
            },
        }
    )

    history: list[UnitChange]
    headcount: HeadcountOut


class UnitNode(BaseModel):
    code: str
    name: str
    kind: str
    status: str
    parent_code: str | None
    children: list[UnitNode] = []


class UnitTreeOut(BaseModel):
    model_config = example(
        {
            "units": [
                {
                    "code": "UBND",
                    "name": "Ủy ban nhân dân tỉnh",
                    "kind": "authority",
                    "status": "active",
                    "parent_code": None,
                    "children": [
                        {
                            "code": "SNV",
                            "name": "Sở Nội vụ",
                            "kind": "department",
                            "status": "active",
                            "parent_code": "UBND",
                            "children": [],
                        }
                    ],
                }
            ]
        }
    )

    units: list[UnitNode]


class UnitRename(BaseModel):
    model_config = example(
        {
            "name": "Sở Nội vụ và Lao động",
            "effective_date": "2025-03-01",
            "decision": DECISION_EXAMPLE,
        }
    )

    name: str = Field(min_length=1, max_length=UNIT_NAME)
    effective_date: date
    decision: DecisionIn | None = None


class UnitMove(BaseModel):
    model_config = example(
        {"parent_code": "SNV", "effective_date": "2025-03-01", "decision": DECISION_EXAMPLE}
    )

    parent_code: str
    effective_date: date
    decision: DecisionIn | None = None


class UnitMerge(BaseModel):
    model_config = example(
        {"into_code": "STC", "effective_date": "2025-07-01", "decision": DECISION_EXAMPLE}
    )

    into_code: str
    effective_date: date
    decision: DecisionIn


class UnitDissolve(BaseModel):
    model_config = example({"effective_date": "2025-07-01", "decision": DECISION_EXAMPLE})

    effective_date: date
    decision: DecisionIn


class StaffingQuotaIn(BaseModel):
    model_config = example(
        {"year": 2026, "category": "civil_servant", "headcount": 25, "decision": DECISION_EXAMPLE}
    )

    year: int = Field(ge=1945, le=2200)
    category: EmployeeCategory
    headcount: int = Field(ge=0, le=MAX_HEADCOUNT)
    decision: DecisionIn | None = None


class RosterEntry(BaseModel):
    """One person on a roster; a roster as of a date has the post's values only."""

    profile_id: str
    version: int | None = None
    full_name: str | None
    unit_code: str | None
    department: str | None = None
    position: str | None = None
    category: str | None = None
    job_position_code: str | None = None
    rank_code: str | None = None
    salary_step: int | None = None
    coefficient: str | None = None
    birth_date: date | None = None
    gender: str | None = None
    ethnicity: str | None = None
    start_date: date | None = None
    status: str | None = None


class RosterOut(BaseModel):
    model_config = example(
        {
            "unit": UNIT_EXAMPLE,
            "as_of": None,
            "total": 1,
            "page": 1,
            "per_page": 50,
            "staff": [
                {
                    "profile_id": PROFILE_ID,
                    "version": 3,
                    "full_name": "Nguyễn Văn An",
                    "unit_code": "STC.NS",
                    "department": "Phòng Ngân sách",
                    "position": "Chuyên viên",
                    "category": "civil_servant",
                    "job_position_code": None,
                    "rank_code": "01.003",
                    "salary_step": 3,
                    "coefficient": "3.00",
                    "birth_date": "1985-03-14",
                    "gender": "male",
                    "ethnicity": "01",
                    "start_date": "2010-09-01",
                    "status": "active",
                }
            ],
        }
    )

    unit: UnitOut
    as_of: date | None
    total: int
    page: int
    per_page: int
    staff: list[RosterEntry]


# -- profiles ------------------------------------------------------------------------------

RECORD_EXAMPLE = {
    "identity": {
        "full_name": "Nguyễn Văn An",
        "gender": "male",
        "birth_date": "1985-03-14",
        "birth_place": "Xã Tân Lập, huyện Đan Phượng, Hà Nội",
        "ethnicity": "01",
        "religion": "khong",
    },
    "citizen": {"citizen_id": "001085012345"},
    "employment": {
        "category": "civil_servant",
        "unit_code": "STC.NS",
        "department": "Phòng Ngân sách",
        "position": "Chuyên viên",
        "rank_code": "01.003",
        "salary_step": 3,
        "start_date": "2010-09-01",
    },
}


class ProfileIn(BaseModel):
    """A new profile: the résumé (Mẫu 2C) field groups, and the decision behind it."""

    model_config = example(
        {
            "record": RECORD_EXAMPLE,
            "decision": DECISION_EXAMPLE,
            "origin": "recruitment",
            "origin_note": "",
        }
    )

    record: Annotated[dict[str, Any], AfterValidator(record_values)] = Field(
        description="field groups of domain.resume.GROUPS: identity, citizen, employment…"
    )
    decision: DecisionIn
    origin: Literal["recruitment", "contract", "arrival"] = "recruitment"
    origin_note: str = ""


class ProfileCreated(BaseModel):
    model_config = example(
        {"profile_id": PROFILE_ID, "version": 1, "status": "active", "unit_code": "STC.NS"}
    )

    profile_id: str
    version: int
    status: str
    unit_code: str


RESTRICTED_NOTE = (
    "Groups the caller is not cleared for keep their name, with the value "
    '{"restricted": true, "level": N}.'
)


CHANGE_SET_EXAMPLE: dict[str, Any] = {
    "change_set_id": CHANGE_SET_ID,
    "profile_id": PROFILE_ID,
    "full_name": "Nguyễn Văn An",
    "unit_code": "STC.NS",
    "status": "pending",
    "changes": [{"path": "employment.salary_step", "value": 4}],
    "applied_changes": None,
    "reason": "Nâng bậc lương thường xuyên",
    "effective_date": "2026-09-01",
    "documents": [],
    "proposed_by": "hr.stc",
    "proposed_by_role": "hr_officer",
    "proposed_by_unit": "STC",
    "proposed_at": "2026-11-20T03:00:00Z",
    "decided_by": None,
    "decided_by_role": None,
    "decided_by_unit": None,
    "decided_at": None,
    "decision_number": None,
    "decision_signed_on": None,
    "rejection_reason": None,
}


class ChangeSetOut(BaseModel):
    model_config = example(CHANGE_SET_EXAMPLE)

    change_set_id: str
    profile_id: str
    full_name: str | None = None
    unit_code: str | None = None
    status: str
    changes: list[dict[str, Any]]
    applied_changes: list[dict[str, Any]] | None = None
    reason: str
    effective_date: date | None = None
    documents: list[dict[str, Any]] = []
    proposed_by: str | None = None
    proposed_by_role: str | None = None
    proposed_by_unit: str | None = None
    proposed_at: datetime | None = None
    decided_by: str | None = None
    decided_by_role: str | None = None
    decided_by_unit: str | None = None
    decided_at: datetime | None = None
    decision_number: str | None = None
    decision_signed_on: date | None = None
    rejection_reason: str | None = None


class ProfileOut(BaseModel):
    """The approved record, as the caller may see it."""

    model_config = example(
        {
            "profile_id": PROFILE_ID,
            "version": 3,
            "full_name": "Nguyễn Văn An",
            "unit_code": "STC.NS",
            "status": "active",
            "record": {
                **RECORD_EXAMPLE,
                "citizen": {"restricted": True, "level": 2},
            },
            "withheld": ["citizen", "health", "family_relations"],
            "periods": [
                {"start_date": "2010-09-01", "origin": "recruitment", "end_date": None, "end": None}
            ],
            "transfer_to": None,
            "secondment": None,
            "updated_at": "2026-11-20T03:00:00Z",
            "pending": [],
        }
    )

    profile_id: str
    version: int
    full_name: str
    unit_code: str
    status: str
    record: dict[str, Any] = Field(description=RESTRICTED_NOTE)
    withheld: list[str] = Field(description="restricted groups whose values are not shown")
    periods: list[dict[str, Any]]
    transfer_to: str | None = None
    secondment: dict[str, Any] | None = None
    updated_at: datetime
    pending: list[ChangeSetOut]


class ProfileState(BaseModel):
    """The record at a version, or as it stood on a business date."""

    model_config = example(
        {
            "profile_id": PROFILE_ID,
            "version": 2,
            "as_of": None,
            "status": "active",
            "unit_code": "STC.NS",
            "record": RECORD_EXAMPLE,
            "withheld": [],
        }
    )

    profile_id: str
    version: int
    as_of: date | None
    status: str
    unit_code: str
    record: dict[str, Any] = Field(description=RESTRICTED_NOTE)
    withheld: list[str]


class HistoryEvent(BaseModel):
    version: int
    event: str
    recorded_at: datetime
    effective_date: date | None = None
    actor: ActorOut | None = None
    decision: dict[str, Any] | None = None
    data: dict[str, Any] = Field(description="what the event says; " + RESTRICTED_NOTE)


class ProfileHistory(BaseModel):
    model_config = example(
        {
            "profile_id": PROFILE_ID,
            "events": [
                {
                    "version": 1,
                    "event": "Opened",
                    "recorded_at": "2026-11-20T03:00:00Z",
                    "effective_date": "2010-09-01",
                    "actor": {"account": "hr.stc", "role": "hr_officer", "unit_code": "STC"},
                    "decision": DECISION_EXAMPLE,
                    "data": {"origin": "recruitment", "record": RECORD_EXAMPLE},
                },
                {
                    "version": 2,
                    "event": "ChangeProposed",
                    "recorded_at": "2026-11-20T03:05:00Z",
                    "effective_date": "2026-09-01",
                    "actor": {"account": "hr.stc", "role": "hr_officer", "unit_code": "STC"},
                    "decision": None,
                    "data": {
                        "change_set_id": CHANGE_SET_ID,
                        "changes": [{"path": "employment.salary_step", "value": 4}],
                        "reason": "Nâng bậc lương thường xuyên",
                    },
                },
            ],
            "withheld": [],
        }
    )

    profile_id: str
    events: list[HistoryEvent]
    withheld: list[str]


class FieldChangeIn(BaseModel):
    path: str = Field(
        max_length=100,
        description='"group.field" to set a field; a list group\'s name to add an entry',
    )
    value: Any = None

    @model_validator(mode="after")
    def bounded(self) -> FieldChangeIn:
        check_values(self.path, self.value)
        return self


class ChangeSetIn(BaseModel):
    model_config = example(
        {
            "changes": [
                {"path": "employment.salary_step", "value": 4},
                {"path": "rewards", "value": {"awarded_on": "2026-05-01", "form": "Bằng khen"}},
            ],
            "reason": "Nâng bậc lương thường xuyên",
            "effective_date": "2026-09-01",
            "documents": [],
            "expected_version": 3,
        }
    )

    changes: list[FieldChangeIn] = Field(min_length=1)
    reason: str = Field(max_length=LONG_TEXT)
    effective_date: date
    documents: list[DocumentIn] = []
    expected_version: int | None = EXPECTED_VERSION


class ChangeSetCreated(BaseModel):
    model_config = example(
        {
            "change_set_id": CHANGE_SET_ID,
            "profile_id": PROFILE_ID,
            "version": 4,
            "status": "pending",
            "approval": "plain",
        }
    )

    change_set_id: str
    profile_id: str
    version: int
    status: str
    approval: Literal["plain", "signatures"] = Field(
        description="plain: POST …/approve; signatures: the approval chain signs it"
    )


class ApproveIn(BaseModel):
    model_config = example({"decision": DECISION_EXAMPLE, "expected_version": 4})

    decision: DecisionIn | None = None
    expected_version: int | None = EXPECTED_VERSION


class RejectIn(BaseModel):
    model_config = example({"reason": "Thiếu quyết định nâng bậc", "expected_version": 4})

    reason: str = Field(max_length=LONG_TEXT)
    expected_version: int | None = EXPECTED_VERSION


class ChangeSetDecided(BaseModel):
    model_config = example(
        {
            "change_set_id": CHANGE_SET_ID,
            "profile_id": PROFILE_ID,
            "version": 5,
            "status": "approved",
        }
    )

    change_set_id: str
    profile_id: str
    version: int
    status: str


class ChangeSetList(BaseModel):
    model_config = example({"change_sets": [CHANGE_SET_EXAMPLE]})

    change_sets: list[ChangeSetOut]


# -- transitions ---------------------------------------------------------------------------


class _Transition(BaseModel):
    decision: DecisionIn
    expected_version: int | None = EXPECTED_VERSION


class MoveWithinUnit(_Transition):
    """Điều động trong đơn vị: another department or position of the same unit."""

    model_config = example(
        {
            "kind": "move_within_unit",
            "department": "Văn phòng",
            "position": "Phó Chánh Văn phòng",
            "effective_date": "2026-10-01",
            "decision": DECISION_EXAMPLE,
            "expected_version": 3,
        }
    )

    kind: Literal["move_within_unit"]
    department: str = Field(min_length=1, max_length=SHORT_TEXT)
    position: str = Field(min_length=1, max_length=SHORT_TEXT)
    effective_date: date


class ReleaseTransfer(_Transition):
    """The old unit releases the person to another unit of the system."""

    model_config = example(
        {
            "kind": "release_transfer",
            "to_unit_code": "SNV",
            "effective_date": "2026-10-01",
            "decision": DECISION_EXAMPLE,
        }
    )

    kind: Literal["release_transfer"]
    to_unit_code: str
    effective_date: date


class ReceiveTransfer(_Transition):
    """The new unit receives the released person (acted by the new unit)."""

    model_config = example(
        {
            "kind": "receive_transfer",
            "unit_code": "SNV",
            "department": "Phòng Công chức, viên chức",
            "position": "Chuyên viên",
            "effective_date": "2026-10-05",
            "decision": DECISION_EXAMPLE,
        }
    )

    kind: Literal["receive_transfer"]
    unit_code: str
    department: str = Field(min_length=1, max_length=SHORT_TEXT)
    position: str = Field(min_length=1, max_length=SHORT_TEXT)
    effective_date: date


class TransferOutOfSystem(_Transition):
    model_config = example(
        {
            "kind": "transfer_out_of_system",
            "destination": "Bộ Tài chính",
            "effective_date": "2026-10-01",
            "decision": DECISION_EXAMPLE,
        }
    )

    kind: Literal["transfer_out_of_system"]
    destination: str = Field(min_length=1, max_length=PLACE_TEXT)
    effective_date: date


class StartSecondment(_Transition):
    model_config = example(
        {
            "kind": "start_secondment",
            "host": "Ban Quản lý dự án tỉnh",
            "until": "2027-10-01",
            "effective_date": "2026-10-01",
            "decision": DECISION_EXAMPLE,
        }
    )

    kind: Literal["start_secondment"]
    host: str = Field(min_length=1, max_length=PLACE_TEXT)
    until: date | None = None
    effective_date: date


class EndSecondment(_Transition):
    model_config = example(
        {"kind": "end_secondment", "effective_date": "2027-10-01", "decision": DECISION_EXAMPLE}
    )

    kind: Literal["end_secondment"]
    effective_date: date


class Retire(_Transition):
    model_config = example(
        {"kind": "retire", "effective_date": "2026-12-01", "decision": DECISION_EXAMPLE}
    )

    kind: Literal["retire"]
    effective_date: date


class Resign(_Transition):
    model_config = example(
        {"kind": "resign", "effective_date": "2026-12-01", "decision": DECISION_EXAMPLE}
    )

    kind: Literal["resign"]
    effective_date: date


class Dismiss(_Transition):
    model_config = example(
        {
            "kind": "dismiss",
            "reason": "Kỷ luật buộc thôi việc",
            "effective_date": "2026-12-01",
            "decision": DECISION_EXAMPLE,
        }
    )

    kind: Literal["dismiss"]
    reason: str = Field(min_length=1, max_length=LONG_TEXT)
    effective_date: date


class RecordDeath(_Transition):
    model_config = example(
        {"kind": "record_death", "date_of_death": "2026-11-01", "decision": DECISION_EXAMPLE}
    )

    kind: Literal["record_death"]
    date_of_death: date


class Rehire(_Transition):
    """A new employment period on the same profile (origin "arrival": back from outside)."""

    model_config = example(
        {
            "kind": "rehire",
            "unit_code": "SNV",
            "employment": {
                "category": "civil_servant",
                "department": "Văn phòng",
                "position": "Chuyên viên",
                "rank_code": "01.003",
                "salary_step": 3,
            },
            "effective_date": "2026-11-02",
            "origin": "recruitment",
            "decision": DECISION_EXAMPLE,
        }
    )

    kind: Literal["rehire"]
    unit_code: str
    employment: Annotated[dict[str, Any], AfterValidator(employment_values)]
    effective_date: date
    origin: Literal["recruitment", "contract", "arrival"] = "recruitment"


Transition = Annotated[
    MoveWithinUnit
    | ReleaseTransfer
    | ReceiveTransfer
    | TransferOutOfSystem
    | StartSecondment
    | EndSecondment
    | Retire
    | Resign
    | Dismiss
    | RecordDeath
    | Rehire,
    Field(discriminator="kind"),
]
TRANSITION_EXAMPLES = {
    cls.__name__: {
        "summary": (cls.__doc__ or cls.__name__).strip().splitlines()[0],
        "value": cls.model_config["json_schema_extra"]["examples"][0],  # type: ignore[index]
    }
    for cls in (
        MoveWithinUnit,
        ReleaseTransfer,
        ReceiveTransfer,
        TransferOutOfSystem,
        StartSecondment,
        EndSecondment,
        Retire,
        Resign,
        Dismiss,
        RecordDeath,
        Rehire,
    )
}


class TransitionDone(BaseModel):
    model_config = example(
        {
            "profile_id": PROFILE_ID,
            "kind": "retire",
            "version": 5,
            "status": "retired",
            "unit_code": "STC.NS",
            "transfer_to": None,
            "approval_item": None,
        }
    )

    profile_id: str
    kind: str
    version: int
    status: str
    unit_code: str
    transfer_to: str | None
    approval_item: str | None = Field(
        description="where signatures are required: the approval item the chain signs"
    )


# -- audit, archive, deadlines -------------------------------------------------------------


class AuditRow(BaseModel):
    position: int
    recorded_at: datetime
    actor_account: str | None
    actor_role: str | None
    actor_unit: str | None
    aggregate_kind: str
    aggregate_id: str | None
    aggregate_version: int
    profile_id: str | None
    unit_code: str | None
    event_type: str
    effective_date: date | None
    decision_number: str | None
    change_set_id: str | None


class AuditPage(BaseModel):
    model_config = example(
        {
            "total": 1,
            "page": 1,
            "per_page": 100,
            "rows": [
                {
                    "position": 42,
                    "recorded_at": "2026-11-20T03:00:00Z",
                    "actor_account": "hr.stc",
                    "actor_role": "hr_officer",
                    "actor_unit": "STC",
                    "aggregate_kind": "profile",
                    "aggregate_id": PROFILE_ID,
                    "aggregate_version": 2,
                    "profile_id": PROFILE_ID,
                    "unit_code": "STC.NS",
                    "event_type": "ChangeProposed",
                    "effective_date": "2026-09-01",
                    "decision_number": None,
                    "change_set_id": CHANGE_SET_ID,
                }
            ],
        }
    )

    total: int
    page: int
    per_page: int
    rows: list[AuditRow]


class ArchiveRow(BaseModel):
    position: int
    profile_id: str
    full_name: str
    birth_date: date | None
    gender: str | None
    unit_code: str | None
    category: str | None
    rank_code: str | None
    position_title: str | None
    departure: str
    status: str
    departure_date: date
    decision_number: str | None
    recorded_at: datetime
    destination: str | None
    died_on: date | None
    death_decision_number: str | None
    returned_on: date | None


class ArchiveOut(BaseModel):
    model_config = example(
        {
            "total": 1,
            "page": 1,
            "per_page": 50,
            "rows": [
                {
                    "position": 57,
                    "profile_id": PROFILE_ID,
                    "full_name": "Nguyễn Văn An",
                    "birth_date": "1964-03-14",
                    "gender": "male",
                    "unit_code": "STC.NS",
                    "category": "civil_servant",
                    "rank_code": "01.003",
                    "position_title": "Chuyên viên",
                    "departure": "retired",
                    "status": "retired",
                    "departure_date": "2026-06-01",
                    "decision_number": "125/QĐ-SNV",
                    "recorded_at": "2026-05-20T03:00:00Z",
                    "destination": None,
                    "died_on": None,
                    "death_decision_number": None,
                    "returned_on": None,
                }
            ],
        }
    )

    total: int
    page: int
    per_page: int
    rows: list[ArchiveRow]


class DeadlineItem(BaseModel):
    opened_position: int
    action: str
    profile_id: str
    unit_code: str | None
    opened_by: str
    change_set_id: str | None
    decision_number: str | None
    start_date: date
    working_days: int
    due_date: date
    status: str
    done_on: date | None
    done_position: int | None
    closed_by: str | None
    late: bool | None


class OverdueOut(BaseModel):
    model_config = example(
        {
            "on": "2026-11-23",
            "unit_code": "STC",
            "items": [
                {
                    "opened_position": 61,
                    "action": "transfer_in",
                    "profile_id": PROFILE_ID,
                    "unit_code": "SNV",
                    "opened_by": "TransferReleased",
                    "change_set_id": None,
                    "decision_number": "125/QĐ-SNV",
                    "start_date": "2026-10-01",
                    "working_days": 5,
                    "due_date": "2026-10-08",
                    "status": "open",
                    "done_on": None,
                    "done_position": None,
                    "closed_by": None,
                    "late": None,
                }
            ],
        }
    )

    on: date
    unit_code: str
    items: list[DeadlineItem]


# -- approvals -----------------------------------------------------------------------------


class InboxItem(BaseModel):
    item_id: str
    profile_id: str
    full_name: str
    unit_code: str
    approves: str = Field(description="the event approved: ChangeProposed, Opened, Retired…")
    effective_date: date | None
    level: int = Field(description="the level waiting, from 1")
    of_levels: int
    role: str
    requested_by: ActorOut | None


class InboxOut(BaseModel):
    model_config = example(
        {
            "items": [
                {
                    "item_id": CHANGE_SET_ID,
                    "profile_id": PROFILE_ID,
                    "full_name": "Nguyễn Văn An",
                    "unit_code": "STC.NS",
                    "approves": "ChangeProposed",
                    "effective_date": "2026-09-01",
                    "level": 2,
                    "of_levels": 3,
                    "role": "hr_head",
                    "requested_by": {
                        "account": "hr.stc",
                        "role": "hr_officer",
                        "unit_code": "STC",
                    },
                }
            ]
        }
    )

    items: list[InboxItem]


class SigningRequestOut(BaseModel):
    """What the signer's device signs: ``digest`` (SHA-256 of the RFC 8785 canonical JSON
    of ``payload``); post the signature with the same ``signed_at``."""

    model_config = example(
        {
            "profile_id": PROFILE_ID,
            "item_id": CHANGE_SET_ID,
            "level": 1,
            "role": "hr_officer",
            "unit_code": "STC.NS",
            "signer": "hr.stc",
            "signed_at": "2026-11-23T03:00:00Z",
            "payload": {
                "profile_id": PROFILE_ID,
                "item_id": CHANGE_SET_ID,
                "approves": {"event": "ChangeProposed", "changes": []},
                "previous_state": "5c0e…",
                "level": 1,
                "of_levels": 3,
                "role": "hr_officer",
                "unit_code": "STC.NS",
                "signer": "hr.stc",
                "signed_at": "2026-11-23T03:00:00+00:00",
            },
            "digest": "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b",
            "digest_base64": "OnvT4jYKPSnupDb8+35ExzXRF8QtHBg1QgtrmUKt9Pk=",
        }
    )

    profile_id: str
    item_id: str
    level: int = Field(description="from 1")
    role: str
    unit_code: str
    signer: str
    signed_at: datetime
    payload: dict[str, Any]
    digest: str = Field(description="hex")
    digest_base64: str


class SignatureIn(BaseModel):
    """A signature made on the signer's own device over the digest of a signing request."""

    model_config = example(
        {
            "signed_at": "2026-11-23T03:00:00Z",
            "signature": "MEUCIQDx…",
            "certificate_pem": "-----BEGIN CERTIFICATE-----\nMIIB…\n-----END CERTIFICATE-----\n",
        }
    )

    signed_at: datetime = Field(description="the signed_at of the signing request")
    signature: str = Field(description="base64 of the RSA PKCS#1 v1.5 or ECDSA signature")
    certificate_pem: str | None = Field(None, description="registered on first use")
    certificate_fingerprint: str | None = Field(
        None, description="SHA-256 of a registered certificate, instead of the PEM"
    )


class ApprovalRejectIn(BaseModel):
    model_config = example({"reason": "Hồ sơ thiếu quyết định nâng bậc"})

    reason: str = Field(max_length=LONG_TEXT)


class ApprovalState(BaseModel):
    model_config = example(
        {
            "item_id": CHANGE_SET_ID,
            "profile_id": PROFILE_ID,
            "status": "pending",
            "signatures": 1,
            "levels": 3,
            "version": 5,
        }
    )

    item_id: str
    profile_id: str
    status: str
    signatures: int
    levels: int
    version: int


class CheckOut(BaseModel):
    name: str
    passed: bool
    reason: str


class SignatureReportOut(BaseModel):
    level: int
    role: str
    unit_code: str
    signer: str
    certificate_subject: str
    certificate_fingerprint: str
    signed_at: datetime
    passed: bool
    checks: list[CheckOut]


class VerificationOut(BaseModel):
    model_config = example(
        {
            "profile_id": PROFILE_ID,
            "item_id": CHANGE_SET_ID,
            "status": "approved",
            "levels": 1,
            "passed": True,
            "approves": {"event": "ChangeProposed", "changes": []},
            "signatures": [
                {
                    "level": 1,
                    "role": "hr_officer",
                    "unit_code": "STC",
                    "signer": "hr.stc",
                    "certificate_subject": "CN=Người ký hr.stc",
                    "certificate_fingerprint": "ab12…",
                    "signed_at": "2026-11-23T03:00:00Z",
                    "passed": True,
                    "checks": [
                        {
                            "name": "signature valid",
                            "passed": True,
                            "reason": "the signature matches what was approved",
                        }
                    ],
                }
            ],
            "in_plain_words": ["Approval … VERIFIED"],
        }
    )

    profile_id: str
    item_id: str
    status: str
    levels: int
    passed: bool
    approves: dict[str, Any]
    signatures: list[SignatureReportOut]
    in_plain_words: list[str]


# -- health --------------------------------------------------------------------------------


class ProjectionOut(BaseModel):
    name: str
    position: int
    head: int
    lag: int


class HealthOut(BaseModel):
    model_config = example(
        {
            "status": "ok",
            "jurisdiction": "bnv",
            "store": "postgresql",
            "head": 1520,
            "lag": 0,
            "projections": [{"name": "roster", "position": 1520, "head": 1520, "lag": 0}],
        }
    )

    status: Literal["ok", "lagging"]
    jurisdiction: str
    store: str
    head: int = Field(description="the last position of the event log")
    lag: int = Field(description="events the slowest read model has still to apply")
    projections: list[ProjectionOut]


class NationalSyncUnit(BaseModel):
    unit_code: str | None
    queued: int
    sent: int
    failed: int
    last_acknowledged_at: datetime | None


class NationalSyncItem(BaseModel):
    idempotency_key: str
    profile_id: str
    version: int
    event_type: str
    unit_code: str | None
    approved_at: datetime
    state: str
    failures: int
    last_error: str | None


class NationalSyncOut(BaseModel):
    model_config = example(
        {
            "unit_code": "SNV",
            "configured": True,
            "units": [
                {
                    "unit_code": "SNV",
                    "queued": 1,
                    "sent": 42,
                    "failed": 1,
                    "last_acknowledged_at": "2026-11-23T08:15:00Z",
                }
            ],
            "unsent": [
                {
                    "idempotency_key": "0c6b1f0e-2f55-4c2e-9d0b-3b8f6f0a9e21",
                    "profile_id": PROFILE_ID,
                    "version": 4,
                    "event_type": "ChangeApproved",
                    "unit_code": "SNV",
                    "approved_at": "2026-11-23T07:59:12Z",
                    "state": "failed",
                    "failures": 5,
                    "last_error": "HTTP 422: so_dinh_danh không hợp lệ",
                }
            ],
        }
    )

    unit_code: str = Field(description="the unit asked for; empty for the whole instance")
    configured: bool = Field(
        description="whether this server sends records to the national database: the "
        "jurisdiction's rules ask for it and the national endpoint is set"
    )
    units: list[NationalSyncUnit]
    unsent: list[NationalSyncItem] = Field(
        description="items not acknowledged yet, oldest first (at most 100)"
    )
