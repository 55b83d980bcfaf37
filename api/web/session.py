"""Signing in (with the second factor for the accounts that need one), signing out, one's
own password and the enrolment of a second factor: the API's own checks (throttling per
account and per address, lockout, CSRF) behind Vietnamese forms."""

from __future__ import annotations

import hmac
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Form, HTTPException, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import Response
from pydantic import ValidationError

from api.auth import SESSION_COOKIE, auth_store, client_address, login, set_session_cookie
from api.deps import services
from api.routers.auth import (
    PasswordIn,
    TotpConfirmIn,
    change_password,
    confirm_totp,
    start_totp,
)
from api.web.page import (
    HOME_PATH,
    LOGIN_PATH,
    PASSWORD_PATH,
    TOTP_PATH,
    Onboarding,
    current_visitor,
    local_path,
    redirect,
    render,
)

router = APIRouter(include_in_schema=False)

# Where the message of each refusal of the login goes: next to a field, or above the form.
LOGIN_ERROR_FIELD = {
    "invalid_credentials": "password",
    "totp_required": "totp",
    "invalid_totp": "totp",
}
Text = Annotated[str, Form(max_length=1024)]
# Before there is a session, the login form carries a token of its own that must match a
# cookie set with the form: another site cannot post it, and so cannot sign a visitor in
# to an account of its choosing.
LOGIN_CSRF_COOKIE = "hoso_login_csrf"
LOGIN_CSRF_FIELD = "login_csrf"
LOGIN_CSRF_SECONDS = 3600


def _login_page(
    request: Request,
    context: dict[str, Any],
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    """The login form with a fresh login token, in the page and in its cookie."""
    token = secrets.token_urlsafe(24)
    response = render(
        request,
        "login.html",
        None,
        {**context, "login_csrf": token},
        errors=errors,
        status_code=status_code,
    )
    response.set_cookie(
        LOGIN_CSRF_COOKIE,
        token,
        max_age=LOGIN_CSRF_SECONDS,
        path=LOGIN_PATH,
        secure=auth_store(request).config.cookie_secure,
        httponly=True,
        samesite="strict",
    )
    return response


def _message(exc: HTTPException) -> tuple[str, str]:
    detail: dict[str, Any] = exc.detail if isinstance(exc.detail, dict) else {}
    return str(detail.get("code", "")), str(detail.get("message") or "Đã có lỗi xảy ra.")


@router.get(LOGIN_PATH)
async def login_form(request: Request, next: str = HOME_PATH) -> Response:
    caller = await current_visitor(request)
    if caller is not None:
        return redirect(request, local_path(next))
    return _login_page(request, {"next": local_path(next), "username": ""})


@router.post(LOGIN_PATH)
def log_in(
    request: Request,
    username: Text = "",
    password: Text = "",
    totp: Annotated[str, Form(max_length=16)] = "",
    next: Text = HOME_PATH,
    login_csrf: Text = "",
) -> Response:
    target = local_path(next)
    errors: dict[str, str] = {}
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not (login_csrf and expected and hmac.compare_digest(login_csrf, expected)):
        errors["_form"] = "Trang đăng nhập đã hết hạn hoặc không hợp lệ; vui lòng đăng nhập lại."
        context = {"next": target, "username": username.strip()}
        return _login_page(request, context, errors=errors, status_code=403)
    if not username.strip():
        errors["username"] = "Vui lòng nhập tên đăng nhập."
    if not password:
        errors["password"] = "Vui lòng nhập mật khẩu."
    context: dict[str, Any] = {"next": target, "username": username.strip()}
    if errors:
        return _login_page(request, context, errors=errors, status_code=422)
    store = auth_store(request)
    try:
        result = login(
            services(request),
            store,
            username=username,
            password=password,
            totp=totp or None,
            address=client_address(request),
        )
    except HTTPException as exc:
        code, message = _message(exc)
        errors[LOGIN_ERROR_FIELD.get(code, "_form")] = message
        context["totp_asked"] = code in ("totp_required", "invalid_totp")
        response = _login_page(request, context, errors=errors, status_code=exc.status_code)
        if exc.headers and "Retry-After" in exc.headers:
            response.headers["Retry-After"] = exc.headers["Retry-After"]
        return response
    signed_in = redirect(request, target)
    set_session_cookie(signed_in, result, store)
    signed_in.delete_cookie(LOGIN_CSRF_COOKIE, path=LOGIN_PATH, httponly=True, samesite="strict")
    return signed_in


@router.post("/logout")
def log_out(request: Request, caller: Onboarding) -> Response:
    auth_store(request).revoke(caller.credential.id)
    response = redirect(request, LOGIN_PATH, "Bạn đã đăng xuất.")
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


@router.get(PASSWORD_PATH)
def password_form(request: Request, caller: Onboarding) -> Response:
    return render(request, "password.html", caller)


@router.post(PASSWORD_PATH)
async def password_change(
    request: Request,
    caller: Onboarding,
    old_password: Text = "",
    new_password: Text = "",
    confirm_password: Text = "",
) -> Response:
    errors: dict[str, str] = {}
    if not old_password:
        errors["old_password"] = "Vui lòng nhập mật khẩu hiện tại."
    if not new_password:
        errors["new_password"] = "Vui lòng nhập mật khẩu mới."
    elif new_password != confirm_password:
        errors["confirm_password"] = "Mật khẩu nhập lại không khớp với mật khẩu mới."
    if not errors:
        try:
            await change_password(
                PasswordIn(old_password=old_password, new_password=new_password),
                request,
                caller,
                services(request),
                auth_store(request),
            )
        except HTTPException as exc:
            message = _message(exc)[1]
            field = exc.detail.get("field") if isinstance(exc.detail, dict) else None
            errors[str(field or "_form")] = message
    if errors:
        return render(request, "password.html", caller, errors=errors, status_code=422)
    return redirect(request, HOME_PATH, "Đã đổi mật khẩu. Các phiên đăng nhập khác đã kết thúc.")


@router.get(TOTP_PATH)
def totp_form(request: Request, caller: Onboarding) -> Response:
    if caller.account.totp_enrolled:
        return redirect(request, HOME_PATH, "Tài khoản đã đăng ký xác thực hai lớp.")
    started = start_totp(caller, auth_store(request))
    return render(request, "totp.html", caller, started)


@router.post(TOTP_PATH)
async def totp_confirm(
    request: Request, caller: Onboarding, code: Annotated[str, Form(max_length=16)] = ""
) -> Response:
    store = auth_store(request)
    try:
        body = TotpConfirmIn(code=code.strip())
        await run_in_threadpool(confirm_totp, body, caller, services(request), store)
    except ValidationError:
        message = "Vui lòng nhập mã 6 chữ số từ ứng dụng xác thực."
    except HTTPException as exc:
        message = _message(exc)[1]
    else:
        return redirect(request, HOME_PATH, "Đã đăng ký xác thực hai lớp.")
    pending = caller.credential.totp_pending or ""
    context = {"secret": pending, "provisioning_uri": ""}
    return render(request, "totp.html", caller, context, errors={"code": message}, status_code=422)
