"""Transitions of a profile as forms: move within the unit, transfer to another unit (the
old unit releases, the new one receives), transfer out of the system, secondment and its
end, retirement, resignation, dismissal and death; each with its decision (number, date,
issuer) and the scanned decision, kept by its digest in the decision itself."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, Response

from api.deps import Services, services
from api.policy import Action
from api.routers import actor_of, profile_for_command
from api.web import forms, page
from domain.errors import DomainError
from domain.profile import TRANSITIONS, Profile

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True)
class Kind:
    label: str
    fields: tuple[tuple[str, str, str], ...]  # (name, label, input type)
    transfer: bool = False  # the jurisdiction may require the scanned decision


EFFECTIVE = ("effective_date", "Ngày có hiệu lực", "date")
KINDS: dict[str, Kind] = {
    "move_within_unit": Kind(
        "Điều chuyển trong đơn vị",
        (("department", "Phòng, ban mới", "text"), ("position", "Chức vụ mới", "text"), EFFECTIVE),
    ),
    "release_transfer": Kind(
        "Điều động sang đơn vị khác",
        (("to_unit_code", "Mã đơn vị chuyển đến", "text"), EFFECTIVE),
        transfer=True,
    ),
    "receive_transfer": Kind(
        "Tiếp nhận người được điều động đến",
        (("department", "Phòng, ban", "text"), ("position", "Chức vụ", "text"), EFFECTIVE),
        transfer=True,
    ),
    "transfer_out_of_system": Kind(
        "Chuyển công tác ra ngoài hệ thống",
        (("destination", "Nơi chuyển đến", "text"), EFFECTIVE),
    ),
    "start_secondment": Kind(
        "Biệt phái",
        (
            ("host", "Cơ quan nhận biệt phái", "text"),
            ("until", "Biệt phái đến ngày", "date"),
            EFFECTIVE,
        ),
    ),
    "end_secondment": Kind("Kết thúc biệt phái", (EFFECTIVE,)),
    "retire": Kind("Nghỉ hưu", (EFFECTIVE,)),
    "resign": Kind("Thôi việc", (EFFECTIVE,)),
    "dismiss": Kind("Buộc thôi việc", (("reason", "Lý do", "text"), EFFECTIVE)),
    "record_death": Kind("Từ trần", (("date_of_death", "Ngày mất", "date"),)),
}
# The domain's field names on these forms.
FIELDS = {
    "effective_date": "effective_date",
    "date_of_death": "date_of_death",
    "department": "department",
    "position": "position",
    "to_unit": "to_unit_code",
    "unit": "to_unit_code",
    "destination": "destination",
    "host": "host",
    "until": "until",
    "reason": "reason",
}


def _possible(profile: Profile) -> list[tuple[str, str]]:
    """The transitions the person's status allows now."""
    result = []
    for name, kind in KINDS.items():
        allowed_from = TRANSITIONS[name][0]
        if profile.status in allowed_from:
            result.append((name, kind.label))
    return result


def _where(kind: str) -> Any:
    if kind == "receive_transfer":
        return lambda profile: profile.transfer_to or profile.unit_code
    return lambda profile: profile.unit_code


def _form(
    request: Request,
    caller: Any,
    profile: Profile,
    kind: str,
    values: dict[str, str],
    errors: dict[str, str] | None = None,
) -> Response:
    svc = services(request)
    spec = KINDS.get(kind)
    return page.render(
        request,
        "transition.html",
        caller,
        {
            "profile": profile,
            "pid": str(profile.id),
            "kinds": _possible(profile),
            "kind": kind if spec else "",
            "spec": spec,
            "values": values,
            "scan_required": bool(spec and spec.transfer)
            and svc.ledger.jurisdiction.transfer_requires_decision_scan,
            "max_mb": forms.document_store(request).max_bytes // (1024 * 1024),
        },
        errors=errors,
        status_code=422 if errors else 200,
    )


@router.get("/profiles/{profile_id}/transitions", response_class=HTMLResponse)
def transition_form(
    request: Request, profile_id: str, caller: page.SignedIn, kind: str = ""
) -> Response:
    svc = services(request)
    profile, _ = profile_for_command(
        svc, caller.principal, profile_id, Action.RECORD_TRANSITION, _where(kind)
    )
    values = {"expected_version": str(profile.version), "effective_date": caller.today.isoformat()}
    return _form(request, caller, profile, kind, values)


@router.post("/profiles/{profile_id}/transitions", response_class=HTMLResponse)
async def record_transition(request: Request, profile_id: str, caller: page.SignedIn) -> Response:
    form = await request.form()
    found = await forms.upload(form, "decision_document", forms.document_store(request))
    return await run_in_threadpool(_record, request, profile_id, caller, form, found)


def _record(
    request: Request, profile_id: str, caller: Any, form: Any, found: tuple[bytes, str] | None
) -> Response:
    svc = services(request)
    store = forms.document_store(request)
    kind = forms.text(form, "kind", 40)
    profile, verdict = profile_for_command(
        svc, caller.principal, profile_id, Action.RECORD_TRANSITION, _where(kind)
    )
    values = {k: v for k, v in form.items() if isinstance(v, str)}
    spec = KINDS.get(kind)
    if spec is None:
        return _form(
            request, caller, profile, "", values, {"kind": "Vui lòng chọn loại biến động."}
        )
    errors: dict[str, str] = {}
    given: dict[str, Any] = {}
    for name, _, input_type in spec.fields:
        if input_type == "date":
            given[name] = forms.date_field(form, name, errors, required=name != "until")
        else:
            given[name] = forms.text(form, name, 300)
            if not given[name]:
                errors[name] = "Vui lòng nhập thông tin này."
    document = forms.check_upload(store, found, "decision_document", errors)
    if (
        document is None
        and "decision_document" not in errors
        and spec.transfer
        and (svc.ledger.jurisdiction.transfer_requires_decision_scan)
    ):
        errors["decision_document"] = "Quy định yêu cầu tải kèm bản quét quyết định điều động."
    decision = forms.decision_of(form, errors, document)
    if errors or decision is None:
        return _form(request, caller, profile, kind, values, errors)
    expected = forms.text(form, "expected_version", 12)
    try:
        if document is not None and found is not None:
            store.store(found[0], found[1], account=caller.principal.account)
        _apply(
            svc,
            profile,
            kind,
            given,
            decision=decision,
            actor=actor_of(caller.principal, verdict),
            expected_version=int(expected) if expected.isdigit() else None,
        )
    except DomainError as exc:
        return _form(request, caller, profile, kind, values, forms.error_for(exc, FIELDS))
    return page.redirect(request, f"/profiles/{profile.id}", f"Đã ghi nhận: {spec.label.lower()}.")


def _apply(
    svc: Services, profile: Profile, kind: str, given: dict[str, Any], **common: Any
) -> None:
    ledger, pid = svc.ledger, profile.id
    effective = given.get("effective_date")
    match kind:
        case "move_within_unit":
            ledger.move_within_unit(
                pid,
                department=given["department"],
                position=given["position"],
                effective_date=effective,
                **common,
            )
        case "release_transfer":
            ledger.release_transfer(
                pid, given["to_unit_code"].upper(), effective_date=effective, **common
            )
        case "receive_transfer":
            ledger.receive_transfer(
                pid,
                profile.transfer_to or "",
                department=given["department"],
                position=given["position"],
                effective_date=effective,
                **common,
            )
        case "transfer_out_of_system":
            ledger.transfer_out_of_system(
                pid, destination=given["destination"], effective_date=effective, **common
            )
        case "start_secondment":
            ledger.start_secondment(
                pid,
                host=given["host"],
                until=given.get("until"),
                effective_date=effective,
                **common,
            )
        case "end_secondment":
            ledger.end_secondment(pid, effective_date=effective, **common)
        case "retire":
            ledger.retire(pid, effective_date=effective, **common)
        case "resign":
            ledger.resign(pid, effective_date=effective, **common)
        case "dismiss":
            ledger.dismiss(pid, reason=given["reason"], effective_date=effective, **common)
        case "record_death":
            ledger.record_death(pid, date_of_death=given["date_of_death"], **common)
