"""What a failed provider call means: retryable or not, how long the provider asked us to wait,
and a one-line message with every secret masked. Works on any exception (litellm's included)
without importing litellm."""

from __future__ import annotations

import asyncio
import email.utils
import re
import time
from collections.abc import Mapping

from promptctl.secrets import MASK, mask

# HTTP statuses worth another attempt: timeouts, conflicts, rate limits and server-side failures.
_RETRYABLE_STATUS = frozenset({408, 409, 425, 429})
_MAX_ERROR_CHARS = 300
_STATUS_NAMES = {401: "AuthenticationError", 403: "PermissionDeniedError", 404: "NotFoundError"}


def status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        return status
    resp = getattr(exc, "response", None)
    status = getattr(resp, "status_code", None)
    return status if isinstance(status, int) else None


def is_retryable(exc: BaseException) -> bool:
    """Transient: rate limits, 5xx, timeouts, dropped or refused connections.

    litellm reports a dropped/refused connection as ``InternalServerError`` (500, "Connection
    error.") and a timeout as ``Timeout`` (408); it reports 401 as ``BadRequestError`` with
    ``status_code == 401``. So the status code decides, not the class name.
    """
    if isinstance(exc, (TimeoutError, asyncio.TimeoutError, ConnectionError)):  # distinct on 3.10
        return True
    status = status_of(exc)
    if status is None:
        name = type(exc).__name__
        return name in {"APIConnectionError", "Timeout", "APITimeoutError", "ServiceUnavailableError"}
    return status in _RETRYABLE_STATUS or status >= 500


def headers_of(exc: BaseException) -> Mapping[str, str] | None:
    """Response headers of a failed call.

    litellm rebuilds ``exc.response`` without the provider's headers; the real ones are kept in
    ``exc.litellm_response_headers`` (an ``httpx.Headers``). ``exc.headers`` holds proxy-supplied
    ones. Try all three.
    """
    for candidate in (
        getattr(exc, "litellm_response_headers", None),
        getattr(getattr(exc, "response", None), "headers", None),
        getattr(exc, "headers", None),
    ):
        if candidate:
            return candidate  # type: ignore[no-any-return]
    return None


def retry_after_seconds(exc: BaseException) -> float | None:
    """Seconds the provider asked us to wait (``retry-after-ms``, ``Retry-After`` in seconds or as
    an HTTP date), or ``None``."""
    headers = headers_of(exc)
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000.0)
        value = headers.get("retry-after")
    except Exception:
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(str(value))
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


_PREFIX_RE = re.compile(r"^(?:litellm\.\w+:\s*|\w*(?:Error|Exception)\s*[:-]\s*)+")


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with ``secrets`` (the keys of this call) and every key of the environment masked."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return mask(text)


def error_message(exc: BaseException, secrets: list[str]) -> str:
    """``"<Class> (<status>): <provider message>"`` on one short line, with secrets masked."""
    raw = getattr(exc, "message", None) or str(exc) or repr(exc)
    text = " ".join(str(raw).split())
    text = _PREFIX_RE.sub("", text)
    text = re.sub(r"^\w+Exception - ", "", text)
    text = text.replace("Request timed out. Error_str: Request timed out. - ", "Request timed out: ")
    status = status_of(exc)
    name = type(exc).__name__
    if name == "BadRequestError" and status in _STATUS_NAMES:  # litellm maps a bare 401 to BadRequestError
        name = _STATUS_NAMES[status]
    head = name + (f" ({status})" if status is not None else "")
    text = scrub(f"{head}: {text}" if text else head, secrets)
    if len(text) > _MAX_ERROR_CHARS:
        text = text[: _MAX_ERROR_CHARS - 1] + "…"
    return scrub(text, secrets)  # again: truncation cannot expose a key, but a split one could
