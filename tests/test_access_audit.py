"""Access in the audit trail, over HTTP on SQLite and PostgreSQL: a read of restricted
values, an export (the résumé in PDF, the roster in CSV) and a refused attempt each leave a
row naming the acting account and the time it was recorded, read back through
``GET /api/audit`` by the Department of Home Affairs. Callers log in with their passwords
(and second factors) and use bearer tokens."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pyhanko.pdf_utils.reader import PdfFileReader

from domain.application import Ledger
from domain.settings import Settings
from domain.values import Role
from signing import keystore
from signing.pki import issue_certificate, make_issuing_ca, make_root_ca
from signing.resume_pdf import AGENCY_FIELD
from tests.api_helpers import TestAccount, auth_client, cheap_argon2, log_in_as, make_account
from tests.builders import person, unit_tree
from tests.conftest import HR, decision

PASSPHRASE = "khóa của cơ quan 2026"


@dataclass
class World:
    ledger: Ledger
    client: TestClient
    tokens: dict[str, dict[str, str]]  # account -> Authorization header
    profile_id: str  # a person of SNV with restricted values

    def get(self, who: str, path: str, **params: Any) -> Any:
        return self.client.get(path, params=params, headers=self.tokens[who])

    def trail(self, **params: Any) -> list[dict[str, Any]]:
        """Rows of the audit trail, as the Department of Home Affairs reads them."""
        response = self.get("home", "/api/audit", per_page=1000, **params)
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()["rows"]
        return rows


def bearer(client: TestClient, account: TestAccount) -> dict[str, str]:
    """Log in with the password (and TOTP code) and make a bearer token."""
    session = log_in_as(client, account)
    response = client.post("/api/auth/tokens", json={"name": "test", "days": 1}, headers=session)
    assert response.status_code == 201, response.text
    return {"Authorization": f"Bearer {response.json()['token']}"}


@pytest.fixture
def world(
    ledger: Ledger, make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    cheap_argon2(monkeypatch)
    monkeypatch.delenv("HOSO_KEYSTORE_PASSPHRASE", raising=False)
    unit_tree(ledger)
    record = person("001085000091")
    record["identity"]["full_name"] = "Lê Thị Hoa"
    record["health"] = {"health_status": "Tốt", "blood_type": "O"}
    record["family_relations"] = [
        {"relation": "Mẹ", "full_name": "Phạm Thị Lan", "birth_year": 1960}
    ]
    profile_id = str(ledger.open_profile(record, decision=decision(), actor=HR))
    accounts = {
        "home": make_account(ledger, "home", Role.HOME_AFFAIRS, "UBND"),
        "hr.snv": make_account(ledger, "hr.snv", Role.HR_OFFICER, "SNV"),
        "hr.stc": make_account(ledger, "hr.stc", Role.HR_OFFICER, "STC"),
        "inspector": make_account(ledger, "inspector", Role.INSPECTOR, "UBND", kind="inspector"),
    }
    with auth_client(make_settings()) as client:
        tokens = {name: bearer(client, account) for name, account in accounts.items()}
        yield World(ledger, client, tokens, profile_id)


def recorded_between(row: dict[str, Any], start: datetime, end: datetime) -> bool:
    moment = datetime.fromisoformat(row["recorded_at"])
    assert moment.tzinfo is not None, row
    return start - timedelta(seconds=1) <= moment <= end + timedelta(seconds=1)


def only(rows: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(rows) == 1, rows
    return rows[0]


def test_a_restricted_read_is_in_the_audit_trail_with_actor_and_time(world: World) -> None:
    start = datetime.now(UTC)
    response = world.get("hr.snv", f"/api/profiles/{world.profile_id}")
    end = datetime.now(UTC)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["record"]["health"]["blood_type"] == "O"  # cleared: the values are shown
    assert body["withheld"] == []

    row = only(world.trail(event_type="Access.restricted_read"))
    assert row["actor_account"] == "hr.snv"
    assert (row["actor_role"], row["actor_unit"]) == ("hr_officer", "SNV")
    assert row["profile_id"] == world.profile_id
    assert row["unit_code"] == "SNV"
    assert row["aggregate_kind"] == "accessrecord"
    assert recorded_between(row, start, end)
    # The person's trail shows it too.
    assert row in world.trail(profile=world.profile_id)

    # An inspector, cleared for level 1 only, sees no level-2 values: nothing to record.
    withheld = world.get("inspector", f"/api/profiles/{world.profile_id}")
    assert withheld.status_code == 200, withheld.text
    assert withheld.json()["record"]["health"] == {"restricted": True, "level": 2}
    assert world.trail(event_type="Access.restricted_read", actor="inspector") == []


def test_an_export_is_in_the_audit_trail_with_actor_and_time(world: World) -> None:
    start = datetime.now(UTC)
    pdf = world.get("hr.snv", f"/api/profiles/{world.profile_id}/resume.pdf")
    end = datetime.now(UTC)
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"].startswith("attachment;")
    assert pdf.content.startswith(b"%PDF-")
    assert not PdfFileReader(io.BytesIO(pdf.content)).embedded_signatures  # no agency key

    row = only(world.trail(event_type="Access.export"))
    assert row["actor_account"] == "hr.snv"
    assert (row["actor_role"], row["actor_unit"]) == ("hr_officer", "SNV")
    assert row["profile_id"] == world.profile_id
    assert row["unit_code"] == "SNV"
    assert recorded_between(row, start, end)

    start = datetime.now(UTC)
    roster = world.get("inspector", "/api/units/SNV/roster.csv")
    end = datetime.now(UTC)
    assert roster.status_code == 200, roster.text
    assert roster.headers["content-type"] == "text/csv; charset=utf-8"
    assert roster.content.startswith("\ufeff".encode())
    lines = list(csv.reader(io.StringIO(roster.content.decode("utf-8-sig"))))
    assert lines[0][:3] == ["STT", "Họ và tên", "Ngày sinh"]
    assert lines[1][:3] == ["1", "Lê Thị Hoa", "1985-03-14"]
    assert len(lines) == 2
    exports = world.trail(event_type="Access.export", actor="inspector")
    row = only(exports)
    assert (row["actor_role"], row["actor_unit"]) == ("inspector", "UBND")
    assert recorded_between(row, start, end)


def test_a_refused_attempt_is_in_the_audit_trail_with_actor_and_time(world: World) -> None:
    start = datetime.now(UTC)
    refused = world.get("hr.stc", f"/api/profiles/{world.profile_id}")
    export = world.get("hr.stc", f"/api/profiles/{world.profile_id}/resume.pdf")
    end = datetime.now(UTC)
    # Another unit's person is answered as if there were none.
    assert refused.status_code == export.status_code == 404
    assert refused.json()["code"] == export.json()["code"] == "not_found"

    rows = world.trail(event_type="Access.refused")
    assert len(rows) == 2
    for row in rows:
        assert row["actor_account"] == "hr.stc"
        assert (row["actor_role"], row["actor_unit"]) == ("hr_officer", "STC")
        assert row["profile_id"] == world.profile_id
        assert recorded_between(row, start, end)
    # Nothing was read or exported.
    assert world.trail(event_type="Access.restricted_read") == []
    assert world.trail(event_type="Access.export") == []


def test_the_resume_is_signed_by_the_agency_where_its_key_is_configured(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = make_root_ca("Root CA thử nghiệm")
    issuing = make_issuing_ca(root, "CA cấp cho cơ quan")
    key, certificate = issue_certificate(issuing, "Sở Nội vụ", key_type="rsa")
    directory = keystore.default_directory(world.ledger.settings)
    keystore.store(
        directory, "agency", key, certificate, [issuing.certificate, root.certificate], PASSPHRASE
    )
    monkeypatch.setenv("HOSO_KEYSTORE_PASSPHRASE", PASSPHRASE)
    response = world.get("hr.snv", f"/api/profiles/{world.profile_id}/resume.pdf")
    assert response.status_code == 200, response.text
    (signature,) = PdfFileReader(io.BytesIO(response.content)).embedded_signatures
    assert signature.field_name == AGENCY_FIELD
    assert signature.signer_cert.subject.native["common_name"] == "Sở Nội vụ"

    # A wrong passphrase is the server's problem: no unsigned résumé goes out instead.
    monkeypatch.setenv("HOSO_KEYSTORE_PASSPHRASE", "not the passphrase")
    broken = world.get("hr.snv", f"/api/profiles/{world.profile_id}/resume.pdf")
    assert broken.status_code == 503, broken.text
    assert broken.json()["code"] == "unavailable"
    assert len(world.trail(event_type="Access.export")) == 1
