"""Errors the engine raises; each runtime maps them to an HTTP status."""

from __future__ import annotations


class AppError(Exception):
    """Base class: a client-visible error with an HTTP status."""

    http_status_code = 400

    def __init__(self, message: str, *, field: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.headers = headers or {}


class ValidationError(AppError):
    http_status_code = 400


class AuthenticationError(AppError):
    http_status_code = 401


class PermissionDenied(AppError):
    http_status_code = 403


class NotFound(AppError):
    http_status_code = 404


class MethodNotAllowed(AppError):
    http_status_code = 405


class DuplicateError(AppError):
    http_status_code = 409


class PayloadTooLarge(AppError):
    http_status_code = 413


class RateLimited(AppError):
    http_status_code = 429

    def __init__(self, message: str = "Too many requests; please slow down.", *, retry_after: int = 60):
        super().__init__(message, headers={"Retry-After": str(int(retry_after))})
        self.retry_after = int(retry_after)


class ServiceUnavailable(AppError):
    """An external dependency (CoreBusiness, a platform API) failed."""

    http_status_code = 503


class UnsupportedMediaType(AppError):
    """An upload whose type (declared or by its bytes) is not accepted."""

    http_status_code = 415
