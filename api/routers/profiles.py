"""Profiles: opening a record, and reading it now, at a version, on a date, and event by
event. Values of restricted field groups are shown only to callers cleared for them."""

from __future__ import annotations

import asyncio
from concurrent.futures import Future
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from pydantic_settings import BaseSettings, SettingsConfigDict
from starlette.concurrency import run_in_threadpool

from api.deps import Services
from api.errors import Unavailable
from api.policy import Action, Principal, decide
from api.routers import (
    COMMAND_ERRORS,
    FORBIDDEN,
    MAX_VERSION,
    READ_ERRORS,
    Caller,
    Disclosure,
    Svc,
    actor_of,
    allowed_on_unit,
    known_unit,
    problem,
    refuse,
)
from api.schemas import (
    ChangeSetList,
    ProfileCreated,
    ProfileHistory,
    ProfileIn,
    ProfileOut,
    ProfileState,
)
from domain.errors import InvalidInput, NotFound
from domain.resume import clean_record
from domain.values import json_ready
from projections.profiles import change_sets, profile_view
from projections.units import unit
from signing import keystore
from signing.pki import common_name
from signing.resume_pdf import AGENCY_FIELD, render_resume, sign_pdf

router = APIRouter(prefix="/api/profiles", tags=["profiles"])


class ExportConfig(BaseSettings):
    """``HOSO_*`` settings of exports: where the résumé is signed with the agency's key
    from the server keystore (unsigned when no passphrase is configured)."""

    model_config = SettingsConfigDict(env_prefix="HOSO_", extra="ignore")

    keystore_passphrase: str | None = None
    agency_keystore_account: str = "agency"


PDF_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The résumé (Mẫu 2C-BNV/2008) in PDF",
        "content": {
            "application/pdf": {
                "schema": {"type": "string", "format": "binary"},
                "example": "%PDF-1.7 … (Mẫu 2C-BNV/2008, with its signature fields)",
            }
        },
    },
    503: problem(
        "The agency's signing key is configured but cannot be used",
        "unavailable",
        503,
        "the agency's signing key cannot be used",
    ),
}

# What a history entry lists apart from the event's own values.
_ENVELOPE = frozenset(
    {
        "originator_id",
        "originator_version",
        "timestamp",
        "originator_topic",
        "actor",
        "decision",
        "effective_date",
    }
)


def readable_profile(svc: Services, principal: Principal, key: str) -> dict[str, Any]:
    """The profile's read-model row, when the caller may read it; 404 otherwise (the same
    answer for a profile that does not exist)."""
    unknown = f"no profile {key}"
    svc.current()
    with svc.reads.connect() as conn:
        row = profile_view(conn, key.strip())
    if row is None:
        raise NotFound(unknown)
    verdict = decide(
        principal, Action.READ_PROFILE, unit_code=row["unit_code"], profile_id=row["profile_id"]
    )
    if not verdict:
        refuse(
            svc,
            principal,
            f"profile:{row['profile_id']}",
            verdict,
            visible=False,
            unknown=unknown,
            profile_id=row["profile_id"],
        )
    return row


@router.post(
    "",
    response_model=ProfileCreated,
    status_code=status.HTTP_201_CREATED,
    responses=COMMAND_ERRORS,
)
def open_profile(
    body: ProfileIn, principal: Caller, svc: Svc, response: Response
) -> dict[str, Any]:
    """Open a profile on recruitment, a contract or an arrival from outside the system,
    in the unit the record names (``employment.unit_code``)."""
    unit_code = clean_record(body.record)["employment"]["unit_code"]
    code = known_unit(svc, unit_code)
    verdict = allowed_on_unit(svc, principal, Action.RECORD_TRANSITION, code)
    profile_id = svc.ledger.open_profile(
        body.record,
        decision=body.decision.value(),
        actor=actor_of(principal, verdict),
        origin=body.origin,
        origin_note=body.origin_note,
    )
    profile = svc.ledger.profile(profile_id)
    response.headers["Location"] = f"/api/profiles/{profile_id}"
    return {
        "profile_id": str(profile_id),
        "version": profile.version,
        "status": profile.status.value,
        "unit_code": profile.unit_code,
    }


@router.get("/{profile_id}", response_model=ProfileOut, responses=READ_ERRORS)
async def read_profile(profile_id: str, principal: Caller, svc: Svc) -> dict[str, Any]:
    """The approved record with its status, version (for ``expected_version``),
    employment periods and the change sets waiting for a decision."""
    result, recorded = await run_in_threadpool(_profile_shown, svc, principal, profile_id)
    if recorded is not None:
        # Awaited on the event loop: a request waiting for its record holds no thread.
        await asyncio.wrap_future(recorded)
    return result


def _profile_shown(
    svc: Services, principal: Principal, profile_id: str
) -> tuple[dict[str, Any], Future[None] | None]:
    """The profile as the caller may see it, and the record of its restricted values
    read, on its way to the log."""
    row = readable_profile(svc, principal, profile_id)
    seen = Disclosure(principal, unit_code=row["unit_code"], profile_id=row["profile_id"])
    result = {
        **row,
        "record": seen.record(row["record"]),
        "pending": seen.data(json_ready(row["pending"])),
    }
    result["withheld"] = sorted(seen.withheld)
    return result, seen.submit_read(svc, f"profile:{row['profile_id']}")


@router.get("/{profile_id}/history", response_model=ProfileHistory, responses=READ_ERRORS)
def profile_history(profile_id: str, principal: Caller, svc: Svc) -> dict[str, Any]:
    """Every event of the profile, oldest first: who did what, when it was recorded, the
    date it takes effect and the decision behind it."""
    row = readable_profile(svc, principal, profile_id)
    seen = Disclosure(principal, unit_code=row["unit_code"], profile_id=row["profile_id"])
    events = []
    for event in svc.ledger.profile_events(row["profile_id"]):
        actor = getattr(event, "actor", None)
        decision = getattr(event, "decision", None)
        data = {k: v for k, v in event.__dict__.items() if k not in _ENVELOPE}
        events.append(
            {
                "version": event.originator_version,
                "event": type(event).__name__,
                "recorded_at": event.timestamp,
                "effective_date": getattr(event, "effective_date", None),
                "actor": json_ready(actor) if actor is not None else None,
                "decision": json_ready(decision) if decision is not None else None,
                "data": seen.data(json_ready(data)),
            }
        )
    seen.record_read(svc, f"profile:{row['profile_id']}/history")
    return {"profile_id": row["profile_id"], "events": events, "withheld": sorted(seen.withheld)}


@router.get("/{profile_id}/state", response_model=ProfileState, responses=READ_ERRORS)
def profile_state(
    profile_id: str,
    principal: Caller,
    svc: Svc,
    version: Annotated[
        int | None, Query(ge=1, le=MAX_VERSION, description="the record at this version")
    ] = None,
    as_of: Annotated[
        date | None, Query(description="the record as it stood on this business date")
    ] = None,
) -> dict[str, Any]:
    """The record at a version, or as it stood on a business date (events effective later
    left out); the current record when neither is given."""
    if version is not None and as_of is not None:
        raise InvalidInput("give either version or as_of, not both", "as_of")
    row = readable_profile(svc, principal, profile_id)
    pid = row["profile_id"]
    if as_of is not None:
        found = svc.ledger.profile_as_of(pid, as_of)
        if found is None:
            raise NotFound(f"profile {pid} did not exist on {as_of.isoformat()}")
    else:
        found = svc.ledger.profile(pid, version=version)
    seen = Disclosure(principal, unit_code=row["unit_code"], profile_id=pid)
    result = {
        "profile_id": pid,
        "version": found.version,
        "as_of": as_of,
        "status": found.status.value,
        "unit_code": found.unit_code,
        "record": seen.record(json_ready(found.record)),
        "withheld": sorted(seen.withheld),
    }
    seen.record_read(svc, f"profile:{pid}/state")
    return result


@router.get("/{profile_id}/change-sets", response_model=ChangeSetList, responses=READ_ERRORS)
def profile_change_sets(
    profile_id: str,
    principal: Caller,
    svc: Svc,
    status: Annotated[
        str | None, Query(pattern="^(pending|approved|rejected)$", description="keep one status")
    ] = None,
) -> dict[str, Any]:
    """The profile's change sets in the order they were proposed."""
    row = readable_profile(svc, principal, profile_id)
    with svc.reader.connect() as conn:
        found = change_sets(conn, profile_id=row["profile_id"], status=status)
    seen = Disclosure(principal, unit_code=row["unit_code"], profile_id=row["profile_id"])
    result = {"change_sets": seen.data(json_ready(found))}
    seen.record_read(svc, f"profile:{row['profile_id']}/change-sets")
    return result


def _agency_signature(svc: Services, pdf: bytes, unit_name: str) -> bytes:
    """The PDF signed in the agency's field with the key of the server keystore, when a
    keystore passphrase is configured; as it is otherwise."""
    config = ExportConfig()
    if not config.keystore_passphrase:
        return pdf
    directory = keystore.default_directory(svc.ledger.settings)
    try:
        key, certificate, chain = keystore.load(
            directory, config.agency_keystore_account, config.keystore_passphrase
        )
    except keystore.KeystoreError as exc:
        raise Unavailable(f"the agency's signing key cannot be used: {exc.message}") from None
    return sign_pdf(
        pdf,
        key=key,
        certificate=certificate,
        chain=chain,
        field_name=AGENCY_FIELD,
        reason="Xác nhận của cơ quan, đơn vị",
        location=unit_name,
        signer_name=common_name(certificate),
    )


@router.get(
    "/{profile_id}/resume.pdf",
    response_class=Response,
    responses={**PDF_RESPONSE, **READ_ERRORS, **FORBIDDEN},
)
def export_resume(profile_id: str, principal: Caller, svc: Svc) -> Response:
    """The approved résumé (Mẫu 2C-BNV/2008) as a PDF, for those who may export the record
    (the person too); signed by the agency where its key is configured. Restricted field
    groups are printed only for a caller cleared for all of them. Every export is recorded
    in the audit trail."""
    unknown = f"no profile {profile_id}"
    svc.current()
    with svc.reader.connect() as conn:
        view = profile_view(conn, profile_id.strip())
        found = unit(conn, view["unit_code"]) if view is not None else None
    if view is None:
        raise NotFound(unknown)
    pid, unit_code = view["profile_id"], view["unit_code"]
    verdict = decide(principal, Action.EXPORT, unit_code=unit_code, profile_id=pid)
    if not verdict:
        visible = decide(principal, Action.READ_PROFILE, unit_code=unit_code, profile_id=pid)
        refuse(
            svc,
            principal,
            f"profile:{pid}/resume.pdf",
            verdict,
            visible=bool(visible),
            unknown=unknown,
            profile_id=pid,
        )
    seen = Disclosure(principal, unit_code=unit_code, profile_id=pid)
    seen.record(view["record"])
    unit_name = found["name"] if found else unit_code
    pdf = render_resume(
        view,
        unit_name=unit_name,
        printed_on=svc.ledger.today(),
        show_restricted=not seen.withheld,
    )
    pdf = _agency_signature(svc, pdf, unit_name)
    shown = sorted(seen.shown) if not seen.withheld else []
    svc.record_access(
        "export",
        f"profile:{pid}/resume.pdf",
        actor=actor_of(principal, verdict),
        profile_id=pid,
        fields=shown,
        basis=verdict.reason,
    )
    return Response(
        pdf,
        media_type="application/pdf",
        headers={
            "Content-Disposition": f'attachment; filename="so-yeu-ly-lich-{pid}.pdf"',
            "Cache-Control": "no-store",
        },
    )
