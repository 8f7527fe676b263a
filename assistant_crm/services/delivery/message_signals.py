"""Wake long-polling visitors when their session gets a new message, without polling the database.

``chat.get_messages`` with a ``timeout`` registers the visitor's session with
:meth:`MessageSignals.listen` *before* it reads the messages, then blocks on
an event. :func:`announce` (called once a Chat History row is committed) sets
the events of that session's waiters in this process and, when Redis is
configured, in every other process sharing the database, through one Redis
pub/sub channel that each process listens to on one thread. An idle visitor
therefore costs a blocked thread and no database query; a message committed
between the registration and the read is seen by the read, and one committed
after it wakes the waiter, so none is missed.

If the Redis subscription breaks, every local waiter is woken once when it
is back (each reads its messages once: a message announced meanwhile may
have been missed), and announcements still wake the local waiters.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import redis

from assistant_crm.services.infra.ports import get_runtime

log = logging.getLogger("assistant_crm.message_signals")

EXTRAS_KEY = "message_signals"


class MessageSignals:
    """Per-session wake-ups: in process, and across processes with ``redis_url``."""

    def __init__(self, redis_url: str = "", channel: str = "assistant_crm|chat-messages"):
        self._lock = threading.Lock()
        self._waiters: dict[str, set[threading.Event]] = {}
        self._channel = channel
        self._stop = threading.Event()
        self._publish_failing = False
        self._client: redis.Redis | None = None
        self._thread: threading.Thread | None = None
        if redis_url:
            # No socket timeout: the subscriber blocks in get_message() with its own timeout.
            self._client = redis.Redis.from_url(redis_url, socket_connect_timeout=3, health_check_interval=30)
            self._thread = threading.Thread(target=self._listen_loop, name="message-signals", daemon=True)
            self._thread.start()

    # -- waiting -------------------------------------------------------------
    @contextmanager
    def listen(self, key: str) -> Iterator[threading.Event]:
        """An event set whenever ``key`` (a session name) is announced while inside."""
        event = threading.Event()
        with self._lock:
            self._waiters.setdefault(key, set()).add(event)
        try:
            yield event
        finally:
            with self._lock:
                waiting = self._waiters.get(key)
                if waiting is not None:
                    waiting.discard(event)
                    if not waiting:
                        del self._waiters[key]

    def waiting(self) -> int:
        """How many waiters are registered (for tests and diagnostics)."""
        with self._lock:
            return sum(len(w) for w in self._waiters.values())

    # -- announcing ----------------------------------------------------------
    def announce(self, key: str) -> None:
        """Wake the waiters of ``key`` here and, with Redis, in every process."""
        self._wake(key)
        if self._client is not None:
            try:
                self._client.publish(self._channel, key)
                self._publish_failing = False
            except redis.RedisError as e:
                if not self._publish_failing:  # one line per outage, not one per message
                    log.warning(
                        "could not publish chat wake-ups to Redis (%s); only this process is woken", e
                    )
                self._publish_failing = True

    def _wake(self, key: str) -> None:
        with self._lock:
            events = list(self._waiters.get(key, ()))
        for event in events:
            event.set()

    def _wake_all(self) -> None:
        with self._lock:
            events = [e for waiting in self._waiters.values() for e in waiting]
        for event in events:
            event.set()

    def _listen_loop(self) -> None:
        assert self._client is not None
        broken = False
        while not self._stop.is_set():
            pubsub = self._client.pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self._channel)
                if broken:
                    log.info("chat wake-ups: Redis subscription is back")
                    self._wake_all()  # something may have been announced while we were away
                    broken = False
                while not self._stop.is_set():
                    message = pubsub.get_message(timeout=1.0)
                    if message and message.get("type") == "message":
                        data = message.get("data")
                        self._wake(data.decode("utf-8", "replace") if isinstance(data, bytes) else str(data))
            except redis.RedisError as e:
                if not broken:
                    log.warning("chat wake-ups: Redis subscription lost (%s); retrying", e)
                broken = True
                self._stop.wait(1.0)
            finally:
                try:
                    pubsub.close()
                except redis.RedisError:
                    pass

    def close(self) -> None:
        self._stop.set()
        self._wake_all()
        if self._thread is not None:
            self._thread.join(3)
        if self._client is not None:
            self._client.close()


def signals() -> MessageSignals | None:
    """The runtime's signals, or None where the runtime has none (then callers poll)."""
    return get_runtime().extras.get(EXTRAS_KEY)


def announce(session_name: str) -> None:
    """Announce a new message of ``session_name`` once it is committed.

    Inside a store transaction the announcement waits for the commit (a
    waiter woken earlier would read nothing and sleep through the message).
    """
    sig = signals()
    if sig is None or not session_name:
        return
    rt = get_runtime()
    after_commit = getattr(rt.store, "after_commit", None)
    if callable(after_commit):
        # A turn writes two messages in one transaction: one announcement.
        after_commit(lambda: sig.announce(session_name), key=("message_signals", session_name))
    else:
        sig.announce(session_name)
