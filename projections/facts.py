"""What each profile event says about the approved record, for the read models."""

from __future__ import annotations

from typing import Any

from domain.resume import GROUPS
from domain.values import ProfileStatus

STATUS_AFTER = {
    "Opened": ProfileStatus.ACTIVE,
    "TransferReleased": ProfileStatus.RELEASED,
    "TransferReceived": ProfileStatus.ACTIVE,
    "TransferredOutOfSystem": ProfileStatus.TRANSFERRED_OUT,
    "SecondmentStarted": ProfileStatus.SECONDED,
    "SecondmentEnded": ProfileStatus.ACTIVE,
    "Retired": ProfileStatus.RETIRED,
    "Resigned": ProfileStatus.RESIGNED,
    "Dismissed": ProfileStatus.DISMISSED,
    "Died": ProfileStatus.DECEASED,
    "Rehired": ProfileStatus.ACTIVE,
}
DEPARTURES = frozenset(name for name, status in STATUS_AFTER.items() if status.departed)
EMPLOYMENT_FIELDS = tuple(GROUPS["employment"].fields)


def approved_values(event: Any) -> dict[str, Any]:
    """The single-valued fields an event sets in the approved record, by path
    ("identity.full_name", "employment.rank_code"…); None clears a field."""
    name = type(event).__name__
    if name == "Opened":
        return {
            f"{group}.{field}": event.record.get(group, {}).get(field)
            for group, spec in GROUPS.items()
            if not spec.many
            for field in spec.fields
        }
    if name == "ChangeApproved":
        return {c["path"]: c["value"] for c in event.changes if "." in c["path"]}
    if name == "Rehired":
        return {f"employment.{f}": event.employment.get(f) for f in EMPLOYMENT_FIELDS}
    if name in ("MovedWithinUnit", "TransferReceived"):
        return {
            f"employment.{f}": getattr(event, f)
            for f in ("unit_code", "department", "position")
            if hasattr(event, f)
        }
    return {}


def status_after(event: Any) -> ProfileStatus | None:
    return STATUS_AFTER.get(type(event).__name__)
