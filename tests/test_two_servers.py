"""Two ``assistant-crm serve`` processes on one MariaDB database (and one Redis):
every message answered once, none lost, none doubled, one sender's messages in order.

The platform delivers each webhook to both servers at once (a redelivery that
lands on the other host), so both race to store and to answer the same
events; the claims (compare-and-set in the database) decide.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest
import requests

from tests.fakes import webhook_payloads as wp
from tests.fakes.platform_servers import FakeGraphAPI
from tests.support import REDIS_URL, free_port, redis_available, throwaway_mariadb, unavailable

pytestmark = [pytest.mark.mariadb, pytest.mark.redis]

CLI = [sys.executable, "-m", "assistant_crm.standalone.cli"]
WA = "/api/method/assistant_crm.api.webhooks.whatsapp"
SECRET = "two-servers-app-secret"
SENDERS = 24
ONE_SENDER_MESSAGES = 6
ONE_SENDER = "260971110000"
MSG = "Omnichannel Message"


def _serve(url: str, port: int, graph_url: str, tmp_path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_CRM_")}
    env.update(
        ASSISTANT_CRM_REDIS_URL=REDIS_URL,
        ASSISTANT_CRM_WHATSAPP_APP_SECRET=SECRET,
        ASSISTANT_CRM_WHATSAPP_ACCESS_TOKEN="wa-token",
        ASSISTANT_CRM_WHATSAPP_PHONE_NUMBER_ID="1065550001",
        ASSISTANT_CRM_GRAPH_API_BASE_URL=graph_url,
        ASSISTANT_CRM_WEBHOOK_RATE_LIMIT_PER_MINUTE="0",
        ASSISTANT_CRM_FILES_DIR=str(tmp_path / "files"),
    )
    return subprocess.Popen(
        CLI + ["serve", "--db", url, "--port", str(port), "--threads", "4"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _ready(port: int, proc: subprocess.Popen) -> bool:
    for _ in range(600):
        if proc.poll() is not None:
            return False
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/method/ping", timeout=1).status_code == 200:
                return True
        except requests.ConnectionError:
            time.sleep(0.2)
    return False


def test_two_serve_processes_on_one_database_answer_each_message_once(tmp_path):
    reason = redis_available()
    if reason:
        unavailable(reason)
    from assistant_crm.runtime.standalone import create_runtime, shutdown
    from assistant_crm.services.infra.ports import set_runtime

    with (
        throwaway_mariadb() as url,
        FakeGraphAPI(whatsapp_token="wa-token", phone_number_id="1065550001") as graph,
    ):
        # Schema and starter data once, before either server starts.
        rt = create_runtime(url, overrides={"redis_url": REDIS_URL}, environ={}, workers=1)
        shutdown(rt)
        set_runtime(None)
        ports = [free_port(), free_port()]
        procs = [_serve(url, p, graph.url, tmp_path) for p in ports]
        try:
            assert all(_ready(p, proc) for p, proc in zip(ports, procs, strict=True))
            bodies = []
            for i in range(SENDERS):
                text = wp.wa_text(f"Hello, question {i}", wa_id=f"2609722{i:05d}", mid=f"wamid.TWO{i:06d}")
                bodies.append(wp.body_bytes(wp.wa_webhook(wp.wa_value([text]))))
            for i in range(ONE_SENDER_MESSAGES):
                text = wp.wa_text(
                    f"message {i}", wa_id=ONE_SENDER, mid=f"wamid.ONE{i:06d}", ts=1_700_000_000 + i
                )
                bodies.append(wp.body_bytes(wp.wa_webhook(wp.wa_value([text]))))

            def deliver(body: bytes, port: int, out: list) -> None:
                r = requests.post(
                    f"http://127.0.0.1:{port}{WA}",
                    data=body,
                    headers=wp.meta_headers(SECRET, body),
                    timeout=30,
                )
                out.append(r.status_code)

            statuses: list[int] = []
            for body in bodies:
                both = [threading.Thread(target=deliver, args=(body, p, statuses)) for p in ports]
                for t in both:
                    t.start()
                for t in both:
                    t.join(30)
            assert statuses == [200] * (2 * len(bodies))

            expected = SENDERS + ONE_SENDER_MESSAGES
            rt = create_runtime(url, overrides={"redis_url": REDIS_URL}, environ={}, workers=1, seed=False)
            try:
                deadline = time.monotonic() + 120
                while time.monotonic() < deadline:
                    if rt.store.count(MSG, {"direction": "inbound", "status": "processed"}) == expected and (
                        not rt.store.count(
                            MSG, {"direction": "outbound", "status": ("in", ["queued", "sending"])}
                        )
                    ):
                        break
                    time.sleep(0.5)
                inbound = rt.store.list(
                    MSG, {"direction": "inbound"}, fields=["status", "session"], limit=1000
                )
                assert len(inbound) == expected  # stored once each although delivered twice
                assert {r["status"] for r in inbound} == {"processed"}
                # One turn per message: one person's line in the history each.
                assert rt.store.count("Chat History", {"direction": "in"}) == expected
                sent = rt.store.count(MSG, {"direction": "outbound", "status": "sent"})
                assert sent == rt.store.count(MSG, {"direction": "outbound"})
                assert len(graph.accepted) == sent  # nothing sent twice
                recipients = {str(m["recipient"]) for m in graph.accepted}
                assert recipients == {f"2609722{i:05d}" for i in range(SENDERS)} | {ONE_SENDER}
                session = rt.store.get_by(MSG, {"direction": "inbound", "recipient_id": ONE_SENDER})[
                    "session"
                ]
                said = [
                    h["text"]
                    for h in rt.store.list(
                        "Chat History", {"session": session, "direction": "in"}, order_by="creation asc"
                    )
                ]
                assert said == [f"message {i}" for i in range(ONE_SENDER_MESSAGES)]
            finally:
                rt.cache.clear()
                shutdown(rt)
                set_runtime(None)
        finally:
            for proc in procs:
                proc.terminate()
            for proc in procs:
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(5)
