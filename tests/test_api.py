"""The JSON API through its HTTP surface, on SQLite and PostgreSQL: units, profiles, change
sets, transitions, approvals by signature, audit, archive and deadlines; errors as problem
details; restricted values; OpenAPI, health and metrics.

Callers are real accounts of the ledger, with real grants, turned into principals the way
authentication does; the dependency that authenticates is replaced by them."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import ROUTERS, create_app
from api.auth import current_principal
from api.deps import Services, principal_for
from api.policy import Principal
from domain.access import AccessRecord
from domain.settings import Settings
from domain.values import Role, json_ready
from signing.pki import Authority, issue_certificate, make_issuing_ca, make_root_ca, pem_bundle
from signing.registry import intermediates_path, trust_anchors_path
from signing.signatures import certificate_pem, sign_digest
from tests.builders import ADMIN, person, unit_tree

PROBLEM = "application/problem+json"
STEP_RAISE = [
    {"path": "employment.salary_step", "value": 4},
    {"path": "employment.coefficient", "value": "3.33"},
]
DECISION = {"number": "125/QĐ-SNV", "signed_on": "2026-01-05", "issuer": "Sở Nội vụ"}
# account -> (kind, unit of the account, role, unit of the grant)
STAFF = {
    "admin.snv": ("administrator", "UBND", Role.HOME_AFFAIRS, "UBND"),
    "hr.snv": ("unit", "SNV", Role.HR_OFFICER, "SNV"),
    "hrhead.snv": ("approver", "SNV", Role.HR_HEAD, "SNV"),
    "hr.stc": ("unit", "STC", Role.HR_OFFICER, "STC"),
    "inspector": ("inspector", "UBND", Role.INSPECTOR, "UBND"),
}


@dataclass
class Api:
    app: FastAPI
    client: TestClient
    caller: str = ""

    @property
    def svc(self) -> Services:
        return self.app.state.services  # type: ignore[no-any-return]

    def principal(self, username: str) -> Principal:
        self.svc.current()
        with self.svc.reader.connect() as conn:
            return principal_for(self.svc.ledger.account(username), conn, self.svc.ledger.today())

    def as_(self, username: str) -> Api:
        """Call as this account from now on (its principal built anew for each request,
        as authentication does)."""
        self.caller = username
        return self

    def get(self, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params)

    def post(self, path: str, body: dict[str, Any]) -> Any:
        return self.client.post(path, json=body)

    def hire(self, citizen_id: str, name: str, unit: str = "SNV", **extra: Any) -> str:
        record = json_ready(person(citizen_id, unit_code=unit))
        record["identity"]["full_name"] = name
        record.update(extra)
        response = self.post("/api/profiles", {"record": record, "decision": DECISION})
        assert response.status_code == 201, response.text
        return str(response.json()["profile_id"])


def ok(response: Any, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert body["status"] == status
    assert body["type"] == f"urn:hoso:problem:{code}"
    assert body["title"] and body["detail"] and body["detail_en"]
    return body


def start(settings: Settings) -> Iterator[Api]:
    app = create_app(settings)
    with TestClient(app) as client:
        api = Api(app, client)
        app.dependency_overrides[current_principal] = lambda: api.principal(api.caller)
        ledger = api.svc.ledger
        unit_tree(ledger)
        for username, (kind, home, role, unit) in STAFF.items():
            ledger.create_account(username, username, kind, home, actor=ADMIN)
            ledger.grant_role(username, role, unit, valid_from=date(2020, 1, 1), actor=ADMIN)
        yield api


@pytest.fixture
def api(make_settings: Callable[..., Settings]) -> Iterator[Api]:
    yield from start(make_settings())


# -- units -----------------------------------------------------------------------------------


def test_units_are_created_read_and_reorganised(api: Api) -> None:
    api.as_("admin.snv")
    response = api.post(
        "/api/units",
        {
            "code": "snv.vp",
            "name": "Văn phòng Sở",
            "kind": "sub_department",
            "parent_code": "SNV",
            "effective_date": "2021-01-01",
            "decision": DECISION,
        },
    )
    created = ok(response, 201)
    assert created["code"] == "SNV.VP"
    assert response.headers["location"] == "/api/units/SNV.VP"
    problem(
        api.post(
            "/api/units",
            {"code": "SNV.VP", "name": "x", "kind": "department", "parent_code": "SNV"},
        ),
        409,
        "duplicate_unit_code",
    )
    tree = ok(api.get("/api/units"))["units"]
    assert [u["code"] for u in tree] == ["UBND"]
    snv = next(u for u in tree[0]["children"] if u["code"] == "SNV")
    assert [u["code"] for u in snv["children"]] == ["SNV.VP"]

    ok(api.post("/api/units/SNV.VP/rename", {"name": "Văn phòng", "effective_date": "2022-01-01"}))
    quota = ok(
        api.client.put(
            "/api/units/SNV/staffing-quota",
            json={"year": 2026, "category": "civil_servant", "headcount": 5},
        )
    )
    assert quota["own"]["quota"] == {"civil_servant": 5}

    api.as_("hr.snv")
    api.hire("001085000001", "Nguyễn Thị Bình")
    api.hire("001085000002", "Trần Văn An")
    api.hire(
        "001085000003",
        "Lê Văn Cường",
        employment={
            **json_ready(person("001085000003", unit_code="SNV.VP"))["employment"],
            "category": "public_employee",
            "rank_code": "V.01.02.02",
        },
    )
    detail = ok(api.get("/api/units/snv"))
    assert detail["name"] == "Sở Nội vụ"
    assert detail["headcount"]["including_subunits"]["headcount"] == {
        "civil_servant": 2,
        "public_employee": 1,
    }
    assert [c["change"] for c in ok(api.get("/api/units/SNV.VP"))["history"]] == [
        "Created",
        "Renamed",
    ]
    counts = ok(api.get("/api/units/SNV/headcount", year=2026))
    assert counts["own"] == {"headcount": {"civil_servant": 2}, "quota": {"civil_servant": 5}}

    roster = ok(api.get("/api/units/SNV/roster"))
    assert [s["full_name"] for s in roster["staff"]] == [
        "Trần Văn An",
        "Nguyễn Thị Bình",
        "Lê Văn Cường",
    ]
    assert roster["staff"][0]["coefficient"] == "3.00"
    assert [s["full_name"] for s in ok(api.get("/api/units/SNV/roster", q="binh"))["staff"]] == [
        "Nguyễn Thị Bình"
    ]
    only = ok(api.get("/api/units/SNV/roster", category="public_employee"))
    assert [s["full_name"] for s in only["staff"]] == ["Lê Văn Cường"]
    second = ok(api.get("/api/units/SNV/roster", page=2, per_page=2))
    assert (second["total"], len(second["staff"])) == (3, 1)
    before = ok(api.get("/api/units/SNV/roster", as_of="2009-12-31"))
    assert before["total"] == 0 and before["as_of"] == "2009-12-31"
    then = ok(api.get("/api/units/SNV/roster", as_of="2015-01-01", q="tran"))
    assert [s["full_name"] for s in then["staff"]] == ["Trần Văn An"]

    # An HR officer of another department sees neither the unit nor its roster, and is told
    # exactly what an unknown unit gets.
    api.as_("hr.stc")
    hidden = problem(api.get("/api/units/SNV/roster"), 404, "not_found")
    unknown = problem(api.get("/api/units/KHONGCO/roster"), 404, "not_found")
    assert hidden["detail"] == unknown["detail"]
    assert [u["code"] for u in ok(api.get("/api/units"))["units"]] == ["STC"]
    problem(
        api.post("/api/units/STC/rename", {"name": "X", "effective_date": "2022-01-01"}),
        403,
        "forbidden",
    )


# -- profiles and change sets ----------------------------------------------------------------


def test_a_profile_is_opened_changed_approved_and_read_at_any_version(api: Api) -> None:
    api.as_("hr.snv")
    response = api.post(
        "/api/profiles",
        {"record": json_ready(person("001085012345")), "decision": DECISION},
    )
    pid = ok(response, 201)["profile_id"]
    assert response.headers["location"] == f"/api/profiles/{pid}"
    problem(
        api.post(
            "/api/profiles", {"record": json_ready(person("001085012345")), "decision": DECISION}
        ),
        409,
        "duplicate_citizen_id",
    )
    profile = ok(api.get(f"/api/profiles/{pid}"))
    assert (profile["version"], profile["status"], profile["unit_code"]) == (1, "active", "SNV")
    assert profile["record"]["employment"]["salary_step"] == 3

    raise_step = {
        "changes": STEP_RAISE,
        "reason": "Nâng bậc lương thường xuyên",
        "effective_date": "2026-09-01",
        "expected_version": 1,
    }
    created = ok(api.post(f"/api/profiles/{pid}/change-sets", raise_step), 201)
    assert created["approval"] == "plain" and created["status"] == "pending"
    change = created["change_set_id"]
    # The same change based on version 1 again: someone else's write came first.
    stale = problem(
        api.post(f"/api/profiles/{pid}/change-sets", raise_step), 409, "version_conflict"
    )
    assert stale["detail"] == "Hồ sơ đã được người khác cập nhật; vui lòng tải lại và thử lại."
    assert stale["current_version"] == 2
    assert "version 1" in stale["detail_en"]

    pending = ok(api.get(f"/api/profiles/{pid}"))["pending"]
    assert [c["change_set_id"] for c in pending] == [change]
    assert ok(api.get(f"/api/change-sets/{change}"))["status"] == "pending"
    problem(
        api.post(f"/api/change-sets/{change}/approve", {"expected_version": 1}),
        409,
        "version_conflict",
    )
    decided = ok(
        api.post(
            f"/api/change-sets/{change}/approve", {"decision": DECISION, "expected_version": 2}
        )
    )
    assert (decided["status"], decided["version"]) == ("approved", 3)
    problem(api.post(f"/api/change-sets/{change}/approve", {}), 409, "change_set_not_pending")

    other = ok(
        api.post(
            f"/api/profiles/{pid}/change-sets",
            {
                "changes": [{"path": "identity.phone", "value": "0912345678"}],
                "reason": "Số mới",
                "effective_date": "2026-10-01",
            },
        ),
        201,
    )["change_set_id"]
    problem(api.post(f"/api/change-sets/{other}/reject", {"reason": " "}), 422, "invalid_input")
    assert (
        ok(api.post(f"/api/change-sets/{other}/reject", {"reason": "Chưa có giấy tờ"}))["status"]
        == "rejected"
    )

    now = ok(api.get(f"/api/profiles/{pid}"))
    assert now["record"]["employment"]["salary_step"] == 4
    assert now["record"]["employment"]["coefficient"] == "3.33"
    assert now["pending"] == []
    assert (
        ok(api.get(f"/api/profiles/{pid}/state", version=1))["record"]["employment"]["salary_step"]
        == 3
    )
    assert (
        ok(api.get(f"/api/profiles/{pid}/state", as_of="2026-08-31"))["record"]["employment"][
            "salary_step"
        ]
        == 3
    )
    assert (
        ok(api.get(f"/api/profiles/{pid}/state", as_of="2026-09-01"))["record"]["employment"][
            "salary_step"
        ]
        == 4
    )
    problem(api.get(f"/api/profiles/{pid}/state", as_of="2000-01-01"), 404, "not_found")
    problem(
        api.get(f"/api/profiles/{pid}/state", version=1, as_of="2026-01-01"), 422, "invalid_input"
    )
    history = ok(api.get(f"/api/profiles/{pid}/history"))["events"]
    assert [e["event"] for e in history] == [
        "Opened",
        "ChangeProposed",
        "ChangeApproved",
        "ChangeProposed",
        "ChangeRejected",
    ]
    assert history[2]["actor"] == {"account": "hr.snv", "role": "hr_officer", "unit_code": "SNV"}
    assert history[2]["decision"]["number"] == DECISION["number"]
    statuses = [c["status"] for c in ok(api.get(f"/api/profiles/{pid}/change-sets"))["change_sets"]]
    assert statuses == ["approved", "rejected"]

    # Bad input changes nothing and says which field.
    bad = problem(
        api.post(
            f"/api/profiles/{pid}/change-sets",
            {
                "changes": [{"path": "employment.salary_step", "value": "x"}],
                "reason": "?",
                "effective_date": "2026-10-01",
            },
        ),
        422,
        "invalid_input",
    )
    assert bad["field"] == "employment.salary_step"
    missing = problem(api.post("/api/profiles", {"record": {}}), 422, "invalid_input")
    assert missing["field"] == "decision"
    assert ok(api.get(f"/api/profiles/{pid}"))["version"] == 5


# -- transitions, archive, deadlines ---------------------------------------------------------


def transition(api: Api, pid: str, kind: str, **fields: Any) -> dict[str, Any]:
    body = {"kind": kind, "decision": DECISION, **fields}
    return ok(api.post(f"/api/profiles/{pid}/transitions", body))  # type: ignore[no-any-return]


def test_transitions_move_people_and_departures_reach_the_archive(api: Api) -> None:
    api.as_("hr.snv")
    an = api.hire("001085000011", "Trần Văn An")
    done = transition(
        api,
        an,
        "move_within_unit",
        department="Văn phòng",
        position="Phó Chánh Văn phòng",
        effective_date="2025-01-02",
        expected_version=1,
    )
    assert (done["version"], done["status"]) == (2, "active")
    problem(
        api.post(
            f"/api/profiles/{an}/transitions",
            {
                "kind": "retire",
                "decision": DECISION,
                "effective_date": "2025-02-01",
                "expected_version": 1,
            },
        ),
        409,
        "version_conflict",
    )
    assert (
        transition(
            api,
            an,
            "start_secondment",
            host="Ban Quản lý dự án",
            until="2026-01-01",
            effective_date="2025-02-01",
        )["status"]
        == "seconded"
    )
    assert transition(api, an, "end_secondment", effective_date="2025-06-01")["status"] == "active"
    released = transition(
        api, an, "release_transfer", to_unit_code="STC", effective_date="2025-07-01"
    )
    assert (released["status"], released["transfer_to"]) == ("released", "STC")
    # The new unit receives the person; the old one may no longer act.
    problem(
        api.post(
            f"/api/profiles/{an}/transitions",
            {
                "kind": "receive_transfer",
                "decision": DECISION,
                "unit_code": "STC",
                "department": "Phòng Ngân sách",
                "position": "Chuyên viên",
                "effective_date": "2025-07-03",
            },
        ),
        403,
        "forbidden",
    )
    api.as_("hr.stc")
    received = transition(
        api,
        an,
        "receive_transfer",
        unit_code="STC",
        department="Phòng Ngân sách",
        position="Chuyên viên",
        effective_date="2025-07-03",
    )
    assert (received["status"], received["unit_code"]) == ("active", "STC")
    api.as_("hr.snv")
    problem(api.get(f"/api/profiles/{an}"), 404, "not_found")

    departures = {
        "retire": {"effective_date": "2025-06-01"},
        "resign": {"effective_date": "2025-06-01"},
        "dismiss": {"reason": "Kỷ luật buộc thôi việc", "effective_date": "2025-06-01"},
        "record_death": {"date_of_death": "2025-06-01"},
        "transfer_out_of_system": {"destination": "Bộ Tài chính", "effective_date": "2025-06-01"},
    }
    people = {}
    for i, (kind, fields) in enumerate(departures.items()):
        pid = api.hire(f"00108500002{i}", f"Người Thứ {i}")
        people[kind] = pid
        assert transition(api, pid, kind, **fields)["status"] in (
            "retired",
            "resigned",
            "dismissed",
            "deceased",
            "transferred_out",
        )
    problem(
        api.post(
            f"/api/profiles/{people['retire']}/transitions",
            {"kind": "resign", "decision": DECISION, "effective_date": "2025-07-01"},
        ),
        422,
        "transition_not_allowed",
    )
    rehired = transition(
        api,
        people["resign"],
        "rehire",
        unit_code="SNV",
        employment={
            "category": "civil_servant",
            "department": "Văn phòng",
            "position": "Chuyên viên",
            "rank_code": "01.003",
            "salary_step": 1,
        },
        effective_date="2026-01-05",
    )
    assert rehired["status"] == "active"

    archive = ok(api.get("/api/archive", unit="SNV"))
    assert archive["total"] == 4
    assert {r["departure"] for r in archive["rows"]} == {
        "retired",
        "dismissed",
        "deceased",
        "transferred_out",
    }
    assert ok(api.get("/api/archive"))["total"] == 4  # the unit of the caller's grant
    assert ok(api.get("/api/archive", current_only=False))["total"] == 5

    # A transfer released and never received is overdue for the receiving unit.
    binh = api.hire("001085000031", "Nguyễn Thị Bình")
    transition(api, binh, "release_transfer", to_unit_code="STC", effective_date="2026-01-05")
    api.as_("admin.snv")
    overdue = ok(api.get("/api/deadlines/overdue", on="2030-01-01"))
    assert {(i["action"], i["unit_code"]) for i in overdue["items"]} >= {("transfer_in", "STC")}
    assert ok(api.get("/api/deadlines/overdue", unit="STC", on="2026-01-05"))["items"] == []
    api.as_("hr.stc")
    problem(api.get("/api/deadlines/overdue", unit="SNV"), 404, "not_found")


# -- refusals and restricted values ----------------------------------------------------------


def test_a_forbidden_profile_is_answered_as_an_unknown_one_and_the_refusal_recorded(
    api: Api,
) -> None:
    api.as_("hr.snv")
    pid = api.hire("001085000041", "Nguyễn Văn An")
    api.as_("hr.stc")
    unknown_id = str(uuid.uuid4())
    for path in ("", "/history", "/state"):
        forbidden = api.get(f"/api/profiles/{pid}{path}")
        unknown = api.get(f"/api/profiles/{unknown_id}{path}")
        assert forbidden.status_code == unknown.status_code == 404
        assert forbidden.headers["content-type"] == unknown.headers["content-type"] == PROBLEM
        assert forbidden.json() == {
            k: (v.replace(unknown_id, pid) if isinstance(v, str) else v)
            for k, v in unknown.json().items()
        }
    problem(api.get("/api/profiles/not-a-uuid"), 404, "not_found")
    change = {
        "changes": [{"path": "identity.phone", "value": "1"}],
        "reason": "x",
        "effective_date": "2026-10-01",
    }
    problem(api.post(f"/api/profiles/{pid}/change-sets", change), 404, "not_found")
    problem(
        api.post(
            f"/api/profiles/{pid}/transitions",
            {"kind": "retire", "decision": DECISION, "effective_date": "2026-01-01"},
        ),
        404,
        "not_found",
    )
    # An inspector may read the record, so is told it is forbidden to change it.
    api.as_("inspector")
    problem(api.post(f"/api/profiles/{pid}/change-sets", change), 403, "forbidden")

    trail = ok(api.get("/api/audit", actor="hr.stc"))
    refusals = [r for r in trail["rows"] if r["aggregate_kind"] == "accessrecord"]
    assert len(refusals) == 5  # three reads, a change and a transition of an existing profile
    assert all(r["actor_role"] == "hr_officer" for r in refusals)
    assert ok(api.get("/api/audit", profile=pid))["total"] >= 2
    assert ok(api.get("/api/audit", unit="SNV", event_type="Opened"))["total"] == 1
    stamps = ok(api.get("/api/audit"))["rows"]
    moment = stamps[-1]["recorded_at"]
    later = ok(api.get("/api/audit", **{"from": moment}))
    assert later["total"] >= 1 and all(r["recorded_at"] >= moment for r in later["rows"])
    assert ok(api.get("/api/audit", to="2000-01-01T00:00:00"))["total"] == 0
    # Only inspectors and Home Affairs read the audit trail.
    api.as_("hr.snv")
    problem(api.get("/api/audit"), 403, "forbidden")
    problem(api.get("/api/audit", profile=pid), 404, "not_found")


def test_restricted_values_are_hidden_from_the_uncleared_and_their_reads_recorded(
    api: Api,
) -> None:
    api.as_("hr.snv")
    pid = api.hire(
        "001085000051",
        "Lê Thị Hoa",
        health={"health_status": "Tốt", "blood_type": "O"},
        family_relations=[{"relation": "Mẹ", "full_name": "Phạm Thị Lan", "birth_year": 1960}],
    )
    ok(
        api.post(
            f"/api/profiles/{pid}/change-sets",
            {
                "changes": [{"path": "citizen.issued_by", "value": "Cục Cảnh sát"}],
                "reason": "Bổ sung",
                "effective_date": "2026-10-01",
            },
        ),
        201,
    )

    api.as_("inspector")  # cleared for level 1, not for the level-2 groups
    seen = ok(api.get(f"/api/profiles/{pid}"))
    assert seen["record"]["citizen"] == {"restricted": True, "level": 2}
    assert seen["record"]["health"] == {"restricted": True, "level": 2}
    assert seen["record"]["identity"]["full_name"] == "Lê Thị Hoa"
    assert set(seen["withheld"]) == {"citizen", "health", "family_relations"}
    assert seen["pending"][0]["changes"][0]["value"] == {"restricted": True, "level": 2}
    opened = ok(api.get(f"/api/profiles/{pid}/history"))["events"][0]
    assert opened["data"]["record"]["citizen"] == {"restricted": True, "level": 2}
    assert "001085000051" not in api.get(f"/api/profiles/{pid}/history").text
    assert "001085000051" not in api.get(f"/api/profiles/{pid}/state").text
    assert ok(api.get("/api/audit", actor="inspector"))["total"] == 0  # nothing shown

    api.as_("hr.snv")
    shown = ok(api.get(f"/api/profiles/{pid}"))
    assert shown["record"]["citizen"]["citizen_id"] == "001085000051"
    assert shown["record"]["health"]["blood_type"] == "O"
    assert shown["withheld"] == []

    api.as_("inspector")
    reads = ok(api.get("/api/audit", actor="hr.snv", event_type="Access.restricted_read"))["rows"]
    assert len(reads) == 1
    assert reads[0]["aggregate_kind"] == "accessrecord"
    assert (reads[0]["actor_role"], reads[0]["actor_unit"]) == ("hr_officer", "SNV")
    assert (reads[0]["profile_id"], reads[0]["unit_code"]) == (pid, "SNV")
    record: AccessRecord = api.svc.ledger.repository.get(uuid.UUID(reads[0]["aggregate_id"]))
    assert record.kind == "restricted_read"
    assert record.profile_id == pid
    assert record.fields == ["citizen", "family_relations", "health"]
    assert record.basis == "hr_officer of SNV"

    # The person sees their own record in full, and that is no access to record.
    ledger = api.svc.ledger
    ledger.create_account("hoa.lt", "Lê Thị Hoa", "personal", "SNV", actor=ADMIN, profile_id=pid)
    api.as_("hoa.lt")
    assert ok(api.get(f"/api/profiles/{pid}"))["record"]["citizen"]["citizen_id"] == "001085000051"
    api.as_("inspector")
    assert ok(api.get("/api/audit", actor="hoa.lt"))["total"] == 0


# -- approvals by signature ------------------------------------------------------------------


@dataclass
class Pki:
    issuing: Authority
    keys: dict[str, Any] = field(default_factory=dict)

    def certificate(self, account: str) -> str:
        key, cert = issue_certificate(
            self.issuing,
            f"Người ký {account}",
            valid_from=datetime(2020, 1, 1, tzinfo=UTC),
            valid_until=datetime(2035, 1, 1, tzinfo=UTC),
        )
        self.keys[account] = key
        return certificate_pem(cert)


@pytest.fixture
def bnv(make_settings: Callable[..., Settings]) -> Iterator[tuple[Api, Pki]]:
    settings = make_settings(jurisdiction="bnv")
    root = make_root_ca("Root CA thử nghiệm", valid_from=datetime(2019, 1, 1, tzinfo=UTC))
    issuing = make_issuing_ca(
        root, "CA cấp cho cán bộ", valid_from=datetime(2019, 1, 1, tzinfo=UTC)
    )
    for path, certs in (
        (trust_anchors_path(settings), [root.certificate]),
        (intermediates_path(settings), [issuing.certificate]),
    ):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(pem_bundle(certs))
    for api in start(settings):
        yield api, Pki(issuing)


def sign(api: Api, pki: Pki, item: str, account: str) -> dict[str, Any]:
    api.as_(account)
    request = ok(api.get(f"/api/approvals/{item}/signing-request"))
    pem = pki.certificate(account)
    signature = sign_digest(pki.keys[account], bytes.fromhex(request["digest"]))
    import base64

    return ok(  # type: ignore[no-any-return]
        api.post(
            f"/api/approvals/{item}/signatures",
            {
                "signed_at": request["signed_at"],
                "signature": base64.b64encode(signature).decode(),
                "certificate_pem": pem,
            },
        )
    )


def test_a_change_is_approved_by_the_signatures_of_its_chain(bnv: tuple[Api, Pki]) -> None:
    api, pki = bnv
    api.as_("hr.snv")
    pid = api.hire("001085000061", "Nguyễn Văn An")
    change = ok(
        api.post(
            f"/api/profiles/{pid}/change-sets",
            {"changes": STEP_RAISE, "reason": "Nâng bậc lương", "effective_date": "2026-09-01"},
        ),
        201,
    )
    assert change["approval"] == "signatures"
    item = change["change_set_id"]
    problem(api.post(f"/api/change-sets/{item}/approve", {}), 422, "signature_required")

    inbox = ok(api.get("/api/approvals/inbox"))["items"]
    assert [(i["item_id"], i["level"], i["of_levels"], i["role"]) for i in inbox] == [
        (item, 1, 2, "hr_officer")
    ]
    api.as_("hrhead.snv")
    assert ok(api.get("/api/approvals/inbox"))["items"] == []
    problem(api.get(f"/api/approvals/{item}/signing-request"), 403, "forbidden")
    api.as_("hr.stc")
    problem(api.get(f"/api/approvals/{item}/signing-request"), 404, "not_found")

    first = sign(api, pki, item, "hr.snv")
    assert (first["status"], first["signatures"], first["levels"]) == ("pending", 1, 2)
    api.as_("hrhead.snv")
    assert [i["level"] for i in ok(api.get("/api/approvals/inbox"))["items"]] == [2]
    # A signature over something else is refused, with the reason.
    request = ok(api.get(f"/api/approvals/{item}/signing-request"))
    pem = pki.certificate("hrhead.snv")
    import base64

    forged = base64.b64encode(sign_digest(pki.keys["hrhead.snv"], b"\0" * 32)).decode()
    refused = problem(
        api.post(
            f"/api/approvals/{item}/signatures",
            {"signed_at": request["signed_at"], "signature": forged, "certificate_pem": pem},
        ),
        422,
        "signature_refused",
    )
    assert "does not match" in refused["reason"]
    second = sign(api, pki, item, "hrhead.snv")
    assert second["status"] == "approved"
    api.as_("hr.snv")
    assert ok(api.get(f"/api/profiles/{pid}"))["record"]["employment"]["salary_step"] == 4
    problem(api.get(f"/api/approvals/{item}/signing-request"), 409, "change_set_not_pending")

    api.as_("inspector")
    report = ok(api.get(f"/api/approvals/{item}/verification"))
    assert report["passed"] is True
    assert [s["signer"] for s in report["signatures"]] == ["hr.snv", "hrhead.snv"]
    assert all(c["passed"] for s in report["signatures"] for c in s["checks"])
    assert any("VERIFIED" in line for line in report["in_plain_words"])
    api.as_("hr.snv")
    problem(api.get(f"/api/approvals/{item}/verification"), 404, "not_found")

    # A transition waits for its chain too, and a level may send it back.
    moved = transition(
        api,
        pid,
        "move_within_unit",
        department="Văn phòng",
        position="Chuyên viên",
        effective_date="2026-10-01",
    )
    waiting = moved["approval_item"]
    assert waiting is not None
    api.as_("hr.snv")
    rejected = ok(api.post(f"/api/approvals/{waiting}/reject", {"reason": "Sai quyết định"}))
    assert rejected["status"] == "rejected"
    problem(api.get(f"/api/approvals/{uuid.uuid4()}/signing-request"), 404, "not_found")


# -- the service ------------------------------------------------------------------------------


def test_openapi_health_metrics_and_authentication(api: Api) -> None:
    schema = ok(api.get("/openapi.json"))
    routes = [
        r
        for module in ROUTERS
        for r in module.router.routes
        if isinstance(r, APIRoute) and r.include_in_schema
    ]
    for route in routes:
        for method in (route.methods or set()) - {"HEAD"}:
            assert method.lower() in schema["paths"][route.path], (method, route.path)
    components = schema["components"]["schemas"]

    def has_example(content: dict[str, Any]) -> bool:
        for media in content.values():
            if "example" in media or "examples" in media:
                return True
            ref = media.get("schema", {}).get("$ref", "")
            if ref and "examples" in components[ref.rsplit("/", 1)[1]]:
                return True
        return False

    mine = [r for r in routes if not r.path.startswith(("/api/auth", "/api/accounts"))]
    assert len(mine) >= 30
    for route in mine:
        for method in (route.methods or set()) - {"HEAD"}:
            operation = schema["paths"][route.path][method.lower()]
            success = next(v for k, v in operation["responses"].items() if k.startswith("2"))
            assert has_example(success.get("content", {})), (method, route.path)
            if "requestBody" in operation:
                assert has_example(operation["requestBody"]["content"]), (method, route.path)
            if route.path.startswith("/api/") and route.path != "/api/healthz":
                problems = operation["responses"]["404"]["content"]
                assert "application/problem+json" in problems, route.path
    assert "Problem" in components
    assert "expected_version" in components["ChangeSetIn"]["properties"]
    assert "409" in schema["paths"]["/api/profiles/{profile_id}/change-sets"]["post"]["responses"]

    health = ok(api.get("/api/healthz"))
    assert health["status"] == "ok" and health["jurisdiction"] == "cantho"
    assert {p["name"] for p in health["projections"]} >= {"roster", "audit", "profiles"}
    assert health["lag"] >= 0 and health["head"] >= 1

    api.as_("hr.snv")
    ok(api.get("/api/units/SNV"))
    problem(api.get("/api/units/KHONGCO"), 404, "not_found")
    metrics = api.get("/metrics")
    assert metrics.status_code == 200
    assert metrics.headers["content-type"].startswith("text/plain")
    text = metrics.text
    assert 'hoso_http_requests_total{method="GET",route="/api/units/{code}",status="200"}' in text
    assert 'route="/api/units/{code}",status="404"' in text
    assert 'hoso_projection_lag_events{projection="roster"}' in text
    assert "hoso_http_request_duration_seconds_bucket" in text

    # Without the stand-in caller, authentication itself answers, as a problem too.
    api.app.dependency_overrides.clear()
    unauthenticated = api.get("/api/units")
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["content-type"] == PROBLEM
    assert unauthenticated.json()["code"] in ("unauthenticated", "invalid_token")
    assert api.get("/api/healthz").status_code == 200
