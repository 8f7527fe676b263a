"""The staff console over HTTP: login, CSRF, roles of every endpoint, the inbox
actions and their conflicts, and the managers' figures (which survive a restart)."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest
import requests

from assistant_crm.api.endpoint import REGISTRY, ROLE_MANAGER, load_all_endpoints
from assistant_crm.standalone import auth
from assistant_crm.standalone.cli import main as cli_main
from tests.test_conversations import Visitor

API = "/api/method/"
AGENT = API + "assistant_crm.api.agent."
DASH = API + "assistant_crm.api.dashboard."
STAFF_API = API + "assistant_crm.api.staff."
AGENT_USER, AGENT_PW = "agent@wcfcb.test", "agent-password-1"
OTHER_USER, OTHER_PW = "other@wcfcb.test", "other-password-1"
MANAGER_USER, MANAGER_PW = "manager@wcfcb.test", "manager-password-1"
CONSOLE_MODULES = ("assistant_crm.api.agent.", "assistant_crm.api.dashboard.", "assistant_crm.api.staff.")


class Staff:
    """A logged-in browser-like client: the sid cookie plus the page's CSRF token."""

    def __init__(self, base: str, usr: str, pwd: str):
        self.base = base
        self.http = requests.Session()
        r = self.http.post(base + API + "login", json={"usr": usr, "pwd": pwd}, timeout=30)
        assert r.status_code == 200, r.text
        page = self.http.get(base + "/wcfcb_dashboard", timeout=30)
        assert page.status_code == 200
        marker = "frappe.csrf_token = "
        start = page.text.index(marker) + len(marker)
        self.csrf = json.loads(page.text[start : page.text.index(";", start)])

    def get(self, path: str, **params: Any) -> requests.Response:
        return self.http.get(self.base + path, params=params, timeout=30)

    def post(self, path: str, **body: Any) -> requests.Response:
        return self.http.post(
            self.base + path, json=body, headers={"X-Frappe-CSRF-Token": self.csrf}, timeout=30
        )


@pytest.fixture
def staff_accounts(rt) -> None:
    auth.add_staff(rt.store, AGENT_USER, "agent", AGENT_PW, "Alice Banda")
    auth.add_staff(rt.store, OTHER_USER, "agent", OTHER_PW, "Bwalya Phiri")
    auth.add_staff(rt.store, MANAGER_USER, "manager", MANAGER_PW, "Mary Mwale")


@pytest.fixture
def agent(server, staff_accounts) -> Staff:
    return Staff(server, AGENT_USER, AGENT_PW)


@pytest.fixture
def manager(server, staff_accounts) -> Staff:
    return Staff(server, MANAGER_USER, MANAGER_PW)


def waiting_conversation(server: str, rt) -> tuple[Visitor, str]:
    v = Visitor(server)
    v.send("Hello")
    assert v.send("please connect me to a human agent")["handoff"] is True
    name = rt.store.get_by("Chat Session", {"visitor_token": v.session_id})["name"]
    return v, name


# ------------------------------------------------------------------- accounts and login


def test_staff_cli_adds_lists_and_removes(tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'staff.sqlite3'}"
    assert (
        cli_main(
            ["staff", "add", "Jane@WCFCB.test", "--role", "manager", "--password", "long-enough", "--db", db]
        )
        == 0
    )
    assert cli_main(["staff", "add", "agent@wcfcb.test", "--password", "long-enough", "--db", db]) == 0
    assert cli_main(["staff", "list", "--json", "--db", db]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert {(r["email"], r["role"]) for r in listed} == {
        ("jane@wcfcb.test", "manager"),
        ("agent@wcfcb.test", "agent"),
    }
    assert cli_main(["staff", "add", "not-an-email", "--password", "long-enough", "--db", db]) == 2
    assert cli_main(["staff", "add", "x@wcfcb.test", "--password", "short", "--db", db]) == 2
    assert cli_main(["staff", "remove", "agent@wcfcb.test", "--db", db]) == 0
    assert cli_main(["staff", "remove", "agent@wcfcb.test", "--db", db]) == 1


def test_passwords_are_stored_as_argon2_hashes(rt, staff_accounts):
    row = rt.store.get("Assistant CRM Staff", AGENT_USER)
    assert row["password_hash"].startswith("$argon2id$")
    assert AGENT_PW not in json.dumps(row, default=str)


def test_login_like_frappe_sets_a_safe_cookie(server, staff_accounts):
    r = requests.post(server + API + "login", json={"usr": AGENT_USER, "pwd": AGENT_PW}, timeout=30)
    assert r.status_code == 200
    assert r.json()["message"] == "Logged In"
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("sid=") and "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # plain HTTP here
    behind_tls = requests.post(
        server + API + "login",
        data={"usr": AGENT_USER, "pwd": AGENT_PW},  # form-encoded, as Frappe's login form posts
        headers={"X-Forwarded-Proto": "https"},
        timeout=30,
    )
    assert behind_tls.status_code == 200 and "Secure" in behind_tls.headers["Set-Cookie"]


def test_wrong_password_is_401_and_repeated_failures_are_rate_limited(server, staff_accounts):
    for _ in range(auth.MAX_FAILURES):
        r = requests.post(server + API + "login", json={"usr": OTHER_USER, "pwd": "wrong"}, timeout=30)
        assert r.status_code == 401
        assert r.json()["exc_type"] == "AuthenticationError"
    locked = requests.post(server + API + "login", json={"usr": OTHER_USER, "pwd": OTHER_PW}, timeout=30)
    assert locked.status_code == 429 and "Retry-After" in locked.headers
    unknown = requests.post(server + API + "login", json={"usr": "nobody@wcfcb.test", "pwd": "x"}, timeout=30)
    assert unknown.status_code == 401
    assert requests.post(server + API + "login", json={"usr": "a"}, timeout=30).status_code == 400


def test_logout_ends_the_session(server, staff_accounts):
    s = Staff(server, AGENT_USER, AGENT_PW)
    assert s.get(STAFF_API + "whoami").status_code == 200
    assert s.post(API + "logout").status_code == 200
    assert s.get(STAFF_API + "whoami").status_code == 401


def test_cookie_posts_need_the_csrf_token(server, rt, staff_accounts):
    _, name = waiting_conversation(server, rt)
    s = Staff(server, AGENT_USER, AGENT_PW)
    no_token = s.http.post(server + AGENT + "take", json={"session_id": name}, timeout=30)
    assert no_token.status_code == 400 and no_token.json()["exc_type"] == "CSRFTokenError"
    wrong = s.http.post(
        server + AGENT + "take", json={"session_id": name}, headers={"X-Frappe-CSRF-Token": "x"}, timeout=30
    )
    assert wrong.status_code == 400
    assert rt.store.get("Chat Session", name)["status"] == "waiting_for_agent"
    assert s.post(AGENT + "take", session_id=name).status_code == 200
    # The visitor's chat on the same browser still works (a guest endpoint ignores the cookie).
    chat = s.http.post(
        server + API + "assistant_crm.api.chat.send_message", json={"message": "hi"}, timeout=30
    )
    assert chat.status_code == 200


def test_console_page_needs_a_login(server, staff_accounts):
    guest = requests.get(server + "/wcfcb_dashboard", allow_redirects=False, timeout=30)
    assert guest.status_code == 302 and guest.headers["Location"].endswith(
        "/login?redirect-to=/wcfcb_dashboard"
    )
    assert "csrf" not in guest.text
    login = requests.get(server + "/login", timeout=30)
    assert login.status_code == 200 and 'id="login-form"' in login.text
    s = Staff(server, AGENT_USER, AGENT_PW)
    page = s.get("/wcfcb_dashboard")
    assert "<!-- csrf_token -->" not in page.text and s.csrf
    assert page.headers["Cache-Control"] == "no-store"


def test_api_key_and_secret_for_scripts(server, rt, staff_accounts):
    key, secret = auth.issue_api_key(rt.store, MANAGER_USER)
    ok = requests.get(
        server + DASH + "health", headers={"Authorization": f"token {key}:{secret}"}, timeout=30
    )
    assert ok.status_code == 200
    bad = requests.get(server + DASH + "health", headers={"Authorization": f"token {key}:nope"}, timeout=30)
    assert bad.status_code == 401


# --------------------------------------------------------------------------------- roles


def _console_endpoints() -> list[tuple[str, Any]]:
    load_all_endpoints()
    return sorted((p, s) for p, s in REGISTRY.items() if p.startswith(CONSOLE_MODULES))


def _call(client: Staff | None, base: str, path: str, spec: Any) -> requests.Response:
    method = spec.methods[0]
    if client is None:
        return requests.request(method, base + API + path, json={} if method == "POST" else None, timeout=30)
    if method == "POST":
        return client.post(API + path)
    return client.get(API + path)


def test_every_console_endpoint_checks_roles(server, staff_accounts):
    endpoints = _console_endpoints()
    assert len(endpoints) >= 20
    agent = Staff(server, AGENT_USER, AGENT_PW)
    manager = Staff(server, MANAGER_USER, MANAGER_PW)
    for path, spec in endpoints:
        if path.endswith(".events"):
            continue  # a stream; its roles are checked below without reading it
        assert _call(None, server, path, spec).status_code == 401, path
        as_agent = _call(agent, server, path, spec)
        as_manager = _call(manager, server, path, spec)
        if spec.roles == (ROLE_MANAGER,):
            assert as_agent.status_code == 403, (path, as_agent.status_code)
            assert "Not permitted" in as_agent.text
        else:
            assert as_agent.status_code not in (401, 403), (path, as_agent.text)
        assert as_manager.status_code not in (401, 403), (path, as_manager.text)
    assert requests.get(server + AGENT + "events", timeout=30).status_code == 401


# --------------------------------------------------------------------------------- inbox


def test_inbox_take_reply_note_transfer_close(server, rt, staff_accounts):
    visitor, name = waiting_conversation(server, rt)
    alice = Staff(server, AGENT_USER, AGENT_PW)
    bwalya = Staff(server, OTHER_USER, OTHER_PW)

    waiting = alice.get(AGENT + "list_conversations", view="waiting").json()["message"]
    row = next(c for c in waiting if c["session_id"] == name)
    assert row["display_name"].startswith("Web visitor ") and row["waiting_since"]
    assert alice.get(AGENT + "inbox_counts").json()["message"]["waiting"] >= 1

    assert alice.post(AGENT + "take", session_id=name).status_code == 200
    clash = bwalya.post(AGENT + "take", session_id=name)
    assert clash.status_code == 409 and AGENT_USER in clash.text
    assert bwalya.post(AGENT + "reply", session_id=name, text="me too").status_code == 409
    mine = alice.get(AGENT + "list_conversations", view="mine").json()["message"]
    assert [c["session_id"] for c in mine] == [name]

    assert (
        alice.post(AGENT + "reply", session_id=name, text="Hello, this is Alice at WCFCB.").status_code == 200
    )
    assert (
        alice.post(AGENT + "add_note", session_id=name, text="Asked about a Ndola claim").status_code == 200
    )
    seen_by_visitor = [m["text"] for m in visitor.messages()["messages"]]
    assert "Hello, this is Alice at WCFCB." in seen_by_visitor
    assert not any("Ndola claim" in t for t in seen_by_visitor), "notes are never shown to the person"

    convo = alice.get(AGENT + "get_conversation", session_id=name).json()["message"]
    agent_msg = next(m for m in convo["messages"] if m["author"] == "agent")
    assert agent_msg["agent"] == AGENT_USER and agent_msg["delivery"] == "delivered" and agent_msg["created"]
    assert [n["text"] for n in convo["notes"]] == ["Asked about a Ndola claim"]
    assert convo["session"]["status"] == "with_agent" and convo["session"]["assigned_agent"] == AGENT_USER

    assert alice.post(AGENT + "transfer", session_id=name, to_agent="stranger@x.test").status_code == 400
    assert alice.post(AGENT + "transfer", session_id=name, to_agent=OTHER_USER).status_code == 200
    assert rt.store.get("Chat Session", name)["assigned_agent"] == OTHER_USER
    assert bwalya.post(AGENT + "close", session_id=name).status_code == 200
    closed = alice.post(AGENT + "reply", session_id=name, text="one more thing")
    assert closed.status_code == 409 and "closed" in closed.text
    assert alice.post(AGENT + "take", session_id=name).status_code == 409
    actions = {r["action"] for r in rt.store.list("Assistant Audit Log", {"subject": name})}
    assert {"take", "agent_reply", "agent_note", "transfer", "close"} <= actions


def test_bad_input_answers_4xx(server, rt, staff_accounts):
    alice = Staff(server, AGENT_USER, AGENT_PW)
    assert alice.get(AGENT + "get_conversation", session_id="no-such-id").status_code == 404
    assert alice.post(AGENT + "take", session_id="no-such-id").status_code == 404
    assert alice.get(AGENT + "list_conversations", view="everything").status_code == 400
    _, name = waiting_conversation(server, rt)
    assert alice.post(AGENT + "reply", session_id=name, text="  ").status_code == 400
    assert alice.post(AGENT + "reply", session_id=name, text="x" * 4001).status_code == 400
    assert alice.post(AGENT + "add_note", session_id=name, text="").status_code == 400


def test_reply_over_the_sms_limit_is_refused(server, rt, staff_accounts):
    from assistant_crm.services.models import InboundMessage
    from assistant_crm.services.pipeline import reply

    first = reply.handle_message(
        InboundMessage(channel="sms", text="I need a person", sender_id="+260971234567")
    )
    assert first.handoff is True
    name = rt.store.get_by("Chat Session", {"channel": "sms"})["name"]
    alice = Staff(server, AGENT_USER, AGENT_PW)
    too_long = alice.post(AGENT + "reply", session_id=name, text="y" * 481)
    assert too_long.status_code == 400 and "sms" in too_long.text
    row = alice.get(AGENT + "list_conversations", view="waiting").json()["message"][0]
    assert "*" in row["display_name"] or "*" in row["phone"], "phones are masked in the inbox"


def test_two_agents_taking_at_once_one_wins(server, rt, staff_accounts):
    _, name = waiting_conversation(server, rt)
    clients = [Staff(server, AGENT_USER, AGENT_PW), Staff(server, OTHER_USER, OTHER_PW)]
    results: list[int] = []
    barrier = threading.Barrier(2)

    def take(c: Staff) -> None:
        barrier.wait()
        results.append(c.post(AGENT + "take", session_id=name).status_code)

    threads = [threading.Thread(target=take, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [200, 409]


def test_canned_responses_are_seeded_and_managers_edit_them(server, staff_accounts):
    alice = Staff(server, AGENT_USER, AGENT_PW)
    canned = alice.get(AGENT + "canned_responses").json()["message"]
    assert {"greeting", "closing", "form-6"} <= {c["shortcut"] for c in canned}
    assert alice.post(AGENT + "save_canned_response", shortcut="x", content="y").status_code == 403
    mary = Staff(server, MANAGER_USER, MANAGER_PW)
    assert mary.post(AGENT + "save_canned_response", shortcut="Bad Name", content="y").status_code == 400
    ok = mary.post(
        AGENT + "save_canned_response", shortcut="pension-day", content="Pensions are paid monthly."
    )
    assert ok.status_code == 200
    assert "pension-day" in {c["shortcut"] for c in alice.get(AGENT + "canned_responses").json()["message"]}


def test_change_stream_wakes_on_a_new_message(server, rt, staff_accounts):
    alice = Staff(server, AGENT_USER, AGENT_PW)
    v = Visitor(server)
    v.send("Hello")
    with alice.http.get(server + AGENT + "events", stream=True, timeout=30) as stream:
        assert stream.status_code == 200
        assert stream.headers["Content-Type"].startswith("text/event-stream")
        lines = stream.iter_lines(decode_unicode=True)
        assert next(lines) == "retry: 1000"
        assert next(lines) == "event: hello"
        threading.Timer(0.3, lambda: v.send("I want to talk to a person")).start()
        events = []
        for line in lines:
            if line.startswith("event:"):
                events.append(line)
                if line == "event: change":
                    break
        assert "event: change" in events


# --------------------------------------------------------------------------- managers


def test_analytics_come_from_the_database_and_survive_a_restart(tmp_path, seeded_sqlite):
    import shutil

    from assistant_crm.runtime.standalone import create_runtime, shutdown
    from assistant_crm.services.infra.ports import set_runtime
    from assistant_crm.standalone.wsgi import create_app
    from tests.support import ServerThread

    db = tmp_path / "restart.sqlite3"
    shutil.copyfile(seeded_sqlite, db)

    def figures(rt) -> dict[str, Any]:
        srv = ServerThread(create_app(rt)).start()
        try:
            if not rt.store.get("Assistant CRM Staff", MANAGER_USER):
                auth.add_staff(rt.store, MANAGER_USER, "manager", MANAGER_PW)
            if rt.store.count("Chat Session") == 0:
                waiting_conversation(srv.url, rt)
                Visitor(srv.url).send("Hello there")
            mary = Staff(srv.url, MANAGER_USER, MANAGER_PW)
            r = mary.get(DASH + "get_analytics")
            assert r.status_code == 200, r.text
            return r.json()["message"]
        finally:
            srv.stop()

    first_rt = create_runtime(f"sqlite:///{db}", environ={}, workers=1)
    before = figures(first_rt)
    shutdown(first_rt)
    set_runtime(None)
    second_rt = create_runtime(f"sqlite:///{db}", environ={}, workers=1)  # a new process's empty cache
    try:
        after = figures(second_rt)
    finally:
        shutdown(second_rt)
        set_runtime(None)
    assert before["totals"]["conversations"] == 2
    assert before["totals"]["handoffs"] == 1 and before["totals"]["containment"] == 0.5
    assert sum(before["conversations_by_day"]["web"]) == 2
    assert before["intents"].get("escalation") == 1
    assert "total" in before["latency"] and before["latency"]["total"]["count"] >= 3
    assert after["totals"] == before["totals"] and after["intents"] == before["intents"]


def test_analytics_range_is_checked(manager):
    assert manager.get(DASH + "get_analytics", from_date="2026-13-01").status_code == 400
    assert (
        manager.get(DASH + "get_analytics", from_date="2026-11-20", to_date="2026-11-01").status_code == 400
    )
    assert (
        manager.get(DASH + "get_analytics", from_date="2020-01-01", to_date="2026-01-01").status_code == 400
    )


def test_knowledge_base_edit_publish_and_content_gaps(server, rt, manager):
    question = "Does the Board pay for my bicycle that was stolen at the bus station?"
    v = Visitor(server)
    v.send(question)
    gaps = manager.get(DASH + "content_gaps").json()["message"]
    gap = next((g for g in gaps if "bicycle" in g["question"]), None)
    assert gap is not None, gaps
    assert gap["count"] == 1 and gap["reasons"]

    bad = manager.post(DASH + "kb_save", title="", body="x")
    assert bad.status_code == 400
    saved = manager.post(
        DASH + "kb_save",
        title="Stolen bicycles and personal property",
        category="General",
        language="en",
        keywords="bicycle, stolen, theft, property, bus station",
        body="The Board does not pay for a stolen bicycle or other personal property: "
        "workers' compensation covers injuries and diseases from work. Report a theft to the police.",
        published=1,
    )
    assert saved.status_code == 200, saved.text
    slug = saved.json()["message"]["slug"]
    gaps_after = manager.get(DASH + "content_gaps").json()["message"]
    assert not any("bicycle" in g["question"] for g in gaps_after), "an article answers it now"
    found = manager.get(DASH + "kb_articles", q="bicycle").json()["message"]
    assert [a["slug"] for a in found] == [slug]
    assert manager.post(DASH + "kb_publish", slug=slug, published=0).json()["message"]["published"] is False
    assert rt.store.get("Knowledge Base Article", slug)["published"] == 0
    assert manager.post(DASH + "kb_publish", slug="nope", published=1).status_code == 404


def test_conversation_search_and_export(server, rt, manager):
    from assistant_crm.services.models import InboundMessage
    from assistant_crm.services.pipeline import reply

    reply.handle_message(InboundMessage(channel="whatsapp", text="Hello", sender_id="260977000123"))
    reply.handle_message(
        InboundMessage(channel="whatsapp", text="Claim CLM-2024-00077 please", sender_id="260977000123")
    )
    Visitor(server).send("Hello")
    by_phone = manager.get(DASH + "search_conversations", q="0123").json()["message"]
    assert [c["channel"] for c in by_phone] == ["whatsapp"]
    assert "000123" not in json.dumps(by_phone), "phones stay masked"
    by_claim = manager.get(DASH + "search_conversations", q="CLM-2024-00077").json()["message"]
    assert [c["session_id"] for c in by_claim] == [by_phone[0]["session_id"]]
    web = manager.get(DASH + "search_conversations", channel="web").json()["message"]
    assert web and all(c["channel"] == "web" for c in web)
    assert manager.get(DASH + "search_conversations", channel="pigeon").status_code == 400
    export = manager.get(DASH + "export_person", session_id=by_phone[0]["session_id"]).json()["message"]
    texts = [m["text"] for c in export["conversations"] for m in c["messages"]]
    assert "Claim CLM-2024-00077 please" in texts and export["matched_by"] == ["phone"]
    assert manager.get(DASH + "export_person", session_id="nope").status_code == 404


def test_health_lists_dead_letters_and_retries_them(server, rt, manager):
    name = rt.store.insert(
        "Omnichannel Message",
        {
            # A record name the masking would take for an NRC (one name in about
            # 150 does): the audit entry must still be found by it.
            "name": "a123456789",
            "platform": "telegram",
            "direction": "outbound",
            "event_type": "message",
            "recipient_id": "123456789",
            "idempotency_key": "out:test-dead",
            "status": "dead",
            "attempts": 5,
            "last_error": "HTTP 400 chat not found",
            "payload": json.dumps({"text": "hello", "channel": "telegram", "recipient_id": "123456789"}),
        },
    )
    h = manager.get(DASH + "health").json()["message"]
    assert {c["name"] for c in h["checks"]} >= {"Database", "Cache", "CoreBusiness", "Gemini"}
    assert any(q["name"] == "Dead letters" and q["value"] == 1 for q in h["queues"])
    assert [d["id"] for d in h["dead_letters"]] == [name]
    assert {c["name"] for c in h["circuits"]} == {"CoreBusiness", "Gemini"}
    assert manager.post(DASH + "retry_dead_letter", message_id="nope").status_code == 404
    assert manager.post(DASH + "retry_dead_letter", message_id=name).status_code == 200
    assert rt.queue.join(timeout=10)
    row = rt.store.get("Omnichannel Message", name)
    assert row["attempts"] <= 1, "the retry starts the attempts afresh"
    # Written before the endpoint answered (no after-commit or queue in between).
    assert "retry_dead_letter" in {
        r["action"] for r in rt.store.list("Assistant Audit Log", {"subject": name})
    }


def test_agents_mark_themselves_available_or_away(server, rt, staff_accounts):
    from assistant_crm.services.dialogue import assignment

    alice = Staff(server, AGENT_USER, AGENT_PW)
    assert alice.post(AGENT + "set_availability", available=0).json()["message"]["available"] is False
    assert alice.get(STAFF_API + "whoami").json()["message"]["available"] is False
    assert not assignment.is_available(AGENT_USER)
    assert alice.post(AGENT + "set_availability", available=1).status_code == 200
    assert assignment.is_available(AGENT_USER) and AGENT_USER in assignment.available_agents()


def test_console_html_renders_unchanged_under_frappe():
    """Frappe renders www pages with Jinja (and refuses "__" as unsafe): the page must hold
    no template syntax, be a whole document (so no base template wraps it), and carry
    Frappe's CSRF marker and only local assets."""
    from pathlib import Path

    html = (
        Path(__file__).resolve().parents[1] / "assistant_crm" / "www" / "wcfcb_dashboard.html"
    ).read_text()
    for marker in ("{{", "{%", "{#", "__"):
        assert marker not in html, marker
    assert "</body>" in html and "<!-- csrf_token -->" in html
    assert "http://" not in html and "https://" not in html, "nothing is fetched from elsewhere"
