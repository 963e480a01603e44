"""Embeddings through litellm's embedding API over real HTTP to the loopback server: the vector,
retries on 429, a key that never leaks into an error, a missing key variable, per-token vectors
(llama.cpp's server with a model that has no pooling) averaged, and the cache/recording text form."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest

from promptctl.execute import embeddings
from promptctl.execute.types import ModelResponse, RetryPolicy, Target
from tests.fakeserver import FakeServer, fake_embedding

KEY_ENV = "FAKE_EMBED_API_KEY"
KEY = "sk-test-embed-0123456789abcdef"
FAST = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05, retry_after_cap=0.3, timeout=5.0)


@pytest.fixture
def srv(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    monkeypatch.setenv(KEY_ENV, KEY)
    with FakeServer() as server:
        yield server


def target(srv: FakeServer, model: str = "openai/embed-model") -> Target:
    return Target(name="emb", model=model, api_base=srv.url, api_key_env=KEY_ENV)


def test_embed_returns_the_vector_and_usage(srv: FakeServer) -> None:
    r = asyncio.run(embeddings.embed(target(srv), "hello embedding world", FAST))
    assert r.status == "ok", r.error
    assert r.vector == pytest.approx(fake_embedding("hello embedding world"), abs=1e-6)
    assert r.input_tokens == 3 and r.attempts == 1 and r.retries == 0 and r.latency_ms is not None
    body = srv.stats()["embedding_bodies"][0]
    assert body["model"] == "embed-model" and body["input"] == ["hello embedding world"]
    assert srv.stats()["requests"] == 0


def test_embed_retries_a_429_then_succeeds(srv: FakeServer) -> None:
    srv.configure(faults=[{"kind": "429", "first": 1, "match": "embed-model"}])
    r = asyncio.run(embeddings.embed(target(srv), "again", FAST))
    assert r.status == "ok" and r.attempts == 2 and r.retries == 1


def test_embed_errors_are_one_line_without_the_key(srv: FakeServer, monkeypatch: pytest.MonkeyPatch) -> None:
    srv.configure(
        faults=[{"kind": "401", "always": True, "match": "embed-model", "message": f"bad key {KEY}"}]
    )
    r = asyncio.run(embeddings.embed(target(srv), "x", FAST))
    assert r.status == "error" and r.attempts == 1 and r.error and KEY not in r.error
    monkeypatch.delenv(KEY_ENV)
    r = asyncio.run(embeddings.embed(target(srv), "x", FAST))
    assert r.error == f"environment variable {KEY_ENV} is not set" and r.attempts == 0


def test_per_token_vectors_are_averaged_and_bad_shapes_refused() -> None:
    resp = {"data": [{"embedding": [[1.0, 0.0], [0.0, 1.0], [2.0, 2.0]]}]}
    assert embeddings._vector(resp) == (1.0, 1.0)
    with pytest.raises(ValueError, match="different sizes"):
        embeddings._vector({"data": [{"embedding": [[1.0], [1.0, 2.0]]}]})
    with pytest.raises(ValueError, match="no data"):
        embeddings._vector({"data": []})


def test_the_stored_form_round_trips() -> None:
    e = embeddings.EmbeddingResponse(status="ok", vector=(0.25, -0.5), input_tokens=2, cost=0.001)
    stored = embeddings.to_response(e, "emb")
    assert stored.text is not None and stored.text.startswith("f32:")
    back = embeddings.from_response(stored, "cache")
    assert back is not None and back.vector == (0.25, -0.5) and back.source == "cache" and back.cost == 0.001
    assert embeddings.from_response(ModelResponse(text="plain completion"), "cache") is None


def test_embed_refuses_endpoint_params_like_completions(srv: FakeServer) -> None:
    """The endpoint comes only from api_base: a params entry that would move it (or the key) is
    refused before any call, as for completions."""
    bad = Target(
        name="emb",
        model="openai/embed-model",
        api_base=srv.url,
        api_key_env=KEY_ENV,
        params=(("base_url", srv.url),),
    )
    r = asyncio.run(embeddings.embed(bad, "x", FAST))
    assert r.status == "error" and r.error and "'base_url' not allowed in params" in r.error
    assert srv.stats()["embedding_bodies"] == []


def test_embed_ignores_endpoint_variables_of_the_environment(
    srv: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    with FakeServer() as elsewhere:
        monkeypatch.setenv("OPENAI_BASE_URL", elsewhere.url)
        monkeypatch.setenv("OPENAI_API_BASE", elsewhere.url)
        r = asyncio.run(embeddings.embed(target(srv), "hello", FAST))
        assert r.status == "ok", r.error
        assert elsewhere.stats()["embedding_bodies"] == []
    assert "OPENAI_BASE_URL" not in os.environ and "OPENAI_API_BASE" not in os.environ
