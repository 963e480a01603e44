"""Identical calls in flight are made once: the first caller makes the call, every caller that asks
for the same key while it is under way awaits that one answer (judge verdicts, embeddings)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class InFlight(Generic[T]):
    def __init__(self) -> None:
        self._futures: dict[str, asyncio.Future[T]] = {}

    async def once(self, key: str, make: Callable[[], Awaitable[T]]) -> tuple[T, bool]:
        """``make()``'s answer, and whether it was shared: True when an identical call already
        under way gave it (its exception, if it failed, is raised here too)."""
        pending = self._futures.get(key)
        if pending is not None:
            return await asyncio.shield(pending), True
        fut: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._futures[key] = fut
        try:
            value = await make()
        except BaseException as exc:
            fut.set_exception(exc)
            fut.exception()  # retrieved: no "exception was never retrieved" when nobody shares it
            raise
        finally:
            self._futures.pop(key, None)
        fut.set_result(value)
        return value, False
