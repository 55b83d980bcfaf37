"""Change sets: proposing changes to a record, and deciding them where the jurisdiction
approves without signatures (elsewhere the approval chain signs: see approvals)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response, status
from sqlalchemy import select

from api.deps import Services
from api.policy import Action, Principal, Verdict, decide
from api.routers import (
    COMMAND_ERRORS,
    READ_ERRORS,
    Caller,
    Disclosure,
    Svc,
    actor_of,
    profile_for_command,
    refuse,
)
from api.schemas import (
    ApproveIn,
    ChangeSetCreated,
    ChangeSetDecided,
    ChangeSetIn,
    ChangeSetOut,
    RejectIn,
)
from domain.errors import NotFound
from domain.profile import Profile
from domain.values import json_ready
from projections.profiles import change_sets, change_sets_table

router = APIRouter(tags=["change sets"])


def _profile_id_of(svc: Services, change_set_id: str) -> str | None:
    svc.current()
    with svc.reader.connect() as conn:
        return conn.execute(
            select(change_sets_table.c.profile_id).where(
                change_sets_table.c.change_set_id == change_set_id.strip()
            )
        ).scalar_one_or_none()


def _change_set_for_command(
    svc: Services, principal: Principal, change_set_id: str
) -> tuple[Profile, Verdict]:
    """The profile a change set belongs to, when the caller may decide it (an approver of
    the unit the person works in now)."""
    profile_id = _profile_id_of(svc, change_set_id)
    if profile_id is None:
        raise NotFound(f"no change set {change_set_id}")
    try:
        return profile_for_command(svc, principal, profile_id, Action.SIGN)
    except NotFound:
        raise NotFound(f"no change set {change_set_id}") from None


@router.post(
    "/api/profiles/{profile_id}/change-sets",
    response_model=ChangeSetCreated,
    status_code=status.HTTP_201_CREATED,
    responses=COMMAND_ERRORS,
)
def propose_change(
    profile_id: str, body: ChangeSetIn, principal: Caller, svc: Svc, response: Response
) -> dict[str, Any]:
    """Propose changes to the record (the person may, for their own record). Nothing
    changes in the approved record until the change set is approved."""
    profile, verdict = profile_for_command(svc, principal, profile_id, Action.PROPOSE_CHANGE)
    change_set_id = svc.ledger.propose_change(
        profile.id,
        [(c.path, c.value) for c in body.changes],
        reason=body.reason,
        effective_date=body.effective_date,
        actor=actor_of(principal, verdict),
        documents=[d.value() for d in body.documents],
        expected_version=body.expected_version,
    )
    after = svc.ledger.profile(profile.id)
    response.headers["Location"] = f"/api/change-sets/{change_set_id}"
    return {
        "change_set_id": change_set_id,
        "profile_id": str(profile.id),
        "version": after.version,
        "status": after.change_sets[change_set_id]["status"],
        "approval": "signatures" if change_set_id in after.approvals else "plain",
    }


@router.get("/api/change-sets/{change_set_id}", response_model=ChangeSetOut, responses=READ_ERRORS)
def read_change_set(change_set_id: str, principal: Caller, svc: Svc) -> dict[str, Any]:
    """One change set: what was proposed, by whom, and what became of it."""
    unknown = f"no change set {change_set_id}"
    profile_id = _profile_id_of(svc, change_set_id)
    if profile_id is None:
        raise NotFound(unknown)
    with svc.reader.connect() as conn:
        (found,) = [
            c
            for c in change_sets(conn, profile_id=profile_id)
            if c["change_set_id"] == change_set_id.strip()
        ]
    unit_code = found["unit_code"] or ""
    verdict = decide(principal, Action.READ_PROFILE, unit_code=unit_code, profile_id=profile_id)
    if not verdict:
        refuse(
            svc,
            principal,
            f"change-set:{change_set_id}",
            verdict,
            visible=False,
            unknown=unknown,
            profile_id=profile_id,
        )
    seen = Disclosure(principal, unit_code=unit_code, profile_id=profile_id)
    result: dict[str, Any] = seen.data(json_ready(found))
    seen.record_read(svc, f"change-set:{change_set_id}")
    return result


@router.post(
    "/api/change-sets/{change_set_id}/approve",
    response_model=ChangeSetDecided,
    responses=COMMAND_ERRORS,
)
def approve_change(
    change_set_id: str, body: ApproveIn, principal: Caller, svc: Svc
) -> dict[str, Any]:
    """Approve a change set where the jurisdiction approves without digital signatures
    (422 signature_required where the approval chain signs)."""
    profile, verdict = _change_set_for_command(svc, principal, change_set_id)
    svc.ledger.approve_change(
        profile.id,
        change_set_id.strip(),
        actor=actor_of(principal, verdict),
        decision=body.decision.value() if body.decision else None,
        expected_version=body.expected_version,
    )
    return _decided(svc, profile, change_set_id.strip())


@router.post(
    "/api/change-sets/{change_set_id}/reject",
    response_model=ChangeSetDecided,
    responses=COMMAND_ERRORS,
)
def reject_change(
    change_set_id: str, body: RejectIn, principal: Caller, svc: Svc
) -> dict[str, Any]:
    """Send a change set back with the reason; the record stays as it was."""
    profile, verdict = _change_set_for_command(svc, principal, change_set_id)
    svc.ledger.reject_change(
        profile.id,
        change_set_id.strip(),
        reason=body.reason,
        actor=actor_of(principal, verdict),
        expected_version=body.expected_version,
    )
    return _decided(svc, profile, change_set_id.strip())


def _decided(svc: Services, profile: Profile, change_set_id: str) -> dict[str, Any]:
    after = svc.ledger.profile(profile.id)
    return {
        "change_set_id": change_set_id,
        "profile_id": str(profile.id),
        "version": after.version,
        "status": after.change_sets[change_set_id]["status"],
    }
