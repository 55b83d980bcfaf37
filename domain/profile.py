"""The Profile aggregate: one person's record (hồ sơ) from recruitment until they leave.

Public methods check; the ``@event`` methods only record facts. Every event carries the
acting account (``actor``), the business date it takes effect (``effective_date``) and,
where there is one, the decision behind it; the recorded time is the event's timestamp.
"""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid4, uuid5

from eventsourcing.domain import Aggregate, event

from domain import rules
from domain.errors import (
    ChangeSetNotPending,
    InvalidInput,
    NotFound,
    TransitionNotAllowed,
)
from domain.resume import FieldChange, apply_changes
from domain.unit import Unit
from domain.values import Actor, Decision, Document, ProfileStatus, Role

S = ProfileStatus
EMPLOYED = frozenset({S.ACTIVE, S.SECONDED})
LEFT = frozenset({S.RETIRED, S.RESIGNED, S.DISMISSED, S.TRANSFERRED_OUT})

# The lifecycle as data: which statuses each transition may start from, and where it leads.
TRANSITIONS: dict[str, tuple[frozenset[ProfileStatus], ProfileStatus | None]] = {
    "move_within_unit": (frozenset({S.ACTIVE}), None),
    "release_transfer": (frozenset({S.ACTIVE}), S.RELEASED),
    "receive_transfer": (frozenset({S.RELEASED}), S.ACTIVE),
    "transfer_out_of_system": (frozenset({S.ACTIVE, S.RELEASED}), S.TRANSFERRED_OUT),
    "arrive_from_outside": (frozenset({S.TRANSFERRED_OUT}), S.ACTIVE),
    "start_secondment": (frozenset({S.ACTIVE}), S.SECONDED),
    "end_secondment": (frozenset({S.SECONDED}), S.ACTIVE),
    "retire": (EMPLOYED, S.RETIRED),
    "resign": (EMPLOYED, S.RESIGNED),
    "dismiss": (EMPLOYED, S.DISMISSED),
    "record_death": (EMPLOYED | LEFT | {S.RELEASED}, S.DECEASED),
    "rehire": (frozenset({S.RETIRED, S.RESIGNED, S.DISMISSED}), S.ACTIVE),
}

ORIGINS = ("recruitment", "contract", "arrival")


class Profile(Aggregate):
    @event("Opened")
    def __init__(
        self,
        id: UUID,
        record: dict[str, Any],
        origin: str,
        origin_note: str,
        decision: Decision,
        effective_date: date,
        actor: Actor,
    ) -> None:
        self.record = record
        self.status = ProfileStatus.ACTIVE
        self.change_sets: dict[str, dict[str, Any]] = {}
        self.periods: list[dict[str, Any]] = [
            {"start_date": effective_date, "origin": origin, "end_date": None, "end": None}
        ]
        self.transfer_to: str | None = None
        self.secondment: dict[str, Any] | None = None
        self.approvals: dict[str, dict[str, Any]] = {}

    # -- opening -------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        record: dict[str, Any],
        unit: Unit,
        *,
        decision: Decision,
        actor: Actor,
        today: date,
        origin: str = "recruitment",
        origin_note: str = "",
        profile_id: UUID | None = None,
    ) -> Profile:
        """Open a profile on recruitment, a contract, or an arrival from outside."""
        if origin not in ORIGINS:
            raise InvalidInput(f"origin is one of {', '.join(ORIGINS)}", "origin")
        unit.require_active()
        if record["employment"]["unit_code"] != unit.code:
            raise InvalidInput("the record names another unit", "employment.unit_code")
        record = rules.check_record(record, today)
        start = record["employment"]["start_date"]
        if start > today:
            raise InvalidInput("the start date is in the future", "employment.start_date")
        return cls(
            id=profile_id or uuid4(),
            record=record,
            origin=origin,
            origin_note=origin_note,
            decision=decision,
            effective_date=start,
            actor=actor,
        )

    # -- views -----------------------------------------------------------------------------

    @property
    def citizen_id(self) -> str:
        return str(self.record["citizen"]["citizen_id"])

    @property
    def full_name(self) -> str:
        return str(self.record["identity"]["full_name"])

    @property
    def unit_code(self) -> str:
        return str(self.record["employment"]["unit_code"])

    @property
    def birth_date(self) -> date:
        return self.record["identity"]["birth_date"]  # type: ignore[no-any-return]

    @property
    def pending_change_sets(self) -> dict[str, dict[str, Any]]:
        return {k: v for k, v in self.change_sets.items() if v["status"] == "pending"}

    # -- change sets -----------------------------------------------------------------------

    def propose_change(
        self,
        changes: list[FieldChange],
        *,
        reason: str,
        effective_date: date,
        documents: list[Document],
        actor: Actor,
        today: date,
        document_required_for_self_service: bool,
    ) -> str:
        if not changes:
            raise InvalidInput("a change set changes at least one field", "changes")
        if not reason.strip():
            raise InvalidInput("give the reason for the change", "reason")
        if actor.role == Role.EMPLOYEE and document_required_for_self_service and not documents:
            raise InvalidInput(
                "a change entered by the employee carries a scanned supporting document",
                "documents",
            )
        rules.check_effective_date(effective_date, self.birth_date)
        proposed = [c.as_dict() for c in changes]
        # The result must be a valid record now; it is checked again on approval.
        rules.check_record(apply_changes(self.record, proposed), today)
        # Derived from the profile and its version: unique, and the same on a replayed demo.
        change_set_id = str(uuid5(self.id, f"change-set:{self.version + 1}"))
        self._change_proposed(
            change_set_id=change_set_id,
            changes=proposed,
            reason=reason.strip(),
            documents=documents,
            effective_date=effective_date,
            actor=actor,
        )
        return change_set_id

    @event("ChangeProposed")
    def _change_proposed(
        self,
        change_set_id: str,
        changes: list[dict[str, Any]],
        reason: str,
        documents: list[Document],
        effective_date: date,
        actor: Actor,
    ) -> None:
        self.change_sets[change_set_id] = {
            "status": "pending",
            "changes": changes,
            "reason": reason,
            "documents": documents,
            "effective_date": effective_date,
            "proposed_by": actor,
        }

    def _pending(self, change_set_id: str) -> dict[str, Any]:
        change_set = self.change_sets.get(change_set_id)
        if change_set is None:
            raise NotFound(f"no change set {change_set_id} on this profile")
        if change_set["status"] != "pending":
            raise ChangeSetNotPending(
                f"change set {change_set_id} is already {change_set['status']}"
            )
        return change_set

    def approve_change(
        self, change_set_id: str, *, actor: Actor, today: date, decision: Decision | None = None
    ) -> None:
        change_set = self._pending(change_set_id)
        changes = list(change_set["changes"])
        # Checked against the record as it is now: another change may have been approved
        # since this one was proposed. Values the rules derive (the coefficient of a rank
        # and step) become explicit changes, so the event says all that changed.
        proposed = apply_changes(self.record, changes)
        checked = rules.check_record(proposed, today)
        for group, values in checked.items():
            if isinstance(values, dict):
                for name, value in values.items():
                    if proposed[group].get(name) != value:
                        changes.append({"path": f"{group}.{name}", "value": value})
        self._change_approved(
            change_set_id=change_set_id,
            changes=changes,
            decision=decision,
            effective_date=change_set["effective_date"],
            actor=actor,
        )

    @event("ChangeApproved")
    def _change_approved(
        self,
        change_set_id: str,
        changes: list[dict[str, Any]],
        decision: Decision | None,
        effective_date: date,
        actor: Actor,
    ) -> None:
        self.change_sets[change_set_id]["status"] = "approved"
        self.record = apply_changes(self.record, changes)
        if change_set_id in self.approvals:
            self.approvals[change_set_id]["status"] = "approved"

    def reject_change(self, change_set_id: str, *, reason: str, actor: Actor) -> None:
        change_set = self._pending(change_set_id)
        if not reason.strip():
            raise InvalidInput("give the reason for the rejection", "reason")
        self._change_rejected(
            change_set_id=change_set_id,
            reason=reason.strip(),
            effective_date=change_set["effective_date"],
            actor=actor,
        )

    @event("ChangeRejected")
    def _change_rejected(
        self, change_set_id: str, reason: str, effective_date: date, actor: Actor
    ) -> None:
        self.change_sets[change_set_id]["status"] = "rejected"
        if change_set_id in self.approvals:
            self.approvals[change_set_id]["status"] = "rejected"

    # -- approval by a chain of signatures --------------------------------------------------

    def record_item_id(self, version: int) -> str:
        """The approval item of the record written at a version (an opening, a transition)."""
        return str(uuid5(self.id, f"record:{version}"))

    def request_approval(
        self,
        item_id: str,
        *,
        subject: dict[str, Any],
        chain: list[dict[str, Any]],
        effective_date: date,
        actor: Actor,
    ) -> None:
        """Put a change set, or the record of a new profile or a transition, before the
        chain of signers the jurisdiction gives for the person's unit."""
        if item_id in self.approvals:
            raise InvalidInput(f"approval of {item_id} was already requested", "item")
        if not chain:
            raise InvalidInput("an approval chain has at least one level", "chain")
        self._approval_requested(
            item_id=item_id,
            subject=subject,
            chain=chain,
            unit_code=self.unit_code,
            effective_date=effective_date,
            actor=actor,
        )

    @event("ApprovalRequested")
    def _approval_requested(
        self,
        item_id: str,
        subject: dict[str, Any],
        chain: list[dict[str, Any]],
        unit_code: str,
        effective_date: date,
        actor: Actor,
    ) -> None:
        self.approvals[item_id] = {
            "subject": subject,
            "chain": chain,
            "unit_code": unit_code,
            "effective_date": effective_date,
            "signatures": [],
            "status": "pending",
            "requested_by": actor,
        }

    def pending_approval(self, item_id: str) -> dict[str, Any]:
        item = self.approvals.get(item_id)
        if item is None:
            raise NotFound(f"nothing awaits approval as {item_id} on this profile")
        if item["status"] != "pending":
            raise ChangeSetNotPending(f"{item_id} is already {item['status']}")
        return item

    def next_level(self, item_id: str) -> tuple[int, dict[str, Any]]:
        item = self.pending_approval(item_id)
        index = len(item["signatures"])
        return index, item["chain"][index]

    def sign_approval(
        self, item_id: str, *, signature: dict[str, Any], actor: Actor, today: date
    ) -> None:
        """Record one level's signature (already verified by the caller); the last level
        approves the item."""
        index, level = self.next_level(item_id)
        if actor.role.value != level["role"]:
            raise TransitionNotAllowed(
                f"level {index + 1} of this approval is signed by a {level['role']}, "
                f"not a {actor.role.value}"
            )
        item = self.approvals[item_id]
        self._approval_signed(
            item_id=item_id,
            level=index,
            signature=signature,
            effective_date=item["effective_date"],
            actor=actor,
        )
        if index + 1 < len(item["chain"]):
            return
        if item_id in self.change_sets:
            self.approve_change(item_id, actor=actor, today=today)
        else:
            self._record_approved(
                item_id=item_id, effective_date=item["effective_date"], actor=actor
            )

    @event("ApprovalSigned")
    def _approval_signed(
        self,
        item_id: str,
        level: int,
        signature: dict[str, Any],
        effective_date: date,
        actor: Actor,
    ) -> None:
        self.approvals[item_id]["signatures"].append({**signature, "signer": actor})

    @event("RecordApproved")
    def _record_approved(self, item_id: str, effective_date: date, actor: Actor) -> None:
        self.approvals[item_id]["status"] = "approved"

    def reject_approval(self, item_id: str, *, reason: str, actor: Actor) -> None:
        """Send a change set back to its author, or refuse a record, with the reason."""
        item = self.pending_approval(item_id)
        if item_id in self.change_sets:
            self.reject_change(item_id, reason=reason, actor=actor)
            return
        if not reason.strip():
            raise InvalidInput("give the reason for the rejection", "reason")
        self._record_rejected(
            item_id=item_id,
            reason=reason.strip(),
            effective_date=item["effective_date"],
            actor=actor,
        )

    @event("RecordRejected")
    def _record_rejected(
        self, item_id: str, reason: str, effective_date: date, actor: Actor
    ) -> None:
        self.approvals[item_id]["status"] = "rejected"

    # -- status transitions ----------------------------------------------------------------

    def _check_transition(self, name: str, effective_date: date) -> None:
        allowed_from, _ = TRANSITIONS[name]
        if self.status not in allowed_from:
            raise TransitionNotAllowed(
                f"cannot {name.replace('_', ' ')}: the person is {self.status.value}"
            )
        rules.check_effective_date(effective_date, self.birth_date)
        current_start = self.periods[-1]["start_date"]
        if effective_date < current_start:
            raise InvalidInput(
                f"the effective date {effective_date} is before the start of the current "
                f"employment period {current_start}",
                "effective_date",
            )

    def _set_employment(self, **values: Any) -> None:
        # Replace, never mutate: earlier events still hold the previous dicts.
        self.record = {**self.record, "employment": {**self.record["employment"], **values}}

    def _become(self, name: str) -> None:
        target = TRANSITIONS[name][1]
        if target is not None:
            self.status = target

    def _end_period(self, effective_date: date, name: str) -> None:
        self.periods[-1] = {**self.periods[-1], "end_date": effective_date, "end": name}

    def move_within_unit(
        self,
        *,
        department: str,
        position: str,
        effective_date: date,
        decision: Decision,
        actor: Actor,
    ) -> None:
        self._check_transition("move_within_unit", effective_date)
        if not department.strip() or not position.strip():
            raise InvalidInput("name the new department and position", "department")
        self._moved_within_unit(
            department=department.strip(),
            position=position.strip(),
            effective_date=effective_date,
            decision=decision,
            actor=actor,
        )

    @event("MovedWithinUnit")
    def _moved_within_unit(
        self,
        department: str,
        position: str,
        effective_date: date,
        decision: Decision,
        actor: Actor,
    ) -> None:
        self._set_employment(department=department, position=position)

    def release_transfer(
        self, to_unit: Unit, *, effective_date: date, decision: Decision, actor: Actor
    ) -> None:
        """The old unit releases the person to another unit of the system (điều động)."""
        self._check_transition("release_transfer", effective_date)
        to_unit.require_active()
        if to_unit.code == self.unit_code:
            raise InvalidInput("the person already works in that unit", "to_unit")
        self._transfer_released(
            to_unit_code=to_unit.code,
            effective_date=effective_date,
            decision=decision,
            actor=actor,
        )

    @event("TransferReleased")
    def _transfer_released(
        self, to_unit_code: str, effective_date: date, decision: Decision, actor: Actor
    ) -> None:
        self.transfer_to = to_unit_code
        self._become("release_transfer")

    def receive_transfer(
        self,
        unit: Unit,
        *,
        department: str,
        position: str,
        effective_date: date,
        decision: Decision,
        actor: Actor,
    ) -> None:
        self._check_transition("receive_transfer", effective_date)
        unit.require_active()
        if unit.code != self.transfer_to:
            raise InvalidInput(
                f"the person was released to {self.transfer_to}, not to {unit.code}", "unit"
            )
        self._transfer_received(
            unit_code=unit.code,
            department=department.strip(),
            position=position.strip(),
            effective_date=effective_date,
            decision=decision,
            actor=actor,
        )

    @event("TransferReceived")
    def _transfer_received(
        self,
        unit_code: str,
        department: str,
        position: str,
        effective_date: date,
        decision: Decision,
        actor: Actor,
    ) -> None:
        self._set_employment(unit_code=unit_code, department=department, position=position)
        self.transfer_to = None
        self._become("receive_transfer")

    def transfer_out_of_system(
        self, *, destination: str, effective_date: date, decision: Decision, actor: Actor
    ) -> None:
        self._check_transition("transfer_out_of_system", effective_date)
        if not destination.strip():
            raise InvalidInput("name where the person goes", "destination")
        self._transferred_out(
            destination=destination.strip(),
            effective_date=effective_date,
            decision=decision,
            actor=actor,
        )

    @event("TransferredOutOfSystem")
    def _transferred_out(
        self, destination: str, effective_date: date, decision: Decision, actor: Actor
    ) -> None:
        self.transfer_to = None
        self._end_period(effective_date, "transfer_out_of_system")
        self._become("transfer_out_of_system")

    def start_secondment(
        self,
        *,
        host: str,
        until: date | None,
        effective_date: date,
        decision: Decision,
        actor: Actor,
    ) -> None:
        self._check_transition("start_secondment", effective_date)
        if not host.strip():
            raise InvalidInput("name the host agency of the secondment", "host")
        if until is not None and until <= effective_date:
            raise InvalidInput("the secondment ends after it starts", "until")
        self._secondment_started(
            host=host.strip(),
            until=until,
            effective_date=effective_date,
            decision=decision,
            actor=actor,
        )

    @event("SecondmentStarted")
    def _secondment_started(
        self,
        host: str,
        until: date | None,
        effective_date: date,
        decision: Decision,
        actor: Actor,
    ) -> None:
        self.secondment = {"host": host, "from": effective_date, "until": until}
        self._become("start_secondment")

    def end_secondment(self, *, effective_date: date, decision: Decision, actor: Actor) -> None:
        self._check_transition("end_secondment", effective_date)
        assert self.secondment is not None
        if effective_date < self.secondment["from"]:
            raise InvalidInput("the secondment ends before it started", "effective_date")
        self._secondment_ended(effective_date=effective_date, decision=decision, actor=actor)

    @event("SecondmentEnded")
    def _secondment_ended(self, effective_date: date, decision: Decision, actor: Actor) -> None:
        self.secondment = None
        self._become("end_secondment")

    def retire(self, *, effective_date: date, decision: Decision, actor: Actor) -> None:
        self._check_transition("retire", effective_date)
        self._retired(effective_date=effective_date, decision=decision, actor=actor)

    @event("Retired")
    def _retired(self, effective_date: date, decision: Decision, actor: Actor) -> None:
        self._leave("retire", effective_date)

    def resign(self, *, effective_date: date, decision: Decision, actor: Actor) -> None:
        self._check_transition("resign", effective_date)
        self._resigned(effective_date=effective_date, decision=decision, actor=actor)

    @event("Resigned")
    def _resigned(self, effective_date: date, decision: Decision, actor: Actor) -> None:
        self._leave("resign", effective_date)

    def dismiss(
        self, *, reason: str, effective_date: date, decision: Decision, actor: Actor
    ) -> None:
        self._check_transition("dismiss", effective_date)
        if not reason.strip():
            raise InvalidInput("give the reason for the dismissal", "reason")
        self._dismissed(
            reason=reason.strip(), effective_date=effective_date, decision=decision, actor=actor
        )

    @event("Dismissed")
    def _dismissed(
        self, reason: str, effective_date: date, decision: Decision, actor: Actor
    ) -> None:
        self._leave("dismiss", effective_date)

    def record_death(
        self, *, date_of_death: date, decision: Decision, actor: Actor, today: date
    ) -> None:
        if date_of_death > today:
            raise InvalidInput("the date of death is in the future", "date_of_death")
        allowed_from, _ = TRANSITIONS["record_death"]
        if self.status not in allowed_from:
            raise TransitionNotAllowed(f"cannot record a death: the person is {self.status.value}")
        rules.check_effective_date(date_of_death, self.birth_date)
        self._died(effective_date=date_of_death, decision=decision, actor=actor)

    @event("Died")
    def _died(self, effective_date: date, decision: Decision, actor: Actor) -> None:
        if self.periods[-1]["end_date"] is None:
            self._end_period(effective_date, "record_death")
        self.secondment = None
        self.transfer_to = None
        self._become("record_death")

    def _leave(self, name: str, effective_date: date) -> None:
        self._end_period(effective_date, name)
        self.secondment = None
        self._become(name)

    def rehire(
        self,
        unit: Unit,
        *,
        employment: dict[str, Any],
        effective_date: date,
        decision: Decision,
        actor: Actor,
        today: date,
        origin: str = "recruitment",
    ) -> None:
        """Open a new employment period on the same profile (or an arrival from outside)."""
        name = "arrive_from_outside" if origin == "arrival" else "rehire"
        allowed_from, _ = TRANSITIONS[name]
        if self.status not in allowed_from:
            raise TransitionNotAllowed(
                f"cannot {name.replace('_', ' ')}: the person is {self.status.value}"
            )
        unit.require_active()
        previous_end = self.periods[-1]["end_date"]
        if previous_end is not None and effective_date < previous_end:
            raise InvalidInput(
                f"the new period starts before the previous one ended ({previous_end})",
                "effective_date",
            )
        if effective_date > today:
            raise InvalidInput("the start date is in the future", "effective_date")
        employment = {**employment, "unit_code": unit.code, "start_date": effective_date}
        record = rules.check_record({**self.record, "employment": employment}, today)
        self._rehired(
            employment=record["employment"],
            origin=origin,
            effective_date=effective_date,
            decision=decision,
            actor=actor,
        )

    @event("Rehired")
    def _rehired(
        self,
        employment: dict[str, Any],
        origin: str,
        effective_date: date,
        decision: Decision,
        actor: Actor,
    ) -> None:
        self.record = {**self.record, "employment": dict(employment)}
        self.periods.append(
            {"start_date": effective_date, "origin": origin, "end_date": None, "end": None}
        )
        self.status = ProfileStatus.ACTIVE


class CitizenIdClaim(Aggregate):
    """Makes the citizen ID the one key of a profile: its id is derived from the number, so
    the event store itself refuses a second claim of the same number."""

    @staticmethod
    def create_id(citizen_id: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"hoso:citizen-id:{citizen_id}")

    @event("Claimed")
    def __init__(self, citizen_id: str, profile_id: UUID) -> None:
        self.profile_id = profile_id
