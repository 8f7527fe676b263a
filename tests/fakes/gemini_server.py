"""A local server speaking Gemini's REST ``v1beta/models/{model}:generateContent``.

Tests script its behaviour with :attr:`FakeGemini.script`: a list of steps
consumed one per request (the last one repeats). A step is one of
``("answer", text)``, ``("status", code)``, ``("status_retry_after", code, seconds)``,
``("sleep", seconds, text)``, ``("safety",)``, ``("empty",)``, ``("blocked_prompt",)``,
``("echo_draft",)`` (a model that keeps the grounded draft answer word for word:
it answers with the request's DRAFT ANSWER section; a JSON-mode request, the
intent second opinion, gets a 503).
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.loopback import LoopbackServer


class FakeGemini(LoopbackServer):
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.script: list[tuple] = [("answer", "Hello from Gemini.")]
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                with fake._lock:
                    fake.requests.append(
                        {"path": self.path, "headers": dict(self.headers), "body": json.loads(raw or b"{}")}
                    )
                    step = fake.script.pop(0) if len(fake.script) > 1 else fake.script[0]
                if step[0] == "echo_draft":
                    step = fake.echo_draft(fake.requests[-1]["body"])
                fake.respond(self, step)

        self._listen(Handler)

    @staticmethod
    def _send(
        h: BaseHTTPRequestHandler, code: int, body: dict, headers: dict[str, str] | None = None
    ) -> None:
        data = json.dumps(body).encode()
        try:
            h.send_response(code)
            h.send_header("Content-Type", "application/json; charset=UTF-8")
            h.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                h.send_header(k, v)
            h.end_headers()
            h.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass

    @staticmethod
    def echo_draft(body: dict) -> tuple:
        """The step that answers ``body`` with its own DRAFT ANSWER section."""
        if (body.get("generationConfig") or {}).get("responseMimeType") == "application/json":
            return ("status", 503)
        text = "".join(p.get("text", "") for p in body["contents"][-1]["parts"])
        draft = text.split("DRAFT ANSWER", 1)[1].split("\n", 1)[1].split("\nUSER MESSAGE:", 1)[0]
        return ("answer", draft.strip())

    @staticmethod
    def candidate(text: str | None, finish: str = "STOP") -> dict:
        content: dict[str, Any] = {"role": "model"}
        if text is not None:
            content["parts"] = [{"text": text}]
        return {
            "candidates": [{"content": content, "finishReason": finish, "index": 0}],
            "usageMetadata": {"promptTokenCount": 10, "candidatesTokenCount": 5, "totalTokenCount": 15},
            "modelVersion": "gemini-test",
        }

    def respond(self, h: BaseHTTPRequestHandler, step: tuple) -> None:
        kind = step[0]
        if kind == "answer":
            self._send(h, 200, self.candidate(step[1]))
        elif kind in ("status", "status_retry_after"):
            code = step[1]
            status = {
                429: "RESOURCE_EXHAUSTED",
                500: "INTERNAL",
                503: "UNAVAILABLE",
                400: "INVALID_ARGUMENT",
            }.get(code, "UNKNOWN")
            headers = {"Retry-After": str(step[2])} if kind == "status_retry_after" else None
            self._send(
                h, code, {"error": {"code": code, "message": "scripted failure", "status": status}}, headers
            )
        elif kind == "sleep":
            time.sleep(step[1])
            self._send(h, 200, self.candidate(step[2]))
        elif kind == "safety":
            body = self.candidate(None, finish="SAFETY")
            body["candidates"][0]["safetyRatings"] = [
                {"category": "HARM_CATEGORY_HARASSMENT", "probability": "HIGH", "blocked": True}
            ]
            self._send(h, 200, body)
        elif kind == "empty":
            self._send(h, 200, self.candidate(""))
        elif kind == "blocked_prompt":
            self._send(h, 200, {"promptFeedback": {"blockReason": "SAFETY"}, "modelVersion": "gemini-test"})
        else:
            raise ValueError(kind)
