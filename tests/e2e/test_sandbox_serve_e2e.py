"""`assistant-crm serve --with-sandbox`, as `make run` starts it, with nothing configured:
a message from the simulated phone on WhatsApp, Telegram and SMS is answered on the phone."""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator

import pytest
import requests

from tests.e2e.conftest import _command
from tests.support import free_port

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Iterator[str]:
    """The sandbox URL of a running `serve --with-sandbox` (no ASSISTANT_CRM_* in its environment)."""
    tmp = tmp_path_factory.mktemp("demo")
    port, sandbox_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_CRM_")}
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
        yield sandbox
    finally:
        proc.terminate()
        proc.wait(timeout=15)
        log.seek(0)
        out = log.read()
        log.close()
        # The generated secrets never reach the output.
        assert "sandbox-key" not in out


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
    page = requests.get(demo + "/", timeout=5)
    assert page.status_code == 200 and "Chanda Mulenga" in page.text and "305812/61/1" in page.text
