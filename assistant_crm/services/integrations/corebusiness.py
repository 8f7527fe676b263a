"""Client for the Board's CoreBusiness API (``contracts/corebusiness.openapi.yaml``).

One pooled ``requests.Session`` per configuration; every call carries the
bearer key, has connect and read timeouts, and is retried with backoff only
when the server says to try again (429, honouring ``Retry-After`` up to a cap;
503) or the connection failed. Anything else (400, 401, 404, a 500, a read
timeout) is answered at once: retrying a hang only makes the person wait
longer. A circuit breaker per base URL fails fast after repeated failures and
lets one trial call through after a cool-down.

Answers are validated into dataclasses; a body that is not JSON, or lacks a
required field, raises :class:`CoreBusinessError` with ``kind="malformed"``.
The server does not check who may see what: callers must only ask about the
person verified in the session (see ``services/live_data.py``).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, TypeVar
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter
from tenacity import RetryCallState, Retrying, retry_if_exception_type, stop_after_attempt

from assistant_crm.services.infra.circuit_breaker import Breakers, CircuitBreaker, CircuitOpen
from assistant_crm.services.pipeline.normalise import fold

log = logging.getLogger("assistant_crm.corebusiness")

ROLES = ("claimant", "pensioner", "dependant", "employer_contact")
CLAIM_TYPES = ("occupational_injury", "occupational_disease", "fatal_accident")
CLAIM_STATUSES = (
    "received",
    "under_review",
    "awaiting_documents",
    "medical_assessment",
    "approved",
    "rejected",
    "paid",
    "closed",
)
DOCUMENT_STATUSES = ("received", "pending", "rejected")
PAYMENT_KINDS = ("monthly_pension", "lump_sum", "funeral_grant", "medical_refund", "rehabilitation")
PAYMENT_STATUSES = ("scheduled", "paid", "failed", "on_hold")
PAYMENT_METHODS = ("bank", "mobile_money", "cheque")
CONTRIBUTION_STATUSES = ("paid_up", "outstanding", "overdue", "unassessed")

DEFAULT_TIMEOUT = 5.0
MAX_ATTEMPTS = 3
RETRY_AFTER_CAP = 2.0  # seconds: a chat turn cannot wait longer; a longer Retry-After fails at once
BREAKER_THRESHOLD = 5
BREAKER_COOLDOWN = 30.0


# --------------------------------------------------------------------------- errors


class CoreBusinessError(Exception):
    """CoreBusiness could not give an answer.

    ``kind``: not_configured | auth | bad_request | not_found | conflict |
    rate_limited | unavailable | server_error | timeout | connection |
    malformed | circuit_open | unexpected.
    """

    def __init__(
        self, message: str, *, kind: str, status: int | None = None, retry_after: float | None = None
    ):
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.retry_after = retry_after

    @property
    def transient(self) -> bool:
        """True when trying again later may work (so the person is told to retry)."""
        return self.kind in (
            "rate_limited",
            "unavailable",
            "server_error",
            "timeout",
            "connection",
            "circuit_open",
        )


class _Transient(Exception):
    """Raised inside the retry loop for answers worth another attempt."""

    def __init__(self, error: CoreBusinessError):
        super().__init__(str(error))
        self.error = error


class _Malformed(ValueError):
    pass


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class VerifyResult:
    verified: bool
    person_id: str = ""
    full_name: str = ""
    roles: tuple[str, ...] = ()
    employer_numbers: tuple[str, ...] = ()
    phone: str = ""
    preferred_language: str = ""


@dataclass(frozen=True)
class ClaimSummary:
    claim_number: str
    claim_type: str
    status: str
    status_date: date | None = None
    incident_date: date | None = None
    employer_name: str = ""
    next_step: str = ""


@dataclass(frozen=True)
class ClaimEvent:
    status: str
    date: date | None = None
    note: str = ""


@dataclass(frozen=True)
class ClaimDetail(ClaimSummary):
    person_id: str = ""
    history: tuple[ClaimEvent, ...] = ()


@dataclass(frozen=True)
class Document:
    document_type: str
    status: str
    received_date: date | None = None
    note: str = ""


@dataclass(frozen=True)
class Payment:
    payment_id: str
    kind: str
    amount: Decimal
    currency: str
    status: str
    claim_number: str = ""
    scheduled_date: date | None = None
    paid_date: date | None = None
    method: str = ""
    account_masked: str = ""
    hold_reason: str = ""


@dataclass(frozen=True)
class Contributions:
    employer_number: str
    status: str
    employer_name: str = ""
    assessment_year: int | None = None
    assessed_amount: Decimal | None = None
    paid_amount: Decimal | None = None
    balance: Decimal | None = None
    currency: str = "ZMW"
    due_date: date | None = None
    last_payment_date: date | None = None


def as_json(value: Any) -> Any:
    """A dataclass (or list of them) as the contract's JSON shape: Decimal as a
    string, dates as ISO-8601. ``parse_*`` functions read it back."""
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: as_json(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, (list, tuple)):
        return [as_json(v) for v in value]
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return value


# --------------------------------------------------------------------------- validation


def _obj(payload: Any, what: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise _Malformed(f"{what}: expected an object")
    return payload


def _str(d: dict[str, Any], key: str, what: str, *, required: bool = False) -> str:
    value = d.get(key)
    if value is None:
        if required:
            raise _Malformed(f"{what}: missing {key}")
        return ""
    if not isinstance(value, str):
        raise _Malformed(f"{what}: {key} is not a string")
    if required and not value.strip():
        raise _Malformed(f"{what}: {key} is empty")
    return value


def _enum(d: dict[str, Any], key: str, allowed: tuple[str, ...], what: str, *, required: bool = False) -> str:
    value = _str(d, key, what, required=required)
    if value and value not in allowed:
        raise _Malformed(f"{what}: {key} has an unknown value")
    return value


def _date(d: dict[str, Any], key: str, what: str) -> date | None:
    value = d.get(key)
    if value in (None, ""):
        return None
    if not isinstance(value, str):
        raise _Malformed(f"{what}: {key} is not a date")
    try:
        return date.fromisoformat(value[:10])
    except ValueError:
        raise _Malformed(f"{what}: {key} is not an ISO date") from None


def _money(d: dict[str, Any], key: str, what: str, *, required: bool = False) -> Decimal | None:
    value = d.get(key)
    if value is None:
        if required:
            raise _Malformed(f"{what}: missing {key}")
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise _Malformed(f"{what}: {key} is not an amount")
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise _Malformed(f"{what}: {key} is not an amount") from None
    if not amount.is_finite():
        raise _Malformed(f"{what}: {key} is not an amount")
    return amount


def _list(d: dict[str, Any], key: str, what: str) -> list[Any]:
    value = d.get(key, [])
    if value is None:
        return []
    if not isinstance(value, list):
        raise _Malformed(f"{what}: {key} is not a list")
    return value


def parse_verify(payload: Any) -> VerifyResult:
    d = _obj(payload, "verify")
    verified = d.get("verified")
    if not isinstance(verified, bool):
        raise _Malformed("verify: missing verified")
    if not verified:
        return VerifyResult(verified=False)
    # Roles only describe the person; an absent list or a role added later on
    # the server side must not make verification impossible.
    roles = [r for r in _list(d, "roles", "verify") if isinstance(r, str)]
    unknown = [r for r in roles if r not in ROLES]
    if unknown:
        log.info("corebusiness verify: ignoring %s unknown role(s)", len(unknown))
        roles = [r for r in roles if r in ROLES]
    employers = _list(d, "employer_numbers", "verify")
    if any(not isinstance(e, str) for e in employers):
        raise _Malformed("verify: employer_numbers are not strings")
    return VerifyResult(
        verified=True,
        person_id=_str(d, "person_id", "verify", required=True),
        full_name=_str(d, "full_name", "verify", required=True),
        roles=tuple(roles),
        employer_numbers=tuple(employers),
        phone=_str(d, "phone", "verify"),
        preferred_language=_str(d, "preferred_language", "verify"),
    )


def _summary_fields(d: dict[str, Any], what: str) -> dict[str, Any]:
    return {
        "claim_number": _str(d, "claim_number", what, required=True),
        "claim_type": _enum(d, "claim_type", CLAIM_TYPES, what, required=True),
        "status": _enum(d, "status", CLAIM_STATUSES, what, required=True),
        "status_date": _date(d, "status_date", what),
        "incident_date": _date(d, "incident_date", what),
        "employer_name": _str(d, "employer_name", what),
        "next_step": _str(d, "next_step", what),
    }


T = TypeVar("T")


def _parse_list(payload: Any, key: str, parse_item: Callable[[Any], T]) -> list[T]:
    """``{key: [...]}`` parsed item by item; the key is required."""
    d = _obj(payload, key)
    if key not in d:
        raise _Malformed(f"{key}: missing {key}")
    return [parse_item(x) for x in _list(d, key, key)]


def parse_claim_summary(payload: Any) -> ClaimSummary:
    return ClaimSummary(**_summary_fields(_obj(payload, "claim"), "claim"))


def parse_claims(payload: Any) -> list[ClaimSummary]:
    return _parse_list(payload, "claims", parse_claim_summary)


def parse_claim_detail(payload: Any) -> ClaimDetail:
    d = _obj(payload, "claim")
    history = []
    for item in _list(d, "history", "claim"):
        h = _obj(item, "claim history")
        history.append(
            ClaimEvent(
                status=_str(h, "status", "claim history", required=True),
                date=_date(h, "date", "claim history"),
                note=_str(h, "note", "claim history"),
            )
        )
    return ClaimDetail(
        **_summary_fields(d, "claim"), person_id=_str(d, "person_id", "claim"), history=tuple(history)
    )


def parse_document(payload: Any) -> Document:
    d = _obj(payload, "document")
    return Document(
        document_type=_str(d, "document_type", "document", required=True),
        status=_enum(d, "status", DOCUMENT_STATUSES, "document", required=True),
        received_date=_date(d, "received_date", "document"),
        note=_str(d, "note", "document"),
    )


def parse_documents(payload: Any) -> list[Document]:
    return _parse_list(payload, "documents", parse_document)


def parse_payment(payload: Any) -> Payment:
    d = _obj(payload, "payment")
    return Payment(
        payment_id=_str(d, "payment_id", "payment", required=True),
        kind=_enum(d, "kind", PAYMENT_KINDS, "payment", required=True),
        amount=_money(d, "amount", "payment", required=True),
        currency=_str(d, "currency", "payment", required=True),
        status=_enum(d, "status", PAYMENT_STATUSES, "payment", required=True),
        claim_number=_str(d, "claim_number", "payment"),
        scheduled_date=_date(d, "scheduled_date", "payment"),
        paid_date=_date(d, "paid_date", "payment"),
        method=_enum(d, "method", PAYMENT_METHODS, "payment"),
        account_masked=_str(d, "account_masked", "payment"),
        hold_reason=_str(d, "hold_reason", "payment"),
    )


def parse_payments(payload: Any) -> list[Payment]:
    return _parse_list(payload, "payments", parse_payment)


def parse_contributions(payload: Any) -> Contributions:
    d = _obj(payload, "contributions")
    year = d.get("assessment_year")
    if year is not None and (isinstance(year, bool) or not isinstance(year, int)):
        raise _Malformed("contributions: assessment_year is not an integer")
    return Contributions(
        employer_number=_str(d, "employer_number", "contributions", required=True),
        status=_enum(d, "status", CONTRIBUTION_STATUSES, "contributions", required=True),
        employer_name=_str(d, "employer_name", "contributions"),
        assessment_year=year,
        assessed_amount=_money(d, "assessed_amount", "contributions"),
        paid_amount=_money(d, "paid_amount", "contributions"),
        balance=_money(d, "balance", "contributions"),
        currency=_str(d, "currency", "contributions") or "ZMW",
        due_date=_date(d, "due_date", "contributions"),
        last_payment_date=_date(d, "last_payment_date", "contributions"),
    )


# --------------------------------------------------------------------------- circuit breaker

# One breaker per CoreBusiness base URL in the process (the shared breaker code:
# infra/circuit_breaker.py; Gemini has the same).
_breakers = Breakers("corebusiness", BREAKER_THRESHOLD, BREAKER_COOLDOWN)


def breaker_for(
    base_url: str, threshold: int = BREAKER_THRESHOLD, cooldown: float = BREAKER_COOLDOWN
) -> CircuitBreaker:
    """The process-wide breaker of one CoreBusiness base URL."""
    return _breakers.get(base_url, threshold, cooldown)


def circuit_state(base_url: str) -> dict[str, Any]:
    """The breaker of ``base_url`` as the last process to change it left it (Health, ``doctor``)."""
    return _breakers.state(base_url)


def reset_breakers() -> None:
    _breakers.reset()


# --------------------------------------------------------------------------- client


# Only answers that say CoreBusiness itself is unwell open the breaker: a 4xx
# (our input, our key, a missing record) is "neutral" whatever the input was.
_FAILURE_KINDS = {"rate_limited", "unavailable", "server_error", "timeout", "connection", "malformed"}


class CoreBusinessClient:
    """Typed calls to CoreBusiness. Thread-safe (requests' pool is)."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        connect_timeout: float | None = None,
        max_attempts: int = MAX_ATTEMPTS,
        retry_after_cap: float = RETRY_AFTER_CAP,
        backoff: float = 0.2,
        breaker: CircuitBreaker | None = None,
        pool_size: int = 20,
        sleep: Callable[[float], None] = time.sleep,
    ):
        if not base_url:
            raise CoreBusinessError(
                "CoreBusiness is not configured (corebusiness_base_url)", kind="not_configured"
            )
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key or ""
        self.timeout = float(timeout) if timeout and timeout > 0 else DEFAULT_TIMEOUT
        # A refused or black-holed connection should fail sooner than a slow answer.
        self.connect_timeout = float(connect_timeout or min(3.0, self.timeout))
        self.max_attempts = max(1, int(max_attempts))
        self.retry_after_cap = float(retry_after_cap)
        self.backoff = float(backoff)
        self.breaker = breaker or breaker_for(self.base_url)
        self._sleep = sleep
        self.session = requests.Session()
        adapter = HTTPAdapter(pool_connections=2, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers.update(
            {
                "Authorization": f"Bearer {self._api_key}",
                "Accept": "application/json",
                "User-Agent": "assistant-crm/1.0",
            }
        )

    def __repr__(self) -> str:  # never show the key
        return f"<CoreBusinessClient {self.base_url}>"

    def close(self) -> None:
        self.session.close()

    # -- the contract's operations

    def verify_identity(self, nrc: str, full_name: str) -> VerifyResult:
        """POST /v1/identity/verify.

        The NRC and name go out folded (NFKC, every digit ASCII), so the same NRC
        typed in another script reaches CoreBusiness as ``NNNNNN/NN/N``; what it
        refuses as malformed (a 4xx) never counts toward the circuit breaker
        (issue 12.2)."""
        nrc, full_name = fold(nrc).strip(), fold(full_name).strip()
        payload = self._call(
            "POST", "/v1/identity/verify", "/v1/identity/verify", json={"nrc": nrc, "full_name": full_name}
        )
        return self._parse(parse_verify, payload, "/v1/identity/verify")

    def claims(self, person_id: str) -> list[ClaimSummary]:
        """GET /v1/persons/{person_id}/claims."""
        tpl = "/v1/persons/{person_id}/claims"
        payload = self._call("GET", f"/v1/persons/{_seg(person_id)}/claims", tpl)
        return self._parse(parse_claims, payload, tpl)

    def claim(self, number: str) -> ClaimDetail:
        """GET /v1/claims/{claim_number}."""
        tpl = "/v1/claims/{claim_number}"
        payload = self._call("GET", f"/v1/claims/{_seg(number)}", tpl)
        return self._parse(parse_claim_detail, payload, tpl)

    def documents(self, number: str) -> list[Document]:
        """GET /v1/claims/{claim_number}/documents."""
        tpl = "/v1/claims/{claim_number}/documents"
        payload = self._call("GET", f"/v1/claims/{_seg(number)}/documents", tpl)
        return self._parse(parse_documents, payload, tpl)

    def payments(self, person_id: str, limit: int = 12) -> list[Payment]:
        """GET /v1/persons/{person_id}/payments?limit=N (newest first)."""
        tpl = "/v1/persons/{person_id}/payments"
        limit = max(1, min(100, int(limit)))
        payload = self._call("GET", f"/v1/persons/{_seg(person_id)}/payments", tpl, params={"limit": limit})
        return self._parse(parse_payments, payload, tpl)

    def contributions(self, employer_number: str) -> Contributions:
        """GET /v1/employers/{employer_number}/contributions."""
        tpl = "/v1/employers/{employer_number}/contributions"
        payload = self._call("GET", f"/v1/employers/{_seg(employer_number)}/contributions", tpl)
        return self._parse(parse_contributions, payload, tpl)

    # -- plumbing

    def _parse(self, parser: Callable[[Any], Any], payload: Any, tpl: str) -> Any:
        try:
            result = parser(payload)
        except _Malformed as exc:
            self.breaker.record_failure()
            log.warning("corebusiness malformed answer path=%s problem=%s", tpl, exc)
            raise CoreBusinessError(
                f"CoreBusiness gave a malformed answer ({exc})", kind="malformed"
            ) from None
        self.breaker.record_success()
        return result

    def _call(self, method: str, path: str, tpl: str, **kwargs: Any) -> Any:
        """One logical call: breaker check, retries, error mapping. Returns decoded JSON."""
        try:
            self.breaker.before_call()
        except CircuitOpen as exc:
            raise CoreBusinessError(
                "CoreBusiness is failing; not calling it for a while",
                kind="circuit_open",
                retry_after=exc.retry_after,
            ) from None
        started = time.perf_counter()
        try:
            for attempt in Retrying(
                retry=retry_if_exception_type(_Transient),
                stop=stop_after_attempt(self.max_attempts),
                wait=self._wait,
                sleep=self._sleep,
                before_sleep=lambda rs: log.info(
                    "corebusiness retry path=%s attempt=%s kind=%s",
                    tpl,
                    rs.attempt_number,
                    rs.outcome.exception().error.kind if rs.outcome else "",
                ),
                reraise=True,
            ):
                with attempt:
                    return self._once(method, path, tpl, **kwargs)
        except _Transient as exc:
            err = exc.error
        except CoreBusinessError as exc:
            err = exc
        elapsed_ms = (time.perf_counter() - started) * 1000
        if err.kind in _FAILURE_KINDS:
            self.breaker.record_failure()
        else:
            self.breaker.record_neutral()
        level = logging.INFO if err.kind == "not_found" else logging.WARNING
        log.log(
            level,
            "corebusiness call failed path=%s kind=%s status=%s ms=%.0f",
            tpl,
            err.kind,
            err.status,
            elapsed_ms,
        )
        raise err

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, _Transient) and exc.error.retry_after is not None:
            return min(exc.error.retry_after, self.retry_after_cap)
        return min(self.backoff * (2 ** (state.attempt_number - 1)), 2.0)

    def _once(self, method: str, path: str, tpl: str, **kwargs: Any) -> Any:
        url = self.base_url + path
        try:
            resp = self.session.request(method, url, timeout=(self.connect_timeout, self.timeout), **kwargs)
        except requests.exceptions.ConnectTimeout:
            raise _Transient(
                CoreBusinessError("CoreBusiness did not accept the connection", kind="connection")
            ) from None
        except requests.exceptions.Timeout:
            # A read timeout is not retried: the server may still be working on it.
            raise CoreBusinessError("CoreBusiness did not answer in time", kind="timeout") from None
        except requests.exceptions.ConnectionError:
            raise _Transient(
                CoreBusinessError("CoreBusiness could not be reached", kind="connection")
            ) from None
        except requests.exceptions.RequestException as exc:
            raise CoreBusinessError(
                f"CoreBusiness request failed ({type(exc).__name__})", kind="unexpected"
            ) from None
        status = resp.status_code
        if status == 200:
            try:
                return resp.json()
            except ValueError:
                raise CoreBusinessError(
                    "CoreBusiness answered with something that is not JSON", kind="malformed", status=200
                ) from None
        message = _error_message(resp)
        if status == 429:
            retry_after = _retry_after(resp.headers.get("Retry-After"))
            err = CoreBusinessError(
                f"CoreBusiness is rate limiting us: {message}",
                kind="rate_limited",
                status=429,
                retry_after=retry_after,
            )
            if retry_after is not None and retry_after > self.retry_after_cap:
                raise err  # waiting that long is pointless inside a chat turn
            raise _Transient(err)
        if status == 503:
            raise _Transient(
                CoreBusinessError(
                    f"CoreBusiness is unavailable: {message}",
                    kind="unavailable",
                    status=503,
                    retry_after=_retry_after(resp.headers.get("Retry-After")),
                )
            )
        kinds = {400: "bad_request", 401: "auth", 403: "auth", 404: "not_found", 409: "conflict"}
        if status in kinds:
            if status in (401, 403):
                log.error("corebusiness rejected our API key (status %s): check corebusiness_api_key", status)
            raise CoreBusinessError(
                f"CoreBusiness refused the request: {message}", kind=kinds[status], status=status
            )
        if status >= 500:
            raise CoreBusinessError(
                f"CoreBusiness failed (HTTP {status})", kind="server_error", status=status
            )
        raise CoreBusinessError(f"CoreBusiness answered HTTP {status}", kind="unexpected", status=status)


def _seg(value: str) -> str:
    # Identifiers go into the path: quote everything so "../" cannot reach another route.
    return quote(str(value or ""), safe="")


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None  # HTTP-date form: fall back to our own backoff
    return max(0.0, seconds)


def _error_message(resp: requests.Response) -> str:
    try:
        body = resp.json()
        err = body.get("error") if isinstance(body, dict) else None
        if isinstance(err, dict):
            return str(err.get("code") or "error")[:80]
    except ValueError:
        pass
    return f"HTTP {resp.status_code}"


# --------------------------------------------------------------------------- factory


_clients: dict[tuple[str, str, float], CoreBusinessClient] = {}
_clients_lock = threading.Lock()


def get_client() -> CoreBusinessClient:
    """The client for the current settings (built once per configuration).

    Raises ``CoreBusinessError(kind="not_configured")`` when no base URL is set.
    """
    from assistant_crm.services.infra.ports import get_runtime

    settings = get_runtime().settings
    base_url = settings.str("corebusiness_base_url")
    if not base_url:
        raise CoreBusinessError(
            "CoreBusiness is not configured (corebusiness_base_url)", kind="not_configured"
        )
    api_key = settings.str("corebusiness_api_key")
    timeout = settings.float("corebusiness_timeout_seconds")
    key = (base_url.rstrip("/"), api_key, timeout)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = CoreBusinessClient(base_url, api_key, timeout=timeout)
        return client


def clear_clients() -> None:
    """Forget built clients (settings changed)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()
