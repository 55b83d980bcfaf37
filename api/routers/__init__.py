"""The JSON API, one router per resource, and what they share: the caller, the services,
and the guards that put every question to the one policy (``api.policy.decide``).

A resource the caller may not see is answered exactly as one that does not exist (404,
same body); one the caller may see but not act on is 403. Every refusal of an existing
profile or unit is recorded as an access event, and so is every read of restricted values
by someone other than the person.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import replace
from typing import Annotated, Any, NoReturn

from fastapi import Depends

from api.auth import current_principal
from api.deps import Services, services_dependency
from api.errors import PROBLEM_JSON, Forbidden, problem_of
from api.policy import Action, Principal, Verdict, decide, visible_record
from domain.errors import NotFound
from domain.profile import Profile
from domain.resume import GROUPS
from domain.values import Actor, Role
from signing.approvals import WaitingItem

Caller = Annotated[Principal, Depends(current_principal)]
Svc = Annotated[Services, Depends(services_dependency)]

# The last page a listing serves (beyond it, the offset would not fit the database's integers).
MAX_PAGE = 100_000
# Versions and years are looked up in the database: bounded, so they fit its integers.
MAX_VERSION = 2**31 - 1

# The restriction level of each résumé field group (0: open to whoever reads the record).
LEVELS: dict[str, int] = {name: group.restricted for name, group in GROUPS.items()}


def problem(
    description: str,
    code: str,
    status: int,
    detail_en: str,
    headers: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An error answer of the OpenAPI document: a problem document, with an example."""
    answer: dict[str, Any] = {
        "description": description,
        "content": {
            PROBLEM_JSON: {
                "schema": {"$ref": "#/components/schemas/Problem"},
                "example": {
                    "type": f"urn:hoso:problem:{code}",
                    "title": problem_of(code).title,
                    "status": status,
                    "detail": problem_of(code).detail,
                    "code": code,
                    "detail_en": detail_en,
                },
            }
        },
    }
    if headers:
        answer["headers"] = headers
    return answer


UNAUTHENTICATED: dict[int | str, dict[str, Any]] = {
    401: problem(
        "Not signed in, or the session or token is unknown, expired or revoked",
        "unauthenticated",
        401,
        "sign in",
    )
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: problem(
        "Unknown, or not visible to the caller (the two are not told apart)",
        "not_found",
        404,
        "no profile 3f6c1c1e-8d8a-4f43-9a59-1c2f3b0e7a10",
    )
}
FORBIDDEN: dict[int | str, dict[str, Any]] = {
    403: problem(
        "The caller may see the resource but not do this; or must first change a temporary "
        "password or enrol a second factor; or sent a session cookie without its CSRF token",
        "forbidden",
        403,
        "may not …",
    )
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: problem(
        "Stale expected_version, a duplicate, or a change already decided",
        "version_conflict",
        409,
        "profile … was changed meanwhile: the command was based on version 3, the current "
        "version is 4; reload and try again",
    )
}
INVALID: dict[int | str, dict[str, Any]] = {
    422: problem(
        "Invalid input, or not allowed by the rules", "invalid_input", 422, "reason: required"
    )
}
UNAVAILABLE: dict[int | str, dict[str, Any]] = {
    503: problem("The store does not answer", "unavailable", 503, "the store does not answer")
}
READ_ERRORS: dict[int | str, dict[str, Any]] = {
    **UNAUTHENTICATED,
    **FORBIDDEN,
    **NOT_FOUND,
    **INVALID,
}
COMMAND_ERRORS: dict[int | str, dict[str, Any]] = {
    **UNAUTHENTICATED,
    **FORBIDDEN,
    **NOT_FOUND,
    **CONFLICT,
    **INVALID,
}


# -- who acts ------------------------------------------------------------------------------


def actor_of(principal: Principal, verdict: Verdict) -> Actor:
    """The actor a command is recorded under: the role and unit of the grant that allowed it
    (the person themself, for their own record)."""
    return Actor(principal.account, verdict.role or Role.EMPLOYEE, verdict.unit_code or "")


def caller_actor(principal: Principal) -> Actor:
    """The caller as recorded on a refusal, where no grant allowed anything."""
    if principal.grants:
        grant = principal.grants[0]
        return Actor(principal.account, grant.role, grant.unit_code)
    return Actor(principal.account, Role.EMPLOYEE, "")


def acting_as(principal: Principal, role: Role) -> Principal:
    """The caller acting in one of its roles: the role a level of an approval chain asks
    for. The policy still decides whether that role reaches the unit."""
    return replace(principal, grants=tuple(g for g in principal.grants if g.role is role))


def may_sign(principal: Principal, item: WaitingItem) -> bool:
    """Whether the caller may sign the level a waiting approval item waits for."""
    return bool(
        decide(
            acting_as(principal, item.role),
            Action.SIGN,
            unit_code=item.unit_code,
            profile_id=item.profile_id,
        )
    )


def refuse(
    svc: Services,
    principal: Principal,
    resource: str,
    verdict: Verdict,
    *,
    visible: bool,
    unknown: str,
    profile_id: str | None = None,
) -> NoReturn:
    """Record the refusal, then answer 403 where the caller may see the resource and 404
    (the very answer an unknown resource gets) where not."""
    svc.record_access(
        "refused",
        resource,
        actor=caller_actor(principal),
        profile_id=profile_id,
        basis=verdict.reason,
    )
    if visible:
        raise Forbidden(verdict.reason)
    raise NotFound(unknown)


# -- guards --------------------------------------------------------------------------------


def allowed_on_unit(
    svc: Services, principal: Principal, action: Action, code: str | None
) -> Verdict:
    """May the caller take ``action`` on unit ``code`` (None: on the whole instance)? The
    caller has made sure the unit exists: an unknown one is simply not found."""
    verdict = decide(principal, action, unit_code=code)
    if verdict:
        return verdict
    visible = code is not None and bool(decide(principal, Action.READ_UNIT, unit_code=code))
    refuse(
        svc,
        principal,
        f"unit:{code}" if code else "units",
        verdict,
        visible=visible or code is None,
        unknown=f"no unit {code}",
    )


def known_unit(svc: Services, code: str) -> str:
    """The code of a unit the ledger holds (the target of a command); 404 otherwise, with
    the answer a unit the caller may not see gets."""
    code = code.strip().upper()
    try:
        return svc.ledger.unit(code).code
    except NotFound:
        raise NotFound(f"no unit {code}") from None


def unit_row(svc: Services, code: str) -> dict[str, Any]:
    """The read-model row of a unit (its code as typed: trimmed, any case), once the read
    models are current (``Services.current``); 404 when there is none."""
    code = code.strip().upper()
    found = svc.units().get(code)
    if found is None:
        raise NotFound(f"no unit {code}")
    return found


def scope_unit(svc: Services, principal: Principal, action: Action, code: str | None) -> str:
    """The unit a listing covers: the one asked for, where the caller may take ``action``;
    by default the unit of the caller's first grant allowing it (with the units below)."""
    svc.current()
    if code is None:
        return allowed_on_unit(svc, principal, action, None).unit_code or ""
    code = unit_row(svc, code)["code"]
    allowed_on_unit(svc, principal, action, code)
    return code


def profile_for_command(
    svc: Services,
    principal: Principal,
    key: str,
    action: Action,
    where: Callable[[Profile], str] | None = None,
) -> tuple[Profile, Verdict]:
    """The profile a command acts on, and the verdict allowing it. ``where`` gives the unit
    the action is decided on (by default the unit the person works in now)."""
    unknown = f"no profile {key}"
    try:
        profile = svc.ledger.profile(key)
    except NotFound:
        raise NotFound(unknown) from None
    profile_id = str(profile.id)
    unit_code = where(profile) if where else profile.unit_code
    verdict = decide(principal, action, unit_code=unit_code, profile_id=profile_id)
    if not verdict:
        visible = decide(
            principal, Action.READ_PROFILE, unit_code=profile.unit_code, profile_id=profile_id
        )
        refuse(
            svc,
            principal,
            f"profile:{profile_id}",
            verdict,
            visible=bool(visible),
            unknown=unknown,
            profile_id=profile_id,
        )
    return profile, verdict


# -- restricted values ---------------------------------------------------------------------


class Disclosure:
    """Shows a profile's values to one caller: values of restricted field groups the caller
    is not cleared for become ``{"restricted": true, "level": N}``; the groups shown and
    withheld are counted, so that a read of restricted values can be recorded."""

    def __init__(self, principal: Principal, *, unit_code: str, profile_id: str) -> None:
        self.principal = principal
        self.unit_code = unit_code
        self.profile_id = profile_id
        self.shown: set[str] = set()
        self.withheld: set[str] = set()

    def _verdict(self, level: int) -> Verdict:
        return decide(
            self.principal,
            Action.READ_RESTRICTED,
            unit_code=self.unit_code,
            profile_id=self.profile_id,
            level=level,
        )

    def record(self, record: dict[str, Any]) -> dict[str, Any]:
        result, shown, withheld = visible_record(
            self.principal,
            record,
            unit_code=self.unit_code,
            profile_id=self.profile_id,
            levels=LEVELS,
        )
        self.shown.update(shown)
        self.withheld.update(withheld)
        return result

    def changes(self, changes: list[Any]) -> list[Any]:
        result = []
        for change in changes:
            if not isinstance(change, dict) or "path" not in change:
                result.append(change)
                continue
            group = str(change["path"]).partition(".")[0]
            level = LEVELS.get(group, 0)
            if level == 0:
                result.append(change)
            elif self._verdict(level):
                result.append(change)
                if change.get("value") is not None:
                    self.shown.add(group)
            else:
                result.append({**change, "value": {"restricted": True, "level": level}})
                self.withheld.add(group)
        return result

    def data(self, value: Any) -> Any:
        """Any JSON-ready value holding records (``record``) or field changes
        (``changes``, ``applied_changes``), at any depth."""
        if isinstance(value, list):
            return [self.data(v) for v in value]
        if not isinstance(value, dict):
            return value
        result: dict[str, Any] = {}
        for key, item in value.items():
            if key == "record" and isinstance(item, dict) and set(item) <= set(GROUPS):
                result[key] = self.record(item)
            elif key in ("changes", "applied_changes") and isinstance(item, list):
                result[key] = self.changes(item)
            else:
                result[key] = self.data(item)
        return result

    def record_read(self, svc: Services, resource: str) -> None:
        """``submit_read``, returning once the record is stored."""
        recorded = self.submit_read(svc, resource)
        if recorded is not None:
            recorded.result()

    def submit_read(self, svc: Services, resource: str) -> Future[None] | None:
        """A read of restricted values by someone other than the person is an event: on its
        way to the log (``Services.submit_access``); None when there is nothing to record."""
        if not self.shown or self.principal.profile_id == self.profile_id:
            return None
        verdict = self._verdict(max(LEVELS.get(g, 0) for g in self.shown))
        return svc.submit_access(
            "restricted_read",
            resource,
            actor=actor_of(self.principal, verdict),
            profile_id=self.profile_id,
            fields=sorted(self.shown),
            basis=verdict.reason,
        )
