"""Small builders for the stories the tests tell."""

from __future__ import annotations

from datetime import date
from typing import Any

from domain.application import Ledger
from domain.values import Actor, Role, UnitKind

ADMIN = Actor(account="admin.snv", role=Role.HOME_AFFAIRS, unit_code="UBND")


def unit_tree(ledger: Ledger) -> None:
    """A province with its Department of Home Affairs and two units under another one."""
    ledger.create_unit(
        "UBND",
        "Ủy ban nhân dân tỉnh",
        UnitKind.AUTHORITY,
        None,
        actor=ADMIN,
        effective_date=date(2020, 1, 1),
    )
    ledger.create_unit(
        "SNV",
        "Sở Nội vụ",
        UnitKind.DEPARTMENT,
        "UBND",
        actor=ADMIN,
        effective_date=date(2020, 1, 1),
    )
    ledger.create_unit(
        "STC",
        "Sở Tài chính",
        UnitKind.DEPARTMENT,
        "UBND",
        actor=ADMIN,
        effective_date=date(2020, 1, 1),
    )
    ledger.create_unit(
        "STC.NS",
        "Phòng Ngân sách",
        UnitKind.SUB_DEPARTMENT,
        "STC",
        actor=ADMIN,
        effective_date=date(2020, 1, 1),
    )


def person(citizen_id: str = "001085012345", **employment: Any) -> dict[str, Any]:
    """A civil servant of the Department of Home Affairs: chuyên viên, step 3."""
    return {
        "identity": {
            "full_name": "Nguyễn Văn An",
            "gender": "male",
            "birth_date": date(1985, 3, 14),
            "birth_place": "Xã Tân Lập, huyện Đan Phượng, Hà Nội",
            "hometown": "Hà Nội",
            "ethnicity": "01",
            "religion": "khong",
        },
        "citizen": {"citizen_id": citizen_id},
        "education": {"general_education": "12/12"},
        "employment": {
            "category": "civil_servant",
            "unit_code": "SNV",
            "department": "Phòng Công chức, viên chức",
            "position": "Chuyên viên",
            "rank_code": "01.003",
            "salary_step": 3,
            "start_date": date(2010, 9, 1),
            **employment,
        },
    }
