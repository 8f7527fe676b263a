"""A fake Africa's Talking SMS endpoint that records what was sent.

Speaks AT's wire format: ``POST /version1/messaging`` with form fields
username, to, message (and optional from), header ``apiKey``; answers
``{"SMSMessageData": {"Message": ..., "Recipients": [...]}}``.

    sms = FakeSMSServer(api_key="at-key").start()
    ... set africastalking_base_url=sms.url ...
    sms.wait_for("+260977100200")       # the message text, waiting up to a timeout
    sms.last_code("+260977100200")      # the 6-digit code in the latest message
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs

from tests.fakes.loopback import LoopbackServer


@dataclass
class SentSMS:
    username: str
    to: str
    message: str
    sender: str
    message_id: str


class FakeSMSServer(LoopbackServer):
    def __init__(self, api_key: str = "at-key", username: str = "sandbox"):
        self.api_key = api_key
        self.username = username
        self.sent: list[SentSMS] = []
        self.rejected = 0
        self._cond = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_POST(self) -> None:  # noqa: N802
                fake._handle(self)

            def log_message(self, *args: Any) -> None:
                pass

        self._listen(Handler)

    def messages_to(self, phone: str) -> list[str]:
        with self._cond:
            return [s.message for s in self.sent if phone in s.to.split(",")]

    def wait_for(self, phone: str, count: int = 1, timeout: float = 10.0) -> str:
        """The latest message to ``phone`` once at least ``count`` have arrived."""
        with self._cond:
            ok = self._cond.wait_for(
                lambda: len([s for s in self.sent if phone in s.to.split(",")]) >= count, timeout
            )
            if not ok:
                raise AssertionError(
                    f"no SMS #{count} to the phone within {timeout}s (sent: {len(self.sent)})"
                )
            return [s.message for s in self.sent if phone in s.to.split(",")][-1]

    def last_code(self, phone: str, count: int = 1, timeout: float = 10.0) -> str:
        text = self.wait_for(phone, count, timeout)
        m = re.search(r"(?<!\d)(\d{6})(?!\d)", text)
        if not m:
            raise AssertionError("the SMS holds no 6-digit code")
        return m.group(1)

    def _handle(self, h: BaseHTTPRequestHandler) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length).decode("utf-8") if length else ""
        if h.path.split("?")[0] != "/version1/messaging":
            return self._send(h, 404, "Not found", "text/plain")
        if h.headers.get("apiKey") != self.api_key:
            with self._cond:
                self.rejected += 1
            return self._send(h, 401, "The supplied authentication is invalid", "text/plain")
        form = {k: v[0] for k, v in parse_qs(raw, keep_blank_values=True).items()}
        if form.get("username") != self.username or not form.get("to") or not form.get("message"):
            return self._send(h, 400, "Missing username, to or message", "text/plain")
        recipients = []
        with self._cond:
            for number in form["to"].split(","):
                mid = f"ATXid_{uuid.uuid4().hex}"
                self.sent.append(
                    SentSMS(form["username"], number.strip(), form["message"], form.get("from", ""), mid)
                )
                recipients.append(
                    {
                        "statusCode": 101,
                        "number": number.strip(),
                        "status": "Success",
                        "cost": "ZMW 0.30",
                        "messageId": mid,
                    }
                )
            self._cond.notify_all()
        body = {
            "SMSMessageData": {
                "Message": f"Sent to {len(recipients)}/{len(recipients)} Total Cost: ZMW {0.30 * len(recipients):.2f}",
                "Recipients": recipients,
            }
        }
        self._send(h, 201, json.dumps(body), "application/json")

    @staticmethod
    def _send(h: BaseHTTPRequestHandler, status: int, text: str, ctype: str) -> None:
        raw = text.encode()
        h.send_response(status)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(raw)))
        h.end_headers()
        h.wfile.write(raw)
