"""The web chat API over HTTP: input checks, sessions, rate limits, uploads, config."""

from __future__ import annotations

import struct
import zlib

import requests

from tests.support import set_settings
from tests.test_conversations import CHAT, Visitor

SEND = CHAT + "send_message"


def _history_count(rt) -> int:
    return rt.store.count("Chat History")


def _post(server, body, **kw):
    return requests.post(server + SEND, json=body, timeout=30, **kw)


def _error_text(r) -> str:
    return r.text


def test_not_json_is_400(server, rt):
    r = requests.post(
        server + SEND, data=b"{not json", headers={"Content-Type": "application/json"}, timeout=30
    )
    assert r.status_code == 400
    assert "JSON" in r.text
    assert _history_count(rt) == 0


def test_missing_message_is_400_naming_it(server, rt):
    r = _post(server, {"session_id": None})
    assert r.status_code == 400
    assert "message" in r.text
    assert _history_count(rt) == 0


def test_empty_and_whitespace_messages_are_400(server, rt):
    for text in ("", "   \n\t  "):
        r = _post(server, {"message": text})
        assert r.status_code == 400
        assert "message is empty" in r.text
    assert _history_count(rt) == 0


def test_too_long_is_400_naming_the_limit_and_2000_is_fine(server, rt):
    r = _post(server, {"message": "a" * 2001})
    assert r.status_code == 400
    assert "longer than 2000 characters" in r.text
    assert _history_count(rt) == 0
    ok = _post(server, {"message": "what is the minimum pension " + "a" * (2000 - 28)})
    assert ok.status_code == 200, ok.text


def test_non_string_message_or_session_is_400(server, rt):
    for body in ({"message": 123}, {"message": ["hi"]}, {"message": None}, {"message": {"t": 1}}):
        r = _post(server, body)
        assert r.status_code == 400, body
        assert "message must be a string" in r.text
    r = _post(server, {"message": "hi", "session_id": 12345})
    assert r.status_code == 400
    assert "session_id" in r.text
    assert _history_count(rt) == 0


def test_unknown_session_id_gets_a_new_session(server, rt):
    v = Visitor(server)
    v.send("Hello")
    mine = v.session_id
    near = mine[:-2] + ("BB" if mine.endswith("AA") else "AA")  # one token away (never mine itself)
    for guess in ("does-not-exist-0000000000000000000000000", "x", near):
        r = _post(server, {"message": "Hello", "session_id": guess})
        assert r.status_code == 200
        assert r.json()["message"]["session_id"] not in (guess, mine)


def test_a_session_name_is_not_a_way_into_someone_elses_session(server, rt):
    v = Visitor(server)
    v.send("My NRC is 123456/78/1")
    name = rt.store.get_by("Chat Session", {"visitor_token": v.session_id})["name"]
    r = _post(server, {"message": "show my history", "session_id": name})
    assert r.status_code == 200
    other = r.json()["message"]["session_id"]
    assert other != v.session_id
    # And get_messages refuses anything but the token.
    g = requests.get(server + CHAT + "get_messages", params={"session_id": name}, timeout=30)
    assert g.status_code == 404


def test_rate_limit_per_session_is_429_with_retry_after(server, rt):
    set_settings(rt, chat_rate_limit_per_minute=3)
    v = Visitor(server)
    v.send("Hello")
    statuses = []
    # 7 sends cover at most two fixed windows, so one window sees 4 > 3.
    for _ in range(6):
        r = _post(server, {"message": "Hello", "session_id": v.session_id})
        statuses.append(r.status_code)
        if r.status_code == 429:
            retry = int(r.headers["Retry-After"])
            assert 1 <= retry <= 60
            assert "3 per 60 seconds" in r.text
            break
    assert 429 in statuses


def test_rate_limit_per_ip_across_new_sessions(server, rt):
    set_settings(rt, chat_rate_limit_per_minute=1)  # per IP: 5 a minute
    statuses = [_post(server, {"message": "Hello"}).status_code for _ in range(11)]
    assert 429 in statuses
    assert statuses[0] == 200


def test_get_messages_checks_its_inputs(server):
    v = Visitor(server)
    v.send("Hello")
    assert (
        requests.get(
            server + CHAT + "get_messages", params={"session_id": "nope" * 10}, timeout=30
        ).status_code
        == 404
    )
    bad = requests.get(
        server + CHAT + "get_messages", params={"session_id": v.session_id, "timeout": "soon"}, timeout=30
    )
    assert bad.status_code == 400 and "timeout" in bad.text
    bad_since = requests.get(
        server + CHAT + "get_messages", params={"session_id": v.session_id, "since": "yesterday"}, timeout=30
    )
    assert bad_since.status_code == 400 and "since" in bad_since.text
    all_msgs = v.messages()
    assert [m["direction"] for m in all_msgs["messages"]] == ["in", "out"]
    after_first = v.messages(since=all_msgs["messages"][0]["id"])
    assert [m["id"] for m in after_first["messages"]] == [all_msgs["messages"][1]["id"]]
    assert v.messages(since=all_msgs["last_id"])["messages"] == []


def _png(width: int = 1, height: int = 1) -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    raw = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw))
        + chunk(b"IEND", b"")
    )


def _upload(server, session_id, name, data, mime):
    return requests.post(
        server + CHAT + "upload_file",
        data={"session_id": session_id},
        files={"file": (name, data, mime)},
        timeout=30,
    )


def test_upload_an_image_and_fetch_it_back(server, rt):
    v = Visitor(server)
    v.send("Hello")
    png = _png()
    r = _upload(server, v.session_id, "../../etc/my photo.png", png, "image/png")
    assert r.status_code == 200, r.text
    info = r.json()["message"]
    assert info["mime_type"] == "image/png"
    assert info["file_url"].startswith("/files/assistant_crm/")
    assert ".." not in info["file_url"] and " " not in info["file_url"]
    back = requests.get(server + info["file_url"], timeout=30)
    assert back.status_code == 200
    assert back.content == png
    row = rt.store.get("Chat History", info["message_id"])
    assert row["attachments"][0]["url"] == info["file_url"]
    *_, theirs, ack = v.messages()["messages"]
    assert theirs["attachments"][0]["mime_type"] == "image/png"
    # The assistant acknowledges the file by name (issue 11.7).
    assert ack["author"] == "bot" and ack["text"] == f"Thank you, I have received {info['name']}."
    assert info["reply"] == ack["text"]


def test_upload_a_pdf(server):
    v = Visitor(server)
    v.send("Hello")
    r = _upload(
        server, v.session_id, "report.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\n%%EOF\n", "application/pdf"
    )
    assert r.status_code == 200, r.text
    assert r.json()["message"]["name"] == "report.pdf"


def test_upload_refuses_wrong_types_and_big_files(server, rt):
    v = Visitor(server)
    v.send("Hello")
    before = _history_count(rt)
    exe = _upload(server, v.session_id, "photo.png", b"MZ\x90\x00" + b"\x00" * 100, "image/png")
    assert exe.status_code == 415
    assert "not accepted" in exe.text
    liar = _upload(server, v.session_id, "notes.txt", _png(), "text/plain")
    assert liar.status_code == 415
    html = _upload(server, v.session_id, "x.html", b"<html><script>alert(1)</script>", "text/html")
    assert html.status_code == 415
    big = _upload(server, v.session_id, "big.png", _png() + b"\x00" * (5 * 1024 * 1024), "image/png")
    assert big.status_code == 413
    assert "5 MB" in big.text
    missing = requests.post(server + CHAT + "upload_file", data={"session_id": v.session_id}, timeout=30)
    assert missing.status_code == 400 and "file" in missing.text
    unknown = _upload(server, "no-such-session-00000000000000", "a.png", _png(), "image/png")
    assert unknown.status_code == 404
    assert _history_count(rt) == before


def test_get_config_gives_public_branding_only(server, rt):
    set_settings(rt, assistant_name="Mwana", gemini_api_key="secret-gemini-key")
    r = requests.get(server + CHAT + "get_config", timeout=30)
    assert r.status_code == 200
    cfg = r.json()["message"]
    assert cfg["assistant_name"] == "Mwana"
    assert cfg["brand_primary_colour"].startswith("#")
    assert cfg["chat_auto_launch_seconds"] == 8
    assert "Mwana" in cfg["greeting"]
    assert "secret-gemini-key" not in r.text


def test_wrong_method_is_405(server):
    r = requests.get(server + SEND, params={"message": "hi"}, timeout=30)
    assert r.status_code == 405


def test_a_broken_database_is_503_not_500(server, rt):
    import sqlalchemy as sa

    v = Visitor(server)
    v.send("Hello")
    with rt.store.engine.begin() as conn:
        conn.execute(sa.text('DROP TABLE "tabChat History"'))
    r = _post(server, {"message": "What is the minimum pension?", "session_id": v.session_id})
    assert r.status_code == 503
    assert "unavailable" in r.text
