"""What every page shares: the templates, who is signed in, rendering with the layout's
context (principal, CSRF token, navigation, flash message, field errors), redirects, and
error pages in HTML for page requests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, unquote, urlencode
from zoneinfo import ZoneInfo

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.auth import CSRF_FIELD, Caller, authenticated_caller, onboarding_due
from api.errors import problem_of
from api.policy import Action, Principal, decide
from api.web import labels
from domain.errors import DomainError

TEMPLATES_DIR = Path(__file__).parent / "templates"
LOGIN_PATH = "/login"
PASSWORD_PATH = "/password"
TOTP_PATH = "/totp"
HOME_PATH = "/dashboard"
FLASH_COOKIE = "hoso_flash"
# Paths whose errors stay problem documents (programs read them), whatever they accept.
API_PREFIXES = ("/api", "/static", "/docs", "/redoc", "/openapi", "/metrics")

HANOI = ZoneInfo("Asia/Ho_Chi_Minh")

templates = Jinja2Templates(directory=TEMPLATES_DIR)


def vn_date(value: date | datetime | None) -> str:
    """A date the Vietnamese way: 14/03/1985."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        if value.tzinfo is not None:
            value = value.astimezone(HANOI)
        return value.strftime("%d/%m/%Y %H:%M")
    return value.strftime("%d/%m/%Y")


def vn_number(value: int | float | Decimal | None, digits: int = 0) -> str:
    """A number the Vietnamese way: 1.234,56."""
    if value is None:
        return ""
    text = f"{value:,.{digits}f}"
    return text.replace(",", " ").replace(".", ",").replace(" ", ".")


templates.env.filters.update(
    vn_date=vn_date,
    vn_number=vn_number,
    category=lambda v: labels.label(labels.CATEGORIES, v),
    gender=lambda v: labels.label(labels.GENDERS, v),
    status=lambda v: labels.label(labels.STATUSES, v),
    role=lambda v: labels.label(labels.ROLES, v),
    unit_kind=lambda v: labels.label(labels.UNIT_KINDS, v),
    deadline_action=lambda v: labels.label(labels.DEADLINE_ACTIONS, v),
    event_type=lambda v: labels.label(labels.EVENT_TYPES, v),
)
templates.env.globals.update(CSRF_FIELD=CSRF_FIELD)


# -- navigation -----------------------------------------------------------------------------


@dataclass(frozen=True)
class NavItem:
    label: str
    href: str
    order: int
    allowed: Callable[[Principal], bool]
    # A count shown next to the label (unread notices…), None or 0 for none.
    badge: Callable[[Request, Principal], int | None] | None = None


def may(action: Action) -> Callable[[Principal], bool]:
    """Whether the principal may take the action anywhere in its scope."""
    return lambda principal: bool(decide(principal, action))


def navigation(request: Request, principal: Principal | None) -> list[NavItem]:
    if principal is None:
        return []
    items: list[NavItem] = getattr(request.app.state, "web_nav", [])
    return [item for item in items if item.allowed(principal)]


# -- who is signed in ---------------------------------------------------------------------------


class Redirect(Exception):
    """Answer with a redirect (raised from dependencies)."""

    def __init__(self, url: str, flash: str | None = None) -> None:
        super().__init__(url)
        self.url = url
        self.flash = flash


def local_path(target: str | None, default: str = HOME_PATH) -> str:
    """A path on this site to go to (never another site: ``//host`` and ``/\\host`` too)."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    return target


def login_url(request: Request) -> str:
    back = request.url.path
    if request.url.query:
        back += "?" + request.url.query
    if request.method != "GET" or request.headers.get("HX-Request"):
        back = request.headers.get("HX-Current-URL") or HOME_PATH
        back = local_path("/" + back.split("/", 3)[-1] if "://" in back else back)
    return f"{LOGIN_PATH}?{urlencode({'next': back})}"


async def _caller(request: Request, *, onboarding: bool) -> Caller:
    try:
        caller = await authenticated_caller(request)
    except HTTPException as exc:
        if exc.status_code == 401:
            raise Redirect(login_url(request)) from None
        raise
    due = onboarding_due(caller)
    if not onboarding and due == "password_change_required":
        raise Redirect(PASSWORD_PATH, "Vui lòng đổi mật khẩu tạm thời trước khi tiếp tục.")
    if not onboarding and due == "totp_enrolment_required":
        raise Redirect(TOTP_PATH, "Vui lòng đăng ký xác thực hai lớp trước khi tiếp tục.")
    return caller


async def signed_in(request: Request) -> Caller:
    """The signed-in caller of a page (CSRF checked on POST); a visitor is sent to the
    login page, an account with a temporary password to the password page."""
    return await _caller(request, onboarding=False)


async def signed_in_onboarding(request: Request) -> Caller:
    """As ``signed_in``, for the pages a caller uses before onboarding is complete."""
    return await _caller(request, onboarding=True)


SignedIn = Annotated[Caller, Depends(signed_in)]
Onboarding = Annotated[Caller, Depends(signed_in_onboarding)]


async def current_visitor(request: Request) -> Caller | None:
    """The signed-in caller, or None (pages open to visitors: the login page)."""
    try:
        return await authenticated_caller(request)
    except HTTPException:
        return None


# -- rendering ---------------------------------------------------------------------------------


def render(
    request: Request,
    name: str,
    caller: Caller | None,
    context: dict[str, Any] | None = None,
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """A template with the layout's context; the flash message is shown once."""
    flash = request.cookies.get(FLASH_COOKIE)
    principal = caller.principal if caller else None
    values: dict[str, Any] = {
        "caller": caller,
        "principal": principal,
        "csrf_token": (caller.credential.csrf_token or "") if caller else "",
        "nav": navigation(request, principal),
        "flash": unquote(flash)[:500] if flash else None,
        "errors": errors or {},
        "current_path": request.url.path,
        "today": caller.today if caller else date.today(),
        **(context or {}),
    }
    response = templates.TemplateResponse(request, name, values, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    if flash:
        response.delete_cookie(FLASH_COOKIE, path="/")
    return response


def redirect(request: Request, url: str, flash: str | None = None) -> Response:
    """After a POST: 303 to ``url`` (an HTMX request gets ``HX-Redirect``), with a message
    to show on the next page."""
    response: Response
    if request.headers.get("HX-Request"):
        response = Response(status_code=204, headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=303)
    if flash:
        response.set_cookie(
            FLASH_COOKIE, quote(flash[:500]), max_age=120, path="/", httponly=True, samesite="lax"
        )
    return response


# -- errors of page requests --------------------------------------------------------------------


def wants_html(request: Request) -> bool:
    return "text/html" in request.headers.get("accept", "") and not request.url.path.startswith(
        API_PREFIXES
    )


TITLES = {
    400: "Yêu cầu không hợp lệ",
    403: "Không có quyền",
    404: "Không tìm thấy",
    405: "Không hỗ trợ thao tác này",
    409: "Xung đột dữ liệu",
    422: "Dữ liệu không hợp lệ",
    429: "Thử lại sau",
}


def error_page(request: Request, status: int, message: str) -> HTMLResponse:
    caller: Caller | None = getattr(request.state, "caller", None)
    title = TITLES.get(status, "Đã có lỗi xảy ra")
    return render(
        request,
        "error.html",
        caller,
        {"status": status, "title": title, "message": message},
        status_code=status,
    )


def install_handlers(app: FastAPI) -> None:
    """Redirects raised by page dependencies; HTML error pages for page requests, the API's
    problem documents for everything else."""

    async def redirect_handler(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, Redirect)
        return redirect(request, exc.url, exc.flash)

    app.add_exception_handler(Redirect, redirect_handler)
    for kind in (StarletteHTTPException, DomainError):
        inner = app.exception_handlers.get(kind)
        if inner is None:
            continue
        app.add_exception_handler(kind, _html_or(inner))


def _html_or(inner: Callable[..., Any]) -> Callable[..., Any]:
    async def handler(request: Request, exc: Exception) -> Response:
        if not wants_html(request):
            return await inner(request, exc)  # type: ignore[no-any-return]
        if isinstance(exc, DomainError):
            problem = problem_of(exc.code)
            return error_page(request, problem.status, problem.detail)
        assert isinstance(exc, StarletteHTTPException)
        detail = exc.detail
        if isinstance(detail, dict) and detail.get("message"):
            message = str(detail["message"])
        else:
            code = {404: "not_found", 403: "forbidden"}.get(exc.status_code, "domain_error")
            message = problem_of(code).detail
        return error_page(request, exc.status_code, message)

    return handler
