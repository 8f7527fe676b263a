"""Issue 12.11 (at rest): no typed NRC or one-time code in plain text in the
database: chat history masked, the NRC waiting for its name encrypted, the
code SMS record emptied of its code once sent."""

from __future__ import annotations

import json
import re

from werkzeug.test import Client

from assistant_crm.services.infra import crypto
from assistant_crm.standalone.wsgi import create_app
from tests.fakes.corebusiness_stub import PEOPLE
from tests.support import running_corebusiness_and_sms

A = PEOPLE["S-1001"]
SEND = "/api/method/assistant_crm.api.chat.send_message"


def _dump(rt) -> str:
    rows = {
        d: rt.store.list(d, limit=10_000) for d in ("Chat History", "Chat Session", "Omnichannel Message")
    }
    return json.dumps(rows, default=str, ensure_ascii=False)


def test_nrcs_and_codes_are_not_kept_in_plain_text(rt):
    client = Client(create_app(rt))
    nrc_digits = A["nrc"].replace("/", "")

    def say(text, sid=None):
        r = client.post(SEND, json={"message": text, "session_id": sid})
        assert r.status_code == 200, r.get_data(as_text=True)
        return r.get_json()["message"]

    with running_corebusiness_and_sms(rt) as (_cb, sms):
        sid = say("what is my claim status")["session_id"]
        say(f"my nrc is {A['nrc']}", sid)  # the NRC alone: kept until the name comes
        dump = _dump(rt)
        assert A["nrc"] not in dump and nrc_digits not in dump
        assert crypto.PREFIX in dump  # the slot is there, sealed
        say(A["full_name"], sid)
        code = sms.last_code(A["phone"])
        rt.queue.join(timeout=10)
        answer = say(f"{code[:3]} {code[3:]}", sid)
        assert "CLM-" in answer["reply"]
        rt.queue.join(timeout=10)
        dump = _dump(rt)
        assert A["nrc"] not in dump and nrc_digits not in dump
        assert code not in dump and f"{code[:3]} {code[3:]}" not in dump
        assert re.search(r"\*{6}/\*\*/1", dump)  # the history keeps the masked NRC


def test_sealed_values_open_and_plain_ones_pass(rt):
    sealed = crypto.seal("771204/51/1")
    assert sealed.startswith(crypto.PREFIX) and "771204" not in sealed
    assert crypto.open_sealed(sealed) == "771204/51/1"
    assert crypto.open_sealed("plain") == "plain" and crypto.seal("") == ""
