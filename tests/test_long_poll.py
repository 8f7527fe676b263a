"""The long-poll (``chat.get_messages`` with ``timeout``): waiting visitors cost no database query.

Queries are counted at the SQLAlchemy engine (``before_cursor_execute``)
while the visitors wait; nothing here asserts a duration.
"""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from assistant_crm.services.delivery.message_signals import EXTRAS_KEY, MessageSignals
from assistant_crm.services.pipeline import context
from tests.support import REDIS_URL, redis_available, unavailable
from tests.test_conversations import Visitor, session_name

VISITORS = 30


@contextmanager
def counting_queries(rt):
    """Count every statement any of the store's engines sends while inside."""
    counted: list[str] = []
    engines = [rt.store.engine] + ([rt.store._auto] if getattr(rt.store, "_auto", None) is not None else [])

    def count(conn, cursor, statement, *args):  # noqa: ANN001 - SQLAlchemy event signature
        counted.append(statement)

    for engine in engines:
        sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield counted
    finally:
        for engine in engines:
            sa.event.remove(engine, "before_cursor_execute", count)


def _until(predicate, seconds: float = 30.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def test_idle_long_polling_visitors_make_no_queries(server, rt):
    signals = rt.extras[EXTRAS_KEY]
    visitors = []
    for _ in range(VISITORS):
        v = Visitor(server)
        last = v.send("Hello")["metadata"]["message_id"]
        visitors.append((v, last))
    results: dict[int, dict] = {}

    def poll(i: int, v: Visitor, since: str) -> None:
        results[i] = v.messages(since=since, timeout=20)

    threads = [threading.Thread(target=poll, args=(i, v, last)) for i, (v, last) in enumerate(visitors)]
    for t in threads:
        t.start()
    try:
        # Every visitor has read once (nothing new) and is waiting.
        assert _until(lambda: signals.waiting() == VISITORS)
        with counting_queries(rt) as queries:
            time.sleep(1.5)  # three of the old 0.5 s polling rounds
        assert queries == []
        assert results == {}
        # An agent answers one of them: that visitor gets it, the others keep waiting.
        first, _ = visitors[0]
        session = context.get_session(session_name(rt, first))
        context.append_history(session, "out", "agent", "An agent here: how can I help?", agent="staff-agent")
        threads[0].join(20)
        assert [m["text"] for m in results[0]["messages"]] == ["An agent here: how can I help?"]
        assert signals.waiting() == VISITORS - 1
    finally:
        for v, _ in visitors[1:]:
            context.append_history(
                context.get_session(session_name(rt, v)), "out", "agent", "Still there?", agent="staff-agent"
            )
        for t in threads:
            t.join(20)
    assert all(results[i]["messages"][-1]["text"] == "Still there?" for i in range(1, VISITORS))


def test_a_message_in_a_transaction_wakes_the_visitor_after_the_commit(server, rt):
    v = Visitor(server)
    last = v.send("Hello")["metadata"]["message_id"]
    got: dict = {}
    poller = threading.Thread(target=lambda: got.update(v.messages(since=last, timeout=20)))
    poller.start()
    assert _until(lambda: rt.extras[EXTRAS_KEY].waiting() == 1)
    session = context.get_session(session_name(rt, v))
    with rt.store.transaction():
        context.append_history(session, "out", "agent", "first", agent="staff-agent")
        context.append_history(session, "out", "agent", "second", agent="staff-agent")
        # Woken now, it would read nothing (not committed) and sleep through both.
    poller.join(20)
    assert [m["text"] for m in got["messages"]] == ["first", "second"]


@pytest.mark.redis
def test_signals_cross_processes_through_redis():
    """Two processes sharing a database: an announcement in one wakes a waiter in the other."""
    reason = redis_available()
    if reason:
        unavailable(reason)
    channel = f"assistant_crm|test-{time.monotonic_ns()}|chat-messages"
    here, there = MessageSignals(REDIS_URL, channel), MessageSignals(REDIS_URL, channel)
    try:
        with here.listen("session-a") as woken, here.listen("session-b") as other:
            # The subscriber threads need to be subscribed before the announcement.
            assert _until(lambda: there._client.pubsub_numsub(channel)[0][1] >= 2)
            there.announce("session-a")
            assert woken.wait(10)
            assert not other.is_set()
    finally:
        here.close()
        there.close()


def test_redis_down_wakes_this_process_and_logs_once(caplog):
    """Redis unreachable: announcements still wake local waiters, with one warning, not one per message."""
    signals = MessageSignals("redis://127.0.0.1:1/0", "assistant_crm|test-down|chat-messages")
    try:
        with signals.listen("s") as woken:
            for _ in range(5):
                signals.announce("s")
            assert woken.is_set()
        warnings = [r for r in caplog.records if "could not publish chat wake-ups" in r.getMessage()]
        assert len(warnings) == 1
    finally:
        signals.close()


def _request(serves_one_at_a_time: bool):
    from werkzeug.datastructures import Headers, MultiDict

    from assistant_crm.api.endpoint import RequestInfo

    return RequestInfo(
        method="GET",
        path="/api/method/assistant_crm.api.chat.get_messages",
        headers=Headers(),
        body=b"",
        args=MultiDict(),
        form=MultiDict(),
        remote_addr="127.0.0.1",
        serves_one_at_a_time=serves_one_at_a_time,
    )


def test_no_long_poll_where_a_wait_would_hold_the_whole_server_process(rt):
    """Frappe in production runs gunicorn sync workers: one waiting visitor held a whole
    worker for 20 s (seen on the bench: a ping waited 19.5 s behind one long-poll)."""
    from assistant_crm.api import chat
    from assistant_crm.api.endpoint import reset_current_request, set_current_request
    from assistant_crm.services.models import InboundMessage
    from assistant_crm.services.pipeline import reply

    token = reply.handle_message(InboundMessage(channel="web", text="Hello")).session_id
    mark = set_current_request(_request(serves_one_at_a_time=False))
    try:
        latest = chat.get_messages(session_id=token)["last_id"]
        assert "poll_after" not in chat.get_messages(session_id=token, since=latest)
        set_current_request(_request(serves_one_at_a_time=True))
        # Nothing new, asked to wait 20 s: answered at once, with when to ask again.
        answer = chat.get_messages(session_id=token, since=latest, timeout=20)
    finally:
        reset_current_request(mark)
    assert answer["messages"] == [] and answer["poll_after"] == chat.SHORT_POLL_SECONDS
