"""Approval by digital signature: the signer's inbox, the digest to sign, the signature
itself, a rejection, and the inspector's verification of every signature.

An approval item is a change set, or the record of a new profile or a transition, waiting
for the levels of its approval chain. Each level is signed by a role (HR officer, head of
the HR section, unit head…) for the unit the person worked in when approval was asked.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict, replace
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from api.deps import Services
from api.policy import Action, Principal, Verdict, decide
from api.routers import (
    COMMAND_ERRORS,
    READ_ERRORS,
    Caller,
    Disclosure,
    Svc,
    acting_as,
    actor_of,
    may_sign,
    refuse,
)
from api.schemas import (
    ApprovalRejectIn,
    ApprovalState,
    InboxOut,
    SignatureIn,
    SigningRequestOut,
    VerificationOut,
)
from domain.errors import ChangeSetNotPending, InvalidInput, NotFound
from domain.profile import Profile
from domain.values import Role, json_ready
from projections.profiles import change_sets_table

router = APIRouter(prefix="/api/approvals", tags=["approvals"])

PAGE = 500


def _locate(svc: Services, item_id: str) -> tuple[Profile, dict[str, Any]]:
    """The profile an approval item belongs to, and the item; 404 when there is none."""
    unknown = f"no approval {item_id}"
    svc.current()
    with svc.reader.connect() as conn:
        profile_id = conn.execute(
            select(change_sets_table.c.profile_id).where(
                change_sets_table.c.change_set_id == item_id
            )
        ).scalar_one_or_none()
    try:
        profile = svc.ledger.profile(profile_id or svc.approvals.find_profile(item_id))
    except NotFound:
        raise NotFound(unknown) from None
    item = profile.approvals.get(item_id)
    if item is None:
        raise NotFound(unknown)
    return profile, item


def _signer(svc: Services, principal: Principal, item_id: str) -> tuple[Profile, Verdict]:
    """The profile of a pending item, when the caller holds the role its next level asks
    for, in the item's unit."""
    profile, item = _locate(svc, item_id)
    pid = str(profile.id)
    if item["status"] == "pending":
        _, level = profile.next_level(item_id)
        role = Role(level["role"])
        verdict = decide(
            acting_as(principal, role), Action.SIGN, unit_code=item["unit_code"], profile_id=pid
        )
        if not verdict:
            verdict = Verdict(False, f"this level is signed by a {role.value}; {verdict.reason}")
    else:
        verdict = decide(principal, Action.SIGN, unit_code=item["unit_code"], profile_id=pid)
    if not verdict:
        visible = decide(
            principal, Action.SIGN, unit_code=item["unit_code"], profile_id=pid
        ) or decide(principal, Action.READ_PROFILE, unit_code=profile.unit_code, profile_id=pid)
        refuse(
            svc,
            principal,
            f"approval:{item_id}",
            verdict,
            visible=bool(visible),
            unknown=f"no approval {item_id}",
            profile_id=pid,
        )
    if item["status"] != "pending":
        raise ChangeSetNotPending(f"{item_id} is already {item['status']}")
    return profile, verdict


def _state(svc: Services, profile_id: str, item_id: str) -> dict[str, Any]:
    profile = svc.ledger.profile(profile_id)
    item = profile.approvals[item_id]
    return {
        "item_id": item_id,
        "profile_id": profile_id,
        "status": item["status"],
        "signatures": len(item["signatures"]),
        "levels": len(item["chain"]),
        "version": profile.version,
    }


@router.get("/inbox", response_model=InboxOut, responses=READ_ERRORS)
def inbox(principal: Caller, svc: Svc) -> dict[str, Any]:
    """Items whose next level waits for one of the caller's roles, in the item's unit."""
    items = [
        {
            "item_id": w.item_id,
            "profile_id": w.profile_id,
            "full_name": w.full_name,
            "unit_code": w.unit_code,
            "approves": w.approves,
            "effective_date": w.effective_date,
            "level": w.level,
            "of_levels": w.of_levels,
            "role": w.role.value,
            "requested_by": json_ready(w.requested_by),
        }
        for w in svc.approvals.waiting()
        if may_sign(principal, w)
    ]
    return {"items": items}


@router.get(
    "/{item_id}/signing-request", response_model=SigningRequestOut, responses=COMMAND_ERRORS
)
def signing_request(item_id: str, principal: Caller, svc: Svc) -> dict[str, Any]:
    """The digest the signer's device signs, for the caller at the level waiting; sign it
    within ten minutes and post it with the same ``signed_at``."""
    profile, verdict = _signer(svc, principal, item_id)
    request = svc.approvals.signing_request(str(profile.id), item_id, actor_of(principal, verdict))
    return {
        "profile_id": request.profile_id,
        "item_id": request.item_id,
        "level": request.level + 1,
        "role": request.role,
        "unit_code": request.unit_code,
        "signer": request.signer,
        "signed_at": request.signed_at,
        "payload": request.payload,
        "digest": request.digest.hex(),
        "digest_base64": base64.b64encode(request.digest).decode(),
    }


@router.post("/{item_id}/signatures", response_model=ApprovalState, responses=COMMAND_ERRORS)
def sign(item_id: str, body: SignatureIn, principal: Caller, svc: Svc) -> dict[str, Any]:
    """Record the signature of the level waiting. It is accepted only if it verifies with
    the caller's certificate, the certificate chains to a trust anchor and was not revoked,
    the caller held the role for the unit on the date, and the jurisdiction's signing
    window is open (422 signature_refused, with the reason, otherwise)."""
    profile, verdict = _signer(svc, principal, item_id)
    try:
        signature = base64.b64decode(body.signature, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput("the signature is given in base64", "signature") from None
    svc.approvals.submit(
        str(profile.id),
        item_id,
        actor=actor_of(principal, verdict),
        signed_at=body.signed_at,
        signature=signature,
        certificate_pem=body.certificate_pem,
        certificate_fingerprint=body.certificate_fingerprint,
    )
    return _state(svc, str(profile.id), item_id)


@router.post("/{item_id}/reject", response_model=ApprovalState, responses=COMMAND_ERRORS)
def reject(item_id: str, body: ApprovalRejectIn, principal: Caller, svc: Svc) -> dict[str, Any]:
    """Send a change set back to its author, or refuse a record, with the reason (by the
    level waiting)."""
    profile, verdict = _signer(svc, principal, item_id)
    svc.approvals.reject(
        str(profile.id), item_id, reason=body.reason, actor=actor_of(principal, verdict)
    )
    return _state(svc, str(profile.id), item_id)


def verified(svc: Services, principal: Principal, item_id: str) -> tuple[Any, Any, Any]:
    """The verification of an approval item (as shown to the caller: values it may not
    see are masked, and what it saw is recorded), the report unmasked, and the profile;
    404 alike for an unknown item and one the caller may not verify."""
    profile, item = _locate(svc, item_id)
    pid = str(profile.id)
    verdict = decide(principal, Action.VERIFY, unit_code=item["unit_code"], profile_id=pid)
    if not verdict:
        refuse(
            svc,
            principal,
            f"approval:{item_id}",
            verdict,
            visible=False,
            unknown=f"no approval {item_id}",
            profile_id=pid,
        )
    report = svc.approvals.verify(item_id, pid)
    seen = Disclosure(principal, unit_code=item["unit_code"], profile_id=pid)
    shown = replace(report, approves=seen.data(json_ready(report.approves)))
    seen.record_read(svc, f"approval:{item_id}")
    return shown, report, profile


@router.get("/{item_id}/verification", response_model=VerificationOut, responses=READ_ERRORS)
def verification(item_id: str, principal: Caller, svc: Svc) -> dict[str, Any]:
    """Every signature of the item checked again from the ledger alone: the signature, the
    certificate chain and revocation, the signer's authority, the signing window and the
    deadline."""
    shown, report, _ = verified(svc, principal, item_id)
    return {
        "profile_id": shown.profile_id,
        "item_id": shown.item_id,
        "status": shown.status,
        "levels": shown.levels,
        "passed": report.passed,
        "approves": shown.approves,
        "signatures": [{**asdict(s), "passed": s.passed} for s in shown.signatures],
        "in_plain_words": shown.in_plain_words(),
    }
