"""The Unit aggregate: an agency or unit (cơ quan, đơn vị) and its reorganisations.

A unit's id is derived from its electronic identifier code, so the code is unique and a
unit is found by it. A renamed, moved or merged unit keeps its events: profiles keep the
code they were recorded under and the unit tells where it went (``merged_into``).
"""

from __future__ import annotations

import re
from datetime import date
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, UnitNotActive
from domain.values import Actor, Decision, EmployeeCategory, UnitKind, nfc

# Mã định danh điện tử: letters, digits, dots and dashes (QCVN 102:2016/BTTTT style codes).
UNIT_CODE = re.compile(r"^[A-Z0-9][A-Z0-9.\-]{0,39}$")


class Unit(Aggregate):
    @staticmethod
    def create_id(code: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"hoso:unit:{code}")

    @event("Created")
    def __init__(
        self,
        code: str,
        name: str,
        kind: UnitKind,
        parent_code: str | None,
        effective_date: date,
        decision: Decision | None,
        actor: Actor,
    ) -> None:
        self.code = code
        self.name = name
        self.kind = kind
        self.parent_code = parent_code
        self.status = "active"
        self.merged_into: str | None = None
        self.quotas: dict[str, dict[str, int]] = {}  # year -> category -> headcount

    @classmethod
    def create(
        cls,
        code: str,
        name: str,
        kind: UnitKind,
        parent: Unit | None,
        *,
        effective_date: date,
        actor: Actor,
        decision: Decision | None = None,
    ) -> Unit:
        code = code.strip().upper()
        if not UNIT_CODE.match(code):
            raise InvalidInput("a unit code is 1–40 letters, digits, dots or dashes", "code")
        name = nfc(name)
        if not name:
            raise InvalidInput("a unit has a name", "name")
        if parent is None and kind != UnitKind.AUTHORITY:
            raise InvalidInput("only the governing authority has no parent unit", "parent")
        if parent is not None:
            parent.require_active()
        return cls(
            code=code,
            name=name,
            kind=kind,
            parent_code=parent.code if parent else None,
            effective_date=effective_date,
            decision=decision,
            actor=actor,
        )

    @property
    def is_active(self) -> bool:
        return self.status == "active"

    def require_active(self) -> None:
        if not self.is_active:
            where = f" into {self.merged_into}" if self.merged_into else ""
            raise UnitNotActive(f"unit {self.code} was {self.status}{where}")

    def rename(
        self, name: str, *, effective_date: date, decision: Decision | None, actor: Actor
    ) -> None:
        self.require_active()
        name = nfc(name)
        if not name or name == self.name:
            raise InvalidInput("give a new, different name", "name")
        self._renamed(name=name, effective_date=effective_date, decision=decision, actor=actor)

    @event("Renamed")
    def _renamed(
        self, name: str, effective_date: date, decision: Decision | None, actor: Actor
    ) -> None:
        self.name = name

    def move_under(
        self,
        parent: Unit,
        ancestors_of_parent: list[str],
        *,
        effective_date: date,
        decision: Decision | None,
        actor: Actor,
    ) -> None:
        """Place the unit under another parent; ``ancestors_of_parent`` are the codes above
        the new parent, so that a unit is never moved below itself."""
        self.require_active()
        parent.require_active()
        if parent.code == self.code or self.code in ancestors_of_parent:
            raise InvalidInput("a unit cannot be placed under itself or its own subunit", "parent")
        if parent.code == self.parent_code:
            raise InvalidInput(f"the unit is already under {parent.code}", "parent")
        self._moved(
            parent_code=parent.code, effective_date=effective_date, decision=decision, actor=actor
        )

    @event("Moved")
    def _moved(
        self, parent_code: str, effective_date: date, decision: Decision | None, actor: Actor
    ) -> None:
        self.parent_code = parent_code

    def merge_into(
        self, target: Unit, *, effective_date: date, decision: Decision, actor: Actor
    ) -> None:
        self.require_active()
        target.require_active()
        if target.code == self.code:
            raise InvalidInput("a unit cannot be merged into itself", "target")
        self._merged(
            into_code=target.code, effective_date=effective_date, decision=decision, actor=actor
        )

    @event("Merged")
    def _merged(
        self, into_code: str, effective_date: date, decision: Decision, actor: Actor
    ) -> None:
        self.status = "merged"
        self.merged_into = into_code

    def dissolve(self, *, effective_date: date, decision: Decision, actor: Actor) -> None:
        self.require_active()
        self._dissolved(effective_date=effective_date, decision=decision, actor=actor)

    @event("Dissolved")
    def _dissolved(self, effective_date: date, decision: Decision, actor: Actor) -> None:
        self.status = "dissolved"

    def set_staffing_quota(
        self,
        year: int,
        category: EmployeeCategory,
        headcount: int,
        *,
        decision: Decision | None,
        actor: Actor,
    ) -> None:
        self.require_active()
        if not 1945 <= year <= 2200:
            raise InvalidInput("give a calendar year", "year")
        if headcount < 0:
            raise InvalidInput("a staffing quota is zero or more", "headcount")
        self._quota_set(
            year=year,
            category=category,
            headcount=headcount,
            effective_date=date(year, 1, 1),
            decision=decision,
            actor=actor,
        )

    @event("StaffingQuotaSet")
    def _quota_set(
        self,
        year: int,
        category: EmployeeCategory,
        headcount: int,
        effective_date: date,
        decision: Decision | None,
        actor: Actor,
    ) -> None:
        year_quotas = dict(self.quotas.get(str(year), {}))
        year_quotas[category.value] = headcount
        self.quotas = {**self.quotas, str(year): year_quotas}
