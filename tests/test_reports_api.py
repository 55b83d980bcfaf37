"""Reports and the Mẫu 2C import over HTTP and on the command line, as an HR officer of
the Department of Home Affairs would use them; on SQLite and PostgreSQL."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import date
from io import BytesIO
from pathlib import Path

import pytest
from openpyxl import load_workbook

from domain.settings import Settings
from domain.values import Role, json_ready
from operations.resume_io import MAIN_SHEET, resume_workbook
from projections.audit import audit
from tests.api_helpers import auth_client, cheap_argon2, log_in_as, make_account
from tests.builders import person, unit_tree
from tests.cli_helpers import ok, refused
from tests.conftest import HR, decision

DECISION = {"number": "7/QĐ-SNV", "signed_on": "2025-01-02"}


def row(citizen_id: str, unit_code: str = "SNV", **identity: object) -> dict[str, object]:
    record = json_ready(person(citizen_id, unit_code=unit_code))
    record["identity"].update(identity)
    return {"record": record, "decision": DECISION}


def encoded(rows: list[dict[str, object]]) -> str:
    return base64.b64encode(resume_workbook(rows)).decode()


def test_an_hr_officer_imports_resumes_and_downloads_the_reports(
    make_settings: Callable[..., Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    cheap_argon2(monkeypatch)
    settings = make_settings()
    with auth_client(settings) as client:
        svc = client.app.state.services  # type: ignore[attr-defined]
        ledger = svc.ledger
        unit_tree(ledger)
        ledger.open_profile(person("001085000001"), decision=decision(), actor=HR)
        officer = make_account(ledger, "tccb.snv", Role.HR_OFFICER, "SNV")
        headers = log_in_as(client, officer)
        head = ledger.recorder.max_notification_id()

        bad = [row("079000000001"), row("079000000002", ethnicity="99"), row("079000000003", "STC")]
        answer = client.post(
            "/api/reports/resume-import", json={"workbook": encoded(bad)}, headers=headers
        )
        assert answer.status_code == 422, answer.text
        body = answer.json()
        assert body["code"] == "import_refused" and body["imported"] == 0
        assert [(e["row"], e["column"]) for e in body["errors"]] == [
            (3, "Mã dân tộc"),
            (4, "Mã đơn vị"),  # STC is not the officer's
        ]
        assert body["errors"][1]["reason"] == "Đơn vị STC ngoài phạm vi quản lý của tài khoản nhập"
        # Nothing but the access records of the calls was written.
        assert ledger.recorder.max_notification_id() == head

        answer = client.post(
            "/api/reports/resume-import",
            json={"workbook": encoded(bad), "skip_rows": [3, 4]},
            headers=headers,
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["imported"] == 1 and answer.json()["excluded_rows"] == [3, 4]

        stats = client.get(
            "/api/reports/workforce", params={"as_of": "2026-01-01"}, headers=headers
        )
        assert stats.status_code == 200, stats.text
        assert stats.json()["unit_code"] == "SNV" and stats.json()["total"] == 2

        workbook = client.get("/api/reports/workforce.xlsx", headers=headers)
        assert workbook.status_code == 200
        book = load_workbook(BytesIO(workbook.content))
        assert book["Giới tính"]["C4"].value == 2

        chart = client.get("/api/reports/workforce.png", headers=headers)
        assert chart.content[:8] == b"\x89PNG\r\n\x1a\n"
        pdf = client.get("/api/reports/annual.pdf", headers=headers)
        assert pdf.status_code == 200 and pdf.content[:5] == b"%PDF-"
        annual = client.get("/api/reports/annual", headers=headers).json()
        assert annual["records_created"] == 2

        exported = client.get("/api/reports/resumes.xlsx", headers=headers)
        sheet = load_workbook(BytesIO(exported.content))[MAIN_SHEET]
        assert sheet.max_row == 3  # a heading and two people
        svc.current(audit=True)
        with svc.reader.connect() as conn:
            exports = audit(conn, event_type="Access.export", actor="tccb.snv")
        assert len(exports) == 4  # the workbook, the chart, the PDF and the résumés

        other = client.get("/api/reports/workforce.xlsx", params={"unit": "STC"}, headers=headers)
        assert other.status_code == 404  # another department is not the officer's to see


def test_the_commands(data_dir: Path, tmp_path: Path) -> None:
    from domain.application import Ledger

    ledger = Ledger(Settings())
    unit_tree(ledger)
    ledger.create_account("tccb.snv", "TCCB", "service", "SNV", actor=HR)
    ledger.grant_role("tccb.snv", Role.HR_OFFICER, "SNV", valid_from=date(2020, 1, 1), actor=HR)
    ledger.close()
    rows = [row(f"07900000000{n}") for n in range(3)]
    rows[2]["record"]["employment"]["rank_code"] = "V.07.01.03"  # type: ignore[index]
    workbook = tmp_path / "snv.xlsx"
    workbook.write_bytes(resume_workbook(rows))

    result = refused("resumes", "import", str(workbook), "--as", "tccb.snv")
    assert "nothing imported" in result.output and "Mã ngạch" in result.output
    ok("resumes", "import", str(workbook), "--as", "tccb.snv", "--skip-invalid")
    out = tmp_path / "out.xlsx"
    ok("resumes", "export", "--unit", "SNV", "--out", str(out))
    assert load_workbook(out)[MAIN_SHEET].max_row == 3

    stats = ok("report", "stats", "SNV", "--xlsx", str(tmp_path / "s.xlsx"))
    assert "2 on staff" in stats.output
    annual = ok("report", "annual", str(date.today().year), "--pdf", str(tmp_path / "a.pdf"))
    assert "Hồ sơ mới được lập" in annual.output
    assert (tmp_path / "a.pdf").read_bytes()[:5] == b"%PDF-"
    refused("report", "stats", "NOPE")
