"""Every public endpoint under generated bodies and headers (Hypothesis).

The WSGI app runs in-process behind werkzeug's test client (no sockets, no
subprocesses), so a few thousand requests per endpoint stay fast. For each
request: never a 5xx, never a traceback in the answer, and a refused request
(4xx) stores nothing (no session, message or channel record, no file).

``FUZZ_EXAMPLES`` sets the examples per endpoint (2,000 by default, as in CI).
"""

from __future__ import annotations

import hashlib
import hmac
import io
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from werkzeug.test import Client

from assistant_crm.api.endpoint import REGISTRY, load_all_endpoints
from assistant_crm.runtime.standalone import create_runtime, shutdown
from assistant_crm.services.infra.ports import set_runtime
from assistant_crm.standalone.wsgi import create_app
from tests.fakes import webhook_payloads as wp

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "2000"))
SECRETS = {
    "whatsapp_app_secret": "fuzz-wa-secret",
    "whatsapp_verify_token": "fuzz-wa-verify",
    "messenger_app_secret": "fuzz-fb-secret",
    "messenger_verify_token": "fuzz-fb-verify",
    "telegram_secret_token": "fuzz-tg-secret",
    "sms_callback_token": "fuzz-sms-token",
    "twilio_auth_token": "fuzz-twilio",
    "make_com_api_key": "fuzz-make-key",
}
STORED = ("Chat Session", "Chat History", "Omnichannel Message")
PREFIX = "/api/method/"


def _public_paths() -> list[str]:
    load_all_endpoints()
    paths = sorted(p for p, spec in REGISTRY.items() if spec.allow_guest)
    return paths + ["login"]  # Frappe's login path: fuzzed whether or not this build serves it


PATHS = _public_paths()


@pytest.fixture(scope="module")
def app(tmp_path_factory, seeded_sqlite):
    tmp = tmp_path_factory.mktemp("fuzz")
    db = tmp / "fuzz.sqlite3"
    shutil.copyfile(seeded_sqlite, db)
    os.environ["ASSISTANT_CRM_FILES_DIR"] = str(tmp / "files")
    rt = create_runtime(
        f"sqlite:///{db}",
        overrides={**SECRETS, "webhook_rate_limit_per_minute": 0},
        environ={},
        workers=1,
    )
    # Accepted events are stored and queued; replying to them is not what is fuzzed here.
    rt.queue.stop()
    client = Client(create_app(rt))
    first = client.post(PREFIX + "assistant_crm.api.chat.send_message", json={"message": "hello"})
    assert first.status_code == 200
    session_id = first.get_json()["message"]["session_id"]
    yield rt, client, session_id, tmp / "files"
    shutdown(rt)
    set_runtime(None)


# -- generated values ---------------------------------------------------------------
# Text with everything a platform may send: emoji, right-to-left, controls, other
# scripts' digits, lone surrogates.
_chars = st.characters(codec=None, categories=None, exclude_characters="\x00") | st.sampled_from(
    ["\ud800", "\udfff", "３", "٣", "\u202e", "\u200d", "'", '"', "<", "\\", "%", "/"]
)
_text = st.text(_chars, max_size=40)
# Header values as a client can send them (Latin-1, no line breaks).
_header_text = st.text(
    st.characters(min_codepoint=32, max_codepoint=255, exclude_characters="\x7f"), max_size=30
)
_scalar = st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.floats(allow_nan=False) | _text
_json = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=4),
    max_leaves=6,
)


def _templates(session_id: str) -> dict[str, Any]:
    return {
        "whatsapp": wp.wa_webhook(
            wp.wa_value([wp.wa_text("hi"), wp.wa_image()], statuses=[wp.wa_status("w", "read")])
        ),
        "messenger": wp.fb_webhook(wp.fb_message("hi"), wp.fb_delivery(["m.1"])),
        "telegram": wp.tg_update("hi"),
        "make_com": wp.make_message("hi"),
        "chat": {"message": "what is the minimum pension", "session_id": session_id},
        "live": {"session_id": session_id, "claim_number": "CLM-2026-10001"},
    }


@st.composite
def _mutated(draw: Any, template: Any) -> Any:
    """A valid body with a few leaves swapped for generated values."""
    value = json.loads(json.dumps(template))
    for _ in range(draw(st.integers(0, 3))):
        node, keys = value, []
        while isinstance(node, dict | list) and node:
            key = draw(
                st.sampled_from(list(node.keys()) if isinstance(node, dict) else list(range(len(node))))
            )
            keys.append(key)
            if draw(st.booleans()):
                break
            node = node[key]
        if not keys:
            break
        parent = value
        for k in keys[:-1]:
            parent = parent[k]
        if draw(st.booleans()):
            parent[keys[-1]] = draw(_json)
        elif isinstance(parent, dict):
            del parent[keys[-1]]
    return value


def _kind(path: str) -> str:
    tail = path.rsplit(".", 1)[-1]
    if "webhooks." in path:
        return tail  # whatsapp | messenger | telegram | sms
    if "make_com" in path:
        return "make_com"
    if "live_data" in path:
        return "live"
    if tail == "upload_file":
        return "upload"
    return "chat"


def _encode(value: Any) -> bytes:
    # ensure_ascii: lone surrogates travel as "\ud800" escapes, as real encoders send them.
    return json.dumps(value, ensure_ascii=True).encode()


@st.composite
def requests_for(draw: Any, path: str, templates: dict[str, Any], session_id: str) -> dict[str, Any]:
    spec = REGISTRY.get(path)
    kind = _kind(path)
    methods = list(spec.methods) if spec else ["POST", "GET"]
    method = draw(st.sampled_from(methods + ["PUT"] if draw(st.integers(0, 19)) == 0 else methods))
    headers: dict[str, str] = {}
    query: dict[str, str] = draw(
        st.dictionaries(
            st.sampled_from(
                ["session_id", "token", "hub.mode", "hub.challenge", "hub.verify_token", "claim_number", "x"]
            ),
            _text.map(lambda t: t.encode("utf-8", "replace").decode("utf-8")),
            max_size=3,
        )
    )
    shape = draw(st.sampled_from(["template", "json", "bytes", "form"]))
    if kind == "upload":
        shape = draw(st.sampled_from(["multipart", "json", "bytes"]))
    body: Any = b""
    data: Any = None
    if shape == "template" and kind in templates:
        body = _encode(draw(_mutated(templates[kind])))
    elif shape in ("json", "template"):
        body = _encode(draw(_json))
    elif shape == "bytes":
        body = draw(st.binary(max_size=600))
    elif shape == "form":
        form = draw(
            st.dictionaries(
                st.sampled_from(
                    ["from", "to", "text", "date", "id", "From", "Body", "MessageSid", "message"]
                ),
                _text,
                max_size=6,
            )
        )
        if kind == "sms" and draw(st.booleans()):
            form = {**wp.at_form("hi"), **form}
        body = wp.form_body({k: v.encode("utf-8", "replace").decode("utf-8") for k, v in form.items()})
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    else:  # multipart upload
        content = draw(st.sampled_from([b"\x89PNG\r\n\x1a\n", b"%PDF-1.4\n", b"GIF89a", b""])) + draw(
            st.binary(max_size=300)
        )
        data = {
            "file": (
                io.BytesIO(content),
                draw(_text.map(lambda t: t.encode("utf-8", "replace").decode("utf-8"))) or "f",
                draw(st.sampled_from(["image/png", "application/pdf", "text/html", ""])),
            ),
            "session_id": draw(st.sampled_from([session_id, "", "nope"])),
        }
    if "Content-Type" not in headers and data is None:
        headers["Content-Type"] = draw(
            st.sampled_from(
                [
                    "application/json",
                    "text/plain",
                    "application/x-www-form-urlencoded",
                    "multipart/form-data; boundary=x",
                    "",
                ]
            )
        )
    secret_ok = draw(st.booleans())
    if kind in ("whatsapp", "messenger"):
        secret = SECRETS[f"{kind}_app_secret"] if secret_ok else "wrong"
        headers["X-Hub-Signature-256"] = (
            "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
        )
    elif kind == "telegram":
        headers["X-Telegram-Bot-Api-Secret-Token"] = (
            SECRETS["telegram_secret_token"] if secret_ok else draw(_header_text)
        )
    elif kind == "make_com":
        headers["X-API-Key"] = (
            SECRETS["make_com_api_key"]
            if secret_ok
            else draw(st.text(st.characters(max_codepoint=126, min_codepoint=33), max_size=10))
        )
    elif kind == "sms" and secret_ok:
        query["token"] = SECRETS["sms_callback_token"]
    for name in draw(
        st.lists(
            st.sampled_from(
                [
                    "X-Forwarded-For",
                    "X-Timestamp",
                    "X-Signature",
                    "Authorization",
                    "Cookie",
                    "Accept-Language",
                    "X-Twilio-Signature",
                ]
            ),
            max_size=3,
        )
    ):
        headers[name] = draw(_header_text)
    return {"method": method, "headers": headers, "query": query, "body": body, "data": data}


_SNAPSHOT_SQL = "SELECT " + ", ".join(f'(SELECT COUNT(*) FROM "tab{d}")' for d in STORED)


def _snapshot(rt: Any, files: Path | None) -> tuple:
    """Row counts of what a request may store (one query), and files when uploads are fuzzed."""
    with rt.store.engine.connect() as conn:
        counts = tuple(conn.exec_driver_sql(_SNAPSHOT_SQL).one())
    n_files = sum(1 for _ in files.rglob("*")) if files is not None and files.exists() else 0
    return counts + (n_files,)


@pytest.mark.parametrize("path", PATHS)
def test_fuzz_endpoint(app, path, caplog):
    rt, client, session_id, files = app
    # Thousands of refused requests: keep their (correct) log lines out of the capture.
    caplog.set_level(logging.ERROR, logger="assistant_crm")
    templates = _templates(session_id)
    files = files if _kind(path) == "upload" else None

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(req=requests_for(path, templates, session_id))
    def run(req: dict[str, Any]) -> None:
        before = _snapshot(rt, files)
        kwargs: dict[str, Any] = {"headers": req["headers"], "query_string": req["query"]}
        if req["data"] is not None:
            kwargs["data"] = req["data"]
        elif req["method"] != "GET":
            kwargs["data"] = req["body"]
        resp = client.open(PREFIX + path, method=req["method"], **kwargs)
        text = resp.get_data(as_text=True)
        assert resp.status_code < 500, (resp.status_code, text[:500])
        assert "Traceback" not in text and 'File "' not in text
        if resp.status_code >= 400:
            assert _snapshot(rt, files) == before, (resp.status_code, text[:300])

    run()
