"""The platforms' send APIs as they answer: request checks and success bodies.

One definition of each wire format, used by the sandbox (what ``make run``
talks to) and by the test fakes in ``tests/fakes/platform_servers.py`` (which
add fault injection on top):

* WhatsApp Cloud API ``POST {graph}/{phone_number_id}/messages`` (bearer token)
  and the Messenger Send API ``POST {graph}/{page_id|me}/messages``
  (``access_token`` query parameter): :class:`GraphAPI`;
* Telegram Bot API ``POST {base}/bot<token>/sendMessage``: :class:`TelegramBot`;
* Africa's Talking ``POST /version1/messaging`` (form, ``apiKey`` header): :class:`AfricasTalking`;
* a Make.com custom webhook for the outbound relay (``X-API-Key``): :class:`MakeComRelay`.

``check`` answers a refusal (or None), ``accept`` the success answer and the
message as the person receives it: ``{"platform", "id", "recipient", "text",
"buttons", "body"}``.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs


@dataclass
class Received:
    """One request as the platform saw it."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]  # lower-cased names
    body: bytes
    outcome: str = ""  # "accepted", "failed:<status>", "hung", "unauthorized", "bad-request"
    at: float = field(default_factory=time.monotonic)

    @property
    def json(self) -> Any:
        try:
            return json.loads(self.body.decode("utf-8"))
        except ValueError:
            return None

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


@dataclass
class Reply:
    """What the platform answers."""

    status: int
    body: Any = None  # dict/list -> JSON, str/bytes -> as is
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, str]:
        """The body as bytes and its content type."""
        if isinstance(self.body, (dict, list)):
            return json.dumps(self.body).encode(), "application/json"
        if isinstance(self.body, str):
            return self.body.encode(), "text/plain; charset=utf-8"
        return self.body or b"", "application/json"


Delivered = dict[str, Any]


class Platform:
    """Base: a counter for message ids; subclasses define ``check`` and ``accept``."""

    name = "platform"

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._id_lock = threading.Lock()

    def next_id(self) -> int:
        with self._id_lock:
            return next(self._ids)

    def check(self, req: Received) -> Reply | None:
        """Credentials and shape; a Reply refuses the request."""
        return None

    def accept(self, req: Received) -> tuple[Reply, Delivered | None]:
        """The success answer and the message as delivered (None: answered, not delivered)."""
        raise NotImplementedError


def graph_error(code: int, message: str, status: int = 400, subcode: int | None = None) -> Reply:
    """A Graph API error body, as Meta answers it."""
    err: dict[str, Any] = {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": uuid.uuid4().hex[:11],
    }
    if subcode is not None:
        err["error_subcode"] = subcode
    return Reply(status, {"error": err})


def whatsapp_buttons(data: dict[str, Any]) -> list[dict[str, str]]:
    """Reply buttons or list rows of an interactive WhatsApp message: ``[{"id", "title"}]``."""
    if data.get("type") != "interactive":
        return []
    action = (data.get("interactive") or {}).get("action") or {}
    out = [
        {
            "id": str((b.get("reply") or {}).get("id", "")),
            "title": str((b.get("reply") or {}).get("title", "")),
        }
        for b in action.get("buttons") or []
    ]
    for section in action.get("sections") or []:
        out += [
            {"id": str(r.get("id", "")), "title": str(r.get("title", ""))} for r in section.get("rows") or []
        ]
    return out


class GraphAPI(Platform):
    """WhatsApp Cloud API and the Messenger Send API (both on graph.facebook.com)."""

    name = "graph"

    def __init__(
        self,
        whatsapp_token: str,
        page_token: str,
        phone_number_id: str,
    ) -> None:
        super().__init__()
        self.whatsapp_token = whatsapp_token
        self.page_token = page_token
        self.phone_number_id = phone_number_id

    @staticmethod
    def is_whatsapp(req: Received) -> bool:
        data = req.json
        return isinstance(data, dict) and data.get("messaging_product") == "whatsapp"

    def check(self, req: Received) -> Reply | None:
        if req.method == "GET" and not req.path.endswith("/messages"):
            return self._check_lookup(req)
        if req.method != "POST" or not req.path.endswith("/messages"):
            return graph_error(100, "Unsupported request", status=400)
        data = req.json
        if not isinstance(data, dict):
            return graph_error(100, "(#100) The parameter messaging_product is required.")
        if self.is_whatsapp(req):
            if req.header("Authorization") != f"Bearer {self.whatsapp_token}":
                return graph_error(190, "Invalid OAuth access token - Cannot parse access token", status=401)
            if req.path.rstrip("/").split("/")[-2] != self.phone_number_id:
                return graph_error(
                    100, "Unsupported post request. Object does not exist", status=400, subcode=33
                )
            if not data.get("to") or data.get("type") not in ("text", "interactive", "template"):
                return graph_error(100, "(#100) Invalid parameter")
            return None
        if req.query.get("access_token") != self.page_token:
            return graph_error(190, "Invalid OAuth access token.", status=400)
        if not (data.get("recipient") or {}).get("id") or "message" not in data:
            return graph_error(100, "(#100) param recipient must be non-empty.")
        return None

    def _check_lookup(self, req: Received) -> Reply | None:
        """``GET /{phone_number_id}`` (bearer) or ``GET /{page_id|me}?access_token=``: the node, if the token fits."""
        node = req.path.rstrip("/").split("/")[-1]
        if req.header("Authorization"):
            if req.header("Authorization") != f"Bearer {self.whatsapp_token}":
                return graph_error(190, "Invalid OAuth access token - Cannot parse access token", status=401)
            if node != self.phone_number_id:
                return graph_error(
                    100, "Unsupported get request. Object does not exist", status=400, subcode=33
                )
            return None
        if req.query.get("access_token") != self.page_token:
            return graph_error(190, "Invalid OAuth access token.", status=400)
        return None

    def accept(self, req: Received) -> tuple[Reply, Delivered | None]:
        if req.method == "GET":
            node = req.path.rstrip("/").split("/")[-1]
            if req.header("Authorization"):
                body = {
                    "id": node,
                    "display_phone_number": "+1 555-078-3881",
                    "verified_name": "WCFCB (sandbox)",
                }
            else:
                body = {"id": node if node != "me" else "1234567890123", "name": "WCFCB (sandbox)"}
            return Reply(200, body), None
        data = req.json
        n = self.next_id()
        if self.is_whatsapp(req):
            wamid = f"wamid.HBgM{n:08d}{uuid.uuid4().hex[:8].upper()}"
            kind = data["type"]
            if kind == "text":
                text = data["text"]["body"]
            elif kind == "interactive":
                text = data["interactive"]["body"]["text"]
            else:
                params = (data["template"].get("components") or [{}])[0].get("parameters") or [{}]
                text = params[0].get("text", "")
            reply = Reply(
                200,
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": data["to"], "wa_id": data["to"]}],
                    "messages": [{"id": wamid}],
                },
            )
            return reply, {
                "platform": "whatsapp",
                "id": wamid,
                "recipient": data["to"],
                "text": text,
                "type": kind,
                "buttons": whatsapp_buttons(data),
                "body": data,
            }
        mid = f"m_{n:06d}{uuid.uuid4().hex[:10]}"
        rid = data["recipient"]["id"]
        message = data["message"]
        buttons = [
            {"id": str(q.get("payload", "")), "title": str(q.get("title", ""))}
            for q in message.get("quick_replies") or []
        ]
        return (
            Reply(200, {"recipient_id": rid, "message_id": mid}),
            {
                "platform": "messenger",
                "id": mid,
                "recipient": rid,
                "text": message.get("text", ""),
                "buttons": buttons,
                "body": data,
            },
        )


def telegram_error(status: int, description: str) -> Reply:
    return Reply(status, {"ok": False, "error_code": status, "description": description})


class TelegramBot(Platform):
    """Telegram Bot API ``/bot<token>/sendMessage`` (also ``getMe``, which doctor calls)."""

    name = "telegram"

    def __init__(self, token: str) -> None:
        super().__init__()
        self.token = token

    def check(self, req: Received) -> Reply | None:
        if not req.path.startswith(f"/bot{self.token}/"):
            return telegram_error(401, "Unauthorized")
        if req.path.endswith("/getMe"):
            return None
        if not req.path.endswith("/sendMessage"):
            return telegram_error(404, "Not Found")
        data = req.json
        if not isinstance(data, dict) or "chat_id" not in data:
            return telegram_error(400, "Bad Request: chat_id is empty")
        if not data.get("text"):
            return telegram_error(400, "Bad Request: message text is empty")
        if len(data["text"].encode("utf-16-le")) // 2 > 4096:
            return telegram_error(400, "Bad Request: message is too long")
        return None

    def accept(self, req: Received) -> tuple[Reply, Delivered | None]:
        if req.path.endswith("/getMe"):
            bot_id = int(self.token.split(":")[0]) if self.token.split(":")[0].isdigit() else 1
            me = {"id": bot_id, "is_bot": True, "first_name": "Sandbox bot", "username": "sandbox_bot"}
            return Reply(200, {"ok": True, "result": me}), None
        data = req.json
        n = self.next_id()
        result = {
            "message_id": n,
            "date": int(time.time()),
            "chat": {"id": data["chat_id"], "type": "private"},
            "text": data["text"],
        }
        keyboard = (data.get("reply_markup") or {}).get("keyboard") or []
        buttons = [
            {"id": str(b.get("text", "")), "title": str(b.get("text", ""))} for row in keyboard for b in row
        ]
        return Reply(200, {"ok": True, "result": result}), {
            "platform": "telegram",
            "id": n,
            "recipient": data["chat_id"],
            "text": data["text"],
            "buttons": buttons,
            "body": data,
        }


class AfricasTalking(Platform):
    """Africa's Talking ``POST /version1/messaging`` (form, ``apiKey`` header); ``GET /version1/user`` too."""

    name = "africastalking"

    def __init__(self, username: str, api_key: str) -> None:
        super().__init__()
        self.username = username
        self.api_key = api_key
        self.recipient_status: tuple[int, str] | None = None  # e.g. (403, "InvalidPhoneNumber")

    def check(self, req: Received) -> Reply | None:
        if req.path == "/version1/user" and req.method == "GET":
            if req.header("apiKey") != self.api_key or req.query.get("username") != self.username:
                return Reply(401, "The supplied authentication is invalid")
            return None
        if req.path != "/version1/messaging" or req.method != "POST":
            return Reply(404, "Not Found")
        if req.header("apiKey") != self.api_key:
            return Reply(401, "The supplied authentication is invalid")
        form = req.form
        if form.get("username") != self.username:
            return Reply(401, "The supplied authentication is invalid")
        if not form.get("to") or not form.get("message"):
            return Reply(400, "Request is missing required form field 'to' or 'message'")
        return None

    def accept(self, req: Received) -> tuple[Reply, Delivered | None]:
        if req.path == "/version1/user":
            return Reply(200, {"UserData": {"balance": "ZMW 1000.0000"}}), None
        form = req.form
        n = self.next_id()
        if self.recipient_status:
            code, status = self.recipient_status
            recipient = {
                "statusCode": code,
                "number": form["to"],
                "status": status,
                "cost": "0",
                "messageId": "None",
            }
            # A refused recipient is not a delivered message.
            return Reply(
                201, {"SMSMessageData": {"Message": "Sent to 0/1 Total Cost: 0", "Recipients": [recipient]}}
            ), None
        mid = f"ATXid_{n:04d}{uuid.uuid4().hex[:24]}"
        recipient = {
            "statusCode": 101,
            "number": form["to"],
            "status": "Success",
            "cost": "ZMW 0.3000",
            "messageId": mid,
        }
        body = {
            "SMSMessageData": {"Message": "Sent to 1/1 Total Cost: ZMW 0.3000", "Recipients": [recipient]}
        }
        return Reply(201, body), {
            "platform": "sms",
            "id": mid,
            "recipient": form["to"],
            "text": form["message"],
            "from": form.get("from"),
            "buttons": [],
            "body": form,
        }


class MakeComRelay(Platform):
    """A Make.com custom webhook receiving the outbound relay (``X-API-Key``), per contracts/make_com.md."""

    name = "make_com"

    def __init__(self, api_key: str) -> None:
        super().__init__()
        self.api_key = api_key

    def check(self, req: Received) -> Reply | None:
        if req.header("X-API-Key") != self.api_key:
            return Reply(401, "Unauthorized")
        if req.method == "GET":  # doctor's check: the key, no message
            return None
        data = req.json
        if not isinstance(data, dict) or "message" not in data:
            return Reply(400, "Bad body")
        return None

    def accept(self, req: Received) -> tuple[Reply, Delivered | None]:
        if req.method == "GET":
            return Reply(200, "Accepted"), None
        data = req.json
        message = data.get("message") or {}
        buttons = [{"id": str(q), "title": str(q)} for q in message.get("quick_replies") or []]
        return Reply(200, "Accepted"), {
            "platform": data.get("platform"),
            "id": data.get("correlation_id"),
            "recipient": (data.get("recipient") or {}).get("id"),
            "text": message.get("content", ""),
            "buttons": buttons,
            "body": data,
        }
