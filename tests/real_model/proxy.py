"""A recording loopback proxy between promptctl and the real model server.

It forwards every request unchanged and keeps what the *server* said and when: the request
body, the status, the response (JSON, or each server-sent event of a stream with its arrival
time), the ``usage`` the server reported, and how long the server took, measured from the moment
the whole request was in the proxy until the server's last byte. The tests compare promptctl's
run records and printed figures with these, so a figure promptctl estimated or invented (instead
of taking the server's) shows up. ``close()`` shuts the port: a client that still tries to call
the model afterwards gets "connection refused", which is how an offline run is proven offline.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit


@dataclass
class Exchange:
    method: str
    path: str
    headers: dict[str, str]
    request: Any  # the parsed JSON body (None for a GET)
    received: float  # perf_counter when the whole request was in the proxy
    status: int = 0
    response: Any = None  # parsed JSON body (non-streaming)
    events: list[tuple[float, Any]] = field(default_factory=list)  # (arrival, parsed SSE data)
    finished: float = 0.0  # perf_counter after the server's last byte

    @property
    def streamed(self) -> bool:
        return bool(self.events)

    @property
    def server_ms(self) -> float:
        return (self.finished - self.received) * 1000.0

    @property
    def usage(self) -> dict[str, Any] | None:
        if isinstance(self.response, dict):
            u = self.response.get("usage")
            return u if isinstance(u, dict) else None
        for _, data in reversed(self.events):
            if isinstance(data, dict) and isinstance(data.get("usage"), dict):
                return dict(data["usage"])
        return None

    @property
    def text(self) -> str | None:
        """The answer's text as the server sent it (streamed deltas concatenated)."""
        if isinstance(self.response, dict):
            choices = self.response.get("choices") or [{}]
            content = (choices[0].get("message") or {}).get("content")
            return content if isinstance(content, str) else None
        if not self.events:
            return None
        return "".join(self.deltas)

    @property
    def deltas(self) -> list[str]:
        """The non-empty content deltas of a stream, in order."""
        out = []
        for _, data in self.events:
            if isinstance(data, dict):
                for ch in data.get("choices") or []:
                    piece = (ch.get("delta") or {}).get("content")
                    if piece:
                        out.append(piece)
        return out

    @property
    def messages(self) -> list[dict[str, Any]]:
        if isinstance(self.request, dict) and isinstance(self.request.get("messages"), list):
            return list(self.request["messages"])
        return []


class RecordingProxy:
    """``with RecordingProxy("http://127.0.0.1:PORT/v1") as p: ... p.url ... p.chat()``."""

    def __init__(self, upstream: str) -> None:
        parts = urlsplit(upstream)
        self.upstream_host = parts.hostname or "127.0.0.1"
        self.upstream_port = parts.port or 80
        self.exchanges: list[Exchange] = []
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                proxy._forward(self, None)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                proxy._forward(self, self.rfile.read(length))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.port = int(self._server.server_address[1])
        self.url = f"http://127.0.0.1:{self.port}/v1"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def __enter__(self) -> RecordingProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop listening: the port refuses connections from now on."""
        if self._thread.is_alive():
            self._server.shutdown()
            self._server.server_close()
            self._thread.join(5)

    def chats(self) -> list[Exchange]:
        with self._lock:
            return [e for e in self.exchanges if e.path.endswith("/chat/completions")]

    # -- forwarding ------------------------------------------------------------------------------
    def _forward(self, h: BaseHTTPRequestHandler, body: bytes | None) -> None:
        ex = Exchange(
            method=h.command,
            path=h.path,
            headers={k.lower(): v for k, v in h.headers.items()},
            request=json.loads(body) if body else None,
            received=time.perf_counter(),
        )
        with self._lock:
            self.exchanges.append(ex)
        conn = http.client.HTTPConnection(self.upstream_host, self.upstream_port, timeout=300)
        try:
            headers = {"Content-Type": "application/json"} if body is not None else {}
            conn.request(h.command, h.path, body=body, headers=headers)
            resp = conn.getresponse()
            ex.status = resp.status
            ctype = resp.getheader("Content-Type") or ""
            h.send_response(resp.status)
            h.send_header("Content-Type", ctype)
            if "text/event-stream" in ctype:
                h.send_header("Transfer-Encoding", "chunked")
                h.end_headers()
                self._relay_stream(h, resp, ex)
            else:
                data = resp.read()
                ex.finished = time.perf_counter()
                try:
                    ex.response = json.loads(data)
                except ValueError:
                    ex.response = data.decode("utf-8", "replace")
                h.send_header("Content-Length", str(len(data)))
                h.end_headers()
                h.wfile.write(data)
        finally:
            conn.close()

    @staticmethod
    def _relay_stream(h: BaseHTTPRequestHandler, resp: http.client.HTTPResponse, ex: Exchange) -> None:
        def send(chunk: bytes) -> None:
            h.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
            h.wfile.flush()

        while True:
            line = resp.readline()
            if not line:
                break
            stripped = line.strip()
            if stripped.startswith(b"data:"):
                payload = stripped[5:].strip()
                data: Any = payload.decode()
                if payload != b"[DONE]":
                    with contextlib.suppress(ValueError):
                        data = json.loads(payload)
                ex.events.append((time.perf_counter(), data))
            send(line)
        ex.finished = time.perf_counter()
        h.wfile.write(b"0\r\n\r\n")
        h.wfile.flush()
