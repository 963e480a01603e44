"""A run's side of the warm model workers: connect (starting the missing ones), send each call with
the keys it needs, spread calls over the workers, stream tokens back, cancel on interruption.

Whatever goes wrong here never fails a run: no usable worker directory, a worker that cannot start,
crashes or speaks another protocol, a call it cannot make without the caller's environment — each
ends in :class:`WorkersUnavailable` for that call, and the caller (the runner, ``promptctl run``)
makes it in its own process. Each reason is reported once, through ``warn``.

Limits hold as with calls made in-process: the caller's own semaphore bounds the calls in flight
(``-j``), whichever worker takes them; an alias's ``rpm`` is shared out, each of the ``k`` workers
a run uses spacing its calls ``k`` times further apart.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptctl.execute.types import ModelRequest, ModelResponse, RetryPolicy, Target
from promptctl.execute.workers.protocol import (
    HEADER,
    VERSION,
    ProtocolError,
    decode,
    encode,
    frame_length,
    peer_uid,
)
from promptctl.execute.workers.service import (
    WorkerSettings,
    WorkersUnavailable,
    service_key,
    socket_path,
    spawn,
    worker_dir,
)

__all__ = ["CALLS_PER_WORKER", "WorkerClient", "WorkersUnavailable", "workers_for"]

# A run starts a further worker for every this many unique live calls (one is always started):
# a worker's start costs litellm's import (~2.5 s of CPU) and ~170 MB that stay for the idle
# timeout; below this a single worker (~2 ms of CPU per call) finishes the calls sooner.
CALLS_PER_WORKER = 250
CONNECT_TIMEOUT_S = 15.0  # a spawned worker binds its socket within this (normally < 0.3 s)
HELLO_TIMEOUT_S = 5.0


def workers_for(unique_calls: int, settings: WorkerSettings) -> int:
    """How many workers a run of ``unique_calls`` live calls starts if they are not running."""
    return max(1, min(settings.processes, 1 + unique_calls // CALLS_PER_WORKER))


@dataclass
class _Call:
    future: asyncio.Future[dict[str, Any]]
    on_token: Callable[[str], None] | None


@dataclass
class _Link:
    index: int
    path: Path
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    pid: int = 0
    ready: bool = False
    alive: bool = True
    fatal: str | None = None
    pending: dict[int, _Call] = field(default_factory=dict)
    hello: asyncio.Future[dict[str, Any]] | None = None
    task: asyncio.Task[None] | None = None

    def send(self, msg: dict[str, Any]) -> None:
        self.writer.write(encode(msg))


class WorkerClient:
    """Links to up to ``settings.processes`` warm workers; :meth:`complete` is
    ``llm.complete(req, policy, on_token=...)`` made in one of them."""

    def __init__(self, settings: WorkerSettings, warn: Callable[[str], None]) -> None:
        self.settings = settings
        self.warn = warn
        self.links: list[_Link] = []
        self.spawned: list[int] = []  # pids this client started
        self._ids = itertools.count(1)
        self._env_memo: dict[tuple[Target, ...], dict[str, str]] = {}
        self._warned: set[str] = set()
        self.share = 1

    # -- opening ------------------------------------------------------------------------------------
    @classmethod
    async def open(
        cls, settings: WorkerSettings, *, demand: int = 1, warn: Callable[[str], None]
    ) -> WorkerClient | None:
        """Connect to the running workers of this key and start the missing ones among the first
        ``demand``; None (with one warning) when none can be used."""
        client = cls(settings, warn)
        try:
            await client._open(max(1, min(demand, settings.processes)))
        except WorkersUnavailable as exc:
            client.close()
            warn(f"warm model workers not used: {exc}; calls run in this process")
            return None
        except Exception as exc:  # a bug here must not fail the run either
            client.close()
            warn(f"warm model workers not used ({type(exc).__name__}: {exc}); calls run in this process")
            return None
        return client

    async def _open(self, demand: int) -> None:
        directory = worker_dir()
        key = service_key()
        paths = [socket_path(directory, key, i) for i in range(self.settings.processes)]
        missing: list[int] = []
        for i, path in enumerate(paths):
            link = await self._connect(i, path, key)
            if link is not None:
                self.links.append(link)
            elif i < demand:
                missing.append(i)
        if missing:
            for i in missing:
                try:
                    proc = spawn(directory, key, i, self.settings.idle_timeout)
                except OSError as exc:
                    raise WorkersUnavailable(f"cannot start a model worker: {exc.strerror or exc}") from None
                self.spawned.append(proc.pid)
            deadline = time.monotonic() + CONNECT_TIMEOUT_S
            for i in missing:
                link = None
                while link is None and time.monotonic() < deadline:
                    link = await self._connect(i, paths[i], key)
                    if link is None:
                        await asyncio.sleep(0.01)
                if link is not None:
                    self.links.append(link)
        if not self.links:
            raise WorkersUnavailable(
                f"no model worker answered on {directory} within {CONNECT_TIMEOUT_S:g} s"
            )
        self.links.sort(key=lambda link: link.index)
        self.share = len(self.links)

    async def _connect(self, index: int, path: Path, key: str) -> _Link | None:
        try:
            reader, writer = await asyncio.open_unix_connection(str(path))
        except (FileNotFoundError, ConnectionRefusedError):
            return None  # nobody listens (yet): start one
        except OSError as exc:
            raise WorkersUnavailable(f"cannot connect to {path}: {exc.strerror or exc}") from None
        sock = writer.get_extra_info("socket")
        uid = peer_uid(sock) if sock is not None else None
        if uid is not None and uid != os.getuid():
            writer.close()
            raise WorkersUnavailable(f"{path} is served by another user (uid {uid})")
        link = _Link(index, path, reader, writer)
        link.hello = asyncio.get_running_loop().create_future()
        link.task = asyncio.ensure_future(self._read(link))
        link.send({"op": "hello", "v": VERSION, "key": key, "idle_timeout": self.settings.idle_timeout})
        try:
            hello = await asyncio.wait_for(asyncio.shield(link.hello), HELLO_TIMEOUT_S)
        except (asyncio.TimeoutError, ConnectionError, ProtocolError):
            self._drop(link)
            return None
        if hello.get("v") != VERSION or hello.get("key") != key:
            self._drop(link)
            raise WorkersUnavailable(
                f"what answers on {path} speaks protocol {hello.get('v')} for key {hello.get('key')}, "
                f"not {VERSION} for {key} (`promptctl worker stop` ends it)"
            )
        link.pid = int(hello.get("pid") or 0)
        link.ready = bool(hello.get("ready"))
        link.fatal = hello.get("fatal")
        if link.fatal:
            self._drop(link)
            raise WorkersUnavailable(f"the model worker could not start: {link.fatal}")
        return link

    def _drop(self, link: _Link) -> None:
        link.alive = False
        if link.task is not None:
            link.task.cancel()
        with contextlib.suppress(Exception):
            link.writer.close()

    # -- reading -------------------------------------------------------------------------------------
    async def _read(self, link: _Link) -> None:
        why = "its connection closed"
        try:
            while True:
                header = await link.reader.readexactly(HEADER.size)
                msg = decode(await link.reader.readexactly(frame_length(header)))
                op = msg["op"]
                if op == "result":
                    call = link.pending.pop(msg.get("id"), None)  # type: ignore[arg-type]
                    if call is not None and not call.future.done():
                        call.future.set_result(msg)
                elif op == "token":
                    call = link.pending.get(msg.get("id"))  # type: ignore[arg-type]
                    if call is not None and call.on_token is not None and not call.future.done():
                        try:
                            call.on_token(str(msg.get("text", "")))
                        except Exception as exc:  # the caller's bug: it gets its exception back
                            call.future.set_exception(exc)
                elif op == "ready":
                    link.ready = True
                elif op == "fatal":
                    link.fatal = str(msg.get("error"))
                    why = f"it could not import litellm: {link.fatal}"
                elif op == "hello" and link.hello is not None and not link.hello.done():
                    link.hello.set_result(msg)
        except asyncio.CancelledError:
            raise
        except (asyncio.IncompleteReadError, ConnectionError, ProtocolError, OSError) as exc:
            if isinstance(exc, ProtocolError):
                why = f"it sent something unreadable ({exc})"
        finally:
            self._lost(link, why)

    def _lost(self, link: _Link, why: str) -> None:
        was_alive = link.alive
        link.alive = False
        if link.hello is not None and not link.hello.done():
            link.hello.set_exception(ConnectionError(why))
            link.hello.exception()
        pending = list(link.pending.values())
        link.pending.clear()
        lost = WorkersUnavailable(f"model worker {link.pid or link.index} exited ({why})")
        for call in pending:
            if not call.future.done():
                call.future.set_exception(lost)
                call.future.exception()
        if was_alive and pending:
            self._warn_once(
                f"model worker {link.pid} exited ({why}) with {len(pending)} call(s) in flight; "
                "they continue in this process"
            )

    def _warn_once(self, message: str) -> None:
        if message not in self._warned:
            self._warned.add(message)
            self.warn(message)

    # -- calls ---------------------------------------------------------------------------------------
    def _pick(self) -> _Link | None:
        alive = [link for link in self.links if link.alive]
        if not alive:
            return None
        return min(alive, key=lambda link: (len(link.pending), link.index))

    def _env(self, req: ModelRequest) -> dict[str, str]:
        """The key variables the request's targets may need, from this process's environment:
        ``api_key_env`` for an alias naming one; a provider's usual key variables for a target
        with no ``api_base`` (the worker passes the one the provider reads); nothing for an
        ``api_base`` without ``api_key_env`` (it gets a dummy key, as in-process)."""
        from promptctl.execute.callerenv import is_key_variable

        targets = (req.target, *req.fallbacks)
        env = self._env_memo.get(targets)
        if env is None:
            env = {}
            for t in targets:
                if t.api_key_env:
                    value = os.environ.get(t.api_key_env)
                    if value:
                        env[t.api_key_env] = value
                elif not t.api_base:
                    env.update({k: v for k, v in os.environ.items() if v and is_key_variable(k)})
            self._env_memo[targets] = env
        return env

    async def complete(
        self, req: ModelRequest, policy: RetryPolicy, *, on_token: Callable[[str], None] | None = None
    ) -> ModelResponse:
        """The call, made by a worker. Raises :class:`WorkersUnavailable` when no worker can make it
        (the caller makes it itself); ``asyncio.CancelledError`` cancels it in the worker too."""
        link = self._pick()
        if link is None:
            raise WorkersUnavailable("no model worker is left")
        call_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        link.pending[call_id] = _Call(future, on_token)
        try:
            link.send(
                {
                    "op": "call",
                    "id": call_id,
                    "req": req.to_dict(),
                    "policy": policy.to_dict(),
                    "env": self._env(req),
                    "share": self.share,
                    "stream": on_token is not None,
                }
            )
            msg = await future
        except asyncio.CancelledError:
            link.pending.pop(call_id, None)
            if link.alive:
                with contextlib.suppress(Exception):
                    link.send({"op": "cancel", "id": call_id})
            raise
        except (ConnectionError, OSError) as exc:
            link.pending.pop(call_id, None)
            raise WorkersUnavailable(f"model worker {link.pid}: {exc}") from None
        if "unservable" in msg:
            self._warn_once(f"{msg['unservable']}: such calls run in this process")
            raise WorkersUnavailable(str(msg["unservable"]))
        return ModelResponse.from_dict(msg["resp"])

    @property
    def pids(self) -> list[int]:
        return [link.pid for link in self.links]

    def close(self) -> None:
        """Close every link (the workers cancel whatever this client still had in flight and stay
        warm for the next run). Idempotent, synchronous."""
        for link in self.links:
            link.alive = False
            if link.task is not None:
                link.task.cancel()
            with contextlib.suppress(Exception):
                link.writer.close()
