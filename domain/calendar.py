"""Working-day calendar for Vietnamese state bodies.

Every deadline in the ledger is "N working days from the decision's effective date".
A working day (ngày làm việc) is Monday to Friday, minus the public holidays of the
Labour Code (Tết Dương lịch, Tết Nguyên Đán, Giỗ Tổ Hùng Vương, 30/4, 1/5, Quốc khánh,
Ngày Văn hóa Việt Nam from 2026) and the days off the Government swaps in, plus the
Saturdays it declares as make-up working days.

The public holidays, their compensatory days (nghỉ bù), the swapped days off and the
worked Saturdays come from the ``holidays`` package (country ``VN``): its own
``is_working_day`` and ``weekend_workdays``, not a list kept here. On top of it an
instance is configured with:

* ``extra_days_off`` -- days off announced after the package release (or local ones);
* ``extra_working_days`` -- make-up working days (usually Saturdays) announced yearly.

Business dates are calendar dates in Asia/Ho_Chi_Minh (see :func:`today` and
:func:`to_business_date`).

Speed: the calendar is materialised one year at a time, lazily, as a sorted array of
the ordinals of that year's working days. ``is_working_day`` is a set lookup,
``add_working_days`` and ``working_days_between`` are a bisection per year touched, so a
span of many years costs a handful of operations per year, never one call into the
``holidays`` package per day.
"""

from __future__ import annotations

import threading
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

__all__ = [
    "BUSINESS_TIMEZONE_NAME",
    "EXTRA_DAY_OFF_NAME",
    "WorkingDayCalendar",
    "business_timezone",
    "calendar_from_settings",
    "parse_business_date",
    "to_business_date",
    "today",
]

BUSINESS_TIMEZONE_NAME = "Asia/Ho_Chi_Minh"

#: Name reported by :meth:`WorkingDayCalendar.holiday_name` for a configured day off.
EXTRA_DAY_OFF_NAME = "Ngày nghỉ bổ sung"

_COUNTRY = "VN"
_LANGUAGE = "vi"


def business_timezone() -> tzinfo:
    """The time zone of business dates: Asia/Ho_Chi_Minh.

    Falls back to a fixed UTC+07:00 when the system has no time-zone database
    (Vietnam has kept UTC+07:00 without daylight saving since 1975).
    """
    try:
        return ZoneInfo(BUSINESS_TIMEZONE_NAME)
    except ZoneInfoNotFoundError:
        return timezone(timedelta(hours=7), "ICT")


def to_business_date(moment: datetime) -> date:
    """The business date (calendar date in Asia/Ho_Chi_Minh) of an aware timestamp."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(
            f"naive datetime {moment.isoformat()!r}: a timestamp must carry its time zone "
            "(recorded times are UTC)"
        )
    return moment.astimezone(business_timezone()).date()


def today() -> date:
    """Today's business date in Asia/Ho_Chi_Minh."""
    return datetime.now(business_timezone()).date()


def parse_business_date(value: date | str) -> date:
    """A date, or an ISO 8601 calendar date string ``YYYY-MM-DD``; ValueError otherwise."""
    if isinstance(value, datetime):
        raise ValueError(f"expected a calendar date, got the timestamp {value.isoformat()!r}")
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        text = value.strip()
        try:
            if len(text) != 10:
                raise ValueError
            return date.fromisoformat(text)
        except ValueError:
            raise ValueError(
                f"invalid date {value!r}: expected an ISO date YYYY-MM-DD, e.g. 2025-02-08"
            ) from None
    raise ValueError(f"invalid date {value!r}: expected a date or an ISO string YYYY-MM-DD")


@dataclass(frozen=True, slots=True)
class _Year:
    """The working days of one calendar year."""

    ordinals: tuple[int, ...]  # sorted ordinals of the working days
    members: frozenset[int]


class WorkingDayCalendar:
    """Vietnamese working days: the ``holidays`` VN calendar plus configured exceptions.

    ``extra_days_off`` are not working days even if the package says so;
    ``extra_working_days`` are working days even on a weekend or a package holiday.
    A date may not be in both.

    Supported dates are those the package covers (years 1901 to 2100 at present);
    a date outside, or a result that would fall outside, raises ValueError rather than
    silently treating every weekday as a working day.
    """

    def __init__(
        self,
        extra_days_off: Iterable[date] = (),
        extra_working_days: Iterable[date] = (),
    ) -> None:
        self.extra_days_off: frozenset[date] = frozenset(
            _require_date(d, "extra_days_off") for d in extra_days_off
        )
        self.extra_working_days: frozenset[date] = frozenset(
            _require_date(d, "extra_working_days") for d in extra_working_days
        )
        both = self.extra_days_off & self.extra_working_days
        if both:
            listed = ", ".join(d.isoformat() for d in sorted(both))
            raise ValueError(f"dates both in extra_days_off and extra_working_days: {listed}")

        self._holidays = holidays.country_holidays(_COUNTRY, language=_LANGUAGE)
        self.first_year: int = self._holidays.start_year
        self.last_year: int = self._holidays.end_year
        for d in self.extra_days_off | self.extra_working_days:
            self._check_year(d)

        self._years: dict[int, _Year] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(extra_days_off={sorted(self.extra_days_off)!r}, "
            f"extra_working_days={sorted(self.extra_working_days)!r})"
        )

    # -- queries ---------------------------------------------------------------------

    def is_working_day(self, d: date) -> bool:
        """Whether ``d`` is a working day."""
        d = _require_date(d, "d")
        return d.toordinal() in self._year(d.year).members

    def holiday_name(self, d: date) -> str | None:
        """The Vietnamese name of the holiday or day off on ``d``, else None.

        None also for a configured extra working day (the day off was moved away).
        A plain weekend has no name.
        """
        d = _require_date(d, "d")
        self._year(d.year)  # range check and population of that year
        if d in self.extra_working_days:
            return None
        if d in self.extra_days_off:
            return EXTRA_DAY_OFF_NAME
        with self._lock:
            return self._holidays.get(d)

    def add_working_days(self, start: date, n: int) -> date:
        """The date ``n`` working days after ``start``; ``start`` itself is not counted.

        ``n == 0`` gives ``start`` if it is a working day, else the next working day.
        A negative ``n`` counts backwards: the ``|n|``-th working day before ``start``.
        """
        start = _require_date(start, "start")
        n = _require_int(n)
        year = start.year
        ords = self._year(year).ordinals
        s = start.toordinal()
        if n >= 0:
            # Index in this year's array of the answer.
            idx = bisect_right(ords, s) + n - 1 if n else bisect_left(ords, s)
            while idx >= len(ords):
                idx -= len(ords)
                year += 1
                ords = self._year_or_overflow(year, start, n).ordinals
        else:
            idx = bisect_left(ords, s) + n
            while idx < 0:
                year -= 1
                ords = self._year_or_overflow(year, start, n).ordinals
                idx += len(ords)
        return date.fromordinal(ords[idx])

    def working_days_between(self, start: date, end: date) -> int:
        """The number of working days ``d`` with ``start < d <= end``.

        Negative when ``end < start``: minus the working days ``d`` with
        ``end < d <= start``. Consistent with :meth:`add_working_days`:
        ``working_days_between(s, add_working_days(s, n)) == n`` for ``n >= 1``, and for
        a working day ``s``, ``working_days_between(add_working_days(s, -n), s) == n``.
        """
        start = _require_date(start, "start")
        end = _require_date(end, "end")
        if end < start:
            return -self.working_days_between(end, start)
        return self._rank(end) - self._rank(start, upto_year=end.year)

    def next_working_day(self, d: date) -> date:
        """``d`` if it is a working day, else the first working day after it."""
        return self.add_working_days(d, 0)

    def working_days(self, start: date, end: date) -> list[date]:
        """The working days ``d`` with ``start <= d <= end``, in order."""
        start = _require_date(start, "start")
        end = _require_date(end, "end")
        out: list[date] = []
        s, e = start.toordinal(), end.toordinal()
        for year in range(start.year, end.year + 1):
            ords = self._year(year).ordinals
            out.extend(
                date.fromordinal(o) for o in ords[bisect_left(ords, s) : bisect_right(ords, e)]
            )
        return out

    @staticmethod
    def today() -> date:
        """Today's business date in Asia/Ho_Chi_Minh."""
        return today()

    # -- internals -------------------------------------------------------------------

    def _rank(self, d: date, upto_year: int | None = None) -> int:
        """Working days from the start of ``d``'s year up to and including ``d``, minus
        the working days of the years from ``d.year`` to ``upto_year - 1`` (so that the
        difference of two ranks only touches the years between them)."""
        ords = self._year(d.year).ordinals
        rank = bisect_right(ords, d.toordinal())
        if upto_year is not None:
            for year in range(d.year, upto_year):
                rank -= len(self._year(year).ordinals)
        return rank

    def _check_year(self, d: date) -> None:
        if not self.first_year <= d.year <= self.last_year:
            raise ValueError(
                f"date {d.isoformat()} outside the supported calendar "
                f"({self.first_year}-01-01 to {self.last_year}-12-31)"
            )

    def _year_or_overflow(self, year: int, start: date, n: int) -> _Year:
        if not self.first_year <= year <= self.last_year:
            raise ValueError(
                f"{n} working days from {start.isoformat()} falls outside the supported "
                f"calendar ({self.first_year}-01-01 to {self.last_year}-12-31)"
            )
        return self._year(year)

    def _year(self, year: int) -> _Year:
        cached = self._years.get(year)
        if cached is not None:
            return cached
        if not self.first_year <= year <= self.last_year:
            raise ValueError(
                f"year {year} outside the supported calendar "
                f"({self.first_year} to {self.last_year})"
            )
        with self._lock:
            cached = self._years.get(year)
            if cached is None:
                cached = self._build_year(year)
                self._years[year] = cached
        return cached

    def _build_year(self, year: int) -> _Year:
        hol = self._holidays
        # Populate the year first, so that its swapped working Saturdays are in
        # ``weekend_workdays`` before its weekend days are asked about.
        hol.get(date(year, 1, 1))
        first = date(year, 1, 1).toordinal()
        last = date(year, 12, 31).toordinal()
        ordinals: list[int] = []
        for o in range(first, last + 1):
            d = date.fromordinal(o)
            if d in self.extra_working_days:
                working = True
            elif d in self.extra_days_off:
                working = False
            else:
                working = hol.is_working_day(d)
            if working:
                ordinals.append(o)
        return _Year(ordinals=tuple(ordinals), members=frozenset(ordinals))


def calendar_from_settings(
    extra_days_off: Iterable[date | str] = (),
    extra_working_days: Iterable[date | str] = (),
) -> WorkingDayCalendar:
    """A calendar from configuration values: dates or ISO strings ``YYYY-MM-DD``.

    A bad value raises ValueError naming the setting and the value.
    """
    return WorkingDayCalendar(
        extra_days_off=_parse_setting(extra_days_off, "extra_days_off"),
        extra_working_days=_parse_setting(extra_working_days, "extra_working_days"),
    )


def _parse_setting(values: Iterable[date | str], setting: str) -> frozenset[date]:
    if isinstance(values, str):
        raise ValueError(f"{setting}: expected a list of dates, got the string {values!r}")
    parsed: set[date] = set()
    for value in values:
        try:
            parsed.add(parse_business_date(value))
        except ValueError as exc:
            raise ValueError(f"{setting}: {exc}") from None
    return frozenset(parsed)


def _require_date(value: object, name: str) -> date:
    if isinstance(value, datetime):
        raise TypeError(
            f"{name}: expected a calendar date, got the timestamp {value.isoformat()!r}; "
            "convert it with to_business_date()"
        )
    if not isinstance(value, date):
        raise TypeError(f"{name}: expected a datetime.date, got {type(value).__name__}")
    return value


def _require_int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"n: expected an int, got {type(value).__name__}")
    return value
