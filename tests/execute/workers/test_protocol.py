"""Frames between a run and its workers: JSON objects with an ``op``, length-prefixed; anything else
is a ProtocolError, never code run or a hang."""

from __future__ import annotations

import json
import socket

import pytest

from promptctl.execute.workers.protocol import (
    HEADER,
    MAX_FRAME,
    ProtocolError,
    decode,
    encode,
    frame_length,
    peer_uid,
    recv_frame,
    send_frame,
)


def test_round_trip_over_a_socket_pair() -> None:
    a, b = socket.socketpair(socket.AF_UNIX)
    with a, b:
        msg = {"op": "call", "id": 7, "req": {"messages": [{"role": "user", "content": "héllo\n✓"}]}}
        send_frame(a, msg)
        send_frame(a, {"op": "status"})
        assert recv_frame(b) == msg
        assert recv_frame(b) == {"op": "status"}
        assert peer_uid(b) in (None, __import__("os").getuid())
        a.close()
        assert recv_frame(b) is None  # the peer went away


def test_frames_that_are_not_frames() -> None:
    with pytest.raises(ProtocolError, match="not JSON"):
        decode(b"\x80\x03cos\nsystem\n")  # a pickle is refused, never loaded
    with pytest.raises(ProtocolError, match="object with an 'op'"):
        decode(json.dumps([1, 2]).encode())
    with pytest.raises(ProtocolError, match="object with an 'op'"):
        decode(json.dumps({"id": 1}).encode())
    with pytest.raises(ProtocolError, match="over the limit"):
        frame_length(HEADER.pack(MAX_FRAME + 1))
    assert frame_length(encode({"op": "x"})[: HEADER.size]) == len(b'{"op":"x"}')
