"""The national database exchange: send the outbox, pull the arrivals.

``send_pending`` sends the items of the national outbox (``projections.national_outbox``)
in log order, one profile's items one after another: an item waits while an earlier one of
the same profile is not acknowledged. Each request goes over HTTPS to
``HOSO_NATIONAL_URL`` (the server's certificate verified against
``HOSO_NATIONAL_CA_FILE``) with the item's idempotency key, and is retried on timeouts,
dropped connections and 5xx answers with exponential back-off and jitter (tenacity). Each
acknowledgement is recorded as an event (``domain.national_sync``) by the system actor; a
send that gives up is recorded too, and the item is tried again on the next run. After a
crash, the next run sends again only what was not acknowledged: the national database
answers a repeated key with its first acknowledgement.

``pull_arrivals`` opens a profile for each person transferred in from outside the system
(or reopens the profile of a person who left it and comes back), with where they came from
in its history, and confirms each to the national database. An arrival pulled twice opens
one profile.

What is sent: the values the approved event sets, restricted groups included, each with
its access restriction level. The national database holds the same résumé (Mẫu 2C of
Thông tư 06/2023/TT-BNV, Hải Phòng Điều 4.1.a; the 10 groups of Nghị định 27/2026/NĐ-CP,
whose key is the citizen ID), the signed approval covers the whole record (Hải Phòng Điều
5.1, the Ministry's Điều 7.3), and data is managed "theo độ hạn chế tiếp cận" on both sides
(Hải Phòng Điều 2.3): the level travels with the values so that the national side
restricts them alike. The values are read from the encrypted log when sent and never
written in clear to the outbox; a value whose key is missing is not sent (the item fails
with the reason) rather than sent as a placeholder.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import ssl
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

import httpx
from eventsourcing.application import AggregateNotFoundError
from eventsourcing.persistence import IntegrityError
from sqlalchemy import Engine
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from domain.application import SYSTEM, Ledger
from domain.errors import DomainError, NotFound, TransitionNotAllowed
from domain.field_cipher import is_redacted
from domain.national_sync import NationalSync
from domain.resume import GROUPS
from domain.settings import Settings
from domain.values import Decision, ProfileStatus, json_ready
from projections.facts import STATUS_AFTER, approved_values
from projections.framework import ConcurrentProjector, Projector
from projections.national_outbox import NationalOutbox, pending_items

log = logging.getLogger(__name__)

SPECIFICATION = Path(__file__).with_name("national_exchange.openapi.yaml")
RECORDS, ARRIVALS = "/v1/records", "/v1/arrivals"
# Event fields that are not "details" of what was approved.
_NOT_DETAILS = frozenset(
    {
        "originator_id",
        "originator_version",
        "timestamp",
        "originator_topic",
        "actor",
        "decision",
        "effective_date",
        "record",
        "changes",
        "employment",
        "change_set_id",
    }
)


class NationalSyncNotConfigured(DomainError):
    code = "national_sync_not_configured"


class Refused(Exception):
    """The national database refused the request (4xx), or answered nonsense: retrying
    the same request would not help."""


class Unavailable(Exception):
    """A 5xx or 429 answer: worth another attempt later."""


# -- the HTTPS client ----------------------------------------------------------------------


def sends(ledger: Ledger) -> bool:
    """Whether this server sends records to the national database: the jurisdiction's
    rules ask for it, and the national endpoint is set (``client_for`` needs it)."""
    return ledger.jurisdiction.national_sync_by is not None and bool(ledger.settings.national_url)


def client_for(settings: Settings) -> httpx.Client:
    """A client for the configured national endpoint, verifying its certificate."""
    url = settings.national_url
    if not url:
        raise NationalSyncNotConfigured("HOSO_NATIONAL_URL is not set: no national endpoint")
    if not url.startswith("https://"):
        raise NationalSyncNotConfigured("HOSO_NATIONAL_URL must be an https:// URL")
    if settings.national_ca_file is not None:
        if not settings.national_ca_file.is_file():
            raise NationalSyncNotConfigured(
                f"HOSO_NATIONAL_CA_FILE {settings.national_ca_file} is not a file"
            )
        verify: ssl.SSLContext = ssl.create_default_context(cafile=str(settings.national_ca_file))
    else:
        verify = ssl.create_default_context()
    headers = {"Accept": "application/json"}
    if settings.national_token:
        headers["Authorization"] = f"Bearer {settings.national_token}"
    return httpx.Client(
        base_url=url.rstrip("/"),
        verify=verify,
        timeout=settings.national_timeout,
        headers=headers,
    )


@contextmanager
def _client(settings: Settings, client: httpx.Client | None) -> Iterator[httpx.Client]:
    if client is not None:
        yield client
        return
    with client_for(settings) as made:
        yield made


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, Unavailable):
        return True
    if isinstance(exc, httpx.TransportError):
        # A certificate that does not verify will not verify on the next attempt either.
        cause = exc.__cause__ or exc.__context__
        return not isinstance(cause, ssl.SSLCertVerificationError)
    return False


def _retrying(settings: Settings, sleep: Callable[[float], None] | None) -> Retrying:
    options: dict[str, Any] = {}
    if sleep is not None:
        options["sleep"] = sleep
    return Retrying(
        stop=stop_after_attempt(max(1, settings.national_attempts)),
        wait=wait_random_exponential(
            multiplier=settings.national_backoff, max=settings.national_backoff_max
        ),
        retry=retry_if_exception(_transient),
        before_sleep=_log_retry,
        reraise=True,
        **options,
    )


def _log_retry(state: RetryCallState) -> None:
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    log.info("national database: attempt %d failed (%s); retrying", state.attempt_number, error)


def _answer(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 500 or response.status_code == 429:
        raise Unavailable(f"HTTP {response.status_code}: {_detail(response)}")
    if response.status_code >= 400:
        raise Refused(f"HTTP {response.status_code}: {_detail(response)}")
    try:
        body = response.json()
    except ValueError:
        raise Refused(f"HTTP {response.status_code}: the answer is not JSON") from None
    if not isinstance(body, dict):
        raise Refused(f"HTTP {response.status_code}: the answer is not a JSON object")
    return body


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:200]
    return str(body)[:200]


# -- sending ---------------------------------------------------------------------------------


@dataclass
class SendReport:
    sent: int = 0  # acknowledged by this run
    duplicates: int = 0  # of which the national database had received before
    failed: list[tuple[str, str]] = field(default_factory=list)  # (idempotency key, reason)
    waiting: int = 0  # held behind an earlier item of the same profile that failed


def outbox_projector(ledger: Ledger, engine: Engine) -> Projector:
    """The outbox alone, to bring it up to date before a run."""
    projector = Projector(ledger, engine, [NationalOutbox(ledger)], page_size=500)
    projector.prepare()
    return projector


def catch_up_outbox(ledger: Ledger, engine: Engine) -> None:
    # Another projector moving it forward at this moment leaves it current as well.
    with contextlib.suppress(ConcurrentProjector):
        outbox_projector(ledger, engine).catch_up()


def send_pending(
    ledger: Ledger,
    engine: Engine,
    *,
    now: datetime,
    client: httpx.Client | None = None,
    limit: int | None = None,
    sleep: Callable[[float], None] | None = None,
) -> SendReport:
    """Send what the outbox holds (at most ``limit`` items), in order per profile."""
    del now  # each acknowledgement carries the national database's own time
    settings = ledger.settings
    report = SendReport()
    if ledger.jurisdiction.national_sync_by is None:
        return report
    catch_up_outbox(ledger, engine)
    with engine.connect() as conn:
        rows = pending_items(conn, limit)
    by_profile: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_profile.setdefault(row["profile_id"], []).append(row)
    with _client(settings, client) as http:
        for profile_id, queue in by_profile.items():
            sync = _sync(ledger, profile_id)
            for index, row in enumerate(queue):
                key = row["idempotency_key"]
                if sync is not None and sync.is_acknowledged(key):
                    continue  # recorded meanwhile by another run
                outcome = _send_one(ledger, http, row, settings, sleep)
                if isinstance(outcome, NotSent):
                    report.failed.append((key, outcome.reason))
                    report.waiting += len(queue) - index - 1
                    _record(
                        ledger, profile_id, functools.partial(_failure, row=row, outcome=outcome)
                    )
                    break
                report.sent += 1
                report.duplicates += bool(outcome.get("duplicate"))
                sync = _record(ledger, profile_id, functools.partial(_ack, row=row, ack=outcome))
    catch_up_outbox(ledger, engine)  # the outbox shows what this run recorded
    return report


@dataclass(frozen=True)
class NotSent:
    reason: str
    attempts: int  # requests made (0: the item could not be built)


def _send_one(
    ledger: Ledger,
    http: httpx.Client,
    row: dict[str, Any],
    settings: Settings,
    sleep: Callable[[float], None] | None,
) -> dict[str, Any] | NotSent:
    """The acknowledgement, or why the item could not be sent."""
    key = row["idempotency_key"]
    try:
        payload = submission(ledger, row)
    except (DomainError, ValueError) as exc:
        return NotSent(f"not sent: {exc}", 0)
    retrying = _retrying(settings, sleep)
    try:
        for attempt in retrying:
            with attempt:
                response = http.post(RECORDS, json=payload, headers={"Idempotency-Key": key})
                ack = _answer(response)
    except (Refused, Unavailable, httpx.HTTPError) as exc:
        attempts = retrying.statistics.get("attempt_number", 1)
        return NotSent(f"{type(exc).__name__}: {exc}", attempts)
    if ack.get("idempotency_key") != key or not ack.get("receipt_id"):
        return NotSent("the national database acknowledged another item", 1)
    return ack


def submission(ledger: Ledger, row: dict[str, Any]) -> dict[str, Any]:
    """The request body of an outbox item: what the approved event says, read from the log."""
    profile_id, version = row["profile_id"], row["version"]
    events = ledger.profile_events(profile_id)
    if len(events) < version or events[version - 1].originator_version != version:
        raise NotFound(f"profile {profile_id} has no version {version}")
    event = events[version - 1]
    name = type(event).__name__
    profile = ledger.profile(profile_id, version=version)
    if name == "Opened":
        kind = "new_record"
        values = _whole_record(event.record)  # type: ignore[attr-defined]
    elif name == "ChangeApproved":
        kind = "change"
        values = {c["path"]: c["value"] for c in event.changes}  # type: ignore[attr-defined]
    else:
        kind = "status"
        values = approved_values(event)
    unavailable = sorted(path for path, value in values.items() if _unavailable(value))
    if unavailable:
        raise ValueError(f"values that cannot be decrypted: {', '.join(unavailable)}")
    status = STATUS_AFTER.get(name)
    details = {k: v for k, v in event.__dict__.items() if k not in _NOT_DETAILS}
    decision = getattr(event, "decision", None)
    restricted = {
        group: GROUPS[group].restricted
        for group in sorted({path.split(".", 1)[0] for path in values})
        if group in GROUPS and GROUPS[group].restricted
    }
    return json_ready(
        {
            "idempotency_key": row["idempotency_key"],
            "record_id": str(profile_id),
            "citizen_id": profile.citizen_id,
            "sequence": version,
            "kind": kind,
            "event": name,
            "unit_code": row["unit_code"],
            "effective_date": getattr(event, "effective_date", None),
            "approved_at": row["approved_at"],
            "decision": _decision(decision),
            "status": status,
            "values": values,
            "details": details,
            "restricted": restricted,
        }
    )


def _decision(decision: Decision | None) -> dict[str, Any] | None:
    """The decision as the national database takes it (the scan itself stays here)."""
    if decision is None:
        return None
    return {"number": decision.number, "signed_on": decision.signed_on, "issuer": decision.issuer}


def _whole_record(record: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for group, spec in GROUPS.items():
        content = record.get(group)
        if spec.many:
            if content:
                values[group] = content
        elif content:
            values.update({f"{group}.{name}": value for name, value in content.items()})
    return values


def _unavailable(value: Any) -> bool:
    if is_redacted(value):
        return True
    if isinstance(value, list):
        return any(_unavailable(v) for v in value)
    if isinstance(value, dict):
        return any(_unavailable(v) for v in value.values())
    return False


def _sync(ledger: Ledger, profile_id: str) -> NationalSync | None:
    try:
        sync: NationalSync = ledger.repository.get(NationalSync.create_id(profile_id))
    except AggregateNotFoundError:
        return None
    return sync


def _record(
    ledger: Ledger, profile_id: str, change: Callable[[NationalSync], None]
) -> NationalSync:
    """Apply ``change`` to the profile's sync aggregate and save it; on a concurrent save
    (another run recorded first) reload and apply again, which records nothing new when
    the other run recorded the same."""
    for _ in range(3):
        sync = _sync(ledger, profile_id) or NationalSync(profile_id=profile_id, actor=SYSTEM)
        change(sync)
        try:
            ledger.save(sync)
        except IntegrityError:
            continue
        return sync
    raise RuntimeError(f"could not record the national sync of profile {profile_id}")


def _ack(sync: NationalSync, row: dict[str, Any], ack: dict[str, Any]) -> None:
    sync.acknowledge(
        row["idempotency_key"],
        item_version=row["version"],
        receipt_id=str(ack["receipt_id"]),
        national_record_id=str(ack.get("national_record_id") or ""),
        acknowledged_at=_time(ack.get("received_at")),
        actor=SYSTEM,
    )


def _failure(sync: NationalSync, row: dict[str, Any], outcome: NotSent) -> None:
    sync.record_failure(
        row["idempotency_key"],
        item_version=row["version"],
        attempts=outcome.attempts,
        error=outcome.reason,
        actor=SYSTEM,
    )


def _time(value: Any) -> datetime:
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value)
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return moment
    raise ValueError(f"the acknowledgement has no time of receipt: {value!r}")


# -- arrivals --------------------------------------------------------------------------------


@dataclass
class PullReport:
    opened: list[str] = field(default_factory=list)  # profile ids opened
    returned: list[str] = field(default_factory=list)  # profiles of people who came back
    already: int = 0  # arrivals received before (pulled again)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (arrival id, reason)


def pull_arrivals(
    ledger: Ledger,
    *,
    now: datetime,
    client: httpx.Client | None = None,
    limit: int = 100,
    sleep: Callable[[float], None] | None = None,
) -> PullReport:
    """Open a profile for each person the national database lists as transferred in, and
    confirm each; an arrival that cannot be opened is reported and left unconfirmed."""
    settings = ledger.settings
    report = PullReport()
    with _client(settings, client) as http:
        for attempt in _retrying(settings, sleep):
            with attempt:
                listed = _answer(http.get(ARRIVALS, params={"limit": limit}))
        arrivals = listed.get("arrivals")
        if not isinstance(arrivals, list):
            raise Refused("the list of arrivals has no 'arrivals'")
        for arrival in arrivals:
            arrival_id = str(arrival.get("arrival_id", "?"))
            try:
                outcome, profile_id = receive_arrival(ledger, arrival)
            except (DomainError, KeyError, TypeError, ValueError) as exc:
                reason = exc.message if isinstance(exc, DomainError) else f"{exc!r}"
                report.failed.append((arrival_id, reason))
                continue
            if outcome == "opened":
                report.opened.append(profile_id)
            elif outcome == "returned":
                report.returned.append(profile_id)
            else:
                report.already += 1
            body = {"record_id": profile_id, "received_at": now.isoformat()}
            try:
                for attempt in _retrying(settings, sleep):
                    with attempt:
                        _answer(http.post(f"{ARRIVALS}/{arrival_id}/receipt", json=body))
            except (Refused, Unavailable, httpx.HTTPError) as exc:
                # Listed again next time, and then found received: confirmed then.
                log.warning("arrival %s not confirmed: %s", arrival_id, exc)
    return report


def receive_arrival(ledger: Ledger, arrival: dict[str, Any]) -> tuple[str, str]:
    """Open (or reopen) the profile of an arrival; ("opened" | "returned" | "already",
    profile id)."""
    arrival_id = str(UUID(str(arrival["arrival_id"])))
    decision_in = arrival["decision"]
    decision = Decision(
        number=str(decision_in["number"]),
        signed_on=date.fromisoformat(str(decision_in["signed_on"])),
        issuer=str(arrival["origin_body"]),
    )
    effective = date.fromisoformat(str(arrival["effective_date"]))
    national_id = str(arrival["national_record_id"])
    arrived: dict[str, Any] = {
        "arrival_id": arrival_id,
        "national_record_id": national_id,
        "origin_body": decision.issuer,
        "decision": decision,
        "actor": SYSTEM,
    }
    for _ in range(2):
        try:
            profile_id = ledger.profile_id_for_citizen(str(arrival["citizen_id"]))
        except NotFound:
            profile_id = None
        if profile_id is None:
            record = dict(arrival["record"])
            record["citizen"] = {
                **dict(record.get("citizen") or {}),
                "citizen_id": str(arrival["citizen_id"]),
            }
            record["employment"] = {
                **dict(record.get("employment") or {}),
                "unit_code": str(arrival["unit_code"]),
                "start_date": effective,
            }
            note = (
                f"Chuyển đến từ {decision.issuer} theo quyết định {decision.number} "
                f"(hồ sơ CSDLQG {national_id})"
            )
            profile, claim = ledger.build_profile(
                record,
                decision=decision,
                actor=SYSTEM,
                origin="arrival",
                origin_note=note,
                profile_id=uuid5(NAMESPACE_URL, f"hoso:national-arrival:{arrival_id}"),
            )
            sync = NationalSync(profile_id=str(profile.id), actor=SYSTEM)
            sync.record_arrival(**arrived)
            try:
                ledger.save(profile, claim, sync)
            except IntegrityError:
                continue  # opened meanwhile (by another run): look again
            return "opened", str(profile.id)
        return _arrival_back(ledger, str(profile_id), arrival, effective, decision, arrived)
    raise RuntimeError(f"arrival {arrival_id}: the citizen ID is claimed, and no profile holds it")


def _arrival_back(
    ledger: Ledger,
    profile_id: str,
    arrival: dict[str, Any],
    effective: date,
    decision: Decision,
    arrived: dict[str, Any],
) -> tuple[str, str]:
    """The person has a profile here already: they left the system and come back."""
    sync = _sync(ledger, profile_id)
    if sync is not None and sync.has_arrival(arrived["arrival_id"]):
        return "already", profile_id
    profile = ledger.profile(profile_id)
    if profile.status is ProfileStatus.TRANSFERRED_OUT:
        employment = {
            k: v
            for k, v in dict(arrival["record"].get("employment") or {}).items()
            if k not in ("unit_code", "start_date")
        }
        ledger.rehire(
            profile_id,
            str(arrival["unit_code"]),
            employment=employment,
            effective_date=effective,
            decision=decision,
            actor=SYSTEM,
            origin="arrival",
        )
        _record(ledger, profile_id, lambda s: s.record_arrival(**arrived))
        return "returned", profile_id
    # A run that stopped between the return and its record: the return is in the history.
    came_back = any(
        type(e).__name__ == "Rehired"
        and getattr(e, "origin", None) == "arrival"
        and e.effective_date == effective  # type: ignore[attr-defined]
        and e.decision.number == decision.number  # type: ignore[attr-defined]
        for e in ledger.profile_events(profile_id)
    )
    if came_back and profile.status is not ProfileStatus.TRANSFERRED_OUT:
        _record(ledger, profile_id, lambda s: s.record_arrival(**arrived))
        return "already", profile_id
    raise TransitionNotAllowed(
        f"citizen ID of arrival {arrived['arrival_id']} already has a profile here, "
        f"and the person is {profile.status.value}"
    )
