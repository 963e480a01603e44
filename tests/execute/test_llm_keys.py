"""The provider's usual key never goes to a custom api_base that did not ask for it."""

from __future__ import annotations

import asyncio

import pytest

from promptctl.execute import llm
from promptctl.execute.types import ModelRequest, RetryPolicy, Target
from tests.fakeserver import FakeServer


def test_custom_api_base_without_key_env_gets_a_dummy_key(monkeypatch: pytest.MonkeyPatch) -> None:
    real = "sk-real-openai-key-must-not-leak-000000"
    monkeypatch.setenv("OPENAI_API_KEY", real)
    with FakeServer(spec={"mode": "fixed", "reply": "ok"}) as srv:
        req = ModelRequest(
            target=Target(name="local", model="openai/llama", api_base=srv.url),
            messages=[{"role": "user", "content": "hi"}],
        )
        resp = asyncio.run(llm.complete(req, RetryPolicy(max_retries=0, timeout=5)))
        assert resp.status == "ok", resp.error
        headers = srv.stats()["auth_headers"]
    assert headers and all(real not in h for h in headers)
