"""Background work for the standalone runtime: worker threads and a small scheduler.

Jobs are dotted paths plus keyword arguments, as with ``frappe.enqueue``. The
queue itself is in memory: what must survive a crash lives in durable tables
(the inbox and outbox), and the scheduler's periodic ``recover``/``dispatch_due``
picks up anything a lost job left behind.
"""

from __future__ import annotations

import importlib
import json
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import redis

log = logging.getLogger("assistant_crm.queue")


def resolve(method: str) -> Callable[..., Any]:
    module, _, attr = method.rpartition(".")
    return getattr(importlib.import_module(module), attr)


# Jobs that get threads of their own, so that they never wait behind a backlog
# of other jobs: a reply already produced must not queue behind the turns of a
# burst (head-of-line blocking), and its sender mostly waits on the network.
DELIVERY_METHOD = "assistant_crm.services.delivery.outbox.dispatch"
DELIVERY_THREADS = 16

# Jobs that any process serving the same database may run (see SharedJobs): a
# turn for a stored inbound event. Its reply's dispatch stays in the process
# that produced it (it uses what that process kept in memory).
SHARED_METHODS = frozenset({"assistant_crm.services.delivery.inbox.process"})
SHARED_WAIT_SECONDS = 1  # a taker's blocking wait, so that stop() is seen soon


class SharedJobs:
    """A job list in Redis that every process serving one database takes from.

    With ``serve --workers N`` each process used to run the turns of the
    webhooks it had accepted itself; the load generator's (or a platform's)
    few keep-alive connections are not spread evenly over the processes, so
    one process fell behind while the other had nothing to do (measured
    43 % / 57 % of the CPU in a 100/s run). Here a process pushes the job
    (one LPUSH) and whichever process has a free taker runs it (BRPOP).

    What must survive is in the inbox, not here: a job lost with a process
    is found again by ``inbox.recover``; when Redis cannot be reached the job
    runs in the process that queued it (``push`` answers False).
    """

    def __init__(
        self,
        url: str,
        key: str,
        takers: int,
        run: Callable[[str, dict[str, Any]], None],
        methods: frozenset[str] = SHARED_METHODS,
    ):
        self.key = key
        self.methods = methods
        self.client = redis.Redis.from_url(
            url, socket_timeout=SHARED_WAIT_SECONDS + 5, socket_connect_timeout=3, health_check_interval=30
        )
        self._run = run
        self._stop = threading.Event()
        self._warned = False
        self._threads = [
            threading.Thread(target=self._take, name=f"assistant-crm-shared-{i}", daemon=True)
            for i in range(max(0, takers))
        ]
        for t in self._threads:
            t.start()

    def push(self, method: str, kwargs: dict[str, Any]) -> bool:
        """Queue the job for any process; False when Redis did not take it."""
        try:
            self.client.lpush(self.key, json.dumps([method, kwargs]))
        except (redis.RedisError, OSError) as e:
            if not self._warned:
                self._warned = True
                log.warning(
                    "shared job list unreachable (%s); jobs run where they are queued", type(e).__name__
                )
            return False
        self._warned = False
        return True

    def _take(self) -> None:
        while not self._stop.is_set():
            try:
                item = self.client.brpop([self.key], timeout=SHARED_WAIT_SECONDS)
            except (redis.RedisError, OSError):
                self._stop.wait(SHARED_WAIT_SECONDS)
                continue
            if item is None:
                continue
            try:
                method, kwargs = json.loads(item[1])
            except (ValueError, TypeError):
                log.warning("shared job list: unreadable job dropped")
                continue
            if method not in self.methods or not isinstance(kwargs, dict):
                log.warning("shared job list: job %r not taken from the list", method)
                continue
            self._run(method, kwargs)

    def stop(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(timeout=SHARED_WAIT_SECONDS + 1)


class ThreadQueue:
    """Runs enqueued jobs on ``workers`` daemon threads; the methods in
    ``lanes`` (method -> threads) run on threads of their own.

    Idle threads block on their queue (a condition variable): new work wakes
    one at once, nothing polls.
    """

    # Jobs run in this process: a job may use what its enqueuer kept in memory
    # for it (outbox.dispatch finds the record it is about without a query).
    in_process = True

    def __init__(
        self,
        workers: int = 2,
        lanes: dict[str, int] | None = None,
        shared: tuple[str, str] | None = None,
        shared_takers: int | None = None,
        shared_methods: frozenset[str] = SHARED_METHODS,
    ):
        """``shared``: (Redis URL, list key) - the :data:`SHARED_METHODS` jobs
        go to a :class:`SharedJobs` list there, taken by ``shared_takers``
        threads (default ``workers``) of each process using the same key.
        :meth:`join` does not wait for those (another process may run them)."""
        self._pending = 0
        self._cv = threading.Condition()
        self.failures = 0
        self._queues: dict[str, queue.Queue[tuple[str, dict[str, Any]] | None]] = {}
        self._threads: list[tuple[queue.Queue, threading.Thread]] = []
        self._q = self._lane("", workers, "assistant-crm-worker")
        for method, threads in ({DELIVERY_METHOD: DELIVERY_THREADS} if lanes is None else lanes).items():
            self._queues[method] = self._lane(method, threads, "assistant-crm-send")
        self._shared: SharedJobs | None = None
        if shared is not None:
            url, key = shared
            takers = workers if shared_takers is None else shared_takers
            self._shared = SharedJobs(url, key, takers, self._call, shared_methods)

    def _lane(self, method: str, threads: int, prefix: str) -> queue.Queue:
        q: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        for i in range(max(1, threads)):
            t = threading.Thread(target=self._work, args=(q,), name=f"{prefix}-{i}", daemon=True)
            t.start()
            self._threads.append((q, t))
        return q

    def enqueue(self, method: str, **kwargs: Any) -> None:
        if self._shared is not None and method in self._shared.methods and self._shared.push(method, kwargs):
            return
        with self._cv:
            self._pending += 1
        self._queues.get(method, self._q).put((method, kwargs))

    def _call(self, method: str, kwargs: dict[str, Any]) -> None:
        try:
            resolve(method)(**kwargs)
        except Exception:
            self.failures += 1
            log.exception("background job %s failed", method)

    def _work(self, q: queue.Queue) -> None:
        while True:
            item = q.get()
            if item is None:
                return
            method, kwargs = item
            try:
                self._call(method, kwargs)
            finally:
                with self._cv:
                    self._pending -= 1
                    self._cv.notify_all()

    def join(self, timeout: float = 10.0) -> bool:
        """Wait until no job is queued or running in any lane; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def stop(self) -> None:
        if self._shared is not None:
            self._shared.stop()
        for q, _ in self._threads:
            q.put(None)


class Scheduler:
    """Calls periodic jobs (``(method, every_seconds)``) on one daemon thread."""

    def __init__(self, jobs: list[tuple[str, float]]):
        self.jobs = jobs
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="assistant-crm-scheduler", daemon=True)

    def start(self) -> Scheduler:
        self._thread.start()
        return self

    def _run(self) -> None:
        last: dict[str, float] = {}
        while not self._stop.is_set():
            now = time.monotonic()
            for method, every in self.jobs:
                if now - last.get(method, 0.0) < every:
                    continue
                last[method] = now
                try:
                    resolve(method)()
                except ModuleNotFoundError as e:
                    log.debug("scheduled job %s not available: %s", method, e)
                except Exception:
                    log.exception("scheduled job %s failed", method)
            self._stop.wait(0.5)

    def stop(self) -> None:
        self._stop.set()
