"""Calls made with the caller's environment rather than this process's: a warm model worker's
(``execute/workers/``), whose environment holds no key. Which variables a request carries
(:func:`is_key_variable`), the key a provider's usual variable gives (:func:`worker_key`), and the
masking rules that include the request's keys (:func:`masking_with`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from promptctl import secrets
from promptctl.execute.types import NO_API_KEY, Target

__all__ = ["KEY_NAME", "NeedsCallerEnvironment", "is_key_variable", "masking_with", "worker_key"]

KEY_NAME = re.compile(r"API_KEY|_TOKEN$", re.IGNORECASE)


def is_key_variable(name: str) -> bool:
    """Whether an environment variable holds a provider's key by its name (``OPENAI_API_KEY``,
    ``HF_TOKEN`` ...): what a model worker's request carries for targets that use the provider's
    usual variable."""
    return bool(KEY_NAME.search(name))


class NeedsCallerEnvironment(Exception):
    """A call made with an explicit environment (a model worker's, see ``llm.complete``) that
    needs more of the caller's environment than one API key (cloud credentials, an Azure
    version ...): the caller makes it itself."""


def worker_key(lm: Any, target: Target, env: Mapping[str, str]) -> tuple[str | None, str | None]:
    """``(api_key, error)`` for a target with neither ``api_base`` nor ``api_key_env``, called with
    the explicit environment ``env`` rather than the process's (which holds no key).

    litellm's ``validate_environment`` names the variables the provider reads; asked in a
    process whose environment holds no key, it names them all as missing. When they are API keys
    (``OPENAI_API_KEY``, ``ANTHROPIC_API_KEY`` ...), the first one ``env`` sets is passed as
    ``api_key``; none set gives the same error as ``llm.missing_key_error``. Anything else the
    provider needs raises :class:`NeedsCallerEnvironment`."""
    try:
        info = lm.validate_environment(model=target.model)
    except Exception:
        info = None
    if not isinstance(info, Mapping):
        raise NeedsCallerEnvironment(f"cannot tell which credentials {target.model} needs")
    missing = [str(k) for k in info.get("missing_keys") or []]
    other = [k for k in missing if not KEY_NAME.search(k)]
    if other:
        raise NeedsCallerEnvironment(f"{target.model} needs {', '.join(other)} from the environment")
    for name in missing:
        if env.get(name):
            return env[name], None
    if not missing:
        return None, None
    return None, f"{NO_API_KEY}{target.model}: set {' or '.join(missing)} (or put it in .env)"


def masking_with(env: Mapping[str, str]) -> secrets.Masking:
    """This process's masking rules plus the key values of ``env`` (a model worker's request)."""
    base = secrets.current()
    values = set(base.secrets) | set(secrets.secret_values(dict(env)))
    return secrets.Masking(sorted(values, key=lambda v: (-len(v), v)), base.maskers)
