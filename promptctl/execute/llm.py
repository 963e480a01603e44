"""The model layer: the only module of promptctl that imports litellm.

Why it looks like this:

* litellm costs ~2 s to import and may phone home (price map, telemetry, tokenizer hubs), so it is
  imported lazily, once, by :func:`ensure_litellm`, after pinning the environment that keeps it
  offline. Cached and replayed runs never import it at all.
* Retries are ours, not litellm's (``max_retries=0``, never ``num_retries``): we need to count
  attempts, honour ``Retry-After`` within a cap, fall back to other targets and, above all, report
  the provider's real error instead of a wrapper's.
* Provider failures never raise: :func:`complete` returns ``ModelResponse(status="error")`` with a
  short one-line message that never contains the API key, so one bad case cannot sink a run.
  Only ``asyncio.CancelledError`` (interruption) and bugs in the caller's ``on_token`` escape.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import importlib
import logging
import math
import os
import random
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from promptctl import secrets
from promptctl.execute import model_catalog
from promptctl.execute.callerenv import NeedsCallerEnvironment, is_key_variable, masking_with, worker_key
from promptctl.execute.failures import error_message, is_retryable, retry_after_seconds, scrub
from promptctl.execute.guard import (
    MaskedTokens,
    mask_logs,
    masked_response,
    neutralise_endpoint_env,
    refused_params,
)
from promptctl.execute.model_catalog import Prices
from promptctl.execute.ratelimit import RateLimiter, limiter_for
from promptctl.execute.types import NO_API_KEY, ModelRequest, ModelResponse, RetryPolicy, Target

__all__ = [
    "NO_API_KEY",
    "NeedsCallerEnvironment",
    "complete",
    "count_tokens",
    "ensure_litellm",
    "estimate_cost",
    "is_key_variable",
    "prewarm",
    "start_prewarm",
    "wait_prewarm",
]

# Set before litellm is imported: local price map and beta headers (no fetch at import), and no
# Hugging Face hub access from token counting.
LITELLM_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "HF_HUB_OFFLINE": "1",
    "TOKENIZERS_PARALLELISM": "false",
    # litellm's own HTTP handler for OpenAI-compatible providers instead of the openai SDK
    # underneath it: same litellm request/response transformation and error mapping, ~1.5 ms less
    # CPU per call and ~500 fewer modules loaded on the first call. Overridable from outside.
    "EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER": "true",
}
# Forced, not defaults: litellm's import otherwise runs python-dotenv's load_dotenv(), which reads
# a .env (the working directory's in `python -c`, else the nearest above litellm's install) and
# sets every variable in it, bypassing promptctl's own .env rules (suite/config.py).
LITELLM_FORCED_ENV = {"LITELLM_MODE": "PRODUCTION"}


_litellm: Any = None
_import_lock = threading.Lock()


def ensure_litellm() -> Any:
    """Import and configure litellm once; return the module.

    Blocking (~2 s the first time): async callers that care should call it once before starting
    their event loop, or via ``asyncio.to_thread``.
    """
    global _litellm
    if _litellm is not None:
        return _litellm
    with _import_lock:
        if _litellm is None:
            for key, value in LITELLM_ENV.items():
                os.environ.setdefault(key, value)
            os.environ.update(LITELLM_FORCED_ENV)
            neutralise_endpoint_env()
            # importlib keeps mypy from type-checking litellm's sprawling module attributes.
            litellm: Any = importlib.import_module("litellm")
            litellm.telemetry = False
            litellm.suppress_debug_info = True
            litellm.set_verbose = False
            litellm.drop_params = False
            litellm.disable_hf_tokenizer_download = True  # token_counter: tiktoken, never a hub
            litellm.callbacks = []
            litellm.success_callback = []
            litellm.failure_callback = []
            litellm.input_callback = []
            litellm.service_callback = []
            litellm._async_success_callback = []
            litellm._async_failure_callback = []
            litellm.cache = None
            # litellm logs warnings (e.g. its logging worker moving between event loops) straight
            # to stderr; core never prints, so only errors get through.
            for name in ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy"):
                logging.getLogger(name).setLevel(logging.ERROR)
            mask_logs("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")
            _litellm = litellm
    return _litellm


_warm = False


def prewarm() -> None:
    """Import litellm and what its first call would load lazily (tokenizer, provider modules).

    Meant for a background thread started as soon as a run knows it will call a model, so this
    work overlaps planning and the cache lookup instead of stalling the first call of the event
    loop (where it would hold up every concurrent request, and be timed as the first call's
    latency). Idempotent. Never raises: a failure here resurfaces, with its real error, in the
    first call.
    """
    global _warm
    if _warm:
        return
    try:
        lm = ensure_litellm()
    except Exception:
        return
    try:
        for name in _FIRST_CALL_MODULES:
            with contextlib.suppress(Exception):
                importlib.import_module(name)
        get_encoding = getattr(getattr(lm, "main", None), "_get_encoding", None)
        if callable(get_encoding):
            get_encoding()
    except Exception:
        pass
    finally:
        _warm = True


_prewarm_thread: threading.Thread | None = None


def start_prewarm() -> None:
    """Start :func:`prewarm` once, in a daemon thread; returns at once.

    The thread is joined before the interpreter shuts down (an ``atexit`` handler): a daemon
    thread frozen at shutdown in the middle of an import keeps that module's import lock, and
    litellm's HTTP client finaliser, importing the same module during shutdown, then waits for it
    forever (``compare --gate`` without a key hung after its verdict in about one run of ten)."""
    global _prewarm_thread
    with _import_lock:
        if _warm or _prewarm_thread is not None:
            return
        _prewarm_thread = threading.Thread(target=prewarm, name="promptctl-litellm-import", daemon=True)
        _prewarm_thread.start()
        atexit.register(_join_prewarm)


def _join_prewarm(timeout: float | None = 120.0) -> None:
    thread = _prewarm_thread
    if thread is not None and thread is not threading.current_thread():
        thread.join(timeout)


def wait_prewarm() -> None:
    """Block until litellm and its first-call modules are loaded: joins the background import if
    one runs, else does it here. The runner calls it (off its event loop) before the first live
    call, so that call's latency is the call's, not litellm's one-time imports."""
    _join_prewarm(None)
    prewarm()


# Modules litellm 1.106 imports on the first chat call (found by diffing sys.modules around it:
# the last five were still imported by the first call after the first five, ~50-70 ms).
_FIRST_CALL_MODULES = (
    "litellm.proxy._types",
    "litellm.llms.openai_like.chat.handler",
    "litellm.litellm_core_utils.default_encoding",
    "litellm._service_logger",
    "litellm.llms.fal_ai",
    "litellm.llms.litellm_proxy.chat.transformation",
    "litellm.llms.openai.chat.gpt_audio_transformation",
    "litellm.llms.openai_like.dynamic_config",
    "litellm.llms.vertex_ai.vertex_ai_partner_models.anthropic.transformation",
    "litellm.proxy.openai_files_endpoints.common_utils",
)


class _CallbackError(Exception):
    """Wraps an exception raised by the caller's ``on_token``: a caller bug, not a provider error."""

    def __init__(self, original: BaseException) -> None:
        super().__init__(repr(original))
        self.original = original


# --------------------------------------------------------------------------------------------
# Prices and tokens
# --------------------------------------------------------------------------------------------


def estimate_cost(
    model: str, input_tokens: int, output_tokens: int, *, price: Prices | None = None
) -> float | None:
    """Price of a call (an alias's declared ``price``, else litellm's local table); ``None`` if
    the model is not priced."""
    return model_catalog.cost(model, input_tokens, output_tokens, price=price)


def count_tokens(model: str, text: str) -> int:
    """Token count with the model's tokenizer when litellm knows one offline, else ``len/4``."""
    if not text:
        return 0
    try:
        lm = ensure_litellm()
        return int(lm.token_counter(model=model, text=text))
    except Exception:
        return max(1, math.ceil(len(text) / 4))


def _response_cost(
    target: Target, input_tokens: int | None, output_tokens: int | None, usage: Any
) -> float | None:
    """Cost of a call (:func:`promptctl.execute.model_catalog.cost`), with the prompt tokens the
    provider reports as served from its cache."""
    if input_tokens is None or output_tokens is None:
        return None
    details = getattr(usage, "prompt_tokens_details", None) if usage is not None else None
    value = getattr(details, "cached_tokens", None) if details is not None else None
    cached = int(value) if isinstance(value, int) and 0 < value <= input_tokens else 0
    return model_catalog.cost(
        target.model, input_tokens, output_tokens, cached_tokens=cached, price=target.price
    )


# --------------------------------------------------------------------------------------------
# Credentials
# --------------------------------------------------------------------------------------------


def missing_key_error(lm: Any, target: Target) -> str | None:
    """Why ``target`` cannot be called for lack of credentials, or ``None``.

    Only for targets with neither ``api_base`` nor ``api_key_env``: those rely on the provider's
    usual variable (``OPENAI_API_KEY`` ...), which litellm's own ``validate_environment`` knows.
    Without it every call would be an HTTP round trip ending in a 401 (or a retried connection
    error), once per row; checked here, the rows fail at once with the fix in the message.
    """
    if target.api_base or target.api_key_env:
        return None
    try:
        info = lm.validate_environment(model=target.model)
    except Exception:
        return None
    if not isinstance(info, Mapping) or info.get("keys_in_environment"):
        return None
    # Only API keys: litellm also lists settings with usable defaults (OLLAMA_API_BASE: localhost)
    # and credentials that have other sources (AWS keys: profiles, instance roles), whose absence
    # must not stop a call.
    missing = [str(k) for k in info.get("missing_keys") or [] if is_key_variable(str(k))]
    if not missing:
        return None
    return f"{NO_API_KEY}{target.model}: set {' or '.join(missing)} (or put it in .env)"


# --------------------------------------------------------------------------------------------
# Calls
# --------------------------------------------------------------------------------------------


def _backoff(policy: RetryPolicy, retry_index: int, exc: BaseException) -> float:
    """Seconds before retry number ``retry_index`` (0-based): Retry-After (capped) when the
    provider sent one, else full-jitter exponential backoff."""
    ra = retry_after_seconds(exc)
    if ra is not None:
        return min(ra, policy.retry_after_cap)
    ceiling = min(policy.max_delay, policy.base_delay * (2**retry_index))
    return random.uniform(0.0, max(0.0, ceiling))


def _usage_int(usage: Any, name: str) -> int | None:
    value = getattr(usage, name, None) if usage is not None else None
    if value is None and isinstance(usage, Mapping):
        value = usage.get(name)
    return int(value) if isinstance(value, (int, float)) else None


def _call_kwargs(
    target: Target, req: ModelRequest, policy: RetryPolicy, api_key: str | None
) -> dict[str, Any]:
    params = {**target.params_dict, **req.params}
    for reserved in ("stream", "num_retries", "max_retries", "timeout", "api_key", "api_base"):
        params.pop(reserved, None)
    kwargs: dict[str, Any] = {
        "model": target.model,
        "messages": req.messages,
        "timeout": policy.timeout,
        "max_retries": 0,
        **params,
    }
    if target.api_base:
        kwargs["api_base"] = target.api_base
    if api_key is not None:
        kwargs["api_key"] = api_key
    return kwargs


def _supports_stream_usage(lm: Any, model: str) -> bool:
    try:
        _, provider, _, _ = lm.get_llm_provider(model)
        supported = lm.get_supported_openai_params(model=model, custom_llm_provider=provider) or []
    except Exception:
        return False
    return "stream_options" in supported


async def _attempt(
    lm: Any,
    target: Target,
    req: ModelRequest,
    policy: RetryPolicy,
    api_key: str | None,
    on_token: Callable[[str], None] | None,
) -> ModelResponse:
    """One HTTP call. Raises whatever litellm raises; returns an ok response otherwise."""
    kwargs = _call_kwargs(target, req, policy, api_key)
    streamed_usage = False
    started = time.perf_counter()
    if on_token is None:
        response = await lm.acompletion(**kwargs)
    else:
        kwargs["stream"] = True
        if "stream_options" not in kwargs and _supports_stream_usage(lm, target.model):
            kwargs["stream_options"] = {"include_usage": True}
        stream = await lm.acompletion(**kwargs)
        chunks: list[Any] = []
        async for chunk in stream:
            chunks.append(chunk)
            choices = getattr(chunk, "choices", None) or []
            delta = getattr(choices[0], "delta", None) if choices else None
            piece = getattr(delta, "content", None) if delta is not None else None
            if piece:
                try:
                    on_token(piece)
                except Exception as e:
                    raise _CallbackError(e) from e
        response = lm.stream_chunk_builder(chunks, messages=req.messages)
        if response is None:
            raise RuntimeError("empty stream: the provider sent no chunks")
        # Did the server send usage? litellm makes up a final usage chunk when the server sends
        # none (stream_options.include_usage asked, llama.cpp ignores it): only the chunks its
        # stream kept from the server (``chunks``, read, never changed) tell them apart.
        kept = getattr(stream, "chunks", None)
        streamed_usage = any(getattr(c, "usage", None) for c in (kept if isinstance(kept, list) else chunks))
    latency_ms = (time.perf_counter() - started) * 1000.0

    choice = response.choices[0] if getattr(response, "choices", None) else None
    message = getattr(choice, "message", None)
    text = getattr(message, "content", None)
    text = text if isinstance(text, str) else ("" if text is None else str(text))
    usage = getattr(response, "usage", None) if on_token is None or streamed_usage else None
    input_tokens = _usage_int(usage, "prompt_tokens")
    output_tokens = _usage_int(usage, "completion_tokens")
    estimated = input_tokens is None or output_tokens is None
    if input_tokens is None:
        input_tokens = count_tokens(target.model, "\n".join(str(m.get("content", "")) for m in req.messages))
    if output_tokens is None:
        output_tokens = count_tokens(target.model, text)
    return ModelResponse(
        status="ok",
        text=text,
        latency_ms=latency_ms,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cost=_response_cost(target, input_tokens, output_tokens, usage),
        finish_reason=getattr(choice, "finish_reason", None),
        answered_by=target.name,
        provider_model=getattr(response, "model", None),
        tokens_estimated=estimated,
    )


async def complete(
    req: ModelRequest,
    policy: RetryPolicy,
    *,
    on_token: Callable[[str], None] | None = None,
    limiter: RateLimiter | None = None,
    env: Mapping[str, str] | None = None,
    mask_output: bool = True,
) -> ModelResponse:
    """Call ``req.target`` (then each of ``req.fallbacks``) with promptctl's retry policy.

    Streams when ``on_token`` is given (it receives each text delta; retried attempts may call it
    again from the start). The first call of a process first finishes litellm's one-time imports
    (:func:`wait_prewarm`), outside the call's timing. ``limiter`` overrides the primary
    target's shared limiter; fallbacks always use their own (:func:`limiter_for`). Never raises
    for provider errors; lets ``asyncio.CancelledError`` through untouched.

    Every key value the provider sends back is masked (promptctl.secrets) in the answer, streamed
    or not, and in errors; ``mask_output=False`` leaves the answer as the provider sent it (the
    Python API hands an application its own output; what promptctl writes is masked there).

    ``env``: the variables keys are read from, when not this process's environment (a model
    worker's calls: the caller sends its key variables with each request, and every key is then
    passed to litellm explicitly; their values are masked like the environment's). Raises
    :class:`NeedsCallerEnvironment` for a target that needs more than a key from it.
    """
    lm = ensure_litellm()
    if not _warm:
        wait_prewarm()
    attempts = 0
    retries = 0
    errors: list[str] = []
    targets = [req.target, *req.fallbacks]
    keys: Mapping[str, str] = os.environ if env is None else env
    secrets.add_key_names(t.api_key_env for t in targets)
    # The answer validators check is masked of key values only; personal data (redact:) is
    # masked where it is written or shown, which includes the streamed tokens. In a warm worker
    # (``env`` given) the keys are the request's own.
    if not mask_output:
        masking = shown = secrets.Masking()
    elif env is None:
        masking, shown = secrets.key_masking(), secrets.current()
    else:
        masking = shown = masking_with(env)
    neutralise_endpoint_env()
    refused = refused_params(req)
    if refused is not None:
        return ModelResponse(status="error", error=refused, answered_by=None)
    sink = MaskedTokens(on_token, shown) if on_token is not None and shown.active else None
    for index, target in enumerate(targets):
        api_key: str | None = None
        if env is not None and not (target.api_base or target.api_key_env):
            api_key, no_key = worker_key(lm, target, env)
        else:
            no_key = missing_key_error(lm, target)
        if no_key is not None:
            errors.append(f"{target.name}: {no_key}" if len(targets) > 1 else no_key)
            continue
        if target.api_key_env:
            api_key = keys.get(target.api_key_env) or None
            if api_key is None:
                errors.append(f"{target.name}: environment variable {target.api_key_env} is not set")
                continue
        elif target.api_base:
            # A custom endpoint without api_key_env must not receive the provider's usual key
            # (litellm would send OPENAI_API_KEY to whatever api_base says): send a dummy one.
            api_key = "no-key"
        call_secrets = [api_key] if api_key and api_key != "no-key" else []
        lim = limiter if (index == 0 and limiter is not None) else limiter_for(target)
        for retry_index in range(policy.max_retries + 1):
            if lim is not None:
                await lim.acquire()
            attempts += 1
            try:
                result = await _attempt(lm, target, req, policy, api_key, sink or on_token)
                if sink is not None:
                    try:
                        sink.flush()
                    except Exception as e:
                        raise _CallbackError(e) from e
            except _CallbackError as e:
                raise e.original from None
            except Exception as e:  # provider errors; CancelledError is a BaseException
                if sink is not None:
                    sink.drop()  # never show the start of a key a broken stream cut in two
                message = error_message(e, call_secrets)
                if not is_retryable(e) or retry_index >= policy.max_retries:
                    errors.append(f"{target.name}: {message}" if len(targets) > 1 else message)
                    break
                retries += 1
                await asyncio.sleep(_backoff(policy, retry_index, e))
                continue
            result.attempts = attempts
            result.retries = retries
            return masked_response(result, masking)
    all_secrets = [keys.get(t.api_key_env, "") for t in targets if t.api_key_env]
    error = " | ".join(errors) if errors else "no target to call"
    return ModelResponse(
        status="error",
        error=scrub(error, [s for s in all_secrets if s]),
        answered_by=None,
        attempts=attempts,
        retries=retries,
    )
