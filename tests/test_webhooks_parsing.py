"""Parsers, signatures and the IP allow-list, on real-format payloads."""

from __future__ import annotations

import time

import pytest

from assistant_crm.services.delivery.channels import (
    make_com_in,
    messenger_in,
    sms_in,
    telegram_in,
    whatsapp_in,
)
from assistant_crm.services.delivery.channels.inbound import InboundEvent, normalise_phone, to_inbound_message
from assistant_crm.services.infra import ip_allowlist, signatures
from assistant_crm.services.infra.errors import PermissionDenied, ValidationError
from tests.fakes import webhook_payloads as wp

RTL = "مرحبا، ما هو وضع مطالبتي؟ 👷🏾‍♂️ שלום"


# -- signatures ------------------------------------------------------------------
def test_hub_signature_accepts_only_the_exact_body():
    body = wp.body_bytes(wp.wa_webhook(wp.wa_value([wp.wa_text("hi")])))
    good = wp.hub_signature("s3cret", body)
    assert signatures.verify_hub_signature("s3cret", body, good).ok
    assert signatures.verify_hub_signature("s3cret", body, good.upper().replace("SHA256", "sha256")).ok
    assert not signatures.verify_hub_signature("s3cret", body + b" ", good).ok
    assert not signatures.verify_hub_signature("other", body, good).ok
    assert "missing" in signatures.verify_hub_signature("s3cret", body, None).reason
    assert "malformed" in signatures.verify_hub_signature("s3cret", body, "sha1=abc").reason
    assert "not configured" in signatures.verify_hub_signature("", body, good).reason


def test_make_com_signature_and_replay_window():
    body = b'{"a": 1}'
    now = time.time()
    h = wp.make_headers("k", body, secret="whsec", timestamp=int(now))
    assert signatures.verify_make_com_signature("whsec", body, h["X-Signature"], h["X-Timestamp"], now).ok
    assert h["X-Signature"] == signatures.make_com_signature("whsec", h["X-Timestamp"], body)
    old = wp.make_headers("k", body, secret="whsec", timestamp=int(now) - 301)
    res = signatures.verify_make_com_signature("whsec", body, old["X-Signature"], old["X-Timestamp"], now)
    assert not res.ok and "replay" in res.reason
    assert not signatures.verify_make_com_signature(
        "whsec", b'{"a": 2}', h["X-Signature"], h["X-Timestamp"], now
    ).ok
    assert (
        "X-Timestamp"
        in signatures.verify_make_com_signature("whsec", body, h["X-Signature"], None, now).reason
    )


def test_twilio_signature_matches_the_documented_algorithm():
    form = wp.twilio_form("Hello")
    url = "https://crm.example.zm/api/method/assistant_crm.api.webhooks.sms"
    header = wp.twilio_sign("tok", url, form)
    assert signatures.twilio_signature("tok", url, form) == header
    assert signatures.verify_twilio_signature("tok", ["http://wrong/", url], form.items(), header).ok
    assert not signatures.verify_twilio_signature("tok", [url + "?x=1"], form.items(), header).ok
    assert not signatures.verify_twilio_signature("tok", [url], {**form, "Body": "Hellp"}.items(), header).ok


def test_constant_equals_never_matches_an_unset_secret():
    assert not signatures.constant_equals("", "")
    assert not signatures.constant_equals(None, "x")
    assert signatures.constant_equals("abc", "abc")
    assert not signatures.constant_equals("abc", "abd")


# -- IP allow-list -----------------------------------------------------------------
def test_ip_allowlist_lines_commas_cidrs_and_mapped_v6():
    text = "10.0.0.0/8, 192.168.1.7\n# Meta\n2a03:2880::/32  bogus-entry"
    assert ip_allowlist.is_allowed("10.1.2.3", text)
    assert ip_allowlist.is_allowed("192.168.1.7", text)
    assert ip_allowlist.is_allowed("::ffff:10.9.9.9", text)
    assert ip_allowlist.is_allowed("2a03:2880:f00d::1", text)
    assert not ip_allowlist.is_allowed("192.168.1.8", text)
    assert not ip_allowlist.is_allowed("not-an-ip", text)
    assert ip_allowlist.is_allowed("8.8.8.8", "")
    with pytest.raises(PermissionDenied, match="8.8.8.8"):
        ip_allowlist.check("8.8.8.8", text)


# -- WhatsApp ------------------------------------------------------------------------
def test_whatsapp_several_entries_changes_messages_and_statuses():
    m1, m2 = wp.wa_text("first", ts=1000), wp.wa_text("second", wa_id="260961111111", ts=1001)
    payload = wp.wa_webhook(
        wp.wa_value([m1, m2], names={"260961111111": "Bupe"}),
        wp.wa_value([wp.wa_image(caption="my form"), wp.wa_document(), wp.wa_location()]),
        wp.wa_value(
            [wp.wa_button_reply("Claim status"), wp.wa_list_reply("Payments"), wp.wa_template_button("Yes")]
        ),
        wp.wa_value(
            statuses=[
                wp.wa_status("wamid.OUT1", "delivered"),
                wp.wa_status("wamid.OUT2", "failed", error_code=131047),
            ]
        ),
        entries=2,
    )
    events = whatsapp_in.parse(payload)
    msgs = [e for e in events if e.event_type == "message"]
    stats = [e for e in events if e.event_type == "status"]
    # two entries: the first holds changes 0 and 2, the second changes 1 and 3
    assert [e.text for e in msgs] == [
        "first",
        "second",
        "Claim status",
        "Payments",
        "Yes",
        "my form",
        "",
        "WCFCB Head Office Lusaka",
    ]
    assert (
        msgs[0].sender_phone == "+260971234567"
        and msgs[0].sender_name == "Mwila Banda"
        and msgs[0].timestamp == 1000
    )
    assert msgs[1].sender_name == "Bupe"
    assert (
        msgs[5].message_type == "image" and msgs[5].attachments[0]["url"] == "whatsapp-media:1479537139650973"
    )
    assert msgs[6].message_type == "document" and msgs[6].attachments[0]["name"] == "medical-report.pdf"
    assert msgs[7].message_type == "location" and msgs[7].attachments[0]["url"] == "geo:-15.4167,28.2833"
    assert (
        msgs[2].message_type == "interactive"
        and msgs[2].extra["reply_id"] == "claim_status"
        and msgs[2].reply_to
    )
    assert msgs[4].extra == {"reply_id": "YES_PAYLOAD", "kind": "button"}
    assert {(s.platform_message_id, s.state) for s in stats} == {
        ("wamid.OUT1", "delivered"),
        ("wamid.OUT2", "failed"),
    }
    failed = next(s for s in stats if s.state == "failed")
    assert "131047" in failed.error and "24 hours" in failed.error
    assert failed.idempotency_key == "whatsapp:status:wamid.OUT2:failed"
    assert msgs[0].idempotency_key == f"whatsapp:{m1['id']}"


def test_whatsapp_bad_shapes_name_the_field():
    with pytest.raises(ValidationError, match="object"):
        whatsapp_in.parse({"object": "page", "entry": []})
    with pytest.raises(ValidationError, match="entry"):
        whatsapp_in.parse({"object": "whatsapp_business_account"})
    bad = wp.wa_webhook(wp.wa_value([wp.wa_text("x")]))
    del bad["entry"][0]["changes"][0]["value"]["messages"][0]["id"]
    with pytest.raises(ValidationError, match=r"messages\[0\]\.id is missing"):
        whatsapp_in.parse(bad)
    bad = wp.wa_webhook(wp.wa_value(statuses=[wp.wa_status("wamid.X", "exploded")]))
    with pytest.raises(ValidationError, match="statuses"):
        whatsapp_in.parse(bad)
    with pytest.raises(ValidationError):
        whatsapp_in.parse([1, 2])


def test_whatsapp_reactions_and_other_fields_are_skipped_not_refused():
    reaction = {
        "from": "260971234567",
        "id": wp.wamid(),
        "timestamp": "1",
        "type": "reaction",
        "reaction": {"message_id": "x", "emoji": "👍"},
    }
    payload = wp.wa_webhook(wp.wa_value([reaction]))
    payload["entry"][0]["changes"].append({"field": "account_update", "value": {"event": "VERIFIED_ACCOUNT"}})
    assert whatsapp_in.parse(payload) == []


def test_unicode_emoji_and_rtl_text_survive_parsing_and_the_payload_round_trip():
    event = whatsapp_in.parse(wp.wa_webhook(wp.wa_value([wp.wa_text(RTL)])))[0]
    again = InboundEvent.from_payload(event.to_payload())
    assert again.text == RTL
    assert to_inbound_message(again).text == RTL


# -- Messenger ---------------------------------------------------------------------
def test_messenger_messages_postbacks_deliveries_and_echoes():
    payload = wp.fb_webhook(
        wp.fb_message("Hello 👋", quick_reply="CLAIM_STATUS"),
        wp.fb_echo("our own reply"),
        wp.fb_attachment(),
        wp.fb_postback("Talk to an agent", "ESCALATE"),
        wp.fb_delivery(["m_out1", "m_out2"]),
        wp.fb_read(),
    )
    events = messenger_in.parse(payload)
    kinds = [(e.event_type, e.message_type) for e in events]
    assert kinds == [
        ("message", "interactive"),
        ("message", "image"),
        ("message", "interactive"),
        ("status", "text"),
        ("status", "text"),
    ]
    assert events[0].text == "Hello 👋" and events[0].extra["reply_id"] == "CLAIM_STATUS"
    assert events[0].sender_id == "6789012345678901" and events[0].timestamp < 10**11
    assert events[2].text == "Talk to an agent"
    assert {e.platform_message_id for e in events[3:]} == {"m_out1", "m_out2"}
    assert all(e.state == "delivered" for e in events[3:])
    assert messenger_in.parse(wp.fb_webhook(wp.fb_message("x"), obj="instagram"))[0].platform == "instagram"


def test_messenger_bad_shapes():
    with pytest.raises(ValidationError, match="object"):
        messenger_in.parse({"object": "whatsapp_business_account", "entry": []})
    bad = wp.fb_webhook(wp.fb_message("x"))
    del bad["entry"][0]["messaging"][0]["sender"]
    with pytest.raises(ValidationError, match=r"sender\.id"):
        messenger_in.parse(bad)
    weird = wp.fb_webhook({"sender": {"id": "1"}, "recipient": {"id": "2"}, "timestamp": 1, "mystery": {}})
    with pytest.raises(ValidationError, match="no message"):
        messenger_in.parse(weird)


# -- Telegram ----------------------------------------------------------------------
def test_telegram_64_bit_chat_ids_edits_and_ignored_updates():
    big = 9_007_199_254_740_993  # above 2**53: a float would lose the last digit
    ev = telegram_in.parse(wp.tg_update("Muli shani", chat_id=big, message_id=5))[0]
    assert ev.sender_id == "9007199254740993"
    assert ev.idempotency_key == "telegram:9007199254740993:5"
    assert ev.sender_name == "Chanda Mulenga"
    edited = telegram_in.parse(wp.tg_update("Muli shani!", chat_id=big, message_id=5, edited=True))[0]
    assert edited.idempotency_key != ev.idempotency_key and edited.text == "Muli shani!"
    assert telegram_in.parse({"update_id": 1, "callback_query": {"id": "x"}}) == []
    with pytest.raises(ValidationError, match="update_id"):
        telegram_in.parse({"message": {}})
    with pytest.raises(ValidationError, match=r"chat"):
        telegram_in.parse({"update_id": 2, "message": {"message_id": 1, "text": "x"}})


# -- SMS ---------------------------------------------------------------------------
def test_sms_providers_by_fields_and_phones_to_e164():
    at = wp.at_form("Hello", sender="0971234567")
    assert sms_in.detect_provider(at) == "africastalking"
    ev = sms_in.parse(at, "africastalking")[0]
    assert ev.sender_phone == "+260971234567" and ev.platform_message_id == at["id"] and ev.timestamp > 0
    tw = wp.twilio_form("Hi")
    assert sms_in.detect_provider(tw) == "twilio"
    ev = sms_in.parse(tw, "twilio")[0]
    assert (
        ev.platform_message_id == tw["MessageSid"] and ev.text == "Hi" and ev.sender_phone == "+260971234567"
    )
    with pytest.raises(ValidationError, match="'from'"):
        sms_in.parse({"text": "x", "id": "1"}, "africastalking")
    assert normalise_phone("260971234567") == "+260971234567"
    assert normalise_phone("+44 20 7946 0958") == "+442079460958"
    assert normalise_phone("12") == ""


# -- Make.com ------------------------------------------------------------------------
def test_make_com_message_status_and_field_errors():
    ev = make_com_in.parse(wp.make_message("Hello", message_id="wamid.ABC"))
    assert ev.idempotency_key == "whatsapp:wamid.ABC" and ev.via == "make_com"
    assert ev.sender_phone == "+260971234567" and ev.timestamp == 1795511702
    st = make_com_in.parse(wp.make_status("OUTBOX-1", "read"))
    assert st.event_type == "status" and st.platform_message_id == "OUTBOX-1" and st.state == "read"
    image = make_com_in.parse(
        wp.make_message(
            "",
            mtype="image",
            attachments=[{"url": "https://x/y.jpg", "mime_type": "image/jpeg", "name": "form.jpg"}],
        )
    )
    assert image.message_type == "image" and image.attachments[0]["name"] == "form.jpg"
    cases = [
        ({"platform": "myspace"}, "platform"),
        ({"event_type": "typing"}, "event_type"),
        ({"message_id": None}, "message_id"),
        ({"timestamp": "yesterday"}, "timestamp"),
        ({"data": None}, "data"),
    ]
    for change, name in cases:
        with pytest.raises(ValidationError) as info:
            make_com_in.parse({**wp.make_message("x"), **change})
        assert name in info.value.message
    no_sender = wp.make_message("x")
    no_sender["data"]["sender"] = {"name": "x"}
    with pytest.raises(ValidationError, match=r"data\.sender\.id"):
        make_com_in.parse(no_sender)
    empty_text = wp.make_message("")
    with pytest.raises(ValidationError, match=r"data\.message\.content"):
        make_com_in.parse(empty_text)


def test_messenger_message_with_nothing_to_answer_is_skipped():
    bare = wp.fb_webhook(
        {"sender": {"id": "1"}, "recipient": {"id": "2"}, "timestamp": 1, "message": {"mid": "m_1"}}
    )
    assert messenger_in.parse(bare) == []


def test_overlong_ids_get_a_deterministic_key_that_fits_the_column():
    ev = make_com_in.parse(wp.make_message("hi", message_id="x" * 300))
    assert len(ev.idempotency_key) <= 140 and ev.idempotency_key.startswith("whatsapp:sha256:")
    assert (
        ev.idempotency_key
        == make_com_in.parse(wp.make_message("again", message_id="x" * 300)).idempotency_key
    )


def test_telegram_chat_id_that_is_not_an_integer_is_refused():
    update = {
        "update_id": 7,
        "message": {"message_id": 1, "date": 1, "chat": {"id": "abc", "type": "private"}, "text": "hi"},
    }
    with pytest.raises(ValidationError, match=r"message.chat.id must be an integer"):
        telegram_in.parse(update)
    update["message"]["chat"]["id"] = -1001234567890123
    assert telegram_in.parse(update)[0].sender_id == "-1001234567890123"


@pytest.mark.parametrize(
    "provider,form,field",
    [
        (
            "africastalking",
            {"from": "notaphone", "to": "2020", "text": "hi", "id": "ATX1", "date": "2026-11-25"},
            "from",
        ),
        ("twilio", {"From": "notaphone", "To": "+15005550006", "Body": "hi", "MessageSid": "SM1"}, "From"),
    ],
)
def test_sms_sender_that_is_not_a_phone_number_is_refused(provider, form, field):
    with pytest.raises(ValidationError, match=f"'{field}' is not a phone number"):
        sms_in.parse(form, provider)
