"""Approval by digital signature, and its verification for inspectors.

What a signer signs is the SHA-256 digest of the RFC 8785 canonical JSON of: the profile and
the approval item, what is approved (the change set's field values and supporting-document
digests, or the recorded transition), the digest of the profile's approved record before
this signature (so approvals chain), the level, role and unit the signer acts for, the
signing account and the signing time.

A signature is accepted only if it verifies against a registered certificate of the
signer's, the certificate chains to a trust anchor on the signing date and was not revoked
then, the signer held that role for that unit on that date (as the ledger's own history
shows), and the date is inside the jurisdiction's signing window. The same checks, made
again from the ledger alone, are the inspector's report.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from eventsourcing.utils import get_topic

from domain.application import Ledger
from domain.calendar import to_business_date
from domain.certificate import Certificate
from domain.errors import DomainError, NotFound, SignatureRefused
from domain.profile import Profile
from domain.values import Actor, Role
from signing import keystore
from signing.canonical import digest
from signing.pki import chain_problem, parse_certificate
from signing.registry import (
    build_certificate,
    certificate,
    intermediates,
    trust_anchors,
)
from signing.signatures import fingerprint, sign_digest, signature_is_valid

CLOCK_TOLERANCE = timedelta(minutes=10)  # a signing time may differ this much from ours


@dataclass(frozen=True)
class SigningRequest:
    """What a signer's device signs: ``digest`` of ``payload``."""

    profile_id: str
    item_id: str
    level: int
    role: str
    unit_code: str
    signer: str
    signed_at: datetime
    payload: dict[str, Any]
    digest: bytes


def approval_payload(
    profile: Profile,
    item_id: str,
    *,
    level: int,
    role: str,
    signer: str,
    signed_at: datetime,
    previous_state: str | None = None,
) -> dict[str, Any]:
    item = profile.approvals[item_id]
    return {
        "profile_id": str(profile.id),
        "item_id": item_id,
        "approves": item["subject"],
        "previous_state": previous_state or digest(profile.record).hex(),
        "level": level + 1,
        "of_levels": len(item["chain"]),
        "role": role,
        "unit_code": item["unit_code"],
        "signer": signer,
        "signed_at": signed_at.astimezone(UTC).isoformat(timespec="seconds"),
    }


@dataclass
class Check:
    name: str
    passed: bool
    reason: str


@dataclass
class SignatureReport:
    level: int
    role: str
    unit_code: str
    signer: str
    certificate_subject: str
    certificate_fingerprint: str
    signed_at: datetime
    checks: list[Check] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)


@dataclass
class ApprovalReport:
    profile_id: str
    item_id: str
    status: str
    approves: dict[str, Any]
    levels: int
    signatures: list[SignatureReport]

    @property
    def passed(self) -> bool:
        return (
            self.status == "approved"
            and len(self.signatures) == self.levels
            and all(s.passed for s in self.signatures)
        )

    def in_plain_words(self) -> list[str]:
        what = self.approves.get("event", "?")
        lines = [
            f"Approval {self.item_id} of profile {self.profile_id}: {self.status}, "
            f"{len(self.signatures)} of {self.levels} signatures — "
            f"{'VERIFIED' if self.passed else 'NOT VERIFIED'}",
            f"What was approved: {what}",
        ]
        for path, value in _approved_values(self.approves):
            lines.append(f"  {path} = {value}")
        for s in self.signatures:
            lines.append(
                f"Level {s.level}: {s.certificate_subject} ({s.signer}, {s.role} of "
                f"{s.unit_code}) signed at {s.signed_at.isoformat(timespec='seconds')}"
            )
            for check in s.checks:
                mark = "✓" if check.passed else "✗"
                lines.append(f"  {mark} {check.name}: {check.reason}")
        return lines


def _approved_values(approves: dict[str, Any]) -> list[tuple[str, Any]]:
    if "changes" in approves and approves.get("event") == "ChangeProposed":
        values = [(c["path"], c["value"]) for c in approves["changes"]]
        values += [("document", d.get("sha256")) for d in approves.get("documents", [])]
        return values
    skip = {"event", "version", "record"}
    return [(k, v) for k, v in approves.items() if k not in skip]


@dataclass(frozen=True)
class WaitingItem:
    """An approval item waiting for a signature, and the level it waits for."""

    item_id: str
    profile_id: str
    full_name: str
    unit_code: str
    approves: str  # the event approved, e.g. "ChangeProposed"
    effective_date: Any
    level: int  # 1-based
    of_levels: int
    role: Role
    requested_by: Any


REQUESTS_PAGE = 500


def approval_requests(ledger: Ledger) -> Iterator[Any]:
    """Every ``ApprovalRequested`` notification of the log, in log order."""
    topic = get_topic(Profile.ApprovalRequested)  # type: ignore[attr-defined]
    start = 1
    while True:
        page = ledger.recorder.select_notifications(start, REQUESTS_PAGE, topics=[topic])
        yield from page
        if len(page) < REQUESTS_PAGE:
            return
        start = page[-1].id + 1


class Approvals:
    def __init__(self, ledger: Ledger, *, now: Callable[[], datetime] | None = None) -> None:
        self.ledger = ledger
        self.now = now or (lambda: datetime.now(UTC))

    # -- signing -----------------------------------------------------------------------------

    def signing_request(
        self, profile_id: str, item_id: str, actor: Actor, signed_at: datetime | None = None
    ) -> SigningRequest:
        """The digest the signer's device must sign (the first step of a USB-token
        signature)."""
        moment = (signed_at or self.now()).astimezone(UTC).replace(microsecond=0)
        return self._request_on({}, profile_id, item_id, actor, moment)

    def submit(
        self,
        profile_id: str,
        item_id: str,
        *,
        actor: Actor,
        signed_at: datetime,
        signature: bytes,
        certificate_pem: str | bytes | None = None,
        certificate_fingerprint: str | None = None,
    ) -> None:
        """Record a signature made on the signer's own device."""
        profile, registration = self._checked(
            profile_id,
            item_id,
            actor=actor,
            signed_at=signed_at,
            signature=signature,
            certificate_pem=certificate_pem,
            certificate_fingerprint=certificate_fingerprint,
        )
        self.ledger.commit(*([registration] if registration else []), profile)

    def sign_with_keystore(
        self, profile_id: str, item_id: str, *, actor: Actor, passphrase: str
    ) -> None:
        """Sign with the key the server keeps for this account (demo and tests)."""
        self.sign_batch([(profile_id, item_id)], actor=actor, passphrase=passphrase)

    def sign_batch(
        self, items: Sequence[tuple[str, str]], *, actor: Actor, passphrase: str
    ) -> None:
        """Sign many items in one act: all are checked first, then saved in one
        transaction; if any is refused, none is signed and every reason is given."""
        key, cert, _ = keystore.load(
            keystore.default_directory(self.ledger.settings), actor.account, passphrase
        )
        signed_at = self.now().astimezone(UTC).replace(microsecond=0)
        profiles: dict[str, Profile] = {}
        problems: list[str] = []
        for profile_id, item_id in items:
            try:
                request = self._request_on(profiles, profile_id, item_id, actor, signed_at)
                profile, _ = self._checked(
                    profile_id,
                    item_id,
                    actor=actor,
                    signed_at=signed_at,
                    signature=sign_digest(key, request.digest),
                    certificate_fingerprint=fingerprint(cert),
                    profile=profiles.get(profile_id),
                )
                profiles[profile_id] = profile
            except DomainError as exc:
                problems.append(f"{item_id}: {exc.message}")
        if problems:
            raise SignatureRefused("nothing was signed — " + "; ".join(problems))
        self.ledger.commit(*profiles.values())

    def _request_on(
        self,
        profiles: dict[str, Profile],
        profile_id: str,
        item_id: str,
        actor: Actor,
        signed_at: datetime,
    ) -> SigningRequest:
        profile = profiles.get(profile_id) or self.ledger.profile(profile_id)
        level, spec = profile.next_level(item_id)
        payload = approval_payload(
            profile,
            item_id,
            level=level,
            role=spec["role"],
            signer=actor.account,
            signed_at=signed_at,
        )
        return SigningRequest(
            str(profile.id),
            item_id,
            level,
            spec["role"],
            payload["unit_code"],
            actor.account,
            signed_at,
            payload,
            digest(payload),
        )

    def reject(self, profile_id: str, item_id: str, *, reason: str, actor: Actor) -> None:
        """Send a change set back (or refuse a record) with the reason."""
        profile = self.ledger.profile(profile_id)
        _, spec = profile.next_level(item_id)
        if actor.role.value != spec["role"]:
            raise SignatureRefused(
                f"this item waits for a {spec['role']}, not a {actor.role.value}"
            )
        problem = self.ledger.authority_problem(
            actor.account, actor.role, profile.approvals[item_id]["unit_code"], self.ledger.today()
        )
        if problem:
            raise SignatureRefused(problem)
        profile.reject_approval(item_id, reason=reason, actor=actor)
        self.ledger.commit(profile)

    def _checked(
        self,
        profile_id: str,
        item_id: str,
        *,
        actor: Actor,
        signed_at: datetime,
        signature: bytes,
        certificate_pem: str | bytes | None = None,
        certificate_fingerprint: str | None = None,
        profile: Profile | None = None,
    ) -> tuple[Profile, Certificate | None]:
        """The profile with the signature recorded (not saved), after every check; and a
        certificate registration to save with it when the certificate was new."""
        profile = profile or self.ledger.profile(profile_id)
        if signed_at.tzinfo is None:
            raise SignatureRefused("the signing time must carry its time zone")
        if abs(signed_at - self.now()) > CLOCK_TOLERANCE:
            raise SignatureRefused(
                f"the signing time {signed_at.isoformat()} is not now: sign a fresh request"
            )
        level, spec = profile.next_level(item_id)
        if actor.role.value != spec["role"]:
            raise SignatureRefused(
                f"level {level + 1} is signed by a {spec['role']}, not a {actor.role.value}"
            )
        registration, cert = self._certificate(actor, certificate_pem, certificate_fingerprint)
        payload = approval_payload(
            profile,
            item_id,
            level=level,
            role=spec["role"],
            signer=actor.account,
            signed_at=signed_at,
        )
        payload_digest = digest(payload)
        problems = signature_problems(
            self.ledger,
            cert=cert,
            registered=registration or certificate(self.ledger, fingerprint(cert)),
            signer=actor.account,
            role=Role(spec["role"]),
            unit_code=payload["unit_code"],
            signed_at=signed_at,
            payload_digest=payload_digest,
            signature=signature,
        )
        window = self.ledger.jurisdiction.signing_window
        day = to_business_date(signed_at)
        if window is not None and not window.contains(day):
            problems.append(
                f"signatures are made in the last {window.last_days_of_month} "
                f"days of the month; the window opens on "
                f"{window.opens_on(day).isoformat()}"
            )
        if problems:
            raise SignatureRefused("; ".join(problems))
        profile.sign_approval(
            item_id,
            actor=actor,
            today=self.ledger.today(),
            signature={
                "certificate_fingerprint": fingerprint(cert),
                "signature": base64.b64encode(signature).decode(),
                "digest": payload_digest.hex(),
                "previous_state": payload["previous_state"],
                "signed_at": signed_at,
                "role": spec["role"],
                "unit_code": payload["unit_code"],
            },
        )
        return profile, registration

    def _certificate(
        self, actor: Actor, pem: str | bytes | None, fp: str | None
    ) -> tuple[Certificate | None, x509.Certificate]:
        if pem is not None:
            cert = parse_certificate(pem)
            try:
                known = certificate(self.ledger, fingerprint(cert))
            except NotFound:
                return build_certificate(cert, actor.account, actor), cert
            if known.holder_account != actor.account:
                raise SignatureRefused(f"this certificate belongs to {known.holder_account}")
            return None, cert
        if fp is None:
            raise SignatureRefused("give the signing certificate or its fingerprint")
        known = certificate(self.ledger, fp)
        if known.holder_account != actor.account:
            raise SignatureRefused(f"this certificate belongs to {known.holder_account}")
        return None, parse_certificate(known.pem)

    # -- verification ------------------------------------------------------------------------

    def find_profile(self, item_id: str) -> str:
        """The profile an approval item belongs to."""
        for n in approval_requests(self.ledger):
            event = self.ledger.mapper.to_domain_event(n)
            if event.item_id == item_id:  # type: ignore[attr-defined]
                return str(event.originator_id)
        raise NotFound(f"no approval {item_id}")

    def waiting(self) -> list[WaitingItem]:
        """Every approval item waiting for a signature, with the level it waits for, in
        the order the profiles first asked for one."""
        found = []
        profile_ids = dict.fromkeys(str(n.originator_id) for n in approval_requests(self.ledger))
        for profile_id in profile_ids:
            profile = self.ledger.profile(profile_id)
            for item_id, item in profile.approvals.items():
                if item["status"] != "pending":
                    continue
                index, level = profile.next_level(item_id)
                found.append(
                    WaitingItem(
                        item_id=item_id,
                        profile_id=profile_id,
                        full_name=profile.full_name,
                        unit_code=item["unit_code"],
                        approves=str(item["subject"].get("event", "")),
                        effective_date=item["effective_date"],
                        level=index + 1,
                        of_levels=len(item["chain"]),
                        role=Role(level["role"]),
                        requested_by=item["requested_by"],
                    )
                )
        return found

    def verify(self, item_id: str, profile_id: str | None = None) -> ApprovalReport:
        """Check every signature of an approval again, from the ledger alone."""
        profile_id = profile_id or self.find_profile(item_id)
        events = self.ledger.profile_events(profile_id)
        profile = self.ledger.profile(profile_id)
        item = profile.approvals.get(item_id)
        if item is None:
            raise NotFound(f"no approval {item_id} on profile {profile_id}")
        reports: list[SignatureReport] = []
        waited_since = to_business_date(
            next(
                e.timestamp
                for e in events
                if type(e).__name__ == "ApprovalRequested" and e.item_id == item_id  # type: ignore[attr-defined]
            )
        )
        for event in events:
            if type(event).__name__ != "ApprovalSigned" or event.item_id != item_id:  # type: ignore[attr-defined]
                continue
            s, level = event.signature, event.level  # type: ignore[attr-defined]
            before = self.ledger.profile(profile_id, version=event.originator_version - 1)
            payload = approval_payload(
                before,
                item_id,
                level=level,
                role=s["role"],
                signer=event.actor.account,  # type: ignore[attr-defined]
                signed_at=s["signed_at"],
            )
            report = SignatureReport(
                level + 1,
                s["role"],
                s["unit_code"],
                event.actor.account,  # type: ignore[attr-defined]
                "?",
                s["certificate_fingerprint"],
                s["signed_at"],
            )
            try:
                registered = certificate(self.ledger, s["certificate_fingerprint"])
            except NotFound as exc:
                report.checks.append(Check("signature valid", False, exc.message))
                reports.append(report)
                continue
            cert = parse_certificate(registered.pem)
            report.certificate_subject = cert.subject.rfc4514_string()
            chained = s["previous_state"] == payload["previous_state"]
            report.checks.append(
                Check(
                    "approvals chain",
                    chained,
                    "covers the approved record as it stood before"
                    if chained
                    else "the approved record before this signature is not what was signed",
                )
            )
            problems = {
                p.split(":")[0]: p
                for p in signature_problems(
                    self.ledger,
                    cert=cert,
                    registered=registered,
                    signer=report.signer,
                    role=Role(s["role"]),
                    unit_code=s["unit_code"],
                    signed_at=s["signed_at"],
                    payload_digest=digest(payload),
                    signature=base64.b64decode(s["signature"]),
                    labelled=True,
                )
            }
            for name, ok_reason in (
                ("signature valid", "the signature matches what was approved"),
                ("certificate chain valid", "the certificate chained to a trust anchor then"),
                ("not revoked", "the certificate was not revoked then"),
                ("authority", "the signer held that role for that unit then"),
            ):
                problem = problems.get(name)
                report.checks.append(
                    Check(
                        name, problem is None, problem.split(": ", 1)[1] if problem else ok_reason
                    )
                )
            day = to_business_date(s["signed_at"])
            window = self.ledger.jurisdiction.signing_window
            inside = window is None or window.contains(day)
            report.checks.append(
                Check(
                    "inside the signing window",
                    inside,
                    "no signing window applies"
                    if window is None
                    else f"signed on {day.isoformat()}"
                    + ("" if inside else f", outside the last {window.last_days_of_month} days"),
                )
            )
            days = item["chain"][level].get("working_days")
            if days is None:
                report.checks.append(
                    Check("within the deadline", True, "no deadline in working days for this level")
                )
            else:
                used = self.ledger.calendar.working_days_between(waited_since, day)
                report.checks.append(
                    Check(
                        "within the deadline",
                        used <= days,
                        f"{used} working days of the {days} allowed",
                    )
                )
            waited_since = day
            reports.append(report)
        return ApprovalReport(
            str(profile.id), item_id, item["status"], item["subject"], len(item["chain"]), reports
        )


def signature_problems(
    ledger: Ledger,
    *,
    cert: x509.Certificate,
    registered: Certificate,
    signer: str,
    role: Role,
    unit_code: str,
    signed_at: datetime,
    payload_digest: bytes,
    signature: bytes,
    labelled: bool = False,
) -> list[str]:
    """Everything wrong with a signature, in plain words (empty when it holds)."""
    problems: list[tuple[str, str]] = []
    if registered.holder_account != signer:
        problems.append(
            ("signature valid", f"the certificate belongs to {registered.holder_account}")
        )
    elif not signature_is_valid(cert, payload_digest, signature):
        problems.append(
            (
                "signature valid",
                "the signature does not match what was approved (forged or altered)",
            )
        )
    problem = chain_problem(
        cert, intermediates(ledger.settings), trust_anchors(ledger.settings), signed_at
    )
    if problem:
        problems.append(("certificate chain valid", problem))
    if registered.revoked_at_or_before(signed_at):
        problems.append(
            ("not revoked", f"the certificate was revoked on {registered.revoked_at.isoformat()}")
        )
    authority = ledger.authority_problem(signer, role, unit_code, to_business_date(signed_at))
    if authority:
        problems.append(("authority", authority))
    return [f"{name}: {reason}" if labelled else reason for name, reason in problems]
