"""Embeddings through litellm's embedding API (``litellm.aembedding``), for the ``similar``
validator: one text in, one vector out.

Same rules as completions (``execute.llm``, which imports litellm for this module too): our own
retries (``max_retries=0`` to litellm), the key of ``api_key_env`` sent only to its endpoint and
never in a message, a custom ``api_base`` without a key variable gets a dummy key, failures come
back as ``EmbeddingResponse(status="error")`` with a one-line reason, never as an exception.

An embedding is addressed by :func:`embedding_fingerprint` (model, endpoint, params, text), and is
cached in the response cache and written to recordings like a completion: it travels as a
:class:`~promptctl.execute.types.ModelResponse` whose text is the vector (:func:`to_response`,
:func:`from_response`), so both stores keep one format.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import math
import os
import struct
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from promptctl.execute import model_catalog
from promptctl.execute.failures import error_message, is_retryable, scrub
from promptctl.execute.guard import neutralise_endpoint_env, refused_params
from promptctl.execute.ratelimit import limiter_for
from promptctl.execute.types import ModelRequest, ModelResponse, RetryPolicy, Target
from promptctl.jsonutil import canonical_json
from promptctl.secrets import add_key_names

VECTOR_PREFIX = "f32:"  # how a vector is written as text: little-endian float32, base64


@dataclass(frozen=True)
class EmbeddingResponse:
    status: str  # "ok" | "error"
    vector: tuple[float, ...] = ()
    error: str | None = None
    input_tokens: int | None = None
    cost: float | None = None
    latency_ms: float | None = None
    source: str = "live"  # live | cache | recording
    attempts: int = 0
    retries: int = 0


class _Zero(int):
    """0 that is truthy. litellm 1.106's OpenAI embedding handler reads ``max_retries or
    DEFAULT_MAX_RETRIES``, so a plain 0 turns into the SDK's 2 hidden retries (a 429 was retried
    under us: tests/execute/test_embeddings.py); this 0 survives the ``or`` and the SDK, comparing
    numbers, makes no retry. Retries stay ours."""

    def __bool__(self) -> bool:
        return True


_NO_RETRIES = _Zero(0)


def embedding_fingerprint(target: Target, text: str) -> str:
    """The content address of an embedding request: what it is cached and recorded under."""
    key = {
        "kind": "embedding",
        "model": target.model,
        "api_base": target.api_base,
        "params": target.params_dict,
        "input": text,
    }
    return hashlib.sha256(canonical_json(key).encode("utf-8")).hexdigest()


def encode_vector(vector: tuple[float, ...] | list[float]) -> str:
    return VECTOR_PREFIX + base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")


def decode_vector(text: str | None) -> tuple[float, ...] | None:
    """The vector :func:`encode_vector` wrote, or None when ``text`` is not one."""
    if not text or not text.startswith(VECTOR_PREFIX):
        return None
    try:
        raw = base64.b64decode(text[len(VECTOR_PREFIX) :], validate=True)
    except ValueError:
        return None
    if not raw or len(raw) % 4:
        return None
    return struct.unpack(f"<{len(raw) // 4}f", raw)


def to_response(e: EmbeddingResponse, model: str) -> ModelResponse:
    """An ok embedding as the ModelResponse the cache and the recordings store."""
    return ModelResponse(
        status="ok",
        text=encode_vector(e.vector),
        latency_ms=e.latency_ms,
        input_tokens=e.input_tokens,
        output_tokens=0,
        cost=e.cost,
        answered_by=model,
        attempts=e.attempts,
        retries=e.retries,
    )


def from_response(r: ModelResponse, source: str) -> EmbeddingResponse | None:
    """The embedding a stored ModelResponse holds, or None when it holds none."""
    vector = decode_vector(r.text) if r.status == "ok" else None
    if vector is None:
        return None
    return EmbeddingResponse(
        status="ok",
        vector=vector,
        input_tokens=r.input_tokens,
        cost=r.cost,
        latency_ms=r.latency_ms,
        source=source,
    )


def cosine(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Cosine similarity in [-1, 1]; ValueError for vectors of different sizes or a zero vector."""
    if len(a) != len(b):
        raise ValueError(f"the vectors have different sizes ({len(a)} and {len(b)})")
    dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
    na, nb = math.sqrt(math.fsum(x * x for x in a)), math.sqrt(math.fsum(y * y for y in b))
    if na == 0 or nb == 0:
        raise ValueError("an embedding is the zero vector (empty text?)")
    return max(-1.0, min(1.0, dot / (na * nb)))


def _vector(response: Any) -> tuple[float, ...]:
    data = getattr(response, "data", None)
    if data is None and isinstance(response, Mapping):
        data = response.get("data")
    if not data:
        raise ValueError("the embedding response has no data")
    first = data[0]
    values = first.get("embedding") if isinstance(first, Mapping) else getattr(first, "embedding", None)
    if isinstance(values, str):  # encoding_format=base64 from some servers
        raw = base64.b64decode(values)
        return struct.unpack(f"<{len(raw) // 4}f", raw)
    if not isinstance(values, (list, tuple)) or not values:
        raise ValueError("the embedding response holds no vector")
    if all(isinstance(v, (list, tuple)) for v in values):
        # one vector per token (llama.cpp's server with a model that has no pooling): their mean
        size = len(values[0])
        if not size or any(len(v) != size for v in values):
            raise ValueError("the per-token embeddings have different sizes")
        return tuple(math.fsum(float(v[i]) for v in values) / len(values) for i in range(size))
    return tuple(float(v) for v in values)


async def embed(target: Target, text: str, policy: RetryPolicy) -> EmbeddingResponse:
    """Embed ``text`` with ``target`` under ``policy``'s retries; never raises for provider errors."""
    from promptctl.execute import llm  # the litellm importer

    lm = llm.ensure_litellm()
    add_key_names([target.api_key_env] if target.api_key_env else [])
    neutralise_endpoint_env()
    refused = refused_params(ModelRequest(target=target, messages=[]))
    if refused is not None:  # the same rule as completions: the endpoint comes only from api_base
        return EmbeddingResponse(status="error", error=refused)
    no_key = llm.missing_key_error(lm, target)
    if no_key is not None:
        return EmbeddingResponse(status="error", error=no_key)
    api_key: str | None = None
    if target.api_key_env:
        api_key = os.environ.get(target.api_key_env) or None
        if api_key is None:
            return EmbeddingResponse(
                status="error", error=f"environment variable {target.api_key_env} is not set"
            )
    elif target.api_base:
        api_key = "no-key"  # a custom endpoint never receives the provider's usual key
    secrets = [api_key] if api_key and api_key != "no-key" else []
    kwargs: dict[str, Any] = {
        **{k: v for k, v in target.params_dict.items() if k not in ("timeout", "api_key", "api_base")},
        "model": target.model,
        "input": [text],
        "timeout": policy.timeout,
        "max_retries": _NO_RETRIES,
    }
    if target.api_base:
        kwargs["api_base"] = target.api_base
    if api_key is not None:
        kwargs["api_key"] = api_key
    limiter = limiter_for(target)
    attempts = retries = 0
    for retry_index in range(policy.max_retries + 1):
        if limiter is not None:
            await limiter.acquire()
        attempts += 1
        started = time.perf_counter()
        try:
            response = await lm.aembedding(**kwargs)
            vector = _vector(response)
        except Exception as e:  # provider errors; CancelledError is a BaseException
            message = error_message(e, secrets)
            if not is_retryable(e) or retry_index >= policy.max_retries:
                return EmbeddingResponse(
                    status="error", error=scrub(message, secrets), attempts=attempts, retries=retries
                )
            retries += 1
            await asyncio.sleep(llm._backoff(policy, retry_index, e))
            continue
        usage = getattr(response, "usage", None)
        tokens = getattr(usage, "prompt_tokens", None) if usage is not None else None
        tokens = int(tokens) if isinstance(tokens, (int, float)) else llm.count_tokens(target.model, text)
        return EmbeddingResponse(
            status="ok",
            vector=vector,
            input_tokens=tokens,
            cost=model_catalog.cost(target.model, tokens, 0),
            latency_ms=(time.perf_counter() - started) * 1000.0,
            attempts=attempts,
            retries=retries,
        )
    raise AssertionError("unreachable: the loop returns")  # pragma: no cover
