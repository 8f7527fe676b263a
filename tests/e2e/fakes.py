"""Independent stand-ins for the outside world, written from the contracts only.

Nothing here imports the product. Each fake runs an HTTP server on 127.0.0.1 with a
random port in a daemon thread, checks the credentials the real service checks,
answers in the real service's format and records what it received.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)

    def json(self) -> Any:
        return json.loads(self.body.decode("utf-8"))

    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(self.body.decode("utf-8"), keep_blank_values=True).items()}


Reply = tuple[int, dict[str, str], bytes]


def _json(status: int, payload: Any, headers: dict[str, str] | None = None) -> Reply:
    h = {"Content-Type": "application/json"}
    h.update(headers or {})
    return status, h, json.dumps(payload).encode("utf-8")


class FakeServer:
    """A tiny threaded HTTP server; subclasses implement ``handle``."""

    def __init__(self) -> None:
        self.received: list[Received] = []
        self.lock = threading.Lock()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:  # quiet
                pass

            def _do(self) -> None:
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                parts = urlsplit(self.path)
                rec = Received(
                    self.command,
                    parts.path,
                    parse_qs(parts.query),
                    {k.lower(): v for k, v in self.headers.items()},
                    body,
                )
                with outer.lock:
                    outer.received.append(rec)
                try:
                    status, headers, out = outer.handle(rec)
                except Exception as e:  # noqa: BLE001 - a fake must answer
                    status, headers, out = _json(500, {"error": {"code": "fake_crash", "message": repr(e)}})
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = _do

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def handle(self, rec: Received) -> Reply:  # pragma: no cover - overridden
        return _json(404, {})

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def requests(self, pred: Callable[[Received], bool] | None = None) -> list[Received]:
        with self.lock:
            return [r for r in self.received if pred is None or pred(r)]


# ---------------------------------------------------------------------------
# CoreBusiness, per contracts/corebusiness.openapi.yaml, with its own people.

PEOPLE: dict[str, dict[str, Any]] = {
    # A: claimant and pensioner with two claims
    "P-E2E-0001": {
        "nrc": "438190/11/1",
        "full_name": "Thandiwe Nakamba",
        "phone": "+260976418237",
        "roles": ["claimant", "pensioner"],
        "employer_numbers": [],
        "preferred_language": "en",
    },
    # B: another claimant (the victim of the "other person" attacks)
    "P-E2E-0002": {
        "nrc": "579302/61/1",
        "full_name": "Mubanga Chishimba Kalaba",
        "phone": "+260964205518",
        "roles": ["claimant"],
        "employer_numbers": [],
        "preferred_language": "en",
    },
    # C: used for lockout tests (so that A stays usable)
    "P-E2E-0003": {
        "nrc": "681457/21/1",
        "full_name": "Elias Hamoonga",
        "phone": "+260953781264",
        "roles": ["claimant"],
        "employer_numbers": [],
        "preferred_language": "en",
    },
    # D: used for OTP reuse / expiry tests
    "P-E2E-0004": {
        "nrc": "794026/41/1",
        "full_name": "Namukolo Liseli",
        "phone": "+260779031846",
        "roles": ["claimant"],
        "employer_numbers": [],
        "preferred_language": "en",
    },
    # E: used on the SMS channel (sender phone = phone on record)
    "P-E2E-0005": {
        "nrc": "862315/31/1",
        "full_name": "Chileshe Mwape",
        "phone": "+260968527413",
        "roles": ["claimant"],
        "employer_numbers": [],
        "preferred_language": "en",
    },
}

CLAIMS: dict[str, dict[str, Any]] = {
    "CLM-2026-04471": {
        "person_id": "P-E2E-0001",
        "claim_type": "occupational_injury",
        "status": "medical_assessment",
        "status_date": "2026-10-14",
        "incident_date": "2026-08-03",
        "employer_name": "Kafue Gorge Cement Works",
        "next_step": "Attend the medical board at Kabwe on 3 December 2026 at 10:30",
    },
    "CLM-2024-07723": {
        "person_id": "P-E2E-0001",
        "claim_type": "occupational_disease",
        "status": "approved",
        "status_date": "2024-11-02",
        "incident_date": "2024-05-19",
        "employer_name": "Mazabuka Sugar Estates",
        "next_step": "Monthly pension paid on the 20th of each month",
    },
    "CLM-2025-06619": {
        "person_id": "P-E2E-0002",
        "claim_type": "occupational_injury",
        "status": "rejected",
        "status_date": "2025-09-30",
        "incident_date": "2025-06-11",
        "employer_name": "Luanshya Copper Smelter",
        "next_step": "Appeal to the Board within 30 days of the letter",
    },
    "CLM-2026-05530": {
        "person_id": "P-E2E-0003",
        "claim_type": "occupational_injury",
        "status": "under_review",
        "status_date": "2026-11-01",
        "incident_date": "2026-09-21",
        "employer_name": "Chipata Timber Mills",
        "next_step": "A claims officer is reading the file",
    },
    "CLM-2026-05531": {
        "person_id": "P-E2E-0004",
        "claim_type": "occupational_injury",
        "status": "awaiting_documents",
        "status_date": "2026-11-10",
        "incident_date": "2026-10-02",
        "employer_name": "Mongu Rice Cooperative",
        "next_step": "Send the accident report (Form No. 6)",
    },
    "CLM-2026-05532": {
        "person_id": "P-E2E-0005",
        "claim_type": "occupational_injury",
        "status": "received",
        "status_date": "2026-11-20",
        "incident_date": "2026-11-15",
        "employer_name": "Kabwe Lead Recyclers",
        "next_step": "We will assign a claims officer soon",
    },
}

PAYMENTS: dict[str, list[dict[str, Any]]] = {
    "P-E2E-0001": [
        {
            "payment_id": "PAY-E2E-9001",
            "claim_number": "CLM-2024-07723",
            "kind": "monthly_pension",
            "amount": "1875.50",
            "currency": "ZMW",
            "status": "scheduled",
            "scheduled_date": "2026-12-20",
            "paid_date": None,
            "method": "mobile_money",
            "account_masked": "****8237",
            "hold_reason": None,
        },
        {
            "payment_id": "PAY-E2E-9000",
            "claim_number": "CLM-2024-07723",
            "kind": "monthly_pension",
            "amount": "1875.50",
            "currency": "ZMW",
            "status": "paid",
            "scheduled_date": "2026-11-20",
            "paid_date": "2026-11-20",
            "method": "mobile_money",
            "account_masked": "****8237",
            "hold_reason": None,
        },
    ],
    "P-E2E-0002": [
        {
            "payment_id": "PAY-E2E-7001",
            "claim_number": "CLM-2025-06619",
            "kind": "medical_refund",
            "amount": "9340.00",
            "currency": "ZMW",
            "status": "failed",
            "scheduled_date": "2025-08-01",
            "paid_date": None,
            "method": "bank",
            "account_masked": "****5518",
            "hold_reason": None,
        }
    ],
}

B_MARKERS = [
    "579302",
    "Mubanga",
    "Kalaba",
    "Chishimba",
    "CLM-2025-06619",
    "9340",
    "9,340",
    "Luanshya",
    "5518",
]


def _collapse(name: str) -> str:
    return " ".join((name or "").split()).casefold()


class FakeCoreBusiness(FakeServer):
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.verify_calls: list[dict[str, Any]] = []
        # failing on purpose: mode in (None, "500", "503", "429", "malformed", "hang"), for `times` calls (None = always)
        self.fail_mode: str | None = None
        self.fail_times: int | None = None
        self.hang_seconds = 8.0
        super().__init__()

    def fail(self, mode: str | None, times: int | None = None) -> None:
        with self.lock:
            self.fail_mode, self.fail_times = mode, times

    def _failure(self) -> Reply | None:
        with self.lock:
            mode = self.fail_mode
            if mode is None:
                return None
            if self.fail_times is not None:
                self.fail_times -= 1
                if self.fail_times <= 0:
                    self.fail_mode, self.fail_times = None, None
        if mode == "500":
            return _json(500, {"error": {"code": "internal", "message": "boom"}})
        if mode == "503":
            return _json(503, {"error": {"code": "unavailable", "message": "maintenance"}})
        if mode == "429":
            return _json(
                429, {"error": {"code": "rate_limited", "message": "slow down"}}, {"Retry-After": "1"}
            )
        if mode == "malformed":
            return 200, {"Content-Type": "application/json"}, b'{"verified": tru'
        if mode == "hang":
            time.sleep(self.hang_seconds)
            return _json(503, {"error": {"code": "late", "message": "late"}})
        return None

    def handle(self, rec: Received) -> Reply:
        failure = self._failure()
        if failure is not None:
            return failure
        if rec.headers.get("authorization") != f"Bearer {self.api_key}":
            return _json(401, {"error": {"code": "unauthorized", "message": "bad key"}})
        p = rec.path
        if rec.method == "POST" and p == "/v1/identity/verify":
            try:
                body = rec.json()
            except ValueError:
                return _json(400, {"error": {"code": "bad_request", "message": "not JSON"}})
            if (
                not isinstance(body, dict)
                or not isinstance(body.get("nrc"), str)
                or not isinstance(body.get("full_name"), str)
            ):
                return _json(400, {"error": {"code": "bad_request", "message": "nrc and full_name required"}})
            self.verify_calls.append(body)
            if not re.fullmatch(r"\d{6}/\d{2}/\d", body["nrc"]):
                return _json(400, {"error": {"code": "bad_nrc", "message": "NRC must be NNNNNN/NN/N"}})
            for pid, person in PEOPLE.items():
                if person["nrc"] == body["nrc"] and _collapse(person["full_name"]) == _collapse(
                    body["full_name"]
                ):
                    out = {"verified": True, "person_id": pid}
                    out.update(
                        {
                            k: person[k]
                            for k in ("full_name", "roles", "employer_numbers", "phone", "preferred_language")
                        }
                    )
                    return _json(200, out)
            return _json(200, {"verified": False})
        m = re.fullmatch(r"/v1/persons/([^/]+)/claims", p)
        if rec.method == "GET" and m:
            pid = m.group(1)
            if pid not in PEOPLE:
                return _json(404, {"error": {"code": "not_found", "message": "no such person"}})
            claims = [
                {"claim_number": n, **{k: v for k, v in c.items() if k != "person_id"}}
                for n, c in CLAIMS.items()
                if c["person_id"] == pid
            ]
            return _json(200, {"claims": claims})
        m = re.fullmatch(r"/v1/claims/([^/]+)/documents", p)
        if rec.method == "GET" and m:
            if m.group(1) not in CLAIMS:
                return _json(404, {"error": {"code": "not_found", "message": "no such claim"}})
            return _json(
                200,
                {
                    "documents": [
                        {
                            "document_type": "Medical report (WCF 3)",
                            "status": "pending",
                            "received_date": None,
                            "note": "Awaited from the doctor",
                        },
                        {
                            "document_type": "Accident report (Form No. 6)",
                            "status": "received",
                            "received_date": "2026-08-05",
                            "note": "",
                        },
                    ]
                },
            )
        m = re.fullmatch(r"/v1/claims/([^/]+)", p)
        if rec.method == "GET" and m:
            c = CLAIMS.get(m.group(1))
            if c is None:
                return _json(404, {"error": {"code": "not_found", "message": "no such claim"}})
            return _json(
                200,
                {
                    "claim_number": m.group(1),
                    **c,
                    "history": [{"date": c["status_date"], "status": c["status"], "note": "updated"}],
                },
            )
        m = re.fullmatch(r"/v1/persons/([^/]+)/payments", p)
        if rec.method == "GET" and m:
            pid = m.group(1)
            if pid not in PEOPLE:
                return _json(404, {"error": {"code": "not_found", "message": "no such person"}})
            return _json(200, {"payments": PAYMENTS.get(pid, [])})
        m = re.fullmatch(r"/v1/employers/([^/]+)/contributions", p)
        if rec.method == "GET" and m:
            return _json(404, {"error": {"code": "not_found", "message": "no such employer"}})
        return _json(404, {"error": {"code": "not_found", "message": "no such path"}})


# ---------------------------------------------------------------------------
# Africa's Talking bulk SMS


class FakeAfricasTalking(FakeServer):
    def __init__(self, username: str, api_key: str) -> None:
        self.username, self.api_key = username, api_key
        self.sent: list[dict[str, str]] = []
        self.counter = 0
        super().__init__()

    def handle(self, rec: Received) -> Reply:
        if rec.method != "POST" or rec.path != "/version1/messaging":
            return 404, {"Content-Type": "text/plain"}, b"Not Found"
        if rec.headers.get("apikey") != self.api_key:
            return 401, {"Content-Type": "text/plain"}, b"The supplied authentication is invalid"
        f = rec.form()
        if f.get("username") != self.username or not f.get("to") or "message" not in f:
            return 400, {"Content-Type": "text/plain"}, b"Request is missing required form field"
        with self.lock:
            self.counter += 1
            mid = f"ATXid_e2e_{self.counter}"
            self.sent.append(f)
        return _json(
            201,
            {
                "SMSMessageData": {
                    "Message": "Sent to 1/1 Total Cost: ZMW 0.30",
                    "Recipients": [
                        {
                            "statusCode": 101,
                            "number": f["to"].split(",")[0],
                            "status": "Success",
                            "cost": "ZMW 0.30",
                            "messageId": mid,
                        }
                    ],
                }
            },
        )

    def messages_to(self, phone: str) -> list[str]:
        with self.lock:
            return [m["message"] for m in self.sent if m.get("to") == phone]


# ---------------------------------------------------------------------------
# Meta Graph API (WhatsApp Cloud API + Messenger Send API)


class FakeGraph(FakeServer):
    def __init__(self, access_token: str, phone_number_id: str) -> None:
        self.access_token, self.phone_number_id = access_token, phone_number_id
        self.messages: list[dict[str, Any]] = []
        self.counter = 0
        self.fail_next = 0  # answer 500 to this many message sends
        super().__init__()

    def handle(self, rec: Received) -> Reply:
        with self.lock:
            if self.fail_next > 0:
                self.fail_next -= 1
                return _json(
                    500,
                    {
                        "error": {
                            "message": "An unknown error has occurred.",
                            "type": "OAuthException",
                            "code": 1,
                            "is_transient": True,
                        }
                    },
                )
        m = re.fullmatch(r"/(?:v[\d.]+/)?([^/]+)/messages", rec.path)
        if rec.method != "POST" or not m:
            return _json(404, {"error": {"message": "Unknown path", "type": "OAuthException", "code": 803}})
        if m.group(1) == self.phone_number_id:
            if rec.headers.get("authorization") != f"Bearer {self.access_token}":
                return _json(
                    401,
                    {
                        "error": {
                            "message": "Invalid OAuth access token.",
                            "type": "OAuthException",
                            "code": 190,
                        }
                    },
                )
            body = rec.json()
            with self.lock:
                self.counter += 1
                wamid = f"wamid.E2E{self.counter:06d}"
                self.messages.append(body)
            return _json(
                200,
                {
                    "messaging_product": "whatsapp",
                    "contacts": [{"input": body.get("to"), "wa_id": body.get("to")}],
                    "messages": [{"id": wamid}],
                },
            )
        return _json(
            400,
            {"error": {"message": "Unsupported post request", "type": "GraphMethodException", "code": 100}},
        )

    def texts_to(self, wa_id: str) -> list[str]:
        out = []
        with self.lock:
            for b in self.messages:
                if str(b.get("to", "")).lstrip("+") != wa_id.lstrip("+"):
                    continue
                if b.get("type") == "text":
                    out.append(b["text"]["body"])
                elif b.get("type") == "interactive":
                    out.append(b["interactive"].get("body", {}).get("text", ""))
                else:
                    out.append(json.dumps(b))
        return out


# ---------------------------------------------------------------------------
# Telegram Bot API


class FakeTelegram(FakeServer):
    def __init__(self, bot_token: str) -> None:
        self.bot_token = bot_token
        self.messages: list[dict[str, Any]] = []
        self.counter = 1000
        super().__init__()

    def handle(self, rec: Received) -> Reply:
        m = re.fullmatch(r"/bot([^/]+)/(\w+)", rec.path)
        if not m:
            return _json(404, {"ok": False, "error_code": 404, "description": "Not Found"})
        if m.group(1) != self.bot_token:
            return _json(401, {"ok": False, "error_code": 401, "description": "Unauthorized"})
        if m.group(2) != "sendMessage":
            return _json(200, {"ok": True, "result": True})
        body = (
            rec.json() if rec.headers.get("content-type", "").startswith("application/json") else rec.form()
        )
        with self.lock:
            self.counter += 1
            mid = self.counter
            self.messages.append(body)
        return _json(
            200,
            {
                "ok": True,
                "result": {
                    "message_id": mid,
                    "from": {"id": 7000000001, "is_bot": True, "first_name": "WCFCB"},
                    "chat": {"id": int(body["chat_id"]), "type": "private"},
                    "date": int(time.time()),
                    "text": body.get("text", ""),
                },
            },
        )

    def texts_to(self, chat_id: int) -> list[str]:
        with self.lock:
            return [b.get("text", "") for b in self.messages if str(b.get("chat_id")) == str(chat_id)]


# ---------------------------------------------------------------------------
# Make.com outbound relay (a custom webhook of a scenario)


class FakeMakeCom(FakeServer):
    def __init__(self, api_key: str) -> None:
        self.api_key = api_key
        self.relayed: list[dict[str, Any]] = []
        super().__init__()

    def handle(self, rec: Received) -> Reply:
        if rec.method != "POST" or rec.path != "/relay":
            return 404, {"Content-Type": "text/plain"}, b"There is no scenario listening for this webhook."
        if rec.headers.get("x-api-key") != self.api_key:
            return 401, {"Content-Type": "text/plain"}, b"Unauthorized"
        with self.lock:
            self.relayed.append(rec.json())
        return 200, {"Content-Type": "text/plain"}, b"Accepted"

    def texts_to(self, platform: str, recipient: str) -> list[str]:
        with self.lock:
            return [
                r.get("message", {}).get("content", "")
                for r in self.relayed
                if r.get("platform") == platform and str(r.get("recipient", {}).get("id")) == str(recipient)
            ]


def wait_for(pred: Callable[[], Any], timeout: float = 15.0, interval: float = 0.1) -> Any:
    """Poll ``pred`` until it returns something truthy (returned) or the time is up (None)."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            return None
        time.sleep(interval)
