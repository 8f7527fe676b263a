"""`assistant-crm serve --with-sandbox`, as `make run` starts it, with nothing configured:
a message from the simulated phone on WhatsApp, Telegram and SMS is answered on the phone."""

from __future__ import annotations

import os
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from tests.e2e.conftest import _command
from tests.support import free_port

pytestmark = pytest.mark.e2e


@dataclass
class Demo:
    sandbox: str
    app: str
    tmp: Path
    env: dict
    printed: str


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[Demo]:
    """The sandbox URL of a running `serve --with-sandbox` (no ASSISTANT_CRM_* in its environment)."""
    tmp = tmp_path_factory.mktemp("demo")
    port, sandbox_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_CRM_")}
    env["XDG_STATE_HOME"] = str(tmp / "state")  # where serve tells doctor about the sandbox
    log = (tmp / "serve.log").open("w+")
    proc = subprocess.Popen(
        _command()
        + ["serve", "--with-sandbox", "--port", str(port), "--sandbox-port", str(sandbox_port)]
        + ["--db", f"sqlite:///{tmp / 'demo.sqlite3'}"],
        cwd=tmp,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    app, sandbox = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{sandbox_port}"
    try:
        for _ in range(600):
            if proc.poll() is not None:
                break
            try:
                requests.get(app + "/api/method/ping", timeout=1)
                break
            except requests.ConnectionError:
                time.sleep(0.2)
        log.seek(0)
        printed = log.read()
        assert proc.poll() is None, printed
        assert f"{sandbox}/phone" in printed and f"{sandbox}/sms" in printed and "Ctrl+C" in printed
        yield Demo(sandbox, app, tmp, env, printed)
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.seek(0)
        out = log.read()
        log.close()
        # The generated secrets never reach the output.
        assert "sandbox-key" not in out
    # Stopped, it leaves no record of its secrets behind.
    assert not (tmp / "state" / "assistant-crm" / "sandbox-run.json").exists()


def _reply(sandbox: str, channel: str, peer: str, count: int, timeout: float = 30) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        msgs = requests.get(
            f"{sandbox}/phone/api/messages", params={"channel": channel, "peer": peer}, timeout=5
        ).json()
        replies = [m for m in msgs if m["direction"] == "out"]
        if len(replies) >= count:
            return replies[count - 1]
        time.sleep(0.2)
    raise AssertionError(f"no reply #{count} on {channel} within {timeout} s")


@pytest.mark.parametrize("channel", ["whatsapp", "telegram", "sms"])
def test_the_simulated_phone_is_answered(demo, channel):
    demo = demo.sandbox
    phone = "+260966112233"  # Chanda Mulenga, a demo pensioner
    r = requests.post(
        f"{demo}/phone/api/send", json={"channel": channel, "from": phone, "text": "hello"}, timeout=15
    )
    assert r.status_code == 200 and r.json()["status"] == "sent", r.text
    reply = _reply(demo, channel, "260966112233", 1)
    assert "Mwana" in reply["text"] and reply["status"] in ("delivered", "read")
    r = requests.post(
        f"{demo}/phone/api/send",
        json={"channel": channel, "from": phone, "text": "when is my pension paid"},
        timeout=15,
    )
    assert "NRC" in _reply(demo, channel, "260966112233", 2)["text"]


def test_the_front_page_lists_the_demo_people(demo):
    demo = demo.sandbox
    page = requests.get(demo + "/", timeout=5)
    assert page.status_code == 200 and "Chanda Mulenga" in page.text and "305812/61/1" in page.text


_STAFF_LINE = re.compile(r"log in as (agent|manager):\s+(\S+@\S+)\s+password (\S+)")


def test_the_demo_staff_log_in_with_the_printed_passwords(demo):
    accounts = _STAFF_LINE.findall(demo.printed)
    assert sorted(role for role, _, _ in accounts) == ["agent", "manager"], demo.printed
    page = requests.get(demo.sandbox + "/", timeout=5).text
    assert "<h3>Staff console</h3>" in page
    for _role, email, password in accounts:
        assert email in page and password in page
        r = requests.post(demo.app + "/api/method/login", json={"usr": email, "pwd": password}, timeout=30)
        assert r.status_code == 200, r.text
        assert r.cookies.get("sid")
        wrong = requests.post(
            demo.app + "/api/method/login", json={"usr": email, "pwd": password + "x"}, timeout=30
        )
        assert wrong.status_code == 401, wrong.text


def test_without_the_sandbox_there_are_no_demo_staff(server):
    r = requests.post(
        server.url + "/api/method/login",
        json={"usr": "manager@demo.wcfcb.local", "pwd": "anything-at-all"},
        timeout=30,
    )
    assert r.status_code == 401, r.text


def test_doctor_knows_the_running_sandbox(demo):
    r = subprocess.run(
        [*_command(), "doctor", "--db", f"sqlite:///{demo.tmp / 'demo.sqlite3'}"],
        cwd=demo.tmp,
        env=demo.env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    out = r.stdout
    assert f"sandbox: running at {demo.sandbox}" in out, out + r.stderr
    for label in (
        "CoreBusiness",
        "WhatsApp (Graph API)",
        "Messenger (Graph API)",
        "Telegram",
        "Make.com relay",
    ):
        assert f"{label}: ok (authenticated at 127.0.0.1:" in out, out
    assert "Africa's Talking (SMS): ok" in out and "Gemini: not configured (set gemini_api_key" in out
    assert r.returncode == 0, out
    # A wrong key in the environment wins over the sandbox's, and is reported as rejected.
    env = {
        **demo.env,
        "ASSISTANT_CRM_COREBUSINESS_BASE_URL": demo.sandbox,
        "ASSISTANT_CRM_COREBUSINESS_API_KEY": "x",
    }
    r = subprocess.run(
        [*_command(), "doctor", "--db", f"sqlite:///{demo.tmp / 'demo.sqlite3'}"],
        cwd=demo.tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "CoreBusiness: rejected (HTTP 401" in r.stdout and r.returncode == 1, r.stdout
