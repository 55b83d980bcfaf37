"""Supporting documents on SQLite and PostgreSQL: kept by SHA-256 digest in the ledger's
database, accepted by content and not by name, size-limited, encrypted at rest with the
ledger's cipher, never stored twice; and how the pages word a change set and a refusal."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select, update

from api.documents import DocumentConfig, DocumentRejected, DocumentStore, documents
from api.web.approval_words import reason_in_vietnamese
from api.web.record_view import WITHHELD, change_set_diff
from domain.application import Ledger
from projections.database import read_model_engine

PDF = b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n"
PNG = bytes.fromhex("89504e470d0a1a0a0000000d49484452000000010000000108060000001f15c489")


@pytest.fixture
def store(make_ledger: Callable[..., Ledger]) -> Iterator[DocumentStore]:
    key = base64.b64encode(os.urandom(32)).decode()
    ledger = make_ledger(cipher_key=key)
    engine = read_model_engine(ledger.settings)
    yield DocumentStore(engine, ledger.mapper.cipher, DocumentConfig(document_max_bytes=4096))
    engine.dispose()


def test_a_scan_is_kept_by_its_digest_and_given_back_whole(store: DocumentStore) -> None:
    document = store.store(PDF, "C:\\Scans\\Quyết định 125.pdf", account="tccb.snv")
    assert document.sha256 == hashlib.sha256(PDF).hexdigest()
    assert (document.media_type, document.size) == ("application/pdf", len(PDF))
    assert document.filename == "Quyết định 125.pdf"
    found = store.find(document.sha256.upper())
    assert found is not None and found.content == PDF and found.media_type == "application/pdf"
    image = store.store(PNG, "anh.jpg", account="nhanvien")
    assert image.media_type == "image/png"  # what the bytes are, not what the name says


def test_what_is_not_a_scan_or_is_too_large_is_refused_and_nothing_kept(
    store: DocumentStore,
) -> None:
    for data, words in (
        (b"<html>not a scan</html>", "phải là bản quét"),
        (b"", "trống"),
        (PDF + b"0" * 4096, "lớn hơn"),
    ):
        with pytest.raises(DocumentRejected) as refused:
            store.store(data, "giay-to.pdf", account="nhanvien")
        assert words in refused.value.vietnamese and refused.value.field == "document"
    store.prepare()
    with store.engine.connect() as conn:
        assert conn.execute(select(documents.c.sha256)).all() == []


def test_the_same_bytes_are_kept_once_encrypted_and_an_altered_copy_is_not_served(
    store: DocumentStore,
) -> None:
    first = store.store(PDF, "a.pdf", account="a")
    second = store.store(PDF, "b.pdf", account="b")
    assert first.sha256 == second.sha256
    with store.engine.connect() as conn:
        rows = conn.execute(select(documents.c.content, documents.c.stored_by)).all()
    assert len(rows) == 1 and rows[0].stored_by == "a"
    assert b"%PDF" not in bytes(rows[0].content)  # encrypted at rest
    with store.engine.begin() as conn:
        conn.execute(update(documents).values(content=store.cipher.encrypt(PDF + b" ")))
    assert store.find(first.sha256) is None


def test_a_change_set_reads_as_old_and_new_values_with_withheld_groups_masked() -> None:
    record = {
        "identity": {"full_name": "Nguyễn Văn An", "gender": "male"},
        "health": {"restricted": True, "level": 2},
        "rewards": [],
    }
    changes = [
        {"path": "identity.gender", "value": "female"},
        {"path": "health.blood_type", "value": {"restricted": True, "level": 2}},
        {"path": "rewards", "value": {"awarded_on": "2026-05-01", "form": "Bằng khen"}},
    ]
    gender, blood, reward = change_set_diff(record, changes)
    assert (gender.label, gender.old, gender.new) == ("Giới tính", "Nam", "Nữ")
    assert (blood.label, blood.old, blood.new, blood.withheld) == (
        "Nhóm máu",
        WITHHELD,
        WITHHELD,
        True,
    )
    assert reward.added and reward.new == "Ngày khen thưởng: 01/05/2026; Hình thức: Bằng khen"


def test_the_reasons_of_the_checks_read_in_vietnamese() -> None:
    assert reason_in_vietnamese(
        "the certificate was revoked on 2026-01-15T00:00:00+00:00", False
    ) == ("Chứng thư số đã bị thu hồi từ ngày 15/01/2026.")
    assert reason_in_vietnamese("hr.a held no hr_head role for SNV on 2026-03-02", False) == (
        "Tài khoản hr.a không giữ vai trò Trưởng phòng tổ chức cán bộ tại đơn vị SNV "
        "vào ngày 02/03/2026."
    )
    assert reason_in_vietnamese("3 working days of the 5 allowed", True) == (
        "Đã dùng 3 trên 5 ngày làm việc được phép."
    )
    assert reason_in_vietnamese("something new", False) == "Không đạt: something new"
