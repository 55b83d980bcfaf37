"""The authorization matrix over HTTP, on SQLite and PostgreSQL: every ``/api`` endpoint, as
every role and as a person, on the caller's own unit, a unit below it, another unit and the
person's own record.

A call succeeds (2xx) exactly when the one policy, ``api.policy.decide``, allows the
endpoint's action on that target (``ROUTES`` maps each endpoint to its action, as data);
otherwise the answer is 404 where the caller may not see the target and 403 where it may,
never 2xx. Inspectors never change anything: their calls add no event but access records.

The store. Each backend gets one store per jurisdiction the endpoints need: approvals by
digital signature exist only where the jurisdiction signs (``bnv``), plain approvals of
change sets only where it does not (``cantho``); every other endpoint runs on the latter.
Each store holds the unit tree UBND > SNV (own) > SNV.VP (subordinate), UBND > STC (other);
one person in each, and the person of the own record in SNV with a personal account; one
account per role granted on SNV. Everyone logs in with a password (and a TOTP code where
the account has a second factor) and calls with a bearer token made from that session.

The order. The cells run endpoint by endpoint in the order of ``ROUTES``, so that state
they change does not break later ones:

* reads and harmless commands (a change proposed, a unit renamed, a move within a unit, a
  new unit or profile or account) use the shared targets; for an endpoint on units, the
  own record is the unit its person works in;
* commands that end or consume their target get a fresh one for the cell: a change set or
  an approval item to approve, sign or reject; an account to grant on, restrict, extend,
  revoke, reset, lock or unlock; a unit to move, merge or dissolve. A fresh unit stands in
  for a subordinate unit below SNV and for another unit beside it; it stands in for the own
  unit when the caller is given its role on it for the cell (the person, who has no role,
  gets none);
* a caller's own account is the "own record" of the account endpoints (refused: nobody
  manages their own account); one's own credentials (the ``/api/auth`` endpoints) are no
  question for the policy, and the password change and the logout run last.
"""

from __future__ import annotations

import base64
import itertools
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from time import perf_counter
from typing import Any

import psycopg
import pyotp
import pytest
from eventsourcing.utils import get_topic
from fastapi import FastAPI
from fastapi.testclient import TestClient

from api.app import create_app
from api.deps import Services, principal_for
from api.policy import Action, Principal, decide
from domain.access import AccessRecord
from domain.account import account_creators
from domain.application import Ledger
from domain.settings import Settings
from domain.values import Role, UnitKind, json_ready
from projections.units import unit_list
from signing.pki import Authority, issue_certificate, make_issuing_ca, make_root_ca, pem_bundle
from signing.registry import intermediates_path, trust_anchors_path
from signing.signatures import certificate_pem, sign_digest
from tests.api_helpers import TestAccount, cheap_argon2, log_in_as, make_account, store
from tests.builders import ADMIN, person
from tests.conftest import HR, TEST_DATABASE_URL, decision

try:  # the routes as FastAPI flattens included routers
    from fastapi.routing import iter_route_contexts
except ImportError:  # pragma: no cover - older FastAPI lists them directly
    iter_route_contexts = None  # type: ignore[assignment]

PLAIN, SIGNED = "cantho", "bnv"  # approves without signatures / by digital signatures
OWN, SUB, OTHER, RECORD = "own unit", "subordinate unit", "other unit", "own record"
TARGETS = (OWN, SUB, OTHER, RECORD)
SELF = "own credentials"
# The unit of each target; the own record's is the unit its person works in.
UNIT_OF = {OWN: "SNV", SUB: "SNV.VP", OTHER: "STC", RECORD: "SNV"}
GRANTED_ON = "SNV"
DECISION = {"number": "125/QĐ-SNV", "signed_on": "2026-01-05", "issuer": "Sở Nội vụ"}
EFFECTIVE = "2026-01-05"
# caller -> (role granted on SNV, account kind); the person has a personal account.
ROLES: dict[str, tuple[Role, str]] = {
    "hr.officer": (Role.HR_OFFICER, "unit"),
    "hr.head": (Role.HR_HEAD, "approver"),
    "unit.head": (Role.UNIT_HEAD, "approver"),
    "home.affairs": (Role.HOME_AFFAIRS, "approver"),
    "inspector": (Role.INSPECTOR, "inspector"),
    "info.centre": (Role.INFORMATION_CENTRE, "service"),
    "administrator": (Role.ADMINISTRATOR, "administrator"),
}
PERSON = "person"
ACCESS_TOPIC = get_topic(AccessRecord.Recorded)  # type: ignore[attr-defined]


# -- the world -----------------------------------------------------------------------------


@dataclass
class Caller:
    username: str
    role: Role | None  # None: the personal account
    account: TestAccount
    token: dict[str, str] = field(default_factory=dict)  # bearer token of the session
    session: dict[str, str] = field(default_factory=dict)  # cookie and CSRF token
    spare: dict[str, str] = field(default_factory=dict)  # a bearer token to log out with
    token_ids: list[str] = field(default_factory=list)  # main, spare, to revoke


@dataclass
class World:
    jurisdiction: str
    app: FastAPI
    client: TestClient
    callers: dict[str, Caller] = field(default_factory=dict)
    people: dict[str, str] = field(default_factory=dict)  # target -> profile id
    change_sets: dict[str, str] = field(default_factory=dict)  # target -> change set / item
    clerks: dict[str, str] = field(default_factory=dict)  # target -> an account of the unit
    issuing: Authority | None = None
    pending_totp: dict[str, str] = field(default_factory=dict)
    # Principals as of the last fresh unit: the cells change no caller's grants, and the
    # units they add are not the targets of later cells.
    principals: dict[str, Principal] = field(default_factory=dict)
    numbers: Iterator[int] = field(default_factory=lambda: itertools.count(1))

    @property
    def svc(self) -> Services:
        return self.app.state.services  # type: ignore[no-any-return]

    @property
    def ledger(self) -> Ledger:
        return self.svc.ledger

    def next(self) -> int:
        return next(self.numbers)

    def principal(self, caller: Caller) -> Principal:
        """The caller's grants in force today, each with the units it covers."""
        if caller.username not in self.principals:
            self.svc.current()
            with self.svc.reader.connect() as conn:
                account = self.ledger.account(caller.username)
                found = principal_for(account, conn, self.ledger.today())
            self.principals[caller.username] = found
        return self.principals[caller.username]

    def head(self) -> int:
        return self.ledger.recorder.max_notification_id() or 0

    def topics_since(self, position: int) -> list[str]:
        found = self.ledger.recorder.select_notifications(position + 1, 10_000)
        return [n.topic for n in found]

    def hire(self, unit_code: str, name: str) -> str:
        record = person(f"00108500{self.next():04d}", unit_code=unit_code)
        record["identity"]["full_name"] = name
        return str(self.ledger.open_profile(record, decision=decision(), actor=HR))

    def propose(self, target: str) -> str:
        """A fresh change set (an approval item where the jurisdiction signs)."""
        return self.ledger.propose_change(
            self.people[target],
            [("identity.hometown", f"Quê quán {self.next()}")],
            reason="Bổ sung quê quán",
            effective_date=date(2026, 1, 5),
            actor=HR,
        )

    def fresh_unit(self, caller: Caller, target: str) -> str:
        """A new unit standing in for the target of a command that ends or moves it."""
        code = f"F{self.next()}"
        parent = "SNV" if target == SUB else "UBND"
        self.principals.clear()  # scopes change
        self.ledger.create_unit(
            code,
            f"Đơn vị thử {code}",
            UnitKind.SUB_DEPARTMENT,
            parent,
            actor=ADMIN,
            effective_date=date(2020, 1, 1),
        )
        if target in (OWN, RECORD) and caller.role is not None:
            self.ledger.grant_role(
                caller.username, caller.role, code, valid_from=self.ledger.today(), actor=ADMIN
            )
        return code

    def fresh_account(self, target: str, *, grant_until: date | None = None) -> tuple[str, str]:
        """A new account of the target's unit, holding the employee role there; its name
        and the grant's id."""
        username = f"acc{self.next()}"
        code = UNIT_OF[target]
        self.ledger.create_account(username, username, "service", code, actor=ADMIN)
        grant_id = self.ledger.grant_role(
            username,
            Role.EMPLOYEE,
            code,
            valid_from=date(2020, 1, 1),
            valid_until=grant_until,
            actor=ADMIN,
        )
        return username, grant_id


def bearer(client: TestClient, session: dict[str, str], name: str) -> tuple[str, str]:
    response = client.post("/api/auth/tokens", json={"name": name, "days": 1}, headers=session)
    assert response.status_code == 201, response.text
    body = response.json()
    return body["id"], body["token"]


@contextmanager
def world(settings: Settings) -> Iterator[World]:
    if settings.jurisdiction == SIGNED:
        root = make_root_ca("Root CA thử nghiệm", valid_from=datetime(2019, 1, 1, tzinfo=UTC))
        issuing = make_issuing_ca(root, "CA cán bộ", valid_from=datetime(2019, 1, 1, tzinfo=UTC))
        for path, certs in (
            (trust_anchors_path(settings), [root.certificate]),
            (intermediates_path(settings), [issuing.certificate]),
        ):
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(pem_bundle(certs))
    app = create_app(settings)
    with TestClient(app) as client:
        w = World(settings.jurisdiction, app, client)
        if settings.jurisdiction == SIGNED:
            w.issuing = issuing
        ledger = w.ledger
        on = date(2020, 1, 1)
        for code, kind, parent in (
            ("UBND", UnitKind.AUTHORITY, None),
            ("SNV", UnitKind.DEPARTMENT, "UBND"),
            ("SNV.VP", UnitKind.SUB_DEPARTMENT, "SNV"),
            ("STC", UnitKind.DEPARTMENT, "UBND"),
        ):
            ledger.create_unit(code, f"Đơn vị {code}", kind, parent, actor=ADMIN, effective_date=on)
        for target, name in zip(
            TARGETS,
            ("Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường", "Phạm Thị Dung"),
            strict=True,
        ):
            w.people[target] = w.hire(UNIT_OF[target], name)
            w.change_sets[target] = w.propose(target)
        for target in (OWN, SUB, OTHER):
            w.clerks[target] = f"clerk.{UNIT_OF[target].lower()}"
            ledger.create_account(
                w.clerks[target], "Văn thư", "service", UNIT_OF[target], actor=ADMIN
            )
        for username, (role, account_kind) in ROLES.items():
            account = make_account(ledger, username, role, GRANTED_ON, kind=account_kind)
            w.callers[username] = Caller(username, role, account)
        account = make_account(ledger, PERSON, None, "SNV", profile_id=w.people[RECORD])
        w.callers[PERSON] = Caller(PERSON, None, account)
        for caller in w.callers.values():
            caller.session = log_in_as(client, caller.account)
            for name in ("main", "spare", "revoked"):
                token_id, token = bearer(client, caller.session, name)
                caller.token_ids.append(token_id)
                if name == "main":
                    caller.token = {"Authorization": f"Bearer {token}"}
                elif name == "spare":
                    caller.spare = {"Authorization": f"Bearer {token}"}
        # Grants reach the unit and the units below it, and nothing else.
        for caller in w.callers.values():
            scope = {code for g in w.principal(caller).grants for code in g.scope}
            assert scope == (set() if caller.role is None else {"SNV", "SNV.VP"})
        yield w


# -- what the policy says ------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One question an endpoint puts to the policy, in the order it asks them. When the
    answer is no, the target is visible (403) if the policy allows one of ``seen`` on it,
    hidden (404) otherwise."""

    action: Action
    unit: str | None
    profile: str | None = None
    seen: tuple[Action, ...] = ()
    as_role: Role | None = None  # the role the waiting level of an approval chain asks for
    roles: frozenset[Role] | None = None  # only these roles may (the jurisdiction's say)


@dataclass(frozen=True)
class Expect:
    allowed: bool
    status: int | None = None  # the exact answer, where one is known

    def met_by(self, status: int) -> bool:
        if self.status is not None:
            return status == self.status
        return 200 <= status < 300

    def __str__(self) -> str:
        return "2xx" if self.status is None else str(self.status)


ALLOWED = Expect(True)


def only_roles(principal: Principal, roles: frozenset[Role]) -> Principal:
    return replace(principal, grants=tuple(g for g in principal.grants if g.role in roles))


def expect(principal: Principal, *checks: Check) -> Expect:
    for check in checks:
        asking = principal
        if check.as_role is not None:
            asking = only_roles(asking, frozenset({check.as_role}))
        if check.roles is not None:
            asking = only_roles(asking, check.roles)
        if not decide(asking, check.action, unit_code=check.unit, profile_id=check.profile):
            visible = any(
                decide(principal, seen, unit_code=check.unit, profile_id=check.profile)
                for seen in check.seen
            )
            return Expect(False, 403 if visible else 404)
    return ALLOWED


# -- cells ---------------------------------------------------------------------------------


@dataclass
class Cell:
    target: str
    url: str
    expect: Expect
    params: dict[str, Any] | None = None
    body: Any = None
    auth: str = "token"  # token | session | spare | none
    # After a success: further checks (a message when one fails), or state kept.
    then: Callable[[Any], str | None] | None = None


@dataclass
class Ctx:
    w: World
    caller: Caller
    method: str
    path: str
    action: Action | None

    @property
    def principal(self) -> Principal:
        return self.w.principal(self.caller)

    def expect(self, *checks: Check) -> Expect:
        return expect(self.principal, *checks)

    def cell(self, target: str, expected: Expect, **kwargs: Any) -> Cell:
        values = kwargs.pop("values", {})
        return Cell(target, self.path.format(**values), expected, **kwargs)

    @property
    def act(self) -> Action:
        assert self.action is not None
        return self.action


Build = Callable[[Ctx], Iterator[Cell]]


@dataclass(frozen=True)
class Row:
    action: Action | None  # None: no question for the policy (public, or one's own)
    build: Build
    world: str = PLAIN


# -- one's own credentials, and what is public -----------------------------------------------


def public(status: int = 200) -> Build:
    def build(c: Ctx) -> Iterator[Cell]:
        yield c.cell(SELF, Expect(True, status), auth="none")

    return build


def own(status: int, *, auth: str = "token", body: Callable[[Ctx], Any] | None = None) -> Build:
    def build(c: Ctx) -> Iterator[Cell]:
        yield c.cell(SELF, Expect(True, status), auth=auth, body=body(c) if body else None)

    return build


def log_in(c: Ctx) -> Iterator[Cell]:
    account = c.caller.account
    body = {"username": account.username, "password": account.password}
    code = account.totp(store(c.w.client))
    if code is not None:
        body["totp"] = code
    yield c.cell(SELF, Expect(True, 200), auth="none", body=body)


def who_am_i(c: Ctx) -> Iterator[Cell]:
    def then(response: Any) -> str | None:
        found = response.json()["username"]
        return None if found == c.caller.username else f"/me says {found}"

    yield c.cell(SELF, Expect(True, 200), then=then)


def revoke_token(c: Ctx) -> Iterator[Cell]:
    yield c.cell(SELF, Expect(True, 204), values={"token_id": c.caller.token_ids[2]})
    # Another's token is none of the caller's business: as if there were none.
    other = next(x for x in c.w.callers.values() if x is not c.caller)
    yield c.cell("another's token", Expect(False, 404), values={"token_id": other.token_ids[0]})


def start_totp(c: Ctx) -> Iterator[Cell]:
    if c.w.ledger.account(c.caller.username).totp_enrolled:
        yield c.cell(SELF, Expect(True, 409))
        return

    def then(response: Any) -> str | None:
        c.w.pending_totp[c.caller.username] = response.json()["secret"]
        return None

    yield c.cell(SELF, Expect(True, 200), then=then)


def confirm_totp(c: Ctx) -> Iterator[Cell]:
    secret = c.w.pending_totp.get(c.caller.username)
    if secret is None:
        yield c.cell(SELF, Expect(True, 409), body={"code": "000000"})
        return

    def then(response: Any) -> str | None:
        c.caller.account.totp_secret = secret
        return None

    code = pyotp.TOTP(secret).at(store(c.w.client).now())
    yield c.cell(SELF, Expect(True, 204), body={"code": code}, then=then)


def change_password(c: Ctx) -> Iterator[Cell]:
    new = f"một mật khẩu mới {c.w.next()} đủ dài"

    def then(response: Any) -> str | None:
        c.caller.account.password = new
        return None

    body = {"old_password": c.caller.account.password, "new_password": new}
    yield c.cell(SELF, Expect(True, 204), body=body, then=then)


# -- units ---------------------------------------------------------------------------------


def unit_tree_listing(c: Ctx) -> Iterator[Cell]:
    principal = c.principal
    with c.w.svc.reader.connect() as conn:
        codes = [r["code"] for r in unit_list(conn)]
    visible = {code for code in codes if decide(principal, Action.READ_UNIT, unit_code=code)}

    def then(response: Any) -> str | None:
        listed: set[str] = set()
        nodes = list(response.json()["units"])
        while nodes:
            node = nodes.pop()
            listed.add(node["code"])
            nodes.extend(node["children"])
        return None if listed == visible else f"lists {sorted(listed)}, not {sorted(visible)}"

    yield c.cell(SELF, ALLOWED, then=then)


def on_unit(body: Callable[[Ctx, str], Any] | None = None, param: str | None = None) -> Build:
    """The unit of the target, in the path (or in the query parameter ``param``)."""

    def build(c: Ctx) -> Iterator[Cell]:
        for target in TARGETS:
            code = UNIT_OF[target]
            yield c.cell(
                target,
                c.expect(Check(c.act, code, seen=(Action.READ_UNIT,))),
                values={"code": code},
                params={param: code} if param else None,
                body=body(c, code) if body else None,
            )

    return build


def new_unit(c: Ctx, code: str) -> dict[str, Any]:
    return {
        "code": f"N{c.w.next()}",
        "name": "Phòng mới",
        "kind": "sub_department",
        "parent_code": code,
        "effective_date": EFFECTIVE,
    }


def reorganise(command: str) -> Build:
    """Move, merge or dissolve a fresh unit standing in for the target."""

    def build(c: Ctx) -> Iterator[Cell]:
        for target in TARGETS:
            code = c.w.fresh_unit(c.caller, target)
            beside = UNIT_OF[target]  # the parent it moves under, the unit it merges into
            checks = [Check(c.act, code, seen=(Action.READ_UNIT,))]
            if command == "move":
                body: dict[str, Any] = {"parent_code": beside, "effective_date": EFFECTIVE}
            elif command == "merge":
                body = {"into_code": beside, "effective_date": EFFECTIVE, "decision": DECISION}
            else:
                body = {"effective_date": EFFECTIVE, "decision": DECISION}
            if command in ("move", "merge"):  # the other unit is checked first
                checks.insert(0, Check(c.act, beside, seen=(Action.READ_UNIT,)))
            yield c.cell(target, c.expect(*checks), values={"code": code}, body=body)

    return build


# -- profiles and change sets --------------------------------------------------------------


def on_profile(
    seen: tuple[Action, ...] = (),
    body: Callable[[Ctx], Any] | None = None,
    then: Callable[[Any], str | None] | None = None,
) -> Build:
    """The person of the target, in the path."""

    def build(c: Ctx) -> Iterator[Cell]:
        for target in TARGETS:
            pid = c.w.people[target]
            yield c.cell(
                target,
                c.expect(Check(c.act, UNIT_OF[target], pid, seen=seen)),
                values={"profile_id": pid},
                body=body(c) if body else None,
                then=then,
            )

    return build


def new_profile(c: Ctx) -> Iterator[Cell]:
    for target in TARGETS:
        code = UNIT_OF[target]
        record = json_ready(person(f"00108501{c.w.next():04d}", unit_code=code))
        yield c.cell(
            target,
            c.expect(Check(c.act, code, seen=(Action.READ_UNIT,))),
            body={"record": record, "decision": DECISION},
        )


def proposal(c: Ctx) -> dict[str, Any]:
    return {
        "changes": [{"path": "identity.hometown", "value": f"Quê quán {c.w.next()}"}],
        "reason": "Bổ sung quê quán",
        "effective_date": EFFECTIVE,
    }


def move_within_unit(c: Ctx) -> dict[str, Any]:
    return {
        "kind": "move_within_unit",
        "department": f"Phòng {c.w.next()}",
        "position": "Chuyên viên",
        "effective_date": EFFECTIVE,
        "decision": DECISION,
    }


def is_pdf(response: Any) -> str | None:
    if response.headers["content-type"] == "application/pdf" and response.content[:5] == b"%PDF-":
        return None
    return f"not a PDF: {response.headers['content-type']}"


def on_change_set(fresh: bool, body: Callable[[Ctx], Any] | None = None) -> Build:
    """A change set of the target's person: a fresh one where the command decides it."""

    def build(c: Ctx) -> Iterator[Cell]:
        for target in TARGETS:
            item = c.w.propose(target) if fresh else c.w.change_sets[target]
            yield c.cell(
                target,
                c.expect(
                    Check(
                        c.act,
                        UNIT_OF[target],
                        c.w.people[target],
                        seen=(Action.READ_PROFILE,) if fresh else (),
                    )
                ),
                values={"change_set_id": item},
                body=body(c) if body else None,
            )

    return build


# -- approvals by signature -----------------------------------------------------------------

# A fresh item waits for its first level, which the HR officer signs (bnv, Điều 7.2.b).
FIRST_LEVEL = Role.HR_OFFICER


def signer_check(c: Ctx, target: str) -> Check:
    return Check(
        Action.SIGN,
        UNIT_OF[target],
        c.w.people[target],
        seen=(Action.SIGN, Action.READ_PROFILE),
        as_role=FIRST_LEVEL,
    )


def approval_inbox(c: Ctx) -> Iterator[Cell]:
    principal = c.principal
    waiting = {c.w.change_sets[t] for t in TARGETS if expect(principal, signer_check(c, t)).allowed}

    def then(response: Any) -> str | None:
        listed = {i["item_id"] for i in response.json()["items"]}
        return None if listed == waiting else f"lists {sorted(listed)}, not {sorted(waiting)}"

    yield c.cell(SELF, ALLOWED, then=then)


def signing_request(c: Ctx) -> Iterator[Cell]:
    for target in TARGETS:
        item = c.w.change_sets[target]
        yield c.cell(target, c.expect(signer_check(c, target)), values={"item_id": item})


def signature(c: Ctx) -> Iterator[Cell]:
    for target in TARGETS:
        item = c.w.propose(target)
        expected = c.expect(signer_check(c, target))
        body: dict[str, Any] = {
            "signed_at": datetime.now(UTC).isoformat(),
            "signature": base64.b64encode(b"not a signature").decode(),
        }
        if expected.allowed:
            request = c.w.client.get(
                f"/api/approvals/{item}/signing-request", headers=c.caller.token
            )
            if request.status_code == 200:
                assert c.w.issuing is not None
                key, certificate = issue_certificate(
                    c.w.issuing,
                    f"Người ký {c.caller.username}",
                    valid_from=datetime(2020, 1, 1, tzinfo=UTC),
                    valid_until=datetime(2035, 1, 1, tzinfo=UTC),
                )
                digest = bytes.fromhex(request.json()["digest"])
                body = {
                    "signed_at": request.json()["signed_at"],
                    "signature": base64.b64encode(sign_digest(key, digest)).decode(),
                    "certificate_pem": certificate_pem(certificate),
                }
        yield c.cell(target, expected, values={"item_id": item}, body=body)


def approval_reject(c: Ctx) -> Iterator[Cell]:
    for target in TARGETS:
        item = c.w.propose(target)
        yield c.cell(
            target,
            c.expect(signer_check(c, target)),
            values={"item_id": item},
            body={"reason": "Thiếu quyết định"},
        )


def verification(c: Ctx) -> Iterator[Cell]:
    for target in TARGETS:
        item = c.w.change_sets[target]
        check = Check(c.act, UNIT_OF[target], c.w.people[target])
        yield c.cell(target, c.expect(check), values={"item_id": item})


# -- the audit trail -----------------------------------------------------------------------


def audit_trail(c: Ctx) -> Iterator[Cell]:
    for target in (OWN, SUB, OTHER):
        code = UNIT_OF[target]
        check = Check(c.act, code, seen=(Action.READ_UNIT,))
        yield c.cell(target, c.expect(check), params={"unit": code})
    pid = c.w.people[RECORD]
    check = Check(c.act, UNIT_OF[RECORD], pid)
    yield c.cell(RECORD, c.expect(check), params={"profile": pid})


# -- accounts ------------------------------------------------------------------------------


def create_account(c: Ctx) -> Iterator[Cell]:
    creators = account_creators(c.w.ledger.jurisdiction.accounts, "service")
    for target in TARGETS:
        code = UNIT_OF[target]
        check = Check(c.act, code, seen=(Action.READ_UNIT,), roles=creators)
        body = {"username": f"svc{c.w.next()}", "kind": "service", "unit_code": code}
        yield c.cell(target, c.expect(check), body=body)


def read_account(c: Ctx) -> Iterator[Cell]:
    for target in (OWN, SUB, OTHER):
        check = Check(c.act, UNIT_OF[target])
        yield c.cell(target, c.expect(check), values={"username": c.w.clerks[target]})
    # One's own account is one's own to read.
    yield c.cell(RECORD, ALLOWED, values={"username": c.caller.username})


def manage_account(
    body: Callable[[Ctx, str], Any] | None = None,
    *,
    grant_until: Callable[[Ctx], date | None] | None = None,
    locked: bool = False,
) -> Build:
    """A command on a fresh account of the target's unit; on one's own account, refused
    whatever one's role."""

    def build(c: Ctx) -> Iterator[Cell]:
        for target in (OWN, SUB, OTHER):
            username, grant_id = c.w.fresh_account(
                target, grant_until=grant_until(c) if grant_until else None
            )
            if locked:
                c.w.ledger.lock_account(username, "Nghi lộ mật khẩu", actor=ADMIN)
            yield c.cell(
                target,
                c.expect(Check(c.act, UNIT_OF[target])),
                values={"username": username, "grant_id": grant_id},
                body=body(c, UNIT_OF[target]) if body else None,
            )
        own_grants = list(c.w.ledger.account(c.caller.username).grants)
        yield c.cell(
            RECORD,
            Expect(False, 403),
            values={"username": c.caller.username, "grant_id": (own_grants or ["none"])[0]},
            body=body(c, UNIT_OF[RECORD]) if body else None,
        )

    return build


# -- one's own notices ---------------------------------------------------------------------


def own_inbox(body: Callable[[Ctx], Any] | None = None) -> Build:
    """The caller's own inbox: a question for the policy about the caller alone."""

    def build(c: Ctx) -> Iterator[Cell]:
        check = Check(c.act, None, profile=c.principal.profile_id, seen=(Action.READ_NOTICES,))
        yield c.cell(SELF, c.expect(check), body=body(c) if body else None)

    return build


def notice_for(w: World, username: str) -> int:
    from operations import notices

    topic = f"matrix:{w.next()}"
    assert notices.deliver(w.svc.reader, w.ledger, username, topic, "Thông báo", "Nội dung", now())
    with w.svc.reader.connect() as conn:
        return int(notices.inbox(conn, username, limit=1)["notices"][0]["id"])


def now() -> datetime:
    return datetime.now(UTC)


def read_notice(c: Ctx) -> Iterator[Cell]:
    check = Check(c.act, None, profile=c.principal.profile_id, seen=(Action.READ_NOTICES,))
    allowed = c.expect(check)

    def then(response: Any) -> str | None:
        return None if response.json()["read_at"] else "the notice is not marked read"

    yield c.cell(SELF, allowed, values={"notice_id": notice_for(c.w, c.caller.username)}, then=then)
    # Another's notice is none of the caller's business: as if there were none.
    other = next(x for x in c.w.callers.values() if x is not c.caller)
    yield c.cell(
        "another's notice",
        Expect(False, 404) if allowed.allowed else allowed,
        values={"notice_id": notice_for(c.w, other.username)},
    )


# -- reports -------------------------------------------------------------------------------


def resume_import(c: Ctx) -> Iterator[Cell]:
    """A one-row Mẫu 2C workbook of a new person in the target's unit."""
    from operations.resume_io import resume_workbook

    for target in TARGETS:
        code = UNIT_OF[target]
        record = json_ready(person(f"00108502{c.w.next():04d}", unit_code=code))
        data = resume_workbook([{"record": record, "decision": DECISION}])
        yield c.cell(
            target,
            c.expect(Check(c.act, code, seen=(Action.READ_UNIT,))),
            body={"unit": code, "workbook": base64.b64encode(data).decode()},
        )


# -- the matrix ----------------------------------------------------------------------------

A = Action
ROUTES: dict[tuple[str, str], Row] = {
    # one's own credentials: no question for the policy
    ("POST", "/api/auth/login"): Row(None, log_in),
    ("GET", "/api/auth/me"): Row(None, who_am_i),
    ("POST", "/api/auth/tokens"): Row(
        None, own(201, auth="session", body=lambda c: {"name": "cli", "days": 1})
    ),
    ("GET", "/api/auth/tokens"): Row(None, own(200)),
    ("DELETE", "/api/auth/tokens/{token_id}"): Row(None, revoke_token),
    ("POST", "/api/auth/totp"): Row(None, start_totp),
    ("POST", "/api/auth/totp/confirm"): Row(None, confirm_totp),
    ("GET", "/api/healthz"): Row(None, public()),
    # units
    ("GET", "/api/units"): Row(A.READ_UNIT, unit_tree_listing),
    ("GET", "/api/units/{code}"): Row(A.READ_UNIT, on_unit()),
    ("GET", "/api/units/{code}/headcount"): Row(A.READ_UNIT, on_unit()),
    ("GET", "/api/units/{code}/roster"): Row(A.READ_UNIT, on_unit()),
    ("GET", "/api/units/{code}/roster.csv"): Row(A.EXPORT, on_unit()),
    ("POST", "/api/units"): Row(A.MANAGE_UNITS, on_unit(body=new_unit)),
    ("POST", "/api/units/{code}/rename"): Row(
        A.MANAGE_UNITS,
        on_unit(body=lambda c, _: {"name": f"Tên mới {c.w.next()}", "effective_date": EFFECTIVE}),
    ),
    ("PUT", "/api/units/{code}/staffing-quota"): Row(
        A.MANAGE_UNITS,
        on_unit(
            body=lambda c, _: {"year": 2026, "category": "civil_servant", "headcount": c.w.next()}
        ),
    ),
    ("POST", "/api/units/{code}/move"): Row(A.MANAGE_UNITS, reorganise("move")),
    ("POST", "/api/units/{code}/merge"): Row(A.MANAGE_UNITS, reorganise("merge")),
    ("POST", "/api/units/{code}/dissolve"): Row(A.MANAGE_UNITS, reorganise("dissolve")),
    # profiles
    ("POST", "/api/profiles"): Row(A.RECORD_TRANSITION, new_profile),
    ("GET", "/api/profiles/{profile_id}"): Row(A.READ_PROFILE, on_profile()),
    ("GET", "/api/profiles/{profile_id}/history"): Row(A.READ_PROFILE, on_profile()),
    ("GET", "/api/profiles/{profile_id}/state"): Row(A.READ_PROFILE, on_profile()),
    ("GET", "/api/profiles/{profile_id}/change-sets"): Row(A.READ_PROFILE, on_profile()),
    ("GET", "/api/profiles/{profile_id}/resume.pdf"): Row(
        A.EXPORT, on_profile(seen=(A.READ_PROFILE,), then=is_pdf)
    ),
    ("POST", "/api/profiles/{profile_id}/change-sets"): Row(
        A.PROPOSE_CHANGE, on_profile(seen=(A.READ_PROFILE,), body=proposal)
    ),
    ("POST", "/api/profiles/{profile_id}/transitions"): Row(
        A.RECORD_TRANSITION, on_profile(seen=(A.READ_PROFILE,), body=move_within_unit)
    ),
    ("GET", "/api/change-sets/{change_set_id}"): Row(A.READ_PROFILE, on_change_set(False)),
    ("POST", "/api/change-sets/{change_set_id}/approve"): Row(
        A.SIGN, on_change_set(True, body=lambda c: {})
    ),
    ("POST", "/api/change-sets/{change_set_id}/reject"): Row(
        A.SIGN, on_change_set(True, body=lambda c: {"reason": "Thiếu quyết định"})
    ),
    # approvals by signature
    ("GET", "/api/approvals/inbox"): Row(A.SIGN, approval_inbox, SIGNED),
    ("GET", "/api/approvals/{item_id}/signing-request"): Row(A.SIGN, signing_request, SIGNED),
    ("POST", "/api/approvals/{item_id}/signatures"): Row(A.SIGN, signature, SIGNED),
    ("POST", "/api/approvals/{item_id}/reject"): Row(A.SIGN, approval_reject, SIGNED),
    ("GET", "/api/approvals/{item_id}/verification"): Row(A.VERIFY, verification, SIGNED),
    # audit, archive, deadlines
    ("GET", "/api/audit"): Row(A.READ_AUDIT, audit_trail),
    ("GET", "/api/archive"): Row(A.READ_UNIT, on_unit(param="unit")),
    ("GET", "/api/deadlines/overdue"): Row(A.READ_UNIT, on_unit(param="unit")),
    ("GET", "/api/alerts"): Row(A.READ_UNIT, on_unit(param="unit")),
    ("GET", "/api/national-sync"): Row(A.READ_UNIT, on_unit(param="unit")),
    # reports
    ("GET", "/api/reports/workforce"): Row(A.READ_UNIT, on_unit(param="unit")),
    ("GET", "/api/reports/workforce.xlsx"): Row(A.EXPORT, on_unit(param="unit")),
    ("GET", "/api/reports/workforce.png"): Row(A.EXPORT, on_unit(param="unit")),
    ("GET", "/api/reports/annual"): Row(A.READ_UNIT, on_unit(param="unit")),
    ("GET", "/api/reports/annual.xlsx"): Row(A.EXPORT, on_unit(param="unit")),
    ("GET", "/api/reports/annual.pdf"): Row(A.EXPORT, on_unit(param="unit")),
    ("GET", "/api/reports/resumes.xlsx"): Row(A.EXPORT, on_unit(param="unit")),
    ("POST", "/api/reports/resume-import"): Row(A.RECORD_TRANSITION, resume_import),
    # one's own notices
    ("GET", "/api/notices"): Row(A.READ_NOTICES, own_inbox()),
    ("POST", "/api/notices/{notice_id}/read"): Row(A.MANAGE_NOTICES, read_notice),
    ("PUT", "/api/notices/email"): Row(
        A.MANAGE_NOTICES, own_inbox(body=lambda c: {"email": f"hop.thu{c.w.next()}@snv.gov.vn"})
    ),
    # accounts
    ("POST", "/api/accounts"): Row(A.MANAGE_ACCOUNTS, create_account),
    ("GET", "/api/accounts/{username}"): Row(A.MANAGE_ACCOUNTS, read_account),
    ("POST", "/api/accounts/{username}/grants"): Row(
        A.MANAGE_ACCOUNTS, manage_account(lambda c, code: {"role": "employee", "unit_code": code})
    ),
    ("POST", "/api/accounts/{username}/grants/{grant_id}/restrict"): Row(
        A.MANAGE_ACCOUNTS,
        manage_account(lambda c, _: {"valid_until": c.w.ledger.today().isoformat()}),
    ),
    ("POST", "/api/accounts/{username}/grants/{grant_id}/extend"): Row(
        A.MANAGE_ACCOUNTS,
        manage_account(
            lambda c, _: {"valid_until": None},
            grant_until=lambda c: c.w.ledger.today() + timedelta(days=30),
        ),
    ),
    ("POST", "/api/accounts/{username}/revoke"): Row(
        A.MANAGE_ACCOUNTS, manage_account(lambda c, _: {"reason": "Chuyển công tác"})
    ),
    ("POST", "/api/accounts/{username}/password-reset"): Row(A.MANAGE_ACCOUNTS, manage_account()),
    ("POST", "/api/accounts/{username}/lock"): Row(
        A.MANAGE_ACCOUNTS, manage_account(lambda c, _: {"reason": "Nghi lộ mật khẩu"})
    ),
    ("POST", "/api/accounts/{username}/unlock"): Row(
        A.MANAGE_ACCOUNTS, manage_account(locked=True)
    ),
    # last: they change one's own credentials
    ("POST", "/api/auth/password"): Row(None, change_password),
    ("POST", "/api/auth/logout"): Row(None, own(204, auth="spare")),
}


def api_routes(app: FastAPI) -> set[tuple[str, str]]:
    """Every (method, path) the app answers under /api."""
    if iter_route_contexts is not None:
        routes: Any = list(iter_route_contexts(app.routes))
    else:  # pragma: no cover
        routes = app.routes
    found = set()
    for route in routes:
        path = str(getattr(route, "path", "") or "")
        if not path.startswith("/api/") and path != "/api":
            continue
        for method in getattr(route, "methods", None) or ():
            if method != "HEAD":
                found.add((method, path))
    return found


# -- running it ----------------------------------------------------------------------------


def run(
    w: World, row: Row, method: str, path: str, caller: Caller, tally: Counter[str]
) -> Iterator[str]:
    """Every cell of one endpoint for one caller; a message for each wrong one."""
    ctx = Ctx(w, caller, method, path, row.action)
    watch = caller.role is Role.INSPECTOR and row.action is not None
    headers = {
        "token": caller.token,
        "session": caller.session,
        "spare": caller.spare,
        "none": {},
    }
    for cell in row.build(ctx):
        tally[str(cell.expect)] += 1
        start = w.head() if watch else 0
        response = w.client.request(
            method,
            cell.url,
            params=cell.params,
            json=cell.body,
            headers=headers[cell.auth],
        )
        status = response.status_code
        where = f"{method} {path} as {caller.username} on {cell.target} ({cell.url})"
        if not cell.expect.met_by(status):
            yield f"{where}: expected {cell.expect}, got {status} {response.text[:160]}"
            continue
        if watch:
            if method != "GET" and 200 <= status < 300:
                yield f"{where}: an inspector changed something ({status})"
            changed = [t for t in w.topics_since(start) if t != ACCESS_TOPIC]
            if changed:
                yield f"{where}: an inspector's call recorded {changed}"
        if cell.then is not None and 200 <= status < 300:
            problem = cell.then(response)
            if problem:
                yield f"{where}: {problem}"


@pytest.fixture
def stores(
    backend: str,
    make_settings: Callable[..., Settings],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[dict[str, Settings]]:
    """The settings of one store per jurisdiction, on the backend under test."""
    cheap_argon2(monkeypatch)
    monkeypatch.delenv("HOSO_KEYSTORE_PASSPHRASE", raising=False)  # résumés unsigned
    with ExitStack() as stack:
        found = {}
        for jurisdiction in (PLAIN, SIGNED):
            overrides: dict[str, Any] = {
                "jurisdiction": jurisdiction,
                "data_dir": tmp_path / jurisdiction,
            }
            if backend == "postgres" and jurisdiction == SIGNED:
                overrides["database_schema"] = stack.enter_context(schema())
            found[jurisdiction] = make_settings(**overrides)
        yield found


@contextmanager
def schema() -> Iterator[str]:
    name = f"t_{next(_schemas):03d}_{datetime.now(UTC):%H%M%S%f}"
    with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    try:
        yield name
    finally:
        with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{name}" CASCADE')


_schemas = itertools.count(1)


def test_the_routes_are_all_in_the_matrix(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path, database_url=None, jurisdiction=PLAIN))
    routes = api_routes(app)
    assert routes, "no /api routes found"
    missing = sorted(routes - set(ROUTES))
    stale = sorted(set(ROUTES) - routes)
    assert not missing, f"endpoints without a row in the authorization matrix: {missing}"
    assert not stale, f"rows for endpoints the app does not have: {stale}"
    # Every endpoint that changes or reads records puts its question to the policy.
    for (method, path), row in ROUTES.items():
        if row.action is None:
            assert path.startswith("/api/auth/") or path == "/api/healthz", (method, path)


def test_every_endpoint_answers_every_caller_as_the_policy_says(
    stores: dict[str, Settings],
) -> None:
    failures: list[str] = []
    tally: Counter[str] = Counter()
    started = perf_counter()
    with world(stores[PLAIN]) as plain, world(stores[SIGNED]) as signed:
        worlds = {PLAIN: plain, SIGNED: signed}
        routes = api_routes(plain.app)
        assert routes == set(ROUTES)
        for (method, path), row in ROUTES.items():
            w = worlds[row.world]
            for caller in w.callers.values():
                failures.extend(run(w, row, method, path, caller, tally))
    elapsed = perf_counter() - started
    assert not failures, (
        f"{len(failures)} wrong cells of the authorization matrix "
        f"(of {tally.total()} cells, {elapsed:.1f} s):\n" + "\n".join(failures)
    )
    # Not a matrix of refusals only, nor of successes only.
    assert tally["2xx"] > 300 and tally["403"] > 150 and tally["404"] > 300, tally
