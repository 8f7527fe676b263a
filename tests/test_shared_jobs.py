"""Turns shared between the processes serving one database (``SharedJobs``):
a job queued by one runs in whichever process has a free taker, once; with
Redis unreachable it runs where it was queued."""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from assistant_crm.standalone.queue import ThreadQueue
from tests.support import REDIS_URL, redis_available, unavailable

METHOD = "tests.test_shared_jobs.record"
ran: list[tuple[str, str]] = []
_lock = threading.Lock()


def record(n: str) -> None:
    with _lock:
        ran.append((n, threading.current_thread().name))


@pytest.fixture
def key():
    reason = redis_available()
    if reason:
        unavailable(reason)
    ran.clear()
    return f"acrm_test|{uuid.uuid4().hex}|jobs"


def _until(predicate, seconds: float = 20.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not predicate():
        time.sleep(0.02)
    return predicate()


def test_a_job_queued_in_one_process_runs_in_another_once(key):
    methods = frozenset({METHOD})
    # The queuing side has no takers: whatever runs was taken by the other one.
    queuing = ThreadQueue(
        workers=1, lanes={}, shared=(REDIS_URL, key), shared_takers=0, shared_methods=methods
    )
    taking = ThreadQueue(
        workers=1, lanes={}, shared=(REDIS_URL, key), shared_takers=2, shared_methods=methods
    )
    try:
        for i in range(30):
            queuing.enqueue(METHOD, n=str(i))
        assert _until(lambda: len(ran) >= 30)
        time.sleep(0.3)  # nothing runs twice
        assert sorted(int(n) for n, _ in ran) == list(range(30))
        assert {name.rsplit("-", 1)[0] for _, name in ran} == {"assistant-crm-shared"}
    finally:
        queuing.stop()
        taking.stop()


def test_with_redis_unreachable_the_job_runs_where_it_was_queued():
    ran.clear()
    q = ThreadQueue(
        workers=1,
        lanes={},
        shared=("redis://127.0.0.1:1/0", "acrm_test|nowhere|jobs"),
        shared_takers=0,
        shared_methods=frozenset({METHOD}),
    )
    try:
        q.enqueue(METHOD, n="here")
        assert q.join(timeout=20)
        assert ran == [("here", "assistant-crm-worker-0")]
    finally:
        q.stop()
