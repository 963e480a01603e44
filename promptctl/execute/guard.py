"""Where a provider key may go, and what comes back with it: the model layer's guards.

* :func:`neutralise_endpoint_env`: no endpoint from the environment (OPENAI_BASE_URL ...);
* :func:`refused_params`: no endpoint or credential from a prompt's or an alias's params;
* :class:`MaskedTokens` and :func:`masked_response`: a key the provider sends back (echoed in an
  answer, quoted in an error body) is masked before anyone sees it, streamed or not;
* :class:`MaskingLogFilter`: litellm's own log lines (errors only) are masked too.

The rules themselves live in :mod:`promptctl.secrets`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from promptctl import secrets
from promptctl.execute.types import ModelRequest, ModelResponse


def neutralise_endpoint_env() -> list[str]:
    """Remove from the environment every variable litellm (or a provider SDK under it) would read
    as a provider's endpoint (OPENAI_BASE_URL, ANTHROPIC_API_BASE, AWS_ENDPOINT_URL_BEDROCK_RUNTIME
    ...: :func:`promptctl.secrets.is_endpoint_variable`); returns their names. Called before
    litellm's import and before every call: endpoints come only from ``api_base`` in
    promptctl.yaml, so a key never follows a URL a shell profile or a CI variable put there."""
    names = [n for n in os.environ if secrets.is_endpoint_variable(n)]
    for name in names:
        os.environ.pop(name, None)
    return names


def refused_params(req: ModelRequest) -> str | None:
    """Why ``req`` must not be sent: a parameter that would choose the endpoint or the
    credentials (``base_url``, ``api_key`` ..., :func:`promptctl.secrets.is_endpoint_param`)."""
    names = sorted(
        {str(k) for k in req.params} | {k for t in (req.target, *req.fallbacks) for k, _ in t.params}
    )
    bad = [n for n in names if secrets.is_endpoint_param(n)]
    if not bad:
        return None
    listed = ", ".join(f"'{n}'" for n in bad)
    return (
        f"parameter {listed} not allowed in params: promptctl sends a call only to the api_base of a "
        "model alias in promptctl.yaml, with the key named by its api_key_env"
    )


class MaskedTokens:
    """The caller's ``on_token``, fed through :class:`promptctl.secrets.StreamMasker`: a key the
    provider streams back is shown as ``***`` even when it arrives split across chunks."""

    def __init__(self, on_token: Callable[[str], None], masking: secrets.Masking) -> None:
        self.on_token = on_token
        self.stream = secrets.StreamMasker(masking)

    def __call__(self, piece: str) -> None:
        shown = self.stream.feed(piece)
        if shown:
            self.on_token(shown)

    def flush(self) -> None:
        shown = self.stream.flush()
        if shown:
            self.on_token(shown)

    def drop(self) -> None:
        self.stream = secrets.StreamMasker(self.stream.masking)


def masked_response(resp: ModelResponse, masking: secrets.Masking) -> ModelResponse:
    """``resp`` with every key value masked out of what the provider sent back."""
    if not masking.active:
        return resp
    resp.text = None if resp.text is None else masking.text(resp.text)
    resp.error = None if resp.error is None else masking.text(resp.error)
    resp.provider_model = None if resp.provider_model is None else masking.text(resp.provider_model)
    resp.finish_reason = None if resp.finish_reason is None else masking.text(resp.finish_reason)
    return resp


class MaskingLogFilter(logging.Filter):
    """Masks every key value in a log record's message (litellm logs errors to stderr itself)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = secrets.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def mask_logs(*names: str) -> None:
    """Attach :class:`MaskingLogFilter` to the loggers ``names`` and to their handlers (a filter
    on a logger alone misses what its children propagate to those handlers)."""
    for name in names:
        logger = logging.getLogger(name)
        for owner in (logger, *logger.handlers):
            if not any(isinstance(f, MaskingLogFilter) for f in owner.filters):
                owner.addFilter(MaskingLogFilter())
