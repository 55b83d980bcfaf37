"""The signed résumé: the approved record printed as Mẫu 2C-BNV/2008 and signed in PAdES.

``render_resume`` lays out the approved record of a profile view (never its pending
change sets) as the sơ yếu lý lịch form, in Noto Sans embedded in the file so that
Vietnamese text shows and extracts correctly anywhere. The last page carries two empty
signature fields, one for the person who approved the record and one for the agency.

``sign_pdf`` fills such a field (or adds an invisible one) with a PAdES signature
(ETSI.CAdES.detached, SHA-256) as an incremental update, so that each later signature
leaves the earlier ones intact. ``signed_resume`` renders and signs twice.

The Noto Sans shipped by ``fontpkg-noto-sans`` is a variable font; turning it into the
two static weights the form needs takes seconds, so it is done once per process, on the
Latin and Vietnamese part of the font only, and kept in a temporary directory.
"""

from __future__ import annotations

import atexit
import binascii
import shutil
import tempfile
import threading
import unicodedata
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from io import BytesIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import fontpkg_noto_sans
from cryptography import x509
from cryptography.x509.oid import NameOID
from fontTools import subset
from fontTools.ttLib import TTFont
from fontTools.varLib import instancer
from fpdf import FPDF
from fpdf.fonts import FontFace
from pyhanko.keys.internal import (
    translate_pyca_cryptography_cert_to_asn1,
    translate_pyca_cryptography_key_to_asn1,
)
from pyhanko.pdf_utils import content, layout
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.stamp import StaticContentStamp, StaticStampStyle, TextStampStyle
from pyhanko_certvalidator.registry import SimpleCertificateStore

from domain import catalogues
from domain.resume import GROUPS
from signing.signatures import PrivateKey

__all__ = [
    "AGENCY_FIELD",
    "APPROVER_FIELD",
    "RESTRICTED_TEXT",
    "render_resume",
    "sign_pdf",
    "signed_resume",
]

APPROVER_FIELD = "PheDuyet"
AGENCY_FIELD = "CoQuan"
RESTRICTED_TEXT = "(hạn chế tiếp cận)"
APPROVED_TEXT = "Dữ liệu đã được phê duyệt"
FORM_CODE = "Mẫu 2C-BNV/2008"
TITLE = "SƠ YẾU LÝ LỊCH CÁN BỘ, CÔNG CHỨC"
VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")

Credentials = tuple[PrivateKey, x509.Certificate, Sequence[x509.Certificate]]

# -- the font ------------------------------------------------------------------------------

_VARIABLE_FONT = fontpkg_noto_sans.ROOT / "files" / "NotoSans[wdth,wght].ttf"
_FAMILY = "NotoSans"
_WEIGHTS = {"": 400, "B": 700}
# Latin with every Vietnamese letter, combining marks, punctuation, currency signs (₫),
# letter-like symbols (№), arrows and mathematical operators.
_CODE_POINTS = (
    (0x0020, 0x036F),
    (0x1E00, 0x1EFF),
    (0x2000, 0x206F),
    (0x20A0, 0x20CF),
    (0x2100, 0x21FF),
    (0x2200, 0x22FF),
    (0x25A0, 0x25FF),
)
_fonts_lock = threading.Lock()
_fonts: dict[str, Path] = {}


def _static_fonts() -> dict[str, Path]:
    """Static regular and bold instances of Noto Sans, made once per process."""
    with _fonts_lock:
        if not _fonts or not all(path.exists() for path in _fonts.values()):
            directory = Path(tempfile.mkdtemp(prefix="hoso-fonts-"))
            atexit.register(shutil.rmtree, directory, ignore_errors=True)
            variable = TTFont(_VARIABLE_FONT)
            options = subset.Options()
            options.layout_features = ["*"]
            options.name_IDs = ["*"]
            options.name_languages = ["*"]
            options.notdef_outline = True
            subsetter = subset.Subsetter(options)
            subsetter.populate(
                unicodes=[c for first, last in _CODE_POINTS for c in range(first, last + 1)]
            )
            subsetter.subset(variable)
            subsetted = BytesIO()
            variable.save(subsetted)
            for style, weight in _WEIGHTS.items():
                static = TTFont(BytesIO(subsetted.getvalue()))
                instancer.instantiateVariableFont(
                    static,
                    {"wght": weight, "wdth": 100},
                    inplace=True,
                    static=True,
                    updateFontNames=True,
                )
                path = directory / f"NotoSans-{weight}.ttf"
                static.save(path)
                _fonts[style] = path
        return dict(_fonts)


def _new_pdf(pdf: FPDF) -> FPDF:
    for style, path in _static_fonts().items():
        pdf.add_font(_FAMILY, style, path)
    pdf.set_font(_FAMILY, size=10)
    return pdf


# -- values --------------------------------------------------------------------------------


def _text(value: Any) -> str:
    return unicodedata.normalize("NFC", str(value)).strip() if value is not None else ""


def _date(value: Any) -> str:
    """dd/mm/yyyy of an ISO date text or a date; empty when there is none."""
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        value = value.date()
    if not isinstance(value, date):
        value = date.fromisoformat(str(value)[:10])
    return value.strftime("%d/%m/%Y")


def _number(value: Any) -> str:
    """A decimal the Vietnamese way: 3,33."""
    return _text(value).replace(".", ",")


def _name(load: Callable[[], Mapping[str, Any]], code: Any) -> str:
    if code is None or code == "":
        return ""
    entry = load().get(str(code))
    return entry.name if entry is not None else _text(code)


def _rank_name(code: Any) -> str:
    return _name(catalogues.ranks, code)


def _period(start: Any, end: Any) -> str:
    first, last = _date(start), _date(end)
    if not first and not last:
        return ""
    return f"{first or '…'} – {last or 'nay'}"


def _joined(*parts: str, sep: str = ", ") -> str:
    return sep.join(p for p in parts if p)


def _by(key: str) -> Callable[[Mapping[str, Any]], str]:
    return lambda entry: str(entry.get(key) or "")


GENDERS = {"male": "Nam", "female": "Nữ"}


# -- layout --------------------------------------------------------------------------------


@dataclass(frozen=True)
class _FieldPlace:
    name: str
    page: int  # counted from 0
    box: tuple[int, int, int, int]  # PDF points, origin bottom left


class _Form(FPDF):
    """An A4 page with the form's footer on every page."""

    footer_text = ""

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(_FAMILY, size=8)
        self.set_text_color(90)
        self.cell(0, 5, self.footer_text, align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, f"Trang {self.page_no()}/{{nb}}", align="R")
        self.set_text_color(0)


class _Writer:
    LINE = 5.6

    def __init__(self, pdf: _Form, show_restricted: bool) -> None:
        self.pdf = pdf
        self.show_restricted = show_restricted
        self.number = 0

    def hidden(self, group: str) -> bool:
        return not self.show_restricted and GROUPS[group].restricted > 0

    def item(
        self, *parts: tuple[str, str], group: str | None = None, numbered: bool = True
    ) -> None:
        """One numbered line of the form: labels in regular type, values in bold."""
        pdf = self.pdf
        if numbered:
            self.number += 1
            prefix = f"{self.number}) "
        else:
            prefix = "    "
        pdf.set_x(pdf.l_margin)
        hide = group is not None and self.hidden(group)
        for index, (label, value) in enumerate(parts):
            if index > 0 and (hide or not value):
                continue
            pdf.set_font(_FAMILY, size=10)
            pdf.write(self.LINE, (prefix if index == 0 else "; ") + label + ": ")
            if hide:
                pdf.write(self.LINE, RESTRICTED_TEXT)
                continue
            pdf.set_font(_FAMILY, "B", 10)
            pdf.write(self.LINE, value or "—")
        pdf.set_font(_FAMILY, size=10)
        pdf.ln(self.LINE)

    def entries(self, label: str, group: str, lines: list[str]) -> None:
        """A numbered item followed by one line per entry (rewards, discipline)."""
        if self.hidden(group):
            self.item((label, ""), group=group)
            return
        if not lines:
            self.item((label, "Không"))
            return
        pdf = self.pdf
        self.number += 1
        pdf.set_x(pdf.l_margin)
        pdf.write(self.LINE, f"{self.number}) {label}:")
        pdf.ln(self.LINE)
        pdf.set_font(_FAMILY, "B", 10)
        for line in lines:
            pdf.set_x(pdf.l_margin + 8)
            pdf.multi_cell(pdf.epw - 8, self.LINE, "– " + line, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(_FAMILY, size=10)

    def heading(self, text: str) -> None:
        pdf = self.pdf
        self.number += 1
        if pdf.will_page_break(6 * self.LINE + 10):
            pdf.add_page()
        pdf.ln(2)
        pdf.set_font(_FAMILY, "B", 10.5)
        pdf.multi_cell(0, self.LINE, f"{self.number}) {text}", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(_FAMILY, size=10)
        pdf.ln(1)

    def table(
        self,
        title: str,
        group: str,
        columns: Sequence[tuple[str, float]],
        rows: Iterable[Sequence[str]],
    ) -> None:
        self.heading(title)
        pdf = self.pdf
        if self.hidden(group):
            pdf.cell(0, self.LINE, RESTRICTED_TEXT, new_x="LMARGIN", new_y="NEXT")
            return
        body = [[cell or "" for cell in row] for row in rows]
        if not body:
            pdf.cell(0, self.LINE, "Không có.", new_x="LMARGIN", new_y="NEXT")
            return
        with pdf.table(
            col_widths=tuple(width for _, width in columns),
            width=pdf.epw,
            align="LEFT",
            text_align="LEFT",
            line_height=5,
            padding=1,
            headings_style=FontFace(emphasis="BOLD", fill_color=(235, 235, 235)),
        ) as table:
            table.row([label for label, _ in columns])
            for cells in body:
                table.row(cells)


def render_resume(
    view: Mapping[str, Any],
    *,
    unit_name: str,
    printed_on: date,
    show_restricted: bool = True,
    approval_reference: str | None = None,
) -> bytes:
    """The approved record of ``view`` (a profile view) as Mẫu 2C-BNV/2008, in PDF.

    Only ``view["record"]`` is printed, with ``view["version"]``; the pending change
    sets of the view never are. With ``show_restricted`` False, the values of groups
    with an access restriction are replaced by "(hạn chế tiếp cận)". The last page has
    two empty signature fields, ``APPROVER_FIELD`` and ``AGENCY_FIELD``.
    """
    record: Mapping[str, Any] = view["record"]
    identity = record.get("identity") or {}
    full_name = _text(identity.get("full_name"))
    version = view.get("version")

    pdf = _Form(orientation="P", unit="mm", format="A4")
    _new_pdf(pdf)
    pdf.set_margins(left=20, top=15, right=15)
    pdf.set_auto_page_break(auto=True, margin=18)
    pdf.set_lang("vi")
    pdf.set_title(f"Sơ yếu lý lịch – {full_name}")
    pdf.set_subject(FORM_CODE)
    pdf.set_creator("hoso")
    pdf.footer_text = f"Sơ yếu lý lịch – {full_name} – phiên bản hồ sơ {version}"
    pdf.alias_nb_pages()
    pdf.add_page()

    writer = _Writer(pdf, show_restricted)
    _header(pdf, view, unit_name=unit_name, printed_on=printed_on, reference=approval_reference)
    _personal_items(writer, record, view.get("periods") or [], unit_name=unit_name, on=printed_on)
    _tables(writer, record)
    places = _signature_block(pdf, unit_name=unit_name, printed_on=printed_on)
    return _with_signature_fields(bytes(pdf.output()), places)


def _header(
    pdf: _Form,
    view: Mapping[str, Any],
    *,
    unit_name: str,
    printed_on: date,
    reference: str | None,
) -> None:
    top = pdf.get_y()
    pdf.set_font(_FAMILY, size=9.5)
    pdf.multi_cell(110, 5, f"Cơ quan, đơn vị sử dụng CBCC: {_text(unit_name)}", new_x="LMARGIN")
    pdf.multi_cell(110, 5, f"Số hiệu hồ sơ: {_text(view.get('profile_id'))}", new_x="LMARGIN")
    below_left = pdf.get_y()
    pdf.set_xy(pdf.w - pdf.r_margin - 50, top)
    pdf.set_font(_FAMILY, "B", 10)
    pdf.cell(50, 5, FORM_CODE, align="R")
    pdf.set_y(max(below_left, top + 6) + 3)

    # The photo box of the form, and the title beside it.
    photo_top = pdf.get_y()
    pdf.set_draw_color(120)
    pdf.rect(pdf.l_margin, photo_top, 30, 40)
    pdf.set_draw_color(0)
    pdf.set_font(_FAMILY, size=8)
    pdf.set_xy(pdf.l_margin, photo_top + 16)
    pdf.multi_cell(30, 4, "Ảnh màu\n(4 × 6 cm)", align="C")
    left = pdf.l_margin + 35
    pdf.set_xy(left, photo_top + 6)
    pdf.set_font(_FAMILY, "B", 15)
    pdf.multi_cell(pdf.w - pdf.r_margin - left, 8, TITLE, align="C", new_x="LEFT", new_y="NEXT")
    pdf.set_xy(left, pdf.get_y() + 2)
    pdf.set_font(_FAMILY, size=9.5)
    approved = f"{APPROVED_TEXT} – phiên bản hồ sơ: {view.get('version')}"
    if reference:
        approved += f" – căn cứ: {_text(reference)}"
    pdf.multi_cell(pdf.w - pdf.r_margin - left, 5, approved, align="C", new_x="LEFT", new_y="NEXT")
    pdf.multi_cell(
        pdf.w - pdf.r_margin - left,
        5,
        f"In ngày {_date(printed_on)}",
        align="C",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    pdf.set_y(max(pdf.get_y(), photo_top + 40) + 4)
    pdf.set_font(_FAMILY, size=10)


def _personal_items(
    w: _Writer,
    record: Mapping[str, Any],
    periods: Sequence[Mapping[str, Any]],
    *,
    unit_name: str,
    on: date,
) -> None:
    identity = record.get("identity") or {}
    employment = record.get("employment") or {}
    education = record.get("education") or {}
    membership = record.get("membership") or {}
    health = record.get("health") or {}
    citizen = record.get("citizen") or {}

    w.item(("Họ và tên khai sinh (viết chữ in hoa)", _text(identity.get("full_name")).upper()))
    w.item(("Tên gọi khác", _text(identity.get("other_names"))))
    w.item(
        ("Sinh ngày", _date(identity.get("birth_date"))),
        ("Giới tính (nam, nữ)", GENDERS.get(str(identity.get("gender")), "")),
    )
    w.item(("Nơi sinh", _text(identity.get("birth_place"))))
    w.item(("Quê quán", _text(identity.get("hometown"))))
    w.item(
        ("Dân tộc", _name(catalogues.ethnicities, identity.get("ethnicity"))),
        ("Tôn giáo", _name(catalogues.religions, identity.get("religion"))),
    )
    w.item(("Nơi đăng ký hộ khẩu thường trú", _text(identity.get("permanent_address"))))
    w.item(("Nơi ở hiện nay", _text(identity.get("current_address"))))
    recruited = next(
        (p.get("start_date") for p in periods if p.get("origin") in ("recruitment", "contract")),
        None,
    )
    w.item(
        ("Ngày tuyển dụng", _date(recruited)),
        ("Ngày về cơ quan, đơn vị hiện tại", _date(employment.get("start_date"))),
    )
    w.item(
        ("Cơ quan, đơn vị", _joined(_text(employment.get("department")), _text(unit_name))),
    )
    w.item(
        ("Chức vụ (chức danh) hiện tại", _text(employment.get("position"))),
        ("Vị trí việc làm (mã)", _text(employment.get("job_position_code"))),
    )
    w.item(
        ("Ngạch công chức (viên chức)", _rank_name(employment.get("rank_code"))),
        ("Mã ngạch", _text(employment.get("rank_code"))),
    )
    w.item(
        ("Bậc lương", _text(employment.get("salary_step"))),
        ("Hệ số lương", _number(employment.get("coefficient"))),
        ("Ngày hưởng", _date(_salary_since(record, employment))),
        numbered=False,
    )
    allowances = [
        f"{_text(a.get('kind'))} {_number(a.get('rate'))}"
        for a in record.get("allowances") or []
        if _date_value(a.get("from_date")) <= on
        and (not a.get("to_date") or _date_value(a.get("to_date")) >= on)
    ]
    w.item(("Phụ cấp", "; ".join(allowances)), numbered=False)

    w.item(("Trình độ giáo dục phổ thông", _text(education.get("general_education"))))
    w.item(
        (
            "Trình độ chuyên môn cao nhất",
            _joined(
                _name(catalogues.education_levels, education.get("professional_level")),
                _text(education.get("major")),
            ),
        ),
        ("Học hàm", _text(education.get("academic_title"))),
        numbered=False,
    )
    w.item(
        (
            "Lý luận chính trị",
            _name(catalogues.political_theory_levels, education.get("political_theory")),
        ),
        (
            "Quản lý nhà nước",
            _name(catalogues.state_management_levels, education.get("state_management")),
        ),
        numbered=False,
    )
    w.item(
        ("Ngoại ngữ", _text(education.get("foreign_languages"))),
        ("Tin học", _text(education.get("it_skills"))),
        numbered=False,
    )

    w.item(
        ("Ngày vào Đảng Cộng sản Việt Nam", _date(membership.get("party_join_date"))),
        ("Ngày chính thức", _date(membership.get("party_official_date"))),
        group="membership",
    )
    trade_union = membership.get("trade_union")
    union = "" if trade_union is None else ("Đoàn viên" if trade_union else "Không")
    w.item(
        ("Ngày vào Đoàn TNCS Hồ Chí Minh", _date(membership.get("youth_union_join_date"))),
        ("Công đoàn", union),
        group="membership",
    )
    w.entries(
        "Khen thưởng",
        "rewards",
        [
            _decision_line(r.get("awarded_on"), r.get("form"), r.get("decision_number"), r)
            for r in sorted(record.get("rewards") or [], key=_by("awarded_on"))
        ],
    )
    w.entries(
        "Kỷ luật",
        "discipline",
        [
            _decision_line(d.get("decided_on"), d.get("form"), d.get("decision_number"), d)
            for d in sorted(record.get("discipline") or [], key=_by("decided_on"))
        ],
    )
    w.item(
        ("Tình trạng sức khỏe", _text(health.get("health_status"))),
        ("Chiều cao", _unit(health.get("height_cm"), "cm")),
        ("Cân nặng", _unit(health.get("weight_kg"), "kg")),
        ("Nhóm máu", _text(health.get("blood_type"))),
        group="health",
    )
    w.item(
        ("Số định danh cá nhân", _text(citizen.get("citizen_id"))),
        ("Ngày cấp", _date(citizen.get("issued_on"))),
        ("Nơi cấp", _text(citizen.get("issued_by"))),
        group="citizen",
    )


def _date_value(value: Any) -> date:
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])


def _unit(value: Any, unit: str) -> str:
    return f"{value} {unit}" if value not in (None, "") else ""


def _salary_since(record: Mapping[str, Any], employment: Mapping[str, Any]) -> Any:
    """When the current coefficient started: the latest salary entry that has it."""
    current = _text(employment.get("coefficient"))
    entries = sorted(record.get("salary_history") or [], key=_by("from_date"), reverse=True)
    for entry in entries:
        if _text(entry.get("coefficient")) == current:
            return entry.get("from_date")
    return None


def _decision_line(on: Any, form: Any, number: Any, entry: Mapping[str, Any]) -> str:
    line = _joined(_date(on), _text(form), sep=": ")
    if number:
        line += f" (Quyết định số {_text(number)})"
    if entry.get("reason"):
        line += f" – {_text(entry.get('reason'))}"
    return line


def _tables(w: _Writer, record: Mapping[str, Any]) -> None:
    w.table(
        "ĐÀO TẠO, BỒI DƯỠNG VỀ CHUYÊN MÔN, NGHIỆP VỤ, LÝ LUẬN CHÍNH TRỊ, NGOẠI NGỮ, TIN HỌC",
        "training",
        (
            ("Tên trường", 45),
            ("Chuyên ngành đào tạo, bồi dưỡng", 40),
            ("Từ ngày – đến ngày", 32),
            ("Hình thức đào tạo", 24),
            ("Văn bằng, chứng chỉ, trình độ", 34),
        ),
        (
            (
                _text(t.get("institution")),
                _text(t.get("major")),
                _period(t.get("from_date"), t.get("to_date")),
                _text(t.get("mode")),
                _text(t.get("qualification")),
            )
            for t in sorted(record.get("training") or [], key=_by("from_date"))
        ),
    )
    w.table(
        "TÓM TẮT QUÁ TRÌNH CÔNG TÁC",
        "work_history",
        (
            ("Từ ngày – đến ngày", 40),
            ("Chức danh, chức vụ, đơn vị công tác (đảng, chính quyền, đoàn thể)", 135),
        ),
        (
            (_period(h.get("from_date"), h.get("to_date")), _text(h.get("description")))
            for h in sorted(record.get("work_history") or [], key=_by("from_date"))
        ),
    )
    w.table(
        "QUAN HỆ GIA ĐÌNH",
        "family_relations",
        (
            ("Mối quan hệ", 28),
            ("Họ và tên", 45),
            ("Năm sinh", 20),
            ("Quê quán, nghề nghiệp, chức danh, chức vụ, đơn vị công tác, nơi ở", 82),
        ),
        (
            (
                _text(f.get("relation")),
                _text(f.get("full_name")),
                _text(f.get("birth_year")),
                _text(f.get("details")),
            )
            for f in record.get("family_relations") or []
        ),
    )
    w.table(
        "DIỄN BIẾN QUÁ TRÌNH LƯƠNG CỦA CÁN BỘ, CÔNG CHỨC",
        "salary_history",
        (("Từ ngày", 30), ("Ngạch (mã ngạch)", 85), ("Bậc", 20), ("Hệ số lương", 40)),
        (
            (
                _date(s.get("from_date")),
                _joined(
                    _rank_name(s.get("rank_code")),
                    f"({_text(s.get('rank_code'))})" if s.get("rank_code") else "",
                    sep=" ",
                ),
                _text(s.get("salary_step")),
                _number(s.get("coefficient")),
            )
            for s in sorted(record.get("salary_history") or [], key=_by("from_date"))
        ),
    )
    w.table(
        "NHẬN XÉT, ĐÁNH GIÁ CỦA CƠ QUAN, ĐƠN VỊ QUẢN LÝ VÀ SỬ DỤNG CÁN BỘ, CÔNG CHỨC",
        "annual_evaluation",
        (("Năm", 30), ("Kết quả đánh giá, xếp loại", 145)),
        (
            (_text(e.get("year")), _text(e.get("rating")))
            for e in sorted(record.get("annual_evaluation") or [], key=_by("year"))
        ),
    )


_BOX_WIDTH, _BOX_HEIGHT = 78.0, 28.0


def _signature_block(pdf: _Form, *, unit_name: str, printed_on: date) -> list[_FieldPlace]:
    """Two signature places side by side: the approver's and the agency's."""
    if pdf.will_page_break(_BOX_HEIGHT + 24):
        pdf.add_page()
    pdf.ln(6)
    top = pdf.get_y()
    left_x = pdf.l_margin
    right_x = pdf.w - pdf.r_margin - _BOX_WIDTH
    places = []
    for x, field, lines in (
        (left_x, APPROVER_FIELD, ("", "NGƯỜI PHÊ DUYỆT", "(ký số)")),
        (
            right_x,
            AGENCY_FIELD,
            (
                f"Ngày {_date(printed_on)}",
                "THỦ TRƯỞNG CƠ QUAN, ĐƠN VỊ",
                f"(ký số của {_text(unit_name)})",
            ),
        ),
    ):
        pdf.set_xy(x, top)
        for index, line in enumerate(lines):
            pdf.set_font(_FAMILY, "B" if index == 1 else "", 10 if index == 1 else 9)
            pdf.set_x(x)
            pdf.multi_cell(_BOX_WIDTH, 5, line, align="C", new_x="LEFT", new_y="NEXT")
        box_top = top + 17
        pdf.set_draw_color(160)
        pdf.set_line_width(0.2)
        pdf.rect(x, box_top, _BOX_WIDTH, _BOX_HEIGHT)
        pdf.set_draw_color(0)
        places.append(_FieldPlace(field, pdf.page - 1, _points(pdf, x, box_top)))
    pdf.set_y(top + 17 + _BOX_HEIGHT + 2)
    return places


def _points(pdf: FPDF, x: float, y: float) -> tuple[int, int, int, int]:
    k = pdf.k
    return (
        round(x * k),
        round((pdf.h - y - _BOX_HEIGHT) * k),
        round((x + _BOX_WIDTH) * k),
        round((pdf.h - y) * k),
    )


def _with_signature_fields(pdf: bytes, places: Sequence[_FieldPlace]) -> bytes:
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    for place in places:
        fields.append_signature_field(
            writer,
            fields.SigFieldSpec(place.name, on_page=place.page, box=place.box),
        )
    out = BytesIO()
    writer.write(out)
    return out.getvalue()


# -- signing -------------------------------------------------------------------------------

_TS_FORMAT = "%Y-%m-%dT%H:%M:%S%z"


class _PdfPage(content.PdfContent):
    """The first page of a PDF held in memory, drawn as a form XObject."""

    def __init__(self, pdf: bytes) -> None:
        super().__init__()
        self._pdf = pdf

    def render(self) -> bytes:
        writer = self._ensure_writer
        xobject = writer.import_page_as_xobject(PdfFileReader(BytesIO(self._pdf)), page_ix=0)
        name = b"/Stamp" + binascii.hexlify(uuid.uuid4().bytes)
        self.resources.xobject[name.decode("ascii")] = xobject
        x1, y1, x2, y2 = xobject.get_object()["/BBox"]
        self.box = layout.BoxConstraints(width=abs(x1 - x2), height=abs(y1 - y2))
        return name + b" Do"


@dataclass(frozen=True)
class _StampStyle(TextStampStyle):
    """The visible signature: who signed, when, why and where, set in Noto Sans.

    A text stamp style so that the signing time comes in ``text_params``; the stamp
    itself is a small PDF page drawn with the embedded font."""

    signer_name: str = ""
    reason: str = ""
    location: str = ""
    timestamp_format: str = _TS_FORMAT

    def create_stamp(  # type: ignore[override]
        self,
        writer: BasePdfFileWriter,
        box: layout.BoxConstraints,
        text_params: dict[str, Any],
    ) -> StaticContentStamp:
        signed_at = datetime.strptime(text_params["ts"], _TS_FORMAT).astimezone(VIETNAM)
        page = _stamp_page(
            box.width,
            box.height,
            [
                ("Ký số bởi", self.signer_name),
                ("Thời gian", signed_at.strftime("%d/%m/%Y %H:%M:%S (GMT+7)")),
                ("Lý do", self.reason),
                ("Nơi ký", self.location),
            ],
        )
        style = StaticStampStyle(
            background=_PdfPage(page),
            background_opacity=1.0,
            border_width=0,
            background_layout=layout.SimpleBoxLayoutRule(
                x_align=layout.AxisAlignment.ALIGN_MID,
                y_align=layout.AxisAlignment.ALIGN_MID,
                margins=layout.Margins(),
            ),
        )
        return StaticContentStamp(writer=writer, style=style, box=box)


def _stamp_page(width: float, height: float, lines: Sequence[tuple[str, str]]) -> bytes:
    pdf = FPDF(unit="pt", format=(width, height))
    _new_pdf(pdf)
    pdf.set_margins(4, 4, 4)
    pdf.set_auto_page_break(False)
    pdf.add_page()
    pdf.set_text_color(0, 51, 153)
    size = 8.5
    pdf.set_y(4)
    for label, value in lines:
        pdf.set_x(4)
        pdf.set_font(_FAMILY, size=size)
        pdf.write(size * 1.3, f"{label}: ")
        pdf.set_font(_FAMILY, "B", size)
        pdf.write(size * 1.3, _text(value))
        pdf.ln(size * 1.35)
    return bytes(pdf.output())


def sign_pdf(
    pdf: bytes,
    *,
    key: PrivateKey,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate],
    field_name: str,
    reason: str,
    location: str,
    signer_name: str,
) -> bytes:
    """``pdf`` with one more PAdES signature, appended as an incremental update.

    The signature goes into the field ``field_name``: an empty field of the document,
    which then shows who signed and when, or a new invisible field."""
    signer = signers.SimpleSigner(
        signing_cert=translate_pyca_cryptography_cert_to_asn1(certificate),
        signing_key=translate_pyca_cryptography_key_to_asn1(key),
        cert_registry=SimpleCertificateStore.from_certs(
            [translate_pyca_cryptography_cert_to_asn1(c) for c in chain]
        ),
    )
    metadata = signers.PdfSignatureMetadata(
        field_name=field_name,
        md_algorithm="sha256",
        subfilter=fields.SigSeedSubFilter.PADES,
        reason=reason,
        location=location,
        name=signer_name,
    )
    style = _StampStyle(signer_name=signer_name, reason=reason, location=location)
    writer = IncrementalPdfFileWriter(BytesIO(pdf))
    out = signers.PdfSigner(metadata, signer=signer, stamp_style=style).sign_pdf(
        writer, output=BytesIO()
    )
    return bytes(out.getvalue())


def _common_name(certificate: x509.Certificate) -> str:
    names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(names[0].value) if names else certificate.subject.rfc4514_string()


def signed_resume(
    view: Mapping[str, Any],
    *,
    approver: Credentials,
    agency: Credentials,
    unit_name: str,
    printed_on: date,
    show_restricted: bool = True,
    approval_reference: str | None = None,
) -> bytes:
    """The résumé of ``view`` signed by the approver, then by the agency."""
    pdf = render_resume(
        view,
        unit_name=unit_name,
        printed_on=printed_on,
        show_restricted=show_restricted,
        approval_reference=approval_reference,
    )
    for (key, certificate, chain), field_name, reason in (
        (approver, APPROVER_FIELD, "Phê duyệt sơ yếu lý lịch"),
        (agency, AGENCY_FIELD, "Xác nhận của cơ quan, đơn vị"),
    ):
        pdf = sign_pdf(
            pdf,
            key=key,
            certificate=certificate,
            chain=chain,
            field_name=field_name,
            reason=reason,
            location=_text(unit_name),
            signer_name=_common_name(certificate),
        )
    return pdf
