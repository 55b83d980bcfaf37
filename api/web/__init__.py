"""The web application: Vietnamese pages rendered on the server by the same FastAPI app as
the JSON API, through the same authorisation policy (``api.policy.decide``).

How a page module plugs in
--------------------------
* **Router.** A module of this package with a module-level ``router`` (an ``APIRouter``;
  give it ``include_in_schema=False``) is included by ``install``, in module-name order:
  add the file, nothing else to register. Page paths are outside ``/api``.
* **Templates** live in ``api/web/templates/``; a page extends ``base.html`` and fills the
  block ``content`` (and ``title``). ``_forms.html`` has the macros for form fields with
  their error message next to them (``field``, ``select``, ``csrf``): import them ``with
  context`` (``{% from "_forms.html" import csrf, field with context %}``), for ``csrf()``
  reads the page's token. Assets are in
  ``api/web/static/`` under ``/static`` (``vendor/htmx.min.js`` is loaded by the layout).
* **Who is signed in.** ``page.SignedIn`` (``Annotated[Caller, Depends(signed_in)]``) gives
  the ``api.auth.Caller`` (``.principal``, ``.account``, ``.credential``, ``.today``). A
  visitor without a valid session is redirected to the login page (and back afterwards);
  one who must change a temporary password is sent to that page. Ask the policy yourself
  for what the page shows: ``decide(caller.principal, Action.X, unit_code=...)``, or the
  guards of ``api.routers`` (``allowed_on_unit``, ``profile_for_command``…), which record
  refusals; a refusal raised as ``NotFound``/``Forbidden`` becomes an HTML error page.
* **CSRF.** Every form that posts includes ``{{ csrf() }}`` (from ``_forms.html``); the
  session dependency checks the field (``api.auth.CSRF_FIELD``) on every POST before the
  page's code runs. HTMX requests send the token in the ``X-CSRF-Token`` header (the
  layout sets it up), so ``hx-post`` needs nothing more.
* **Rendering.** ``page.render(request, "name.html", caller, {...}, errors=...)`` renders a
  template with the principal, the CSRF token, the navigation the account may use, the
  flash message and ``errors`` (field name -> Vietnamese message, shown next to the field).
  Re-render the form with ``status_code=422`` and nothing saved when input is wrong;
  ``page.redirect(request, url, flash="…")`` after a successful POST (303; an HTMX request
  gets ``HX-Redirect``).
* **Navigation.** A module may define ``NAV = (NavItem("Nhãn", "/path", order, allowed),
  …)``; ``allowed(principal)`` decides whether the account sees the entry (``page.may``
  builds one from a policy action).
* **Labels.** ``labels.py`` has the Vietnamese names of categories, genders, statuses,
  roles… (also as template filters: ``{{ value | category }}`` etc.).
"""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.web import page

STATIC_DIR = Path(__file__).parent / "static"


def install(app: FastAPI) -> None:
    """Mount the static files, include every page module's router, and answer errors of
    page requests with HTML pages (the API keeps its problem documents)."""
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    nav: list[page.NavItem] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        router = getattr(module, "router", None)
        if router is not None:
            app.include_router(router)
        nav.extend(getattr(module, "NAV", ()))
    app.state.web_nav = sorted(nav, key=lambda item: item.order)
    page.install_handlers(app)
    app.add_middleware(PageHeaders)


# Every page's scripts and styles come from hoso itself: no inline script, no other origin;
# style attributes (the widths of meters and bars) are allowed.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
PAGE_HEADERS = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]


class PageHeaders:
    """Adds the security headers of a page to every HTML answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                kind = next((v for k, v in headers if k.lower() == b"content-type"), b"")
                if kind.startswith(b"text/html"):
                    message = {**message, "headers": headers + PAGE_HEADERS}
            await send(message)

        await self.app(scope, receive, sending)
