"""Wake the staff console when a conversation changes, without polling the database.

:func:`notify` is called when a message is stored or a conversation changes
hands. It bumps a change counter in the runtime cache (shared by every process
through Redis) and wakes this process's waiting listeners at once; under
Frappe it also publishes ``assistant_crm_inbox`` over Frappe realtime. The
payload names only the conversation, never its content: listeners fetch what
changed through the staff API, which checks who they are.

:func:`wait_for_change` is what a server-sent-events stream blocks on: woken
at once by a change in this process, and reading the shared counter (one cache
read, not a query) every couple of seconds to see changes made by other
processes.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

from assistant_crm.services.infra.ports import get_runtime

log = logging.getLogger("assistant_crm.live")

VERSION_KEY = "acrm:live:version"
CROSS_PROCESS_CHECK_SECONDS = 2.0
REALTIME_EVENT = "assistant_crm_inbox"

_cond = threading.Condition()
_local_changes = 0


def version() -> int:
    """The shared change counter (0 when the cache has none yet)."""
    try:
        return int(get_runtime().cache.get(VERSION_KEY) or 0)
    except Exception:  # a cache hiccup must not break the console
        log.warning("could not read the live change counter", exc_info=True)
        return 0


def notify(session_name: str, kind: str = "message") -> None:
    """A conversation changed: wake listeners here and elsewhere, once the change is committed.

    Never raises. Deferred to the commit because a listener woken earlier would
    read nothing, and because with Redis down the counter lives in the database:
    bumping it inside the caller's SQLite transaction would wait on that very
    transaction's lock.
    """
    rt = get_runtime()
    after_commit = getattr(rt.store, "after_commit", None)
    if callable(after_commit):
        after_commit(lambda: _notify_now(rt, session_name, kind), key=("live", session_name, kind))
    else:
        _notify_now(rt, session_name, kind)


def _notify_now(rt: Any, session_name: str, kind: str) -> None:
    global _local_changes
    try:
        rt.cache.incr(VERSION_KEY, 1)
    except Exception:
        log.warning("could not bump the live change counter", exc_info=True)
    with _cond:
        _local_changes += 1
        _cond.notify_all()
    publish = rt.extras.get("publish_realtime")
    if callable(publish):
        try:
            publish(REALTIME_EVENT, {"session_id": session_name, "kind": kind})
        except Exception:
            log.warning("realtime publish of a console change failed", exc_info=True)


def wait_for_change(since: int, timeout: float) -> int:
    """Block until the counter differs from ``since`` or ``timeout`` passes; returns the counter."""
    deadline = time.monotonic() + max(0.0, timeout)
    current = version()
    while current == since:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            break
        with _cond:
            seen = _local_changes
            _cond.wait_for(
                lambda seen=seen: _local_changes != seen, timeout=min(CROSS_PROCESS_CHECK_SECONDS, remaining)
            )
        current = version()
    return current


def stream(since: Any, duration: float = 25.0, keepalive: float = 10.0) -> Iterator[bytes]:
    """Server-sent events: ``event: change`` with the new counter each time it moves,
    comments as keep-alives; ends after ``duration`` (EventSource reconnects)."""
    try:
        seen = int(since)
    except (TypeError, ValueError):
        seen = version()
    end = time.monotonic() + duration
    yield f"retry: 1000\nevent: hello\ndata: {seen}\n\n".encode()
    while time.monotonic() < end:
        current = wait_for_change(seen, min(keepalive, end - time.monotonic()))
        if current != seen:
            seen = current
            yield f"event: change\ndata: {seen}\n\n".encode()
        else:
            yield b": keep-alive\n\n"
