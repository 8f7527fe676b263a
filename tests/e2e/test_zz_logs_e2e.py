"""Runs last (file order): the server's whole log output after every other test,
plus a flow of its own so it means something when run alone, must hold no full
NRC, no full phone number and no secret value."""

from __future__ import annotations

import re

import pytest
import requests

from tests.e2e import fakes
from tests.e2e.conftest import SECRETS, Chat, Server
from tests.e2e.helpers import otp_for, person
from tests.e2e.test_channels_e2e import post_sms, post_tg, post_wa, tg_update, wa_payload

pytestmark = pytest.mark.e2e


TOKENS: list[str] = []


def _exercise(server: Server) -> None:
    a = person("P-E2E-0001")
    chat = Chat(server)
    chat.say("what is my claim status")
    before = len(server.sms.messages_to(a["phone"]))
    chat.say(f"{a['nrc']} {a['full_name']}")
    chat.say(otp_for(server.sms, a["phone"], before))
    TOKENS.append(chat.session_id)
    requests.get(
        server.api("assistant_crm.api.live_data.get_claims"),
        params={"session_id": chat.session_id},
        timeout=10,
    )
    chat.say("show the claims for NRC 579302/61/1")
    chat.say("43819/11/1 someone")
    e = person("P-E2E-0005")
    n = len(server.sms.messages_to(e["phone"]))
    post_sms(server, e["phone"], "hello")
    post_wa(server, wa_payload(a["phone"].lstrip("+"), f"my nrc is {a['nrc']}"))
    post_tg(server, tg_update(4_400_000_001, f"{a['nrc']} {a['full_name']} {a['phone']}"))
    post_sms(server, e["phone"], "hi", token="wrong")
    fakes.wait_for(lambda: len(server.sms.messages_to(e["phone"])) > n, timeout=15)
    fakes.wait_for(lambda: server.telegram.texts_to(4_400_000_001), timeout=15)


def _leaks(text: str, kinds: tuple[str, ...] = ("nrc", "phone", "secret")) -> list[str]:
    found = []
    for p in fakes.PEOPLE.values():
        nrc = p["nrc"]
        if "nrc" in kinds and (nrc in text or nrc.replace("/", " ") in text or nrc.replace("/", "") in text):
            found.append(f"NRC {nrc}")
        national = p["phone"][4:]  # the 9 digits after +260
        if "phone" in kinds and national in text:
            found.append(f"phone {p['phone']}")
    if "phone" in kinds:
        # any Zambian mobile number (the test senders are random ones too)
        for m in re.finditer(r"(?<![\d*])(?:\+?260|0)(?:9[5-7]|7[5-7])\d{7}(?!\d)", text):
            found.append(f"phone {m.group(0)[:6]}...")
    if "secret" in kinds:
        for name, value in SECRETS.items():
            secret = value.split(":")[0] if name == "staff_api_keys" else value
            if secret and secret in text:
                found.append(f"secret {name}")
    return found


@pytest.fixture(scope="module")
def log_text(server: Server) -> str:
    _exercise(server)
    text = server.log_text()
    assert text.strip(), "no log output captured"
    return text


def _check(text: str, kind: str) -> None:
    leaks = _leaks(text, (kind,))
    lines = [ln for ln in text.splitlines() if _leaks(ln, (kind,))][:5]
    assert not leaks, f"{sorted(set(leaks))}\n" + "\n".join(ln[:300] for ln in lines)


def test_server_log_has_no_full_nrc(log_text: str) -> None:
    _check(log_text, "nrc")


def test_server_log_has_no_full_phone(log_text: str) -> None:
    _check(log_text, "phone")


def test_server_log_has_no_secret(log_text: str) -> None:
    _check(log_text, "secret")


def test_server_log_has_no_verified_session_token(log_text: str) -> None:
    """The web session token is the Live Data API's bearer credential."""
    assert TOKENS and TOKENS[0]
    lines = [ln[:300] for ln in log_text.splitlines() if TOKENS[0] in ln]
    assert not lines, "\n".join(lines[:3])
