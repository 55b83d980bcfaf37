"""The résumé as people read it: values in Vietnamese wording, the record by Mẫu 2C field
group, and a change set as a field-by-field difference from the approved record.

Everything here takes values that have already been through ``api.routers.Disclosure``:
a restricted group the reader is not cleared for arrives as ``{"restricted": true,
"level": N}`` and is shown as such (the field exists; its value is withheld).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from api.web import labels
from domain import catalogues
from domain.calendar import business_timezone
from domain.resume import GROUPS, field_label

WITHHELD = "(hạn chế tiếp cận)"
EMPTY = "—"

# Fields whose value is a catalogue code, shown by the catalogue's Vietnamese name.
_CATALOGUED = {
    "ethnicity": catalogues.ethnicities,
    "religion": catalogues.religions,
    "professional_level": catalogues.education_levels,
    "political_theory": catalogues.political_theory_levels,
    "state_management": catalogues.state_management_levels,
    "rank_code": catalogues.ranks,
}


def is_withheld(value: Any) -> bool:
    return isinstance(value, Mapping) and value.get("restricted") is True


def vn_date(value: date | str | None) -> str:
    """dd/mm/yyyy, the way dates are written in Vietnamese documents."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, str):
        try:
            value = date.fromisoformat(value[:10])
        except ValueError:
            return value
    return f"{value.day:02d}/{value.month:02d}/{value.year}"


def vn_time(value: datetime | str | None) -> str:
    """A recorded moment in Hà Nội time: dd/mm/yyyy HH:MM."""
    if value is None or value == "":
        return EMPTY
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    local = value.astimezone(business_timezone())
    return f"{vn_date(local.date())} {local:%H:%M}"


def field_value(name: str, value: Any) -> str:
    """One field's value as a person reads it (``name`` is the field, without its group)."""
    if is_withheld(value):
        return WITHHELD
    if value is None or value == "" or value == []:
        return EMPTY
    if isinstance(value, bool):
        return "Có" if value else "Không"
    if name == "gender":
        return labels.label(labels.GENDERS, value)
    if name == "category":
        return labels.label(labels.CATEGORIES, value)
    if name in _CATALOGUED:
        entry = _CATALOGUED[name]().get(str(value))
        return (
            f"{entry.name} ({value})"
            if entry is not None and name == "rank_code"
            else (entry.name if entry is not None else str(value))
        )
    if isinstance(value, date) or (
        isinstance(value, str) and (name.endswith("_date") or name.endswith("_on"))
    ):
        return vn_date(value)
    return str(value)


def entry_text(group: str, entry: Any) -> str:
    """An entry of a list group (a reward, a training course…) on one line."""
    if is_withheld(entry):
        return WITHHELD
    if not isinstance(entry, Mapping):
        return str(entry)
    parts = [
        f"{field_label(f'{group}.{name}')}: {field_value(name, value)}"
        for name, value in entry.items()
        if value not in (None, "")
    ]
    return "; ".join(parts) or EMPTY


@dataclass
class FieldRow:
    label: str
    value: str


@dataclass
class GroupView:
    name: str
    label: str
    level: int  # restriction level (0: open)
    withheld: bool  # the reader is not cleared: the group exists, its values are not shown
    many: bool
    fields: list[FieldRow] = field(default_factory=list)  # single groups
    columns: list[str] = field(default_factory=list)  # list groups
    rows: list[list[str]] = field(default_factory=list)


def record_groups(record: Mapping[str, Any]) -> list[GroupView]:
    """The record group by group, in the order of Mẫu 2C."""
    result = []
    for name, group in GROUPS.items():
        value = record.get(name)
        view = GroupView(name, group.label, group.restricted, is_withheld(value), group.many)
        if not view.withheld:
            if group.many:
                view.columns = [field_label(f"{name}.{f}") for f in group.fields]
                view.rows = [
                    [field_value(f, (entry or {}).get(f)) for f in group.fields]
                    for entry in (value or [])
                ]
            else:
                view.fields = [
                    FieldRow(field_label(f"{name}.{f}"), field_value(f, (value or {}).get(f)))
                    for f in group.fields
                ]
        result.append(view)
    return result


@dataclass(frozen=True)
class FieldDiff:
    path: str
    group: str  # the group's Vietnamese label
    label: str  # the field's Vietnamese label
    old: str
    new: str
    withheld: bool  # values not shown to this reader
    added: bool  # an entry added to a list group


def change_set_diff(record: Mapping[str, Any], changes: list[Any]) -> list[FieldDiff]:
    """Each change against the approved record: old value → new value. An entry of a list
    group (a reward, a course…) is added whole, so it has no old value."""
    result = []
    for change in changes:
        path = str(change["path"])
        group_name, _, name = path.partition(".")
        group = GROUPS.get(group_name)
        if group is None:
            continue
        approved = record.get(group_name)
        withheld = is_withheld(change.get("value")) or is_withheld(approved)
        if group.many:
            result.append(
                FieldDiff(
                    path,
                    group.label,
                    f"Thêm mục {group.label.lower()}",
                    EMPTY,
                    WITHHELD if withheld else entry_text(group_name, change["value"]),
                    withheld,
                    True,
                )
            )
            continue
        old = (approved or {}).get(name) if not withheld else None
        result.append(
            FieldDiff(
                path,
                group.label,
                field_label(path),
                WITHHELD if withheld else field_value(name, old),
                WITHHELD if withheld else field_value(name, change.get("value")),
                withheld,
                False,
            )
        )
    return result
