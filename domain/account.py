"""Accounts and the roles they hold, with dates: who may act for which unit, and when.

An account may be linked to the person's own profile; a role is granted for a unit (and
the units below it) from a date, until a date or until it is ended.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate, event

from domain.errors import InvalidInput, NotFound
from domain.values import Actor, Role, nfc

USERNAME = re.compile(r"^[a-z0-9][a-z0-9._\-]{1,62}$")
KINDS = ("personal", "unit", "administrator", "approver", "inspector", "service")


class Account(Aggregate):
    @staticmethod
    def create_id(username: str) -> UUID:
        return uuid5(NAMESPACE_URL, f"hoso:account:{username}")

    @event("Created")
    def __init__(
        self,
        username: str,
        display_name: str,
        kind: str,
        unit_code: str,
        profile_id: str | None,
        actor: Actor,
    ) -> None:
        self.username = username
        self.display_name = display_name
        self.kind = kind
        self.unit_code = unit_code
        self.profile_id = profile_id
        self.grants: dict[str, dict[str, Any]] = {}
        self.closed = False

    @classmethod
    def open(
        cls,
        username: str,
        display_name: str,
        kind: str,
        unit_code: str,
        *,
        actor: Actor,
        profile_id: str | None = None,
    ) -> Account:
        username = username.strip().lower()
        if not USERNAME.match(username):
            raise InvalidInput(
                "a username is 2–63 lower-case letters, digits, dots, dashes or underscores",
                "username",
            )
        if kind not in KINDS:
            raise InvalidInput(f"account kind is one of {', '.join(KINDS)}", "kind")
        if kind == "personal" and not profile_id:
            raise InvalidInput("a personal account belongs to a person's profile", "profile_id")
        return cls(
            username=username,
            display_name=nfc(display_name) or username,
            kind=kind,
            unit_code=unit_code,
            profile_id=profile_id,
            actor=actor,
        )

    def grant(
        self,
        role: Role,
        unit_code: str,
        *,
        valid_from: date,
        valid_until: date | None = None,
        actor: Actor,
    ) -> str:
        if valid_until is not None and valid_until < valid_from:
            raise InvalidInput("a grant ends after it starts", "valid_until")
        grant_id = str(uuid5(self.id, f"grant:{self.version + 1}"))
        self._granted(
            grant_id=grant_id,
            role=role,
            unit_code=unit_code,
            valid_from=valid_from,
            valid_until=valid_until,
            actor=actor,
        )
        return grant_id

    @event("RoleGranted")
    def _granted(
        self,
        grant_id: str,
        role: Role,
        unit_code: str,
        valid_from: date,
        valid_until: date | None,
        actor: Actor,
    ) -> None:
        self.grants[grant_id] = {
            "role": role,
            "unit_code": unit_code,
            "valid_from": valid_from,
            "valid_until": valid_until,
        }

    def end_grant(self, grant_id: str, *, ended_on: date, actor: Actor) -> None:
        grant = self.grants.get(grant_id)
        if grant is None:
            raise NotFound(f"no grant {grant_id} on account {self.username}")
        if ended_on < grant["valid_from"]:
            raise InvalidInput("a grant cannot end before it starts", "ended_on")
        self._grant_ended(grant_id=grant_id, ended_on=ended_on, actor=actor)

    @event("RoleEnded")
    def _grant_ended(self, grant_id: str, ended_on: date, actor: Actor) -> None:
        self.grants[grant_id] = {**self.grants[grant_id], "valid_until": ended_on}

    def grants_on(self, day: date, role: Role | None = None) -> list[dict[str, Any]]:
        """The grants in force on a day (the last day of a grant is included)."""
        return [
            g
            for g in self.grants.values()
            if g["valid_from"] <= day
            and (g["valid_until"] is None or day <= g["valid_until"])
            and (role is None or g["role"] == role)
        ]
