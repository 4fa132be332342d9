"""Browser tests: the app served on a real port, driven by Playwright in Debian's Chromium.

Chromium comes from Debian (`apt-get install -y chromium`), never from `playwright install`.
Where it is absent these tests skip, unless RECOVERY_REQUIRE_BROWSER=1 (CI) makes that a failure.
The accessibility checks also need axe-core from npm (`make install-dev` fetches it into
node_modules/); without it they skip, or fail under RECOVERY_REQUIRE_BROWSER=1, the same way.
"""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from recovery import ROOT, create_app
from recovery.extensions import db
from tests import factories

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
PHONE = {"width": 390, "height": 844}
SMALL_PHONE = {"width": 320, "height": 568}
#: axe-core, fetched by `make install-dev` (the Makefile pins its version).
FAVICON = ROOT / "static" / "favicon.svg"
AXE_JS = Path(os.environ.get("AXE_CORE_PATH", ROOT / "node_modules" / "axe-core" / "axe.min.js"))


def chromium_available() -> bool:
    return os.path.exists(CHROMIUM) or shutil.which("chromium") is not None


def missing(message: str) -> None:
    """Skip the test for want of a tool, or fail where the tools are required (CI)."""
    if os.environ.get("RECOVERY_REQUIRE_BROWSER") == "1":
        pytest.fail(message)
    pytest.skip(message)


@pytest.fixture(scope="session")
def browser():
    """One headless Chromium for the whole run."""
    if not chromium_available():
        missing(
            f"Chromium not found at {CHROMIUM}: install it with `apt-get install -y chromium` "
            "to run the browser tests"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class LiveServer:
    """The app on 127.0.0.1 in a background thread."""

    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def live_app(tmp_path, sqlite_template):
    """The app on a fresh SQLite file (a copy of the run's empty schema), CSRF on as in
    production, passwords hashed cheaply as in every test app."""
    database = tmp_path / "browser.sqlite3"
    shutil.copyfile(sqlite_template, database)
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "browser-test",
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{database}",
            "PASSWORD_HASH_METHOD": factories.PASSWORD_HASH_METHOD,
            "LANGUAGES": ["en", "es"],
        }
    )
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def live_server(live_app):
    """The URL of the running app."""
    with LiveServer(live_app) as server:
        live_app.config["PUBLIC_BASE_URL"] = server.url
        yield server


class PageWatch:
    """Collects script errors, CSP violations, missing files and server errors on a page.

    A form answered with 400 is expected (invalid input), so HTTP statuses below 500 count
    only for static files.
    """

    def __init__(self, page):
        self.problems: list[str] = []
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(str(e)))
        page.on("response", self._response)
        page.add_init_script(
            "document.addEventListener('securitypolicyviolation', e => "
            "console.error('CSP violation: ' + e.violatedDirective + ' ' + e.blockedURI));"
        )

    def _console(self, message):
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(message.text)

    def _response(self, response):
        if response.status >= 500 or (response.status >= 400 and "/static/" in response.url):
            self.problems.append(f"{response.status} {response.url}")


@pytest.fixture
def phone(browser):
    """A page at a phone's size, with console errors and CSP violations collected."""
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.watch = PageWatch(page)
    yield page
    context.close()


@pytest.fixture
def desktop(browser):
    """A page at a laptop's size, with console errors and CSP violations collected."""
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.watch = PageWatch(page)
    yield page
    context.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """The source of axe-core, to evaluate in a page (Playwright's evaluate is not held to the
    page's Content-Security-Policy, so the app's policy stays as strict as in production)."""
    if not AXE_JS.exists():
        missing(
            f"axe-core not found at {AXE_JS}: run `make install-dev` (it needs npm) "
            "to run the accessibility tests"
        )
    return AXE_JS.read_text()


@pytest.fixture
def open_page(browser):
    """Opens pages in new browser contexts: `open_page(viewport, locale=..., touch=...)`, with
    `init` a script run at the start of every document. Each page collects console errors and
    CSP violations (`page.watch`); the contexts close at the end of the test.
    """
    contexts = []

    def opener(
        viewport: dict = PHONE,
        *,
        locale: str = "en",
        touch: bool = True,
        init: str | None = None,
        **options,
    ):
        context = browser.new_context(
            viewport=viewport,
            device_scale_factor=2 if touch else 1,
            is_mobile=touch,
            has_touch=touch,
            locale=locale,
            **options,
        )
        contexts.append(context)
        context.set_default_timeout(10_000)  # a control that cannot be reached fails fast
        # Chromium asks for the icon after the page has loaded; a test moving on at once aborts
        # that request, and the test server then leaves the file open (a ResourceWarning).
        context.route("**/static/favicon.svg*", lambda route: route.fulfill(path=FAVICON))
        if init:
            context.add_init_script(init)
        page = context.new_page()
        page.watch = PageWatch(page)
        return page

    yield opener
    for context in contexts:
        context.close()
