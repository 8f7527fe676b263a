"""Browser fixtures: Debian's Chromium driven by Playwright against the standalone server.

Chromium comes from the OS package (``apt-get install -y chromium``); a browser
is never downloaded. Without /usr/bin/chromium the browser tests skip, unless
``ASSISTANT_CRM_REQUIRE_SERVICES=1`` (CI), where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support import ServerThread, free_port, set_settings, unavailable

CHROMIUM = os.environ.get("ASSISTANT_CRM_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "test-artefacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        unavailable(f"{CHROMIUM} is missing (install it with: apt-get install -y chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("playwright is not installed (pip install -r requirements-dev.txt)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Site:
    """The real standalone WSGI app for one runtime on a fixed port, stoppable and restartable
    (a restart binds the same port, as a real server coming back would)."""

    def __init__(self, rt: Any) -> None:
        self.rt = rt
        self.port = free_port()
        self.srv: ServerThread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Site:
        from assistant_crm.standalone.wsgi import create_app

        self.srv = ServerThread(create_app(self.rt), port=self.port).start()
        return self

    def stop(self) -> None:
        if self.srv:
            self.srv.stop()
            self.srv = None


@pytest.fixture
def site(rt) -> Iterator[Site]:
    # Auto-launch at once, so tests need not wait the production default.
    set_settings(rt, chat_auto_launch_seconds=0)
    s = Site(rt).start()
    yield s
    s.stop()


class Watch:
    """What a page did that a test may assert on: dialogs, JS errors."""

    def __init__(self) -> None:
        self.dialogs: list[str] = []
        self.errors: list[str] = []


@pytest.fixture
def watch() -> Watch:
    return Watch()


def _context(browser: Any, viewport: dict, watch: Watch, **kw: Any) -> Any:
    ctx = browser.new_context(viewport=viewport, **kw)
    ctx.set_default_timeout(15000)

    def on_page(page: Any) -> None:
        def on_dialog(d: Any) -> None:
            watch.dialogs.append(f"{d.type}: {d.message}")
            d.dismiss()

        page.on("dialog", on_dialog)
        page.on("pageerror", lambda e: watch.errors.append(str(e)))

    ctx.on("page", on_page)
    return ctx


@pytest.fixture
def page(browser, watch) -> Iterator[Any]:
    ctx = _context(browser, DESKTOP, watch)
    pg = ctx.new_page()
    yield pg
    ctx.close()


@pytest.fixture
def phone_page(browser, watch) -> Iterator[Any]:
    # Reduced motion: the panel is where it will stay at once (and the CSS must honour it).
    ctx = _context(
        browser, PHONE, watch, is_mobile=True, has_touch=True, device_scale_factor=2, reduced_motion="reduce"
    )
    pg = ctx.new_page()
    yield pg
    ctx.close()


def screenshot(page: Any, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path
