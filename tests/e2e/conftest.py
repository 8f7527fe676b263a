"""Black-box end-to-end fixtures: the real ``assistant-crm serve`` in a subprocess,
configured only through ``ASSISTANT_CRM_*`` environment variables, talking to
independent fakes of CoreBusiness, Africa's Talking, the Graph API, Telegram
and Make.com (``tests/e2e/fakes.py``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e import fakes

ROOT = Path(__file__).resolve().parents[2]
BIN = ROOT / ".venv" / "bin" / "assistant-crm"


def _command() -> list[str]:
    """The installed ``assistant-crm`` script, as a user runs it."""
    if BIN.exists():
        return [str(BIN)]
    found = shutil.which("assistant-crm")
    if found:
        return [found]
    return [sys.executable, "-m", "assistant_crm.standalone.cli"]


SECRETS = {
    "corebusiness_api_key": "cb-e2e-Zq7pW3nLx9Kd",
    "africastalking_api_key": "at-e2e-Hs82kdPq0Lmn",
    "whatsapp_app_secret": "wa-secret-e2e-Pv5tY7uQ",
    "whatsapp_verify_token": "wa-verify-e2e-Rc4bN1mS",
    "whatsapp_access_token": "EAAe2eAccessTokenXy12Zt",
    "messenger_app_secret": "ms-secret-e2e-Gh6jK8lM",
    "messenger_verify_token": "ms-verify-e2e-Tt3wE5rD",
    "messenger_page_access_token": "EAAe2ePageTokenAb34Cd",
    "telegram_bot_token": "7000000001:AAE2eBotTokenQwErTy",
    "telegram_secret_token": "tg-secret-e2e-Uu9iO0pA",
    "make_com_api_key": "mk-e2e-ApiKeyFg7hJ2kL",
    "make_com_webhook_secret": "mk-hmac-e2e-Zx1cV3bN",
    "sms_callback_token": "sms-cb-e2e-Qa5sW7dE",
    "verification_secret": "vs-e2e-Io8uY6tR4eW2",
    "staff_api_keys": "staffkey-e2e-Mn0bV9cX:manager",
}
PHONE_NUMBER_ID = "109876543210987"
AT_USERNAME = "wcfcb-e2e"
SENDER_ID = "WCFCB"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    proc: subprocess.Popen
    log_path: Path
    cb: fakes.FakeCoreBusiness
    sms: fakes.FakeAfricasTalking
    graph: fakes.FakeGraph
    telegram: fakes.FakeTelegram
    make: fakes.FakeMakeCom

    def api(self, dotted: str) -> str:
        return f"{self.url}/api/method/{dotted}"

    def log_text(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def alive(self) -> bool:
        return self.proc.poll() is None


def _start(tmp: Path, extra_env: dict[str, str] | None = None) -> tuple[Server, Any]:
    cb = fakes.FakeCoreBusiness(SECRETS["corebusiness_api_key"])
    sms = fakes.FakeAfricasTalking(AT_USERNAME, SECRETS["africastalking_api_key"])
    graph = fakes.FakeGraph(SECRETS["whatsapp_access_token"], PHONE_NUMBER_ID)
    tg = fakes.FakeTelegram(SECRETS["telegram_bot_token"])
    mk = fakes.FakeMakeCom(SECRETS["make_com_api_key"])
    settings = dict(SECRETS)
    settings.update(
        corebusiness_base_url=cb.url,
        corebusiness_timeout_seconds="3",
        sms_provider="africastalking",
        africastalking_username=AT_USERNAME,
        africastalking_base_url=sms.url,
        sms_sender_id=SENDER_ID,
        graph_api_base_url=graph.url,
        whatsapp_phone_number_id=PHONE_NUMBER_ID,
        messenger_page_id="556677889900",
        telegram_api_base_url=tg.url,
        telegram_via_make_com="0",
        make_com_outbound_url=f"{mk.url}/relay",
        chat_rate_limit_per_minute="1000",
        otp_codes_per_15_minutes="1000",  # one server verifies the same people many times
        outbound_backoff_base_seconds="0.2",
        outbound_backoff_max_seconds="1",
        gemini_api_key="",
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_CRM_")}
    env.update({f"ASSISTANT_CRM_{k.upper()}": v for k, v in settings.items()})
    env.update(extra_env or {})
    env["PYTHONUNBUFFERED"] = "1"
    port = free_port()
    log_path = tmp / "server.log"
    logf = open(log_path, "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(BIN),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--db",
            f"sqlite:///{tmp}/e2e.sqlite3",
        ],
        stdout=logf,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=str(tmp),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        if proc.poll() is not None:
            logf.close()
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log_path.read_text()[-4000:]}")
        try:
            r = requests.get(f"{url}/api/method/ping", timeout=2)
            if r.status_code == 200 and r.json().get("message") == "pong":
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            proc.terminate()
            raise RuntimeError(f"server did not answer ping in 90 s:\n{log_path.read_text()[-4000:]}")
        time.sleep(0.2)
    return Server(url, proc, log_path, cb, sms, graph, tg, mk), logf


def _stop(server: Server, logf: Any) -> None:
    server.proc.terminate()
    try:
        server.proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait(timeout=10)
    logf.close()
    for f in (server.cb, server.sms, server.graph, server.telegram, server.make):
        f.stop()


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory):
    srv, logf = _start(tmp_path_factory.mktemp("e2e"))
    yield srv
    _stop(srv, logf)


@pytest.fixture(scope="session")
def relay_server(tmp_path_factory: pytest.TempPathFactory):
    """A second server whose Telegram replies go through the Make.com relay, with a low chat rate limit."""
    srv, logf = _start(
        tmp_path_factory.mktemp("e2e_relay"),
        {"ASSISTANT_CRM_TELEGRAM_VIA_MAKE_COM": "1", "ASSISTANT_CRM_CHAT_RATE_LIMIT_PER_MINUTE": "8"},
    )
    yield srv
    _stop(srv, logf)


@pytest.fixture(scope="module")
def cb_fail_server(tmp_path_factory: pytest.TempPathFactory):
    """A server of its own for CoreBusiness failures (its circuit breaker must not
    disturb the other tests)."""
    srv, logf = _start(tmp_path_factory.mktemp("e2e_cbfail"))
    yield srv
    _stop(srv, logf)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath).replace(os.sep, "/"):
            item.add_marker(pytest.mark.e2e)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "e2e: black-box test against the assistant-crm serve subprocess")


class Chat:
    """One web-chat conversation over HTTP."""

    def __init__(self, server: Server, session_id: str | None = None) -> None:
        self.server = server
        self.session_id = session_id
        self.replies: list[dict[str, Any]] = []
        # A browser's cookie jar: a verified web session is bound to the browser (issue 12.12).
        self.http = requests.Session()

    def raw(self, message: Any, session_id: Any = "__self__") -> requests.Response:
        sid = self.session_id if session_id == "__self__" else session_id
        return self.http.post(
            self.server.api("assistant_crm.api.chat.send_message"),
            json={"message": message, "session_id": sid},
            timeout=30,
        )

    def say(self, message: str) -> dict[str, Any]:
        r = self.raw(message)
        assert r.status_code == 200, f"{r.status_code} {r.text[:500]} for {message!r}"
        out = r.json()["message"]
        assert isinstance(out.get("reply"), str) and out["reply"].strip(), out
        self.session_id = out["session_id"]
        self.replies.append(out)
        return out


@pytest.fixture
def chat(server: Server) -> Chat:
    return Chat(server)
