"""Streaming calls: the answer's text as it arrives, for synchronous code (:class:`Stream`, the
call in a worker thread with its own event loop) and for asyncio code (:class:`AsyncStream`)."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any

from promptctl.runtime.completion import Completion

# Starts the call, handing each piece of text to the callback; returns the whole answer.
Call = Callable[[Callable[[str], None]], Coroutine[Any, Any, Completion]]

_DONE = object()


class Stream:
    """The text of one call as it arrives: ``for chunk in stream``; then ``.completion``.

    The call runs in a worker thread with its own event loop; stopping early (``break``,
    ``.close()``, leaving a ``with`` block) cancels it. Errors are raised from the loop, as
    :meth:`Prompt.complete` raises them.
    """

    def __init__(self, call: Call) -> None:
        self._call = call
        self._queue: queue.Queue[Any] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Completion] | None = None
        self._ready = threading.Event()
        self._chunks: list[str] = []
        self.completion: Completion | None = None

    @property
    def text(self) -> str:
        """The text received so far."""
        return "".join(self._chunks)

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _run(self) -> None:
        async def main() -> None:
            self._loop = asyncio.get_running_loop()
            self._task = asyncio.ensure_future(self._call(lambda t: self._queue.put(("chunk", t))))
            self._ready.set()
            try:
                self._queue.put(("done", await self._task))
            except BaseException as exc:
                self._queue.put(("error", exc))

        try:
            asyncio.run(main())
        finally:
            self._ready.set()

    def __iter__(self) -> Iterator[str]:
        if self._thread is not None:
            raise RuntimeError("a stream can be read once")
        self._thread = threading.Thread(target=self._run, name="promptctl-stream", daemon=True)
        self._thread.start()
        finished = False
        try:
            while True:
                kind, value = self._queue.get()
                if kind == "chunk":
                    self._chunks.append(value)
                    yield value
                    continue
                finished = True
                if kind == "done":
                    self.completion = value
                    return
                if isinstance(value, asyncio.CancelledError):
                    raise RuntimeError("the stream was closed") from None
                raise value
        finally:
            if not finished:
                self.close()

    def close(self) -> None:
        """Stop the call (if it still runs) and wait for its trace to be written."""
        thread = self._thread
        if thread is None or not thread.is_alive():
            return
        self._ready.wait()
        loop, task = self._loop, self._task
        if loop is not None and task is not None:
            with contextlib.suppress(RuntimeError):  # the loop has just finished
                loop.call_soon_threadsafe(task.cancel)
        thread.join()


class AsyncStream:
    """:class:`Stream` for asyncio code: ``async for chunk in stream``; then ``.completion``."""

    def __init__(self, call: Call) -> None:
        self._call = call
        self._started = False
        self._chunks: list[str] = []
        self.completion: Completion | None = None

    @property
    def text(self) -> str:
        return "".join(self._chunks)

    def __aiter__(self) -> AsyncIterator[str]:
        if self._started:
            raise RuntimeError("a stream can be read once")
        self._started = True
        return self._gen()

    async def _gen(self) -> AsyncIterator[str]:
        q: asyncio.Queue[Any] = asyncio.Queue()
        task = asyncio.ensure_future(self._call(q.put_nowait))
        task.add_done_callback(lambda _t: q.put_nowait(_DONE))
        try:
            while True:
                item = await q.get()
                if item is _DONE:
                    break
                self._chunks.append(item)
                yield item
            self.completion = task.result()
        finally:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
