"""The router: which sender for which channel and settings, base URLs and
timeouts from settings, the WhatsApp window decision, and a real send per
route through the fakes."""

from __future__ import annotations

from datetime import timedelta

import pytest

from assistant_crm.services.delivery import router
from assistant_crm.services.delivery.channels.base import OutboundPart
from assistant_crm.services.delivery.channels.make_com_send import MakeComSender
from assistant_crm.services.delivery.channels.messenger_send import MessengerSender
from assistant_crm.services.delivery.channels.sms_send import AfricasTalkingSender, TwilioSender
from assistant_crm.services.delivery.channels.telegram_send import TelegramSender
from assistant_crm.services.delivery.channels.whatsapp_send import WhatsAppSender
from tests.fakes.platform_servers import (
    FakeAfricasTalking,
    FakeGraphAPI,
    FakeMakeCom,
    FakeTelegram,
    FakeTwilio,
)
from tests.support import set_settings


def test_default_routes_and_base_urls(rt):
    s = rt.settings
    wa = router.sender_for("whatsapp", s)
    assert isinstance(wa, WhatsAppSender) and wa.base_url == "https://graph.facebook.com/v23.0"
    assert isinstance(router.sender_for("messenger", s), MessengerSender)
    assert isinstance(router.sender_for("instagram", s), MessengerSender)
    tg = router.sender_for("telegram", s)
    assert isinstance(tg, TelegramSender) and tg.base_url == "https://api.telegram.org"
    sms = router.sender_for("sms", s)
    assert isinstance(sms, AfricasTalkingSender) and sms.base_url == "https://api.africastalking.com"
    assert tg.timeout == (3.0, 10.0)
    with pytest.raises(ValueError, match="web"):
        router.sender_for("web", s)


def test_settings_choose_make_com_twilio_and_timeouts(rt):
    set_settings(
        rt,
        whatsapp_via_make_com=1,
        telegram_via_make_com="1",
        make_com_outbound_url="http://make.local/h",
        sms_provider="twilio",
        twilio_base_url="http://twilio.local",
        outbound_read_timeout_seconds=2.5,
    )
    s = rt.settings
    wa = router.sender_for("whatsapp", s)
    assert isinstance(wa, MakeComSender) and wa.url == "http://make.local/h" and wa.timeout == (3.0, 2.5)
    assert isinstance(router.sender_for("telegram", s), MakeComSender)
    assert isinstance(router.sender_for("messenger", s), MessengerSender)  # not relayed
    sms = router.sender_for("sms", s)
    assert isinstance(sms, TwilioSender) and sms.base_url == "http://twilio.local"
    assert router.deadline_seconds(s) == 3.0 + 5.0


def test_prepare_refuses_an_unknown_channel(rt):
    prepared = router.prepare(OutboundPart(channel="fax", recipient_id="1", text="x"))
    assert prepared.sender is None and not prepared.failure.transient and "fax" in prepared.failure.error


def test_prepare_applies_the_whatsapp_window_from_the_session(rt):
    session = rt.store.insert(
        "Chat Session",
        {
            "channel": "whatsapp",
            "platform_sender_id": "260971111111",
            "last_activity": rt.clock.now() - timedelta(hours=2),
        },
    )
    part = OutboundPart(channel="whatsapp", recipient_id="260971111111", text="hello", session=session)
    prepared = router.prepare(part)
    assert prepared.failure is None and prepared.part.template is None
    rt.store.update("Chat Session", session, {"last_activity": rt.clock.now() - timedelta(hours=30)})
    prepared = router.prepare(part)
    assert prepared.failure is not None and "24-hour window" in prepared.failure.error
    set_settings(rt, whatsapp_template_name="wcfcb_reply")
    prepared = router.prepare(part)
    assert prepared.failure is None and prepared.part.template["name"] == "wcfcb_reply"
    second = router.prepare(
        OutboundPart(
            channel="whatsapp", recipient_id="260971111111", text="more", session=session, part=2, parts=2
        )
    )
    assert second.failure is not None and "first part" in second.failure.error


def test_a_status_receipt_does_not_open_the_window(rt):
    rt.store.insert(
        "Omnichannel Message",
        {
            "platform": "whatsapp",
            "direction": "inbound",
            "event_type": "status",
            "recipient_id": "260972222222",
            "idempotency_key": "whatsapp:st1",
            "status": "processed",
        },
    )
    prepared = router.prepare(OutboundPart(channel="whatsapp", recipient_id="260972222222", text="x"))
    assert prepared.failure is not None and "24-hour window" in prepared.failure.error


def test_every_route_sends_through_its_base_url(rt):
    with (
        FakeGraphAPI() as graph,
        FakeTelegram() as tg,
        FakeAfricasTalking() as at,
        FakeTwilio() as tw,
        FakeMakeCom() as make,
    ):
        set_settings(
            rt,
            graph_api_base_url=graph.url,
            whatsapp_access_token=graph.whatsapp_token,
            whatsapp_phone_number_id=graph.phone_number_id,
            messenger_page_access_token=graph.page_token,
            telegram_api_base_url=tg.url,
            telegram_bot_token=tg.token,
            africastalking_base_url=at.url,
            africastalking_username=at.username,
            africastalking_api_key=at.api_key,
            twilio_base_url=tw.url,
            twilio_account_sid=tw.account_sid,
            twilio_auth_token=tw.auth_token,
            twilio_from_number="+15005550006",
            make_com_outbound_url=make.url,
            make_com_api_key=make.api_key,
        )
        rt.store.insert(
            "Omnichannel Message",
            {
                "platform": "whatsapp",
                "direction": "inbound",
                "recipient_id": "260973333333",
                "idempotency_key": "whatsapp:m1",
                "status": "processed",
            },
        )
        for channel, rcpt in (
            ("whatsapp", "260973333333"),
            ("messenger", "77"),
            ("telegram", "88"),
            ("sms", "+260973333333"),
        ):
            result, _ = router.send(OutboundPart(channel=channel, recipient_id=rcpt, text=f"hi {channel}"))
            assert result.ok, (channel, result.error)
        set_settings(rt, sms_provider="twilio", messenger_via_make_com=1)
        assert router.send(OutboundPart(channel="sms", recipient_id="+260973333333", text="hi twilio"))[0].ok
        assert router.send(OutboundPart(channel="messenger", recipient_id="77", text="hi make"))[0].ok
        assert [m["text"] for m in graph.accepted] == ["hi whatsapp", "hi messenger"]
        assert tg.texts() == ["hi telegram"] and at.texts() == ["hi sms"] and tw.texts() == ["hi twilio"]
        assert make.texts() == ["hi make"] and make.accepted[0]["body"]["platform"] == "messenger"
