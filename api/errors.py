"""Errors as RFC 9457 problem details: a stable machine ``code``, a Vietnamese ``detail``
for people, and the domain's English wording in ``detail_en`` for programs.

Every problem body is ``{type, title, status, detail, code, detail_en, instance}``, with
``field`` when one input field is at fault. Codes are the domain's own
(``domain.errors``), plus those of the HTTP layer (``forbidden``, ``unauthenticated``…).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from domain.errors import ConflictError, DomainError, InvalidInput

PROBLEM_JSON = "application/problem+json"
TYPE_PREFIX = "urn:hoso:problem:"


@dataclass(frozen=True)
class Problem:
    status: int
    title: str  # the same for every occurrence of the code
    detail: str  # what a person reads


# The Vietnamese messages, keyed by the stable code.
PROBLEMS: dict[str, Problem] = {
    "invalid_input": Problem(
        422,
        "Dữ liệu không hợp lệ",
        "Dữ liệu gửi lên không hợp lệ; vui lòng kiểm tra lại trường được chỉ ra.",
    ),
    "not_found": Problem(
        404,
        "Không tìm thấy",
        "Không tìm thấy nội dung yêu cầu, hoặc bạn không có quyền xem nội dung này.",
    ),
    "version_conflict": Problem(
        409,
        "Xung đột phiên bản",
        "Hồ sơ đã được người khác cập nhật; vui lòng tải lại và thử lại.",
    ),
    "duplicate_citizen_id": Problem(
        409, "Trùng số định danh cá nhân", "Số định danh cá nhân này đã có hồ sơ trong hệ thống."
    ),
    "duplicate_account": Problem(409, "Trùng tài khoản", "Tên tài khoản này đã được sử dụng."),
    "duplicate_unit_code": Problem(
        409, "Trùng mã đơn vị", "Mã định danh đơn vị này đã được sử dụng."
    ),
    "duplicate_certificate": Problem(
        409, "Chứng thư số đã đăng ký", "Chứng thư số này đã được đăng ký trong hệ thống."
    ),
    "change_set_not_pending": Problem(
        409,
        "Đề nghị đã được xử lý",
        "Đề nghị thay đổi này đã được phê duyệt hoặc từ chối; vui lòng tải lại.",
    ),
    "transition_not_allowed": Problem(
        422,
        "Không thể thực hiện",
        "Không thể thực hiện thao tác này với hồ sơ ở trạng thái hiện tại.",
    ),
    "certificate_already_revoked": Problem(
        422, "Chứng thư số đã bị thu hồi", "Chứng thư số này đã bị thu hồi trước đó."
    ),
    "unit_not_active": Problem(
        422,
        "Đơn vị không còn hoạt động",
        "Đơn vị đã được sáp nhập hoặc giải thể; không thể thực hiện thao tác này.",
    ),
    "signature_required": Problem(
        422,
        "Cần phê duyệt bằng chữ ký số",
        "Thay đổi phải được phê duyệt bằng chữ ký số của các cấp có thẩm quyền.",
    ),
    "signature_refused": Problem(
        422,
        "Chữ ký số không được chấp nhận",
        "Chữ ký số không được chấp nhận; xem lý do trong trường reason.",
    ),
    "invalid_certificate": Problem(
        422, "Chứng thư số không hợp lệ", "Chứng thư số không hợp lệ hoặc không đọc được."
    ),
    "forbidden": Problem(
        403, "Không có quyền", "Bạn không có quyền thực hiện thao tác này đối với hồ sơ này."
    ),
    "unauthenticated": Problem(401, "Chưa đăng nhập", "Vui lòng đăng nhập để tiếp tục."),
    "method_not_allowed": Problem(
        405, "Phương thức không được hỗ trợ", "Địa chỉ này không hỗ trợ phương thức yêu cầu."
    ),
    "unavailable": Problem(
        503,
        "Dịch vụ tạm thời gián đoạn",
        "Hệ thống tạm thời không phục vụ được; vui lòng thử lại sau.",
    ),
    "internal_error": Problem(
        500, "Lỗi hệ thống", "Đã có lỗi xảy ra trong hệ thống; vui lòng thử lại sau."
    ),
    "domain_error": Problem(
        422, "Không thể thực hiện", "Yêu cầu không thể thực hiện theo quy định của hệ thống."
    ),
}
# An HTTP status raised without a code of ours gets this one.
CODE_OF_STATUS = {
    400: "invalid_input",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "version_conflict",
    422: "invalid_input",
    500: "internal_error",
    503: "unavailable",
}


class Forbidden(DomainError):
    """The caller may see the resource but not do this with it."""

    code = "forbidden"


class Unavailable(DomainError):
    """The store does not answer."""

    code = "unavailable"


def problem_of(code: str) -> Problem:
    if code in PROBLEMS:
        return PROBLEMS[code]
    if code.startswith("duplicate_"):
        return Problem(409, "Trùng dữ liệu", "Dữ liệu này đã có trong hệ thống.")
    return PROBLEMS["domain_error"]


def problem_response(
    request: Request,
    code: str,
    detail_en: str,
    *,
    status: int | None = None,
    field: str | None = None,
    detail: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    known = problem_of(code)
    if detail is None:
        detail = known.detail
        if field and code == "invalid_input":
            detail = f"{known.detail} (trường: {field})"
    body: dict[str, Any] = {
        "type": f"{TYPE_PREFIX}{code}",
        "title": known.title,
        "status": status or known.status,
        "detail": detail,
        "code": code,
        "detail_en": detail_en,
        "instance": request.url.path,
    }
    if field:
        body["field"] = field
    body.update(extra)
    return JSONResponse(body, status_code=body["status"], media_type=PROBLEM_JSON, headers=headers)


async def domain_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, DomainError)
    extra: dict[str, Any] = {}
    if isinstance(exc, ConflictError):
        extra["current_version"] = exc.current
    if exc.code == "signature_refused":
        extra["reason"] = exc.message
    return problem_response(
        request,
        exc.code,
        exc.message,
        field=exc.field if isinstance(exc, InvalidInput) else None,
        **extra,
    )


async def validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = []
    for error in exc.errors():
        location = [str(part) for part in error.get("loc", ())]
        if location and location[0] in ("body", "query", "path", "header", "cookie"):
            location = location[1:]
        errors.append({"field": ".".join(location), "message": error.get("msg", "")})
    first = errors[0] if errors else {"field": "", "message": "invalid request"}
    return problem_response(
        request,
        "invalid_input",
        "; ".join(f"{e['field']}: {e['message']}" if e["field"] else e["message"] for e in errors)
        or first["message"],
        field=first["field"] or None,
        errors=errors,
    )


async def http_error(request: Request, exc: Exception) -> JSONResponse:
    """An HTTP error raised by the framework or by authentication; a ``detail`` mapping
    may carry ``code``, a Vietnamese ``message``, ``detail_en`` and further members."""
    assert isinstance(exc, StarletteHTTPException)
    code = CODE_OF_STATUS.get(exc.status_code, "domain_error")
    detail_en = str(exc.detail)
    message: str | None = None
    extra: dict[str, Any] = {}
    if isinstance(exc.detail, dict):
        extra = dict(exc.detail)
        code = str(extra.pop("code", code))
        message = extra.pop("message", None)
        detail_en = str(extra.pop("detail_en", "") or extra.pop("detail", "") or code)
        extra.pop("detail", None)
    field = extra.pop("field", None)
    reserved = {"type", "title", "status", "instance"}
    return problem_response(
        request,
        code,
        detail_en,
        status=exc.status_code,
        field=field,
        detail=message,
        headers=dict(exc.headers) if exc.headers else None,
        **{k: v for k, v in extra.items() if k not in reserved},
    )


async def internal_error(request: Request, exc: Exception) -> JSONResponse:
    return problem_response(request, "internal_error", "internal error")


def _nul_in(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_nul_in(k) or _nul_in(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_nul_in(v) for v in value)
    return False


async def printable_input(request: Request) -> None:
    """Text holds no NUL character (PostgreSQL cannot store one, and no person types one):
    a path, a query or a JSON body with one is invalid input, refused before anything is
    looked up or recorded. In JSON the character can only be written ``\\u0000``."""
    for name, value in request.path_params.items():
        if isinstance(value, str) and "\x00" in value:
            raise InvalidInput("text may not contain the NUL character", name)
    for name, value in request.query_params.multi_items():
        if "\x00" in name or "\x00" in value:
            raise InvalidInput("text may not contain the NUL character", name.replace("\x00", ""))
    if request.headers.get("content-type", "").startswith("application/json"):
        body = await request.body()
        if b"\\u0000" in body:
            try:
                found = _nul_in(json.loads(body))
            except ValueError:
                return  # not JSON: validation answers that
            if found:
                raise InvalidInput("text may not contain the NUL character")


def install(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(Exception, internal_error)
