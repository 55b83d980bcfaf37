"""Records of access: every read of restricted values, every export and every refused
attempt is an event, so the audit trail shows who looked at whose record, and when."""

from __future__ import annotations

from eventsourcing.domain import Aggregate, event

from domain.values import Actor

KINDS = ("restricted_read", "export", "refused")


class AccessRecord(Aggregate):
    @event("Recorded")
    def __init__(
        self,
        kind: str,
        resource: str,
        profile_id: str | None,
        fields: list[str],
        basis: str,
        actor: Actor,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"access kind is one of {', '.join(KINDS)}")
        self.kind = kind
        self.resource = resource
        self.profile_id = profile_id
        self.fields = fields
        self.basis = basis
