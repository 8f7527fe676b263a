"""An independent CoreBusiness stub for tests: other people than the sandbox,
written separately from it, with switches for the failures the client must
survive (500, 429 + Retry-After, 503, malformed JSON, a missing field, a hang).

    stub = CoreBusinessStub(api_key="stub-key").start()
    stub.fail_next("500", times=2)      # the next two calls answer 500
    stub.mode = "hang"                  # every call sleeps past the client's timeout
    stub.calls                          # [(method, path), ...] seen so far
    stub.stop()
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.fakes.loopback import LoopbackServer

# People of the stub (not in the sandbox). A and B are the pair the attack tests use.
PEOPLE: dict[str, dict[str, Any]] = {
    "S-1001": {
        "nrc": "771204/51/1",
        "full_name": "Thandiwe Mumba",
        "roles": ["claimant"],
        "employer_numbers": [],
        "phone": "+260977100200",
        "preferred_language": "en",
    },
    "S-1002": {
        "nrc": "880315/21/1",
        "full_name": "Kabwe Mwansa",
        "roles": ["claimant", "employer_contact"],
        "employer_numbers": ["EMP-900001"],
        "phone": "+260966300400",
        "preferred_language": "en",
    },
    "S-1003": {
        "nrc": "990426/61/1",
        "full_name": "Luyando Hamoonga",
        "roles": ["pensioner"],
        "employer_numbers": [],
        "phone": "+260955500600",
        "preferred_language": "en",
    },
    "S-1004": {  # no claims at all
        "nrc": "660537/11/1",
        "full_name": "Musonda Kasonde",
        "roles": ["claimant"],
        "employer_numbers": [],
        "phone": "+260761700800",
        "preferred_language": "en",
    },
    # Issue 11.5: why no payment is due (documents missing, rejected, not yet approved).
    "S-1005": {
        "nrc": "550617/31/1",
        "full_name": "Mapalo Chisenga",
        "roles": ["claimant"],
        "employer_numbers": [],
        "phone": "+260977600700",
        "preferred_language": "en",
    },
    "S-1006": {
        "nrc": "440728/41/1",
        "full_name": "Chipo Nkandu",
        "roles": ["claimant"],
        "employer_numbers": [],
        "phone": "+260966800900",
        "preferred_language": "en",
    },
    "S-1007": {
        "nrc": "330839/51/1",
        "full_name": "Bupe Lungu",
        "roles": ["claimant"],
        "employer_numbers": [],
        "phone": "+260955900100",
        "preferred_language": "en",
    },
}

CLAIMS: dict[str, dict[str, Any]] = {
    "CLM-2026-10001": {
        "person_id": "S-1001",
        "claim_type": "occupational_injury",
        "status": "awaiting_documents",
        "status_date": "2026-03-03",
        "incident_date": "2026-01-15",
        "employer_name": "Kalulushi Quarry Ltd",
        "next_step": "Submit the medical report (WCF 3)",
        "history": [
            {"date": "2026-01-20", "status": "received", "note": "Registered"},
            {"date": "2026-03-03", "status": "awaiting_documents", "note": "WCF 3 needed"},
        ],
        "documents": [
            {
                "document_type": "Medical report (WCF 3)",
                "status": "pending",
                "received_date": None,
                "note": "",
            },
            {
                "document_type": "Accident report (Form 6)",
                "status": "received",
                "received_date": "2026-01-20",
                "note": "",
            },
        ],
    },
    "CLM-2025-10002": {
        "person_id": "S-1001",
        "claim_type": "occupational_disease",
        "status": "approved",
        "status_date": "2025-11-11",
        "incident_date": "2025-02-01",
        "employer_name": "Kalulushi Quarry Ltd",
        "next_step": "Payment is being prepared",
        "history": [{"date": "2025-11-11", "status": "approved", "note": "Approved"}],
        "documents": [],
    },
    "CLM-2026-20001": {
        "person_id": "S-1002",
        "claim_type": "fatal_accident",
        "status": "under_review",
        "status_date": "2026-06-09",
        "incident_date": "2026-05-30",
        "employer_name": "Mazabuka Sugar Estates",
        "next_step": "Bring the death certificate to the Mazabuka branch",
        "history": [{"date": "2026-06-09", "status": "under_review", "note": "Officer assigned"}],
        "documents": [
            {
                "document_type": "Death certificate",
                "status": "rejected",
                "received_date": "2026-06-05",
                "note": "Not certified",
            }
        ],
    },
    "CLM-2024-30001": {
        "person_id": "S-1003",
        "claim_type": "occupational_injury",
        "status": "paid",
        "status_date": "2024-09-09",
        "incident_date": "2024-01-01",
        "employer_name": "Kabwe Lead Works",
        "next_step": "",
        "history": [],
        "documents": [],
    },
    "CLM-2026-50001": {
        "person_id": "S-1005",
        "claim_type": "occupational_injury",
        "status": "awaiting_documents",
        "status_date": "2026-08-14",
        "incident_date": "2026-07-30",
        "employer_name": "Chingola Copper Works",
        "next_step": "Submit the medical report (WCF 3)",
        "history": [{"date": "2026-08-14", "status": "awaiting_documents", "note": "WCF 3 needed"}],
        "documents": [
            {
                "document_type": "Medical report (WCF 3)",
                "status": "pending",
                "received_date": None,
                "note": "",
            },
            {"document_type": "Copy of NRC", "status": "received", "received_date": "2026-08-01", "note": ""},
        ],
    },
    "CLM-2025-60001": {
        "person_id": "S-1006",
        "claim_type": "occupational_disease",
        "status": "rejected",
        "status_date": "2025-11-03",
        "incident_date": "2025-04-01",
        "employer_name": "Kasama Tea Estates",
        "next_step": "You may appeal within 30 days of the decision letter at any branch",
        "history": [
            {"date": "2025-04-20", "status": "received", "note": "Claim registered"},
            {"date": "2025-11-03", "status": "rejected", "note": "Condition not found to be work-related"},
        ],
        "documents": [],
    },
    "CLM-2026-70001": {
        "person_id": "S-1007",
        "claim_type": "occupational_injury",
        "status": "under_review",
        "status_date": "2026-10-02",
        "incident_date": "2026-09-10",
        "employer_name": "Kitwe Brick Makers",
        "next_step": "A claims officer is reviewing the file",
        "history": [{"date": "2026-10-02", "status": "under_review", "note": "Officer assigned"}],
        "documents": [
            {
                "document_type": "Accident report (Form 6)",
                "status": "received",
                "received_date": "2026-09-12",
                "note": "",
            }
        ],
    },
}

PAYMENTS: dict[str, list[dict[str, Any]]] = {
    "S-1001": [
        {
            "payment_id": "SP-1",
            "claim_number": "CLM-2025-10002",
            "kind": "lump_sum",
            "amount": "12500.00",
            "currency": "ZMW",
            "status": "scheduled",
            "scheduled_date": "2026-12-01",
            "paid_date": None,
            "method": "bank",
            "account_masked": "****1111",
            "hold_reason": None,
        },
        {
            "payment_id": "SP-2",
            "claim_number": "CLM-2025-10002",
            "kind": "medical_refund",
            "amount": "1250.00",
            "currency": "ZMW",
            "status": "paid",
            "scheduled_date": "2026-03-01",
            "paid_date": "2026-03-03",
            "method": "mobile_money",
            "account_masked": "****2222",
            "hold_reason": None,
        },
    ],
    "S-1002": [
        {
            "payment_id": "SP-3",
            "claim_number": "CLM-2026-20001",
            "kind": "funeral_grant",
            "amount": "7777.00",
            "currency": "ZMW",
            "status": "on_hold",
            "scheduled_date": "2026-07-01",
            "paid_date": None,
            "method": "cheque",
            "account_masked": "",
            "hold_reason": "Death certificate rejected",
        },
    ],
    "S-1003": [
        {
            "payment_id": "SP-4",
            "claim_number": "CLM-2024-30001",
            "kind": "monthly_pension",
            "amount": "999.99",
            "currency": "ZMW",
            "status": "failed",
            "scheduled_date": "2026-11-25",
            "paid_date": None,
            "method": "mobile_money",
            "account_masked": "****3333",
            "hold_reason": "Wallet closed",
        },
    ],
}

EMPLOYERS: dict[str, dict[str, Any]] = {
    "EMP-900001": {
        "employer_name": "Mazabuka Sugar Estates",
        "assessment_year": 2026,
        "assessed_amount": "90000.00",
        "paid_amount": "10000.00",
        "balance": "80000.00",
        "currency": "ZMW",
        "due_date": "2026-04-01",
        "status": "overdue",
        "last_payment_date": "2026-05-05",
    },
    "EMP-900002": {  # nobody in PEOPLE is its contact
        "employer_name": "Secret Holdings Ltd",
        "assessment_year": 2026,
        "assessed_amount": "1.00",
        "paid_amount": "1.00",
        "balance": "0.00",
        "currency": "ZMW",
        "due_date": "2026-04-01",
        "status": "paid_up",
        "last_payment_date": "2026-03-01",
    },
}


class CoreBusinessStub(LoopbackServer):
    """The stub server in a background thread on 127.0.0.1:<free port>."""

    def __init__(self, api_key: str = "stub-key"):
        self.api_key = api_key
        self.mode = "ok"  # ok | 500 | 503 | 429 | malformed | missing_field | hang
        self.retry_after = "1"
        self.hang_seconds = 3.0
        self.calls: list[tuple[str, str]] = []
        self._queue: list[str] = []
        self._lock = threading.Lock()
        stub = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def do_GET(self) -> None:  # noqa: N802
                stub._handle(self, "GET")

            def do_POST(self) -> None:  # noqa: N802
                stub._handle(self, "POST")

            def log_message(self, *args: Any) -> None:
                pass

        self._listen(Handler)

    def fail_next(self, mode: str, times: int = 1) -> None:
        with self._lock:
            self._queue.extend([mode] * times)

    def _mode(self) -> str:
        with self._lock:
            return self._queue.pop(0) if self._queue else self.mode

    # -- request handling

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        split = urlsplit(h.path)
        with self._lock:
            self.calls.append((method, split.path))
        if h.headers.get("Authorization") != f"Bearer {self.api_key}":
            return self._send(h, 401, {"error": {"code": "unauthorized", "message": "bad key"}})
        mode = self._mode()
        if mode == "hang":
            time.sleep(self.hang_seconds)
        elif mode == "500":
            return self._send(h, 500, {"error": {"code": "internal", "message": "boom"}})
        elif mode == "503":
            return self._send(h, 503, {"error": {"code": "unavailable", "message": "down"}})
        elif mode == "429":
            return self._send(
                h,
                429,
                {"error": {"code": "rate_limited", "message": "slow"}},
                {"Retry-After": self.retry_after},
            )
        elif mode == "malformed":
            return self._send_raw(h, 200, b'{"claims": [ not json')
        try:
            status, body = self._route(method, split.path, parse_qs(split.query), raw)
        except Exception as exc:  # noqa: BLE001 - the stub answers 400 to anything odd
            status, body = 400, {"error": {"code": "bad_request", "message": str(exc)}}
        if mode == "missing_field" and status == 200:
            body = _drop_required(body)
        self._send(h, status, body)

    def _route(
        self, method: str, path: str, query: dict[str, list[str]], raw: bytes
    ) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        not_found = (404, {"error": {"code": "not_found", "message": "not found"}})
        if method == "POST" and parts == ["v1", "identity", "verify"]:
            body = json.loads(raw or b"{}")
            nrc, name = body.get("nrc"), body.get("full_name")
            if not isinstance(nrc, str) or not isinstance(name, str):
                return 400, {"error": {"code": "bad_request", "message": "nrc and full_name required"}}
            for pid, p in PEOPLE.items():
                if (
                    p["nrc"] == nrc
                    and " ".join(p["full_name"].split()).lower() == " ".join(name.split()).lower()
                ):
                    return 200, {
                        "verified": True,
                        "person_id": pid,
                        **{k: v for k, v in p.items() if k != "nrc"},
                    }
            return 200, {"verified": False}
        if len(parts) == 4 and parts[:2] == ["v1", "persons"]:
            pid = parts[2]
            if pid not in PEOPLE:
                return not_found
            if parts[3] == "claims":
                claims = [
                    {k: v for k, v in c.items() if k not in ("person_id", "history", "documents")}
                    | {"claim_number": n}
                    for n, c in CLAIMS.items()
                    if c["person_id"] == pid
                ]
                return 200, {"claims": claims}
            if parts[3] == "payments":
                limit = int((query.get("limit") or ["12"])[0])
                return 200, {"payments": PAYMENTS.get(pid, [])[:limit]}
        if len(parts) in (3, 4) and parts[:2] == ["v1", "claims"]:
            claim = CLAIMS.get(parts[2])
            if claim is None:
                return not_found
            if len(parts) == 3:
                return 200, {k: v for k, v in claim.items() if k != "documents"} | {"claim_number": parts[2]}
            if parts[3] == "documents":
                return 200, {"documents": claim["documents"]}
        if len(parts) == 4 and parts[:2] == ["v1", "employers"] and parts[3] == "contributions":
            employer = EMPLOYERS.get(parts[2])
            if employer is None:
                return not_found
            return 200, {"employer_number": parts[2], **employer}
        return not_found

    def _send(
        self,
        h: BaseHTTPRequestHandler,
        status: int,
        body: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        self._send_raw(h, status, json.dumps(body).encode(), headers)

    @staticmethod
    def _send_raw(
        h: BaseHTTPRequestHandler, status: int, raw: bytes, headers: dict[str, str] | None = None
    ) -> None:
        try:
            h.send_response(status)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(len(raw)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout tests)


def _drop_required(body: dict[str, Any]) -> dict[str, Any]:
    """The same answer with a required field taken out."""
    body = json.loads(json.dumps(body))
    if "claims" in body and body["claims"]:
        body["claims"][0].pop("status", None)
    elif "payments" in body and body["payments"]:
        body["payments"][0].pop("amount", None)
    elif "verified" in body and body["verified"]:
        body.pop("person_id", None)
    elif "claim_number" in body:
        body.pop("claim_type", None)
    elif "employer_number" in body:
        body.pop("employer_number", None)
    elif "documents" in body and body["documents"]:
        body["documents"][0].pop("document_type", None)
    else:
        body = {"unexpected": True}
    return body
