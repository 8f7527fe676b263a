"""Milliseconds per pipeline stage, for Chat History's ``stage_timings`` and the metrics."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass
class StageTimer:
    """Milliseconds spent in each stage of one turn (a stage entered twice adds up)."""

    timings: dict[str, float] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + (time.perf_counter() - t0) * 1000, 3)

    def as_dict(self) -> dict[str, float]:
        """The stage timings so far, with the ``total`` since the turn began."""
        return {**self.timings, "total": round((time.perf_counter() - self.started) * 1000, 3)}
