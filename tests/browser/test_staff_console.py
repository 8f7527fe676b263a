"""The staff console in Chromium against the real standalone server: an agent
works a hand-off live while a visitor chats in the bubble; guests and agents are
kept out of the managers' sections; the manager's figures survive a restart.
Screenshots of each section at 1280x800 go to test-artefacts/screenshots/."""

from __future__ import annotations

import re

import pytest
import requests

from assistant_crm.standalone import auth
from tests.browser.conftest import DESKTOP, _context, screenshot

pytestmark = pytest.mark.browser

AGENT_USER, AGENT_PW = "alice@wcfcb.test", "alice-password-1"
MANAGER_USER, MANAGER_PW = "mary@wcfcb.test", "mary-password-1"
BUBBLE_INPUT = ".wcfcb-input"


@pytest.fixture
def staff(rt) -> None:
    auth.add_staff(rt.store, AGENT_USER, "agent", AGENT_PW, "Alice Banda")
    auth.add_staff(rt.store, MANAGER_USER, "manager", MANAGER_PW, "Mary Mwale")


def log_in(page, base: str, usr: str, pwd: str) -> None:
    page.goto(base + "/wcfcb_dashboard")
    page.wait_for_url(re.compile(r"/login\?redirect-to="))
    page.fill("#usr", usr)
    page.fill("#pwd", pwd)
    page.click("#login-btn")
    page.wait_for_url(re.compile(r"/wcfcb_dashboard"))
    page.wait_for_selector("#app[data-state=ready]")


def visitor_asks(page, text: str) -> None:
    bots = page.locator(".wcfcb-bot").count()
    page.fill(BUBBLE_INPUT, text)
    page.press(BUBBLE_INPUT, "Enter")
    page.wait_for_function(f"document.querySelectorAll('.wcfcb-bot').length > {bots}")


def test_agent_takes_a_live_handoff_replies_with_canned_text_and_closes(
    site, browser, page, watch, rt, staff
):
    # The agent logs in first and watches the empty waiting list.
    log_in(page, site.url, AGENT_USER, AGENT_PW)
    assert page.locator("#me-name").inner_text() == "Alice Banda"
    assert page.locator(".tabs [data-section=analytics]").is_hidden(), "agents see no manager sections"
    page.wait_for_selector("#live-dot.on")
    assert page.locator(".conv").count() == 0

    # A visitor asks for a person in the chat bubble, in another browser.
    visitor_ctx = _context(browser, DESKTOP, watch)
    visitor = visitor_ctx.new_page()
    visitor.goto(site.url + "/")
    visitor.wait_for_selector("#wcfcb-panel", state="visible")
    visitor_asks(visitor, "Hello")
    visitor_asks(visitor, "I want to talk to a real person please")

    # It appears in the agent's inbox without a reload (server-sent events).
    row = page.locator(".conv.is-waiting")
    row.wait_for()
    assert row.locator(".conv-name").inner_text().startswith("Web visitor ")
    assert page.locator("#count-waiting").inner_text() == "1"
    screenshot(page, "console-inbox-waiting")

    row.click()
    page.wait_for_selector("#thread-body:not([hidden])")
    assert "I want to talk to a real person please" in page.locator("#messages").inner_text()
    page.click("#btn-take")
    page.wait_for_function("document.getElementById('holder').textContent.includes('You hold')")
    assert "null" not in page.locator("#thread-meta").inner_text()

    page.fill("#reply-text", "Hello, this is Alice from WCFCB. How can I help?")
    page.click("#btn-send")
    visitor.locator(".wcfcb-agent", has_text="this is Alice from WCFCB").wait_for()

    # A canned response: "/" opens the menu, Enter inserts it.
    page.click("#reply-text")
    page.keyboard.type("/form")
    page.locator(".canned-item", has_text="/form-6").wait_for()
    page.keyboard.press("Enter")
    assert page.input_value("#reply-text").startswith("A work accident is reported on Form No. 6")
    page.click("#btn-send")
    visitor.locator(".wcfcb-agent", has_text="Form No. 6").wait_for()

    # An internal note stays inside.
    page.click(".composer-modes [data-mode=note]")
    page.fill("#reply-text", "Visitor may need a branch visit")
    page.click("#btn-send")
    page.locator("#notes .note", has_text="branch visit").wait_for()
    screenshot(page, "console-inbox-conversation")
    assert visitor.locator(".wcfcb-log", has_text="branch visit").count() == 0

    # The visitor writes back and the agent sees it live, with the delivery tick on their own lines.
    visitor.fill(BUBBLE_INPUT, "Thank you, where is the nearest branch?")
    visitor.press(BUBBLE_INPUT, "Enter")
    page.locator("#messages .msg-user", has_text="nearest branch").wait_for()
    assert page.locator("#messages .msg-agent .tick").count() >= 2

    page.click("#btn-close")
    page.click("#btn-close")  # "Confirm close"
    page.wait_for_selector("#composer", state="hidden")
    visitor.locator(".wcfcb-log", has_text="closed").wait_for()

    # The visitor rates the conversation with the buttons under the question.
    visitor.locator(".wcfcb-chip", has_text="5 Excellent").click()
    visitor.wait_for_function("document.querySelectorAll('.wcfcb-user').length >= 4")
    rated = rt.store.get_by(
        "Chat Session", {"visitor_token": visitor.evaluate("localStorage.getItem('wcfcb_chat_sid')")}
    )
    assert rated["csat"] == 5

    # The manager sees the rating in the analytics and on the conversation.
    manager_ctx = _context(browser, DESKTOP, watch)
    manager = manager_ctx.new_page()
    log_in(manager, site.url, MANAGER_USER, MANAGER_PW)
    manager.click(".tabs [data-section=analytics]")
    manager.locator(".kpi", has_text="CSAT").locator(".kpi-value", has_text="5.00").wait_for()
    manager.click(".tabs [data-section=conversations]")
    manager.locator("#conv-table tbody tr", has_text="Closed").first.click()
    manager.locator("#conv-dialog-title", has_text="rated 5/5").wait_for()
    assert watch.errors == [], watch.errors
    manager_ctx.close()
    visitor_ctx.close()


def test_guests_and_agents_are_refused_the_manager_sections(site, page, staff):
    guest = requests.get(site.url + "/wcfcb_dashboard", allow_redirects=False, timeout=30)
    assert guest.status_code == 302
    page.goto(site.url + "/wcfcb_dashboard#analytics")
    page.wait_for_url(re.compile(r"/login"))
    screenshot(page, "console-login")
    assert page.locator("#login-form").is_visible()
    page.fill("#usr", AGENT_USER)
    page.fill("#pwd", "not-the-password")
    page.click("#login-btn")
    page.locator("#login-error", has_text="Incorrect").wait_for()

    page.fill("#pwd", AGENT_PW)
    page.click("#login-btn")
    page.wait_for_selector("#app[data-state=ready]")
    # Asking for #analytics as an agent lands on the inbox; the API says 403.
    assert page.locator("#section-analytics").is_hidden() and page.locator("#section-inbox").is_visible()
    for fn in ("get_analytics", "health", "content_gaps", "search_conversations", "kb_articles"):
        r = page.request.get(site.url + "/api/method/assistant_crm.api.dashboard." + fn)
        assert r.status == 403, fn


def test_manager_sections_and_figures_survive_a_restart(site, page, rt, staff):
    from tests.test_conversations import Visitor

    v = Visitor(site.url)
    v.send("Hello")
    v.send("I want to talk to a person")
    Visitor(site.url).send("How do I report a work accident?")
    unanswered = Visitor(site.url)
    unanswered.send("Does the Board pay for my bicycle that was stolen at the bus station?")

    log_in(page, site.url, MANAGER_USER, MANAGER_PW)
    page.click(".tabs [data-section=analytics]")
    kpi = page.locator(".kpi").first.locator(".kpi-value")
    kpi.wait_for()
    assert kpi.inner_text() == "3"
    page.wait_for_function("document.querySelectorAll('#chart-conversations rect').length > 0")
    page.wait_for_timeout(600)  # let the bars finish drawing before the picture
    screenshot(page, "console-analytics")
    before = page.locator("#kpis").inner_text()

    site.stop()
    site.start()
    page.reload()
    page.wait_for_selector("#app[data-state=ready]")  # the session survives the restart too
    page.locator(".kpi").first.wait_for()
    assert page.locator("#kpis").inner_text() == before

    page.click(".tabs [data-section=knowledge]")
    gap = page.locator("#gaps-table tr", has_text="bicycle")
    gap.wait_for()
    page.locator("#kb-table tr").nth(3).wait_for()
    screenshot(page, "console-knowledge-base")
    gap.get_by_role("button", name="Write an article from this").click()
    page.wait_for_selector("#kb-editor[open]")
    assert "bicycle" in page.input_value("#kb-form [name=title]")
    page.keyboard.press("Escape")

    page.click(".tabs [data-section=conversations]")
    page.locator("#conv-table tbody tr").nth(2).wait_for()
    assert page.locator("#conv-dialog").is_hidden()
    screenshot(page, "console-conversations")
    page.locator("#conv-table tbody tr", has_text="Waiting").first.click()
    page.wait_for_selector("#conv-dialog[open]")
    assert "I want to talk to a person" in page.locator("#conv-messages").inner_text()
    with page.expect_download() as dl:
        page.click("#conv-export")
    assert dl.value.suggested_filename.endswith(".json")
    page.click("#conv-dialog-close")

    page.click(".tabs [data-section=health]")
    page.locator("#health-checks tr", has_text="Database").wait_for()
    screenshot(page, "console-health")
    assert page.locator("#health-queues", has_text="CoreBusiness circuit").is_visible()
