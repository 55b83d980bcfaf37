"""Invariants of a personnel record, as pure functions over the record's values."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from domain import catalogues
from domain.errors import InvalidInput
from domain.values import EmployeeCategory

MINIMUM_WORKING_AGE = 15  # Bộ luật Lao động 2019, Điều 143: no recruitment below 15

# Which rank catalogue a category must be paid on; cadres and contract workers may hold
# either (elected cadres keep a civil-service rank; contracts follow the post).
RANK_CATEGORY_FOR = {
    EmployeeCategory.CIVIL_SERVANT: EmployeeCategory.CIVIL_SERVANT,
    EmployeeCategory.PUBLIC_EMPLOYEE: EmployeeCategory.PUBLIC_EMPLOYEE,
}


def years_after(day: date, years: int) -> date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def check_birth_date(birth_date: date, today: date) -> None:
    if birth_date > today:
        raise InvalidInput("the birth date is in the future", "identity.birth_date")


def check_effective_date(effective_date: date, birth_date: date) -> None:
    if effective_date < birth_date:
        raise InvalidInput(
            f"the effective date {effective_date} is before the birth date {birth_date}",
            "effective_date",
        )


def check_start_date(start_date: date, birth_date: date) -> None:
    if start_date < years_after(birth_date, MINIMUM_WORKING_AGE):
        raise InvalidInput(
            f"recruited on {start_date}, before the age of {MINIMUM_WORKING_AGE} "
            f"(born {birth_date})",
            "employment.start_date",
        )


def salary_placement(employment: dict[str, Any]) -> dict[str, Any]:
    """Check rank, step and coefficient against the rank catalogue.

    Returns the employment values with the coefficient filled in from the catalogue when
    only the rank and step were given.
    """
    result = dict(employment)
    category = EmployeeCategory(result["category"])
    rank_code = result.get("rank_code")
    if rank_code is None:
        if category in RANK_CATEGORY_FOR:
            raise InvalidInput(
                f"a {category.value.replace('_', ' ')} holds a rank", "employment.rank_code"
            )
        if "salary_step" in result:
            raise InvalidInput("a salary step needs a rank", "employment.salary_step")
        return result
    rank = catalogues.rank(rank_code)
    expected_category = RANK_CATEGORY_FOR.get(category)
    if expected_category is not None and rank.category != expected_category:
        raise InvalidInput(
            f"rank {rank.code} ({rank.name}) is not a rank for a "
            f"{category.value.replace('_', ' ')}",
            "employment.rank_code",
        )
    step = result.get("salary_step")
    if step is None:
        raise InvalidInput(f"rank {rank.code} needs a salary step", "employment.salary_step")
    try:
        expected = rank.coefficient(step)
    except ValueError as exc:
        raise InvalidInput(str(exc), "employment.salary_step") from None
    given = result.get("coefficient")
    if given is not None and Decimal(given) != expected:
        raise InvalidInput(
            f"rank {rank.code} step {step} has coefficient {expected}, not {given}",
            "employment.coefficient",
        )
    result["coefficient"] = expected
    return result


def check_record(record: dict[str, Any], today: date) -> dict[str, Any]:
    """Every invariant of a whole approved record; returns it with derived values filled."""
    identity = record["identity"]
    birth_date = identity["birth_date"]
    check_birth_date(birth_date, today)
    employment = salary_placement(record["employment"])
    check_start_date(employment["start_date"], birth_date)
    for entry in record.get("salary_history", []):
        if entry.get("rank_code") and entry.get("salary_step"):
            rank = catalogues.rank(entry["rank_code"])
            try:
                expected = rank.coefficient(entry["salary_step"])
            except ValueError as exc:
                raise InvalidInput(str(exc), "salary_history") from None
            if entry["coefficient"] != expected:
                raise InvalidInput(
                    f"rank {rank.code} step {entry['salary_step']} has coefficient "
                    f"{expected}, not {entry['coefficient']}",
                    "salary_history",
                )
    return {**record, "employment": employment}


# Retirement age under Bộ luật Lao động 2019, Điều 169 and Nghị định 135/2020: from 2021
# men 60 years 3 months, +3 months a year up to 62 (2028); women 55 years 4 months,
# +4 months a year up to 60 (2035). Before 2021: 60 and 55.
RETIREMENT_AGE_MONTHS = {
    "male": {"before_2021": 60 * 12, "in_2021": 60 * 12 + 3, "step": 3, "cap": 62 * 12},
    "female": {"before_2021": 55 * 12, "in_2021": 55 * 12 + 4, "step": 4, "cap": 60 * 12},
}


def retirement_age_months(gender: str, year: int) -> int:
    rule = RETIREMENT_AGE_MONTHS[gender]
    if year < 2021:
        return rule["before_2021"]
    return min(rule["cap"], rule["in_2021"] + rule["step"] * (year - 2021))


def retirement_date(birth_date: date, gender: str) -> date:
    """The day retirement takes effect: the first day after the month in which the person
    reaches the retirement age in force in that year."""
    for year in range(birth_date.year + 50, birth_date.year + 70):
        months = retirement_age_months(gender, year)
        total = birth_date.month - 1 + months
        reached = date(birth_date.year + total // 12, total % 12 + 1, 1)
        if reached.year == year:
            following = reached.month % 12 + 1
            return date(reached.year + (reached.month == 12), following, 1)
    raise ValueError(f"no retirement date for a person born {birth_date}")
