"""Status transitions of a profile, each with its decision: moves within the unit,
transfers between units and out of the system, secondments, retirement, resignation,
dismissal, death, and a new employment period."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body

from api.policy import Action
from api.routers import COMMAND_ERRORS, Caller, Svc, actor_of, profile_for_command
from api.schemas import (
    TRANSITION_EXAMPLES,
    Dismiss,
    EndSecondment,
    MoveWithinUnit,
    ReceiveTransfer,
    RecordDeath,
    Rehire,
    ReleaseTransfer,
    Resign,
    Retire,
    StartSecondment,
    TransferOutOfSystem,
    Transition,
    TransitionDone,
)
from domain.application import Ledger
from domain.profile import Profile
from domain.values import Actor

router = APIRouter(tags=["transitions"])


def _where(body: Any) -> Callable[[Profile], str]:
    """The unit whose staff acts: the receiving unit receives a transfer and takes a
    person on again; for everything else, the unit the person works in now."""
    if isinstance(body, ReceiveTransfer):
        return lambda profile: profile.transfer_to or profile.unit_code
    if isinstance(body, Rehire):
        return lambda profile: body.unit_code.strip().upper()
    return lambda profile: profile.unit_code


def _apply(ledger: Ledger, profile_id: str, body: Any, actor: Actor) -> None:
    common = {
        "decision": body.decision.value(),
        "actor": actor,
        "expected_version": body.expected_version,
    }
    match body:
        case MoveWithinUnit():
            ledger.move_within_unit(
                profile_id,
                department=body.department,
                position=body.position,
                effective_date=body.effective_date,
                **common,
            )
        case ReleaseTransfer():
            ledger.release_transfer(
                profile_id, body.to_unit_code, effective_date=body.effective_date, **common
            )
        case ReceiveTransfer():
            ledger.receive_transfer(
                profile_id,
                body.unit_code,
                department=body.department,
                position=body.position,
                effective_date=body.effective_date,
                **common,
            )
        case TransferOutOfSystem():
            ledger.transfer_out_of_system(
                profile_id,
                destination=body.destination,
                effective_date=body.effective_date,
                **common,
            )
        case StartSecondment():
            ledger.start_secondment(
                profile_id,
                host=body.host,
                until=body.until,
                effective_date=body.effective_date,
                **common,
            )
        case EndSecondment():
            ledger.end_secondment(profile_id, effective_date=body.effective_date, **common)
        case Retire():
            ledger.retire(profile_id, effective_date=body.effective_date, **common)
        case Resign():
            ledger.resign(profile_id, effective_date=body.effective_date, **common)
        case Dismiss():
            ledger.dismiss(
                profile_id, reason=body.reason, effective_date=body.effective_date, **common
            )
        case RecordDeath():
            ledger.record_death(profile_id, date_of_death=body.date_of_death, **common)
        case Rehire():
            ledger.rehire(
                profile_id,
                body.unit_code,
                employment=body.employment,
                effective_date=body.effective_date,
                origin=body.origin,
                **common,
            )


@router.post(
    "/api/profiles/{profile_id}/transitions",
    response_model=TransitionDone,
    responses=COMMAND_ERRORS,
)
def record_transition(
    profile_id: str,
    body: Annotated[Transition, Body(openapi_examples=TRANSITION_EXAMPLES)],
    principal: Caller,
    svc: Svc,
) -> dict[str, Any]:
    """Record a transition; ``kind`` says which, and each kind has its own fields. Where
    the jurisdiction approves by signature, the answer names the approval item."""
    profile, verdict = profile_for_command(
        svc, principal, profile_id, Action.RECORD_TRANSITION, _where(body)
    )
    pid = str(profile.id)
    _apply(svc.ledger, pid, body, actor_of(principal, verdict))
    after = svc.ledger.profile(pid)
    waiting = [
        item_id
        for item_id, item in after.approvals.items()
        if item["status"] == "pending" and item["subject"].get("version") == after.version - 1
    ]
    return {
        "profile_id": pid,
        "kind": body.kind,
        "version": after.version,
        "status": after.status.value,
        "unit_code": after.unit_code,
        "transfer_to": after.transfer_to,
        "approval_item": waiting[0] if waiting else None,
    }
