"""Issue 12.12: a verified web session belongs to the browser that verified.

Over HTTP against the standalone server, CoreBusiness as the independent stub
and the one-time codes read from the fake Africa's Talking endpoint. A
"browser" is a ``requests.Session`` (it keeps cookies as a browser does); a
thief is another client given the victim's token. Time moves with the
runtime's clock port, never by sleeping.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
import requests

from assistant_crm.services.dialogue import web_session
from tests.fakes.corebusiness_stub import PEOPLE, CoreBusinessStub
from tests.fakes.sms_server import FakeSMSServer
from tests.support import ShiftedClock, running_corebusiness_and_sms, stub_identifiers

API = "/api/method/assistant_crm.api."
A = PEOPLE["S-1001"]  # Thandiwe Mumba: claims CLM-2026-10001 and CLM-2025-10002
A_CLAIMS = ("CLM-2026-10001", "CLM-2025-10002")
COOKIE = web_session.COOKIE
SECRETS = stub_identifiers()


@dataclass
class Env:
    url: str
    rt: Any
    cb: CoreBusinessStub
    sms: FakeSMSServer
    clock: ShiftedClock


@pytest.fixture
def env(server, rt) -> Iterator[Env]:
    with running_corebusiness_and_sms(rt) as (cb, sms):
        clock = ShiftedClock(rt.clock)
        rt.clock = clock
        yield Env(server, rt, cb, sms, clock)


@pytest.fixture(autouse=True)
def _no_identifiers_in_logs(caplog):
    yield
    for secret in SECRETS:
        assert secret not in caplog.text


class Browser:
    """One browser: the token in its storage (``session_id``) and its cookie jar."""

    def __init__(self, env: Env, session_id: str | None = None):
        self.env = env
        self.session_id = session_id
        self.http = requests.Session()
        self.last: requests.Response | None = None

    def send(self, text: str, **kw: Any) -> dict[str, Any]:
        r = self.http.post(
            self.env.url + API + "chat.send_message",
            json={"message": text, "session_id": self.session_id},
            timeout=30,
            **kw,
        )
        assert r.status_code == 200, r.text
        self.last = r
        body = r.json()["message"]
        self.session_id = body["session_id"]
        return body

    def verify(self, person: dict[str, Any] = A) -> dict[str, Any]:
        self.send("what is my claim status")
        sent = len(self.env.sms.messages_to(person["phone"]))
        r = self.send(f"my nrc is {person['nrc']} and my name is {person['full_name']}")
        assert "6-digit code" in r["reply"], r["reply"]
        self.env.rt.queue.join(timeout=10)
        answer = self.send(self.env.sms.last_code(person["phone"], count=sent + 1))
        assert any(n in answer["reply"] for n in A_CLAIMS), answer["reply"]
        return answer

    def messages(self) -> list[dict[str, Any]]:
        r = self.http.get(
            self.env.url + API + "chat.get_messages", params={"session_id": self.session_id}, timeout=30
        )
        assert r.status_code == 200, r.text
        return r.json()["message"]["messages"]

    def live_claims(self) -> requests.Response:
        return self.http.post(
            self.env.url + API + "live_data.get_claims", json={"session_id": self.session_id}, timeout=30
        )

    def logout(self) -> requests.Response:
        return self.http.post(
            self.env.url + API + "chat.logout", json={"session_id": self.session_id}, timeout=30
        )

    @property
    def cookie(self) -> str | None:
        return self.http.cookies.get(COOKIE)

    def with_cookie(self, value: str) -> None:
        self.http.cookies.clear()
        self.http.cookies.set(COOKIE, value)


def _shown(messages: list[dict[str, Any]]) -> str:
    return "\n".join(m["text"] for m in messages)


def _asks_to_verify(reply: dict[str, Any]) -> bool:
    return "NRC" in reply["reply"] and not any(n in reply["reply"] for n in A_CLAIMS)


def test_verification_sets_an_httponly_lax_cookie_and_keeps_only_its_hash(env):
    owner = Browser(env)
    owner.verify()
    header = owner.last.headers["Set-Cookie"]
    assert header.startswith(COOKIE + "=") and "HttpOnly" in header and "SameSite=Lax" in header
    assert "Secure" not in header  # plain HTTP here
    assert owner.cookie and owner.cookie not in owner.last.text  # never in the JSON answer
    row = env.rt.store.get_by("Chat Session", {"visitor_token": owner.session_id})
    assert owner.cookie not in str(row["context"])  # only a hash is kept
    # Behind a proxy that says HTTPS, the cookie is Secure.
    later = Browser(env)
    later.send("what is my claim status")
    sent = len(env.sms.messages_to(A["phone"]))
    later.send(f"my nrc is {A['nrc']} and my name is {A['full_name']}")
    env.rt.queue.join(timeout=10)
    later.send(env.sms.last_code(A["phone"], count=sent + 1), headers={"X-Forwarded-Proto": "https"})
    assert "Secure" in later.last.headers["Set-Cookie"]


def test_a_stolen_token_replayed_from_another_client_gets_no_personal_data(env, caplog):
    owner = Browser(env)
    owner.verify()
    thief = Browser(env, session_id=owner.session_id)  # the token, but not the owner's cookie

    # Read paths: the earlier answers are hidden, the Live Data API refuses.
    seen = thief.messages()
    assert not any(n in _shown(seen) for n in A_CLAIMS)
    assert any(m.get("hidden") for m in seen)
    assert thief.live_claims().status_code == 401
    # ... and they changed nothing: the owner still reads and asks freely.
    assert any(n in _shown(owner.messages()) for n in A_CLAIMS)
    assert owner.live_claims().status_code == 200
    assert not _asks_to_verify(owner.send("what is my claim status"))

    # A turn from the thief: asked to verify, nothing personal; logged once, no secrets.
    caplog.clear()
    with caplog.at_level(logging.INFO):
        reply = thief.send("what is my claim status")
    assert _asks_to_verify(reply)
    refused = [r for r in caplog.records if "verification refused" in r.getMessage()]
    assert len(refused) == 1 and "missing cookie" in refused[0].getMessage()
    assert owner.session_id not in caplog.text
    # A made-up cookie fares no better.
    thief.with_cookie("x" * 43)
    assert not any(n in _shown(thief.messages()) for n in A_CLAIMS)
    # The verification is over for that token everywhere: the owner is asked again too.
    assert _asks_to_verify(owner.send("what is my claim status"))
    actions = [r["action"] for r in env.rt.store.list("Assistant Audit Log", {})]
    assert "verification.browser_refused" in actions


def test_the_cookie_rotates_and_a_rotated_out_cookie_is_refused(env):
    owner = Browser(env)
    owner.verify()
    first = owner.cookie
    env.clock.offset += timedelta(seconds=web_session.ROTATE_SECONDS + 1)
    owner.send("what is my claim status")
    second = owner.cookie
    assert second and second != first
    # Just rotated: another tab's request still carrying the old cookie is fine.
    tab = Browser(env, session_id=owner.session_id)
    tab.with_cookie(first)
    assert any(n in _shown(tab.messages()) for n in A_CLAIMS)
    # After the grace, the rotated-out cookie is refused, the current one is not.
    env.clock.offset += timedelta(seconds=web_session.PREVIOUS_GRACE_SECONDS + 1)
    assert not any(n in _shown(tab.messages()) for n in A_CLAIMS)
    assert tab.live_claims().status_code == 401
    assert owner.live_claims().status_code == 200
    assert _asks_to_verify(tab.send("what is my claim status"))
    assert _asks_to_verify(owner.send("what is my claim status"))


def test_two_tabs_rotating_at_once_agree_on_the_next_cookie(env):
    owner = Browser(env)
    owner.verify()
    env.clock.offset += timedelta(seconds=web_session.ROTATE_SECONDS + 1)
    # Two tabs' turns loaded the session before either saved: both rotate from the
    # same current cookie, and both must hand out the same next one.
    from assistant_crm.services.pipeline import context

    one = context.get_session_by_token(owner.session_id)
    two = context.get_session_by_token(owner.session_id)
    now = env.rt.clock.now()
    first, second = web_session.settle(one, owner.cookie, now), web_session.settle(two, owner.cookie, now)
    assert first and first == second and first != owner.cookie
    # Over HTTP: a tab's request still carrying the cookie just rotated out is answered.
    tab = Browser(env, session_id=owner.session_id)
    tab.with_cookie(owner.cookie)
    owner.send("what is my claim status")
    assert owner.cookie == first
    assert not _asks_to_verify(tab.send("what is my claim status"))
    assert not _asks_to_verify(owner.send("what is my claim status"))


def test_idle_31_minutes_asks_to_verify_again_on_every_path(env):
    owner = Browser(env)
    owner.verify()
    env.clock.offset += timedelta(minutes=31)
    assert not any(n in _shown(owner.messages()) for n in A_CLAIMS)
    assert owner.live_claims().status_code == 401
    assert _asks_to_verify(owner.send("what is my claim status"))
    # The same browser keeps the rest of its conversation.
    assert "what is my claim status" in _shown(owner.messages())


def test_logout_in_one_browser_ends_the_verification_everywhere(env):
    laptop, phone = Browser(env), Browser(env)
    laptop.verify()
    phone.verify()
    tab = Browser(env, session_id=laptop.session_id)  # a second tab of the laptop: same token, same cookie
    tab.with_cookie(laptop.cookie)
    assert any(n in _shown(tab.messages()) for n in A_CLAIMS)

    out = laptop.send("logout")
    assert "signed out" in out["reply"]
    assert laptop.cookie is None  # the cookie is expired
    assert not any(n in _shown(tab.messages()) for n in A_CLAIMS)
    assert not any(n in _shown(phone.messages()) for n in A_CLAIMS)
    assert phone.live_claims().status_code == 401
    assert _asks_to_verify(phone.send("what is my claim status"))
    assert _asks_to_verify(tab.send("what is my claim status"))


def test_the_logout_api_ends_it_everywhere_but_a_thief_cannot(env):
    laptop, phone = Browser(env), Browser(env)
    laptop.verify()
    phone.verify()
    thief = Browser(env, session_id=laptop.session_id)
    r = thief.logout()
    assert r.status_code == 200 and r.json()["message"]["other_sessions"] == 0
    assert phone.live_claims().status_code == 200  # the thief ended nothing of the person's elsewhere

    # The phone's owner signs out through the API: the laptop's session ends too.
    r = phone.logout()
    assert r.status_code == 200, r.text
    assert phone.cookie is None
    r = Browser(env).logout()
    assert r.status_code == 400
    assert phone.live_claims().status_code == 401
    assert _asks_to_verify(phone.send("what is my claim status"))


def test_unknown_session_logout_is_404(env):
    b = Browser(env, session_id="a" * 43)
    assert b.logout().status_code == 404
