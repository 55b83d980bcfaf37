"""Jurisdiction profiles: the rules of one regulation, as data.

Each regulation in ``../shared/regulations/`` becomes one TOML file in
``domain/jurisdictions/``; every value there cites its article. This module holds the
typed shape of those files and the loader. One instance runs under one profile.

Working days are counted by the calendar module (Mon–Fri minus Vietnamese public
holidays); this module only says how many and from which event.
"""

from __future__ import annotations

import calendar
import functools
import tomllib
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    NonNegativeInt,
    PositiveInt,
    ValidationError,
    field_validator,
    model_validator,
)

from domain.values import DeadlineAction, Role, UnitKind

JURISDICTIONS_DIR = Path(__file__).with_name("jurisdictions")

JURISDICTION_CODES: tuple[str, ...] = ("haiphong", "cantho", "travinh", "tuyenquang", "bnv")

DEFAULT_CHAIN = "default"
"""Key of ``Jurisdiction.approval_chains`` used for unit kinds without a chain of their own."""

DeadlineStart = Literal[
    "decision_signed",  # ngày có quyết định (tuyển dụng, điều động...) / ký hợp đồng
    "decision_effective",  # ngày văn bản, quyết định có hiệu lực
    "request_received",  # ngày nhận được yêu cầu, đề nghị
    "record_handover",  # ngày chuyển giao hồ sơ
    "record_received",  # ngày tiếp nhận hồ sơ trên phần mềm
    "resume_submitted",  # ngày cá nhân nộp sơ yếu lý lịch
    "account_issued",  # ngày được cấp tài khoản
    "employee_entry",  # ngày cá nhân nhập, cập nhật thông tin
    "change_occurred",  # ngày phát sinh nội dung thay đổi
]
"""The event from which a deadline in working days is counted."""


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ApprovalLevel(_Frozen):
    """One signature level of an approval chain.

    ``working_days`` counts from the previous level's signature (or, for the first
    level, from the employee's entry); ``None`` when the regulation gives no deadline,
    e.g. when signing happens in a monthly window instead.
    """

    role: Role
    working_days: PositiveInt | None = None
    title: str | None = None  # the signer as the regulation names them (Vietnamese)


class SigningWindow(_Frozen):
    """Approvals are signed only in the last ``last_days_of_month`` days of each month."""

    last_days_of_month: int = Field(ge=1, le=28)

    def _first_day(self, year: int, month: int) -> date:
        days_in_month = calendar.monthrange(year, month)[1]
        return date(year, month, days_in_month - self.last_days_of_month + 1)

    def contains(self, d: date) -> bool:
        """Whether ``d`` falls inside the window of its month."""
        return d >= self._first_day(d.year, d.month)

    def opens_on(self, d: date) -> date:
        """The first day of the window opening on or after ``d``.

        That is the first day of the window in ``d``'s month, or next month's if this
        month's first day is already past. While ``d`` is inside a window (see
        ``contains``) that window opened before ``d`` and the next one is returned.
        """
        first = self._first_day(d.year, d.month)
        if d <= first:
            return first
        year, month = (d.year + 1, 1) if d.month == 12 else (d.year, d.month + 1)
        return self._first_day(year, month)


class BackupPolicy(_Frozen):
    frequency: Literal["daily", "weekly", "monthly"]
    retention_months: PositiveInt  # minimum time each monthly copy is kept
    retention_days: PositiveInt | None = None  # minimum time every (daily) copy is kept


class ReportDue(_Frozen):
    """A periodic report with a fixed due date each year.

    ``scope`` is ``"unit"`` for the report each unit sends up to the home affairs body,
    ``"province"`` for the one the home affairs body sends up (province to ministry).
    ``strictly_before`` is true when the text says *trước ngày* (before that day) rather
    than *chậm nhất là ngày* (on that day at the latest).
    """

    name: str
    month: int = Field(ge=1, le=12)
    day: int = Field(ge=1, le=31)
    scope: Literal["unit", "province"]
    article: str
    strictly_before: bool = False

    @model_validator(mode="after")
    def _real_day(self) -> ReportDue:
        # 2000 is a leap year, so 29 February is accepted.
        if self.day > calendar.monthrange(2000, self.month)[1]:
            raise ValueError(f"{self.day}/{self.month} is not a day of the year")
        return self

    def last_day(self, year: int) -> date:
        """The last day in ``year`` on which the report is on time."""
        day = min(self.day, calendar.monthrange(year, self.month)[1])
        due = date(year, self.month, day)
        return due - timedelta(days=1) if self.strictly_before else due


class AccountPolicy(_Frozen):
    """Who gets an account and who creates it.

    ``model`` is the account through which records are entered and kept: one per person
    or one per unit. ``created_by`` creates those accounts, within ``working_days`` where
    the regulation says so. Some regulations have both kinds: under ``per_person``,
    ``unit_accounts_created_by`` issues the units' own accounts; under ``per_unit``,
    ``personal_accounts_created_by`` creates personal accounts for staff.
    """

    model: Literal["per_person", "per_unit"]
    created_by: Role
    working_days: PositiveInt | None = None
    unit_accounts_created_by: Role | None = None
    personal_accounts_created_by: Role | None = None

    @model_validator(mode="after")
    def _other_kind_only(self) -> AccountPolicy:
        if self.model == "per_person" and self.personal_accounts_created_by is not None:
            raise ValueError(
                "personal_accounts_created_by is for the per_unit model; "
                "under per_person, created_by already creates personal accounts"
            )
        if self.model == "per_unit" and self.unit_accounts_created_by is not None:
            raise ValueError(
                "unit_accounts_created_by is for the per_person model; "
                "under per_unit, created_by already creates unit accounts"
            )
        return self


class DeadlineStep(_Frozen):
    """One step of a multi-step procedure (e.g. creating a new record), in working days.

    ``max_working_days`` is the outer limit where the text allows an extension
    (Cần Thơ: verification in 1 working day, at most 5 when facts must be checked).
    """

    name: str
    actor: Role
    working_days: NonNegativeInt
    counted_from: DeadlineStart
    max_working_days: PositiveInt | None = None
    article: str

    @model_validator(mode="after")
    def _max_not_below(self) -> DeadlineStep:
        if self.max_working_days is not None and self.max_working_days < self.working_days:
            raise ValueError(f"step {self.name!r}: max_working_days is below working_days")
        return self


class Jurisdiction(_Frozen):
    """The rules of one regulation.

    ``approval_chains`` is keyed by ``UnitKind`` value, with ``"default"`` as the
    fallback. ``deadlines`` are in working days, 0 meaning on the day itself (*ngay*);
    ``deadline_starts`` says, for each of them, from which event it is counted.
    """

    code: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: str
    regulation_file: str
    regulation_number: str
    issued_on: date | None = None
    effective_from: date | None = None
    draft: bool = False

    approval_chains: dict[str, list[ApprovalLevel]]
    digital_signature_required: bool
    employee_signs: bool = False  # the employee signs their own entry before the chain
    signing_window: SigningWindow | None = None

    deadlines: dict[DeadlineAction, NonNegativeInt]
    deadline_starts: dict[DeadlineAction, DeadlineStart]
    new_record_steps: list[DeadlineStep] = Field(default_factory=list)
    self_update_working_days: NonNegativeInt | None = None  # person enters own change
    change_approval_working_days: PositiveInt | None = None  # body approves that change
    transfer_requires_decision_scan: bool = False

    backup: BackupPolicy
    reports: list[ReportDue]
    accounts: AccountPolicy

    national_sync_by: Role | None = None  # who pushes records to the national DB; None: no sync
    national_sync_excluded_unit_kinds: list[UnitKind]
    change_requires_document: bool  # a self-entered change carries a digitised document
    departed_kept_in_separate_archive: bool
    access_needs_written_consent: bool  # using others' data needs written consent
    resume_print_after_approval: bool = False
    service_24_7: bool = False

    @field_validator("approval_chains")
    @classmethod
    def _chain_keys(cls, chains: dict[str, list[ApprovalLevel]]) -> dict[str, list[ApprovalLevel]]:
        allowed = {kind.value for kind in UnitKind} | {DEFAULT_CHAIN}
        unknown = sorted(set(chains) - allowed)
        if unknown:
            raise ValueError(f"unknown approval chain key(s) {unknown}; allowed: {sorted(allowed)}")
        if DEFAULT_CHAIN not in chains:
            raise ValueError(f"approval_chains needs a {DEFAULT_CHAIN!r} chain")
        empty = sorted(key for key, chain in chains.items() if not chain)
        if empty:
            raise ValueError(f"approval chain(s) {empty} have no level")
        return chains

    @model_validator(mode="after")
    def _consistent(self) -> Jurisdiction:
        if set(self.deadline_starts) != set(self.deadlines):
            missing = sorted(a.value for a in set(self.deadlines) - set(self.deadline_starts))
            extra = sorted(a.value for a in set(self.deadline_starts) - set(self.deadlines))
            raise ValueError(
                "deadline_starts must name the start of every deadline and only those; "
                f"missing: {missing}, without a deadline: {extra}"
            )
        account_deadline = self.deadlines.get(DeadlineAction.ACCOUNT_CREATION)
        if self.accounts.working_days != account_deadline:
            raise ValueError(
                f"accounts.working_days ({self.accounts.working_days}) differs from "
                f"deadlines.account_creation ({account_deadline})"
            )
        if len(set(self.national_sync_excluded_unit_kinds)) != len(
            self.national_sync_excluded_unit_kinds
        ):
            raise ValueError("national_sync_excluded_unit_kinds has duplicates")
        return self

    def approval_chain(self, unit_kind: UnitKind) -> list[ApprovalLevel]:
        """The signature levels for a record managed by a unit of this kind."""
        chain = self.approval_chains.get(unit_kind.value, self.approval_chains[DEFAULT_CHAIN])
        return list(chain)

    def deadline(self, action: DeadlineAction) -> int | None:
        """Working days allowed for ``action``; ``None`` when the regulation sets none."""
        return self.deadlines.get(action)

    def deadline_start(self, action: DeadlineAction) -> DeadlineStart | None:
        """The event the deadline for ``action`` is counted from; ``None`` without one."""
        return self.deadline_starts.get(action)

    def synced_nationally(self, unit_kind: UnitKind) -> bool:
        """Whether records of units of this kind go to the national database."""
        return (
            self.national_sync_by is not None
            and unit_kind not in self.national_sync_excluded_unit_kinds
        )


def read_jurisdiction_file(path: Path) -> Jurisdiction:
    """Parse and validate one profile file (uncached).

    Raises ``tomllib.TOMLDecodeError`` or pydantic ``ValidationError``, with a note
    naming the file.
    """
    try:
        with path.open("rb") as file:
            data: dict[str, Any] = tomllib.load(file)
        return Jurisdiction.model_validate(data)
    except (tomllib.TOMLDecodeError, ValidationError) as exc:
        exc.add_note(f"in jurisdiction profile {path}")
        raise


@functools.cache
def load_jurisdiction(code: str) -> Jurisdiction:
    """The profile ``domain/jurisdictions/{code}.toml``; cached."""
    if code not in JURISDICTION_CODES:
        raise ValueError(
            f"unknown jurisdiction code {code!r}; valid codes: {', '.join(JURISDICTION_CODES)}"
        )
    jurisdiction = read_jurisdiction_file(JURISDICTIONS_DIR / f"{code}.toml")
    if jurisdiction.code != code:
        raise ValueError(f"{code}.toml declares code {jurisdiction.code!r}")
    return jurisdiction
