"""A warm model worker: one process with litellm imported, answering the calls of any promptctl run
of the same user and the same key over a Unix socket, until it has been idle for its idle timeout.

Started by :func:`promptctl.execute.workers.service.spawn` as
``python -I -c BOOT <promptctl's parent dir> <dir> <key> <index> <idle seconds>``.

* **One worker per slot.** Worker ``index`` of ``key`` holds an exclusive ``flock`` on
  ``w-<key>-<index>.lock`` for its whole life; a second one started for the same slot (two runs
  starting at once) finds it taken and exits. Only the holder removes a stale socket file.
* **Reachable at once, ready soon.** The socket is bound (mode 0600 in the 0700 directory) before
  litellm is imported, in a thread, so a run connects and sends its calls while the import goes
  on; the calls start the moment it is done. A failed import is reported to every client
  (``fatal``) and the worker exits: the run continues in-process.
* **Trust.** A connection whose peer is another uid (``SO_PEERCRED``) is closed unread. Frames
  are JSON, never pickle. Each call's keys come in the request (``env``) and are dropped with it;
  the worker's own environment has none, it writes no file but its socket and lock, and once no
  run is connected it drops litellm's cached SDK clients (which may hold a key).
* **Calls** run :func:`promptctl.execute.llm.complete` on the worker's one event loop, so HTTP
  connections are reused across runs. A run's connection closing (it ended, was interrupted or
  died) cancels its calls still in flight; ``cancel`` cancels one.
* **Leaving** is always ``os._exit`` after the socket file is removed: no interpreter teardown
  (litellm's can hang on its async clients' finalisers).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import socket
import sys
import time
from dataclasses import dataclass, field, replace
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
from promptctl.execute.workers.service import lock_path, socket_path
from promptctl.version import __version__, installed_version

__all__ = ["main"]


@dataclass(eq=False)
class _Conn:
    writer: asyncio.StreamWriter
    tasks: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    run: bool = False  # a run's connection (hello, calls), not a status or stop request

    def send(self, msg: dict[str, Any]) -> None:
        if not self.writer.is_closing():
            self.writer.write(encode(msg))


def _share_rpm(target: Target, share: int) -> Target:
    return replace(target, rpm=target.rpm / share) if target.rpm and share > 1 else target


def _rss_mb() -> float | None:
    try:
        with open("/proc/self/statm", "rb") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return None


class Server:
    def __init__(self, key: str, index: int, idle_timeout: float) -> None:
        self.key = key
        self.index = index
        self.idle_timeout = idle_timeout
        self.started = time.time()
        self.last_active = time.monotonic()
        self.conns: set[_Conn] = set()
        self.calls = 0
        self.in_flight = 0
        self.fatal: str | None = None
        self.ready: asyncio.Future[None] | None = None
        self.done: asyncio.Event | None = None
        self.why_stopped = ""

    # -- life cycle ----------------------------------------------------------------------------
    async def serve(self, sock: socket.socket) -> str:
        loop = asyncio.get_running_loop()
        self.ready = loop.create_future()
        self.done = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self.stop, f"signal {sig.name}")
        server = await asyncio.start_unix_server(self._client, sock=sock)
        warm = loop.create_task(self._warm())
        watch = loop.create_task(self._watch_idle())
        await self.done.wait()
        server.close()
        for task in (warm, watch):
            task.cancel()
        for conn in list(self.conns):
            for task in conn.tasks.values():
                task.cancel()
            with contextlib.suppress(Exception):
                conn.writer.close()
        return self.why_stopped

    def stop(self, why: str) -> None:
        if self.done is not None and not self.done.is_set():
            self.why_stopped = why
            self.done.set()

    async def _warm(self) -> None:
        from promptctl.execute import llm

        assert self.ready is not None
        try:
            await asyncio.to_thread(llm.ensure_litellm)
            await asyncio.to_thread(llm.prewarm)
        except BaseException as exc:  # the import itself failed: say so to every client, then go
            self.fatal = f"{type(exc).__name__}: {exc}"
            for conn in list(self.conns):
                conn.send({"op": "fatal", "error": self.fatal})
            self.ready.set_exception(RuntimeError(self.fatal))
            self.ready.exception()  # retrieved: calls see it through their own await
            await asyncio.sleep(0.2)  # let the frames go out
            self.stop("litellm could not be imported")
            return
        self.ready.set_result(None)
        for conn in list(self.conns):
            conn.send({"op": "ready"})

    async def _watch_idle(self) -> None:
        while True:
            await asyncio.sleep(max(0.05, min(1.0, self.idle_timeout / 4)))
            if not self.conns and time.monotonic() - self.last_active >= self.idle_timeout:
                self.stop(f"idle for {self.idle_timeout:g} s")
                return

    # -- connections -----------------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        uid = peer_uid(sock) if sock is not None else None
        if uid is not None and uid != os.getuid():
            writer.close()  # another user: not a single byte read or written
            return
        conn = _Conn(writer)
        self.conns.add(conn)
        try:
            while True:
                try:
                    header = await reader.readexactly(HEADER.size)
                    msg = decode(await reader.readexactly(frame_length(header)))
                except (asyncio.IncompleteReadError, ConnectionError, ProtocolError):
                    break
                self._handle(conn, msg)
                if conn.writer.transport.get_write_buffer_size() > 1 << 20:
                    with contextlib.suppress(ConnectionError):
                        await conn.writer.drain()
        finally:
            for task in list(conn.tasks.values()):
                task.cancel()  # the run ended or went away: its calls are not wanted any more
            self.conns.discard(conn)
            if conn.run:  # a run, not `promptctl worker status`: the idle time starts now
                self.last_active = time.monotonic()
            with contextlib.suppress(Exception):
                writer.close()
            if not self.conns:
                _forget_sdk_clients()
                _release_memory()

    def _handle(self, conn: _Conn, msg: dict[str, Any]) -> None:
        op = msg["op"]
        if op in ("hello", "call"):
            conn.run = True
            self.last_active = time.monotonic()
        if op == "hello":
            idle = msg.get("idle_timeout")
            if isinstance(idle, (int, float)) and idle > 0:
                self.idle_timeout = float(idle)  # the latest run's setting holds from now on
            conn.send(
                {
                    "op": "hello",
                    "v": VERSION,
                    "key": self.key,
                    "pid": os.getpid(),
                    "index": self.index,
                    "ready": self.ready is not None and self.ready.done() and self.fatal is None,
                    "fatal": self.fatal,
                }
            )
            if msg.get("v") != VERSION or msg.get("key") != self.key:
                conn.writer.close()  # a client of another protocol or key: nothing to say
        elif op == "call":
            call_id = msg.get("id")
            if isinstance(call_id, int) and call_id not in conn.tasks:
                conn.tasks[call_id] = asyncio.get_running_loop().create_task(self._call(conn, call_id, msg))
        elif op == "cancel":
            task = conn.tasks.get(msg.get("id"))  # type: ignore[arg-type]
            if task is not None:
                task.cancel()
        elif op == "status":
            conn.send(self.status(asking=conn))
        elif op == "stop":
            conn.send({"op": "bye", "pid": os.getpid()})
            self.stop("asked to stop")

    def status(self, asking: _Conn | None = None) -> dict[str, Any]:
        """The worker's facts; ``connections`` and ``idle_s`` leave out the connection asking."""
        runs = [c for c in self.conns if c is not asking]
        idle = 0.0 if runs else time.monotonic() - self.last_active
        return {
            "op": "status",
            "pid": os.getpid(),
            "key": self.key,
            "index": self.index,
            "versions": {
                "promptctl": __version__,
                "litellm": installed_version("litellm"),
                "python": sys.version.split()[0],
            },
            "python": sys.executable,
            "package": str(Path(__file__).resolve().parents[2]),
            "started": self.started,
            "uptime_s": time.time() - self.started,
            "idle_s": idle,
            "idle_timeout_s": self.idle_timeout,
            "connections": len(runs),
            "in_flight": self.in_flight,
            "calls": self.calls,
            "rss_mb": _rss_mb(),
            "ready": self.ready is not None and self.ready.done() and self.fatal is None,
            "fatal": self.fatal,
        }

    # -- calls -------------------------------------------------------------------------------------
    async def _call(self, conn: _Conn, call_id: int, msg: dict[str, Any]) -> None:
        from promptctl.execute import llm

        env: dict[str, str] = {}
        self.in_flight += 1
        try:
            raw_env = msg.get("env") or {}
            env = {str(k): str(v) for k, v in raw_env.items()} if isinstance(raw_env, dict) else {}
            req = ModelRequest.from_dict(msg["req"])
            policy = RetryPolicy.from_dict(msg.get("policy") or {})
            share = int(msg.get("share") or 1)
            req.target = _share_rpm(req.target, share)
            req.fallbacks = [_share_rpm(t, share) for t in req.fallbacks]
            assert self.ready is not None
            await asyncio.shield(self.ready)

            def on_token(text: str) -> None:
                conn.send({"op": "token", "id": call_id, "text": text})

            resp = await llm.complete(req, policy, on_token=on_token if msg.get("stream") else None, env=env)
            conn.send({"op": "result", "id": call_id, "resp": resp.to_dict()})
        except asyncio.CancelledError:
            pass  # interrupted: the run that asked is gone or no longer wants it
        except llm.NeedsCallerEnvironment as exc:
            conn.send({"op": "result", "id": call_id, "unservable": str(exc)})
        except Exception as exc:  # a bug or a malformed request: one row's error, never a hang
            why = ModelResponse(status="error", error=f"model worker: {type(exc).__name__}: {exc}")
            conn.send({"op": "result", "id": call_id, "resp": why.to_dict()})
        finally:
            env.clear()
            conn.tasks.pop(call_id, None)
            self.in_flight -= 1
            self.calls += 1
            self.last_active = time.monotonic()


def _forget_sdk_clients() -> None:
    """Drop litellm's cached provider SDK clients (an SDK client keeps the key it was built with);
    keep its plain HTTP clients (keyed by settings, never by a key) so connections stay warm."""
    litellm = sys.modules.get("litellm")
    cache = getattr(litellm, "in_memory_llm_clients_cache", None) if litellm is not None else None
    entries = getattr(cache, "cache_dict", None)
    if not isinstance(entries, dict):
        return
    for name in list(entries):
        if not str(name).startswith(("async_httpx_client", "httpx_client")):
            with contextlib.suppress(Exception):
                cache._remove_key(name)  # type: ignore[union-attr]


def _release_memory() -> None:
    """Between runs: collect cycles (litellm's response objects are full of them) and hand freed
    heap pages back to the system, so an idle worker holds what litellm needs, not its peak."""
    import gc

    gc.collect()
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)


def main(argv: list[str]) -> None:
    """``<dir> <key> <index> <idle seconds>``: serve until idle, stopped or signalled."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a run's Ctrl-C is the run's business
    directory, key, index, idle = Path(argv[0]), argv[1], int(argv[2]), float(argv[3])
    os.umask(0o077)
    lock_fd = os.open(lock_path(directory, key, index), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    path = socket_path(directory, key, index)
    deadline = time.monotonic() + 5.0
    while True:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except OSError:
            # Another worker holds the slot: serving (its socket is there) or about to: leave it
            # be. One that is leaving removes its socket first: wait for its lock.
            if path.exists() or time.monotonic() > deadline:
                os._exit(0)
            time.sleep(0.02)
    with contextlib.suppress(FileNotFoundError):
        path.unlink()  # a stale socket of a worker that died without cleaning up
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.bind(str(path))
    os.chmod(path, 0o600)
    sock.listen(256)
    sock.setblocking(False)
    code = 0
    try:
        # Not asyncio.run: its shutdown waits for the default executor, where litellm's import
        # may still be running (seconds on a busy machine); a stop must not wait for it.
        asyncio.new_event_loop().run_until_complete(Server(key, index, idle).serve(sock))
    except BaseException:
        code = 1
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
        os._exit(code)
