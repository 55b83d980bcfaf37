"""The signed résumé: Mẫu 2C printed from the approved record, signed by the approver and
the agency, and accepted by pyHanko's own validation against a test PKI."""

from __future__ import annotations

import copy
import unicodedata
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID
from pyhanko.keys.internal import translate_pyca_cryptography_cert_to_asn1
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext
from pypdf import PdfReader
from sqlalchemy import Engine

from domain.application import Ledger
from domain.settings import Settings
from projections.database import read_model_engine
from projections.framework import Projector
from projections.profiles import profile_view
from signing.resume_pdf import (
    AGENCY_FIELD,
    APPROVER_FIELD,
    RESTRICTED_TEXT,
    render_resume,
    sign_pdf,
    signed_resume,
)
from signing.signatures import PrivateKey
from tests.builders import person, unit_tree
from tests.conftest import HR, decision

UNIT = "Sở Nội vụ tỉnh Thái Bình"
PRINTED_ON = date(2026, 3, 5)
PENDING_HOMETOWN = "Phường Giá Trị Chờ Duyệt"

# -- a test PKI: root CA → issuing CA → approver (ECDSA) and agency (RSA) --------------------


@dataclass(frozen=True)
class Party:
    key: PrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]

    @property
    def credentials(self) -> tuple[PrivateKey, x509.Certificate, tuple[x509.Certificate, ...]]:
        return self.key, self.certificate, self.chain


@dataclass(frozen=True)
class Pki:
    root: x509.Certificate
    approver: Party
    agency: Party


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Hồ sơ thử nghiệm"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _certificate(
    subject: str,
    key: PrivateKey,
    *,
    issuer: x509.Certificate | None,
    issuer_key: PrivateKey,
    ca: bool,
    path_length: int | None = None,
) -> x509.Certificate:
    now = datetime.now(UTC)
    public_key = key.public_key()
    issuer_name = issuer.subject if issuer is not None else _name(subject)
    issuer_public = issuer.public_key() if issuer is not None else public_key
    usage = dict.fromkeys(
        (
            "digital_signature",
            "content_commitment",
            "key_encipherment",
            "data_encipherment",
            "key_agreement",
            "key_cert_sign",
            "crl_sign",
            "encipher_only",
            "decipher_only",
        ),
        False,
    )
    if ca:
        usage.update(key_cert_sign=True, crl_sign=True)
    else:
        usage.update(digital_signature=True, content_commitment=True)
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=path_length), critical=True)
        .add_extension(x509.KeyUsage(**usage), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_public),  # type: ignore[arg-type]
            critical=False,
        )
    )
    return builder.sign(issuer_key, hashes.SHA256())


def make_pki(root_name: str = "Hoso Test Root CA") -> Pki:
    root_key = ec.generate_private_key(ec.SECP384R1())
    root = _certificate(
        root_name, root_key, issuer=None, issuer_key=root_key, ca=True, path_length=1
    )
    issuing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    issuing = _certificate(
        "Hoso Test Issuing CA",
        issuing_key,
        issuer=root,
        issuer_key=root_key,
        ca=True,
        path_length=0,
    )
    approver_key = ec.generate_private_key(ec.SECP256R1())
    agency_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    chain = (issuing, root)
    return Pki(
        root=root,
        approver=Party(
            approver_key,
            _certificate(
                "Trần Văn Bình", approver_key, issuer=issuing, issuer_key=issuing_key, ca=False
            ),
            chain,
        ),
        agency=Party(
            agency_key,
            _certificate(UNIT, agency_key, issuer=issuing, issuer_key=issuing_key, ca=False),
            chain,
        ),
    )


# -- the record ------------------------------------------------------------------------------


def approved_view() -> dict[str, Any]:
    """A profile view as ``projections.profiles.profile_view`` returns it, with a pending
    change set that must never reach the paper."""
    return {
        "profile_id": "3f1c2a9e-5b7d-4e0a-9c61-2d8f4b7a1e05",
        "version": 4,
        "status": "active",
        "periods": [
            {"start_date": "2010-09-01", "origin": "recruitment", "end_date": None, "end": None}
        ],
        "record": {
            "identity": {
                "full_name": "Nguyễn Thị Hằng",
                "other_names": "Hằng Nga",
                "gender": "female",
                "birth_date": "1988-07-23",
                "birth_place": "Xã Đông Hưng, huyện Đông Hưng, tỉnh Thái Bình",
                "hometown": "Xã Đông Hưng, tỉnh Thái Bình",
                "permanent_address": "Số 12 phố Lý Thường Kiệt, phường Hoàn Kiếm, Hà Nội",
                "current_address": "Số 12 phố Lý Thường Kiệt, phường Hoàn Kiếm, Hà Nội",
                "ethnicity": "01",
                "religion": "phat_giao",
            },
            "citizen": {
                "citizen_id": "034188001234",
                "issued_on": "2021-05-10",
                "issued_by": "Cục Cảnh sát QLHC về TTXH",
            },
            "education": {
                "general_education": "12/12",
                "professional_level": "thac_si",
                "major": "Quản lý công",
                "political_theory": "trung_cap",
                "state_management": "chuyen_vien_chinh",
                "foreign_languages": "Tiếng Anh bậc 4",
                "it_skills": "Ứng dụng công nghệ thông tin cơ bản",
            },
            "membership": {
                "party_join_date": "2012-05-19",
                "party_official_date": "2013-05-19",
                "youth_union_join_date": "2003-03-26",
                "trade_union": True,
            },
            "health": {"health_status": "Tốt", "height_cm": 158, "weight_kg": 50},
            "family_relations": [
                {
                    "relation": "Bố",
                    "full_name": "Nguyễn Văn Đức",
                    "birth_year": 1960,
                    "details": "Nông dân, xã Đông Hưng, tỉnh Thái Bình",
                }
            ],
            "work_history": [
                {
                    "from_date": "2016-01-01",
                    "description": "Chuyên viên Phòng Công chức, viên chức, Sở Nội vụ",
                },
                {
                    "from_date": "2010-09-01",
                    "to_date": "2015-12-31",
                    "description": "Chuyên viên Phòng Tổ chức, Sở Nội vụ",
                },
            ],
            "training": [
                {
                    "institution": "Học viện Hành chính Quốc gia",
                    "major": "Quản lý công",
                    "from_date": "2016-09-01",
                    "to_date": "2018-06-30",
                    "mode": "Vừa làm vừa học",
                    "qualification": "Thạc sĩ",
                }
            ],
            "rewards": [
                {
                    "awarded_on": "2023-12-20",
                    "form": "Bằng khen của Chủ tịch UBND tỉnh",
                    "decision_number": "2345/QĐ-UBND",
                }
            ],
            "discipline": [
                {"decided_on": "2019-04-02", "form": "Khiển trách", "decision_number": "17/QĐ-SNV"}
            ],
            "salary_history": [
                {
                    "from_date": "2010-09-01",
                    "rank_code": "01.003",
                    "salary_step": 1,
                    "coefficient": "2.34",
                },
                {
                    "from_date": "2022-09-01",
                    "rank_code": "01.003",
                    "salary_step": 5,
                    "coefficient": "3.66",
                },
            ],
            "allowances": [],
            "annual_evaluation": [{"year": 2025, "rating": "Hoàn thành xuất sắc nhiệm vụ"}],
            "succession_planning": [],
            "employment": {
                "category": "civil_servant",
                "unit_code": "SNV",
                "department": "Phòng Công chức, viên chức",
                "position": "Chuyên viên",
                "rank_code": "01.003",
                "salary_step": 5,
                "coefficient": "3.66",
                "start_date": "2016-01-01",
            },
        },
        "pending": [
            {
                "change_set_id": "9d0e0c1a-0000-4000-8000-000000000001",
                "status": "pending",
                "changes": [
                    {"path": "identity.hometown", "value": PENDING_HOMETOWN},
                    {"path": "employment.salary_step", "value": 6},
                    {"path": "employment.coefficient", "value": "3.99"},
                ],
            }
        ],
    }


def text_of(pdf: bytes) -> str:
    reader = PdfReader(BytesIO(pdf))
    text = "\n".join(page.extract_text() for page in reader.pages)
    return unicodedata.normalize("NFC", text)


def flat(text: str) -> str:
    """Extracted text with line breaks and repeated spaces folded, for phrase checks."""
    return " ".join(text.split())


# -- fixtures --------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pki() -> Pki:
    return make_pki()


@pytest.fixture(scope="module")
def signed(pki: Pki) -> bytes:
    return signed_resume(
        approved_view(),
        approver=pki.approver.credentials,
        agency=pki.agency.credentials,
        unit_name=UNIT,
        printed_on=PRINTED_ON,
        approval_reference="45/QĐ-SNV",
    )


def validation_context(root: x509.Certificate) -> ValidationContext:
    return ValidationContext(
        trust_roots=[translate_pyca_cryptography_cert_to_asn1(root)], allow_fetching=False
    )


# -- signatures ------------------------------------------------------------------------------


def test_both_signatures_are_intact_valid_and_trusted(pki: Pki, signed: bytes) -> None:
    reader = PdfFileReader(BytesIO(signed))
    approver, agency = reader.embedded_signatures
    assert (approver.field_name, agency.field_name) == (APPROVER_FIELD, AGENCY_FIELD)
    statuses = [validate_pdf_signature(s, validation_context(pki.root)) for s in (approver, agency)]
    for status, party in zip(statuses, (pki.approver, pki.agency), strict=True):
        assert status.intact and status.valid and status.trusted, status.pretty_print_details()
        assert status.bottom_line, status.pretty_print_details()
        assert status.signing_cert.dump() == (
            translate_pyca_cryptography_cert_to_asn1(party.certificate).dump()
        )
        assert status.md_algorithm == "sha256"
    first, second = statuses
    assert first.pkcs7_signature_mechanism == "sha256_ecdsa"
    assert second.pkcs7_signature_mechanism in ("sha256_rsa", "rsassa_pkcs1v15")
    # The agency's signature covers the whole file; the approver's covers its revision,
    # and what came after it (the agency filling its field) is only form filling.
    assert second.coverage == SignatureCoverageLevel.ENTIRE_FILE
    assert first.coverage == SignatureCoverageLevel.ENTIRE_REVISION
    assert first.modification_level is not None
    assert first.modification_level <= ModificationLevel.FORM_FILLING
    assert first.docmdp_ok
    for embedded in (approver, agency):
        assert embedded.sig_object["/SubFilter"] == "/ETSI.CAdES.detached"
    assert str(approver.sig_object["/Name"]) == "Trần Văn Bình"
    assert str(agency.sig_object["/Location"]) == UNIT
    # Both fields are visible on the last page: a reader shows the stamps.
    for embedded in (approver, agency):
        x1, y1, x2, y2 = (float(v) for v in embedded.sig_field["/Rect"])
        assert x2 - x1 > 100 and y2 - y1 > 50


def test_a_signature_from_another_root_is_intact_but_not_trusted(signed: bytes) -> None:
    stranger = make_pki("Some Other Root CA")
    (approver, _agency) = PdfFileReader(BytesIO(signed)).embedded_signatures
    status = validate_pdf_signature(approver, validation_context(stranger.root))
    assert status.intact and status.valid
    assert not status.trusted and not status.bottom_line


def test_a_changed_byte_breaks_both_signatures(pki: Pki, signed: bytes) -> None:
    marker = b"/Creator ("
    at = signed.index(marker) + len(marker)
    tampered = signed[:at] + bytes([signed[at] ^ 0x01]) + signed[at + 1 :]
    for embedded in PdfFileReader(BytesIO(tampered)).embedded_signatures:
        status = validate_pdf_signature(embedded, validation_context(pki.root))
        assert not status.intact and not status.bottom_line


def test_a_signature_can_go_into_a_new_invisible_field(pki: Pki) -> None:
    pdf = render_resume(approved_view(), unit_name=UNIT, printed_on=PRINTED_ON)
    key, certificate, chain = pki.agency.credentials
    pdf = sign_pdf(
        pdf,
        key=key,
        certificate=certificate,
        chain=chain,
        field_name="LuuTru",
        reason="Lưu trữ",
        location=UNIT,
        signer_name=UNIT,
    )
    (embedded,) = PdfFileReader(BytesIO(pdf)).embedded_signatures
    assert embedded.field_name == "LuuTru"
    status = validate_pdf_signature(embedded, validation_context(pki.root))
    assert status.bottom_line and status.coverage == SignatureCoverageLevel.ENTIRE_FILE


# -- what is printed -------------------------------------------------------------------------


def test_vietnamese_text_extracts_with_its_diacritics(signed: bytes) -> None:
    text = flat(text_of(signed))
    for phrase in (
        "Mẫu 2C-BNV/2008",
        "SƠ YẾU LÝ LỊCH CÁN BỘ, CÔNG CHỨC",
        "Họ và tên khai sinh (viết chữ in hoa): NGUYỄN THỊ HẰNG",
        "Tên gọi khác: Hằng Nga",
        "Sinh ngày: 23/07/1988",
        "Giới tính (nam, nữ): Nữ",
        "Quê quán: Xã Đông Hưng, tỉnh Thái Bình",
        "Dân tộc: Kinh",
        "Tôn giáo: Phật giáo",
        "Ngày tuyển dụng: 01/09/2010",
        "Ngạch công chức (viên chức): Chuyên viên",
        "Mã ngạch: 01.003",
        "Hệ số lương: 3,66",
        "Ngày hưởng: 01/09/2022",
        "Trình độ chuyên môn cao nhất: Thạc sĩ, Quản lý công",
        "Lý luận chính trị: Trung cấp",
        "Quản lý nhà nước: Chuyên viên chính",
        "Ngày vào Đảng Cộng sản Việt Nam: 19/05/2012",
        "Bằng khen của Chủ tịch UBND tỉnh",
        "Khiển trách",
        "Học viện Hành chính Quốc gia",
        "TÓM TẮT QUÁ TRÌNH CÔNG TÁC",
        "QUAN HỆ GIA ĐÌNH",
        "Nguyễn Văn Đức",
        "DIỄN BIẾN QUÁ TRÌNH LƯƠNG",
        "Hoàn thành xuất sắc nhiệm vụ",
        "Dữ liệu đã được phê duyệt",
        "phiên bản hồ sơ: 4",
        "45/QĐ-SNV",
        "In ngày 05/03/2026",
        "NGƯỜI PHÊ DUYỆT",
    ):
        assert phrase in text, phrase
    assert "1988-07-23" not in text  # dates are printed dd/mm/yyyy, never ISO
    # Work history in date order.
    assert text.index("Chuyên viên Phòng Tổ chức") < text.index("Chuyên viên Phòng Công chức")


def test_the_font_is_embedded(signed: bytes) -> None:
    reader = PdfReader(BytesIO(signed))
    fonts: dict[str, Any] = {}
    for page in reader.pages:
        resources: Any = page["/Resources"]
        for reference in resources["/Font"].values():
            font = reference.get_object()
            fonts[str(font["/BaseFont"])] = font
    assert fonts and all("NotoSans" in name for name in fonts)
    for font in fonts.values():
        (descendant,) = font["/DescendantFonts"]
        assert "/FontFile2" in descendant.get_object()["/FontDescriptor"]
        assert "/ToUnicode" in font
    assert b"/FontFile2" in signed
    assert any("Bold" in name for name in fonts)


def test_a_pending_change_never_reaches_the_paper(signed: bytes) -> None:
    text = text_of(signed)
    assert PENDING_HOMETOWN not in text and "3,99" not in text
    assert "Bậc lương: 5" in flat(text)


def test_restricted_groups_are_hidden_when_asked() -> None:
    view = approved_view()
    open_text = flat(text_of(render_resume(view, unit_name=UNIT, printed_on=PRINTED_ON)))
    hidden_text = flat(
        text_of(render_resume(view, unit_name=UNIT, printed_on=PRINTED_ON, show_restricted=False))
    )
    restricted_values = (
        "034188001234",  # citizen
        "19/05/2012",  # membership
        "Nguyễn Văn Đức",  # family relations
        "158 cm",  # health
        "Khiển trách",  # discipline
    )
    for value in restricted_values:
        assert value in open_text and value not in hidden_text, value
    assert RESTRICTED_TEXT not in open_text
    assert hidden_text.count(RESTRICTED_TEXT) >= len(restricted_values)
    for value in ("NGUYỄN THỊ HẰNG", "Xã Đông Hưng, tỉnh Thái Bình", "Bằng khen"):
        assert value in hidden_text
    assert "Số định danh cá nhân: (hạn chế tiếp cận)" in hidden_text


def test_an_empty_record_prints_without_failing() -> None:
    view = approved_view()
    record = view["record"]
    for name, value in record.items():
        record[name] = [] if isinstance(value, list) else {}
    record["identity"] = {"full_name": "Lê Văn Tám", "gender": "male", "ethnicity": "01"}
    view["periods"] = []
    text = flat(text_of(render_resume(view, unit_name=UNIT, printed_on=PRINTED_ON)))
    assert "LÊ VĂN TÁM" in text and "Không có." in text
    assert "căn cứ" not in text  # no approval reference was given


# -- from the ledger -------------------------------------------------------------------------


@pytest.fixture
def read_view(
    ledger: Ledger, make_settings: Callable[..., Settings]
) -> Iterator[Callable[[str], dict[str, Any]]]:
    engine: Engine = read_model_engine(make_settings(), writer=True)
    from projections.profiles import ProfileView
    from projections.units import UnitTree

    projector = Projector(ledger, engine, [UnitTree(ledger), ProfileView(ledger)])
    projector.prepare()

    def read(profile_id: str) -> dict[str, Any]:
        projector.catch_up()
        with engine.connect() as conn:
            view = profile_view(conn, profile_id)
        assert view is not None
        return view

    yield read
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_the_profile_view_prints_its_record_not_its_proposals(
    ledger: Ledger, read_view: Callable[[str], dict[str, Any]]
) -> None:
    unit_tree(ledger)
    record = person()
    record["identity"] = {**record["identity"], "full_name": "Phạm Thị Ngọc Ánh"}
    pid = str(ledger.open_profile(record, decision=decision(), actor=HR))
    ledger.propose_change(
        pid,
        [("identity.hometown", PENDING_HOMETOWN)],
        reason="Cập nhật quê quán",
        effective_date=date(2026, 1, 5),
        actor=HR,
    )
    view = read_view(pid)
    assert view["pending"]  # the proposal is in the view...
    text = flat(
        text_of(render_resume(copy.deepcopy(view), unit_name="Sở Nội vụ", printed_on=PRINTED_ON))
    )
    assert "PHẠM THỊ NGỌC ÁNH" in text and "Quê quán: Hà Nội" in text
    assert PENDING_HOMETOWN not in text  # ...and never on paper
    assert f"phiên bản hồ sơ: {view['version']}" in text
