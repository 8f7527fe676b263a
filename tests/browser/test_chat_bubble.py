"""The chat bubble and the PWA used as a visitor would, in Chromium, against the real standalone server."""

from __future__ import annotations

import json
import re

import pytest

from assistant_crm.services.pipeline import context
from tests.browser.conftest import screenshot

pytestmark = pytest.mark.browser

PANEL = "#wcfcb-panel"
INPUT = ".wcfcb-input"
XSS = "<img src=x onerror=alert(1)>"

# Records, in the page, the order in which the typing indicator and replies appear,
# so the test can check "typing first, then the reply" without any timing.
TRACE_JS = """
() => {
  window.__trace = [];
  const log = document.querySelector('.wcfcb-log');
  const typing = document.querySelector('.wcfcb-typing');
  new MutationObserver(() => {
    if (!typing.hidden && window.__trace[window.__trace.length - 1] !== 'typing') window.__trace.push('typing');
  }).observe(typing, {attributes: true, attributeFilter: ['hidden']});
  new MutationObserver((muts) => {
    for (const m of muts) for (const n of m.addedNodes)
      if (n.classList && n.classList.contains('wcfcb-bot')) window.__trace.push('bot');
  }).observe(log, {childList: true});
}
"""


def open_chat(page, base: str, path: str = "/") -> None:
    """Load a page; the bubble auto-launches (delay 0 in these tests) on a desktop viewport."""
    page.goto(base + path)
    page.wait_for_selector(PANEL, state="visible")


def ask(page, text: str) -> None:
    """Type a question, press Enter, wait until the bot has answered it."""
    bots = page.locator(".wcfcb-bot").count()
    page.fill(INPUT, text)
    page.press(INPUT, "Enter")
    page.wait_for_function(f"document.querySelectorAll('.wcfcb-bot').length > {bots}")
    page.wait_for_selector(".wcfcb-typing", state="hidden")


def session_id(page) -> str:
    return page.evaluate("localStorage.getItem('wcfcb_chat_sid')")


def test_bubble_appears_on_demo_page_and_auto_launches_branded(site, page, watch, rt):
    from tests.support import set_settings

    set_settings(rt, assistant_name="Chipo", chat_auto_launch_seconds=1)
    page.goto(site.url + "/")
    assert page.title().startswith("Workers' Compensation Fund Control Board")
    assert page.locator("h1").inner_text() == "Compensation for workers injured at work"
    for item in ("Home", "Employers", "Claims", "Benefits", "Contact"):
        assert page.locator("nav").get_by_role("link", name=item, exact=True).is_visible()
    assert page.locator(".card").count() == 3
    page.wait_for_selector(".wcfcb-launcher", state="visible")
    # Nobody clicks: the configured delay (1 s here) opens it with the greeting.
    page.wait_for_selector(PANEL, state="visible")
    assert page.locator("#wcfcb-title").inner_text() == "Chipo"
    assert page.locator(".wcfcb-bot").first.inner_text().strip() != ""
    assert page.locator(".wcfcb-chip").count() >= 1
    logo_ok = page.evaluate("document.querySelector('.wcfcb-logo').naturalWidth")
    assert logo_ok > 0
    assert (
        page.evaluate("getComputedStyle(document.querySelector('.wcfcb-head')).backgroundColor")
        == "rgb(11, 93, 59)"
    )
    assert page.get_attribute(PANEL, "role") == "dialog"
    assert page.get_attribute(".wcfcb-log", "aria-live") == "polite"
    screenshot(page, "desktop-demo")
    assert watch.errors == []


def test_question_shows_typing_then_reply_and_timestamps(site, page, watch):
    open_chat(page, site.url)
    page.evaluate(TRACE_JS)
    ask(page, "How do I report a work accident?")
    trace = page.evaluate("window.__trace")
    assert trace[:2] == ["typing", "bot"], trace
    reply = page.locator(".wcfcb-bot").last
    assert reply.locator(".wcfcb-text").inner_text().strip()
    stamp = reply.locator("time")
    assert re.fullmatch(r"\d\d:\d\d", stamp.inner_text())
    assert stamp.get_attribute("datetime").endswith("Z")
    assert page.locator(".wcfcb-user .wcfcb-text").last.inner_text() == "How do I report a work accident?"
    assert session_id(page)
    screenshot(page, "desktop-conversation")
    assert watch.errors == []


def test_reload_keeps_the_history(site, page):
    open_chat(page, site.url)
    ask(page, "What benefits does the Board pay?")
    reply = page.locator(".wcfcb-bot .wcfcb-text").last.inner_text()
    sid = session_id(page)
    page.reload()
    page.wait_for_selector(PANEL, state="visible")  # it was open: it comes back open
    page.wait_for_function("document.querySelectorAll('.wcfcb-user').length >= 1")
    users = page.locator(".wcfcb-user .wcfcb-text").all_inner_texts()
    assert users == ["What benefits does the Board pay?"]  # loaded once, not doubled by the poll
    assert reply in page.locator(".wcfcb-bot .wcfcb-text").all_inner_texts()
    assert session_id(page) == sid
    # The conversation carries on in the same session after the reload.
    ask(page, "Thank you")
    assert session_id(page) == sid
    assert page.locator(".wcfcb-user").count() == 2


def test_markup_in_a_message_is_shown_as_text_and_never_runs(site, page, watch):
    open_chat(page, site.url)
    ask(page, XSS)
    assert watch.dialogs == []
    assert page.locator(".wcfcb-user .wcfcb-text").last.inner_text() == XSS
    assert page.locator(".wcfcb-chat img[src='x']").count() == 0
    # Reloaded from the server it is still text.
    page.reload()
    page.wait_for_function("document.querySelectorAll('.wcfcb-user').length >= 1")
    assert page.locator(".wcfcb-user .wcfcb-text").first.inner_text() == XSS
    assert page.locator(".wcfcb-chat img[src='x']").count() == 0
    assert watch.dialogs == []
    assert watch.errors == []


def test_links_are_clickable_only_for_http_and_open_safely(site, page, rt):
    open_chat(page, site.url)
    ask(page, "Hello")
    session = context.get_session_by_token(session_id(page))
    context.append_history(
        session,
        "out",
        "agent",
        "See https://www.workers.com.zm/claims. Not javascript:alert(1) nor <a href='javascript:alert(2)'>this</a>",
    )
    page.wait_for_selector(".wcfcb-agent")
    links = page.locator(".wcfcb-agent a")
    assert links.count() == 1
    assert links.first.get_attribute("href") == "https://www.workers.com.zm/claims"
    assert links.first.get_attribute("rel") == "noopener noreferrer"
    assert links.first.get_attribute("target") == "_blank"
    assert "<a href='javascript:alert(2)'>this</a>" in page.locator(".wcfcb-agent .wcfcb-text").inner_text()


def test_file_upload_shows_a_link_and_bad_files_are_refused_in_the_browser(site, page):
    open_chat(page, site.url)
    ask(page, "Hello")
    uploads = []
    page.on("request", lambda r: uploads.append(r.url) if "upload_file" in r.url else None)
    png = bytes.fromhex(
        "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
        "1f15c4890000000d49444154789c6360f8cf00000301010018dd8db00000000049454e44ae426082"
    )
    chooser = ".wcfcb-chat input[type=file]"
    page.set_input_files(chooser, files=[{"name": "form6.png", "mimeType": "image/png", "buffer": png}])
    link = page.locator(".wcfcb-user .wcfcb-file a", has_text="form6.png")
    link.wait_for()
    href = link.get_attribute("href")
    assert href.startswith(site.url + "/files/")
    assert link.get_attribute("rel") == "noopener noreferrer"
    assert page.request.get(href).body() == png
    assert len(uploads) == 1
    # Too big and wrong type: refused before any upload.
    page.set_input_files(
        chooser,
        files=[
            {
                "name": "big.pdf",
                "mimeType": "application/pdf",
                "buffer": b"%PDF-1.4\n" + b"0" * (5 * 1024 * 1024),
            }
        ],
    )
    page.wait_for_selector(".wcfcb-system:has-text('too large')")
    page.set_input_files(
        chooser, files=[{"name": "run.exe", "mimeType": "application/x-msdownload", "buffer": b"MZ"}]
    )
    page.wait_for_selector(".wcfcb-system:has-text('Only images')")
    assert len(uploads) == 1
    # After a reload the upload is still there, as a link.
    page.reload()
    page.locator(".wcfcb-file a", has_text="form6.png").wait_for()


def test_phone_viewport_goes_full_screen(site, phone_page, watch):
    page = phone_page
    page.goto(site.url + "/")
    # On a phone the auto-launch is a teaser with the greeting, not a full-screen takeover.
    page.wait_for_selector(".wcfcb-teaser", state="visible")
    assert page.is_hidden(PANEL)
    assert page.locator(".wcfcb-badge").inner_text() == "1"
    screenshot(page, "mobile-demo")
    page.click(".wcfcb-teaser-open")
    page.wait_for_selector(PANEL, state="visible")
    assert page.evaluate("getComputedStyle(document.querySelector('.wcfcb-panel')).animationName") == "none"
    box = page.locator(PANEL).bounding_box()
    assert (box["x"], box["y"], box["width"], box["height"]) == (0, 0, 390, 844)
    ask(page, "How do I register as an employer?")
    screenshot(page, "mobile-conversation")
    page.click("[aria-label='Minimise chat']")
    assert page.is_visible(".wcfcb-launcher")
    assert page.is_hidden(PANEL)
    assert watch.errors == []


def test_keyboard_enter_shift_enter_escape_and_labels(site, page):
    open_chat(page, site.url)
    for b in page.locator(".wcfcb-chat button").all():
        if b.is_visible():
            assert (b.get_attribute("aria-label") or b.inner_text()).strip(), b.evaluate("e => e.outerHTML")
    page.focus(INPUT)
    page.keyboard.type("line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("line two")
    assert page.input_value(INPUT) == "line one\nline two"
    page.keyboard.press("Enter")
    page.wait_for_selector(".wcfcb-user")
    assert page.locator(".wcfcb-user .wcfcb-text").last.inner_text() == "line one\nline two"
    assert page.input_value(INPUT) == ""
    # Tab moves from the message box to the send button.
    page.focus(INPUT)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.getAttribute('aria-label')") == "Send message"
    page.keyboard.press("Escape")
    page.wait_for_selector(PANEL, state="hidden")
    assert page.evaluate("document.activeElement.classList.contains('wcfcb-launcher')")
    assert page.get_attribute(".wcfcb-launcher", "aria-expanded") == "false"


def test_agent_reply_while_open_and_unread_badge_when_minimised(site, page):
    open_chat(page, site.url)
    ask(page, "Hello")
    session = context.get_session_by_token(session_id(page))
    context.append_history(
        session, "out", "agent", "Hello, this is Mary from WCFCB.", agent="mary@wcfcb.test"
    )
    page.wait_for_selector(".wcfcb-agent:has-text('Mary from WCFCB')")
    page.click("[aria-label='Minimise chat']")
    assert page.locator(".wcfcb-badge").is_hidden()
    context.append_history(session, "out", "agent", "Are you still there?")
    page.wait_for_selector(".wcfcb-badge:has-text('1')")
    assert "1 unread" in page.get_attribute(".wcfcb-launcher", "aria-label")
    page.click(".wcfcb-launcher")
    assert page.locator(".wcfcb-badge").is_hidden()
    assert page.is_visible(".wcfcb-agent:has-text('Are you still there?')")


def test_server_down_shows_retry_then_succeeds_when_it_returns(site, page, watch):
    open_chat(page, site.url)
    ask(page, "Hello")
    site.stop()
    page.fill(INPUT, "When will my pension be paid?")
    page.press(INPUT, "Enter")
    retry = page.locator(".wcfcb-retry")
    retry.wait_for()
    assert retry.inner_text() == "Not sent — retry"
    assert page.locator(".wcfcb-typing").is_hidden()
    screenshot(page, "desktop-not-sent")
    site.start()  # the same port, as a restarted server would be
    bots = page.locator(".wcfcb-bot").count()
    retry.click()
    page.wait_for_function(f"document.querySelectorAll('.wcfcb-bot').length > {bots}")
    assert page.locator(".wcfcb-retry").count() == 0
    assert (
        page.locator(".wcfcb-user .wcfcb-text").all_inner_texts().count("When will my pension be paid?") == 1
    )
    assert watch.errors == []


def test_server_error_message_is_shown_friendly(site, page):
    open_chat(page, site.url)
    # Over the server's 2,000-character limit (the box caps typing, a script need not).
    page.evaluate("v => { document.querySelector('.wcfcb-input').value = v; }", "z" * 2100)
    page.press(INPUT, "Enter")
    note = page.locator(".wcfcb-system").last
    note.wait_for()
    assert "longer than" in note.inner_text()
    assert "Traceback" not in note.inner_text()
    assert page.locator(".wcfcb-retry").count() == 1


def test_pwa_manifest_service_worker_and_offline_queue(site, browser, watch):
    from tests.browser.conftest import PHONE, _context

    ctx = _context(browser, PHONE, watch, is_mobile=True, has_touch=True)
    page = ctx.new_page()
    try:
        page.goto(site.url + "/assistant_chat")
        page.wait_for_selector(PANEL, state="visible")
        assert page.locator(".wcfcb-launcher").count() == 0  # full-page mode: no bubble
        manifest_url = page.evaluate("new URL(document.querySelector('link[rel=manifest]').href).href")
        manifest = json.loads(page.request.get(manifest_url).text())
        assert manifest["display"] == "standalone"
        assert manifest["short_name"] and manifest["name"] and manifest["theme_color"]
        assert manifest["start_url"].startswith("/assistant_chat")
        for icon in manifest["icons"]:
            assert page.request.get(site.url + icon["src"]).ok, icon["src"]
        scope = page.evaluate("navigator.serviceWorker.ready.then(r => r.scope)")
        assert scope == site.url + "/"
        # Let the worker take control, then lose the network.
        page.reload()
        page.wait_for_function("!!navigator.serviceWorker.controller")
        ask(page, "Hello")
        ctx.set_offline(True)
        page.reload()  # served from the service worker's cache
        page.wait_for_selector(PANEL, state="visible")
        for text in ("first while offline", "second while offline"):
            page.fill(INPUT, text)
            page.press(INPUT, "Enter")
        assert page.locator(".wcfcb-state:has-text('Queued')").count() == 2
        assert len(json.loads(page.evaluate("localStorage.getItem('wcfcb_chat_outbox')"))) == 2
        screenshot(page, "pwa-offline")
        ctx.set_offline(False)
        page.wait_for_function("!localStorage.getItem('wcfcb_chat_outbox')")
        page.wait_for_selector(".wcfcb-state", state="detached")
        sid = session_id(page)
        session = context.get_session_by_token(sid)
        texts = [m["text"] for m in context.history(session, limit=50) if m["author"] == "user"]
        assert texts[-2:] == ["first while offline", "second while offline"]  # sent, in order
        screenshot(page, "pwa")
    finally:
        ctx.close()
    assert watch.errors == []


FRAPPE_CLIENT_JS = """
window.__subs = []; window.__handlers = {};
window.frappe = {
  csrf_token: 'csrf-123',
  realtime: {
    task_subscribe: (t) => window.__subs.push(t),
    on: (ev, fn) => { window.__handlers[ev] = fn; },
  },
};
"""


def test_under_frappe_it_subscribes_to_realtime_and_sends_the_csrf_token(site, page):
    # The page under Frappe has frappe.realtime (Socket.IO); here a stand-in object plays
    # Frappe's client so the bubble's use of it can be checked against our real server.
    page.add_init_script(FRAPPE_CLIENT_JS)
    sent = []
    page.on("request", lambda r: sent.append(r.headers) if "send_message" in r.url else None)
    open_chat(page, site.url)
    ask(page, "Hello")
    sid = session_id(page)
    assert page.evaluate("window.__subs") == [sid]
    assert sent and sent[0].get("x-frappe-csrf-token") == "csrf-123"
    page.evaluate(
        "m => window.__handlers['assistant_crm_message'](m)",
        {"id": "rt-1", "author": "agent", "text": "Pushed by realtime", "created": "2026-01-01T10:00:00"},
    )
    page.wait_for_selector(".wcfcb-agent:has-text('Pushed by realtime')")
    # The same message again (realtime and the safety-net poll may both bring it) shows once.
    page.evaluate(
        "m => window.__handlers['assistant_crm_message']({messages: [m], status: 'with_agent'})",
        {"id": "rt-1", "author": "agent", "text": "Pushed by realtime"},
    )
    assert page.locator(".wcfcb-agent").count() == 1
    assert page.locator(".wcfcb-sub").inner_text() == "You are chatting with a WCFCB agent"


def test_upload_as_first_action_starts_a_conversation(site, page):
    open_chat(page, site.url)
    page.set_input_files(
        ".wcfcb-chat input[type=file]",
        files=[{"name": "report.pdf", "mimeType": "application/pdf", "buffer": b"%PDF-1.4\n%%EOF\n"}],
    )
    page.locator(".wcfcb-file a", has_text="report.pdf").wait_for()
    assert session_id(page)
    assert (
        page.locator(".wcfcb-user .wcfcb-text").first.inner_text() == "I would like to send you a document."
    )
    page.reload()
    page.locator(".wcfcb-file a", has_text="report.pdf").wait_for()
    assert page.locator(".wcfcb-file a").count() == 1


def test_a_forgotten_session_id_starts_afresh(site, page):
    page.add_init_script("localStorage.setItem('wcfcb_chat_sid', 'no-such-session')")
    open_chat(page, site.url)
    ask(page, "Hello")
    assert session_id(page) not in (None, "no-such-session")
    assert page.locator(".wcfcb-retry").count() == 0


def test_verification_is_bound_to_this_browser_by_an_httponly_cookie(site, browser, page, rt):
    """Issue 12.12 in a real browser: the bubble's fetches carry the cookie, a reload
    shows the person's answers, page scripts cannot read the cookie, and another
    browser given the same token sees the answers hidden."""
    from tests.browser.conftest import DESKTOP
    from tests.fakes.corebusiness_stub import PEOPLE
    from tests.support import running_corebusiness_and_sms

    person = PEOPLE["S-1001"]
    with running_corebusiness_and_sms(rt) as (_cb, sms):
        open_chat(page, site.url)
        ask(page, "what is my claim status")
        ask(page, f"my nrc is {person['nrc']} and my name is {person['full_name']}")
        rt.queue.join(timeout=10)
        ask(page, sms.last_code(person["phone"]))
        assert "CLM-2026-10001" in page.locator(".wcfcb-bot .wcfcb-text").last.inner_text()
        cookies = {c["name"]: c for c in page.context.cookies()}
        bound = cookies["acrm_chat"]
        assert bound["httpOnly"] and bound["sameSite"] == "Lax" and not bound["secure"]
        assert "acrm_chat" not in page.evaluate("document.cookie")
        sid = session_id(page)
        page.reload()
        page.wait_for_function("document.querySelectorAll('.wcfcb-bot').length >= 3")
        assert "CLM-2026-10001" in " ".join(page.locator(".wcfcb-bot .wcfcb-text").all_inner_texts())
        # The token copied into another browser: no cookie, no records.
        other = browser.new_context(viewport=DESKTOP)
        try:
            other.add_init_script(f"localStorage.setItem('wcfcb_chat_sid', {json.dumps(sid)})")
            thief = other.new_page()
            open_chat(thief, site.url)
            thief.wait_for_function("document.querySelectorAll('.wcfcb-user').length >= 3")
            shown = " ".join(thief.locator(".wcfcb-bot .wcfcb-text").all_inner_texts())
            assert "CLM-2026-10001" not in shown and "Hidden" in shown
        finally:
            other.close()
