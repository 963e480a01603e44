"""A real OpenAI-compatible HTTP server on 127.0.0.1: test fixture and benchmark target.

Why a server and not mocks: promptctl's model layer is only trustworthy if it is exercised through
litellm's real HTTP stack (timeouts, dropped connections, Retry-After headers, SSE parsing). This
server speaks just enough HTTP/1.1 (keep-alive, Content-Length and chunked bodies) to be driven by
httpx/aiohttp/urllib, and is pure stdlib asyncio so that one process on 2 cores sustains hundreds
of concurrent connections for benchmarks.

Two ways to run it:

* in-process: ``with FakeServer(spec={"mode": "echo"}, latency=0.1) as srv: srv.url`` (a
  background thread with its own event loop); ``srv.configure(...)``, ``srv.stats()``,
  ``srv.reset()``; a Python ``responder(request_json) -> str`` may replace the spec;
* subprocess: ``python -m tests.fakeserver --port 0 --latency 0.1 --spec JSON --faults JSON``
  prints the port on its first stdout line; ``GET /_stats`` returns the counters as JSON,
  ``POST /_config`` takes the same keys as :meth:`FakeServer.configure` (plus ``"reset": true``),
  ``POST /_reset`` clears the counters.

Reply specs (JSON-serialisable, see :func:`make_responder`)::

    {"mode": "echo"}                                    # last user message
    {"mode": "fixed", "reply": "hello"}
    {"mode": "rules", "rules": [{"match": REGEX, "reply": STR}], "default": STR}
    {"mode": "bernoulli", "p": 0.8, "pass": "PASS", "fail": "FAIL", "seed": 1,
     "rules": [{"match": REGEX, "p": 0.3}]}             # p chosen by the first matching rule

Rules match (``re.search``, DOTALL) against the request's message contents joined by newlines.
Bernoulli draws are deterministic: a hash of (seed, request body, how many times this exact body
was seen before), so results do not depend on the order concurrent requests arrive in.

Faults (a list, first applicable wins; see :class:`Fault`)::

    {"kind": "429", "first": 2, "retry_after": 1}       # first 2 matching requests
    {"kind": "500", "every": 3}                         # every 3rd matching request
    {"kind": "drop", "p": 0.1, "seed": 7}               # seeded random 10 %
    {"kind": "slow", "first": 1, "seconds": 5}          # sleep longer than the client timeout
    {"kind": "500", "always": true}                     # retries exhausted
    {"kind": "401", "always": true, "match": "gpt-bad"} # only requests whose body matches

Embeddings (``POST /v1/embeddings``): a deterministic bag-of-words vector of :data:`EMBED_DIMS`
dimensions (each lower-cased word adds ±1 to a dimension chosen by its hash, then the vector is
normalised), so texts sharing words are close and texts sharing none are near-orthogonal, the
same text always gets the same vector. Counted in ``embeddings`` (not ``requests``); ``faults``
with a ``match`` apply to them too (``schedule`` does not).

``kind`` is ``drop``, ``slow`` or any HTTP status code. A fault's ``first``/``every`` count only
the requests it matches. ``schedule`` is a simpler alternative: a list of kinds (or null for a
normal reply) applied to the 1st, 2nd, ... chat request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import random
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

Responder = Callable[[dict[str, Any]], str]

HOST = "127.0.0.1"
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    408: "Request Timeout",
    409: "Conflict",
    413: "Payload Too Large",
    422: "Unprocessable Entity",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "invalid_request_error",
    403: "permission_error",
    404: "invalid_request_error",
    429: "rate_limit_error",
}
_ERROR_CODES = {401: "invalid_api_key", 404: "model_not_found", 429: "rate_limit_exceeded"}


# --------------------------------------------------------------------------------------------
# Reply content
# --------------------------------------------------------------------------------------------


def _content_text(content: Any) -> str:
    """Message content may be a string or a list of parts (``{"type": "text", "text": ...}``)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") for p in content if isinstance(p, dict))
    return "" if content is None else str(content)


def joined_messages(request: dict[str, Any]) -> str:
    return "\n".join(_content_text(m.get("content")) for m in request.get("messages") or [])


def last_user_message(request: dict[str, Any]) -> str:
    for m in reversed(request.get("messages") or []):
        if m.get("role") == "user":
            return _content_text(m.get("content"))
    return ""


def make_responder(spec: dict[str, Any] | None) -> Responder:
    """Turn a JSON-serialisable reply spec into a ``responder(request_json) -> str``."""
    spec = dict(spec or {"mode": "echo"})
    mode = spec.get("mode", "echo")
    if mode == "echo":
        return last_user_message
    if mode == "fixed":
        reply = str(spec.get("reply", ""))
        return lambda _req: reply
    if mode == "rules":
        rules = [(re.compile(r["match"], re.DOTALL), str(r["reply"])) for r in spec.get("rules", [])]
        default = spec.get("default")

        def by_rules(req: dict[str, Any]) -> str:
            text = joined_messages(req)
            for rx, reply in rules:
                if rx.search(text):
                    return reply
            return last_user_message(req) if default is None else str(default)

        return by_rules
    if mode == "bernoulli":
        p_default = float(spec.get("p", 0.5))
        p_rules = [(re.compile(r["match"], re.DOTALL), float(r["p"])) for r in spec.get("rules", [])]
        pass_text, fail_text = str(spec.get("pass", "PASS")), str(spec.get("fail", "FAIL"))
        seed = spec.get("seed", 0)
        seen: dict[str, int] = {}
        lock = threading.Lock()

        def bernoulli(req: dict[str, Any]) -> str:
            text = joined_messages(req)
            p = next((p for rx, p in p_rules if rx.search(text)), p_default)
            key = json.dumps(req, sort_keys=True, default=str)
            with lock:
                n = seen.get(key, 0)
                seen[key] = n + 1
            digest = hashlib.sha256(f"{seed}|{n}|{key}".encode()).digest()
            draw = int.from_bytes(digest[:8], "big") / 2**64
            return pass_text if draw < p else fail_text

        return bernoulli
    raise ValueError(f"unknown responder mode {mode!r}")


EMBED_DIMS = 64
_WORD = re.compile(r"\w+")


def fake_embedding(text: str) -> list[float]:
    """The test server's embedding of ``text`` (see the module docstring)."""
    vec = [0.0] * EMBED_DIMS
    for word in _WORD.findall(text.lower()):
        h = hashlib.sha256(word.encode("utf-8")).digest()
        vec[h[0] % EMBED_DIMS] += 1.0 if h[1] & 1 else -1.0
    norm = sum(v * v for v in vec) ** 0.5
    return [round(v / norm, 6) for v in vec] if norm else vec


def count_words(text: str) -> int:
    return len(text.split())


# --------------------------------------------------------------------------------------------
# Faults
# --------------------------------------------------------------------------------------------


@dataclass
class Fault:
    """One fault rule. Exactly one trigger among ``always``/``first``/``every``/``p`` is expected;
    with several, any of them fires. ``match`` restricts it to requests whose raw body matches."""

    kind: str  # "drop" | "slow" | an HTTP status such as "429", "500", "401"
    first: int | None = None
    every: int | None = None
    p: float | None = None
    seed: int = 0
    always: bool = False
    retry_after: float | None = None  # 429: value of the Retry-After header (seconds)
    seconds: float = 30.0  # slow: how long to stall before answering
    message: str | None = None  # error body message
    match: str | None = None
    _seen: int = field(default=0, repr=False)
    _rng: random.Random = field(default_factory=random.Random, repr=False)
    _rx: re.Pattern[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        self.kind = str(self.kind)
        self._rng = random.Random(self.seed)
        self._rx = re.compile(self.match, re.DOTALL) if self.match else None

    @classmethod
    def from_any(cls, value: Fault | dict[str, Any]) -> Fault:
        if isinstance(value, Fault):
            return value
        known = {k: v for k, v in value.items() if not k.startswith("_") and k in cls.__dataclass_fields__}
        return cls(**known)

    def fires(self, raw_body: str) -> bool:
        if self._rx is not None and not self._rx.search(raw_body):
            return False
        self._seen += 1
        n = self._seen
        hit = self.always
        hit = hit or (self.first is not None and n <= self.first)
        hit = hit or (self.every is not None and self.every > 0 and n % self.every == 0)
        if self.p is not None:
            hit = (self._rng.random() < self.p) or hit
        return hit


# --------------------------------------------------------------------------------------------
# HTTP plumbing
# --------------------------------------------------------------------------------------------


class _BadRequest(Exception):
    pass


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    keep_alive: bool


async def _read_request(reader: asyncio.StreamReader) -> _Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    except asyncio.LimitOverrunError as e:
        raise _BadRequest("headers too large") from e
    lines = head.decode("latin-1").split("\r\n")
    try:
        method, target, version = lines[0].split(" ", 2)
    except ValueError as e:
        raise _BadRequest("bad request line") from e
    headers: dict[str, str] = {}
    for line in lines[1:]:
        if not line:
            continue
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        parts = []
        while True:
            size_line = await reader.readuntil(b"\r\n")
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # trailer end (no trailers supported)
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    else:
        length = int(headers.get("content-length", "0") or 0)
        body = await reader.readexactly(length) if length else b""
    conn = headers.get("connection", "").lower()
    keep_alive = conn != "close" if version.upper() == "HTTP/1.1" else conn == "keep-alive"
    path = target.split("?", 1)[0]
    return _Request(method.upper(), path, headers, body, keep_alive)


def _head(status: int, headers: dict[str, str]) -> bytes:
    lines = [f"HTTP/1.1 {status} {_REASONS.get(status, 'Status')}"]
    lines += [f"{k}: {v}" for k, v in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def _json_response(status: int, payload: Any, keep_alive: bool, extra: dict[str, str] | None = None) -> bytes:
    body = json.dumps(payload).encode()
    headers = {
        "Content-Type": "application/json",
        "Content-Length": str(len(body)),
        "Connection": "keep-alive" if keep_alive else "close",
    }
    headers.update(extra or {})
    return _head(status, headers) + body


def _chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------

_CONFIG_KEYS = ("spec", "latency", "jitter", "faults", "schedule", "reported_model", "record_bodies", "seed")


class FakeServer:
    """OpenAI-compatible server on 127.0.0.1. Use as a context manager (thread mode) or via
    :func:`main` (subprocess mode). Every public method is safe to call from any thread."""

    def __init__(
        self,
        *,
        spec: dict[str, Any] | None = None,
        responder: Responder | None = None,
        latency: float = 0.0,
        jitter: float = 0.0,
        faults: list[Fault | dict[str, Any]] | None = None,
        schedule: list[str | None] | None = None,
        reported_model: str | None = None,
        record_bodies: bool = True,
        seed: int = 0,
        port: int = 0,
    ) -> None:
        self._lock = threading.Lock()
        self._port_wanted = port
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._server: asyncio.AbstractServer | None = None
        self._conn_tasks: set[asyncio.Task[None]] = set()
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None
        self._stopping: asyncio.Event | None = None
        # configuration (set through configure so the rules live in one place)
        self.spec: dict[str, Any] | None = None
        self._responder: Responder = last_user_message
        self.latency = 0.0
        self.jitter = 0.0
        self.faults: list[Fault] = []
        self.schedule: list[str | None] = []
        self.reported_model: str | None = None
        self.record_bodies = True
        self._rng = random.Random(seed)
        self.configure(
            spec=spec,
            latency=latency,
            jitter=jitter,
            faults=faults or [],
            schedule=schedule or [],
            reported_model=reported_model,
            record_bodies=record_bodies,
        )
        if responder is not None:
            self._responder = responder
        self._reset_counters()

    # ---------------------------------------------------------------- configuration / counters

    def configure(self, **changes: Any) -> None:
        """Change behaviour on the fly. Keys: spec, responder, latency, jitter, faults, schedule,
        reported_model, record_bodies, seed. Faults and schedule restart their own counting."""
        unknown = set(changes) - set(_CONFIG_KEYS) - {"responder"}
        if unknown:
            raise ValueError(f"unknown FakeServer settings: {sorted(unknown)}")
        with self._lock:
            if "spec" in changes:
                self.spec = changes["spec"]
                self._responder = make_responder(self.spec)
            if changes.get("responder") is not None:
                self._responder = changes["responder"]
            if "latency" in changes:
                self.latency = float(changes["latency"] or 0.0)
            if "jitter" in changes:
                self.jitter = float(changes["jitter"] or 0.0)
            if "faults" in changes:
                self.faults = [Fault.from_any(f) for f in changes["faults"] or []]
            if "schedule" in changes:
                self.schedule = list(changes["schedule"] or [])
                self._schedule_pos = 0
            if "reported_model" in changes:
                self.reported_model = changes["reported_model"]
            if "record_bodies" in changes:
                self.record_bodies = bool(changes["record_bodies"])
            if "seed" in changes:
                self._rng = random.Random(changes["seed"])

    def _reset_counters(self) -> None:
        with self._lock:
            self.requests = 0  # chat completion requests received
            self.embeddings = 0  # embedding requests received
            self.embedding_bodies: list[dict[str, Any]] = []
            self.by_status: dict[str, int] = {}  # "200", "429", "drop", "slow" ...
            self.in_flight = 0
            self.max_in_flight = 0
            self.bodies: list[dict[str, Any]] = []
            self.auth_headers: list[str | None] = []
            self.paths: list[str] = []
            self._schedule_pos = 0
            for f in self.faults:
                f._seen = 0
                f._rng = random.Random(f.seed)

    def reset(self) -> None:
        """Clear counters and restart fault/schedule counting (configuration is kept)."""
        self._reset_counters()

    def stats(self) -> dict[str, Any]:
        """A consistent JSON-serialisable snapshot of the counters."""
        with self._lock:
            return {
                "requests": self.requests,
                "embeddings": self.embeddings,
                "embedding_bodies": list(self.embedding_bodies),
                "by_status": dict(self.by_status),
                "in_flight": self.in_flight,
                "max_in_flight": self.max_in_flight,
                "bodies": list(self.bodies),
                "auth_headers": list(self.auth_headers),
                "paths": list(self.paths),
            }

    @property
    def url(self) -> str:
        """Base URL to hand to an OpenAI client (``api_base``)."""
        return f"http://{HOST}:{self.port}/v1"

    # ---------------------------------------------------------------- lifecycle (thread mode)

    def start(self) -> FakeServer:
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._thread_main, name="fakeserver", daemon=True)
        self._thread.start()
        self._ready.wait(10)
        if self._startup_error is not None:
            raise RuntimeError("fake server failed to start") from self._startup_error
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        with contextlib.suppress(RuntimeError):  # loop already closed
            loop.call_soon_threadsafe(self._request_stop)
        thread.join(10)
        self._thread = None
        self._loop = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _thread_main(self) -> None:
        try:
            asyncio.run(self.serve())
        except BaseException as e:  # pragma: no cover - surfaced through start()
            self._startup_error = e
            self._ready.set()

    def _request_stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()

    async def serve(self, on_ready: Callable[[int], None] | None = None) -> None:
        """Run until :meth:`stop` (or :meth:`_request_stop` from inside the loop)."""
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        self._server = await asyncio.start_server(
            self._handle_conn, HOST, self._port_wanted, backlog=1024, limit=1 << 20
        )
        self.port = self._server.sockets[0].getsockname()[1]
        self._ready.set()
        if on_ready is not None:
            on_ready(self.port)
        try:
            await self._stopping.wait()
        finally:
            self._server.close()
            for task in list(self._conn_tasks):
                task.cancel()
            if self._conn_tasks:
                await asyncio.gather(*self._conn_tasks, return_exceptions=True)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 2)

    # ---------------------------------------------------------------- connection handling

    async def _handle_conn(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._conn_tasks.add(task)
        try:
            while True:
                try:
                    req = await _read_request(reader)
                except _BadRequest as e:
                    writer.write(_json_response(400, {"error": {"message": str(e)}}, False))
                    await writer.drain()
                    return
                except (asyncio.IncompleteReadError, ConnectionError, ValueError):
                    return
                if req is None:
                    return
                keep = await self._dispatch(req, writer)
                if not keep:
                    return
        except (ConnectionError, asyncio.CancelledError):
            pass
        finally:
            self._conn_tasks.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _dispatch(self, req: _Request, writer: asyncio.StreamWriter) -> bool:
        """Answer one request; return whether the connection stays open."""
        path = req.path.rstrip("/")
        if req.method == "POST" and path in ("/v1/chat/completions", "/chat/completions"):
            return await self._chat(req, writer)
        if req.method == "POST" and path in ("/v1/embeddings", "/embeddings"):
            return await self._embeddings(req, writer)
        if req.method == "GET" and path in ("/v1/models", "/models"):
            model = self.reported_model or "fake-model"
            payload = {
                "object": "list",
                "data": [{"id": model, "object": "model", "created": 0, "owned_by": "fakeserver"}],
            }
            writer.write(_json_response(200, payload, req.keep_alive))
        elif req.method == "GET" and path == "/_stats":
            writer.write(_json_response(200, self.stats(), req.keep_alive))
        elif req.method == "POST" and path == "/_reset":
            self.reset()
            writer.write(_json_response(200, {"ok": True}, req.keep_alive))
        elif req.method == "POST" and path == "/_config":
            try:
                changes = json.loads(req.body or b"{}")
                reset = bool(changes.pop("reset", False))
                self.configure(**changes)
                if reset:
                    self.reset()
            except (ValueError, TypeError) as e:
                writer.write(_json_response(400, {"error": {"message": str(e)}}, req.keep_alive))
            else:
                writer.write(_json_response(200, {"ok": True}, req.keep_alive))
        else:
            writer.write(_json_response(404, {"error": {"message": f"no route {req.path}"}}, req.keep_alive))
        await writer.drain()
        return req.keep_alive

    def _pick_fault(self, raw: str) -> Fault | None:
        """Called with the lock held: the first fault (schedule entry first) for this request."""
        if self._schedule_pos < len(self.schedule):
            kind = self.schedule[self._schedule_pos]
            self._schedule_pos += 1
            if kind:
                return Fault(kind=str(kind))
        for f in self.faults:
            if f.fires(raw):
                return f
        return None

    async def _embeddings(self, req: _Request, writer: asyncio.StreamWriter) -> bool:
        raw = req.body.decode("utf-8", "replace")
        try:
            body = json.loads(raw) if raw else {}
            texts = body.get("input") if isinstance(body, dict) else None
            if isinstance(texts, str):
                texts = [texts]
            if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts):
                raise ValueError("input must be a string or a list of strings")
        except ValueError as e:
            writer.write(_json_response(400, {"error": {"message": str(e)}}, req.keep_alive))
            await writer.drain()
            return req.keep_alive
        with self._lock:
            self.embeddings += 1
            if self.record_bodies:
                self.embedding_bodies.append(body)
            fault = next((f for f in self.faults if f._rx is not None and f.fires(raw)), None)
        if fault is not None and fault.kind not in ("drop", "slow"):
            status = int(fault.kind)
            self._count(f"embeddings {status}")
            err = {
                "error": {
                    "message": fault.message or f"fake {status} error",
                    "code": _ERROR_CODES.get(status),
                }
            }
            writer.write(_json_response(status, err, req.keep_alive))
            await writer.drain()
            return req.keep_alive
        tokens = sum(count_words(t) for t in texts)
        payload = {
            "object": "list",
            "data": [
                {"object": "embedding", "index": i, "embedding": fake_embedding(t)}
                for i, t in enumerate(texts)
            ],
            "model": str(body.get("model", "fake-embedding")),
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
        }
        self._count("embeddings 200")
        writer.write(_json_response(200, payload, req.keep_alive))
        await writer.drain()
        return req.keep_alive

    def _count(self, outcome: str) -> None:
        with self._lock:
            self.by_status[outcome] = self.by_status.get(outcome, 0) + 1

    async def _chat(self, req: _Request, writer: asyncio.StreamWriter) -> bool:
        raw = req.body.decode("utf-8", "replace")
        try:
            body = json.loads(raw) if raw else {}
            if not isinstance(body, dict):
                raise ValueError("body must be a JSON object")
        except ValueError as e:
            self._count("400")
            writer.write(_json_response(400, {"error": {"message": f"invalid JSON: {e}"}}, req.keep_alive))
            await writer.drain()
            return req.keep_alive
        with self._lock:
            self.requests += 1
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
            if self.record_bodies:
                self.bodies.append(body)
                self.auth_headers.append(req.headers.get("authorization"))
                self.paths.append(req.path)
            fault = self._pick_fault(raw)
            delay = self.latency + (self._rng.uniform(0, self.jitter) if self.jitter else 0.0)
            responder = self._responder
            reported = self.reported_model
        done = False
        slow = False

        def finish(outcome: str | None) -> None:
            """Count the outcome and leave in-flight *before* answering: a client that has its
            answer must already see it in the stats. Idempotent."""
            nonlocal done
            with self._lock:
                if outcome is not None:
                    self.by_status[outcome] = self.by_status.get(outcome, 0) + 1
                if not done:
                    done = True
                    self.in_flight -= 1

        try:
            if delay > 0:
                await asyncio.sleep(delay)
            if fault is not None:
                if fault.kind == "drop":
                    finish("drop")
                    return False  # the caller closes the connection without a response
                if fault.kind == "slow":
                    self._count("slow")
                    slow = True
                    await asyncio.sleep(fault.seconds)
                else:
                    status = int(fault.kind)
                    finish(str(status))
                    msg = fault.message or f"fake {status} error"
                    err = {
                        "error": {
                            "message": msg,
                            "type": _ERROR_TYPES.get(status, "server_error"),
                            "param": None,
                            "code": _ERROR_CODES.get(status),
                        }
                    }
                    extra = {}
                    if status == 429 and fault.retry_after is not None:
                        ra = fault.retry_after
                        extra["Retry-After"] = str(int(ra)) if float(ra).is_integer() else str(ra)
                    writer.write(_json_response(status, err, req.keep_alive, extra))
                    await writer.drain()
                    return req.keep_alive
            try:
                text = responder(body)
            except Exception as e:  # a test's responder blew up: answer 500, visibly
                finish("500")
                err = {"error": {"message": f"responder failed: {e!r}", "type": "server_error"}}
                writer.write(_json_response(500, err, req.keep_alive))
                await writer.drain()
                return req.keep_alive
            model = reported or str(body.get("model", "fake-model"))
            prompt_tokens = max(1, count_words(joined_messages(body)))
            completion_tokens = count_words(text)
            usage = {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
            }
            cid = "chatcmpl-" + hashlib.sha1(f"{time.time_ns()}{id(body)}".encode()).hexdigest()[:24]
            created = int(time.time())
            finish(None if slow else "200")
            if body.get("stream"):
                await self._stream(writer, req, body, text, model, usage, cid, created)
            else:
                payload = {
                    "id": cid,
                    "object": "chat.completion",
                    "created": created,
                    "model": model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": text},
                            "logprobs": None,
                            "finish_reason": "stop",
                        }
                    ],
                    "usage": usage,
                    "system_fingerprint": "fp_fake",
                }
                writer.write(_json_response(200, payload, req.keep_alive))
                await writer.drain()
            return req.keep_alive
        finally:
            finish(None)

    async def _stream(
        self,
        writer: asyncio.StreamWriter,
        req: _Request,
        body: dict[str, Any],
        text: str,
        model: str,
        usage: dict[str, int],
        cid: str,
        created: int,
    ) -> None:
        headers = {
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-cache",
            "Transfer-Encoding": "chunked",
            "Connection": "keep-alive" if req.keep_alive else "close",
        }
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))

        def event(delta: dict[str, Any], finish: str | None, with_usage: bool = False) -> bytes:
            chunk: dict[str, Any] = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if include_usage:
                chunk["usage"] = usage if with_usage else None
            return _chunk(b"data: " + json.dumps(chunk).encode() + b"\n\n")

        out = [_head(200, headers), event({"role": "assistant", "content": ""}, None)]
        pieces = re.findall(r"\S+\s*|\s+", text) or []
        out += [event({"content": p}, None) for p in pieces]
        out.append(event({}, "stop"))
        if include_usage:
            final = {
                "id": cid,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_fake",
                "choices": [],
                "usage": usage,
            }
            out.append(_chunk(b"data: " + json.dumps(final).encode() + b"\n\n"))
        out.append(_chunk(b"data: [DONE]\n\n"))
        out.append(b"0\r\n\r\n")
        writer.write(b"".join(out))
        await writer.drain()


# --------------------------------------------------------------------------------------------
# pytest fixtures (imported by tests/conftest.py)
# --------------------------------------------------------------------------------------------

try:
    import pytest
except ImportError:  # pragma: no cover - subprocess/benchmark use without pytest installed
    pytest = None  # type: ignore[assignment]

if pytest is not None:

    @pytest.fixture
    def fake_server() -> Iterator[FakeServer]:
        """A fresh echo server (no latency, no faults) per test; reconfigure with ``configure``."""
        with FakeServer() as srv:
            yield srv


# --------------------------------------------------------------------------------------------
# subprocess mode
# --------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fakeserver", description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--jitter", type=float, default=0.0)
    ap.add_argument("--spec", default=None, help="reply spec as JSON")
    ap.add_argument("--faults", default=None, help="list of faults as JSON")
    ap.add_argument("--schedule", default=None, help="list of fault kinds (or null) as JSON")
    ap.add_argument("--reported-model", default=None)
    ap.add_argument("--no-record-bodies", action="store_true")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    srv = FakeServer(
        spec=json.loads(args.spec) if args.spec else None,
        latency=args.latency,
        jitter=args.jitter,
        faults=json.loads(args.faults) if args.faults else None,
        schedule=json.loads(args.schedule) if args.schedule else None,
        reported_model=args.reported_model,
        record_bodies=not args.no_record_bodies,
        seed=args.seed,
        port=args.port,
    )

    def ready(port: int) -> None:
        print(port, flush=True)
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, srv._request_stop)

    asyncio.run(srv.serve(on_ready=ready))
    return 0


if __name__ == "__main__":
    sys.exit(main())
