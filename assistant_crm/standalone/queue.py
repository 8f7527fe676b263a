"""Background work for the standalone runtime: worker threads and a small scheduler.

Jobs are dotted paths plus keyword arguments, as with ``frappe.enqueue``. The
queue itself is in memory: what must survive a crash lives in durable tables
(the inbox and outbox), and the scheduler's periodic ``recover``/``dispatch_due``
picks up anything a lost job left behind.
"""

from __future__ import annotations

import importlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("assistant_crm.queue")


def resolve(method: str) -> Callable[..., Any]:
    module, _, attr = method.rpartition(".")
    return getattr(importlib.import_module(module), attr)


# Jobs that get threads of their own, so that they never wait behind a backlog
# of other jobs: a reply already produced must not queue behind the turns of a
# burst (head-of-line blocking), and its sender mostly waits on the network.
DELIVERY_METHOD = "assistant_crm.services.delivery.outbox.dispatch"
DELIVERY_THREADS = 16


class ThreadQueue:
    """Runs enqueued jobs on ``workers`` daemon threads; the methods in
    ``lanes`` (method -> threads) run on threads of their own.

    Idle threads block on their queue (a condition variable): new work wakes
    one at once, nothing polls.
    """

    # Jobs run in this process: a job may use what its enqueuer kept in memory
    # for it (outbox.dispatch finds the record it is about without a query).
    in_process = True

    def __init__(self, workers: int = 2, lanes: dict[str, int] | None = None):
        self._pending = 0
        self._cv = threading.Condition()
        self.failures = 0
        self._queues: dict[str, queue.Queue[tuple[str, dict[str, Any]] | None]] = {}
        self._threads: list[tuple[queue.Queue, threading.Thread]] = []
        self._q = self._lane("", workers, "assistant-crm-worker")
        for method, threads in ({DELIVERY_METHOD: DELIVERY_THREADS} if lanes is None else lanes).items():
            self._queues[method] = self._lane(method, threads, "assistant-crm-send")

    def _lane(self, method: str, threads: int, prefix: str) -> queue.Queue:
        q: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        for i in range(max(1, threads)):
            t = threading.Thread(target=self._work, args=(q,), name=f"{prefix}-{i}", daemon=True)
            t.start()
            self._threads.append((q, t))
        return q

    def enqueue(self, method: str, **kwargs: Any) -> None:
        with self._cv:
            self._pending += 1
        self._queues.get(method, self._q).put((method, kwargs))

    def _work(self, q: queue.Queue) -> None:
        while True:
            item = q.get()
            if item is None:
                return
            method, kwargs = item
            try:
                resolve(method)(**kwargs)
            except Exception:
                self.failures += 1
                log.exception("background job %s failed", method)
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
