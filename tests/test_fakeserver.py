"""The fake OpenAI server itself: plain and streamed replies, every fault, counters, subprocess mode."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests import fakeserver
from tests.fakeserver import FakeServer, make_responder

fake_server = fakeserver.fake_server  # the shared fixture, as conftest will expose it

ROOT = Path(__file__).resolve().parent.parent
HTTP = httpx.Client(timeout=5.0)  # one client: building an SSL context per request costs ~40 ms


def chat(
    srv: FakeServer, content: str = "hello world", *, timeout: float = 5.0, **extra: Any
) -> httpx.Response:
    body = {"model": "test-model", "messages": [{"role": "user", "content": content}], **extra}
    return HTTP.post(
        f"{srv.url}/chat/completions",
        json=body,
        headers={"Authorization": "Bearer sk-test"},
        timeout=timeout,
    )


def test_plain_completion_looks_like_openai(fake_server: FakeServer) -> None:
    r = chat(fake_server, "say hello please")
    assert r.status_code == 200
    data = r.json()
    assert data["object"] == "chat.completion"
    assert data["id"].startswith("chatcmpl-")
    assert isinstance(data["created"], int)
    assert data["model"] == "test-model"  # echoes the request model by default
    assert data["choices"][0]["message"] == {"role": "assistant", "content": "say hello please"}
    assert data["choices"][0]["finish_reason"] == "stop"
    assert data["usage"] == {"prompt_tokens": 3, "completion_tokens": 3, "total_tokens": 6}


def test_reported_model_and_alternate_path() -> None:
    with FakeServer(reported_model="gpt-4o-mini-2024-07-18") as srv:
        r = HTTP.post(
            f"http://127.0.0.1:{srv.port}/chat/completions",
            json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]},
        )
        assert r.json()["model"] == "gpt-4o-mini-2024-07-18"
        models = HTTP.get(f"{srv.url}/models").json()
        assert models["data"][0]["id"] == "gpt-4o-mini-2024-07-18"


def _sse_events(r: httpx.Response) -> list[str]:
    return [line[len("data: ") :] for line in r.text.split("\n") if line.startswith("data: ")]


def test_streaming_sse_with_usage(fake_server: FakeServer) -> None:
    r = chat(fake_server, "one two three", stream=True, stream_options={"include_usage": True})
    assert r.headers["content-type"] == "text/event-stream"
    events = _sse_events(r)
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    assert text == "one two three"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == 3
    assert any(c["choices"] and c["choices"][0]["finish_reason"] == "stop" for c in chunks)


def test_streaming_without_usage(fake_server: FakeServer) -> None:
    chunks = [json.loads(e) for e in _sse_events(chat(fake_server, "a b", stream=True))[:-1]]
    assert all("usage" not in c for c in chunks)


def test_keep_alive_reuses_one_connection(fake_server: FakeServer) -> None:
    with httpx.Client(base_url=fake_server.url) as client:
        for _ in range(5):
            r = client.post(
                "/chat/completions", json={"model": "m", "messages": [{"role": "user", "content": "x"}]}
            )
            assert r.status_code == 200
    assert fake_server.stats()["requests"] == 5


def test_429_with_retry_after(fake_server: FakeServer) -> None:
    fake_server.configure(faults=[{"kind": "429", "first": 1, "retry_after": 2}])
    r = chat(fake_server)
    assert r.status_code == 429
    assert r.headers["retry-after"] == "2"
    assert r.json()["error"]["type"] == "rate_limit_error"
    assert chat(fake_server).status_code == 200


def test_500_every_nth(fake_server: FakeServer) -> None:
    fake_server.configure(faults=[{"kind": "500", "every": 3}])
    codes = [chat(fake_server).status_code for _ in range(6)]
    assert codes == [200, 200, 500, 200, 200, 500]
    assert fake_server.stats()["by_status"] == {"200": 4, "500": 2}


def test_drop_closes_without_response(fake_server: FakeServer) -> None:
    fake_server.configure(faults=[{"kind": "drop", "first": 1}])
    with pytest.raises(httpx.RemoteProtocolError):
        chat(fake_server)
    assert chat(fake_server).status_code == 200
    assert fake_server.stats()["by_status"] == {"drop": 1, "200": 1}


def test_slow_exceeds_client_timeout(fake_server: FakeServer) -> None:
    fake_server.configure(faults=[{"kind": "slow", "first": 1, "seconds": 5}])
    started = time.monotonic()
    with pytest.raises(httpx.ReadTimeout):
        chat(fake_server, timeout=0.3)
    assert time.monotonic() - started < 3
    assert chat(fake_server).status_code == 200


def test_always_and_match_filter(fake_server: FakeServer) -> None:
    fake_server.configure(faults=[{"kind": "401", "always": True, "match": "bad-model"}])
    bad = {"model": "bad-model", "messages": [{"role": "user", "content": "x"}]}
    for _ in range(3):
        assert HTTP.post(f"{fake_server.url}/chat/completions", json=bad).status_code == 401
    assert chat(fake_server).status_code == 200


def test_seeded_probability_is_reproducible(fake_server: FakeServer) -> None:
    fake_server.configure(faults=[{"kind": "503", "p": 0.5, "seed": 3}])
    first = [chat(fake_server).status_code for _ in range(12)]
    fake_server.reset()
    second = [chat(fake_server).status_code for _ in range(12)]
    assert first == second
    assert 503 in first and 200 in first


def test_schedule(fake_server: FakeServer) -> None:
    fake_server.configure(schedule=["429", None, "500"])
    assert [chat(fake_server).status_code for _ in range(4)] == [429, 200, 500, 200]


def test_counters_bodies_auth_and_reset(fake_server: FakeServer) -> None:
    chat(fake_server, "first")
    chat(fake_server, "second")
    stats = fake_server.stats()
    assert stats["requests"] == 2
    assert stats["auth_headers"] == ["Bearer sk-test", "Bearer sk-test"]
    assert [b["messages"][0]["content"] for b in stats["bodies"]] == ["first", "second"]
    assert stats["in_flight"] == 0
    fake_server.reset()
    assert fake_server.stats()["requests"] == 0
    fake_server.configure(record_bodies=False)
    chat(fake_server)
    assert fake_server.stats()["bodies"] == [] and fake_server.stats()["requests"] == 1


def test_max_in_flight_counts_concurrency() -> None:
    with FakeServer(latency=0.4) as srv:
        threads = [threading.Thread(target=chat, args=(srv,)) for _ in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        stats = srv.stats()
        assert stats["requests"] == 16
        assert stats["max_in_flight"] >= 12  # generous: thread start-up is not instantaneous
        assert stats["in_flight"] == 0


def test_callable_responder_and_rules() -> None:
    with FakeServer(responder=lambda req: req["model"].upper()) as srv:
        assert chat(srv).json()["choices"][0]["message"]["content"] == "TEST-MODEL"
    rules = make_responder(
        {"mode": "rules", "rules": [{"match": r"capital of France", "reply": "Paris"}], "default": "?"}
    )
    msg = {
        "messages": [
            {"role": "system", "content": "Be terse."},
            {"role": "user", "content": "capital of France"},
        ]
    }
    assert rules(msg) == "Paris"
    assert rules({"messages": [{"role": "user", "content": "other"}]}) == "?"
    assert make_responder({"mode": "fixed", "reply": "ok"})({}) == "ok"


def test_bernoulli_is_deterministic_and_rule_driven() -> None:
    spec = {"mode": "bernoulli", "p": 0.5, "seed": 1, "rules": [{"match": "v2", "p": 0.0}]}
    req = {"model": "m", "messages": [{"role": "user", "content": "prompt v1"}]}
    a, b = make_responder(spec), make_responder(spec)
    seq_a = [a(req) for _ in range(40)]
    assert seq_a == [b(req) for _ in range(40)]
    assert 5 < seq_a.count("PASS") < 35
    v2 = {"model": "m", "messages": [{"role": "user", "content": "prompt v2"}]}
    assert {a(v2) for _ in range(20)} == {"FAIL"}
    always = make_responder({"mode": "bernoulli", "p": 1.0, "pass": "yes", "fail": "no"})
    assert always(req) == "yes"


def test_responder_failure_is_a_visible_500() -> None:
    def boom(_req: dict[str, Any]) -> str:
        raise RuntimeError("bad responder")

    with FakeServer(responder=boom) as srv:
        r = chat(srv)
        assert r.status_code == 500 and "bad responder" in r.text


@pytest.fixture
def subprocess_server() -> Iterator[str]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.fakeserver",
            "--port",
            "0",
            "--latency",
            "0.01",
            "--spec",
            json.dumps({"mode": "fixed", "reply": "from subprocess"}),
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        port = int(proc.stdout.readline())
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        assert proc.wait(10) == 0


def test_subprocess_mode_stats_and_config(subprocess_server: str) -> None:
    base = subprocess_server
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    assert HTTP.post(f"{base}/v1/chat/completions", json=body).json()["choices"][0]["message"]["content"] == (
        "from subprocess"
    )
    r = HTTP.post(f"{base}/_config", json={"faults": [{"kind": "500", "always": True}], "reset": True})
    assert r.json() == {"ok": True}
    assert HTTP.post(f"{base}/v1/chat/completions", json=body).status_code == 500
    stats = HTTP.get(f"{base}/_stats").json()
    assert stats["requests"] == 1 and stats["by_status"] == {"500": 1}
    assert HTTP.post(f"{base}/_config", json={"nonsense": 1}).status_code == 400
    HTTP.post(f"{base}/_reset")
    assert HTTP.get(f"{base}/_stats").json()["requests"] == 0


def test_embeddings_are_deterministic_bag_of_words_vectors(fake_server: FakeServer) -> None:
    r = HTTP.post(f"{fake_server.url}/embeddings", json={"model": "emb", "input": ["b a", "a b", "zzz"]})
    assert r.status_code == 200
    body = r.json()
    vecs = [d["embedding"] for d in body["data"]]
    assert [d["index"] for d in body["data"]] == [0, 1, 2] and body["model"] == "emb"
    assert vecs[0] == vecs[1] == fakeserver.fake_embedding("A B") and len(vecs[0]) == fakeserver.EMBED_DIMS
    assert abs(sum(v * v for v in vecs[2]) - 1.0) < 1e-4
    assert body["usage"] == {"prompt_tokens": 5, "total_tokens": 5}
    single = HTTP.post(f"{fake_server.url}/embeddings", json={"model": "emb", "input": "b a"}).json()
    assert single["data"][0]["embedding"] == vecs[0]
    bad = HTTP.post(f"{fake_server.url}/embeddings", json={"model": "emb", "input": [1, 2]})
    assert bad.status_code == 400
    st = fake_server.stats()
    assert st["embeddings"] == 2 and st["requests"] == 0  # a malformed one is not; chat is counted apart
    fake_server.configure(faults=[{"kind": "503", "always": True, "match": "broken"}])
    assert (
        HTTP.post(f"{fake_server.url}/embeddings", json={"model": "broken", "input": "x"}).status_code == 503
    )
    assert HTTP.post(f"{fake_server.url}/embeddings", json={"model": "emb", "input": "x"}).status_code == 200
