"""What the record forms share: reading dates and uploads from a posted form, the store
of supporting documents, and the domain's refusals as Vietnamese messages placed next to
the field at fault."""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import date
from typing import Any

from fastapi import Request
from starlette.datastructures import FormData, UploadFile

from api.deps import services
from api.documents import DocumentRejected, DocumentStore
from api.errors import problem_of
from api.web.record_view import vn_date
from domain.errors import DomainError, InvalidInput
from domain.resume import field_label
from domain.values import Decision, Document

_store_lock = threading.Lock()


def document_store(request: Request) -> DocumentStore:
    """The application's store of supporting documents, on the ledger's database and
    encrypted with the ledger's cipher when it has one."""
    with _store_lock:
        store: DocumentStore | None = getattr(request.app.state, "documents", None)
        if store is None:
            svc = services(request)
            store = DocumentStore(svc.reader, svc.ledger.mapper.cipher)
            request.app.state.documents = store
        return store


def text(form: FormData, name: str, limit: int = 1000) -> str:
    value = form.get(name)
    return value.strip()[:limit] if isinstance(value, str) else ""


def date_field(form: FormData, name: str, errors: dict[str, str], *, required: bool) -> date | None:
    value = text(form, name, 20)
    if not value:
        if required:
            errors[name] = "Vui lòng nhập ngày (ngày/tháng/năm)."
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        errors[name] = "Ngày không hợp lệ."
        return None


async def upload(form: FormData, name: str, store: DocumentStore) -> tuple[bytes, str] | None:
    """The uploaded file of a field, read up to one byte over the limit (so an oversized
    file is refused without reading it whole); None when no file was chosen."""
    value = form.get(name)
    if not isinstance(value, UploadFile) or not value.filename:
        return None
    data = await value.read(store.max_bytes + 1)
    return data, value.filename


def check_upload(
    store: DocumentStore, found: tuple[bytes, str] | None, name: str, errors: dict[str, str]
) -> Document | None:
    if found is None:
        return None
    try:
        return store.check(*found)
    except DocumentRejected as exc:
        errors[name] = exc.vietnamese
        return None


def decision_of(
    form: FormData, errors: dict[str, str], document: Document | None
) -> Decision | None:
    number = text(form, "decision_number", 100)
    signed_on = date_field(form, "decision_signed_on", errors, required=True)
    if not number:
        errors["decision_number"] = "Vui lòng nhập số quyết định."
    if not number or signed_on is None:
        return None
    return Decision(number, signed_on, text(form, "decision_issuer", 300), document)


# -- the domain's refusals in Vietnamese --------------------------------------------------------

# English wordings of the domain and their Vietnamese, by pattern.
_MESSAGES: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"give the reason"), lambda m: "Vui lòng nêu lý do."),
    (
        re.compile(r"a change set changes at least one field"),
        lambda m: "Vui lòng chọn ít nhất một trường cần thay đổi.",
    ),
    (
        re.compile(r"carries a scanned supporting document"),
        lambda m: "Thay đổi do cá nhân đề nghị phải kèm bản quét tài liệu chứng minh.",
    ),
    (re.compile(r"is not a date"), lambda m: "Ngày không hợp lệ (ngày/tháng/năm)."),
    (re.compile(r"is not a whole number"), lambda m: "Phải là số nguyên."),
    (re.compile(r"is not a number"), lambda m: "Phải là một số."),
    (re.compile(r"exactly 12 digits"), lambda m: "Số định danh cá nhân gồm đúng 12 chữ số."),
    (re.compile(r"gender is"), lambda m: "Giới tính là Nam hoặc Nữ."),
    (re.compile(r"unknown (.+) code"), lambda m: "Mã không có trong danh mục."),
    (re.compile(r"unknown rank|no rank"), lambda m: "Mã ngạch không có trong danh mục."),
    (re.compile(r"expected true or false"), lambda m: "Chọn Có hoặc Không."),
    (re.compile(r"required: (.+)"), lambda m: "Thiếu thông tin bắt buộc."),
    (re.compile(r"before (the )?birth|born"), lambda m: "Ngày hiệu lực không thể trước ngày sinh."),
    (re.compile(r"in the future"), lambda m: "Ngày không được ở tương lai."),
    (
        re.compile(r"before the start of the current employment period"),
        lambda m: "Ngày hiệu lực trước ngày bắt đầu giai đoạn công tác hiện tại.",
    ),
    (
        re.compile(r"changes only through a move or transfer"),
        lambda m: "Trường này chỉ thay đổi qua quyết định điều động, tiếp nhận.",
    ),
    (
        re.compile(r"cannot ([a-z ]+): the person is (\w+)"),
        lambda m: "Không thể thực hiện với hồ sơ ở trạng thái hiện tại.",
    ),
    (re.compile(r"already works in that unit"), lambda m: "Người này đã công tác tại đơn vị đó."),
    (
        re.compile(r"was released to (\S+), not to (\S+)"),
        lambda m: f"Hồ sơ được điều động đến {m[1]}, không phải {m[2]}.",
    ),
    (re.compile(r"no unit with code|no unit "), lambda m: "Không có đơn vị với mã này."),
    (
        re.compile(r"name the new department and position"),
        lambda m: "Vui lòng nhập phòng, ban và chức vụ mới.",
    ),
    (re.compile(r"name where the person goes"), lambda m: "Vui lòng nhập nơi chuyển đến."),
    (re.compile(r"name the host agency"), lambda m: "Vui lòng nhập cơ quan nhận biệt phái."),
    (
        re.compile(r"the secondment ends (after|before)"),
        lambda m: "Ngày kết thúc biệt phái không hợp lệ.",
    ),
    (re.compile(r"recruit|at least 15|aged"), lambda m: "Tuổi tuyển dụng không hợp lệ."),
    (
        re.compile(r"was changed meanwhile"),
        lambda m: "Hồ sơ vừa được người khác cập nhật; vui lòng tải lại trang và thử lại.",
    ),
    (re.compile(r"merged|dissolved"), lambda m: "Đơn vị đã được sáp nhập hoặc giải thể."),
]


def vietnamese(exc: DomainError) -> str:
    for pattern, words in _MESSAGES:
        found = pattern.search(exc.message)
        if found:
            return words(found)
    return problem_of(exc.code).detail


def error_for(exc: DomainError, fields: dict[str, str] | None = None) -> dict[str, str]:
    """The refusal as ``{form field: message}``: ``fields`` maps the domain's field names
    (``reason``, ``identity.birth_date``…) to the form's; anything else goes to ``_form``."""
    message = vietnamese(exc)
    where = exc.field if isinstance(exc, InvalidInput) else None
    if where and fields:
        for prefix, name in fields.items():
            if where == prefix or where.startswith(prefix + "."):
                return {name: message}
    if where:
        return {"_form": f"{field_label(where)}: {message}"}
    return {"_form": message}


def decision_text(decision: Any) -> str:
    """'số 12/QĐ-SNV ngày 02/01/2024' of a decision (an object or its JSON)."""
    if decision is None:
        return ""
    get = decision.get if isinstance(decision, dict) else lambda k: getattr(decision, k, None)
    issuer = get("issuer")
    return f"{get('number')} ngày {vn_date(get('signed_on'))}" + (f" ({issuer})" if issuer else "")
