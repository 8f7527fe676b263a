"""The CoreBusiness sandbox and the client against each other over real HTTP."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from decimal import Decimal

import pytest
import requests

from assistant_crm.sandbox import data, main, make_server
from assistant_crm.services.integrations.corebusiness import (
    CLAIM_STATUSES,
    PAYMENT_KINDS,
    PAYMENT_STATUSES,
    CoreBusinessClient,
    CoreBusinessError,
    reset_breakers,
)
from tests.support import free_port


@pytest.fixture
def sandbox() -> Iterator[str]:
    srv = make_server("127.0.0.1", free_port(), "sb-test-key")
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv.base_url
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def client(sandbox) -> CoreBusinessClient:
    reset_breakers()
    return CoreBusinessClient(sandbox, "sb-test-key", timeout=3)


def test_demo_data_covers_the_contract():
    assert len(data.PERSONS) >= 8
    roles = {r for p in data.PERSONS.values() for r in p["roles"]}
    assert roles == {"claimant", "pensioner", "dependant", "employer_contact"}
    assert {c["status"] for c in data.CLAIMS.values()} == set(CLAIM_STATUSES)
    payments = [p for ps in data.PAYMENTS.values() for p in ps]
    assert {p["kind"] for p in payments} == set(PAYMENT_KINDS)
    assert {p["status"] for p in payments} == set(PAYMENT_STATUSES)
    assert {p["method"] for p in payments} == {"bank", "mobile_money", "cheque"}
    assert "overdue" in {e["status"] for e in data.EMPLOYERS.values()} and len(data.EMPLOYERS) >= 2
    docs = {d["status"] for c in data.CLAIMS.values() for d in c["documents"]}
    assert docs == {"pending", "received", "rejected"}
    for p in data.PERSONS.values():
        assert re.fullmatch(r"\d{6}/\d{2}/\d", p["nrc"])
        assert re.fullmatch(r"\+2609\d{8}|\+2607\d{8}", p["phone"])
    assert len({p["nrc"] for p in data.PERSONS.values()}) == len(data.PERSONS)


def test_every_demo_person_verifies_and_reads(client):
    for person_id, p in data.PERSONS.items():
        result = client.verify_identity(p["nrc"], "  " + p["full_name"].upper() + " ")
        assert result.verified and result.person_id == person_id and result.phone == p["phone"]
        claims = client.claims(person_id)
        for c in claims:
            detail = client.claim(c.claim_number)
            assert detail.claim_number == c.claim_number and detail.status == c.status
            client.documents(c.claim_number)
        client.payments(person_id)
        for emp in result.employer_numbers:
            assert client.contributions(emp).employer_number == emp


def test_wrong_name_for_real_nrc_is_not_verified(client):
    p = data.PERSONS["P-000101"]
    assert client.verify_identity(p["nrc"], "Someone Else").verified is False


def test_malformed_nrc_is_400(client):
    with pytest.raises(CoreBusinessError) as err:
        client.verify_identity("12345/78/1", "Mwila Banda")
    assert err.value.kind == "bad_request" and err.value.status == 400


def test_values_are_typed(client):
    payments = client.payments("P-000101", limit=1)
    assert len(payments) == 1 and payments[0].amount == Decimal("18450.00")
    assert payments[0].paid_date.isoformat() == "2025-12-10"
    detail = client.claim("CLM-2026-00412")
    assert [h.status for h in detail.history][-1] == "awaiting_documents"
    contrib = client.contributions("EMP-004417")
    assert contrib.status == "overdue" and contrib.balance == Decimal("36600.00")


def test_unknown_ids_are_not_found_and_path_is_quoted(client):
    with pytest.raises(CoreBusinessError) as err:
        client.claim("CLM-1999-00000")
    assert err.value.kind == "not_found"
    # "../" in an id must not reach another route (it is quoted into one segment).
    with pytest.raises(CoreBusinessError) as err:
        client.documents("../persons/P-000101/claims")
    assert err.value.kind == "not_found"


def test_wrong_key_is_401(sandbox):
    bad = CoreBusinessClient(sandbox, "wrong", timeout=3)
    with pytest.raises(CoreBusinessError) as err:
        bad.claims("P-000101")
    assert err.value.kind == "auth"
    r = requests.get(sandbox + "/v1/persons/P-000101/claims", timeout=3)
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_bad_inputs_get_contract_errors(sandbox):
    h = {"Authorization": "Bearer sb-test-key"}
    r = requests.post(sandbox + "/v1/identity/verify", data=b"{nope", headers=h, timeout=3)
    assert r.status_code == 400 and r.json()["error"]["code"] == "invalid_json"
    r = requests.post(sandbox + "/v1/identity/verify", json={"nrc": "214563/11/1"}, headers=h, timeout=3)
    assert r.status_code == 400
    r = requests.get(sandbox + "/v1/persons/P-000101/payments?limit=500", headers=h, timeout=3)
    assert r.status_code == 400 and "limit" in r.json()["error"]["message"]
    r = requests.get(sandbox + "/v1/nothing", headers=h, timeout=3)
    assert r.status_code == 404


def test_dependant_sees_the_fatal_claim(client):
    claims = client.claims("P-000103")
    assert [c.claim_number for c in claims] == ["CLM-2026-00077"]
    assert claims[0].claim_type == "fatal_accident"


def test_main_rejects_a_busy_port(capsys):
    srv = make_server("127.0.0.1", free_port(), "k")
    try:
        port = srv.server_address[1]
        assert main(["--port", str(port)]) == 2
        assert "cannot listen" in capsys.readouterr().out
    finally:
        srv.server_close()


def test_sms_inbox_speaks_africas_talking(sandbox):
    form = {"username": "sandbox", "to": "+260971234567", "message": "Your code is 123456"}
    r = requests.post(sandbox + "/version1/messaging", data=form, headers={"apiKey": "wrong"}, timeout=3)
    assert r.status_code == 401
    r = requests.post(
        sandbox + "/version1/messaging",
        data={"username": "sandbox"},
        headers={"apiKey": "sb-test-key"},
        timeout=3,
    )
    assert r.status_code == 400
    r = requests.post(
        sandbox + "/version1/messaging", data=form, headers={"apiKey": "sb-test-key"}, timeout=3
    )
    assert r.status_code == 201
    recipient = r.json()["SMSMessageData"]["Recipients"][0]
    assert recipient["statusCode"] == 101 and recipient["messageId"].startswith("ATXid_")
    page = requests.get(sandbox + "/sms", timeout=3)
    assert page.status_code == 200 and "Your code is 123456" in page.text
    r = requests.post(
        sandbox + "/version1/messaging",
        data={**form, "message": "<script>x</script>"},
        headers={"apiKey": "sb-test-key"},
        timeout=3,
    )
    assert "<script>" not in requests.get(sandbox + "/sms", timeout=3).text


def test_demo_conversation_against_the_sandbox(server, rt, sandbox):
    """What `assistant-crm serve --with-sandbox` gives a tester: CoreBusiness and the SMS inbox in one."""
    from assistant_crm.services.integrations.corebusiness import clear_clients
    from tests.support import set_settings

    reset_breakers()
    clear_clients()
    set_settings(
        rt,
        corebusiness_base_url=sandbox,
        corebusiness_api_key="sb-test-key",
        africastalking_base_url=sandbox,
        africastalking_username="sandbox",
        africastalking_api_key="sb-test-key",
    )
    chat = requests.Session()
    sid = None

    def send(text: str) -> str:
        nonlocal sid
        r = chat.post(
            server + "/api/method/assistant_crm.api.chat.send_message",
            json={"message": text, "session_id": sid},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        sid = r.json()["message"]["session_id"]
        return r.json()["message"]["reply"]

    p = data.PERSONS["P-000104"]  # Joseph Tembo, Copperbelt Haulage Ltd (overdue)
    assert "NRC" in send("how much does my company owe in assessments?")
    assert "6-digit code" in send(f"{p['full_name']}, NRC {p['nrc']}")
    rt.queue.join(timeout=10)
    inbox = requests.get(sandbox + "/sms", timeout=3).text
    code = re.search(r"code is (\d{6})", inbox).group(1)
    answer = send(code)
    assert "Copperbelt Haulage Ltd" in answer and "ZMW 36,600.00" in answer and "overdue" in answer
    clear_clients()
