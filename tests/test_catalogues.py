"""The catalogues: salary scales that match the decree, and clean reference lists."""

from __future__ import annotations

import unicodedata
from decimal import Decimal
from importlib import resources
from itertools import pairwise

import pytest

from domain import catalogues
from domain.catalogues import (
    CatalogueEntry,
    Rank,
    UnknownCatalogueCode,
    education_levels,
    ethnicities,
    political_theory_levels,
    rank,
    ranks,
    religions,
    state_management_levels,
    unit_kind_names,
)
from domain.values import EmployeeCategory, UnitKind

# Salary scales as printed in Nghị định 204/2004/NĐ-CP (Bảng 2, 3 and 4):
# first coefficient, increment, number of steps, and the last coefficient as printed.
DECREE_SCALES: dict[str, tuple[str, str, int, str]] = {
    "A3.1": ("6.20", "0.36", 6, "8.00"),
    "A3.2": ("5.75", "0.36", 6, "7.55"),
    "A2.1": ("4.40", "0.34", 8, "6.78"),
    "A2.2": ("4.00", "0.34", 8, "6.38"),
    "A1": ("2.34", "0.33", 9, "4.98"),
    "A0": ("2.10", "0.31", 10, "4.89"),
    "B": ("1.86", "0.20", 12, "4.06"),
    "C1": ("1.65", "0.18", 12, "3.63"),
    "C3": ("1.35", "0.18", 12, "3.33"),
    "TH-PV1": ("2.05", "0.18", 12, "4.03"),
    "TH-PV3": ("1.50", "0.18", 12, "3.48"),
    "TH-PV5": ("1.00", "0.18", 12, "2.98"),
}

CATALOGUE_FILES = (
    "ranks.csv",
    "ethnicities.csv",
    "religions.csv",
    "education_levels.csv",
    "political_theory_levels.csv",
    "state_management_levels.csv",
    "unit_kinds.csv",
)


def all_names() -> list[str]:
    names = [r.name for r in ranks().values()]
    for catalogue in (
        ethnicities,
        religions,
        education_levels,
        political_theory_levels,
        state_management_levels,
    ):
        names.extend(entry.name for entry in catalogue().values())
    names.extend(unit_kind_names().values())
    return names


# --- ranks and salary scales ---------------------------------------------------------


def test_chuyen_vien_has_nine_steps_from_2_34_by_0_33_to_4_98() -> None:
    chuyen_vien = rank("01.003")

    assert chuyen_vien.name == "Chuyên viên"
    assert chuyen_vien.category is EmployeeCategory.CIVIL_SERVANT
    assert chuyen_vien.salary_group == "A1"
    assert chuyen_vien.steps == 9
    assert chuyen_vien.raise_months == 36
    assert chuyen_vien.coefficients == tuple(
        Decimal(c) for c in ("2.34", "2.67", "3.00", "3.33", "3.66", "3.99", "4.32", "4.65", "4.98")
    )
    assert chuyen_vien.coefficient(1) == Decimal("2.34")
    assert chuyen_vien.max_coefficient == Decimal("4.98")


def test_coefficients_are_exact_two_place_decimals() -> None:
    value = rank("01.003").coefficient(4)

    assert isinstance(value, Decimal)
    assert str(value) == "3.33"
    assert str(rank("01.002").max_coefficient) == "6.78"


@pytest.mark.parametrize(
    ("code", "group"),
    [
        ("01.001", "A3.1"),
        ("01.002", "A2.1"),
        ("01.003", "A1"),
        ("01.004", "A0"),
        ("01.005", "B"),
        ("V.07.04.32", "A1"),
        ("V.08.01.03", "A1"),
    ],
)
def test_common_ranks_sit_in_their_salary_group(code: str, group: str) -> None:
    assert rank(code).salary_group == group


@pytest.mark.parametrize("code", sorted(ranks()))
def test_every_rank_follows_its_group_scale_in_the_decree(code: str) -> None:
    r = rank(code)
    assert r.salary_group in DECREE_SCALES, f"{code}: add {r.salary_group} to DECREE_SCALES"
    first, increment, steps, last = DECREE_SCALES[r.salary_group]

    assert (r.first_coefficient, r.step_increment, r.steps) == (
        Decimal(first),
        Decimal(increment),
        steps,
    )
    assert r.max_coefficient == Decimal(last)


def test_raise_interval_is_36_months_for_a_groups_and_24_otherwise() -> None:
    for r in ranks().values():
        expected = 36 if r.salary_group.startswith("A") else 24
        assert r.raise_months == expected, r.code


def test_coefficients_are_at_least_one_and_increase_each_step() -> None:
    for r in ranks().values():
        assert r.first_coefficient >= Decimal("1.00"), r.code
        assert r.step_increment > 0, r.code
        values = r.coefficients
        assert len(values) == r.steps
        assert all(a < b for a, b in pairwise(values)), r.code


def test_categories_match_the_kind_of_rank() -> None:
    for code in ("01.001", "01.002", "01.003", "01.004", "01.005"):
        assert rank(code).category is EmployeeCategory.CIVIL_SERVANT
    for r in ranks().values():
        if r.code.startswith("V."):
            assert r.category is EmployeeCategory.PUBLIC_EMPLOYEE, r.code
        assert isinstance(r.category, EmployeeCategory)


def test_rank_names_are_unique() -> None:
    names = [r.name for r in ranks().values()]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("step", [0, 10, -1, 100])
def test_out_of_range_step_names_the_rank_and_the_valid_range(step: int) -> None:
    with pytest.raises(ValueError, match=r"01\.003 \(Chuyên viên\).*1 to 9") as caught:
        rank("01.003").coefficient(step)

    assert f"step {step}" in str(caught.value)


@pytest.mark.parametrize("step", [True, 1.0, "1", Decimal(1)])
def test_a_step_must_be_a_whole_number(step: object) -> None:
    with pytest.raises(TypeError):
        rank("01.003").coefficient(step)  # type: ignore[arg-type]


def test_unknown_rank_code_is_a_clear_value_error() -> None:
    with pytest.raises(UnknownCatalogueCode, match=r"unknown rank code '99\.999'") as caught:
        rank("99.999")

    assert isinstance(caught.value, ValueError)
    assert caught.value.code == "99.999"
    assert caught.value.catalogue == "rank"


def test_a_rank_refuses_a_scale_that_cannot_be() -> None:
    with pytest.raises(ValueError, match="increment"):
        Rank(
            code="X",
            name="X",
            category=EmployeeCategory.CIVIL_SERVANT,
            salary_group="A1",
            first_coefficient=Decimal("2.34"),
            step_increment=Decimal("0.00"),
            steps=9,
            raise_months=36,
        )


# --- ethnicities, religions, levels, unit kinds ------------------------------------


def test_fifty_four_ethnic_groups_in_official_order() -> None:
    groups = ethnicities()

    assert len(groups) == 54
    assert list(groups) == [f"{n:02d}" for n in range(1, 55)]
    assert next(iter(groups.values())) == CatalogueEntry("01", "Kinh")
    assert [groups[c].name for c in ("02", "03", "04", "05", "06", "07", "09")] == [
        "Tày",
        "Thái",
        "Hoa",
        "Khơ-me",
        "Mường",
        "Nùng",
        "Dao",
    ]
    names = [entry.name for entry in groups.values()]
    assert len(set(names)) == 54


def test_religions_include_none_and_the_main_recognised_religions() -> None:
    entries = religions()
    names = {entry.name for entry in entries.values()}

    assert entries["khong"].name == "Không"
    assert {"Phật giáo", "Công giáo", "Tin lành", "Cao Đài", "Phật giáo Hòa Hảo"} <= names
    assert len(names) == len(entries)
    for code in entries:
        assert code.isascii() and code == code.lower(), code


def test_education_levels_rise_from_so_cap_to_tien_si_khoa_hoc() -> None:
    levels = education_levels()

    assert list(levels) == [
        "so_cap",
        "trung_cap",
        "cao_dang",
        "dai_hoc",
        "thac_si",
        "tien_si",
        "tien_si_khoa_hoc",
    ]
    ranks_in_order = [level.rank for level in levels.values()]
    assert ranks_in_order == sorted(set(ranks_in_order))


def test_political_theory_levels_and_the_equivalence_of_cu_nhan_and_cao_cap() -> None:
    levels = political_theory_levels()

    assert levels["so_cap"].rank < levels["trung_cap"].rank < levels["cao_cap"].rank
    assert levels["cu_nhan"].rank == levels["cao_cap"].rank


def test_state_management_levels_rise_from_chuyen_vien_to_cao_cap() -> None:
    levels = state_management_levels()

    assert [level.name for level in levels.values()] == [
        "Chuyên viên",
        "Chuyên viên chính",
        "Chuyên viên cao cấp",
    ]
    assert [level.rank for level in levels.values()] == [1, 2, 3]


def test_every_unit_kind_has_a_vietnamese_name() -> None:
    names = unit_kind_names()

    assert set(names) == set(UnitKind)
    assert all(isinstance(kind, UnitKind) for kind in names)
    assert all(name.strip() for name in names.values())
    assert len(set(names.values())) == len(names)
    assert names[UnitKind.PUBLIC_SERVICE_UNIT] == "Đơn vị sự nghiệp công lập"


# --- text and packaging --------------------------------------------------------------


def test_every_name_is_nfc_and_trimmed() -> None:
    for name in all_names():
        assert unicodedata.is_normalized("NFC", name), name
        assert name == name.strip() and name, repr(name)


@pytest.mark.parametrize("filename", CATALOGUE_FILES)
def test_data_files_ship_in_the_package_as_utf8_nfc(filename: str) -> None:
    data = resources.files("domain.catalogues").joinpath(filename).read_bytes()
    text = data.decode("utf-8")

    assert not text.startswith("\ufeff")
    assert unicodedata.is_normalized("NFC", text)


def test_catalogues_are_cached_and_read_only() -> None:
    assert ranks() is ranks()
    assert ethnicities() is ethnicities()
    with pytest.raises(TypeError):
        ranks()["01.003"] = rank("01.001")  # type: ignore[index]


# --- the file checks catch bad data ---------------------------------------------------


def parse(text: str) -> list[dict[str, str]]:
    return catalogues._parse(text, ("code", "name_vi"), "test.csv")


def test_a_duplicate_code_is_refused() -> None:
    with pytest.raises(ValueError, match="duplicate code '01'"):
        parse("code,name_vi\n01,Kinh\n01,Tày\n")


def test_text_not_in_nfc_is_refused() -> None:
    decomposed = unicodedata.normalize("NFD", "Tày")
    with pytest.raises(ValueError, match="NFC"):
        parse(f"code,name_vi\n02,{decomposed}\n")


@pytest.mark.parametrize(
    "text",
    [
        "code,name\n01,Kinh\n",
        "code,name_vi\n01,Kinh,extra\n",
        "code,name_vi\n01\n",
        "code,name_vi\n01, Kinh\n",
        "code,name_vi\n,Kinh\n",
        "\ufeffcode,name_vi\n01,Kinh\n",
    ],
)
def test_malformed_rows_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse(text)


@pytest.mark.parametrize("value", ["2.3", "2.340", "abc", "NaN", "2,34"])
def test_a_coefficient_needs_exactly_two_decimals(value: str) -> None:
    with pytest.raises(ValueError):
        catalogues._coefficient(value, "test.csv")
