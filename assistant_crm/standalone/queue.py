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


class ThreadQueue:
    """Runs enqueued jobs on ``workers`` daemon threads."""

    def __init__(self, workers: int = 2):
        self._q: queue.Queue[tuple[str, dict[str, Any]] | None] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._pending = 0
        self._cv = threading.Condition()
        self.failures = 0
        for i in range(max(1, workers)):
            t = threading.Thread(target=self._work, name=f"assistant-crm-worker-{i}", daemon=True)
            t.start()
            self._threads.append(t)

    def enqueue(self, method: str, **kwargs: Any) -> None:
        with self._cv:
            self._pending += 1
        self._q.put((method, kwargs))

    def _work(self) -> None:
        while True:
            item = self._q.get()
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
        """Wait until no job is queued or running; False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._pending > 0:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._cv.wait(left)
        return True

    def stop(self) -> None:
        for _ in self._threads:
            self._q.put(None)


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
