"""``assistant-crm doctor``: one authenticated call to each configured service.

Each service is checked with the cheapest call that proves the credentials,
and nothing is sent to anyone:

| service | call |
|---|---|
| Gemini | ``GET {gemini_base_url}/v1beta/models/{gemini_model}`` (``x-goog-api-key``) |
| CoreBusiness | ``GET {corebusiness_base_url}/v1/persons/doctor-check/claims`` (bearer; 404 means the key was accepted) |
| WhatsApp | ``GET {graph_api_base_url}/{whatsapp_phone_number_id}`` (bearer) |
| Messenger | ``GET {graph_api_base_url}/{messenger_page_id or me}?access_token=`` |
| Telegram | ``GET {telegram_api_base_url}/bot<token>/getMe`` |
| Africa's Talking | ``GET {africastalking_base_url}/version1/user?username=`` (``apiKey``) |
| Twilio | ``GET {twilio_base_url}/2010-04-01/Accounts/{sid}.json`` (basic auth) |
| Make.com relay | ``GET {make_com_outbound_url}`` with ``X-API-Key`` (no message) |

Then the circuit breakers in front of CoreBusiness and Gemini, as the server
processes last left them (they share their state through the cache): an open
one means the service failed repeatedly and the assistant is answering without
it (records unavailable; template answers instead of Gemini's).

A refused key is "rejected", never "reachable". Missing settings are named by
their field names, including the ones needed to *receive* a platform's
webhooks (app secrets, verify tokens, callback tokens).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import requests

from assistant_crm.services.integrations import corebusiness
from assistant_crm.services.pipeline import gemini

TIMEOUT = (3.05, 5.0)


@dataclass
class Result:
    """One service's line in the report."""

    label: str
    state: str  # ok | rejected | unreachable | error | not configured | incomplete | skipped
    detail: str = ""

    @property
    def failed(self) -> bool:
        return self.state in ("rejected", "unreachable", "error", "incomplete")

    def line(self) -> str:
        return f"{self.label}: {self.state}" + (f" ({self.detail})" if self.detail else "")


@dataclass
class Service:
    label: str
    needed: tuple[str, ...]  # to call the service
    inbound: tuple[str, ...]  # to accept its webhooks
    probe: Callable[[Any, requests.Session], requests.Response]
    url_field: str
    rejected_codes: tuple[int, ...] = (401, 403)
    applies: Callable[[Any], bool] = lambda s: True
    optional_note: str = ""


def _base(s: Any, field: str) -> str:
    return s.str(field).rstrip("/")


def _gemini(s: Any, http: requests.Session) -> requests.Response:
    model = s.str("gemini_model") or "gemini-2.5-flash"
    return http.get(
        f"{_base(s, 'gemini_base_url')}/v1beta/models/{model}",
        headers={"x-goog-api-key": s.str("gemini_api_key")},
        timeout=TIMEOUT,
    )


def _corebusiness(s: Any, http: requests.Session) -> requests.Response:
    return http.get(
        f"{_base(s, 'corebusiness_base_url')}/v1/persons/doctor-check/claims",
        headers={"Authorization": f"Bearer {s.str('corebusiness_api_key')}"},
        timeout=TIMEOUT,
    )


def _whatsapp(s: Any, http: requests.Session) -> requests.Response:
    return http.get(
        f"{_base(s, 'graph_api_base_url')}/{s.str('whatsapp_phone_number_id')}",
        params={"fields": "id,display_phone_number"},
        headers={"Authorization": f"Bearer {s.str('whatsapp_access_token')}"},
        timeout=TIMEOUT,
    )


def _messenger(s: Any, http: requests.Session) -> requests.Response:
    return http.get(
        f"{_base(s, 'graph_api_base_url')}/{s.str('messenger_page_id') or 'me'}",
        params={"fields": "id,name", "access_token": s.str("messenger_page_access_token")},
        timeout=TIMEOUT,
    )


def _telegram(s: Any, http: requests.Session) -> requests.Response:
    return http.get(
        f"{_base(s, 'telegram_api_base_url')}/bot{s.str('telegram_bot_token')}/getMe", timeout=TIMEOUT
    )


def _africastalking(s: Any, http: requests.Session) -> requests.Response:
    return http.get(
        f"{_base(s, 'africastalking_base_url')}/version1/user",
        params={"username": s.str("africastalking_username")},
        headers={"apiKey": s.str("africastalking_api_key"), "Accept": "application/json"},
        timeout=TIMEOUT,
    )


def _twilio(s: Any, http: requests.Session) -> requests.Response:
    sid = s.str("twilio_account_sid")
    return http.get(
        f"{_base(s, 'twilio_base_url')}/2010-04-01/Accounts/{sid}.json",
        auth=(sid, s.str("twilio_auth_token")),
        timeout=TIMEOUT,
    )


def _make_com(s: Any, http: requests.Session) -> requests.Response:
    return http.get(
        s.str("make_com_outbound_url"), headers={"X-API-Key": s.str("make_com_api_key")}, timeout=TIMEOUT
    )


def _provider(name: str) -> Callable[[Any], bool]:
    return lambda s: (s.str("sms_provider") or "africastalking") == name


SERVICES: list[Service] = [
    Service(
        "Gemini",
        ("gemini_api_key",),
        (),
        _gemini,
        "gemini_base_url",
        rejected_codes=(400, 401, 403),  # Gemini answers a bad key with 400 API_KEY_INVALID
        optional_note="replies come from the response templates",
    ),
    Service(
        "CoreBusiness",
        ("corebusiness_base_url", "corebusiness_api_key"),
        (),
        _corebusiness,
        "corebusiness_base_url",
    ),
    Service(
        "WhatsApp (Graph API)",
        ("whatsapp_access_token", "whatsapp_phone_number_id"),
        ("whatsapp_app_secret", "whatsapp_verify_token"),
        _whatsapp,
        "graph_api_base_url",
        rejected_codes=(400, 401, 403),
    ),
    Service(
        "Messenger (Graph API)",
        ("messenger_page_access_token",),
        ("messenger_app_secret", "messenger_verify_token"),
        _messenger,
        "graph_api_base_url",
        rejected_codes=(400, 401, 403),
    ),
    Service(
        "Telegram",
        ("telegram_bot_token",),
        ("telegram_secret_token",),
        _telegram,
        "telegram_api_base_url",
        rejected_codes=(401, 404),
    ),
    Service(
        "Africa's Talking (SMS)",
        ("africastalking_username", "africastalking_api_key"),
        ("sms_callback_token",),
        _africastalking,
        "africastalking_base_url",
        applies=_provider("africastalking"),
    ),
    Service(
        "Twilio (SMS)",
        ("twilio_account_sid", "twilio_auth_token", "twilio_from_number"),
        (),
        _twilio,
        "twilio_base_url",
        applies=_provider("twilio"),
    ),
    Service(
        "Make.com relay",
        ("make_com_outbound_url", "make_com_api_key"),
        (),
        _make_com,
        "make_com_outbound_url",
    ),
]


def check(settings: Any, service: Service, http: requests.Session) -> Result:
    """Configuration, then one authenticated call."""
    if not service.applies(settings):
        return Result(service.label, "skipped", f"sms_provider is {settings.str('sms_provider')!r}")
    missing = [f for f in service.needed if not settings.is_set(f)]
    if len(missing) == len(service.needed):
        note = f"; {service.optional_note}" if service.optional_note else ""
        return Result(
            service.label, "not configured", f"set {', '.join(service.needed + service.inbound)}{note}"
        )
    if missing:
        return Result(service.label, "incomplete", f"missing {', '.join(missing)}")
    try:
        resp = service.probe(settings, http)
    except requests.Timeout:
        return Result(service.label, "unreachable", f"timed out; {_where(settings, service)}")
    except requests.RequestException as e:
        return Result(service.label, "unreachable", f"{_reason(e)}; {_where(settings, service)}")
    where = _where(settings, service)
    no_inbound = [f for f in service.inbound if not settings.is_set(f)]
    inbound_note = f"; its webhooks are refused until {', '.join(no_inbound)} set" if no_inbound else ""
    if 200 <= resp.status_code < 300 or (service.label == "CoreBusiness" and resp.status_code == 404):
        state = "incomplete" if no_inbound else "ok"
        return Result(service.label, state, f"authenticated at {where}{inbound_note}")
    if resp.status_code in service.rejected_codes:
        return Result(
            service.label, "rejected", f"HTTP {resp.status_code}: the credentials were refused at {where}"
        )
    return Result(service.label, "error", f"HTTP {resp.status_code} from {where}")


def _where(settings: Any, service: Service) -> str:
    value = settings.str(service.url_field)
    return urlparse(value).netloc or value or "?"


def _reason(e: Exception) -> str:
    text = str(e)
    for marker in ("Connection refused", "Name or service not known", "No route to host", "timed out"):
        if marker in text:
            return marker.lower()
    return e.__class__.__name__


def run(settings: Any) -> list[Result]:
    """Every service's result, in the order of :data:`SERVICES`."""
    with requests.Session() as http:
        return [check(settings, s, http) for s in SERVICES]


def circuits(settings: Any) -> list[dict[str, Any]]:
    """``{"name", "state", "failures"[, "since"]}`` for CoreBusiness and Gemini; "off" when not configured."""
    base = settings.str("corebusiness_base_url")
    core = corebusiness.circuit_state(base) if base else {"state": "off", "failures": 0}
    return [{"name": "CoreBusiness", **core}, {"name": "Gemini", **gemini.circuit_state()}]


def circuit_line(circuit: dict[str, Any]) -> str:
    """ "Gemini circuit: open since 2026-11-29T22:10:00+00:00 (5 failures in a row)"."""
    text = f"{circuit['name']} circuit: {circuit['state'].replace('_', '-')}"
    if circuit.get("since"):
        text += f" since {circuit['since']}"
    if circuit.get("failures"):
        text += f" ({circuit['failures']} failures in a row)"
    return text
