"""Profile view: each person's approved record as one JSON document, and their change sets.

The record is the aggregate's record made JSON-ready (dates as ISO text, decimals as
text): it is kept with ``domain.resume.apply_changes`` for approved change sets, and with
the employment updates of moves, transfers and rehires, exactly as the aggregate keeps
it. Pending changes never reach it; they live in the change-set table until a decision.

The change-set table has one row per change set, whatever became of it: what was
proposed, why, with which documents, by whom and when; who decided, when, under which
decision, and the reason of a rejection. ``applied_changes`` holds what an approval
finally applied, including the values the rules derived (the coefficient of a rank and
step), which the proposal did not name.

A profile's full list of events is the audit read model's business, not this one's.

Restricted values are encrypted at rest here too, with the ledger's field keys: each
restricted group of the record, and the value of each change in a restricted group, is
stored as ``{"_enc": key_id, "ct": ...}``. The nonce is derived from the value, so that a
rebuild from the log writes the same bytes as incremental catch-up; the rows depend on the
current key, so a new current key rebuilds the view (``hoso keys rotate`` does it at once).
The queries give the values back decrypted; one that cannot be decrypted (its key is gone,
or it was altered) comes back as ``{"restricted": true, "unavailable": true}``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from typing import Any

from sqlalchemy import (
    JSON,
    Column,
    Connection,
    Date,
    DateTime,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    select,
)

from domain.field_cipher import (
    MARK,
    FieldUnavailable,
    KeyRing,
    decrypt_with_any,
    is_encrypted,
    is_redacted,
    redacted,
)
from domain.field_mapper import RESTRICTED_GROUPS, field_path, placeholder, restricted_path
from domain.profile import Profile
from domain.resume import GROUPS, apply_changes
from domain.values import json_ready
from projections.facts import STATUS_AFTER
from projections.framework import Positioned, ReadModel, insert_rows, seen_before, utc
from projections.units import subtree

metadata = MetaData()
profiles = Table(
    "rm_profiles",
    metadata,
    Column("profile_id", String(36), primary_key=True),
    Column("version", Integer, nullable=False),
    Column("full_name", String(200), nullable=False),
    Column("unit_code", String(40), nullable=False, index=True),
    Column("status", String(20), nullable=False, index=True),
    Column("record", JSON(none_as_null=True), nullable=False),
    Column("periods", JSON(none_as_null=True), nullable=False),
    Column("transfer_to", String(40)),  # while released to another unit
    Column("secondment", JSON(none_as_null=True)),  # host, from, until while seconded
    Column("updated_at", DateTime(timezone=True), nullable=False),
)
change_sets_table = Table(
    "rm_change_sets",
    metadata,
    Column("change_set_id", String(36), primary_key=True),
    Column("profile_id", String(36), nullable=False, index=True),
    Column("position", Integer, nullable=False, index=True),  # log position of the proposal
    Column("status", String(20), nullable=False, index=True),  # pending, approved, rejected
    Column("changes", JSON(none_as_null=True), nullable=False),  # as proposed
    Column("applied_changes", JSON(none_as_null=True)),  # as approved, with derived values
    Column("reason", Text, nullable=False),
    Column("effective_date", Date),
    Column("documents", JSON(none_as_null=True), nullable=False),  # sha256, filename...
    Column("proposed_by", String(200)),
    Column("proposed_by_role", String(40)),
    Column("proposed_by_unit", String(40)),
    Column("proposed_at", DateTime(timezone=True)),
    Column("decided_by", String(200)),
    Column("decided_by_role", String(40)),
    Column("decided_by_unit", String(40)),
    Column("decided_at", DateTime(timezone=True)),
    Column("decision_number", String(100)),
    Column("decision_signed_on", Date),
    Column("rejection_reason", Text),
)

# Transitions that end the current employment period, and how the period records it.
PERIOD_ENDS = {
    "TransferredOutOfSystem": "transfer_out_of_system",
    "Retired": "retire",
    "Resigned": "resign",
    "Dismissed": "dismiss",
}


class ProfileView(ReadModel):
    name = "profiles"
    version = 2  # 2: restricted values encrypted
    metadata = metadata
    topics = (Profile.Event,)

    @property
    def keys(self) -> KeyRing:
        return self.ledger.field_keys

    def configuration(self) -> str:
        return f"field-key:{self.keys.current_id}"

    def apply(self, conn: Connection, events: Sequence[Positioned]) -> None:
        keys = self.keys
        _, earlier = seen_before(events)
        rows: dict[str, dict[str, Any]] = {}
        if earlier:
            query = select(profiles).where(profiles.c.profile_id.in_(earlier))
            rows = {
                row.profile_id: _loaded_profile(dict(row._mapping), keys)
                for row in conn.execute(query)
            }
        stored = set(rows)
        # Change sets proposed in an earlier page, which a decision here completes.
        proposed = {str(p.event.change_set_id) for p in events if p.kind == "ChangeProposed"}
        decided = {
            str(p.event.change_set_id)
            for p in events
            if hasattr(p.event, "change_set_id") and p.kind != "ChangeProposed"
        }
        sets: dict[str, dict[str, Any]] = {}
        if decided - proposed:
            query = select(change_sets_table).where(
                change_sets_table.c.change_set_id.in_(decided - proposed)
            )
            sets = {
                row.change_set_id: _open_change_set(dict(row._mapping), keys)
                for row in conn.execute(query)
            }
        stored_sets = set(sets)
        for p in events:
            key = p.originator
            row = rows.get(key)
            if row is None:
                row = rows[key] = _blank(key)
            changes = _ready(p.event.changes) if p.kind == "ChangeApproved" else None
            _apply_to_profile(row, p, keys if key in stored else None, changes)
            if hasattr(p.event, "change_set_id"):
                _apply_to_change_set(sets, key, p, changes)
        if stored:
            conn.execute(profiles.delete().where(profiles.c.profile_id.in_(stored)))
        insert_rows(conn, profiles, [_sealed_profile(row, keys) for row in rows.values()])
        if sets:
            if stored_sets:
                conn.execute(
                    change_sets_table.delete().where(
                        change_sets_table.c.change_set_id.in_(stored_sets)
                    )
                )
            insert_rows(
                conn, change_sets_table, [_sealed_change_set(row, keys) for row in sets.values()]
            )


_SCALARS = frozenset({str, int, float, bool, type(None)})
_TEXT: dict[type, Callable[[Any], str]] = {
    date: date.isoformat,
    datetime: datetime.isoformat,
    Decimal: str,
}


def _ready(value: Any) -> Any:
    """``json_ready``, quicker on the plain values events are made of."""
    kind = type(value)
    if kind in _SCALARS:
        return value
    if kind is dict:
        return {k: v if type(v) in _SCALARS else _ready(v) for k, v in value.items()}
    if kind is list or kind is tuple:
        return [v if type(v) in _SCALARS else _ready(v) for v in value]
    text = _TEXT.get(kind)
    if text is not None:
        return text(value)
    return json_ready(value)


# -- restricted values at rest ---------------------------------------------------------------


def _seal(keys: KeyRing, value: Any, scope: str, field: str) -> Any:
    if is_redacted(value) or is_encrypted(value):
        return value  # nothing to hide in a placeholder; never encrypted twice
    return keys.encrypt(value, field_path(scope, field), deterministic=True)


def _unseal(keys: KeyRing | None, value: Any, scope: str, field: str, missing: Any) -> Any:
    if not is_encrypted(value):
        return value
    try:
        return decrypt_with_any(value, field_path(scope, field), keys)
    except FieldUnavailable:
        return missing


def _sealed_record(keys: KeyRing, record: dict[str, Any], profile_id: str) -> dict[str, Any]:
    return {
        group: _seal(keys, value, profile_id, group) if group in RESTRICTED_GROUPS else value
        for group, value in record.items()
    }


def _opened_record(keys: KeyRing | None, record: Any, profile_id: str) -> Any:
    if not isinstance(record, dict):
        return record
    return {
        group: _unseal(keys, value, profile_id, group, placeholder(group))
        for group, value in record.items()
    }


def _sealed_changes(keys: KeyRing, changes: Any, change_set_id: str) -> Any:
    if not isinstance(changes, list):
        return changes
    for c in changes:
        if isinstance(c, dict) and restricted_path(c.get("path")):
            break
    else:
        return changes  # nothing restricted: the list as it is
    return [
        {**c, "value": _seal(keys, c.get("value"), change_set_id, c["path"])}
        if isinstance(c, dict) and restricted_path(c.get("path"))
        else c
        for c in changes
    ]


def _opened_changes(keys: KeyRing | None, changes: Any, change_set_id: str) -> Any:
    if not isinstance(changes, list):
        return changes
    return [
        {**c, "value": _unseal(keys, c.get("value"), change_set_id, str(c.get("path")), redacted())}
        if isinstance(c, dict)
        else c
        for c in changes
    ]


def _sealed_profile(row: dict[str, Any], keys: KeyRing) -> dict[str, Any]:
    """The row to store. A restricted group still sealed as it was read is written back as
    it is: encrypted again, it would give the same bytes."""
    return {**row, "record": _sealed_record(keys, row["record"], row["profile_id"])}


def _loaded_profile(row: dict[str, Any], keys: KeyRing) -> dict[str, Any]:
    """A stored row to apply events to: restricted groups sealed under the current key stay
    sealed until an event changes them (``_opened_groups``); others are opened now."""
    record = row["record"]
    if isinstance(record, dict):
        current = keys.current_id
        profile_id = str(row["profile_id"])
        row["record"] = {
            group: value
            if is_encrypted(value) and value.get(MARK) == current
            else _unseal(keys, value, profile_id, group, placeholder(group))
            for group, value in record.items()
        }
    return row


def _opened_groups(
    record: dict[str, Any], changes: list[dict[str, Any]], keys: KeyRing | None, profile_id: str
) -> dict[str, Any]:
    """The record with every group the changes touch decrypted, ready for them."""
    if keys is None:
        return record  # nothing sealed in it: not read from the table
    names = {str(c.get("path", "")).partition(".")[0] for c in changes}
    sealed = [n for n in names if is_encrypted(record.get(n))]
    if not sealed:
        return record
    opened = dict(record)
    for name in sealed:
        opened[name] = _unseal(keys, opened[name], profile_id, name, placeholder(name))
    return opened


def _open_profile(row: dict[str, Any], keys: KeyRing | None) -> dict[str, Any]:
    return {**row, "record": _opened_record(keys, row["record"], str(row["profile_id"]))}


def _sealed_change_set(row: dict[str, Any], keys: KeyRing) -> dict[str, Any]:
    key = row["change_set_id"]
    return {
        **row,
        "changes": _sealed_changes(keys, row["changes"], key),
        "applied_changes": _sealed_changes(keys, row["applied_changes"], key),
    }


def _open_change_set(row: dict[str, Any], keys: KeyRing | None) -> dict[str, Any]:
    key = str(row["change_set_id"])
    return {
        **row,
        "changes": _opened_changes(keys, row["changes"], key),
        "applied_changes": _opened_changes(keys, row["applied_changes"], key),
    }


def _apply_changes(record: dict[str, Any], changes: list[dict[str, Any]]) -> dict[str, Any]:
    """``apply_changes`` as the aggregate applies it (a group that could not be decrypted
    is a placeholder of the group's shape), never failing on a group of another shape.
    Groups the changes leave alone are shared with the given record, which is left
    untouched; nothing in a record is changed in place."""
    usable = [c for c in changes if _fits(record, str(c.get("path", "")))]
    touched = {c["path"].partition(".")[0] for c in usable}
    changed = apply_changes({name: record[name] for name in touched}, usable)
    return {**record, **changed}


def _fits(record: dict[str, Any], path: str) -> bool:
    name = path.partition(".")[0]
    group = GROUPS.get(name)
    if group is None:
        return False
    return isinstance(record.get(name), list if group.many else dict)


def _blank(profile_id: str) -> dict[str, Any]:
    return {
        "profile_id": profile_id,
        "full_name": "",
        "unit_code": "",
        "status": "active",
        "record": {name: [] if group.many else {} for name, group in GROUPS.items()},
        "periods": [],
        "transfer_to": None,
        "secondment": None,
    }


def _apply_to_profile(
    row: dict[str, Any],
    p: Positioned,
    keys: KeyRing | None = None,
    changes: list[dict[str, Any]] | None = None,
) -> None:
    """Apply one event. ``keys``: to open the restricted groups of a row read from the
    table that the event changes; ``changes``: an approval's changes made JSON-ready, when
    the caller has them already."""
    event, kind = p.event, p.kind
    if kind not in _CHANGES_THE_PROFILE:  # a proposal, a rejection...: nothing but the version
        row["version"] = event.originator_version
        row["updated_at"] = utc(event.timestamp)
        return
    record: dict[str, Any] = row["record"]
    if kind == "Opened":
        record = _ready(event.record)
        row["periods"] = [
            {
                "start_date": json_ready(event.effective_date),
                "origin": event.origin,
                "end_date": None,
                "end": None,
            }
        ]
        row["transfer_to"] = row["secondment"] = None
    elif kind == "ChangeApproved":
        if changes is None:
            changes = _ready(event.changes)
        record = _opened_groups(record, changes, keys, row["profile_id"])
        record = _apply_changes(record, changes)
    elif kind == "Rehired":
        record = {**record, "employment": _ready(dict(event.employment))}
        row["periods"] = [
            *row["periods"],
            {
                "start_date": json_ready(event.effective_date),
                "origin": event.origin,
                "end_date": None,
                "end": None,
            },
        ]
    elif kind in ("MovedWithinUnit", "TransferReceived"):
        moved = [{"path": path, "value": _ready(value)} for path, value in p.values.items()]
        record = _opened_groups(record, moved, keys, row["profile_id"])
        record = _apply_changes(record, moved)
        if kind == "TransferReceived":
            row["transfer_to"] = None
    elif kind == "TransferReleased":
        row["transfer_to"] = event.to_unit_code
    elif kind == "SecondmentStarted":
        row["secondment"] = {
            "host": event.host,
            "from": json_ready(event.effective_date),
            "until": json_ready(event.until),
        }
    elif kind == "SecondmentEnded":
        row["secondment"] = None
    if kind in PERIOD_ENDS:
        _end_period(row, event, PERIOD_ENDS[kind])
        if kind == "TransferredOutOfSystem":
            row["transfer_to"] = None
        else:
            row["secondment"] = None
    elif kind == "Died":
        if row["periods"] and row["periods"][-1]["end_date"] is None:
            _end_period(row, event, "record_death")
        row["transfer_to"] = row["secondment"] = None
    status = p.status
    if status is not None:
        row["status"] = status.value
    identity = record.get("identity") or {}
    employment = record.get("employment") or {}
    row.update(
        record=record,
        full_name=identity.get("full_name") or "",
        unit_code=employment.get("unit_code") or "",
        version=event.originator_version,
        updated_at=utc(event.timestamp),
    )


# The events that change more of a profile's row than its version.
_CHANGES_THE_PROFILE = frozenset(
    {
        "Opened",
        "ChangeApproved",
        "Rehired",
        "MovedWithinUnit",
        "TransferReceived",
        "TransferReleased",
        "SecondmentStarted",
        "SecondmentEnded",
        "Died",
        *PERIOD_ENDS,
        *STATUS_AFTER,
    }
)


def _end_period(row: dict[str, Any], event: Any, end: str) -> None:
    if row["periods"]:
        last = {**row["periods"][-1], "end_date": json_ready(event.effective_date), "end": end}
        row["periods"] = [*row["periods"][:-1], last]


def _apply_to_change_set(
    sets: dict[str, dict[str, Any]],
    profile_id: str,
    p: Positioned,
    changes: list[dict[str, Any]] | None = None,
) -> None:
    """Apply one event; ``changes``: an approval's changes made JSON-ready, when the caller
    has them already."""
    event, kind = p.event, p.kind
    key = str(event.change_set_id)
    actor = getattr(event, "actor", None)
    if actor is None:
        account = role = unit = None
    else:
        account, role, unit = actor.account, actor.role, actor.unit_code
        role = role.value if isinstance(role, Enum) else _ready(role)
    if kind == "ChangeProposed":
        row = _new_change_set(key, profile_id, p.position)
        row.update(
            changes=_ready(event.changes),
            reason=event.reason,
            effective_date=event.effective_date,
            documents=_ready(event.documents),
            proposed_by=account,
            proposed_by_role=role,
            proposed_by_unit=unit,
            proposed_at=utc(event.timestamp),
        )
        sets[key] = row
        return
    row = sets.get(key)
    if row is None:  # a decision on a proposal this table never saw: keep what is known
        row = sets[key] = _new_change_set(key, profile_id, p.position)
        row["effective_date"] = getattr(event, "effective_date", None)
    decision = getattr(event, "decision", None)
    row.update(
        decided_by=account,
        decided_by_role=role,
        decided_by_unit=unit,
        decided_at=utc(event.timestamp),
        decision_number=decision.number if decision else None,
        decision_signed_on=decision.signed_on if decision else None,
    )
    if kind == "ChangeApproved":
        if changes is None:
            changes = _ready(event.changes)
        row.update(status="approved", applied_changes=changes)
    else:
        row.update(status="rejected", rejection_reason=getattr(event, "reason", None))


_NO_CHANGE_SET: dict[str, Any] = dict.fromkeys(c.name for c in change_sets_table.columns)


def _new_change_set(key: str, profile_id: str, position: int) -> dict[str, Any]:
    row = dict(_NO_CHANGE_SET)
    row.update(
        change_set_id=key,
        profile_id=profile_id,
        position=position,
        status="pending",
        changes=[],
        reason="",
        documents=[],
    )
    return row


# -- queries -------------------------------------------------------------------------------


def profile_view(
    conn: Connection, profile_id: str, *, keys: KeyRing | None = None
) -> dict[str, Any] | None:
    """The approved record with status, version, employment periods and the change sets
    still waiting for a decision. Restricted values are decrypted with ``keys`` (by default
    the key ring of the ledger opened in this process)."""
    row = conn.execute(_PROFILE_VIEW, {"profile_id": str(profile_id)}).first()
    if row is None:
        return None
    found = dict(row._mapping)
    waiting = found.pop("waiting")
    result = _open_profile(found, keys)
    result["updated_at"] = utc(result["updated_at"])
    result["pending"] = (
        change_sets(conn, profile_id=str(profile_id), status="pending", keys=keys)
        if waiting
        else []
    )
    return result


# A profile's row, and whether change sets wait for a decision on it (most often none do:
# then they are not asked for).
_PROFILE_VIEW = select(
    profiles,
    select(change_sets_table.c.change_set_id)
    .where(
        change_sets_table.c.profile_id == profiles.c.profile_id,
        change_sets_table.c.status == "pending",
    )
    .exists()
    .label("waiting"),
).where(profiles.c.profile_id == bindparam("profile_id"))


def change_sets(
    conn: Connection,
    *,
    profile_id: str | None = None,
    status: str | None = None,
    unit_code: str | None = None,
    with_subunits: bool = False,
    keys: KeyRing | None = None,
) -> list[dict[str, Any]]:
    """Change sets in the order they were proposed, each with the person's name and
    current unit. ``unit_code`` is the unit the person works in now (where the approval
    belongs), with the units below it when ``with_subunits``."""
    query = select(change_sets_table, profiles.c.full_name, profiles.c.unit_code).select_from(
        change_sets_table.outerjoin(
            profiles, profiles.c.profile_id == change_sets_table.c.profile_id
        )
    )
    if profile_id is not None:
        query = query.where(change_sets_table.c.profile_id == str(profile_id))
    if status is not None:
        query = query.where(change_sets_table.c.status == status)
    if unit_code:
        if with_subunits:
            tree = subtree(unit_code)
            query = query.where(profiles.c.unit_code.in_(select(tree.c.code)))
        else:
            query = query.where(profiles.c.unit_code == unit_code)
    rows = conn.execute(query.order_by(change_sets_table.c.position))
    result = []
    for row in rows:
        item = _open_change_set(dict(row._mapping), keys)
        item["proposed_at"] = utc(item["proposed_at"])
        item["decided_at"] = utc(item["decided_at"])
        result.append(item)
    return result
