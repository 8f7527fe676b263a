"""Reply composition with Google Gemini (``google-genai``), grounded and guarded.

Gemini only rewrites an answer the engine already has (the template answer,
built from the knowledge base and the verified person's records). Any failure,
timeout, block or suspicious answer returns that template answer instead, so
the assistant works the same without a key.

A circuit breaker (the one CoreBusiness uses, ``infra/circuit_breaker.py``)
sits in front of every Gemini call, composition and the intent second opinion
alike: after ``BREAKER_THRESHOLD`` unwell calls in a row (timeouts, transport
errors, 429 and 5xx answers) Gemini is not called for ``BREAKER_COOLDOWN``
seconds, so a turn does not spend its time budget waiting for a service that
is down; the template answer (and the offline intent) answer meanwhile. Its
state is in the console's Health section and in ``assistant-crm doctor``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests

from assistant_crm.services.infra.circuit_breaker import Breakers, CircuitBreaker, CircuitOpen
from assistant_crm.services.infra.ports import get_runtime
from assistant_crm.services.models import ComposeRequest, ComposeResult
from assistant_crm.services.pipeline import answer_check
from assistant_crm.services.pipeline.prompts import grounded_message, history_contents, system_instruction

try:  # google-genai is the client; Frappe v15's pins (google-auth 1.x, pydantic 2.7) can't take it.
    from google import genai
    from google.genai import errors as genai_errors
    from google.genai import types
except ImportError:  # pragma: no cover - exercised by forcing USE_SDK off in tests
    genai = None

log = logging.getLogger("assistant_crm.gemini")

CACHE_TTL = 300
MAX_ANSWER_CHARS = 1500
BLOCKED_FINISH = {"SAFETY", "PROHIBITED_CONTENT", "BLOCKLIST", "RECITATION", "SPII", "IMAGE_SAFETY"}
RETRYABLE = {429, 500, 502, 503, 504}
DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"
BREAKER_THRESHOLD = 5
BREAKER_COOLDOWN = 30.0
# One breaker per Gemini address in the process (composition and the intent second opinion share it).
BREAKERS = Breakers("gemini", BREAKER_THRESHOLD, BREAKER_COOLDOWN)
_clients: dict[tuple[str, str, str], object] = {}
_lock = threading.Lock()
_session = requests.Session()
# The SDK when installed; tests switch it off to exercise the REST transport too.
USE_SDK = genai is not None


class GeminiHTTPError(Exception):
    """Gemini answered with an HTTP error status."""

    def __init__(self, code: int, retry_after: float | None = None):
        super().__init__(f"HTTP {code}")
        self.code = code
        self.retry_after = retry_after


@dataclass
class GeminiConfig:
    api_key: str
    model: str
    base_url: str
    timeout: float
    assistant_name: str


def _config() -> GeminiConfig | None:
    s = get_runtime().settings
    key = s.str("gemini_api_key")
    if not key:
        return None
    return GeminiConfig(
        api_key=key,
        model=s.str("gemini_model"),
        base_url=s.str("gemini_base_url"),
        timeout=max(0.5, s.float("gemini_timeout_seconds")),
        assistant_name=s.str("assistant_name"),
    )


def breaker(cfg: GeminiConfig) -> CircuitBreaker:
    """The breaker in front of the Gemini address ``cfg`` calls."""
    return BREAKERS.get(cfg.base_url or DEFAULT_BASE_URL)


def circuit_state() -> dict[str, Any]:
    """``{"state": closed | open | half_open | off, "failures": n[, "since": iso]}``: the
    breaker as the last process to change it left it (the Health section, ``doctor``)."""
    cfg = _config()
    if cfg is None:
        return {"state": "off", "failures": 0}
    return BREAKERS.state(cfg.base_url or DEFAULT_BASE_URL)


def record_outcome(cfg: GeminiConfig, error: Exception | None) -> None:
    """Tell the breaker how a call went: an answer (even one we refuse) is health;
    a timeout, a transport error, a 429 or a 5xx is not; another 4xx (our request,
    our key) proves nothing either way."""
    gate = breaker(cfg)
    if error is None:
        gate.record_success()
    elif isinstance(error, GeminiHTTPError) and error.code not in RETRYABLE:
        gate.record_neutral()
    else:
        gate.record_failure()


def _client(cfg: GeminiConfig):
    ident = (hashlib.sha256(cfg.api_key.encode()).hexdigest(), cfg.base_url, cfg.model)
    with _lock:
        client = _clients.get(ident)
        if client is None:
            # Our own retry policy rules: the SDK makes exactly one attempt per call.
            opts = types.HttpOptions(
                base_url=cfg.base_url or None,
                api_version="v1beta",
                retry_options=types.HttpRetryOptions(attempts=1),
            )
            client = genai.Client(api_key=cfg.api_key, http_options=opts)
            _clients[ident] = client
        return client


def _generate_sdk(
    cfg: GeminiConfig, instruction: str, contents: list[dict], timeout: float
) -> tuple[str, str | None]:
    try:
        resp = _client(cfg).models.generate_content(
            model=cfg.model,
            contents=contents,
            config=types.GenerateContentConfig(
                system_instruction=instruction,
                temperature=0.3,
                max_output_tokens=400,
                http_options=types.HttpOptions(
                    timeout=max(50, int(timeout * 1000)), retry_options=types.HttpRetryOptions(attempts=1)
                ),
            ),
        )
    except genai_errors.APIError as e:
        raise GeminiHTTPError(
            e.code, _retry_after_header(getattr(getattr(e, "response", None), "headers", None))
        ) from None
    return _extract(resp.model_dump(mode="json", by_alias=True, exclude_none=True))


def _generate_rest(
    cfg: GeminiConfig, instruction: str, contents: list[dict], timeout: float
) -> tuple[str, str | None]:
    """The same call over the REST API (``v1beta/models/{model}:generateContent``)."""
    base = (cfg.base_url or DEFAULT_BASE_URL).rstrip("/")
    body = {
        "contents": contents,
        "systemInstruction": {"parts": [{"text": instruction}]},
        "generationConfig": {"temperature": 0.3, "maxOutputTokens": 400},
    }
    resp = _session.post(
        f"{base}/v1beta/models/{cfg.model}:generateContent",
        json=body,
        headers={"x-goog-api-key": cfg.api_key},
        timeout=(min(3.0, timeout), timeout),
    )
    if resp.status_code >= 400:
        raise GeminiHTTPError(resp.status_code, _retry_after_header(resp.headers))
    return _extract(resp.json())


def _cache_key(cfg: GeminiConfig, instruction: str, message: str, req: ComposeRequest) -> str:
    h = hashlib.sha256(json.dumps([cfg.model, instruction, message, req.language]).encode()).hexdigest()
    return f"gemini:answer:{h}"


def grounded_text(req: ComposeRequest) -> str:
    """What the answer may draw figures from: the template answer, this person's
    facts and the knowledge passages (never the user's own message)."""
    facts = json.dumps(req.facts, ensure_ascii=False, default=str)
    return "\n".join([req.fallback, facts] + [f"{p.title} {p.text}" for p in req.passages])


def validate_answer(text: str, req: ComposeRequest) -> str | None:
    """The reason an answer is unusable, or None when it may be sent."""
    if not text or not text.strip():
        return "empty answer"
    if len(text) > MAX_ANSWER_CHARS:
        return "answer too long"
    return answer_check.problem(text, grounded_text(req))


def _extract(data: dict) -> tuple[str, str | None]:
    """(text, the reason it is blocked or empty) from a generateContent answer (REST JSON shape)."""
    fb = data.get("promptFeedback") or data.get("prompt_feedback") or {}
    block = fb.get("blockReason") or fb.get("block_reason")
    if block:
        return "", f"prompt blocked ({block})"
    candidates = data.get("candidates") or []
    if not candidates:
        return "", "no candidates"
    cand = candidates[0]
    finish = str(cand.get("finishReason") or cand.get("finish_reason") or "")
    if finish in BLOCKED_FINISH:
        return "", f"candidate blocked ({finish})"
    parts = (cand.get("content") or {}).get("parts") or []
    text = "".join(p.get("text") or "" for p in parts if not p.get("thought"))
    return text.strip(), None if text.strip() else "empty candidate"


def _retry_after_header(headers) -> float | None:  # noqa: ANN001 - httpx or requests headers
    if headers is None:
        return None
    value = headers.get("retry-after")
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None


def compose(req: ComposeRequest) -> ComposeResult:
    """Write the reply with Gemini from grounded facts, or return the template answer."""
    cfg = _config()
    if cfg is None:
        return ComposeResult(text=req.fallback, source="template")
    rt = get_runtime()
    instruction = system_instruction(cfg.assistant_name, req.language)
    message = grounded_message(req)
    cache_key = None if req.personal else _cache_key(cfg, instruction, message, req)
    if cache_key:
        cached = rt.cache.get(cache_key)
        if cached:
            return ComposeResult(text=cached, source="cache")
    try:
        breaker(cfg).before_call()
    except CircuitOpen:
        log.info("gemini circuit open: template answer model=%s", cfg.model)
        return ComposeResult(text=req.fallback, source="template", error="circuit open")
    contents = history_contents(req.history) + [{"role": "user", "parts": [{"text": message}]}]
    generate = _generate_sdk if USE_SDK else _generate_rest
    started = time.monotonic()
    deadline = started + cfg.timeout
    attempt = 0
    error = ""
    # What the breaker hears: the last transport outcome (None: Gemini answered).
    outcome: Exception | None = TimeoutError("time budget spent")
    while True:
        attempt += 1
        remaining = deadline - time.monotonic()
        if remaining <= 0.05:
            error = error or "time budget spent"
            break
        try:
            text, reason = generate(cfg, instruction, contents, remaining)
        except GeminiHTTPError as e:
            outcome = e
            error = f"HTTP {e.code}"
            if e.code in RETRYABLE:
                delay = e.retry_after
                delay = (
                    min(2.0, 0.2 * (2 ** (attempt - 1))) * (0.5 + random.random()) if delay is None else delay
                )
                if time.monotonic() + delay < deadline - 0.05:
                    time.sleep(delay)
                    continue
            break
        except Exception as e:  # noqa: BLE001 - timeouts and transport errors of any HTTP stack end in the fallback
            outcome = e
            error = type(e).__name__
            break
        outcome = None
        reason = reason or validate_answer(text, req)
        if reason:
            error = reason
            break
        record_outcome(cfg, None)
        latency = (time.monotonic() - started) * 1000
        log.info("gemini answer model=%s attempts=%d latency_ms=%.0f", cfg.model, attempt, latency)
        if cache_key:
            rt.cache.set(cache_key, text, ttl=CACHE_TTL)
        return ComposeResult(text=text, source="gemini")
    record_outcome(cfg, outcome)
    latency = (time.monotonic() - started) * 1000
    log.warning(
        "gemini fallback model=%s attempts=%d latency_ms=%.0f reason=%s", cfg.model, attempt, latency, error
    )
    return ComposeResult(text=req.fallback, source="template", error=error)
