"""Fake outbound platform APIs speaking the real wire formats, over real HTTP.

Each fake is a ``ThreadingHTTPServer`` on 127.0.0.1 (port 0) that checks the
credentials the real platform checks, answers in the platform's format,
counts everything it receives, and can fail on purpose:

* ``fail(status=500, times=3)`` — the next 3 matching requests get a 500;
* ``fail(status=500, seconds=2)`` — every matching request for 2 seconds;
* ``rate_limit(retry_after=1, times=1)`` — 429 with ``Retry-After`` (and
  Telegram's ``parameters.retry_after`` in the body);
* ``fail(status=400, body={...})`` — a platform error body (Graph error codes);
* ``hang(times=1)`` — accept the request and answer nothing until released
  (``release()``), ``hang_seconds`` pass, or the server stops.

A ``match`` predicate (taking a :class:`Received`) limits a fault to some
requests, e.g. one recipient. ``accepted`` lists the messages the fake
accepted (answered 2xx), in arrival order: what a person would have received.

    with FakeTelegram(token="123:abc") as tg:
        set_settings(rt, telegram_api_base_url=tg.url, telegram_bot_token="123:abc")
"""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

# The wire formats themselves live with the sandbox (one definition for the
# demo and the tests); the fakes add recording and failing on purpose.
from assistant_crm.sandbox import platforms
from assistant_crm.sandbox.platforms import Received, Reply

__all__ = [
    "Received",
    "Reply",
    "FakeGraphAPI",
    "FakeTelegram",
    "FakeAfricasTalking",
    "FakeTwilio",
    "FakeMakeCom",
]


@dataclass
class Fault:
    kind: str  # "status" | "hang"
    status: int = 500
    times: int | None = None  # None: unlimited within the time window
    until: float | None = None  # monotonic deadline
    retry_after: float | None = None
    body: Any = None
    match: Callable[[Received], bool] | None = None
    hang_seconds: float = 30.0

    def active(self) -> bool:
        if self.times is not None and self.times <= 0:
            return False
        return self.until is None or time.monotonic() < self.until


class FakePlatform(platforms.Platform):
    """Base class: request recording, fault plans, lifecycle."""

    name = "platform"

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Received] = []
        self.accepted: list[dict[str, Any]] = []
        self.faults: list[Fault] = []
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle -------------------------------------------------------------

    def start(self) -> FakePlatform:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this, Nagle plus
            # the client's delayed ACK add ~40 ms to a kept-alive send.
            disable_nagle_algorithm = True

            def log_message(self, *args: Any) -> None:  # keep test output quiet
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                req = Received(
                    method=self.command,
                    path=split.path,
                    query={k: v[0] for k, v in parse_qs(split.query).items()},
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                reply = fake._dispatch(req)
                if reply is None:  # hung: drop the connection without an answer
                    self.close_connection = True
                    return
                payload = reply.body
                ctype = "application/json"
                if isinstance(payload, (dict, list)):
                    data = json.dumps(payload).encode()
                elif isinstance(payload, str):
                    data, ctype = payload.encode(), "text/plain; charset=utf-8"
                else:
                    data = payload or b""
                try:
                    self.send_response(reply.status)
                    self.send_header("Content-Type", ctype)
                    self.send_header("Content-Length", str(len(data)))
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            do_POST = _handle  # noqa: N815
            do_GET = _handle  # noqa: N815

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name=f"fake-{self.name}", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> FakePlatform:
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- failing on purpose ----------------------------------------------------

    def fail(
        self,
        status: int = 500,
        *,
        times: int | None = None,
        seconds: float | None = None,
        retry_after: float | None = None,
        body: Any = None,
        match: Callable[[Received], bool] | None = None,
    ) -> Fault:
        if times is None and seconds is None:
            times = 1
        fault = Fault(
            "status",
            status=status,
            times=times,
            until=(time.monotonic() + seconds) if seconds is not None else None,
            retry_after=retry_after,
            body=body,
            match=match,
        )
        with self._lock:
            self.faults.append(fault)
        return fault

    def rate_limit(
        self, retry_after: float = 1, *, times: int = 1, match: Callable[[Received], bool] | None = None
    ) -> Fault:
        return self.fail(429, times=times, retry_after=retry_after, match=match)

    def hang(
        self,
        *,
        times: int | None = None,
        seconds: float | None = None,
        hang_seconds: float = 30.0,
        match: Callable[[Received], bool] | None = None,
    ) -> Fault:
        if times is None and seconds is None:
            times = 1
        fault = Fault(
            "hang",
            times=times,
            until=(time.monotonic() + seconds) if seconds is not None else None,
            match=match,
            hang_seconds=hang_seconds,
        )
        with self._lock:
            self.faults.append(fault)
        return fault

    def release(self) -> None:
        """Let hung requests go (they are then dropped without an answer)."""
        self._release.set()

    def clear_faults(self) -> None:
        with self._lock:
            self.faults.clear()

    # -- counting --------------------------------------------------------------

    def count(self, outcome: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.received if outcome is None or r.outcome == outcome)

    def texts(self, recipient: str | None = None) -> list[str]:
        """Texts accepted, in arrival order (optionally for one recipient)."""
        with self._lock:
            return [
                m["text"] for m in self.accepted if recipient is None or str(m["recipient"]) == str(recipient)
            ]

    # -- the request path ------------------------------------------------------

    def _dispatch(self, req: Received) -> Reply | None:
        with self._lock:
            self.received.append(req)
        problem = self.check(req)
        if problem is not None:
            req.outcome = "unauthorized" if problem.status in (401, 403) else "bad-request"
            return problem
        fault = self._take_fault(req)
        if fault is not None and fault.kind == "hang":
            req.outcome = "hung"
            self._release.wait(fault.hang_seconds)
            return None
        if fault is not None:
            req.outcome = f"failed:{fault.status}"
            return self.fault_reply(fault)
        reply, message = self.accept(req)
        if message is None:
            req.outcome = "refused"
            return reply
        req.outcome = "accepted"
        with self._lock:
            self.accepted.append(message)
        return reply

    def _take_fault(self, req: Received) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.active() and (fault.match is None or fault.match(req)):
                    if fault.times is not None:
                        fault.times -= 1
                    return fault
        return None

    # -- per platform (check and accept come from the sandbox's platforms) -----

    def fault_reply(self, fault: Fault) -> Reply:
        headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else {}
        body = (
            fault.body
            if fault.body is not None
            else {"error": {"message": "fake failure", "code": fault.status}}
        )
        return Reply(fault.status, body, headers)


class FakeGraphAPI(platforms.GraphAPI, FakePlatform):
    """Graph API for WhatsApp Cloud (``/{phone_number_id}/messages``, bearer
    token) and the Messenger Send API (``/{page_id|me}/messages``,
    ``access_token`` query parameter)."""

    def __init__(
        self,
        whatsapp_token: str = "wa-token",
        page_token: str = "page-token",
        phone_number_id: str = "1065550001",
    ) -> None:
        super().__init__(whatsapp_token, page_token, phone_number_id)


class FakeTelegram(platforms.TelegramBot, FakePlatform):
    """Telegram Bot API ``/bot<token>/sendMessage``."""

    def __init__(self, token: str = "123456:TEST-token") -> None:
        super().__init__(token)

    def fault_reply(self, fault: Fault) -> Reply:
        if fault.body is not None:
            return super().fault_reply(fault)
        if fault.status == 429:
            ra = int(fault.retry_after or 1)
            return Reply(
                429,
                {
                    "ok": False,
                    "error_code": 429,
                    "description": f"Too Many Requests: retry after {ra}",
                    "parameters": {"retry_after": ra},
                },
            )
        return Reply(
            fault.status, {"ok": False, "error_code": fault.status, "description": "Internal Server Error"}
        )


class FakeAfricasTalking(platforms.AfricasTalking, FakePlatform):
    """Africa's Talking ``POST /version1/messaging`` (form, ``apiKey`` header)."""

    def __init__(self, username: str = "sandbox", api_key: str = "at-key") -> None:
        super().__init__(username, api_key)

    def fault_reply(self, fault: Fault) -> Reply:
        if fault.body is not None:
            return super().fault_reply(fault)
        headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else {}
        return Reply(fault.status, "Internal error" if fault.status >= 500 else "Too many requests", headers)


class FakeTwilio(FakePlatform):
    """Twilio ``POST /2010-04-01/Accounts/{sid}/Messages.json`` (basic auth, form)."""

    name = "twilio"

    def __init__(self, account_sid: str = "AC" + "0" * 32, auth_token: str = "tw-token") -> None:
        super().__init__()
        self.account_sid = account_sid
        self.auth_token = auth_token

    def check(self, req: Received) -> Reply | None:
        expected = "Basic " + base64.b64encode(f"{self.account_sid}:{self.auth_token}".encode()).decode()
        if req.header("Authorization") != expected:
            return Reply(
                401,
                {
                    "code": 20003,
                    "message": "Authenticate",
                    "more_info": "https://www.twilio.com/docs/errors/20003",
                    "status": 401,
                },
            )
        if req.path != f"/2010-04-01/Accounts/{self.account_sid}/Messages.json":
            return Reply(
                404, {"code": 20404, "message": "The requested resource was not found", "status": 404}
            )
        form = req.form
        if not form.get("To"):
            return Reply(400, {"code": 21604, "message": "A 'To' phone number is required.", "status": 400})
        if not form.get("Body"):
            return Reply(400, {"code": 21602, "message": "Message body is required.", "status": 400})
        return None

    def accept(self, req: Received) -> tuple[Reply, dict[str, Any]]:
        form = req.form
        sid = "SM" + uuid.uuid4().hex
        body = {
            "sid": sid,
            "status": "queued",
            "to": form["To"],
            "from": form.get("From"),
            "body": form["Body"],
            "account_sid": self.account_sid,
            "num_segments": "1",
        }
        return Reply(201, body), {
            "platform": "sms",
            "id": sid,
            "recipient": form["To"],
            "text": form["Body"],
            "body": form,
        }

    def fault_reply(self, fault: Fault) -> Reply:
        if fault.body is not None:
            return super().fault_reply(fault)
        headers = {"Retry-After": str(int(fault.retry_after))} if fault.retry_after is not None else {}
        code = 20429 if fault.status == 429 else 20500
        return Reply(fault.status, {"code": code, "message": "fake failure", "status": fault.status}, headers)


class FakeMakeCom(platforms.MakeComRelay, FakePlatform):
    """A Make.com custom-webhook receiver for the outbound relay (``X-API-Key``)."""

    def __init__(self, api_key: str = "make-key") -> None:
        super().__init__(api_key)
