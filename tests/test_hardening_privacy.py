"""Issue 12.11 (export and erase): one person's data out, or replaced, with
the audit chain still valid."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from werkzeug.test import Client

from assistant_crm.services.infra import audit, privacy
from assistant_crm.services.models import InboundMessage
from assistant_crm.services.pipeline import reply
from assistant_crm.standalone.wsgi import create_app
from tests.fakes.corebusiness_stub import PEOPLE
from tests.support import running_corebusiness_and_sms, set_settings

A = PEOPLE["S-1001"]
KEYS = "agent-key-1:agent,manager-key-1:manager"
API = "/api/method/assistant_crm.api.privacy."
CLI = [sys.executable, "-m", "assistant_crm.standalone.cli"]


@pytest.fixture
def verified(rt):
    """A WhatsApp conversation verified as S-1001 (sender phone on record)."""
    with running_corebusiness_and_sms(rt):
        sender = A["phone"].lstrip("+")
        for text in ("what is my claim status", f"{A['full_name']} {A['nrc']}"):
            reply.handle_message(
                InboundMessage(channel="whatsapp", text=text, sender_id=sender, sender_phone=A["phone"])
            )
        rt.queue.join(timeout=10)
    sessions = rt.store.list("Chat Session", filters={"verified_person_id": "S-1001"})
    assert len(sessions) == 1
    return sessions[0]


def _auth(key: str) -> dict[str, str]:
    return {"Authorization": f"token {key}"}


def test_export_and_erase_through_the_api(rt, verified):
    set_settings(rt, staff_api_keys=KEYS)
    client = Client(create_app(rt))
    assert client.post(API + "export_person", json={"person": "S-1001"}).status_code in (401, 403)
    assert (
        client.post(
            API + "erase_person", json={"person": "S-1001", "confirm": "S-1001"}, headers=_auth("agent-key-1")
        ).status_code
        == 403
    )

    r = client.post(API + "export_person", json={"person": "S-1001"}, headers=_auth("manager-key-1"))
    assert r.status_code == 200, r.get_data(as_text=True)
    data = r.get_json()["message"]
    assert data["person_id"] == "S-1001" and [s["name"] for s in data["sessions"]] == [verified["name"]]
    assert len(data["messages"]) >= 4 and any("claim status" in m["text"] for m in data["messages"])

    bad = client.post(
        API + "erase_person", json={"person": "S-1001", "confirm": "S-1002"}, headers=_auth("manager-key-1")
    )
    assert bad.status_code == 400
    r = client.post(
        API + "erase_person", json={"person": "S-1001", "confirm": "S-1001"}, headers=_auth("manager-key-1")
    )
    assert r.status_code == 200, r.get_data(as_text=True)

    history = rt.store.list("Chat History", filters={"session": verified["name"]})
    assert history and {h["text"] for h in history} == {privacy.ERASED}
    session = rt.store.get("Chat Session", verified["name"])
    assert session["verified_person_id"] == "" and session["display_name"] == "" and session["phone"] == ""
    dump = json.dumps(rt.store.list("Omnichannel Message"), default=str)
    assert A["phone"].lstrip("+") not in dump and "claim status" not in dump
    assert audit.verify().ok
    erased = rt.store.list(audit.AUDIT_DOCTYPE, filters={"action": "privacy.erased"})
    assert len(erased) == 1 and "S-1001" not in json.dumps(erased, default=str)
    assert (
        client.post(
            API + "export_person", json={"person": "S-1001"}, headers=_auth("manager-key-1")
        ).status_code
        == 404
    )


def test_privacy_commands(rt, verified):
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_CRM_")}
    db = rt.extras["database_url"]
    out = subprocess.run(
        CLI + ["privacy", "export", "--person", "S-1001", "--db", db],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["sessions"][0]["name"] == verified["name"]
    out = subprocess.run(
        CLI + ["privacy", "erase", "--person", "S-1001", "--yes", "--db", db],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert out.returncode == 0 and "erased S-1001" in out.stdout, out.stdout + out.stderr
    assert {h["text"] for h in rt.store.list("Chat History", filters={"session": verified["name"]})} == {
        privacy.ERASED
    }
    check = subprocess.run(
        CLI + ["audit", "verify", "--db", db], capture_output=True, text=True, timeout=120, env=env
    )
    assert check.returncode == 0, check.stdout


def test_cli_erase_without_a_terminal_refuses_cleanly(rt, verified):
    # Run from a script with no input (cron, CI): no confirmation can be typed,
    # so nothing is erased and the command says why instead of a traceback.
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASSISTANT_CRM_")}
    out = subprocess.run(
        CLI + ["privacy", "erase", "--person", "S-1001", "--db", rt.extras["database_url"]],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr
    assert "--yes" in out.stdout + out.stderr
    assert privacy.ERASED not in {
        h["text"] for h in rt.store.list("Chat History", filters={"session": verified["name"]})
    }
