"""An in-memory overview of units and their current staff, folded from the event log.

It follows the log from where it stopped on each refresh, so it stays cheap to keep
current; it holds only what a unit list and a roster need.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from domain.application import Ledger
from domain.profile import Profile
from domain.resume import apply_changes
from domain.unit import Unit
from domain.values import ProfileStatus


@dataclass
class Overview:
    position: int = 0
    units: dict[str, dict[str, Any]] = field(default_factory=dict)  # unit id -> summary
    staff: dict[str, dict[str, Any]] = field(default_factory=dict)  # profile id -> summary
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def refresh(self, ledger: Ledger, page: int = 1000) -> None:
        with self.lock:
            while True:
                notifications = ledger.recorder.select_notifications(
                    start=self.position + 1, limit=page
                )
                for notification in notifications:
                    self.apply(ledger.mapper.to_domain_event(notification))
                    self.position = notification.id
                if len(notifications) < page:
                    return

    def apply(self, event: Any) -> None:
        if isinstance(event, Unit.Created):
            self.units[str(event.originator_id)] = {
                "code": event.code,
                "name": event.name,
                "kind": event.kind.value,
                "parent": event.parent_code,
                "status": "active",
            }
        elif isinstance(event, Unit.Event):
            unit = self.units[str(event.originator_id)]
            unit["name"] = getattr(event, "name", unit["name"])
            unit["parent"] = getattr(event, "parent_code", unit["parent"])
            unit["status"] = UNIT_STATUS_AFTER.get(type(event).__name__, unit["status"])
        elif isinstance(event, Profile.Event):
            key = str(event.originator_id)
            profile = self.staff.setdefault(key, {"id": key})
            record = profile.get("record")
            name = type(event).__name__
            if name == "Opened":
                record = event.record
            elif name == "ChangeApproved":
                record = apply_changes(record, event.changes)
            elif name == "Rehired":
                record = {**record, "employment": dict(event.employment)}
            moved = {
                f: getattr(event, f)
                for f in ("unit_code", "department", "position")
                if hasattr(event, f)
            }
            if moved:
                record = {**record, "employment": {**record["employment"], **moved}}
            profile.update(
                record=record, name=record["identity"]["full_name"], employment=record["employment"]
            )
            status = STATUS_AFTER.get(name)
            if status is not None:
                profile["status"] = status.value

    def unit(self, code: str) -> dict[str, Any] | None:
        return next((u for u in self.units.values() if u["code"] == code), None)

    def roster(self, unit_code: str) -> list[dict[str, Any]]:
        return sorted(
            (
                p
                for p in self.staff.values()
                if p["employment"]["unit_code"] == unit_code
                and not ProfileStatus(p["status"]).departed
            ),
            key=lambda p: p["name"].split()[-1:] + p["name"].split()[:-1],
        )


UNIT_STATUS_AFTER = {"Merged": "merged", "Dissolved": "dissolved"}
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
