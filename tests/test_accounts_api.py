"""Accounts over HTTP: who creates which account under each jurisdiction, one personal
account per person, grants restricted and extended, revocation, and what a manager may
not do; on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from domain.account import FAILED_LOGINS, Account, may_create_account, may_grant
from domain.application import Ledger
from domain.errors import DuplicateAccount, InvalidInput, TransitionNotAllowed
from domain.jurisdiction import JURISDICTION_CODES, load_jurisdiction
from domain.settings import Settings
from domain.values import Role
from tests.api_helpers import (
    HASHER,
    TestAccount,
    auth_client,
    cheap_argon2,
    code,
    log_in_as,
    make_account,
)
from tests.builders import ADMIN, person, unit_tree
from tests.conftest import HR, decision

HA, HRO, IC, INS, UH, ADM = (
    Role.HOME_AFFAIRS,
    Role.HR_OFFICER,
    Role.INFORMATION_CENTRE,
    Role.INSPECTOR,
    Role.UNIT_HEAD,
    Role.ADMINISTRATOR,
)

# Who creates personal and unit accounts, as each regulation says.
CREATORS = {
    "travinh": {"personal": {HA}, "unit": {HA}},  # Điều 5.2; Điều 8, 15.3
    "haiphong": {"personal": {HRO}, "unit": set()},  # Điều 4.2, 13.1; silent on unit accounts
    "bnv": {"personal": {IC}, "unit": set()},  # Điều 7.1: the Information Centre
    "cantho": {"personal": {HRO}, "unit": {HA}},  # Điều 6.5; Điều 6.2
    "tuyenquang": {"personal": {HRO}, "unit": {HA}},  # Điều 5.2-5.3: per unit
}


@pytest.mark.parametrize("jurisdiction", JURISDICTION_CODES)
def test_who_creates_which_account_follows_the_jurisdiction(jurisdiction: str) -> None:
    policy = load_jurisdiction(jurisdiction).accounts
    for kind, creators in CREATORS[jurisdiction].items():
        for role in Role:
            expected = role in creators or role is Role.SYSTEM
            assert may_create_account(policy, [role], kind) is expected, (kind, role)
    # Accounts outside the regulations' model are the administrators' to make.
    assert may_create_account(policy, [ADM], "administrator")
    assert not may_create_account(policy, [HA], "administrator")
    assert may_create_account(policy, [HA], "inspector")
    assert not may_create_account(policy, [HRO], "approver")


def test_nobody_grants_a_role_above_their_own() -> None:
    assert may_grant([HRO], Role.EMPLOYEE)
    assert not may_grant([HRO], Role.HR_OFFICER)
    assert may_grant([UH], Role.HR_OFFICER)
    assert not may_grant([UH], Role.HOME_AFFAIRS)
    assert may_grant([HA], Role.UNIT_HEAD) and not may_grant([HA], Role.ADMINISTRATOR)
    assert may_grant([ADM], Role.ADMINISTRATOR) and not may_grant([ADM], Role.SYSTEM)
    assert not may_grant([INS], Role.EMPLOYEE)


@dataclass
class World:
    ledger: Ledger
    client: TestClient
    home: TestAccount  # Department of Home Affairs, over the whole province
    centre: TestAccount  # the Information Centre, over the whole province
    hr: TestAccount  # HR officer of STC (and STC.NS below it)
    head: TestAccount  # unit head of STC
    profile_id: str  # a person working in STC

    def as_(self, account: TestAccount) -> dict[str, str]:
        return log_in_as(self.client, account)


MakeWorld = Callable[..., AbstractContextManager[World]]


@pytest.fixture
def make_world(
    make_ledger: Callable[..., Ledger],
    make_settings: Callable[..., Settings],
    monkeypatch: pytest.MonkeyPatch,
) -> MakeWorld:
    cheap_argon2(monkeypatch)

    @contextmanager
    def make(jurisdiction: str = "cantho") -> Iterator[World]:
        ledger = make_ledger(jurisdiction=jurisdiction)
        unit_tree(ledger)
        home = make_account(ledger, "home", HA, "UBND")
        centre = make_account(ledger, "centre", IC, "UBND")
        hr = make_account(ledger, "hr.stc", HRO, "STC")
        head = make_account(ledger, "head.stc", UH, "STC")
        record = person("001085000077", unit_code="STC", department="Phòng Ngân sách")
        profile_id = str(ledger.open_profile(record, decision=decision(), actor=HR))
        with auth_client(make_settings(jurisdiction=jurisdiction)) as client:
            yield World(ledger, client, home, centre, hr, head, profile_id)

    return make


PEOPLE = {"home": "home", "centre": "centre", "hr": "hr"}


@pytest.mark.parametrize(
    ("jurisdiction", "allowed"),
    [("travinh", "home"), ("haiphong", "hr"), ("bnv", "centre")],
)
def test_personal_accounts_are_created_by_whom_the_jurisdiction_names(
    make_world: MakeWorld,
    jurisdiction: str,
    allowed: str,
) -> None:
    with make_world(jurisdiction) as w:
        body = {
            "username": "nv.an",
            "display_name": "Nguyễn Văn An",
            "kind": "personal",
            "profile_id": w.profile_id,
        }
        for name in sorted(set(PEOPLE) - {allowed}):
            refused = w.client.post("/api/accounts", json=body, headers=w.as_(getattr(w, name)))
            assert refused.status_code == 403, (name, refused.text)
            assert code(refused) == "forbidden"
        created = w.client.post("/api/accounts", json=body, headers=w.as_(getattr(w, allowed)))
        assert created.status_code == 201, created.text
        answer = created.json()
        assert answer["unit_code"] == "STC"  # the unit the person works in
        assert answer["must_change_password"] is True
        account = w.ledger.account("nv.an")
        assert account.kind == "personal" and account.profile_id == w.profile_id
        assert account.must_change_password
        first = w.client.post(
            "/api/auth/login", json={"username": "nv.an", "password": answer["temporary_password"]}
        )
        assert first.status_code == 200, first.text
        assert first.json()["must_change_password"] is True


def test_unit_accounts_where_the_regulation_has_none_are_refused(
    make_world: MakeWorld,
) -> None:
    with make_world("haiphong") as w:
        body = {"username": "stc", "kind": "unit", "unit_code": "STC"}
        for who in (w.home, w.hr, w.centre):
            response = w.client.post("/api/accounts", json=body, headers=w.as_(who))
            assert response.status_code == 403


def test_a_person_has_one_personal_account_at_a_time(
    make_world: MakeWorld,
) -> None:
    with make_world("cantho") as w:
        hr = w.as_(w.hr)
        body = {"username": "nv.an", "kind": "personal", "profile_id": w.profile_id}
        assert w.client.post("/api/accounts", json=body, headers=hr).status_code == 201
        second = w.client.post("/api/accounts", json={**body, "username": "nv.an2"}, headers=hr)
        assert second.status_code == 409
        assert code(second) == "duplicate_account"
        with pytest.raises(DuplicateAccount):
            w.ledger.create_account(
                "nv.an3", "An", "personal", "STC", actor=ADMIN, profile_id=w.profile_id
            )
        assert w.ledger.personal_account(w.profile_id) == "nv.an"
        # Once the account is revoked, the person may be given a new one.
        revoked = w.client.post("/api/accounts/nv.an/revoke", json={}, headers=hr)
        assert revoked.status_code == 200, revoked.text
        again = w.client.post("/api/accounts", json={**body, "username": "nv.an2"}, headers=hr)
        assert again.status_code == 201, again.text
        assert w.ledger.personal_account(w.profile_id) == "nv.an2"
        # A username is never reused.
        reused = w.client.post("/api/accounts", json={**body, "username": "nv.an"}, headers=hr)
        assert reused.status_code == 409


def test_an_account_out_of_reach_is_answered_as_if_it_did_not_exist(
    make_world: MakeWorld,
) -> None:
    with make_world() as w:
        make_account(w.ledger, "snv.clerk", Role.INSPECTOR, "SNV", kind="inspector")
        hr = w.as_(w.hr)
        out_of_reach = w.client.get("/api/accounts/snv.clerk", headers=hr)
        unknown = w.client.get("/api/accounts/no.such.account", headers=hr)
        assert out_of_reach.status_code == unknown.status_code == 404
        assert code(out_of_reach) == code(unknown) == "not_found"
        assert w.client.post("/api/accounts/snv.clerk/unlock", headers=hr).status_code == 404
        own = w.client.get("/api/accounts/hr.stc", headers=hr)
        assert own.status_code == 200
        assert own.json()["grants"][0]["role"] == "hr_officer"
        assert "password_hash" not in own.text and "totp_secret" not in own.text
        seen = w.client.get("/api/accounts/snv.clerk", headers=w.as_(w.home))
        assert seen.status_code == 200
        assert seen.json()["kind"] == "inspector"


def test_grants_are_given_restricted_and_extended_within_reach(
    make_world: MakeWorld,
) -> None:
    with make_world() as w:
        make_account(w.ledger, "ns.officer", kind="approver", unit_code="STC", totp=True)
        head = w.as_(w.head)
        granted = w.client.post(
            "/api/accounts/ns.officer/grants",
            json={"role": "hr_officer", "unit_code": "STC", "valid_until": "2030-12-31"},
            headers=head,
        )
        assert granted.status_code == 201, granted.text
        grant_id = granted.json()["grant_id"]
        (grant,) = granted.json()["grants"]
        assert grant["in_force"] and grant["valid_until"] == "2030-12-31"

        # Narrowed to the unit below, and ended earlier.
        narrowed = w.client.post(
            f"/api/accounts/ns.officer/grants/{grant_id}/restrict",
            json={"unit_code": "STC.NS", "valid_until": "2029-06-30"},
            headers=head,
        )
        assert narrowed.status_code == 200, narrowed.text
        (grant,) = narrowed.json()["grants"]
        assert (grant["unit_code"], grant["valid_until"]) == ("STC.NS", "2029-06-30")
        later = w.client.post(
            f"/api/accounts/ns.officer/grants/{grant_id}/restrict",
            json={"valid_until": "2031-01-01"},
            headers=head,
        )
        assert later.status_code == 422
        wider = w.client.post(
            f"/api/accounts/ns.officer/grants/{grant_id}/restrict",
            json={"unit_code": "SNV"},
            headers=head,
        )
        assert wider.status_code == 422

        extended = w.client.post(
            f"/api/accounts/ns.officer/grants/{grant_id}/extend",
            json={"valid_until": "2032-12-31"},
            headers=head,
        )
        assert extended.status_code == 200, extended.text
        assert extended.json()["grants"][0]["valid_until"] == "2032-12-31"
        open_ended = w.client.post(
            f"/api/accounts/ns.officer/grants/{grant_id}/extend",
            json={"valid_until": None},
            headers=head,
        )
        assert open_ended.json()["grants"][0]["valid_until"] is None
        events = [
            type(e).__name__
            for e in w.ledger.repository.event_store.get(w.ledger.account("ns.officer").id)
        ]
        assert events[-3:] == ["GrantRestricted", "GrantExtended", "GrantExtended"]
        unknown = w.client.post(
            "/api/accounts/ns.officer/grants/no-such-grant/extend",
            json={"valid_until": None},
            headers=head,
        )
        assert unknown.status_code == 404


def test_nobody_grants_above_their_role_outside_their_reach_or_to_themselves(
    make_world: MakeWorld,
) -> None:
    with make_world() as w:
        make_account(w.ledger, "stc.staff", kind="service", unit_code="STC")
        hr, head = w.as_(w.hr), w.as_(w.head)

        def grant(headers: dict[str, str], username: str, role: str, unit: str) -> int:
            return w.client.post(
                f"/api/accounts/{username}/grants",
                json={"role": role, "unit_code": unit},
                headers=headers,
            ).status_code

        assert grant(hr, "stc.staff", "home_affairs", "STC") == 403
        assert grant(hr, "stc.staff", "hr_officer", "STC") == 403
        assert grant(head, "stc.staff", "hr_officer", "SNV") == 403  # outside STC
        assert grant(head, "stc.staff", "hr_officer", "STC") == 201
        assert grant(hr, "stc.staff", "employee", "STC.NS") == 403  # it holds hr_officer now
        own = w.client.post(
            "/api/accounts/head.stc/grants",
            json={"role": "hr_officer", "unit_code": "STC"},
            headers=head,
        )
        assert own.status_code == 403
        assert code(own) == "own_account"
        # The HR officer cannot take over the unit head's account.
        takeover = w.client.post("/api/accounts/head.stc/password-reset", headers=hr)
        assert takeover.status_code == 403
        assert w.client.post("/api/accounts/home/password-reset", headers=hr).status_code == 404


def test_a_revoked_account_holds_no_grant_from_the_day_of_revocation(
    make_world: MakeWorld,
) -> None:
    with make_world() as w:
        officer = make_account(w.ledger, "old.officer", HRO, "STC")
        today = w.ledger.today()
        assert w.ledger.account("old.officer").grants_on(today)
        revoked = w.client.post(
            "/api/accounts/old.officer/revoke",
            json={"reason": "chuyển công tác"},
            headers=w.as_(w.home),
        )
        assert revoked.status_code == 200, revoked.text
        assert revoked.json()["revoked"] is True
        assert all(not g["in_force"] for g in revoked.json()["grants"])
        account = w.ledger.account("old.officer")
        revoked_on = date.fromisoformat(revoked.json()["revoked_on"])
        assert account.revoked_on == revoked_on
        assert account.grants_on(revoked_on) == []
        assert account.grants_on(revoked_on + timedelta(days=30)) == []
        assert account.grants_on(revoked_on - timedelta(days=1))
        # What it did before stands: the grant held then.
        assert account.grants_on(date(2024, 1, 1))
        assert w.ledger.authority_problem("old.officer", HRO, "STC", date(2024, 1, 1)) is None
        with pytest.raises(TransitionNotAllowed):
            w.ledger.grant_role("old.officer", HRO, "STC", valid_from=today, actor=ADMIN)
        refused = w.client.post(
            "/api/auth/login",
            json={"username": "old.officer", "password": officer.password, "totp": officer.totp()},
        )
        assert refused.status_code == 401
        again = w.client.post("/api/accounts/old.officer/revoke", json={}, headers=w.as_(w.home))
        assert again.status_code == 422


def test_an_administrator_locks_an_account_and_its_sessions_end(
    make_world: MakeWorld,
) -> None:
    with make_world() as w:
        clerk = make_account(w.ledger, "stc.clerk", kind="service", unit_code="STC")
        session = log_in_as(w.client, clerk)
        hr = w.as_(w.hr)
        locked = w.client.post(
            "/api/accounts/stc.clerk/lock", json={"reason": "nghi lộ mật khẩu"}, headers=hr
        )
        assert locked.status_code == 200, locked.text
        assert locked.json()["locked"] is True
        assert w.client.get("/api/auth/me", headers=session).status_code == 401
        # A password reset does not end a lock an administrator set.
        w.client.post("/api/accounts/stc.clerk/password-reset", headers=hr)
        assert w.ledger.account("stc.clerk").locked
        assert w.client.post("/api/accounts/stc.clerk/unlock", headers=hr).status_code == 200
        assert not w.ledger.account("stc.clerk").locked
        assert w.client.post("/api/accounts/stc.clerk/unlock", headers=hr).status_code == 422


def test_account_creation_needs_a_signed_in_caller_with_reach(
    make_world: MakeWorld,
) -> None:
    with make_world() as w:
        body = {"username": "nv.an", "kind": "personal", "profile_id": w.profile_id}
        assert w.client.post("/api/accounts", json=body).status_code == 401
        snv_hr = w.as_(make_account(w.ledger, "snv.hr", HRO, "SNV"))
        # A person out of reach is answered as an unknown one.
        out_of_reach = w.client.post("/api/accounts", json=body, headers=snv_hr)
        unknown = w.client.post(
            "/api/accounts",
            json={**body, "profile_id": "3f6c1c1e-8d8a-4f43-9a59-1c2f3b0e7a10"},
            headers=snv_hr,
        )
        assert out_of_reach.status_code == unknown.status_code == 404
        assert code(out_of_reach) == code(unknown) == "not_found"
        bad = w.client.post("/api/accounts", json={**body, "kind": "robot"}, headers=snv_hr)
        assert bad.status_code == 422


def test_the_account_aggregate_keeps_hashes_grants_and_locks_as_events() -> None:
    account = Account.open("nv.binh", "Trần Thị Bình", "approver", "STC", actor=ADMIN)
    with pytest.raises(InvalidInput):
        account.set_password("a password in clear", actor=ADMIN)
    account.set_password(HASHER.hash("mật khẩu đủ dài 2026"), actor=ADMIN)
    with pytest.raises(InvalidInput):
        account.enroll_totp("not base32!", actor=ADMIN)
    account.enroll_totp("JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", actor=ADMIN)
    assert account.totp_enrolled and account.second_factor_required(date(2026, 1, 1))

    grant_id = account.grant(HRO, "STC", valid_from=date(2024, 1, 1), actor=ADMIN)
    with pytest.raises(InvalidInput):  # no end date to extend
        account.extend_grant(grant_id, valid_until=date(2030, 1, 1), actor=ADMIN)
    with pytest.raises(InvalidInput):  # not below STC
        account.restrict_grant(grant_id, unit_code="SNV", unit_ancestors=["UBND"], actor=ADMIN)
    account.restrict_grant(
        grant_id, unit_code="STC.NS", unit_ancestors=["STC", "UBND"], actor=ADMIN
    )
    account.restrict_grant(grant_id, valid_until=date(2026, 6, 30), actor=ADMIN)
    with pytest.raises(InvalidInput):  # an extension ends later
        account.extend_grant(grant_id, valid_until=date(2026, 1, 1), actor=ADMIN)
    account.extend_grant(grant_id, valid_until=date(2027, 6, 30), actor=ADMIN)
    assert account.grants[grant_id]["unit_code"] == "STC.NS"
    assert account.grants_on(date(2027, 6, 30)) and not account.grants_on(date(2027, 7, 1))

    account.lock(FAILED_LOGINS, actor=ADMIN)
    account.reset_password(HASHER.hash("tạm thời 123456"), actor=ADMIN)
    assert not account.locked and account.must_change_password
    account.lock("nghi lộ mật khẩu", actor=ADMIN)
    account.reset_password(HASHER.hash("tạm thời 654321"), actor=ADMIN)
    assert account.locked  # only an unlock ends a lock an administrator set
    account.unlock(actor=ADMIN)
    account.set_password(HASHER.hash("mật khẩu mới đủ dài"), actor=ADMIN)
    assert not account.must_change_password

    account.revoke(on=date(2026, 11, 20), reason="nghỉ hưu", actor=ADMIN)
    assert account.grants_on(date(2026, 11, 19)) and account.grants_on(date(2026, 11, 20)) == []
    with pytest.raises(TransitionNotAllowed):
        account.unlock(actor=ADMIN)
    names = [type(e).__name__ for e in account.collect_events()]
    assert names == [
        "Created",
        "PasswordSet",
        "TotpEnrolled",
        "RoleGranted",
        "GrantRestricted",
        "GrantRestricted",
        "GrantExtended",
        "Locked",
        "PasswordReset",
        "Locked",
        "PasswordReset",
        "Unlocked",
        "PasswordSet",
        "Revoked",
    ]
