"""What every browser test uses: the application served over real HTTP on a free port,
on a real store (SQLite, or PostgreSQL), filled with the demo province and its demo
accounts; Debian's chromium driven by Playwright; signing in; screenshots; and the
accessibility and keyboard checks every page must pass.

A test module takes the fixtures with ``from tests.browser import *`` (they are listed in
``__all__``). ``live_server`` is module-scoped and runs once per backend (``web_backend``);
a module may override ``web_backend``, ``web_jurisdiction`` or ``demo_people`` (module-
scoped fixtures) to change what it gets. Browser tests skip, with the reason, when
/usr/bin/chromium is missing; with ``HOSO_REQUIRE_BROWSER=1`` (as CI sets) they fail.
A browser is never downloaded.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import psycopg
import pyotp
import pytest

from domain.application import Ledger
from domain.settings import Settings
from scripts.demo import DEMO_PASSWORD, DEMO_TOTP_SECRET, create_demo_accounts, generate
from tests.api_helpers import CHEAP_ARGON2
from tests.conftest import TEST_DATABASE_URL, require_postgres

__all__ = [
    "LiveServer",
    "browser",
    "check_accessibility",
    "check_keyboard",
    "demo_people",
    "live_server",
    "page",
    "playwright_instance",
    "screenshot",
    "sign_in",
    "web_backend",
    "web_jurisdiction",
]

CHROMIUM = Path("/usr/bin/chromium")
ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "var" / "screenshots"
VIEWPORT = {"width": 1366, "height": 768}


def require_browser() -> None:
    problem = None
    if not CHROMIUM.exists():
        problem = f"no browser at {CHROMIUM} (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is not installed"
    if problem is None:
        return
    if os.environ.get("HOSO_REQUIRE_BROWSER") == "1":
        pytest.fail(f"HOSO_REQUIRE_BROWSER=1 but {problem}")
    pytest.skip(reason=f"browser tests need Debian's chromium and playwright: {problem}")


# -- the server ----------------------------------------------------------------------------


@dataclass
class LiveServer:
    url: str
    settings: Settings
    app: Any
    people: int

    def ledger(self) -> Ledger:
        """The served ledger (the same store, the same process)."""
        ledger: Ledger = self.app.state.services.ledger
        return ledger


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def web_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="module")
def web_jurisdiction() -> str:
    return "cantho"  # approvals without digital signatures; override for others


@pytest.fixture(scope="module")
def demo_people() -> int:
    return 300


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def live_server(
    web_backend: str,
    web_jurisdiction: str,
    demo_people: int,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[LiveServer]:
    """The application on a free port, over a store holding the demo province and the demo
    accounts (password ``DEMO_PASSWORD``, second factor ``DEMO_TOTP_SECRET``)."""
    require_browser()
    import uvicorn

    from api.app import create_app

    values: dict[str, Any] = {
        "data_dir": tmp_path_factory.mktemp("web") / "var",
        "jurisdiction": web_jurisdiction,
        "database_url": None,
        "cipher_key": None,
        "cipher_key_file": None,
        "extra_days_off": "",
        "extra_working_days": "",
    }
    schema = None
    if web_backend == "postgres":
        require_postgres()
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
            conn.execute(f'CREATE SCHEMA "{schema}"')
        values.update(database_url=TEST_DATABASE_URL, database_schema=schema)
    settings = Settings(**values)
    ledger = Ledger(settings)
    try:
        generate(ledger, demo_people, seed=1)
        create_demo_accounts(ledger)
    finally:
        ledger.close()
    # Passwords set through the pages are hashed cheaply (the server reads this at start).
    cheap = pytest.MonkeyPatch()
    for name, value in CHEAP_ARGON2.items():
        cheap.setenv(name, value)
    app = create_app(settings)
    port = _free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True, name="live-server")
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the live server did not start")
        time.sleep(0.05)
    try:
        yield LiveServer(f"http://127.0.0.1:{port}", settings, app, demo_people)
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        cheap.undo()
        if schema is not None:
            with psycopg.connect(TEST_DATABASE_URL, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


# -- the browser -----------------------------------------------------------------------------


# Module-scoped, as every module holds its own copy of these fixtures (imported with *):
# one Playwright, and one browser, at a time.
@pytest.fixture(scope="module")
def playwright_instance() -> Iterator[Any]:
    require_browser()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="module")
def browser(playwright_instance: Any) -> Iterator[Any]:
    """Debian's chromium, headless (never a downloaded browser)."""
    launched = playwright_instance.chromium.launch(
        executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox"]
    )
    yield launched
    launched.close()


@pytest.fixture
def page(browser: Any, live_server: LiveServer) -> Iterator[Any]:
    """A fresh browser context (no cookies) at 1366×768, in Vietnamese, on Hanoi time."""
    context = browser.new_context(
        viewport=VIEWPORT,
        locale="vi-VN",
        timezone_id="Asia/Ho_Chi_Minh",
        accept_downloads=True,
        base_url=live_server.url,
    )
    context.set_default_timeout(15_000)
    opened = context.new_page()
    yield opened
    context.close()


def totp_code(secret: str = DEMO_TOTP_SECRET) -> str:
    return pyotp.TOTP(secret).now()


def sign_in(
    page: Any,
    username: str,
    password: str = DEMO_PASSWORD,
    totp: str | Callable[[], str] | None = totp_code,
    *,
    expect: str = "/dashboard",
) -> None:
    """Sign in through the login page, as a person would; ``totp`` is the code (or what
    makes one), None for accounts without a second factor."""
    page.goto("/login")
    page.get_by_label("Tên đăng nhập").fill(username)
    page.get_by_label("Mật khẩu").fill(password)
    if totp is not None:
        page.get_by_label("Mã xác thực hai lớp (TOTP)").fill(totp() if callable(totp) else totp)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(f"**{expect}*")


def screenshot(page: Any, name: str) -> Path:
    """The page as the browser shows it (the whole page, 1366 pixels wide), saved as
    ``var/screenshots/NAME.png`` to look at."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


# -- accessibility and keyboard ----------------------------------------------------------------

# Rules of axe-core left out of the check, with the reason; none so far.
AXE_EXCLUDED: dict[str, str] = {}


def check_accessibility(page: Any, *, context: str = "") -> None:
    """Run the vendored axe-core in the page (WCAG 2.x A and AA rules and best practices)
    and fail on any violation, whatever its impact, naming the rule and the elements."""
    # Served by hoso itself, as the pages' Content-Security-Policy allows.
    page.add_script_tag(url=urljoin(page.url, "/static/vendor/axe.min.js"))
    result = page.evaluate(
        """async (excluded) => {
            const rules = {};
            for (const id of excluded) rules[id] = {enabled: false};
            return await axe.run(document, {
                runOnly: {type: 'tag', values: ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa',
                                               'wcag22aa', 'best-practice']},
                rules, resultTypes: ['violations'],
            });
        }""",
        list(AXE_EXCLUDED),
    )
    violations = result["violations"]
    if violations:
        lines = [
            f"{v['id']} ({v['impact']}): {v['help']}\n    "
            + "\n    ".join(n["html"][:160] for n in v["nodes"][:5])
            for v in violations
        ]
        where = f" on {context or page.url}"
        pytest.fail(f"accessibility violations{where}:\n" + "\n".join(lines))


_FOCUSABLE = """() => {
    const selector = 'a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]),'
        + ' select:not([disabled]), textarea:not([disabled]), summary,'
        + ' [tabindex]:not([tabindex="-1"])';
    const visible = (el) => {
        const r = el.getBoundingClientRect();
        const s = getComputedStyle(el);
        return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && s.display !== 'none';
    };
    let n = 0;
    const found = [];
    for (const el of document.querySelectorAll(selector)) {
        if (!visible(el) && !el.classList.contains('skip-link')) continue;
        el.dataset.kb = String(n++);
        const text = (el.textContent || el.name || '').trim().slice(0, 40);
        found.push(el.dataset.kb + ' ' + el.tagName + ' ' + text);
    }
    return found;
}"""

_ACTIVE = """() => {
    const el = document.activeElement;
    if (!el || el === document.body) return null;
    const s = getComputedStyle(el);
    const outline = s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0;
    const shadow = s.boxShadow && s.boxShadow !== 'none';
    const r = el.getBoundingClientRect();
    return {kb: el.dataset.kb ?? null, tag: el.tagName, focusVisible: el.matches(':focus-visible'),
            indicated: outline || shadow, shown: r.width > 0 && r.height > 0};
}"""


def check_keyboard(page: Any, *, max_tabs: int = 400) -> int:
    """Tab through the page from its top: every link, button and form control is reached,
    and each shows a visible focus indicator when reached. Returns how many were reached."""
    expected = page.evaluate(_FOCUSABLE)
    # Start from the very top of the document, before the first element of the body.
    page.evaluate(
        """() => {
            const start = document.createElement('span');
            start.tabIndex = -1;
            start.id = 'keyboard-check-start';
            document.body.prepend(start);
            start.focus();
        }"""
    )
    reached: set[str] = set()
    problems: list[str] = []
    last = None
    for _ in range(min(max_tabs, 3 * len(expected) + 5)):
        page.keyboard.press("Tab")
        active = page.evaluate(_ACTIVE)
        if active is None:
            break
        if active["kb"] is None:
            continue
        if active["kb"] == last:
            continue  # a control in parts (a date's day, month and year) takes several Tabs
        if active["kb"] in reached:
            break
        last = active["kb"]
        reached.add(active["kb"])
        if not (active["indicated"] and active["shown"]):
            problems.append(f"element {active['kb']} ({active['tag']}) has no visible focus")
    page.evaluate("() => document.getElementById('keyboard-check-start').remove()")
    missing = [e for e in expected if e.split(" ", 1)[0] not in reached]
    assert not missing, "not reachable with Tab: " + "; ".join(missing[:10])
    assert not problems, "; ".join(problems[:10])
    return len(reached)
