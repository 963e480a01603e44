"""Client-side rate limits (an alias's ``rpm``): one clock per target, shared by every call."""

from __future__ import annotations

import asyncio
import threading
import time

from promptctl.execute.types import Target


class RateLimiter:
    """Spaces call starts at least ``60 / rpm`` seconds apart (a leaky bucket without burst).

    Slots are reserved under a thread lock rather than an asyncio primitive so one limiter can be
    shared by calls on different event loops (tests run several ``asyncio.run``s in a process).
    """

    def __init__(self, rpm: float) -> None:
        if rpm <= 0:
            raise ValueError("rpm must be positive")
        self.rpm = rpm
        self.interval = 60.0 / rpm
        self._next = 0.0
        self._lock = threading.Lock()

    def _reserve(self) -> float:
        with self._lock:
            now = time.monotonic()
            slot = max(now, self._next)
            self._next = slot + self.interval
            return slot - now

    async def acquire(self) -> None:
        delay = self._reserve()
        if delay > 0:
            await asyncio.sleep(delay)


_limiters: dict[tuple[str, str, str | None, float], RateLimiter] = {}
_limiters_lock = threading.Lock()


def limiter_for(target: Target) -> RateLimiter | None:
    """The shared limiter of a target (``None`` when it has no ``rpm``): every concurrent call to
    one alias waits on the same clock."""
    if not target.rpm:
        return None
    key = (target.name, target.model, target.api_base, float(target.rpm))
    with _limiters_lock:
        lim = _limiters.get(key)
        if lim is None:
            lim = _limiters[key] = RateLimiter(target.rpm)
        return lim
