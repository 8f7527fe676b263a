"""Encryption of personal data that must be kept (an NRC waiting for its name).

Under Frappe the runtime gives its own encryption as ports (``extras["encrypt"]``
/ ``extras["decrypt"]``: ``frappe.utils.password.encrypt/decrypt`` under the
site's ``encryption_key``), and values read ``enc2:<token>``. Standalone,
values are sealed with Fernet (AES-128-CBC + HMAC-SHA256, ``cryptography``)
under a key derived from the ``verification_secret`` setting (else
``corebusiness_api_key``; with neither, a random key kept in the cache, so
sealed values die with the cache, like pending codes). A sealed value reads
``enc1:<token>``; anything else is returned as stored (values written before
encryption was introduced). A value that no longer opens (the key changed)
reads as empty: what is sealed here is short-lived conversation state.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets

from cryptography.fernet import Fernet, InvalidToken

from assistant_crm.services.infra.ports import get_runtime

log = logging.getLogger("assistant_crm.crypto")

PREFIX = "enc1:"
SITE_PREFIX = "enc2:"  # sealed by the runtime's own encryption (Frappe's site key)
_CACHE_KEY = "acrm:crypto:random-secret"


def _key() -> bytes:
    rt = get_runtime()
    secret = rt.settings.str("verification_secret") or rt.settings.str("corebusiness_api_key")
    if not secret:
        rt.cache.add(_CACHE_KEY, secrets.token_hex(32))
        secret = str(rt.cache.get(_CACHE_KEY) or "")
    digest = hmac.new(secret.encode(), b"assistant-crm:at-rest:v1", hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest)


def seal(value: str) -> str:
    """``value`` encrypted (``enc2:...`` with the runtime's encryption, else
    ``enc1:...``); "" stays ""."""
    if not value:
        return ""
    encrypt = get_runtime().extras.get("encrypt")
    if callable(encrypt):
        return SITE_PREFIX + str(encrypt(value))
    return PREFIX + Fernet(_key()).encrypt(value.encode("utf-8")).decode("ascii")


def open_sealed(value: str) -> str:
    """The plain text of a :func:`seal` result (a plain value is returned as is)."""
    if value and value.startswith(SITE_PREFIX):
        decrypt = get_runtime().extras.get("decrypt")
        if not callable(decrypt):
            log.warning(
                "a value sealed with the site's key cannot be opened in this runtime; treated as empty"
            )
            return ""
        try:
            return str(decrypt(value[len(SITE_PREFIX) :]))
        except Exception:  # noqa: BLE001 - Frappe throws its ValidationError for a changed key
            log.warning("a sealed value could not be opened (site key changed); treated as empty")
            return ""
    # enc1: values (standalone, or sealed under Frappe before the switch) still open.
    if not value or not value.startswith(PREFIX):
        return value or ""
    try:
        return Fernet(_key()).decrypt(value[len(PREFIX) :].encode("ascii")).decode("utf-8")
    except (InvalidToken, ValueError):
        log.warning("a sealed value could not be opened (key changed); treated as empty")
        return ""
