"""Signature and shared-secret checks for inbound webhooks.

Every comparison of a secret or a digest goes through :func:`constant_equals`
(``hmac.compare_digest``) so the time taken does not leak how much of a guess
was right. Nothing here logs: callers log the outcome, never the values.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

MAKE_COM_REPLAY_WINDOW_SECONDS = 300


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of a check: ``ok`` and, when not, a reason safe to show the caller."""

    ok: bool
    reason: str = ""


OK = SignatureCheck(True)


def constant_equals(expected: str | bytes | None, given: str | bytes | None) -> bool:
    """Constant-time equality; an unset expected value never matches."""
    if not expected or given is None:
        return False
    a = expected.encode() if isinstance(expected, str) else expected
    b = given.encode() if isinstance(given, str) else given
    return hmac.compare_digest(a, b)


def hmac_sha256_hex(secret: str, data: bytes) -> str:
    return hmac.new(secret.encode(), data, hashlib.sha256).hexdigest()


def _sha256_header_digest(header: str | None) -> str | None:
    """``"sha256=<hex>"`` -> ``"<hex>"`` (lower-cased), else None."""
    if not header:
        return None
    scheme, _, digest = header.strip().partition("=")
    if scheme.strip().lower() != "sha256" or not digest:
        return None
    return digest.strip().lower()


def verify_hub_signature(
    app_secret: str, body: bytes, header: str | None, setting: str = "the app secret"
) -> SignatureCheck:
    """Meta (WhatsApp Cloud API, Messenger): ``X-Hub-Signature-256: sha256=<hex>``,
    the HMAC-SHA256 of the raw body keyed with the app secret (named ``setting`` in errors)."""
    if not app_secret:
        return SignatureCheck(False, f"{setting} is not configured")
    digest = _sha256_header_digest(header)
    if digest is None:
        return SignatureCheck(False, "missing or malformed X-Hub-Signature-256 header")
    if not constant_equals(hmac_sha256_hex(app_secret, body), digest):
        return SignatureCheck(False, "X-Hub-Signature-256 does not match the body")
    return OK


def make_com_signature(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Signature`` value for a Make.com relay request (see contracts/make_com.md)."""
    return "sha256=" + hmac_sha256_hex(secret, timestamp.encode() + b"." + body)


def verify_make_com_signature(
    secret: str, body: bytes, signature: str | None, timestamp: str | None, now: float
) -> SignatureCheck:
    """HMAC-SHA256 over ``"<timestamp>.<raw body>"``; a timestamp more than
    300 s away from ``now`` (unix seconds) is refused as a replay."""
    digest = _sha256_header_digest(signature)
    if digest is None:
        return SignatureCheck(False, "missing or malformed X-Signature header")
    if not timestamp:
        return SignatureCheck(False, "missing X-Timestamp header")
    try:
        ts = float(timestamp.strip())
    except ValueError:
        return SignatureCheck(False, "X-Timestamp is not unix seconds")
    if abs(now - ts) > MAKE_COM_REPLAY_WINDOW_SECONDS:
        return SignatureCheck(False, "X-Timestamp is outside the 300 s window (replay refused)")
    expected = hmac_sha256_hex(secret, timestamp.strip().encode() + b"." + body)
    if not constant_equals(expected, digest):
        return SignatureCheck(False, "X-Signature does not match the body")
    return OK


def twilio_signature(auth_token: str, url: str, params: Mapping[str, str] | Iterable[tuple[str, str]]) -> str:
    """Twilio's ``X-Twilio-Signature``: base64 HMAC-SHA1 of the full URL followed by
    every POST parameter name and value, sorted by name."""
    items = params.items() if isinstance(params, Mapping) else params
    data = url + "".join(k + v for k, v in sorted(items, key=lambda kv: kv[0]))
    mac = hmac.new(auth_token.encode(), data.encode("utf-8"), hashlib.sha1)
    return base64.b64encode(mac.digest()).decode()


def verify_twilio_signature(
    auth_token: str, urls: Iterable[str], params: Iterable[tuple[str, str]], header: str | None
) -> SignatureCheck:
    """Check against each candidate URL (public base URL, request URL): behind a
    proxy the URL Twilio signed may differ from the one we were called on."""
    if not auth_token:
        return SignatureCheck(False, "twilio_auth_token is not configured")
    if not header:
        return SignatureCheck(False, "missing X-Twilio-Signature header")
    params = list(params)
    for url in urls:
        if constant_equals(twilio_signature(auth_token, url, params), header.strip()):
            return OK
    return SignatureCheck(False, "X-Twilio-Signature does not match")
