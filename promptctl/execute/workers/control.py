"""``promptctl worker status|stop``: ask every worker of this user what it is doing, or to stop.

Every socket in the private worker directory is asked, whatever its key (an older promptctl's or
another checkout's workers are listed and stopped too); each answer says whether it is a worker
this process would use (``current``). A socket nobody answers on is stale (its worker died
without removing it): ``stop`` removes it, once its lock shows no worker holds the slot.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import socket
import time
from pathlib import Path
from typing import Any

from promptctl.execute.workers.protocol import ProtocolError, peer_uid, recv_frame, send_frame
from promptctl.execute.workers.service import WorkersUnavailable, service_key, worker_dir

__all__ = ["WorkersUnavailable", "hold_workers", "stop_workers", "worker_statuses"]

ASK_TIMEOUT_S = 3.0


def _sockets(directory: Path) -> list[Path]:
    return sorted(directory.glob("w-*.sock"))


def _ask(path: Path, msg: dict[str, Any]) -> dict[str, Any]:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(ASK_TIMEOUT_S)
        sock.connect(str(path))
        uid = peer_uid(sock)
        if uid is not None and uid != os.getuid():
            raise PermissionError(f"served by another user (uid {uid})")
        send_frame(sock, msg)
        reply = recv_frame(sock)
    if reply is None:
        raise ConnectionError("the worker closed the connection")
    wanted = {"status": "status", "stop": "bye"}[msg["op"]]
    if reply["op"] != wanted:
        raise ProtocolError(f"answered {reply['op']!r} to {msg['op']!r}: not a worker of this promptctl")
    return reply


def worker_statuses() -> tuple[Path, list[dict[str, Any]]]:
    """The worker directory and one entry per socket in it: the worker's own status (``pid``,
    ``calls``, ``idle_s``, ``rss_mb`` ...) plus ``socket`` and ``current``; or, for a socket
    nobody answers on, ``socket`` and ``error``."""
    directory = worker_dir(create=False)
    if not directory.is_dir():
        return directory, []
    key = service_key()
    out: list[dict[str, Any]] = []
    for path in _sockets(directory):
        try:
            status = _ask(path, {"op": "status"})
        except (OSError, ProtocolError) as exc:
            out.append({"socket": str(path), "error": f"not answering ({exc}): a stale socket"})
            continue
        status.pop("op", None)
        status["socket"] = str(path)
        status["current"] = status.get("key") == key
        out.append(status)
    return directory, out


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    # A zombie still answers kill(0): look at its state.
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            return fh.read().rsplit(b")", 1)[1].split()[0] == b"Z"
    except OSError:
        return False


def _remove_if_stale(path: Path) -> bool:
    """Remove a socket (and its lock) whose slot no worker holds."""
    lock = path.with_suffix(".lock")
    try:
        fd = os.open(lock, os.O_RDWR | os.O_CLOEXEC)
    except FileNotFoundError:
        fd = None
    try:
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False  # a worker holds it (starting or stopping): leave it alone
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()
        return True
    finally:
        if fd is not None:
            os.close(fd)


def stop_workers(wait_s: float = 5.0) -> tuple[Path, list[dict[str, Any]]]:
    """Ask every worker to stop and wait (up to ``wait_s``) until each has exited. One entry per
    socket: ``pid`` and ``stopped`` (bool), or ``error``; stale sockets are removed
    (``removed_stale``)."""
    directory = worker_dir(create=False)
    if not directory.is_dir():
        return directory, []
    out: list[dict[str, Any]] = []
    for path in _sockets(directory):
        try:
            reply = _ask(path, {"op": "stop"})
        except (OSError, ProtocolError) as exc:
            removed = _remove_if_stale(path)
            out.append({"socket": str(path), "error": f"not answering ({exc})", "removed_stale": removed})
            continue
        out.append({"socket": str(path), "pid": int(reply.get("pid") or 0), "stopped": False})
    deadline = time.monotonic() + wait_s
    for entry in out:
        pid = entry.get("pid")
        if not pid:
            continue
        while not _gone(pid) and time.monotonic() < deadline:
            time.sleep(0.02)
        entry["stopped"] = _gone(pid)
    return directory, out


def hold_workers(idle_timeout: float) -> list[socket.socket]:
    """Open a connection to every worker this process would use and say hello: a worker with a
    run connected never exits for idleness (``promptctl test --watch`` keeps them warm between
    changes). Close the sockets to let go."""
    from promptctl.execute.workers.protocol import VERSION

    directory = worker_dir(create=False)
    if not directory.is_dir():
        return []
    key = service_key()
    held: list[socket.socket] = []
    for path in sorted(directory.glob(f"w-{key}-*.sock")):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(ASK_TIMEOUT_S)
            sock.connect(str(path))
            uid = peer_uid(sock)
            if uid is not None and uid != os.getuid():
                raise PermissionError(path)
            send_frame(sock, {"op": "hello", "v": VERSION, "key": key, "idle_timeout": idle_timeout})
        except OSError:
            sock.close()
            continue
        held.append(sock)
    return held
