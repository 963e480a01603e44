"""Live model calls spread over worker processes.

Why: litellm costs ~4-5 ms of CPU per call in the calling process (request building, logging
objects, response parsing), so one process tops out at ~200 calls/s whatever the concurrency: at
1,000+ live rows a run is CPU-bound in litellm, not waiting on the network. K worker processes
(one per core) each import litellm once and run :func:`promptctl.execute.llm.complete` on their own
event loop; the parent never imports litellm and keeps planning, validation, the cache and the
record. litellm is used exactly as in-process (real HTTP, official settings, nothing patched), so
retries, fallbacks, rate limits, cost, ``answered_by`` ... mean what they always meant.

How:

* Each worker is a fresh, isolated interpreter (``python -I -c`` running :func:`_worker_entry`,
  in promptctl's own directory: nothing of the repository under test is importable), never a fork
  of a parent that may hold threads or SQLite handles. Not ``multiprocessing``'s spawn/forkserver:
  both re-run the caller's ``__main__`` in the child (the ``promptctl`` console script would import
  the whole CLI in every worker; a library caller's unguarded script would start the run again)
  and start a resource-tracker process; a plain interpreter needs neither.
* Workers start as soon as the runner knows it has live rows, so their imports (in parallel, one
  per core) overlap whatever the parent still does. They run in their own session: the terminal's
  Ctrl-C reaches only the parent, which decides; they also ignore SIGINT outright.
* Requests and responses cross as plain dicts (pickled, length-prefixed) over two pipes per worker.
  The parent sends a request only to a worker with a free slot: worker ``i`` has
  ``floor/ceil(C / K)`` slots, so the calls in flight across workers never exceed the run's ``C``
  (the runner's own semaphore of ``C`` holds too). Per-alias ``rpm`` limits are split likewise
  (``rpm / K`` per worker). Results come back one by one, as each call finishes.
* A worker reads its pipe in a thread, so the parent's writes never block on a worker that is busy
  or still importing; EOF there (the parent closed it, exited or died) or a ``stop`` message ends
  the worker at once with ``os._exit``, abandoning in-flight calls: no orphans, fast interruption.
* Failures never hang a run: calls queued on a worker that dies before it is ready go to another
  worker; calls in flight on a worker that dies become error rows (they may have reached the
  provider, so they are not silently repeated); when no worker is left, :class:`PoolUnavailable`
  tells the runner to continue in-process. A worker that cannot import litellm says why, and the
  rows get that message.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import pickle
import queue
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from promptctl.execute.types import ModelRequest, ModelResponse, RetryPolicy, Target

__all__ = [
    "ENV_WORKERS",
    "MAX_WORKERS",
    "MIN_REQUESTS_PER_WORKER",
    "PoolUnavailable",
    "WorkerPool",
    "worker_count",
]

ENV_WORKERS = "PROMPTCTL_WORKERS"
MAX_WORKERS = 8
# Below this many unique live requests per worker, a worker's start-up (a fresh interpreter plus
# litellm's ~5 s import, per worker) costs about what it takes off the parent: stay in-process.
# Measured on 2 cores (fake server on the same cores, 100 ms latency, -j 64): 1,000 calls take the
# same time either way (~13 s), 10,000 take 66 s with 2 workers against 82 s in-process.
MIN_REQUESTS_PER_WORKER = 1000
STOP_GRACE_S = 1.0  # how long stopped workers get to exit before SIGTERM (then SIGKILL)

_HEADER = struct.Struct("!I")
_PROTOCOL = pickle.HIGHEST_PROTOCOL


class PoolUnavailable(RuntimeError):
    """No worker is left to take a call: the caller continues in-process."""


def worker_count(unique_requests: int, concurrency: int, requested: int | None = None) -> int:
    """How many worker processes a run of ``unique_requests`` live calls gets; 0 = in-process.

    ``requested`` (``RunOptions.workers``) wins, then the ``PROMPTCTL_WORKERS`` environment
    variable; either way 0 or 1 mean in-process. Automatic: one per CPU (at most
    :data:`MAX_WORKERS`) as long as each gets :data:`MIN_REQUESTS_PER_WORKER` requests. Never more
    workers than concurrency slots or requests.
    """
    if requested is None:
        env = os.environ.get(ENV_WORKERS, "").strip()
        if env:
            with contextlib.suppress(ValueError):
                requested = max(0, int(env))
    if requested is None:
        k = min(os.cpu_count() or 1, MAX_WORKERS, unique_requests // MIN_REQUESTS_PER_WORKER)
    else:
        k = requested
    k = min(k, max(1, concurrency), unique_requests)
    return k if k >= 2 else 0


def _frame(msg: tuple[Any, ...]) -> bytes:
    body = pickle.dumps(msg, _PROTOCOL)
    return _HEADER.pack(len(body)) + body


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        n = os.write(fd, view)
        view = view[n:]


# --------------------------------------------------------------------------------------------
# The worker process
# --------------------------------------------------------------------------------------------


def _share_rpm(target: Target, share: int) -> Target:
    return replace(target, rpm=target.rpm / share) if target.rpm else target


def _worker_entry() -> None:
    """``python -c "...; _worker_entry()" IN_FD OUT_FD``: read an ``init`` message, import litellm,
    then answer ``call`` messages until told to stop or the parent goes away. Always leaves through
    ``os._exit``: no interpreter teardown (litellm's is slow) and nothing left running."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent coordinates interruption
    fd_in, fd_out = int(sys.argv[1]), int(sys.argv[2])
    inbox: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
    loop_box: list[asyncio.AbstractEventLoop] = []
    wake: list[Callable[[], None]] = []

    def read_exact(n: int) -> bytes:
        chunks = []
        while n:
            chunk = os.read(fd_in, n)
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            n -= len(chunk)
        return b"".join(chunks)

    def reader() -> None:
        # Always draining the pipe keeps the parent's writes from blocking while this process is
        # importing litellm or busy; EOF means the parent closed it, exited or died.
        try:
            while True:
                (size,) = _HEADER.unpack(read_exact(_HEADER.size))
                msg = pickle.loads(read_exact(size))
                if msg[0] == "stop":
                    os._exit(0)
                inbox.put(msg)
                if loop_box:
                    with contextlib.suppress(RuntimeError):
                        loop_box[0].call_soon_threadsafe(wake[0])
        except BaseException:
            os._exit(0)

    send_lock = threading.Lock()

    def send(msg: tuple[Any, ...]) -> None:
        try:
            data = _frame(msg)
            with send_lock:
                _write_all(fd_out, data)
        except OSError:
            os._exit(0)  # the parent is gone

    try:
        (size,) = _HEADER.unpack(read_exact(_HEADER.size))
        init: dict[str, Any] = pickle.loads(read_exact(size))[1]
    except BaseException:
        os._exit(0)
    threading.Thread(target=reader, name="promptctl-worker-reader", daemon=True).start()
    try:
        from promptctl.execute import llm

        llm.ensure_litellm()
        llm.prewarm()
    except BaseException as exc:
        send(("fatal", f"{type(exc).__name__}: {exc}"))
        os._exit(1)
    send(("ready", os.getpid()))
    policy = RetryPolicy.from_dict(init["policy"])
    slots, share = int(init["slots"]), int(init["share"])

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        sem = asyncio.Semaphore(max(1, slots))
        tasks: dict[int, asyncio.Task[None]] = {}

        async def call(call_id: int, data: dict[str, Any]) -> None:
            try:
                req = ModelRequest.from_dict(data)
                if share > 1:
                    req.target = _share_rpm(req.target, share)
                    req.fallbacks = [_share_rpm(t, share) for t in req.fallbacks]
                async with sem:
                    resp = await llm.complete(req, policy)
            except asyncio.CancelledError:
                return
            except Exception as exc:  # a bug, not a provider error: still one row, never a hang
                resp = ModelResponse(status="error", error=f"model worker: {type(exc).__name__}: {exc}")
            finally:
                tasks.pop(call_id, None)
            send(("result", call_id, resp.to_dict()))

        def drain() -> None:
            while True:
                try:
                    msg = inbox.get_nowait()
                except queue.Empty:
                    return
                if msg[0] == "call":
                    tasks[msg[1]] = loop.create_task(call(msg[1], msg[2]))
                elif msg[0] == "cancel":
                    task = tasks.pop(msg[1], None)
                    if task is not None:
                        task.cancel()

        wake.append(drain)
        loop_box.append(loop)
        drain()
        await loop.create_future()  # forever: the reader thread ends the process

    try:
        asyncio.run(serve())
    finally:
        os._exit(0)


# Run with ``python -I`` (no PYTHON* variables, no user site, no working directory on sys.path):
# only promptctl's own directory (argv[3]: this very promptctl) is added, never the repository's.
_BOOT = "import sys; sys.path.insert(0, sys.argv[3]); import promptctl.execute.pool as p; p._worker_entry()"


# --------------------------------------------------------------------------------------------
# The parent's side
# --------------------------------------------------------------------------------------------


class _WorkerLost(Exception):
    """A worker went away before it was ready: the call never started and may go elsewhere."""


@dataclass
class _Worker:
    index: int
    slots: int
    process: subprocess.Popen[bytes]
    fd_in: int  # results from the worker (non-blocking, read by the event loop)
    fd_out: int  # requests to the worker
    buffer: bytearray = field(default_factory=bytearray)
    ready: bool = False
    alive: bool = True
    in_flight: int = 0
    pending: set[int] = field(default_factory=set)


@dataclass
class _Pending:
    future: asyncio.Future[dict[str, Any]]
    worker: _Worker


class WorkerPool:
    """K model worker processes; :meth:`complete` is a drop-in for ``llm.complete(req, policy)``.

    Create and :meth:`start` it inside the running event loop that will call :meth:`complete`;
    :meth:`close` it (synchronous, at most ~``STOP_GRACE_S`` + 2 s) when the run ends or is
    interrupted.
    """

    def __init__(self, size: int, concurrency: int, policy: RetryPolicy) -> None:
        if size < 1:
            raise ValueError("a pool needs at least one worker")
        size = min(size, max(1, concurrency))
        base, extra = divmod(max(1, concurrency), size)
        self.slots = [base + (1 if i < extra else 0) for i in range(size)]
        self.size = size
        self.policy = policy
        self.workers: list[_Worker] = []
        self.fatal: str | None = None
        self.max_in_flight = 0  # across workers, as counted here
        self._in_flight = 0
        self._pending: dict[int, _Pending] = {}
        self._ids = itertools.count(1)
        self._waiters: list[asyncio.Future[None]] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False

    # -- life cycle ------------------------------------------------------------------------------
    def start(self) -> None:
        """Start every worker; returns in milliseconds (the imports happen in the workers)."""
        self._loop = asyncio.get_running_loop()
        env = dict(os.environ)
        package = Path(__file__).resolve().parents[1]  # .../promptctl
        policy = self.policy.to_dict()
        for i, slots in enumerate(self.slots):
            req_r, req_w = os.pipe()
            res_r, res_w = os.pipe()
            try:
                proc = subprocess.Popen(
                    [sys.executable, "-I", "-c", _BOOT, str(req_r), str(res_w), str(package.parent)],
                    pass_fds=(req_r, res_w),
                    env=env,
                    cwd=package,  # a directory of promptctl's own, not the repository under test
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    start_new_session=True,  # out of the terminal's process group: no Ctrl-C
                )
            except BaseException:
                for fd in (req_r, req_w, res_r, res_w):
                    os.close(fd)
                raise
            finally:
                with contextlib.suppress(OSError):
                    os.close(req_r)
                with contextlib.suppress(OSError):
                    os.close(res_w)
            os.set_blocking(res_r, False)
            worker = _Worker(i, slots, proc, res_r, req_w)
            self.workers.append(worker)
            self._loop.add_reader(res_r, self._on_readable, worker)
            self._send(worker, ("init", {"slots": slots, "share": self.size, "policy": policy}))

    def close(self) -> None:
        """Stop every worker: a ``stop`` message (they exit at once, abandoning in-flight calls),
        SIGTERM after :data:`STOP_GRACE_S`, SIGKILL a second later. Idempotent."""
        if self._closed:
            return
        self._closed = True
        for w in self.workers:
            if self._loop is not None:
                with contextlib.suppress(Exception):
                    self._loop.remove_reader(w.fd_in)
            with contextlib.suppress(OSError):
                _write_all(w.fd_out, _frame(("stop",)))
            with contextlib.suppress(OSError):
                os.close(w.fd_out)
        procs = [w.process for w in self.workers]
        _reap(procs, STOP_GRACE_S)
        for how in ("terminate", "kill"):
            if all(p.poll() is not None for p in procs):
                break
            for p in procs:
                if p.poll() is None:
                    with contextlib.suppress(OSError):
                        getattr(p, how)()
            _reap(procs, 1.0)
        for w in self.workers:
            w.alive = False
            with contextlib.suppress(OSError):
                os.close(w.fd_in)
        for pending in self._pending.values():
            if not pending.future.done():
                pending.future.cancel()
        self._pending.clear()
        self._wake(all_waiters=True)

    @property
    def pids(self) -> list[int]:
        """Process ids of every worker started (alive or not)."""
        return [w.process.pid for w in self.workers]

    # -- calls -----------------------------------------------------------------------------------
    async def complete(self, req: ModelRequest) -> ModelResponse:
        """``llm.complete(req, policy)`` in a worker. Raises :class:`PoolUnavailable` when no
        worker is left (the caller continues in-process)."""
        data = req.to_dict()
        while True:
            worker = await self._acquire()
            if worker is None:
                if self.fatal is not None:
                    why = f"could not start a model worker: {self.fatal}"
                    return ModelResponse(status="error", error=why)
                raise PoolUnavailable("no model worker process is left")
            call_id = next(self._ids)
            assert self._loop is not None
            fut: asyncio.Future[dict[str, Any]] = self._loop.create_future()
            self._pending[call_id] = _Pending(fut, worker)
            worker.pending.add(call_id)
            worker.in_flight += 1
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            try:
                self._send(worker, ("call", call_id, data))
                result = await fut
            except _WorkerLost:
                continue
            except asyncio.CancelledError:
                if worker.alive and not self._closed:
                    self._send(worker, ("cancel", call_id))
                raise
            finally:
                self._pending.pop(call_id, None)
                worker.pending.discard(call_id)
                worker.in_flight -= 1
                self._in_flight -= 1
                self._wake()
            return ModelResponse.from_dict(result)

    def _send(self, worker: _Worker, msg: tuple[Any, ...]) -> None:
        try:
            _write_all(worker.fd_out, _frame(msg))
        except OSError:
            self._lost(worker)

    async def _acquire(self) -> _Worker | None:
        """The least loaded live worker with a free slot (waiting for one), or None if none is left."""
        assert self._loop is not None
        while True:
            alive = [w for w in self.workers if w.alive]
            if not alive or self._closed:
                return None
            free = [w for w in alive if w.in_flight < w.slots]
            if free:
                return min(free, key=lambda w: w.in_flight / w.slots)
            waiter: asyncio.Future[None] = self._loop.create_future()
            self._waiters.append(waiter)
            try:
                await waiter
            finally:
                if waiter in self._waiters:
                    self._waiters.remove(waiter)

    def _wake(self, all_waiters: bool = False) -> None:
        while self._waiters:
            waiter = self._waiters.pop(0)
            if not waiter.done():
                waiter.set_result(None)
                if not all_waiters:
                    return

    # -- messages from workers -------------------------------------------------------------------
    def _on_readable(self, worker: _Worker) -> None:
        eof = False
        while True:
            try:
                chunk = os.read(worker.fd_in, 1 << 16)
            except BlockingIOError:
                break
            except OSError:
                eof = True
                break
            if not chunk:
                eof = True
                break
            worker.buffer += chunk
        buf = worker.buffer
        pos = 0
        while len(buf) - pos >= _HEADER.size:
            (size,) = _HEADER.unpack_from(buf, pos)
            end = pos + _HEADER.size + size
            if len(buf) < end:
                break
            self._handle(worker, pickle.loads(buf[pos + _HEADER.size : end]))
            pos = end
        del buf[:pos]
        if eof:
            self._lost(worker)

    def _handle(self, worker: _Worker, msg: tuple[Any, ...]) -> None:
        kind = msg[0]
        if kind == "result":
            pending = self._pending.get(msg[1])
            if pending is not None and not pending.future.done():
                pending.future.set_result(msg[2])
        elif kind == "ready":
            worker.ready = True
        elif kind == "fatal":
            self.fatal = str(msg[1])

    def _lost(self, worker: _Worker) -> None:
        """A worker exited (crash, kill, failed import). Calls it had not started go elsewhere;
        calls it had in flight become errors (they may have reached the provider)."""
        if not worker.alive:
            return
        worker.alive = False
        if self._loop is not None:
            with contextlib.suppress(Exception):
                self._loop.remove_reader(worker.fd_in)
        if self._closed:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(0.2)
        code = worker.process.returncode
        if code is None:
            how = "its pipe closed"
        elif code < 0:
            how = f"killed by signal {-code}"
        else:
            how = f"exit code {code}"
        for call_id in list(worker.pending):
            pending = self._pending.get(call_id)
            if pending is None or pending.future.done():
                continue
            if not worker.ready:
                pending.future.set_exception(_WorkerLost())
            else:
                pending.future.set_result(
                    ModelResponse(
                        status="error",
                        error=f"model worker process {worker.process.pid} exited ({how}) while this "
                        "call was in flight; it may or may not have reached the provider; "
                        "run again to retry it",
                    ).to_dict()
                )
        self._wake(all_waiters=True)


def _reap(procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(max(0.0, deadline - time.monotonic()))
