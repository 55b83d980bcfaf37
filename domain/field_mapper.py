"""Restricted field values encrypted inside stored events and snapshots.

Before an event is transcoded, its state is walked and every restricted value is replaced
by its encryption (see ``domain.field_cipher``):

* the value under a key that names a restricted group of the résumé (``citizen``,
  ``health``...), wherever it is: an opening's ``record``, the ``subject`` of an approval
  request that copies it, a snapshot's record and its pending approvals;
* the ``value`` of a change ``{"path": ..., "value": ...}`` whose path is in a restricted
  group (``discipline``, ``citizen.issued_by``), in change sets proposed, approved, or
  copied into an approval request or a snapshot;
* any ``citizen_id`` (the citizen-ID claim's).

The rest of the event (its type, dates, actor, decision, the open groups) stays readable,
as the read models and the audit need it. Each value is encrypted apart, with the
application's transcoder, so that dates and decimals come back as they went in; the
associated data binds it to its aggregate and field path. On the way back, a value that
cannot be decrypted becomes ``redacted()`` instead of an error (a list group, a list of
it), so that loading and projecting go on without it.
"""

from __future__ import annotations

from typing import Any
from uuid import UUID

from eventsourcing.domain import DomainEventProtocol, Snapshot
from eventsourcing.persistence import Cipher, Compressor, Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic

from domain.field_cipher import FieldUnavailable, KeyRing, is_encrypted, redacted
from domain.profile import CitizenIdClaim, Profile
from domain.resume import GROUPS

RESTRICTED_GROUPS = frozenset(name for name, group in GROUPS.items() if group.restricted > 0)
SENSITIVE_KEYS = RESTRICTED_GROUPS | {"citizen_id"}
LIST_GROUPS = frozenset(name for name, group in GROUPS.items() if group.many)
CHANGE_KEYS = frozenset({"path", "value"})
PROFILE_TOPIC = get_topic(Profile)
IDENTITY = frozenset({"originator_id", "originator_version"})


def restricted_path(path: Any) -> bool:
    """Whether a change path ("health.blood_type", "discipline") is in a restricted group."""
    return isinstance(path, str) and path.partition(".")[0] in RESTRICTED_GROUPS


def placeholder(group: str) -> Any:
    """What stands in for a whole group that cannot be decrypted, in the shape the record
    gives it: a list group stays a list, so that entries approved later still add to it."""
    return [redacted()] if group in LIST_GROUPS else redacted()


def field_path(scope: str, field: str) -> str:
    """What an encrypted value is bound to: its aggregate (or row) and its field path."""
    return f"{scope}/{field}"


def carries_restricted(event: object) -> bool:
    if isinstance(event, Profile.Event | CitizenIdClaim.Event):
        return True
    return isinstance(event, Snapshot) and getattr(event, "topic", None) == PROFILE_TOPIC


class FieldEncryptingMapper(Mapper[UUID]):
    def __init__(
        self,
        transcoder: Transcoder,
        compressor: Compressor | None = None,
        cipher: Cipher | None = None,
        *,
        keys: KeyRing | None = None,
    ) -> None:
        super().__init__(transcoder=transcoder, compressor=compressor, cipher=cipher)
        self.keys = keys

    def to_stored_event(self, domain_event: DomainEventProtocol[UUID]) -> StoredEvent:
        if self.keys is None or not carries_restricted(domain_event):
            return super().to_stored_event(domain_event)
        state = vars(domain_event)
        scope = str(state["originator_id"])
        sealed = {
            name: value if name in IDENTITY else self._seal_entry(scope, name, value, state)
            for name, value in state.items()
        }
        clone = object.__new__(type(domain_event))
        object.__setattr__(clone, "__dict__", sealed)
        return super().to_stored_event(clone)

    def to_domain_event(self, stored_event: StoredEvent) -> DomainEventProtocol[UUID]:
        domain_event = super().to_domain_event(stored_event)
        self._open(str(stored_event.originator_id), vars(domain_event))
        return domain_event

    # -- encrypting: a new structure, the event's own is left as it is --------------------

    def _seal_entry(self, scope: str, key: str, value: Any, parent: dict[str, Any]) -> Any:
        if key in SENSITIVE_KEYS and value is not None:
            return self._encrypt(scope, key, value)
        if key == "value" and parent.keys() == CHANGE_KEYS and restricted_path(parent["path"]):
            return self._encrypt(scope, parent["path"], value)
        return self._seal(scope, value)

    def _seal(self, scope: str, value: Any) -> Any:
        if isinstance(value, dict):
            return {k: self._seal_entry(scope, k, v, value) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._seal(scope, v) for v in value]
        return value

    def _encrypt(self, scope: str, field: str, value: Any) -> Any:
        if is_encrypted(value):
            return value
        assert self.keys is not None
        return self.keys.encrypt_bytes(self.transcoder.encode(value), field_path(scope, field))

    # -- decrypting: the decoded state is this event's own, changed in place --------------

    def _open(self, scope: str, value: Any) -> None:
        # Every event is walked on every read: scalars, the most of it, are passed over
        # without a call.
        if isinstance(value, dict):
            for key, item in value.items():
                if not isinstance(item, dict | list):
                    continue
                if is_encrypted(item):
                    if key == "value" and value.keys() == CHANGE_KEYS:
                        value[key] = self._decrypt(scope, str(value["path"]), item, redacted())
                    else:
                        value[key] = self._decrypt(scope, key, item, placeholder(key))
                else:
                    self._open(scope, item)
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if not isinstance(item, dict | list):
                    continue
                if is_encrypted(item):
                    value[index] = redacted()  # never written so: nothing binds it
                else:
                    self._open(scope, item)

    def _decrypt(self, scope: str, field: str, token: dict[str, str], missing: Any) -> Any:
        if self.keys is None:
            return missing
        try:
            return self.transcoder.decode(self.keys.decrypt_bytes(token, field_path(scope, field)))
        except (FieldUnavailable, ValueError):
            return missing
