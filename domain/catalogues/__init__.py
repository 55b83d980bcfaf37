"""Catalogues (danh mục): ranks and their salary scales, ethnic groups, religions,
training levels and the Vietnamese names of unit kinds.

The data lives in CSV files beside this module (UTF-8, Unicode NFC) so that it ships
inside the package and can be corrected without touching code. Each loader reads its
file once, checks it, and returns a read-only mapping from code to entry in file order.

Salary scales follow Nghị định 204/2004/NĐ-CP as amended: a rank (ngạch or chức danh
nghề nghiệp) has a salary group, a first coefficient, a fixed increment between
consecutive steps (bậc) and a number of steps. Groups A3.1 ... B and C1 ... C3 are the
groups of Bảng 2 and Bảng 3; groups TH-PV1 ... TH-PV5 are the rows of Bảng 4 (nhân viên
thừa hành, phục vụ). Coefficients are exact decimals with two places.

Training levels carry a ``rank``: a higher rank is a higher level, and two levels with
the same rank are equivalent (cử nhân chính trị and cao cấp lý luận chính trị).
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from functools import cache
from importlib import resources
from types import MappingProxyType

from domain.values import EmployeeCategory, UnitKind

__all__ = [
    "CatalogueEntry",
    "Rank",
    "TrainingLevel",
    "UnknownCatalogueCode",
    "education_levels",
    "ethnicities",
    "political_theory_levels",
    "rank",
    "ranks",
    "religions",
    "state_management_levels",
    "unit_kind_names",
]

_COEFFICIENT_PLACES = -2  # coefficients are written with exactly two decimals
_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")


class UnknownCatalogueCode(ValueError):
    """A code that the named catalogue does not contain."""

    def __init__(self, catalogue: str, code: str) -> None:
        super().__init__(f"unknown {catalogue} code {code!r}")
        self.catalogue = catalogue
        self.code = code


@dataclass(frozen=True)
class CatalogueEntry:
    """One line of a catalogue: a stable code and its Vietnamese name."""

    code: str
    name: str


@dataclass(frozen=True)
class TrainingLevel(CatalogueEntry):
    """A level of training; ``rank`` orders levels, equal ranks are equivalent."""

    rank: int


@dataclass(frozen=True)
class Rank:
    """A rank (ngạch) or professional title (chức danh nghề nghiệp) and its salary scale."""

    code: str
    name: str
    category: EmployeeCategory
    salary_group: str
    first_coefficient: Decimal
    step_increment: Decimal
    steps: int
    raise_months: int  # months between regular step raises (nâng bậc lương thường xuyên)

    def __post_init__(self) -> None:
        if self.steps < 1:
            raise ValueError(f"rank {self.code}: a salary scale needs at least one step")
        if self.first_coefficient <= 0:
            raise ValueError(f"rank {self.code}: the first coefficient must be positive")
        if self.step_increment <= 0:
            raise ValueError(f"rank {self.code}: the step increment must be positive")
        if self.raise_months < 1:
            raise ValueError(f"rank {self.code}: the raise interval must be positive")

    def coefficient(self, step: int) -> Decimal:
        """The salary coefficient (hệ số lương) of ``step``, counted from 1."""
        if isinstance(step, bool) or not isinstance(step, int):
            raise TypeError(f"a salary step is a whole number, not {step!r}")
        if not 1 <= step <= self.steps:
            raise ValueError(
                f"rank {self.code} ({self.name}) has salary steps 1 to {self.steps}; "
                f"step {step} is out of range"
            )
        return self.first_coefficient + self.step_increment * (step - 1)

    @property
    def max_coefficient(self) -> Decimal:
        """The coefficient of the last step; beyond it comes the seniority allowance."""
        return self.coefficient(self.steps)

    @property
    def coefficients(self) -> tuple[Decimal, ...]:
        """Every step's coefficient, step 1 first."""
        return tuple(self.coefficient(step) for step in range(1, self.steps + 1))


def _parse(text: str, columns: tuple[str, ...], source: str) -> list[dict[str, str]]:
    """Rows of a catalogue file, checked for header, NFC text and unique codes."""
    if text.startswith("\ufeff"):
        raise ValueError(f"{source}: the file must not start with a byte-order mark")
    if not unicodedata.is_normalized("NFC", text):
        raise ValueError(f"{source}: the file is not in Unicode NFC")
    reader = csv.DictReader(io.StringIO(text, newline=""), strict=True)
    if tuple(reader.fieldnames or ()) != columns:
        raise ValueError(f"{source}: expected columns {','.join(columns)}")
    rows: list[dict[str, str]] = []
    seen: set[str] = set()
    for row in reader:
        where = f"{source} line {reader.line_num}"
        if None in row or any(value is None for value in row.values()):
            raise ValueError(f"{where}: expected {len(columns)} fields")
        if any(value != value.strip() or not value for value in row.values()):
            raise ValueError(f"{where}: fields must be non-empty and without surrounding spaces")
        code = row["code"]
        if not _CODE.fullmatch(code):
            raise ValueError(f"{where}: {code!r} is not a valid code")
        if code in seen:
            raise ValueError(f"{where}: duplicate code {code!r}")
        seen.add(code)
        rows.append(row)
    return rows


def _read(filename: str, columns: tuple[str, ...]) -> list[dict[str, str]]:
    text = resources.files(__name__).joinpath(filename).read_text(encoding="utf-8")
    return _parse(text, columns, filename)


def _coefficient(value: str, where: str) -> Decimal:
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{where}: {value!r} is not a decimal number") from None
    if not number.is_finite() or number.as_tuple().exponent != _COEFFICIENT_PLACES:
        raise ValueError(f"{where}: {value!r} must be written with two decimals")
    return number


def _whole(value: str, where: str) -> int:
    if not (value.isascii() and value.isdigit()):
        raise ValueError(f"{where}: {value!r} is not a whole number")
    return int(value)


def _ranks_from(rows: list[dict[str, str]], source: str) -> dict[str, Rank]:
    result: dict[str, Rank] = {}
    for row in rows:
        where = f"{source} rank {row['code']}"
        try:
            category = EmployeeCategory(row["category"])
        except ValueError:
            raise ValueError(f"{where}: unknown category {row['category']!r}") from None
        result[row["code"]] = Rank(
            code=row["code"],
            name=row["name_vi"],
            category=category,
            salary_group=row["salary_group"],
            first_coefficient=_coefficient(row["first_coefficient"], where),
            step_increment=_coefficient(row["step_increment"], where),
            steps=_whole(row["steps"], where),
            raise_months=_whole(row["raise_months"], where),
        )
    return result


def _entries(filename: str) -> Mapping[str, CatalogueEntry]:
    rows = _read(filename, ("code", "name_vi"))
    return MappingProxyType(
        {row["code"]: CatalogueEntry(row["code"], row["name_vi"]) for row in rows}
    )


def _levels(filename: str) -> Mapping[str, TrainingLevel]:
    rows = _read(filename, ("code", "name_vi", "rank"))
    return MappingProxyType(
        {
            row["code"]: TrainingLevel(
                row["code"], row["name_vi"], _whole(row["rank"], f"{filename} {row['code']}")
            )
            for row in rows
        }
    )


@cache
def ranks() -> Mapping[str, Rank]:
    """Ranks and professional titles by code (e.g. ``01.003``, ``V.07.04.32``)."""
    columns = (
        "code",
        "name_vi",
        "category",
        "salary_group",
        "first_coefficient",
        "step_increment",
        "steps",
        "raise_months",
    )
    return MappingProxyType(_ranks_from(_read("ranks.csv", columns), "ranks.csv"))


def rank(code: str) -> Rank:
    """The rank with ``code``; raises UnknownCatalogueCode if there is none."""
    try:
        return ranks()[code]
    except KeyError:
        raise UnknownCatalogueCode("rank", code) from None


@cache
def ethnicities() -> Mapping[str, CatalogueEntry]:
    """The 54 ethnic groups, codes 01 to 54 in the General Statistics Office order."""
    return _entries("ethnicities.csv")


@cache
def religions() -> Mapping[str, CatalogueEntry]:
    """Religions recognised in Vietnam, with ``khong`` for none and ``khac`` for other."""
    return _entries("religions.csv")


@cache
def education_levels() -> Mapping[str, TrainingLevel]:
    """Professional training levels (trình độ chuyên môn), lowest first."""
    return _levels("education_levels.csv")


@cache
def political_theory_levels() -> Mapping[str, TrainingLevel]:
    """Political theory levels (lý luận chính trị), lowest first."""
    return _levels("political_theory_levels.csv")


@cache
def state_management_levels() -> Mapping[str, TrainingLevel]:
    """State management training levels (quản lý nhà nước), lowest first."""
    return _levels("state_management_levels.csv")


@cache
def unit_kind_names() -> Mapping[UnitKind, str]:
    """The Vietnamese name of every UnitKind."""
    names: dict[UnitKind, str] = {}
    for row in _read("unit_kinds.csv", ("code", "name_vi")):
        try:
            kind = UnitKind(row["code"])
        except ValueError:
            raise ValueError(f"unit_kinds.csv: unknown unit kind {row['code']!r}") from None
        names[kind] = row["name_vi"]
    missing = [kind.value for kind in UnitKind if kind not in names]
    if missing:
        raise ValueError(f"unit_kinds.csv: no name for {', '.join(missing)}")
    return MappingProxyType(names)
