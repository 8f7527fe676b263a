"""Frappe v15's error body, shared by both runtimes.

The Frappe adapter (:mod:`assistant_crm.runtime.frappe`) and the standalone
WSGI app (:mod:`assistant_crm.standalone.wsgi`) answer an engine error with the
same body (``exc_type``, ``exception``, ``_server_messages``), so clients
written for Frappe read our errors alike in either runtime.
"""

from __future__ import annotations

import json
from typing import Any

from assistant_crm.services.infra import errors

# Frappe's exception class names for the engine's errors.
FRAPPE_EXC_NAMES: dict[type[errors.AppError], str] = {
    errors.ValidationError: "ValidationError",
    errors.AuthenticationError: "AuthenticationError",
    errors.PermissionDenied: "PermissionError",
    errors.NotFound: "DoesNotExistError",
    errors.MethodNotAllowed: "PermissionError",
    errors.DuplicateError: "DuplicateEntryError",
    errors.PayloadTooLarge: "RequestEntityTooLargeError",
    errors.RateLimited: "RateLimitExceededError",
    errors.ServiceUnavailable: "ServiceUnavailableError",
}


def frappe_exc_type(exc: errors.AppError) -> str:
    """Frappe's exception class name for an engine error (its own name when unmapped)."""
    return next((n for cls, n in FRAPPE_EXC_NAMES.items() if isinstance(exc, cls)), type(exc).__name__)


def error_body(exc_type: str, message: str, title: str = "Message") -> dict[str, Any]:
    """A body shaped like Frappe v15's error responses."""
    return {
        "exc_type": exc_type,
        "exception": f"frappe.exceptions.{exc_type}: {message}",
        "_server_messages": json.dumps(
            [json.dumps({"message": message, "title": title, "indicator": "red", "raise_exception": 1})]
        ),
    }


def error_payload(exc: errors.AppError) -> dict[str, Any]:
    """Frappe v15's error body for an engine error."""
    return error_body(frappe_exc_type(exc), exc.message)
