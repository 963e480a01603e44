"""The wire between a promptctl process and its warm model workers: framed JSON over a Unix socket.

Why JSON and not pickle: a frame is data, never code. The socket lives in a private directory and
both ends check the peer's uid, but a reader that cannot execute what it reads does not depend on
those checks being right.

A frame is a 4-byte big-endian length and a UTF-8 JSON object with an ``op``:

client → worker
    ``hello`` {v, key, idle_timeout}: who we are, and how long the worker should now wait when
    idle; the worker answers ``hello`` {v, key, pid, index, ready}
    ``call`` {id, req, policy, env, share, stream}: one ``llm.complete``; ``env`` holds the key
    variables the request's targets may need, read from the caller's environment (the worker's own
    environment has none); ``share``: how many workers this run spreads over (each takes that
    share of an alias's ``rpm``); ``stream``: send ``token`` frames
    ``cancel`` {id}: abandon a call (the run was interrupted)
    ``status`` {}: the worker's facts (``promptctl worker status``)
    ``stop`` {}: exit now (``promptctl worker stop``); answered by ``bye``
worker → client
    ``ready`` {} once litellm is imported; ``fatal`` {error} when it cannot be
    ``token`` {id, text}; ``result`` {id, resp} or {id, unservable: why} (a call the worker cannot
    make without the caller's whole environment: the caller makes it itself)
"""

from __future__ import annotations

import json
import socket
import struct
from typing import Any

__all__ = [
    "HEADER",
    "MAX_FRAME",
    "VERSION",
    "ProtocolError",
    "decode",
    "encode",
    "frame_length",
    "peer_uid",
    "recv_frame",
    "send_frame",
]

VERSION = 1
HEADER = struct.Struct("!I")
MAX_FRAME = 64 * 1024 * 1024  # a rendered request is far smaller; a larger length is corruption


class ProtocolError(Exception):
    """A frame that is not one: too long, not JSON, not an object with an ``op``."""


def encode(msg: dict[str, Any]) -> bytes:
    body = json.dumps(msg, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise ProtocolError(f"a frame of {len(body)} bytes is over the limit of {MAX_FRAME}")
    return HEADER.pack(len(body)) + body


def decode(body: bytes) -> dict[str, Any]:
    try:
        msg = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ProtocolError(f"a frame that is not JSON: {exc}") from None
    if not isinstance(msg, dict) or not isinstance(msg.get("op"), str):
        raise ProtocolError("a frame that is not an object with an 'op'")
    return msg


def frame_length(header: bytes) -> int:
    (size,) = HEADER.unpack(header)
    if size > MAX_FRAME:
        raise ProtocolError(f"a frame of {size} bytes announced: over the limit of {MAX_FRAME}")
    return int(size)


# -- blocking sockets (``promptctl worker status|stop``) ------------------------------------------
def send_frame(sock: socket.socket, msg: dict[str, Any]) -> None:
    sock.sendall(encode(msg))


def _recv_exact(sock: socket.socket, n: int) -> bytes | None:
    chunks: list[bytes] = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            return None
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv_frame(sock: socket.socket) -> dict[str, Any] | None:
    """The next frame, or None when the peer closed the connection."""
    header = _recv_exact(sock, HEADER.size)
    if header is None:
        return None
    body = _recv_exact(sock, frame_length(header))
    if body is None:
        return None
    return decode(body)


def peer_uid(sock: socket.socket) -> int | None:
    """The uid of the process at the other end of a Unix socket (``SO_PEERCRED``, Linux), or None
    where the platform does not tell (then the private directory is the only guard)."""
    opt = getattr(socket, "SO_PEERCRED", None)
    if opt is None:
        return None
    creds = sock.getsockopt(socket.SOL_SOCKET, opt, struct.calcsize("3i"))
    _pid, uid, _gid = struct.unpack("3i", creds)
    return int(uid)
