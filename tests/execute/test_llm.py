"""The model layer through litellm's real HTTP stack against the fake OpenAI server on loopback."""

from __future__ import annotations

import asyncio
import logging
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptctl.execute import failures, llm, ratelimit
from promptctl.execute.types import ModelRequest, ModelResponse, RetryPolicy, Target
from tests.fakeserver import FakeServer

ROOT = Path(__file__).resolve().parents[2]
KEY_ENV = "FAKE_PROVIDER_API_KEY"
KEY = "sk-test-s3cr3t-0123456789abcdef"
FAST = RetryPolicy(max_retries=2, base_delay=0.01, max_delay=0.05, retry_after_cap=0.3, timeout=5.0)


@pytest.fixture(scope="module")
def warm_litellm() -> Iterator[None]:
    """Pay litellm's import (~2 s) and first-call set-up (~0.5 s) once per module."""
    llm.ensure_litellm()
    with FakeServer() as srv:
        mp = pytest.MonkeyPatch()
        mp.setenv(KEY_ENV, KEY)
        try:
            resp = asyncio.run(llm.complete(request(srv), FAST))
            assert resp.status == "ok", resp.error
        finally:
            mp.undo()
    yield


@pytest.fixture
def srv(warm_litellm: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    monkeypatch.setenv(KEY_ENV, KEY)
    with FakeServer() as server:
        yield server


def target(srv: FakeServer, name: str = "primary", model: str = "openai/test-model", **kw: Any) -> Target:
    return Target(name=name, model=model, api_base=srv.url, api_key_env=KEY_ENV, **kw)


def request(srv: FakeServer, content: str = "hello there", **kw: Any) -> ModelRequest:
    return ModelRequest(target=target(srv), messages=[{"role": "user", "content": content}], **kw)


def run(req: ModelRequest, policy: RetryPolicy = FAST, **kw: Any) -> ModelResponse:
    return asyncio.run(llm.complete(req, policy, **kw))


def test_importing_llm_does_not_import_litellm() -> None:
    code = "import sys, promptctl.execute.llm; assert 'litellm' not in sys.modules, 'litellm imported'"
    subprocess.run([sys.executable, "-c", code], cwd=ROOT, check=True, timeout=60)


def test_success(srv: FakeServer) -> None:
    srv.configure(reported_model="test-model-2024-07-18")
    resp = run(request(srv, "the quick brown fox"))
    assert resp.status == "ok", resp.error
    assert resp.text == "the quick brown fox"
    assert resp.input_tokens == 4 and resp.output_tokens == 4
    assert resp.finish_reason == "stop"
    assert resp.answered_by == "primary"
    assert resp.provider_model == "test-model-2024-07-18"
    assert (resp.attempts, resp.retries) == (1, 0)
    assert resp.latency_ms is not None and resp.latency_ms > 0
    assert resp.cost is None  # not in litellm's price table
    assert resp.source == "live"
    assert srv.stats()["auth_headers"] == [f"Bearer {KEY}"]


def test_params_are_sent(srv: FakeServer) -> None:
    req = request(srv, params={"temperature": 0.2, "max_tokens": 7})
    assert run(req).status == "ok"
    body = srv.stats()["bodies"][0]
    assert body["temperature"] == 0.2 and body["max_tokens"] == 7
    assert body["model"] == "test-model"


def test_streaming_assembles_text_and_calls_on_token(srv: FakeServer) -> None:
    tokens: list[str] = []
    resp = run(request(srv, "one two three four"), on_token=tokens.append)
    assert resp.status == "ok", resp.error
    assert resp.text == "one two three four" == "".join(tokens)
    assert len(tokens) >= 4
    assert resp.output_tokens == 4 and resp.input_tokens == 4  # from the usage chunk
    assert resp.finish_reason == "stop"
    body = srv.stats()["bodies"][0]
    assert body["stream"] is True and body["stream_options"] == {"include_usage": True}


def test_a_key_the_provider_sends_back_is_masked_streamed_or_not(srv: FakeServer) -> None:
    srv.configure(spec={"mode": "fixed", "reply": f"the key is {KEY} ok"})
    tokens: list[str] = []
    streamed = run(request(srv), on_token=tokens.append)
    plain = run(request(srv, "again"))
    assert streamed.text == plain.text == "".join(tokens) == "the key is *** ok"
    assert all(KEY[:8] not in t for t in tokens)


def test_a_stream_without_usage_has_estimated_token_counts(srv: FakeServer) -> None:
    """The server sends usage only when asked (stream_options.include_usage): without it the
    counts are promptctl's estimate, and the response says so; with it, they are the server's."""
    reported = run(request(srv, "one two three four"), on_token=lambda _t: None)
    assert (reported.input_tokens, reported.output_tokens, reported.tokens_estimated) == (4, 4, False)
    no_usage = request(srv, "one two three four", params={"stream_options": {"include_usage": False}})
    estimated = run(no_usage, on_token=lambda _t: None)
    assert estimated.status == "ok" and estimated.tokens_estimated is True
    assert estimated.input_tokens and estimated.output_tokens  # an estimate, never 0/0
    assert run(request(srv, "one two")).tokens_estimated is False  # not streamed: the server's usage


def test_litellms_own_error_log_lines_are_masked(
    warm_litellm: None, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]
) -> None:
    plain = "hunter2-plain-looking-value"  # nothing litellm's own redaction recognises as a key
    monkeypatch.setenv("LOCAL_LLM_API_KEY", plain)
    logging.getLogger("LiteLLM").error("request failed for key %s", plain)
    err = capfd.readouterr().err
    assert "request failed for key ***" in err and plain not in err


def test_429_retry_after_is_honoured(srv: FakeServer) -> None:
    srv.configure(faults=[{"kind": "429", "first": 2, "retry_after": 0.15}])
    started = time.monotonic()
    resp = run(request(srv))
    elapsed = time.monotonic() - started
    assert resp.status == "ok", resp.error
    assert (resp.attempts, resp.retries) == (3, 2)
    assert elapsed >= 0.28  # two waits of 0.15 s, far above the 0.01 s backoff


def test_retry_after_is_capped(srv: FakeServer) -> None:
    srv.configure(faults=[{"kind": "429", "first": 1, "retry_after": 30}])
    started = time.monotonic()
    resp = run(request(srv))  # cap is 0.3 s
    assert resp.status == "ok" and resp.retries == 1
    assert time.monotonic() - started < 5


def test_500_twice_then_success(srv: FakeServer) -> None:
    srv.configure(faults=[{"kind": "500", "first": 2}])
    resp = run(request(srv))
    assert resp.status == "ok", resp.error
    assert (resp.attempts, resp.retries) == (3, 2)
    assert srv.stats()["by_status"] == {"500": 2, "200": 1}


@pytest.mark.parametrize("kind", ["502", "503", "drop"])
def test_other_transient_faults_are_retried(srv: FakeServer, kind: str) -> None:
    srv.configure(faults=[{"kind": kind, "first": 1}])
    resp = run(request(srv))
    assert resp.status == "ok", resp.error
    assert resp.retries == 1


def test_slow_reply_times_out_then_retries(srv: FakeServer) -> None:
    srv.configure(faults=[{"kind": "slow", "first": 1, "seconds": 10}])
    policy = RetryPolicy(max_retries=2, base_delay=0.01, timeout=0.5)
    started = time.monotonic()
    resp = run(request(srv), policy)
    assert resp.status == "ok", resp.error
    assert resp.retries == 1
    assert time.monotonic() - started < 5


@pytest.mark.parametrize("exc", [TimeoutError(), asyncio.TimeoutError(), ConnectionResetError()])
def test_timeouts_of_either_kind_are_transient(exc: BaseException) -> None:
    # On Python 3.10 asyncio.TimeoutError (raised by asyncio/aiohttp timeouts) is not the builtin
    # TimeoutError; both must be retried.
    assert failures.is_retryable(exc)


def test_retries_exhausted_is_an_error_not_an_exception(srv: FakeServer) -> None:
    srv.configure(faults=[{"kind": "500", "always": True, "message": "upstream exploded"}])
    resp = run(request(srv))
    assert resp.status == "error"
    assert resp.text is None and resp.answered_by is None
    assert (resp.attempts, resp.retries) == (3, 2)
    assert resp.error is not None
    assert "500" in resp.error and "upstream exploded" in resp.error
    assert "\n" not in resp.error and len(resp.error) <= 300


@pytest.mark.parametrize("status", ["400", "401", "404"])
def test_non_retryable_errors_are_not_retried(srv: FakeServer, status: str) -> None:
    srv.configure(faults=[{"kind": status, "always": True}])
    resp = run(request(srv))
    assert resp.status == "error"
    assert (resp.attempts, resp.retries) == (1, 0)
    assert resp.error is not None and status in resp.error


def test_fallback_answers(srv: FakeServer) -> None:
    srv.configure(faults=[{"kind": "503", "always": True, "match": "primary-model"}])
    req = ModelRequest(
        target=target(srv, model="openai/primary-model"),
        messages=[{"role": "user", "content": "hi"}],
        fallbacks=[target(srv, name="backup", model="openai/backup-model")],
    )
    resp = run(req)
    assert resp.status == "ok", resp.error
    assert resp.answered_by == "backup"
    assert resp.provider_model == "backup-model"
    assert (resp.attempts, resp.retries) == (4, 2)  # 3 on the primary, 1 on the fallback


def test_all_fallbacks_failing_reports_each(srv: FakeServer) -> None:
    srv.configure(faults=[{"kind": "401", "always": True}])
    req = ModelRequest(
        target=target(srv),
        messages=[{"role": "user", "content": "hi"}],
        fallbacks=[target(srv, name="backup")],
    )
    resp = run(req)
    assert resp.status == "error" and resp.attempts == 2
    assert resp.error is not None and "primary:" in resp.error and "backup:" in resp.error


def test_missing_key_variable_is_an_error_without_a_call(
    srv: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(KEY_ENV)
    resp = run(request(srv))
    assert resp.status == "error" and resp.attempts == 0
    assert resp.error is not None and KEY_ENV in resp.error
    assert srv.stats()["requests"] == 0


def test_key_never_appears_in_the_error(srv: FakeServer) -> None:
    srv.configure(faults=[{"kind": "401", "always": True, "message": f"Incorrect API key provided: {KEY}."}])
    resp = run(request(srv))
    assert resp.status == "error"
    assert resp.error is not None
    assert KEY not in resp.error and "***" in resp.error


def test_cost_known_model_and_unknown_model(srv: FakeServer) -> None:
    srv.configure(reported_model="gpt-4o-mini-2024-07-18")
    known = run(
        ModelRequest(
            target=target(srv, model="openai/gpt-4o-mini"), messages=[{"role": "user", "content": "a b"}]
        )
    )
    assert known.status == "ok" and known.cost is not None and known.cost > 0
    assert known.provider_model == "gpt-4o-mini-2024-07-18"
    assert run(request(srv)).cost is None
    assert llm.estimate_cost("openai/test-model", 1000, 1000) is None
    estimate = llm.estimate_cost("openai/gpt-4o-mini", 1000, 1000)
    assert estimate is not None and estimate > 0


def test_count_tokens_offline() -> None:
    llm.ensure_litellm()
    assert llm.count_tokens("gpt-4o-mini", "") == 0
    assert 1 <= llm.count_tokens("gpt-4o-mini", "hello world how are you") <= 10
    # llama models would want a Hugging Face tokenizer: must fall back without a hub.
    assert llm.count_tokens("ollama/llama-3-8b", "hello world how are you") > 0
    assert llm.count_tokens("no-such/model-xyz", "x" * 40) > 0


def test_cancellation_propagates(srv: FakeServer) -> None:
    srv.configure(latency=10)

    async def go() -> None:
        task = asyncio.create_task(llm.complete(request(srv), FAST))
        await asyncio.sleep(0.3)
        task.cancel()
        await task

    started = time.monotonic()
    with pytest.raises(asyncio.CancelledError):
        asyncio.run(go())
    assert time.monotonic() - started < 5


def test_cancellation_during_backoff_propagates(srv: FakeServer) -> None:
    srv.configure(faults=[{"kind": "429", "always": True, "retry_after": 10}])
    policy = RetryPolicy(max_retries=3, retry_after_cap=10, timeout=5)

    async def go() -> None:
        await asyncio.wait_for(llm.complete(request(srv), policy), 0.5)

    # wait_for's cancellation was not swallowed (asyncio.TimeoutError: the builtin one from 3.11 on)
    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(go())


def test_on_token_errors_propagate(srv: FakeServer) -> None:
    def bad(_piece: str) -> None:
        raise ValueError("caller bug")

    with pytest.raises(ValueError, match="caller bug"):
        run(request(srv), on_token=bad)


def test_concurrent_calls_overlap(srv: FakeServer) -> None:
    srv.configure(latency=0.3)

    async def go() -> list[ModelResponse]:
        return await asyncio.gather(*(llm.complete(request(srv, f"n{i}"), FAST) for i in range(16)))

    results = asyncio.run(go())
    assert all(r.status == "ok" for r in results)
    assert [r.text for r in results] == [f"n{i}" for i in range(16)]
    assert srv.stats()["max_in_flight"] >= 8


def test_rate_limiter_spaces_calls(srv: FakeServer) -> None:
    limited = target(srv, name="limited", rpm=600.0)  # one call per 0.1 s
    lim = ratelimit.limiter_for(limited)
    assert lim is not None and lim is ratelimit.limiter_for(limited)
    assert ratelimit.limiter_for(target(srv)) is None
    req = ModelRequest(target=limited, messages=[{"role": "user", "content": "x"}])

    async def go() -> list[ModelResponse]:
        return await asyncio.gather(*(llm.complete(req, FAST) for _ in range(4)))

    started = time.monotonic()
    results = asyncio.run(go())
    assert all(r.status == "ok" for r in results)
    assert time.monotonic() - started >= 0.25


def test_explicit_limiter_is_used(srv: FakeServer) -> None:
    lim = ratelimit.RateLimiter(rpm=1200)  # 0.05 s apart

    async def go() -> None:
        await asyncio.gather(*(llm.complete(request(srv), FAST, limiter=lim) for _ in range(5)))

    started = time.monotonic()
    asyncio.run(go())
    assert time.monotonic() - started >= 0.18
    with pytest.raises(ValueError):
        ratelimit.RateLimiter(0)
