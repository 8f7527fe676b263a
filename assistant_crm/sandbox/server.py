"""The sandbox: the whole outside world of the app over HTTP, on one port.

* ``/v1/...`` CoreBusiness, the whole contract answered from demo data. It
  checks the bearer key, validates input the way the contract says, answers
  errors as ``{"error": {"code", "message"}}``, and never decides who may see
  what (that is the assistant's job, as with the real system).
* ``/graph/v23.0/...`` WhatsApp Cloud API and Messenger Send API,
  ``/telegram/bot<token>/...`` Telegram Bot API, ``/version1/...`` Africa's
  Talking, ``/make/relay`` the Make.com outbound relay (see platforms.py).
* ``/phone`` the simulated phone and its JSON API (phone.py), ``/sms`` the SMS
  inbox, ``/`` the front page with the demo people.
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
from collections import deque
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from assistant_crm.sandbox import data, pages
from assistant_crm.sandbox.app_webhooks import AppClient
from assistant_crm.sandbox.phone import Phone, PhoneError
from assistant_crm.sandbox.platforms import (
    AfricasTalking,
    GraphAPI,
    MakeComRelay,
    Platform,
    Received,
    Reply,
    TelegramBot,
)
from assistant_crm.sandbox.world import SMS_USERNAME, World

log = logging.getLogger("assistant_crm.sandbox")

NRC_RE = re.compile(r"^\d{6}/\d{2}/\d$")
_SUMMARY_FIELDS = (
    "claim_number",
    "claim_type",
    "status",
    "status_date",
    "incident_date",
    "employer_name",
    "next_step",
)
MAX_BODY = 64 * 1024
SMS_INBOX_SIZE = 200
HTML = "text/html; charset=utf-8"


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(
        self, address: tuple[str, int], api_key: str, world: World | None = None, app_url: str | None = None
    ):
        super().__init__(address, _Handler)
        self.api_key = api_key
        self.app_url = app_url
        # Run alone, the sandbox's SMS gateway takes the CoreBusiness key (as it always has).
        self.world = world or World(corebusiness_key=api_key, at_api_key=api_key)
        w = self.world
        self.graph = GraphAPI(w.whatsapp_access_token, w.messenger_page_token, w.whatsapp_phone_number_id)
        self.telegram = TelegramBot(w.telegram_bot_token)
        self.africastalking = AfricasTalking(SMS_USERNAME, w.at_api_key)
        self.make_com = MakeComRelay(w.make_com_api_key)
        self.phone = Phone(AppClient(app_url, w.app_secrets()) if app_url else None)
        # The demo's SMS inbox: one-time codes sent through "Africa's Talking" at
        # this server land here and are listed at GET /sms (demo data only).
        self.sms_inbox: deque[dict[str, str]] = deque(maxlen=SMS_INBOX_SIZE)
        self.sms_lock = threading.Lock()

    @property
    def base_url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"


class _Problem(Exception):
    def __init__(self, status: int, code: str, message: str):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def _collapse(name: str) -> str:
    return " ".join((name or "").split()).casefold()


def _claims_for(person_id: str) -> list[dict[str, Any]]:
    out = []
    for number, claim in data.CLAIMS.items():
        if claim["person_id"] == person_id or person_id in claim.get("dependants", []):
            out.append({"claim_number": number, **{k: claim[k] for k in _SUMMARY_FIELDS if k in claim}})
    out.sort(key=lambda c: c.get("status_date") or "", reverse=True)
    return out


def verify(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise _Problem(400, "invalid_body", "Send a JSON object with nrc and full_name")
    nrc, name = body.get("nrc"), body.get("full_name")
    if not isinstance(nrc, str) or not isinstance(name, str) or not name.strip():
        raise _Problem(400, "invalid_body", "nrc and full_name are required strings")
    if not NRC_RE.match(nrc.strip()):
        raise _Problem(400, "invalid_nrc", "nrc must look like NNNNNN/NN/N")
    for person_id, p in data.PERSONS.items():
        # Compare both: a shared NRC alone must never verify someone else.
        if hmac.compare_digest(p["nrc"], nrc.strip()) and _collapse(p["full_name"]) == _collapse(name):
            return {
                "verified": True,
                "person_id": person_id,
                "full_name": p["full_name"],
                "roles": list(p["roles"]),
                "employer_numbers": list(p["employer_numbers"]),
                "phone": p["phone"],
                "preferred_language": p["preferred_language"],
            }
    return {"verified": False}


def route(method: str, path: str, query: dict[str, list[str]], body: Any) -> dict[str, Any]:
    """Answer one API call (raises _Problem for errors)."""
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if parts[:1] != ["v1"]:
        raise _Problem(404, "not_found", "No such endpoint")
    rest = parts[1:]
    if rest == ["identity", "verify"]:
        _allow(method, "POST")
        return verify(body)
    if len(rest) == 3 and rest[0] == "persons" and rest[2] in ("claims", "payments"):
        _allow(method, "GET")
        person_id = rest[1]
        if person_id not in data.PERSONS:
            raise _Problem(404, "not_found", "No such person")
        if rest[2] == "claims":
            return {"claims": _claims_for(person_id)}
        raw_limit = (query.get("limit") or ["12"])[0]
        try:
            limit = int(raw_limit)
        except ValueError:
            raise _Problem(400, "invalid_limit", "limit must be an integer") from None
        if not 1 <= limit <= 100:
            raise _Problem(400, "invalid_limit", "limit must be between 1 and 100")
        payments = sorted(data.PAYMENTS.get(person_id, []), key=lambda p: p["scheduled_date"], reverse=True)
        return {"payments": payments[:limit]}
    if len(rest) in (2, 3) and rest[0] == "claims":
        _allow(method, "GET")
        claim = data.CLAIMS.get(rest[1])
        if claim is None:
            raise _Problem(404, "not_found", "No such claim")
        if len(rest) == 2:
            return {
                "claim_number": rest[1],
                **{k: claim[k] for k in _SUMMARY_FIELDS if k in claim},
                "person_id": claim["person_id"],
                "history": claim["history"],
            }
        if rest[2] == "documents":
            return {"documents": claim["documents"]}
    if len(rest) == 3 and rest[0] == "employers" and rest[2] == "contributions":
        _allow(method, "GET")
        employer = data.EMPLOYERS.get(rest[1])
        if employer is None:
            raise _Problem(404, "not_found", "No such employer")
        return {"employer_number": rest[1], **employer}
    raise _Problem(404, "not_found", "No such endpoint")


def _allow(method: str, allowed: str) -> None:
    if method != allowed:
        raise _Problem(400, "method_not_allowed", f"Use {allowed}")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so a pooled client reuses connections
    # Headers and body go out in two writes: without this, Nagle + delayed ACK add ~40 ms per answer.
    disable_nagle_algorithm = True
    server: SandboxServer

    def do_GET(self) -> None:  # noqa: N802
        self._handle("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._handle("POST")

    def _handle(self, method: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            length = -1
        if length < 0 or length > MAX_BODY:
            self._send(400, {"error": {"code": "invalid_body", "message": "Bad or too large Content-Length"}})
            self.close_connection = True
            return
        raw = self.rfile.read(length) if length else b""
        split = urlsplit(self.path)
        path = split.path
        if path in ("/", "/index.html") and method == "GET":
            return self._send_raw(
                200,
                pages.front_page(self.server.base_url, self.server.app_url, self.server.world.staff).encode(),
                HTML,
            )
        if path == "/phone" and method == "GET":
            return self._send_raw(200, pages.phone_page(), HTML)
        if path.startswith("/phone/api/"):
            return self._phone_api(method, path, split.query, raw)
        if path == "/sms" and method == "GET":
            return self._sms_inbox()
        if path.startswith("/version1/"):
            return self._platform(self.server.africastalking, method, split, path, raw)
        if path.startswith("/graph/"):
            # The Graph version is part of the base URL: /graph/v23.0/{id}/messages.
            return self._platform(self.server.graph, method, split, path, raw)
        if path.startswith("/telegram/"):
            return self._platform(self.server.telegram, method, split, path[len("/telegram") :], raw)
        if path == "/make/relay":
            return self._platform(self.server.make_com, method, split, path, raw, via="make_com")
        try:
            self._check_key()
            body = None
            if method == "POST":
                try:
                    body = json.loads(raw.decode("utf-8")) if raw else None
                except (UnicodeDecodeError, json.JSONDecodeError):
                    raise _Problem(400, "invalid_json", "The body is not valid JSON") from None
            result = route(method, path, parse_qs(split.query), body)
            self._send(200, result)
        except _Problem as p:
            self._send(p.status, {"error": {"code": p.code, "message": p.message}})

    def _platform(
        self, platform: Platform, method: str, split: Any, path: str, raw: bytes, via: str = ""
    ) -> None:
        """One call to a platform API: check, answer, and put what was accepted on the phone."""
        req = Received(
            method=method,
            path=path,
            query={k: v[0] for k, v in parse_qs(split.query).items()},
            headers={k.lower(): v for k, v in self.headers.items()},
            body=raw,
        )
        reply = platform.check(req)
        delivered = None
        if reply is None:
            reply, delivered = platform.accept(req)
        else:
            # The path may hold a bot token: only the platform and status are logged.
            log.info("sandbox %s refused a %s call: %s", platform.name, method, reply.status)
        phone = self.server.phone
        first = delivered is not None and phone.receipts_before_answer
        if first:
            # The receipts overtake the answer, as Meta's sometimes do.
            phone.deliver(delivered, via=via, now=True)
        self._reply(reply)
        if delivered is None:
            return
        if delivered.get("platform") == "sms" and via != "make_com":
            self._sms_record(delivered)
        if not first:
            phone.deliver(delivered, via=via)

    def _reply(self, reply: Reply) -> None:
        data, ctype = reply.encoded()
        self.send_response(reply.status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        for k, v in reply.headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def _phone_api(self, method: str, path: str, query: str, raw: bytes) -> None:
        """``POST /phone/api/send`` {"channel", "from", "text"[, "name"]},
        ``GET /phone/api/messages?channel=&peer=`` and ``GET /phone/api/people``."""
        phone = self.server.phone
        try:
            if path == "/phone/api/messages" and method == "GET":
                q = {k: v[0] for k, v in parse_qs(query).items()}
                return self._send(200, phone.messages(q.get("channel", ""), q.get("peer", "")))
            if path == "/phone/api/people" and method == "GET":
                return self._send(200, pages.people())
            if path == "/phone/api/send" and method == "POST":
                try:
                    body = json.loads(raw.decode("utf-8")) if raw else None
                except (UnicodeDecodeError, json.JSONDecodeError):
                    raise PhoneError("the body is not valid JSON") from None
                if not isinstance(body, dict):
                    raise PhoneError('send a JSON object {"channel", "from", "text"}')
                name = body.get("name") if isinstance(body.get("name"), str) else ""
                return self._send(
                    200, phone.send(body.get("channel"), body.get("from"), body.get("text"), name)
                )
        except PhoneError as e:
            log.info("sandbox phone: %s %s refused: %s", method, path, e)
            return self._send(e.status, {"error": {"code": "bad_request", "message": str(e)}})
        return self._send(404, {"error": {"code": "not_found", "message": "No such phone endpoint"}})

    def _sms_record(self, delivered: dict[str, Any]) -> None:
        at = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        with self.server.sms_lock:
            self.server.sms_inbox.append(
                {
                    "at": at,
                    "to": str(delivered["recipient"]),
                    "message": delivered["text"],
                    "id": delivered["id"],
                }
            )

    def _sms_inbox(self) -> None:
        """The demo's SMS inbox page: what went out through the sandbox's Africa's Talking, newest first."""
        with self.server.sms_lock:
            items = list(self.server.sms_inbox)[::-1]
        self._send_raw(200, pages.sms_page(items).encode(), HTML)

    def _send_raw(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _check_key(self) -> None:
        auth = self.headers.get("Authorization") or ""
        given = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        if not given or not hmac.compare_digest(given.encode(), self.server.api_key.encode()):
            raise _Problem(401, "unauthorized", "Missing or wrong API key")

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        body = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        # Request lines carry person ids and claim numbers only; still keep them at debug.
        log.debug("sandbox %s", format % args)


def make_server(
    host: str = "127.0.0.1",
    port: int = 8701,
    api_key: str = "sandbox-key",
    world: World | None = None,
    app_url: str | None = None,
) -> SandboxServer:
    """A ready sandbox server; call ``serve_forever()`` (and ``shutdown()`` from another thread).

    With ``world`` the platforms check its credentials; with ``app_url`` the
    phone posts people's messages and the receipts to the app there."""
    return SandboxServer((host, port), api_key, world, app_url)
