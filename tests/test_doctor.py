"""``doctor``'s checks against the sandbox over real HTTP: one authenticated call per
service; a wrong key is "rejected", a missing setting is named."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from assistant_crm.sandbox import make_server
from assistant_crm.sandbox.world import World, overrides_for
from assistant_crm.standalone import doctor
from tests.support import free_port, set_settings


@pytest.fixture
def world(rt) -> Iterator[World]:
    w = World()
    srv = make_server("127.0.0.1", free_port(), w.corebusiness_key, world=w)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    set_settings(rt, **overrides_for(w, srv.base_url, set())[0])
    yield w
    srv.shutdown()
    srv.server_close()


def _by_label(rt: Any) -> dict[str, doctor.Result]:
    return {r.label: r for r in doctor.run(rt.settings)}


def test_every_sandbox_service_authenticates(rt, world):
    results = _by_label(rt)
    for label in (
        "CoreBusiness",
        "WhatsApp (Graph API)",
        "Messenger (Graph API)",
        "Telegram",
        "Africa's Talking (SMS)",
        "Make.com relay",
    ):
        assert results[label].state == "ok", results[label].line()
        assert "authenticated at 127.0.0.1:" in results[label].detail
    assert results["Gemini"].state == "not configured" and "gemini_api_key" in results["Gemini"].detail
    assert results["Twilio (SMS)"].state == "skipped"
    assert not any(r.failed for r in results.values())


@pytest.mark.parametrize(
    ("field", "label"),
    [
        ("corebusiness_api_key", "CoreBusiness"),
        ("whatsapp_access_token", "WhatsApp (Graph API)"),
        ("messenger_page_access_token", "Messenger (Graph API)"),
        ("telegram_bot_token", "Telegram"),
        ("africastalking_api_key", "Africa's Talking (SMS)"),
        ("make_com_api_key", "Make.com relay"),
    ],
)
def test_a_wrong_key_is_rejected_not_reachable(rt, world, field, label):
    set_settings(rt, **{field: "9:wrong-key"})
    result = _by_label(rt)[label]
    assert result.state == "rejected" and result.failed, result.line()
    assert "9:wrong-key" not in result.line()


def test_missing_settings_are_named(rt, world):
    set_settings(rt, whatsapp_phone_number_id="", telegram_secret_token="")
    results = _by_label(rt)
    assert (
        results["WhatsApp (Graph API)"].line()
        == "WhatsApp (Graph API): incomplete (missing whatsapp_phone_number_id)"
    )
    telegram = results["Telegram"]
    assert telegram.state == "incomplete" and "telegram_secret_token" in telegram.detail


def test_nothing_configured_says_what_to_set(rt):
    results = _by_label(rt)
    assert results["CoreBusiness"].line() == (
        "CoreBusiness: not configured (set corebusiness_base_url, corebusiness_api_key)"
    )
    assert "whatsapp_app_secret" in results["WhatsApp (Graph API)"].detail
    assert not any(r.failed for r in results.values())


def test_an_unreachable_service_is_unreachable(rt):
    set_settings(rt, corebusiness_base_url=f"http://127.0.0.1:{free_port()}", corebusiness_api_key="k")
    result = _by_label(rt)["CoreBusiness"]
    assert result.state == "unreachable" and result.failed
