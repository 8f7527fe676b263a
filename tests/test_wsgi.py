"""The standalone WSGI app: Frappe's envelope, error shapes, arguments, auth, static files."""

from __future__ import annotations

import json

import pytest
import requests

from assistant_crm.api.endpoint import ROLE_MANAGER, RawResponse, current_request, endpoint
from assistant_crm.services.infra.errors import RateLimited
from tests.support import set_settings


@endpoint(allow_guest=True, methods=("GET", "POST"))
def echo(text: str, times: int = 1) -> dict:
    return {"text": str(text) * int(times), "ip": current_request().remote_addr}


@endpoint(allow_guest=True, methods=("POST",))
def limited() -> None:
    raise RateLimited(retry_after=42)


@endpoint(allow_guest=True, methods=("GET",), raw_args=True)
def plain() -> RawResponse:
    return RawResponse(current_request().args.get("hub.challenge", ""), content_type="text/plain")


@endpoint(roles=(ROLE_MANAGER,), methods=("GET",))
def managers_only() -> str:
    return current_request().user


def api(server: str, name: str) -> str:
    return f"{server}/api/method/tests.test_wsgi.{name}"


def server_messages(body: dict) -> list[str]:
    return [json.loads(m)["message"] for m in json.loads(body["_server_messages"])]


def test_ping(server):
    r = requests.get(f"{server}/api/method/ping", timeout=5)
    assert r.status_code == 200 and r.json() == {"message": "pong"}


def test_envelope_for_json_form_and_query(server):
    assert (
        requests.post(api(server, "echo"), json={"text": "ab", "times": 2}, timeout=5).json()["message"][
            "text"
        ]
        == "abab"
    )
    assert requests.post(api(server, "echo"), data={"text": "x"}, timeout=5).json()["message"]["text"] == "x"
    r = requests.get(api(server, "echo"), params={"text": "q"}, timeout=5)
    assert r.json()["message"] == {"text": "q", "ip": "127.0.0.1"}


def test_unknown_endpoint_is_404_in_frappes_shape(server):
    r = requests.post(f"{server}/api/method/assistant_crm.api.nope.nothing", json={}, timeout=5)
    assert r.status_code == 404
    body = r.json()
    assert body["exc_type"] == "DoesNotExistError"
    assert "assistant_crm.api.nope.nothing" in server_messages(body)[0]


def test_body_that_is_not_json_is_400(server):
    r = requests.post(
        api(server, "echo"), data="{not json", headers={"Content-Type": "application/json"}, timeout=5
    )
    assert r.status_code == 400
    assert r.json()["exc_type"] == "ValidationError"
    assert "not valid JSON" in server_messages(r.json())[0]
    r = requests.post(
        api(server, "echo"), data="[1,2]", headers={"Content-Type": "application/json"}, timeout=5
    )
    assert r.status_code == 400 and "JSON object" in server_messages(r.json())[0]
    r = requests.post(
        api(server, "echo"), data=b"\x00\x01", headers={"Content-Type": "application/octet-stream"}, timeout=5
    )
    assert r.status_code == 400


def test_missing_or_unknown_parameter_is_400_naming_it(server):
    r = requests.post(api(server, "echo"), json={}, timeout=5)
    assert r.status_code == 400 and server_messages(r.json()) == ["missing parameter: text"]
    r = requests.post(api(server, "echo"), json={"text": "a", "colour": "red"}, timeout=5)
    assert r.status_code == 400 and server_messages(r.json()) == ["unknown parameter: colour"]


def test_method_not_allowed(server):
    r = requests.get(api(server, "limited"), timeout=5)
    assert r.status_code == 405


def test_rate_limited_has_retry_after(server):
    r = requests.post(api(server, "limited"), json={}, timeout=5)
    assert r.status_code == 429 and r.headers["Retry-After"] == "42"


def test_body_over_the_limit_is_413(server):
    r = requests.post(api(server, "echo"), json={"text": "x" * (1024 * 1024 + 10)}, timeout=10)
    assert r.status_code == 413
    assert r.json()["exc_type"] == "RequestEntityTooLargeError"


def test_raw_response(server):
    r = requests.get(api(server, "plain"), params={"hub.challenge": "12345"}, timeout=5)
    assert r.status_code == 200 and r.text == "12345" and r.headers["Content-Type"].startswith("text/plain")


def test_staff_endpoints_need_a_key_and_role(rt, server):
    set_settings(rt, staff_api_keys="agent-key:agent,boss-key:manager")
    assert requests.get(api(server, "managers_only"), timeout=5).status_code == 401
    r = requests.get(api(server, "managers_only"), headers={"Authorization": "token wrong"}, timeout=5)
    assert r.status_code == 401
    r = requests.get(api(server, "managers_only"), headers={"Authorization": "token agent-key"}, timeout=5)
    assert r.status_code == 403
    r = requests.get(api(server, "managers_only"), headers={"Authorization": "token boss-key"}, timeout=5)
    assert r.status_code == 200 and r.json() == {"message": "staff-manager"}


@pytest.mark.parametrize(
    "path",
    ["/assets/assistant_crm/../../setup.py", "/assets/assistant_crm/%2e%2e/hooks.py", "/files/../setup.py"],
)
def test_static_paths_cannot_escape(server, path):
    r = requests.get(server + path, timeout=5)
    assert r.status_code == 404


def test_unknown_page_is_404(server):
    assert requests.get(f"{server}/no-such-page", timeout=5).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        '{"text": ' + "[" * 20000 + "]" * 20000 + "}",
        '{"text": "hi", "times": ' + "9" * 5000 + "}",
        b'{"text": "\xff\xfe"}',
    ],
    ids=["deeply-nested", "huge-integer", "not-utf8"],
)
def test_pathological_json_is_400_not_500(server, body):
    r = requests.post(
        api(server, "echo"), data=body, headers={"Content-Type": "application/json"}, timeout=10
    )
    assert r.status_code == 400
    assert r.json()["exc_type"] == "ValidationError"
