"""The exchange of one profile with the national database (CSDLQG về CBCCVC), as events.

Each approved record or change of a profile is sent to the national database once; what
the national database answered is recorded here, on an aggregate of its own per profile,
so that the profile's version (which users pass as ``expected_version``) does not move
when a record is synced. Every event names the profile, so the audit trail shows what was
synced when, and by whom (the system).

An item is known by its idempotency key, derived from the profile and the version of the
profile event whose values it carries: the same item always has the same key, whoever
sends it and however often.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.values import Actor, Decision


def idempotency_key(profile_id: UUID | str, version: int) -> str:
    """The key of the item carrying the profile event at ``version``."""
    return str(uuid5(UUID(str(profile_id)), f"national-sync:{version}"))


class NationalSync(Aggregate):
    @staticmethod
    def create_id(profile_id: UUID | str) -> UUID:
        return uuid5(NAMESPACE_URL, f"hoso:national-sync:{profile_id}")

    @event("NationalSyncOpened")
    def __init__(self, profile_id: str, actor: Actor) -> None:
        self.profile_id = profile_id
        self.acknowledged: dict[str, dict[str, Any]] = {}  # idempotency key -> receipt
        self.failures: dict[str, int] = {}  # idempotency key -> failed sends
        self.arrivals: dict[str, str] = {}  # arrival id -> national record id

    # -- sending ----------------------------------------------------------------------------

    def is_acknowledged(self, key: str) -> bool:
        return key in self.acknowledged

    def acknowledge(
        self,
        key: str,
        *,
        item_version: int,
        receipt_id: str,
        national_record_id: str,
        acknowledged_at: datetime,
        actor: Actor,
    ) -> bool:
        """Record the national database's acknowledgement of an item; a second one of the
        same item (a duplicate delivery) records nothing. Returns whether it was new."""
        if key in self.acknowledged:
            return False
        self._acknowledged(
            profile_id=self.profile_id,
            idempotency_key=key,
            item_version=item_version,
            receipt_id=receipt_id,
            national_record_id=national_record_id,
            acknowledged_at=acknowledged_at,
            actor=actor,
        )
        return True

    @event("NationalSyncAcknowledged")
    def _acknowledged(
        self,
        profile_id: str,
        idempotency_key: str,
        item_version: int,
        receipt_id: str,
        national_record_id: str,
        acknowledged_at: datetime,
        actor: Actor,
    ) -> None:
        self.acknowledged[idempotency_key] = {
            "item_version": item_version,
            "receipt_id": receipt_id,
            "national_record_id": national_record_id,
            "acknowledged_at": acknowledged_at,
        }

    def record_failure(
        self, key: str, *, item_version: int, attempts: int, error: str, actor: Actor
    ) -> None:
        """A send that gave up after ``attempts``: the item stays queued for the next run."""
        if key in self.acknowledged:
            return
        self._failed(
            profile_id=self.profile_id,
            idempotency_key=key,
            item_version=item_version,
            attempts=attempts,
            error=error[:500],
            actor=actor,
        )

    @event("NationalSyncFailed")
    def _failed(
        self,
        profile_id: str,
        idempotency_key: str,
        item_version: int,
        attempts: int,
        error: str,
        actor: Actor,
    ) -> None:
        self.failures[idempotency_key] = self.failures.get(idempotency_key, 0) + 1

    # -- arrivals ---------------------------------------------------------------------------

    def has_arrival(self, arrival_id: str) -> bool:
        return arrival_id in self.arrivals

    def record_arrival(
        self,
        arrival_id: str,
        *,
        national_record_id: str,
        origin_body: str,
        decision: Decision,
        actor: Actor,
    ) -> None:
        """The person arrived from outside through the national database: where from,
        by which decision, under which national record."""
        if arrival_id in self.arrivals:
            return
        self._arrival_recorded(
            profile_id=self.profile_id,
            arrival_id=arrival_id,
            national_record_id=national_record_id,
            origin_body=origin_body,
            decision=decision,
            actor=actor,
        )

    @event("NationalArrivalRecorded")
    def _arrival_recorded(
        self,
        profile_id: str,
        arrival_id: str,
        national_record_id: str,
        origin_body: str,
        decision: Decision,
        actor: Actor,
    ) -> None:
        self.arrivals[arrival_id] = national_record_id
