"""Reports read from the read models: workforce statistics of a unit subtree as of a date,
and the annual report on the management of the database.

**Workforce statistics** count the people on staff (active, seconded, or released and not
yet received elsewhere: the roster's statuses) of a unit and every unit below it on a
business date, from the bitemporal history, by category, rank, gender, age band, ethnicity,
education and political theory. The changes of a period are read from the same timelines:
each day a person's period begins, the person either entered the subtree's staff that day,
left it, or neither (a step raise, a move between two of its units). Entering is a
recruitment (a first period, or a return after retiring, resigning or a dismissal) or a
transfer in (from another unit of the system, or an arrival from outside it); leaving is a
retirement, a death, a resignation, a dismissal or a transfer out (to a unit outside the
subtree, or out of the system). So the headcount at the end of a period is the headcount
the day before it began, plus those who entered, less those who left.

**The annual report** counts what was recorded during a calendar year (Asia/Ho_Chi_Minh):
records opened, change sets proposed, approved and rejected, records and transitions
approved by signature, the status transitions, the working days each approved change
waited for its approval (from the day it was entered to the day it was approved), the
deadline items done late and those overdue at the end of the year, and the
acknowledgements of the national database. Everything is read from the audit trail and the
deadline read model; the jurisdiction gives the report's due dates.
"""

from __future__ import annotations

import statistics as stats
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, and_, func, or_, select

from domain import catalogues
from domain.calendar import WorkingDayCalendar, to_business_date
from domain.errors import InvalidInput, NotFound
from domain.jurisdiction import Jurisdiction
from domain.national_sync import NationalSync
from domain.values import EmployeeCategory, ProfileStatus
from projections.audit import PROFILE, trail
from projections.deadlines import DONE, OPEN, items
from projections.history import periods
from projections.roster import CURRENT
from projections.units import subtree, unit, units

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")

CATEGORY_NAMES = {
    EmployeeCategory.CADRE.value: "Cán bộ",
    EmployeeCategory.CIVIL_SERVANT.value: "Công chức",
    EmployeeCategory.PUBLIC_EMPLOYEE.value: "Viên chức",
    EmployeeCategory.CONTRACT_WORKER.value: "Người lao động",
}
GENDER_NAMES = {"male": "Nam", "female": "Nữ"}
NOT_RECORDED = "Chưa cập nhật"
# Age bands in whole years on the date counted: [low, high), None for open ends.
AGE_BANDS: tuple[tuple[int | None, int | None, str], ...] = (
    (None, 30, "Dưới 30 tuổi"),
    (30, 40, "Từ 30 đến dưới 40 tuổi"),
    (40, 50, "Từ 40 đến dưới 50 tuổi"),
    (50, 60, "Từ 50 đến dưới 60 tuổi"),
    (60, None, "Từ 60 tuổi trở lên"),
)

# The dates statistics may be asked about.
EARLIEST, LATEST = date(1900, 1, 2), date(2200, 12, 31)
# Changes of a period, in the order reports show them, with their Vietnamese names.
ENTERED = ("recruited", "transferred_in")
LEFT = ("transferred_out", "retired", "deceased", "resigned", "dismissed")
CHANGE_NAMES = {
    "recruited": "Tuyển dụng, tiếp nhận mới",
    "transferred_in": "Chuyển đến",
    "transferred_out": "Chuyển đi",
    "retired": "Nghỉ hưu",
    "deceased": "Từ trần",
    "resigned": "Thôi việc",
    "dismissed": "Buộc thôi việc",
}
LEAVING_STATUS = {
    ProfileStatus.RETIRED.value: "retired",
    ProfileStatus.DECEASED.value: "deceased",
    ProfileStatus.RESIGNED.value: "resigned",
    ProfileStatus.DISMISSED.value: "dismissed",
    ProfileStatus.TRANSFERRED_OUT.value: "transferred_out",
}


# -- workforce statistics ------------------------------------------------------------------


@dataclass(frozen=True)
class Count:
    code: str | None
    label: str
    count: int


@dataclass(frozen=True)
class Dimension:
    name: str  # category, rank, gender, age_band, ethnicity, education, political_theory
    title: str  # its Vietnamese heading
    counts: tuple[Count, ...]


@dataclass(frozen=True)
class WorkforceStatistics:
    unit_code: str
    unit_name: str
    as_of: date
    total: int
    dimensions: tuple[Dimension, ...]
    period_from: date
    period_to: date
    headcount_before: int  # on the day before period_from
    headcount_after: int  # on period_to
    changes: Mapping[str, int]  # CHANGE_NAMES keys, each present

    def dimension(self, name: str) -> Dimension:
        for found in self.dimensions:
            if found.name == name:
                return found
        raise KeyError(name)

    def counts(self, name: str) -> dict[str | None, int]:
        """One dimension's counts by code."""
        return {c.code: c.count for c in self.dimension(name).counts}


def unit_codes(conn: Connection, code: str) -> set[str]:
    """The unit and every unit below it or merged into it; NotFound for an unknown unit."""
    if unit(conn, code) is None:
        raise NotFound(f"no unit {code}")
    tree = subtree(code, "report_subtree")
    return {code, *conn.execute(select(tree.c.code)).scalars()}


def _known(known_at: datetime | None) -> Any:
    if known_at is None:
        return periods.c.recorded_to.is_(None)
    moment = known_at.astimezone(UTC)
    return and_(
        periods.c.recorded_from <= moment,
        or_(periods.c.recorded_to.is_(None), periods.c.recorded_to > moment),
    )


def staff_rows(
    conn: Connection, codes: set[str], on: date, known_at: datetime | None = None
) -> list[Any]:
    """The periods of the people on staff of the units ``codes`` on a business date."""
    query = select(periods).where(
        periods.c.unit_code.in_(sorted(codes)),
        periods.c.valid_from <= on,
        periods.c.valid_until > on,
        periods.c.status.in_(CURRENT),
        _known(known_at),
    )
    return list(conn.execute(query))


def age_on(birth_date: date, on: date) -> int:
    return on.year - birth_date.year - ((on.month, on.day) < (birth_date.month, birth_date.day))


def age_band(birth_date: date | None, on: date) -> str | None:
    if birth_date is None:
        return None
    age = age_on(birth_date, on)
    for low, high, label in AGE_BANDS:
        if (low is None or age >= low) and (high is None or age < high):
            return label
    return None  # pragma: no cover - the bands cover every age


def _catalogue_counts(
    found: Counter[str | None], names: Mapping[str, Any], ordered: Iterable[str]
) -> tuple[Count, ...]:
    result = [Count(code, _name(names, code), found[code]) for code in ordered if found[code]]
    result.extend(
        Count(code, _name(names, code), n)
        for code, n in sorted(found.items(), key=lambda kv: (kv[0] is None, kv[0] or ""))
        if code not in set(ordered) and n
    )
    return tuple(result)


def _name(names: Mapping[str, Any], code: str | None) -> str:
    if code is None:
        return NOT_RECORDED
    entry = names.get(code)
    if entry is None:
        return code
    return str(entry if isinstance(entry, str) else entry.name)


def _dimensions(rows: list[Any], on: date) -> tuple[Dimension, ...]:
    def counter(column: str) -> Counter[str | None]:
        return Counter(getattr(r, column) for r in rows)

    ages = Counter(age_band(r.birth_date, on) for r in rows)
    age_counts = [Count(label, label, ages[label]) for _, _, label in AGE_BANDS]
    if ages[None]:
        age_counts.append(Count(None, NOT_RECORDED, ages[None]))
    ranks = catalogues.ranks()
    ethnic = catalogues.ethnicities()
    education = catalogues.education_levels()
    theory = catalogues.political_theory_levels()
    return (
        Dimension(
            "category",
            "Loại cán bộ, công chức, viên chức",
            _catalogue_counts(counter("category"), CATEGORY_NAMES, list(CATEGORY_NAMES)),
        ),
        Dimension(
            "rank",
            "Ngạch, chức danh nghề nghiệp",
            _catalogue_counts(counter("rank_code"), ranks, ranks),
        ),
        Dimension(
            "gender", "Giới tính", _catalogue_counts(counter("gender"), GENDER_NAMES, GENDER_NAMES)
        ),
        Dimension("age_band", "Độ tuổi", tuple(age_counts)),
        Dimension("ethnicity", "Dân tộc", _catalogue_counts(counter("ethnicity"), ethnic, ethnic)),
        Dimension(
            "education",
            "Trình độ chuyên môn",
            _catalogue_counts(counter("professional_level"), education, education),
        ),
        Dimension(
            "political_theory",
            "Lý luận chính trị",
            _catalogue_counts(counter("political_theory"), theory, theory),
        ),
    )


def _on_staff_of(row: Any, codes: set[str]) -> bool:
    return row is not None and row.unit_code in codes and row.status in CURRENT


def change_kind(before: Any, after: Any, codes: set[str]) -> str | None:
    """What the start of period ``after`` (``before`` ending that day, or None) meant for
    the staff of the units ``codes``: one of CHANGE_NAMES, or None for no change."""
    was, now = _on_staff_of(before, codes), _on_staff_of(after, codes)
    if was == now:
        return None
    if now:
        if before is not None and (before.status in CURRENT or before.status == "transferred_out"):
            return "transferred_in"
        return "recruited"
    return LEAVING_STATUS.get(after.status, "transferred_out")


def changes_between(
    conn: Connection,
    codes: set[str],
    start: date,
    end: date,
    known_at: datetime | None = None,
) -> dict[str, int]:
    """How many people entered and left the staff of the units ``codes`` on the days
    ``start`` to ``end`` (both included), by kind of change."""
    touching = (
        select(periods.c.profile_id)
        .where(
            periods.c.unit_code.in_(sorted(codes)),
            periods.c.valid_from <= end,
            periods.c.valid_until >= start,
            _known(known_at),
        )
        .distinct()
    )
    query = (
        select(
            periods.c.profile_id,
            periods.c.valid_from,
            periods.c.unit_code,
            periods.c.status,
        )
        .where(periods.c.profile_id.in_(touching), _known(known_at))
        .order_by(periods.c.profile_id, periods.c.valid_from)
    )
    found: Counter[str] = Counter()
    before: Any = None
    for row in conn.execute(query):
        if before is not None and before.profile_id != row.profile_id:
            before = None
        if start <= row.valid_from <= end:
            kind = change_kind(before, row, codes)
            if kind is not None:
                found[kind] += 1
        before = row
    return {kind: found[kind] for kind in CHANGE_NAMES}


def workforce_statistics(
    conn: Connection,
    unit_code: str,
    as_of: date,
    *,
    period_from: date | None = None,
    period_to: date | None = None,
    known_at: datetime | None = None,
) -> WorkforceStatistics:
    """The staff of a unit subtree on ``as_of`` by every dimension, and the changes from
    ``period_from`` (by default 1 January of that year) to ``period_to`` (``as_of``)."""
    code = unit_code.strip().upper()
    codes = unit_codes(conn, code)
    period_to = period_to or as_of
    period_from = period_from or date(period_to.year, 1, 1)
    for name, day in (("as_of", as_of), ("period_from", period_from), ("period_to", period_to)):
        if not EARLIEST <= day <= LATEST:
            raise InvalidInput(f"a date from {EARLIEST} to {LATEST}", name)
    if period_from > period_to:
        raise InvalidInput("the period ends before it begins", "period_from")
    rows = staff_rows(conn, codes, as_of, known_at)
    found = unit(conn, code)
    assert found is not None
    return WorkforceStatistics(
        unit_code=code,
        unit_name=str(found["name"]),
        as_of=as_of,
        total=len(rows),
        dimensions=_dimensions(rows, as_of),
        period_from=period_from,
        period_to=period_to,
        headcount_before=len(staff_rows(conn, codes, period_from - timedelta(days=1), known_at)),
        headcount_after=len(staff_rows(conn, codes, period_to, known_at)),
        changes=changes_between(conn, codes, period_from, period_to, known_at),
    )


# -- the annual report ---------------------------------------------------------------------

# The audit trail's event types the annual report counts, with their Vietnamese names.
OPENED = "Opened"
CHANGE_PROPOSED, CHANGE_APPROVED, CHANGE_REJECTED = (
    "ChangeProposed",
    "ChangeApproved",
    "ChangeRejected",
)
RECORD_APPROVED = "RecordApproved"
SYNC_ACKNOWLEDGED: str = NationalSync.NationalSyncAcknowledged.__name__  # type: ignore[attr-defined]
TRANSITION_NAMES = {
    "Rehired": "Tuyển dụng lại, tiếp nhận trở lại",
    "MovedWithinUnit": "Điều động trong đơn vị",
    "TransferReleased": "Chuyển công tác (đơn vị cũ)",
    "TransferReceived": "Tiếp nhận chuyển công tác (đơn vị mới)",
    "TransferredOutOfSystem": "Chuyển ra ngoài hệ thống",
    "SecondmentStarted": "Biệt phái",
    "SecondmentEnded": "Kết thúc biệt phái",
    "Retired": "Nghỉ hưu",
    "Resigned": "Thôi việc",
    "Dismissed": "Buộc thôi việc",
    "Died": "Từ trần",
}
ACTION_NAMES = {
    "new_record": "Cập nhật hồ sơ mới",
    "state_decision": "Cập nhật theo quyết định",
    "in_unit_move": "Điều động trong đơn vị",
    "transfer_out": "Chuyển hồ sơ đi",
    "transfer_in": "Tiếp nhận hồ sơ chuyển đến",
    "transfer_max": "Thời hạn tối đa chuyển công tác",
    "status_change": "Cập nhật thay đổi trạng thái",
    "change_approval": "Phê duyệt thay đổi",
}


@dataclass(frozen=True)
class DelayStatistics:
    """Working days from entering a change to its approval, over the changes approved."""

    count: int
    mean: float | None
    median: float | None
    maximum: int | None
    within: Mapping[str, int]  # "0-5", "6-10", ">10" working days

    @classmethod
    def of(cls, delays: list[int]) -> DelayStatistics:
        within = {
            "0–5": sum(1 for d in delays if d <= 5),
            "6–10": sum(1 for d in delays if 5 < d <= 10),
            "trên 10": sum(1 for d in delays if d > 10),
        }
        if not delays:
            return cls(0, None, None, None, within)
        return cls(
            len(delays),
            round(stats.fmean(delays), 2),
            float(stats.median(delays)),
            max(delays),
            within,
        )


@dataclass(frozen=True)
class DeadlineLine:
    action: str
    label: str
    done_on_time: int
    done_late: int
    overdue_at_year_end: int


@dataclass(frozen=True)
class UnitLine:
    unit_code: str
    unit_name: str
    records_created: int
    changes_approved: int
    done_late: int
    overdue_at_year_end: int


@dataclass(frozen=True)
class ReportDueLine:
    name: str
    article: str
    scope: str
    due: date


@dataclass(frozen=True)
class AnnualReport:
    year: int
    unit_code: str | None  # None: the whole instance
    unit_name: str
    jurisdiction: str
    records_created: int
    changes_proposed: int
    changes_approved: int
    changes_rejected: int
    records_approved: int  # records and transitions approved by signature
    transitions: Mapping[str, int]  # TRANSITION_NAMES keys
    approval_delays: DelayStatistics
    deadlines: tuple[DeadlineLine, ...]
    syncs: int
    by_unit: tuple[UnitLine, ...]
    reports_due: tuple[ReportDueLine, ...]
    generated_on: date
    notes: tuple[str, ...] = field(default=())

    @property
    def done_late(self) -> int:
        return sum(line.done_late for line in self.deadlines)

    @property
    def overdue_at_year_end(self) -> int:
        return sum(line.overdue_at_year_end for line in self.deadlines)


def year_bounds(year: int) -> tuple[datetime, datetime]:
    """The year as recorded times: from its first midnight in Vietnam to the next year's."""
    return (
        datetime(year, 1, 1, tzinfo=VIETNAM).astimezone(UTC),
        datetime(year + 1, 1, 1, tzinfo=VIETNAM).astimezone(UTC),
    )


def reports_due(jurisdiction: Jurisdiction, year: int) -> tuple[ReportDueLine, ...]:
    """The reports the jurisdiction sets about ``year``: those due in the second half of
    the year, or in the first half of the next (the reports on the year before)."""
    lines = []
    for report in jurisdiction.reports:
        due_year = year if report.month >= 7 else year + 1
        lines.append(
            ReportDueLine(report.name, report.article, report.scope, report.last_day(due_year))
        )
    return tuple(sorted(lines, key=lambda line: line.due))


def annual_report(
    conn: Connection,
    year: int,
    *,
    jurisdiction: Jurisdiction,
    calendar: WorkingDayCalendar,
    unit_code: str | None = None,
    today: date | None = None,
) -> AnnualReport:
    """The report on the management of the database during ``year``, for a unit subtree
    (its records, changes and deadlines) or, without ``unit_code``, for the instance."""
    if not 1945 <= year <= 9998:
        raise InvalidInput("the year is between 1945 and 9998", "year")
    codes: set[str] | None = None
    name = jurisdiction.name
    if unit_code:
        unit_code = unit_code.strip().upper()
        codes = unit_codes(conn, unit_code)
        found = unit(conn, unit_code)
        assert found is not None
        name = str(found["name"])
    start, end = year_bounds(year)
    in_year = [trail.c.recorded_at >= start, trail.c.recorded_at < end]
    if codes is not None:
        in_year.append(trail.c.unit_code.in_(sorted(codes)))
    counted = conn.execute(
        select(trail.c.aggregate_kind, trail.c.event_type, trail.c.unit_code, func.count())
        .where(*in_year)
        .group_by(trail.c.aggregate_kind, trail.c.event_type, trail.c.unit_code)
    ).all()
    by_type: Counter[str] = Counter()
    by_unit: dict[str, Counter[str]] = {}
    for kind, event_type, code, n in counted:
        if kind != PROFILE and event_type != SYNC_ACKNOWLEDGED:
            continue  # an account is "Opened" too
        by_type[event_type] += int(n)
        if code is not None:
            by_unit.setdefault(code, Counter())[event_type] += int(n)
    last_day = date(year, 12, 31)
    deadlines, deadline_units = _deadlines(conn, year, codes)
    names = dict(conn.execute(select(units.c.code, units.c.name)).all())
    unit_lines = tuple(
        UnitLine(
            code,
            str(names.get(code, code)),
            by_unit.get(code, Counter())[OPENED],
            by_unit.get(code, Counter())[CHANGE_APPROVED],
            deadline_units.get(code, (0, 0))[0],
            deadline_units.get(code, (0, 0))[1],
        )
        for code in sorted(set(by_unit) | set(deadline_units))
        if by_unit.get(code, Counter())[OPENED]
        or by_unit.get(code, Counter())[CHANGE_APPROVED]
        or any(deadline_units.get(code, (0, 0)))
    )
    return AnnualReport(
        year=year,
        unit_code=unit_code or None,
        unit_name=name,
        jurisdiction=jurisdiction.name,
        records_created=by_type[OPENED],
        changes_proposed=by_type[CHANGE_PROPOSED],
        changes_approved=by_type[CHANGE_APPROVED],
        changes_rejected=by_type[CHANGE_REJECTED],
        records_approved=by_type[RECORD_APPROVED],
        transitions={kind: by_type[kind] for kind in TRANSITION_NAMES},
        approval_delays=DelayStatistics.of(_approval_delays(conn, start, end, codes, calendar)),
        deadlines=deadlines,
        syncs=by_type[SYNC_ACKNOWLEDGED],
        by_unit=unit_lines,
        reports_due=reports_due(jurisdiction, year),
        generated_on=today or last_day,
    )


def _approval_delays(
    conn: Connection,
    start: datetime,
    end: datetime,
    codes: set[str] | None,
    calendar: WorkingDayCalendar,
) -> list[int]:
    """Working days between entering and approving each change approved in the year."""
    proposed = trail.alias("proposed")
    approved = trail.alias("approved")
    query = select(proposed.c.recorded_at, approved.c.recorded_at).join_from(
        approved,
        proposed,
        and_(
            proposed.c.change_set_id == approved.c.change_set_id,
            proposed.c.event_type == CHANGE_PROPOSED,
        ),
    )
    query = query.where(
        approved.c.event_type == CHANGE_APPROVED,
        approved.c.recorded_at >= start,
        approved.c.recorded_at < end,
    )
    if codes is not None:
        query = query.where(approved.c.unit_code.in_(sorted(codes)))
    return [
        calendar.working_days_between(to_business_date(entered), to_business_date(decided))
        for entered, decided in conn.execute(query)
    ]


def _deadlines(
    conn: Connection, year: int, codes: set[str] | None
) -> tuple[tuple[DeadlineLine, ...], dict[str, tuple[int, int]]]:
    """Per action: items done on time and late during the year, and items overdue at its
    end (due during it or before, and done after it or not yet); per unit, the latter two."""
    first, last = date(year, 1, 1), date(year, 12, 31)
    query = select(
        items.c.action,
        items.c.unit_code,
        items.c.status,
        items.c.due_date,
        items.c.done_on,
        items.c.late,
        items.c.start_date,
    ).where(items.c.start_date <= last)
    if codes is not None:
        query = query.where(items.c.unit_code.in_(sorted(codes)))
    on_time: Counter[str] = Counter()
    late: Counter[str] = Counter()
    overdue: Counter[str] = Counter()
    per_unit: dict[str, list[int]] = {}
    for row in conn.execute(query):
        done_in_year = (
            row.status == DONE and row.done_on is not None and first <= row.done_on <= last
        )
        was_overdue = row.due_date <= last and (
            row.status == OPEN
            or (row.status == DONE and row.done_on is not None and row.done_on > last)
        )
        if done_in_year:
            (late if row.late else on_time)[row.action] += 1
        if was_overdue:
            overdue[row.action] += 1
        if row.unit_code is not None and ((done_in_year and row.late) or was_overdue):
            line = per_unit.setdefault(row.unit_code, [0, 0])
            line[0] += int(done_in_year and bool(row.late))
            line[1] += int(was_overdue)
    lines = tuple(
        DeadlineLine(action, label, on_time[action], late[action], overdue[action])
        for action, label in ACTION_NAMES.items()
        if on_time[action] or late[action] or overdue[action]
    )
    return lines, {code: (a, b) for code, (a, b) in per_unit.items()}
