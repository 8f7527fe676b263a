"""A CoreBusiness sandbox: the whole contract over HTTP, answered from demo data.

It checks the bearer key, validates input the way the contract says, answers
errors as ``{"error": {"code", "message"}}``, and never decides who may see
what (that is the assistant's job, as with the real system).
"""

from __future__ import annotations

import hmac
import json
import logging
import re
import threading
import uuid
from collections import deque
from datetime import datetime, timezone
from html import escape
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, unquote, urlsplit

from assistant_crm.sandbox import data

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


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], api_key: str):
        super().__init__(address, _Handler)
        self.api_key = api_key
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
        if split.path in ("/version1/messaging", "/sms"):
            return self._sms(method, split.path, raw)
        try:
            self._check_key()
            body = None
            if method == "POST":
                try:
                    body = json.loads(raw.decode("utf-8")) if raw else None
                except (UnicodeDecodeError, json.JSONDecodeError):
                    raise _Problem(400, "invalid_json", "The body is not valid JSON") from None
            result = route(method, split.path, parse_qs(split.query), body)
            self._send(200, result)
        except _Problem as p:
            self._send(p.status, {"error": {"code": p.code, "message": p.message}})

    def _sms(self, method: str, path: str, raw: bytes) -> None:
        """Africa's Talking's send API (POST /version1/messaging) and the inbox page (GET /sms)."""
        if path == "/sms" and method == "GET":
            with self.server.sms_lock:
                items = list(self.server.sms_inbox)[::-1]
            rows = "".join(
                f"<tr><td>{escape(m['at'])}</td><td>{escape(m['to'])}</td><td>{escape(m['message'])}</td></tr>"
                for m in items
            )
            page = (
                "<!doctype html><meta charset=utf-8><title>Sandbox SMS inbox</title>"
                "<h1>Sandbox SMS inbox</h1><p>Messages sent through the sandbox's Africa's Talking endpoint "
                "(demo data only), newest first.</p><table border=1 cellpadding=4><tr><th>sent (UTC)</th>"
                f"<th>to</th><th>message</th></tr>{rows}</table>"
            ).encode()
            return self._send_raw(200, page, "text/html; charset=utf-8")
        if path != "/version1/messaging" or method != "POST":
            return self._send_raw(404, b"Not found", "text/plain")
        given = self.headers.get("apiKey") or ""
        if not hmac.compare_digest(given.encode(), self.server.api_key.encode()):
            return self._send_raw(401, b"The supplied authentication is invalid", "text/plain")
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        if not form.get("username") or not form.get("to") or not form.get("message"):
            return self._send_raw(400, b"username, to and message are required", "text/plain")
        recipients = []
        with self.server.sms_lock:
            for number in form["to"].split(","):
                mid = f"ATXid_{uuid.uuid4().hex}"
                at = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
                self.server.sms_inbox.append(
                    {"at": at, "to": number.strip(), "message": form["message"], "id": mid}
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
        body = {
            "SMSMessageData": {
                "Message": f"Sent to {len(recipients)}/{len(recipients)} Total Cost: ZMW 0.30",
                "Recipients": recipients,
            }
        }
        self._send_raw(201, json.dumps(body).encode(), "application/json")

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


def make_server(host: str = "127.0.0.1", port: int = 8701, api_key: str = "sandbox-key") -> SandboxServer:
    """A ready sandbox server; call ``serve_forever()`` (and ``shutdown()`` from another thread)."""
    return SandboxServer((host, port), api_key)
