"""Value objects and enumerations shared by the whole domain.

Codes are English; the Vietnamese labels live in the catalogue data files.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any


class EmployeeCategory(Enum):
    CADRE = "cadre"  # cán bộ
    CIVIL_SERVANT = "civil_servant"  # công chức
    PUBLIC_EMPLOYEE = "public_employee"  # viên chức
    CONTRACT_WORKER = "contract_worker"  # người lao động (hợp đồng)


class UnitKind(Enum):
    AUTHORITY = "authority"  # UBND tỉnh/thành phố, or the Ministry itself: the root
    DEPARTMENT = "department"  # sở, ban, ngành; vụ, cục of a ministry
    SUB_DEPARTMENT = "sub_department"  # chi cục, đơn vị thuộc sở
    DISTRICT_COMMITTEE = "district_committee"  # UBND cấp huyện (historical since 1/7/2025)
    PUBLIC_SERVICE_UNIT = "public_service_unit"  # đơn vị sự nghiệp công lập
    SPECIAL_ASSOCIATION = "special_association"  # hội đặc thù
    COMMUNE = "commune"  # UBND cấp xã


class Role(Enum):
    EMPLOYEE = "employee"  # the person the record is about
    HR_OFFICER = "hr_officer"  # công chức/viên chức làm công tác tổ chức cán bộ
    HR_HEAD = "hr_head"  # trưởng phòng/bộ phận tổ chức cán bộ
    UNIT_HEAD = "unit_head"  # thủ trưởng cơ quan, đơn vị
    HOME_AFFAIRS = "home_affairs"  # Sở Nội vụ / Vụ Tổ chức cán bộ
    INFORMATION_CENTRE = "information_centre"  # Trung tâm Thông tin (Bộ Nội vụ)
    ADMINISTRATOR = "administrator"
    INSPECTOR = "inspector"
    SYSTEM = "system"  # jobs and imports acting on their own


class Gender(Enum):
    MALE = "male"
    FEMALE = "female"


class ProfileStatus(Enum):
    ACTIVE = "active"
    SECONDED = "seconded"  # biệt phái
    RELEASED = "released"  # transferred out, not yet received by the new unit
    RETIRED = "retired"
    RESIGNED = "resigned"
    DISMISSED = "dismissed"
    DECEASED = "deceased"
    TRANSFERRED_OUT = "transferred_out"  # left the system

    @property
    def departed(self) -> bool:
        return self in DEPARTED_STATUSES


DEPARTED_STATUSES = frozenset(
    {
        ProfileStatus.RETIRED,
        ProfileStatus.RESIGNED,
        ProfileStatus.DISMISSED,
        ProfileStatus.DECEASED,
        ProfileStatus.TRANSFERRED_OUT,
    }
)


class DeadlineAction(Enum):
    """Actions a jurisdiction may give a deadline in working days."""

    NEW_RECORD = "new_record"  # a new profile entered after recruitment
    STATE_DECISION = "state_decision"  # update after a decision (rank, salary, reward...)
    IN_UNIT_MOVE = "in_unit_move"  # move between departments of one unit
    TRANSFER_OUT = "transfer_out"  # old unit releases the record
    TRANSFER_IN = "transfer_in"  # new unit receives and updates the record
    TRANSFER_MAX = "transfer_max"  # outer limit for the whole transfer
    STATUS_CHANGE = "status_change"  # retirement, resignation, death...
    ACCESS_REVOCATION = "access_revocation"  # old unit loses access after a transfer
    ACCOUNT_CREATION = "account_creation"
    FIRST_DECLARATION = "first_declaration"  # person completes the first declaration
    NATIONAL_SYNC = "national_sync"


@dataclass(frozen=True)
class Actor:
    """Who did something: the acting account, the role it acted in and its unit."""

    account: str
    role: Role
    unit_code: str

    def __post_init__(self) -> None:
        if not self.account.strip():
            raise ValueError("actor account must not be empty")


@dataclass(frozen=True)
class Decision:
    """The legal basis of a change: an administrative decision (quyết định)."""

    number: str
    signed_on: date
    issuer: str = ""
    document: Document | None = None  # the scanned decision, stored by its digest


@dataclass(frozen=True)
class Document:
    """A supporting document, stored elsewhere by its SHA-256 digest."""

    sha256: str
    filename: str
    media_type: str = "application/pdf"
    size: int = 0


def nfc(text: str) -> str:
    """Vietnamese input is stored in Unicode NFC, trimmed."""
    return unicodedata.normalize("NFC", text).strip()


def json_ready(value: Any) -> Any:
    """Domain values as plain JSON values: dates in ISO form, decimals as text."""
    if isinstance(value, dict):
        return {k: json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if hasattr(value, "__dataclass_fields__"):
        return {k: json_ready(getattr(value, k)) for k in value.__dataclass_fields__}
    return value
