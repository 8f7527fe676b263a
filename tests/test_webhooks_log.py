"""The Webhook Activity Log: one row per request, refused ones inline, accepted ones batched."""

from __future__ import annotations

from assistant_crm.services.delivery import webhook_log
from assistant_crm.services.delivery.webhook_log import WebhookCall
from assistant_crm.services.infra.errors import AuthenticationError

LOG = "Webhook Activity Log"


def test_refused_requests_are_written_before_the_answer(rt):
    try:
        with webhook_log.track("whatsapp", "/api/method/x", "POST", "10.1.2.3"):
            raise AuthenticationError("X-Hub-Signature-256 does not match the body")
    except AuthenticationError:
        pass
    rows = rt.store.list(LOG)  # no flush: written inline
    assert len(rows) == 1
    assert rows[0]["status_code"] == 401 and rows[0]["signature_valid"] == 0
    assert rows[0]["remote_ip"] == "10.1.2.3" and "does not match" in rows[0]["error"]


def test_accepted_requests_are_batched_in_request_order_and_masked(rt, caplog):
    for i in range(300):
        call = WebhookCall(platform="make_com", path="/p", method="POST", remote_ip="127.0.0.1")
        call.signature_valid = True
        call.idempotency_keys = [f"whatsapp:wamid.{i:04d}"]
        webhook_log.record(call)
    assert webhook_log.flush()
    rows = rt.store.list(LOG, order_by="creation asc")
    assert [r["idempotency_key"] for r in rows] == [f"whatsapp:wamid.{i:04d}" for i in range(300)]
    assert all(r["status_code"] == 200 and r["signature_valid"] == 1 for r in rows)
    assert "batch write" not in caplog.text  # the multi-row path worked, no row-by-row fallback
    call = WebhookCall(platform="sms", path="/p", method="POST", remote_ip="127.0.0.1", status_code=400)
    call.error = "number +260971234567 and NRC 123456/78/1 in a message"
    webhook_log.record(call)
    row = rt.store.list(LOG, {"platform": "sms"})[0]
    assert "+260971234567" not in row["error"] and "123456/78" not in row["error"]


def test_many_keys_are_cut_to_the_column_with_a_count(rt):
    call = WebhookCall(platform="whatsapp", path="/p", method="POST", remote_ip="127.0.0.1", status_code=400)
    call.idempotency_keys = [f"whatsapp:wamid.HBgM{i:040d}" for i in range(10)]
    webhook_log.record(call)
    row = rt.store.list(LOG)[0]
    assert len(row["idempotency_key"]) <= 140 and row["idempotency_key"].endswith("(+10)")
