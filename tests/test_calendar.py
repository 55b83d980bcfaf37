"""Working-day calendar: real Vietnamese holidays, swaps and worked Saturdays.

The expected dates are the official schedules for public servants (cán bộ, công chức,
viên chức), as published and as encoded in the ``holidays`` package (country VN).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.calendar import (
    EXTRA_DAY_OFF_NAME,
    WorkingDayCalendar,
    calendar_from_settings,
    to_business_date,
    today,
)

D = date


@pytest.fixture(scope="module")
def cal() -> WorkingDayCalendar:
    return WorkingDayCalendar()


# A package calendar used as an independent oracle for the plain (unconfigured) calendar.
PACKAGE = holidays.country_holidays("VN", years=range(2014, 2032), language="vi")
CAL = WorkingDayCalendar()


def days(first: date, last: date) -> list[date]:
    return [first + timedelta(k) for k in range((last - first).days + 1)]


# -- Tết ---------------------------------------------------------------------------------


def test_tet_2024_giap_thin(cal: WorkingDayCalendar) -> None:
    # Off Thursday 8 Feb to Wednesday 14 Feb 2024 (29 Chạp to mùng 5).
    assert cal.is_working_day(D(2024, 2, 7))
    assert not any(cal.is_working_day(d) for d in days(D(2024, 2, 8), D(2024, 2, 14)))
    assert cal.is_working_day(D(2024, 2, 15))
    assert cal.add_working_days(D(2024, 2, 7), 1) == D(2024, 2, 15)
    assert cal.working_days_between(D(2024, 2, 7), D(2024, 2, 15)) == 1
    assert cal.holiday_name(D(2024, 2, 10)) == "Tết Nguyên Đán"
    assert cal.holiday_name(D(2024, 2, 9)) == "Giao thừa Tết Nguyên Đán"


def test_tet_2025_at_ty(cal: WorkingDayCalendar) -> None:
    # Nine days off, Saturday 25 Jan to Sunday 2 Feb 2025; Monday 27 Jan is the day off
    # in lieu of mùng 4 (Saturday 1 Feb), and there is no make-up working Saturday.
    assert cal.is_working_day(D(2025, 1, 24))
    assert not any(cal.is_working_day(d) for d in days(D(2025, 1, 25), D(2025, 2, 2)))
    assert cal.holiday_name(D(2025, 1, 27)) is not None
    assert cal.holiday_name(D(2025, 1, 29)) == "Tết Nguyên Đán"
    assert cal.add_working_days(D(2025, 1, 24), 1) == D(2025, 2, 3)
    assert not cal.is_working_day(D(2025, 2, 8))
    assert cal.add_working_days(D(2025, 1, 24), 6) == D(2025, 2, 10)


# -- 30/4 and 1/5 --------------------------------------------------------------------------


def test_reunification_and_labour_day_2025(cal: WorkingDayCalendar) -> None:
    # Off Wednesday 30 Apr to Sunday 4 May 2025: Friday 2 May swapped with Saturday 26 Apr,
    # which is worked.
    assert not any(cal.is_working_day(d) for d in days(D(2025, 4, 30), D(2025, 5, 4)))
    assert cal.holiday_name(D(2025, 4, 30)) == "Ngày Chiến thắng"
    assert cal.holiday_name(D(2025, 5, 1)) == "Ngày Quốc tế Lao động"
    assert cal.holiday_name(D(2025, 5, 2)) == "Ngày nghỉ (thay cho ngày 26/04/2025)"
    assert cal.is_working_day(D(2025, 4, 26))
    assert cal.holiday_name(D(2025, 4, 26)) is None
    assert cal.add_working_days(D(2025, 4, 25), 1) == D(2025, 4, 26)
    assert cal.add_working_days(D(2025, 4, 29), 1) == D(2025, 5, 5)
    assert cal.working_days_between(D(2025, 4, 24), D(2025, 5, 5)) == 5  # 25, 26, 28, 29, 5


def test_reunification_and_labour_day_2024_worked_saturday(cal: WorkingDayCalendar) -> None:
    # Monday 29 Apr 2024 off, worked on Saturday 4 May 2024 instead.
    assert not any(cal.is_working_day(d) for d in days(D(2024, 4, 27), D(2024, 5, 1)))
    assert cal.holiday_name(D(2024, 4, 29)) == "Ngày nghỉ (thay cho ngày 04/05/2024)"
    assert cal.add_working_days(D(2024, 4, 26), 1) == D(2024, 5, 2)
    assert cal.is_working_day(D(2024, 5, 4))
    assert not cal.is_working_day(D(2024, 5, 5))
    assert cal.add_working_days(D(2024, 5, 3), 1) == D(2024, 5, 4)
    assert cal.add_working_days(D(2024, 5, 4), 1) == D(2024, 5, 6)


def test_swap_across_new_year(cal: WorkingDayCalendar) -> None:
    # Monday 31 Dec 2018 off, worked on Saturday 5 Jan 2019.
    assert not cal.is_working_day(D(2018, 12, 31))
    assert cal.holiday_name(D(2018, 12, 31)) == "Ngày nghỉ (thay cho ngày 05/01/2019)"
    assert cal.is_working_day(D(2019, 1, 5))
    assert cal.add_working_days(D(2018, 12, 28), 1) == D(2019, 1, 2)
    assert cal.add_working_days(D(2019, 1, 4), 1) == D(2019, 1, 5)
    assert cal.add_working_days(D(2019, 1, 7), -1) == D(2019, 1, 5)


# -- Giỗ Tổ, Quốc khánh, Ngày Văn hóa ---------------------------------------------------


def test_hung_kings_2024(cal: WorkingDayCalendar) -> None:
    # 10/3 âm lịch = Thursday 18 Apr 2024.
    assert not cal.is_working_day(D(2024, 4, 18))
    assert cal.holiday_name(D(2024, 4, 18)) == "Ngày Giỗ Tổ Hùng Vương"
    assert cal.add_working_days(D(2024, 4, 17), 1) == D(2024, 4, 19)


def test_national_day(cal: WorkingDayCalendar) -> None:
    # Two days since 2021 (2/9 and the day before or after).
    # 2024: Monday 2 and Tuesday 3 Sep.
    assert not cal.is_working_day(D(2024, 9, 2))
    assert not cal.is_working_day(D(2024, 9, 3))
    assert cal.add_working_days(D(2024, 8, 30), 1) == D(2024, 9, 4)
    # 2025: Monday 1 and Tuesday 2 Sep, off Saturday 30 Aug to Tuesday 2 Sep.
    assert cal.holiday_name(D(2025, 9, 2)) == "Quốc khánh"
    assert cal.add_working_days(D(2025, 8, 29), 1) == D(2025, 9, 3)
    # 2026: Tuesday 1 and Wednesday 2 Sep, Monday 31 Aug swapped with Saturday 22 Aug.
    assert cal.is_working_day(D(2026, 8, 22))
    assert not any(cal.is_working_day(d) for d in days(D(2026, 8, 29), D(2026, 9, 2)))
    assert cal.add_working_days(D(2026, 8, 28), 1) == D(2026, 9, 3)


def test_vietnam_cultural_day_from_2026(cal: WorkingDayCalendar) -> None:
    assert cal.is_working_day(D(2025, 11, 24))
    assert not cal.is_working_day(D(2026, 11, 24))
    assert cal.holiday_name(D(2026, 11, 24)) == "Ngày Văn hóa Việt Nam"


def test_ordinary_days(cal: WorkingDayCalendar) -> None:
    assert cal.is_working_day(D(2025, 3, 12))
    assert cal.holiday_name(D(2025, 3, 12)) is None
    assert not cal.is_working_day(D(2025, 3, 15))  # Saturday
    assert cal.holiday_name(D(2025, 3, 15)) is None
    assert cal.add_working_days(D(2025, 3, 14), 1) == D(2025, 3, 17)
    assert cal.add_working_days(D(2025, 3, 14), 5) == D(2025, 3, 21)


# -- n = 0 and negative n ----------------------------------------------------------------


def test_zero_working_days(cal: WorkingDayCalendar) -> None:
    assert cal.add_working_days(D(2024, 2, 7), 0) == D(2024, 2, 7)
    assert cal.add_working_days(D(2024, 2, 10), 0) == D(2024, 2, 15)
    assert cal.next_working_day(D(2025, 5, 1)) == D(2025, 5, 5)
    assert cal.working_days_between(D(2024, 2, 8), D(2024, 2, 14)) == 0
    assert cal.working_days_between(D(2024, 2, 7), D(2024, 2, 7)) == 0


def test_negative_working_days(cal: WorkingDayCalendar) -> None:
    assert cal.add_working_days(D(2024, 2, 15), -1) == D(2024, 2, 7)
    assert cal.add_working_days(D(2025, 2, 3), -1) == D(2025, 1, 24)
    assert cal.add_working_days(D(2025, 5, 5), -1) == D(2025, 4, 29)
    assert cal.add_working_days(D(2025, 5, 5), -3) == D(2025, 4, 26)  # the worked Saturday
    assert cal.add_working_days(D(2025, 5, 5), -4) == D(2025, 4, 25)
    assert cal.add_working_days(D(2025, 5, 1), -1) == D(2025, 4, 29)
    assert cal.add_working_days(D(2025, 1, 2), -1) == D(2024, 12, 31)
    assert cal.working_days_between(D(2024, 2, 15), D(2024, 2, 7)) == -1
    assert cal.working_days_between(D(2025, 5, 5), D(2025, 4, 24)) == -5


def test_long_spans_across_years(cal: WorkingDayCalendar) -> None:
    start = D(2020, 1, 2)
    end = cal.add_working_days(start, 2500)
    assert cal.working_days_between(start, end) == 2500
    assert cal.add_working_days(end, -2500) == start
    assert cal.working_days_between(end, start) == -2500
    assert len(cal.working_days(D(2020, 1, 3), end)) == 2500


# -- configuration -------------------------------------------------------------------------


def test_extra_day_off_and_make_up_saturday() -> None:
    extra_off = D(2025, 3, 12)  # a Wednesday
    make_up = D(2025, 3, 22)  # a Saturday
    cal = WorkingDayCalendar(extra_days_off={extra_off}, extra_working_days={make_up})
    assert not cal.is_working_day(extra_off)
    assert cal.holiday_name(extra_off) == EXTRA_DAY_OFF_NAME
    assert cal.is_working_day(make_up)
    assert cal.holiday_name(make_up) is None
    assert cal.add_working_days(D(2025, 3, 11), 1) == D(2025, 3, 13)
    assert cal.add_working_days(D(2025, 3, 21), 1) == D(2025, 3, 22)
    assert cal.add_working_days(D(2025, 3, 21), 2) == D(2025, 3, 24)
    assert cal.working_days_between(D(2025, 3, 10), D(2025, 3, 24)) == 10 - 1 + 1
    assert cal.extra_days_off == frozenset({extra_off})
    assert cal.extra_working_days == frozenset({make_up})


def test_extra_working_day_overrides_a_package_day_off() -> None:
    cal = WorkingDayCalendar(extra_working_days=[D(2025, 1, 27)])
    assert cal.is_working_day(D(2025, 1, 27))
    assert cal.holiday_name(D(2025, 1, 27)) is None
    assert cal.add_working_days(D(2025, 1, 24), 1) == D(2025, 1, 27)


def test_extra_day_off_overrides_a_package_worked_saturday() -> None:
    cal = WorkingDayCalendar(extra_days_off=[D(2024, 5, 4)])
    assert not cal.is_working_day(D(2024, 5, 4))
    assert cal.add_working_days(D(2024, 5, 3), 1) == D(2024, 5, 6)


def test_a_date_cannot_be_both_off_and_working() -> None:
    with pytest.raises(ValueError, match="2025-03-22"):
        WorkingDayCalendar(extra_days_off=[D(2025, 3, 22)], extra_working_days=[D(2025, 3, 22)])


def test_calendar_from_settings_parses_iso_strings() -> None:
    cal = calendar_from_settings(
        extra_days_off=["2025-03-12", D(2025, 3, 13)], extra_working_days=[" 2025-03-22 "]
    )
    assert cal.extra_days_off == frozenset({D(2025, 3, 12), D(2025, 3, 13)})
    assert cal.extra_working_days == frozenset({D(2025, 3, 22)})
    assert cal.add_working_days(D(2025, 3, 11), 1) == D(2025, 3, 14)


@pytest.mark.parametrize(
    ("value", "setting"),
    [
        ("2025-02-30", "extra_days_off"),
        ("2025/02/08", "extra_days_off"),
        ("08-02-2025", "extra_working_days"),
        ("20250208", "extra_working_days"),
        ("", "extra_days_off"),
        (datetime(2025, 2, 8, 8, 0, tzinfo=UTC), "extra_working_days"),
        (20250208, "extra_days_off"),
    ],
)
def test_calendar_from_settings_rejects_bad_dates(value: object, setting: str) -> None:
    with pytest.raises(ValueError, match=setting) as info:
        calendar_from_settings(**{setting: [value]})  # type: ignore[arg-type]
    assert "YYYY-MM-DD" in str(info.value) or "timestamp" in str(info.value)


def test_calendar_from_settings_rejects_a_bare_string() -> None:
    with pytest.raises(ValueError, match="list of dates"):
        calendar_from_settings(extra_days_off="2025-03-12")


# -- input checks and supported range ------------------------------------------------------


def test_timestamps_are_not_dates(cal: WorkingDayCalendar) -> None:
    with pytest.raises(TypeError, match="to_business_date"):
        cal.is_working_day(datetime(2025, 3, 12, 9, 0, tzinfo=UTC))
    with pytest.raises(TypeError):
        cal.add_working_days(D(2025, 3, 12), 1.0)  # type: ignore[arg-type]


def test_outside_the_package_range_is_an_error(cal: WorkingDayCalendar) -> None:
    with pytest.raises(ValueError, match="outside the supported calendar"):
        cal.is_working_day(D(2101, 1, 3))
    with pytest.raises(ValueError, match="outside the supported calendar"):
        cal.add_working_days(D(2100, 12, 1), 100)
    with pytest.raises(ValueError, match="outside the supported calendar"):
        WorkingDayCalendar(extra_days_off=[D(2150, 1, 2)])


# -- time zone -----------------------------------------------------------------------------


def test_business_dates_are_in_ho_chi_minh_time() -> None:
    assert to_business_date(datetime(2024, 12, 31, 16, 59, tzinfo=UTC)) == D(2024, 12, 31)
    assert to_business_date(datetime(2024, 12, 31, 17, 0, tzinfo=UTC)) == D(2025, 1, 1)
    with pytest.raises(ValueError, match="naive"):
        to_business_date(datetime(2025, 1, 1, 9, 0))


def test_today_is_the_date_in_ho_chi_minh() -> None:
    tz = ZoneInfo("Asia/Ho_Chi_Minh")
    before = datetime.now(tz).date()
    got = today()
    after = datetime.now(tz).date()
    assert got in {before, after}
    assert WorkingDayCalendar.today() in {before, after, after + timedelta(1)}


# -- fast by design ------------------------------------------------------------------------


def test_package_is_consulted_once_per_day_of_a_year_then_never(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    cal = WorkingDayCalendar()
    calls = 0
    original = cal._holidays.is_working_day

    def counting(d: date) -> bool:
        nonlocal calls
        calls += 1
        return original(d)

    monkeypatch.setattr(cal._holidays, "is_working_day", counting)
    start = D(2020, 1, 1)
    for k in range(10_000):
        cal.add_working_days(start + timedelta(k % 3650), k % 500 - 100)
    first_pass = calls
    # Dates from 2020 to 2029, reaching back into 2019 and forward into 2031.
    assert sorted(cal._years) == list(range(2019, 2032))
    assert first_pass == (D(2032, 1, 1) - D(2019, 1, 1)).days
    for k in range(10_000):
        cal.add_working_days(start + timedelta(k % 3650), k % 500 - 100)
        cal.working_days_between(start, start + timedelta(k % 3650))
    assert calls == first_pass


# -- properties ----------------------------------------------------------------------------

dates = st.dates(min_value=D(2015, 1, 1), max_value=D(2029, 12, 31))


@settings(max_examples=300, deadline=None)
@given(start=dates, n=st.integers(min_value=-400, max_value=400))
def test_add_agrees_with_the_package(start: date, n: int) -> None:
    assert CAL.add_working_days(start, n) == PACKAGE.get_nth_working_day(start, n)


@settings(max_examples=300, deadline=None)
@given(a=dates, b=dates)
def test_between_agrees_with_the_package(a: date, b: date) -> None:
    lo, hi = min(a, b), max(a, b)
    expected = PACKAGE.get_working_days_count(lo, hi) - PACKAGE.is_working_day(lo)
    assert CAL.working_days_between(lo, hi) == expected
    assert CAL.working_days_between(hi, lo) == -expected


@settings(max_examples=300, deadline=None)
@given(start=dates, n=st.integers(min_value=1, max_value=1000))
def test_add_and_between_are_consistent(start: date, n: int) -> None:
    end = CAL.add_working_days(start, n)
    assert CAL.is_working_day(end)
    assert CAL.working_days_between(start, end) == n
    back = CAL.add_working_days(end, -n)
    # Back to the last working day on or before start.
    assert back == (start if CAL.is_working_day(start) else CAL.add_working_days(start, -1))
    assert CAL.working_days_between(back, end) == n
    assert CAL.working_days_between(end, back) == -n


@settings(max_examples=200, deadline=None)
@given(
    start=st.dates(min_value=D(2024, 1, 1), max_value=D(2025, 12, 31)),
    n=st.integers(min_value=-60, max_value=60),
    off=st.sets(st.dates(min_value=D(2023, 10, 1), max_value=D(2026, 3, 31)), max_size=15),
    on=st.sets(st.dates(min_value=D(2023, 10, 1), max_value=D(2026, 3, 31)), max_size=15),
)
def test_configured_days_by_stepping(start: date, n: int, off: set[date], on: set[date]) -> None:
    on -= off
    cal = WorkingDayCalendar(extra_days_off=off, extra_working_days=on)

    def working(d: date) -> bool:
        if d in on:
            return True
        if d in off:
            return False
        return PACKAGE.is_working_day(d)

    # Reference: step one day at a time.
    step = 1 if n >= 0 else -1
    d = start
    for _ in range(abs(n) or 1):
        if n:
            d += timedelta(step)
        while not working(d):
            d += timedelta(step)
    assert cal.add_working_days(start, n) == d

    lo, hi = min(start, d), max(start, d)
    count = sum(working(x) for x in days(lo + timedelta(1), hi))
    assert cal.working_days_between(lo, hi) == count
    assert cal.working_days_between(hi, lo) == -count
