"""The sandbox's phone simulator in Chromium: chat as a demo person on WhatsApp,
tap a quick reply, switch to Telegram and SMS, see the replies and their ticks."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from assistant_crm.sandbox import make_server
from assistant_crm.sandbox.world import World, overrides_for
from tests.browser.conftest import screenshot
from tests.support import free_port, set_settings

pytestmark = pytest.mark.browser


@pytest.fixture
def sandbox(rt, site) -> Iterator[Any]:
    world = World()
    srv = make_server("127.0.0.1", free_port(), world.corebusiness_key, world=world, app_url=site.url)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    set_settings(rt, **overrides_for(world, srv.base_url, set())[0])
    yield srv
    srv.shutdown()
    srv.server_close()


def _say(page: Any, text: str) -> None:
    page.fill("#text", text)
    page.click("#send")


def test_chat_on_the_phone_as_a_demo_person(sandbox, phone_page, watch):
    page = phone_page
    page.goto(f"{sandbox.base_url}/phone?channel=whatsapp&person=P-000101")
    page.wait_for_selector("#person option[value='P-000101']", state="attached")
    assert page.locator("#peer").inner_text().startswith("Mwila Banda")
    assert page.locator(".tabs button[data-channel='whatsapp']").get_attribute("aria-pressed") == "true"

    _say(page, "hello")
    page.wait_for_selector(".msg.in >> text=hello")
    reply = page.locator(".msg.out").first
    reply.wait_for()
    assert "Mwana" in reply.inner_text()
    # The phone showed it: the reply turns read (blue double tick).
    page.wait_for_selector(".msg.out .tick.read")
    # Quick replies as buttons; tapping one sends it.
    page.locator(".quick button", has_text="Check my claim").click()
    page.wait_for_selector(".msg.in >> text=Check my claim")
    page.wait_for_function("document.querySelectorAll('.msg.out').length >= 2")
    assert "NRC" in page.locator(".msg.out").nth(1).inner_text()
    page.fill("#text", "214563/11/1 Mwila Banda")
    page.press("#text", "Enter")
    page.wait_for_function("document.querySelectorAll('.msg.out').length >= 3")
    assert "CLM-2026-00412" in page.locator(".msg.out").nth(2).inner_text()
    screenshot(page, "sandbox-phone-whatsapp")

    # Another channel is another conversation.
    page.click(".tabs button[data-channel='telegram']")
    page.wait_for_selector(".empty")
    _say(page, "hello")
    page.wait_for_selector(".msg.out")
    assert page.locator("body").get_attribute("data-channel") == "telegram"
    page.click(".tabs button[data-channel='sms']")
    _say(page, "hi")
    page.wait_for_selector(".msg.out >> text=WCFCB")
    screenshot(page, "sandbox-phone-sms")
    assert watch.errors == [] and watch.dialogs == []


def test_any_number_can_chat(sandbox, phone_page, watch):
    page = phone_page
    page.goto(f"{sandbox.base_url}/phone?channel=sms&from=%2B260970000001")
    page.wait_for_selector("#number", state="visible")
    assert page.input_value("#number") == "+260970000001"
    _say(page, "hello")
    page.wait_for_selector(".msg.out")
    assert watch.errors == []


def test_front_page_links_to_the_phone(sandbox, page):
    page.goto(sandbox.base_url + "/")
    assert page.locator("table tr").count() == 11  # header + 10 demo people
    screenshot(page, "sandbox-front-page")
    page.locator("a[href='/phone?channel=telegram&person=P-000102']").click()
    page.wait_for_selector("#person option[value='P-000102']", state="attached")
    assert page.locator("#peer").inner_text().startswith("Chanda Mulenga")
