"""The CoreBusiness client against a stub that misbehaves on request."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from assistant_crm.services.integrations.corebusiness import (
    CircuitBreaker,
    CoreBusinessClient,
    CoreBusinessError,
    as_json,
    get_client,
    parse_claim_detail,
    parse_payments,
    reset_breakers,
)
from tests.fakes.corebusiness_stub import CoreBusinessStub
from tests.support import free_port, set_settings


@pytest.fixture
def stub() -> Iterator[CoreBusinessStub]:
    reset_breakers()
    s = CoreBusinessStub(api_key="stub-key").start()
    yield s
    s.stop()


def make(stub: CoreBusinessStub, **kw) -> CoreBusinessClient:
    kw.setdefault("timeout", 2)
    kw.setdefault("backoff", 0.01)
    return CoreBusinessClient(stub.url, "stub-key", **kw)


def test_bearer_key_and_typed_answers(stub):
    c = make(stub)
    v = c.verify_identity("771204/51/1", "thandiwe   MUMBA")
    assert v.verified and v.person_id == "S-1001" and v.phone == "+260977100200"
    claims = c.claims("S-1001")
    assert {x.claim_number for x in claims} == {"CLM-2026-10001", "CLM-2025-10002"}
    assert all(x.status_date is not None for x in claims)


def test_500_is_not_retried(stub, caplog):
    stub.fail_next("500")
    with pytest.raises(CoreBusinessError) as err:
        make(stub).claims("S-1001")
    assert err.value.kind == "server_error" and err.value.transient
    assert len(stub.calls) == 1
    assert "kind=server_error" in caplog.text


def test_404_and_400_are_not_retried(stub):
    with pytest.raises(CoreBusinessError) as err:
        make(stub).claim("CLM-0000-00000")
    assert err.value.kind == "not_found" and len(stub.calls) == 1


def test_503_is_retried_then_succeeds(stub):
    stub.fail_next("503", times=2)
    waits: list[float] = []
    claims = make(stub, sleep=waits.append, backoff=0.1).claims("S-1001")
    assert len(claims) == 2 and len(stub.calls) == 3
    assert waits == [0.1, 0.2]  # exponential backoff


def test_503_gives_up_after_bounded_attempts(stub):
    stub.mode = "503"
    with pytest.raises(CoreBusinessError) as err:
        make(stub, max_attempts=3).claims("S-1001")
    assert err.value.kind == "unavailable" and len(stub.calls) == 3


def test_429_honours_retry_after(stub):
    stub.retry_after = "1.5"
    stub.fail_next("429")
    waits: list[float] = []
    claims = make(stub, sleep=waits.append).claims("S-1001")
    assert len(claims) == 2 and len(stub.calls) == 2
    assert waits == [1.5]  # waited what the server asked, not our own backoff


def test_429_with_long_retry_after_fails_at_once(stub):
    stub.retry_after = "120"
    stub.mode = "429"
    with pytest.raises(CoreBusinessError) as err:
        make(stub).claims("S-1001")
    assert err.value.kind == "rate_limited" and err.value.retry_after == 120
    assert len(stub.calls) == 1


def test_malformed_json_is_an_error_not_a_crash(stub):
    stub.mode = "malformed"
    with pytest.raises(CoreBusinessError) as err:
        make(stub).claims("S-1001")
    assert err.value.kind == "malformed" and len(stub.calls) == 1


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.claims("S-1001"),
        lambda c: c.payments("S-1001"),
        lambda c: c.verify_identity("771204/51/1", "Thandiwe Mumba"),
        lambda c: c.claim("CLM-2026-10001"),
        lambda c: c.contributions("EMP-900001"),
        lambda c: c.documents("CLM-2026-10001"),
    ],
)
def test_missing_required_field_is_malformed(stub, call):
    stub.mode = "missing_field"
    with pytest.raises(CoreBusinessError) as err:
        call(make(stub))
    assert err.value.kind == "malformed"


def test_hang_past_timeout_is_bounded(stub):
    stub.mode = "hang"
    stub.hang_seconds = 2
    with pytest.raises(CoreBusinessError) as err:
        make(stub, timeout=0.3).claims("S-1001")
    assert err.value.kind == "timeout"
    assert len(stub.calls) == 1  # a read timeout is not retried


def test_connection_refused_is_retried_and_reported():
    reset_breakers()
    c = CoreBusinessClient(f"http://127.0.0.1:{free_port()}", "k", timeout=1, backoff=0.01, max_attempts=2)
    with pytest.raises(CoreBusinessError) as err:
        c.claims("S-1001")
    assert err.value.kind == "connection"


def test_circuit_breaker_opens_fails_fast_and_closes(stub):
    clock = [0.0]
    breaker = CircuitBreaker(threshold=3, cooldown=30, clock=lambda: clock[0])
    c = make(stub, breaker=breaker)
    stub.mode = "500"
    for _ in range(3):
        with pytest.raises(CoreBusinessError):
            c.claims("S-1001")
    assert breaker.state == "open" and len(stub.calls) == 3
    with pytest.raises(CoreBusinessError) as err:
        c.claims("S-1001")
    assert err.value.kind == "circuit_open" and len(stub.calls) == 3  # nothing sent
    stub.mode = "ok"
    clock[0] = 31  # cool-down over: one trial call goes out
    assert len(c.claims("S-1001")) == 2
    assert breaker.state == "closed" and len(stub.calls) == 4


def test_half_open_failure_reopens(stub):
    clock = [0.0]
    breaker = CircuitBreaker(threshold=1, cooldown=10, clock=lambda: clock[0])
    c = make(stub, breaker=breaker)
    stub.mode = "500"
    with pytest.raises(CoreBusinessError):
        c.claims("S-1001")
    clock[0] = 11
    with pytest.raises(CoreBusinessError) as err:
        c.claims("S-1001")
    assert err.value.kind == "server_error" and breaker.state == "open"
    with pytest.raises(CoreBusinessError) as err:
        c.claims("S-1001")
    assert err.value.kind == "circuit_open"


def test_a_404_does_not_trip_the_breaker(stub):
    breaker = CircuitBreaker(threshold=2, cooldown=30)
    c = make(stub, breaker=breaker)
    for _ in range(4):
        with pytest.raises(CoreBusinessError):
            c.claim("CLM-0000-00000")
    assert breaker.state == "closed"


def test_as_json_round_trips():
    payload = {
        "payments": [
            {
                "payment_id": "X",
                "kind": "lump_sum",
                "amount": "10.5",
                "currency": "ZMW",
                "status": "paid",
                "scheduled_date": "2026-01-02",
            }
        ]
    }
    payments = parse_payments(payload)
    again = parse_payments({"payments": as_json(payments)})
    assert again == payments and as_json(payments)[0]["amount"] == "10.50"
    detail = parse_claim_detail(
        {
            "claim_number": "C",
            "claim_type": "fatal_accident",
            "status": "paid",
            "history": [{"status": "paid", "date": "2026-01-01"}],
        }
    )
    assert parse_claim_detail(as_json(detail)) == detail


def test_get_client_reads_settings(rt, stub):
    with pytest.raises(CoreBusinessError) as err:
        get_client()
    assert err.value.kind == "not_configured"
    set_settings(
        rt, corebusiness_base_url=stub.url, corebusiness_api_key="stub-key", corebusiness_timeout_seconds=2
    )
    c = get_client()
    assert c is get_client() and c.timeout == 2
    assert c.verify_identity("880315/21/1", "Kabwe Mwansa").person_id == "S-1002"
    assert "stub-key" not in repr(c)
