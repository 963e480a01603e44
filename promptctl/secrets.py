"""Secrets: which environment variables hold provider keys, and masking their values out of
everything promptctl writes or prints.

One rule, used by every writer (run records, recordings, the cache, reports, git notes, error
messages, ``--debug`` tracebacks, streamed output): :func:`mask` for text, :func:`mask_data` for
JSON-like data (only strings are touched, so numbers and the structure stay valid), and
:class:`StreamMasker` for text that arrives in pieces.

What is masked, as ``***``:

* the value of every **provider key variable** present in the environment: the names litellm
  reads for the providers (:data:`PROVIDER_KEY_NAMES`) and any ``*_API_KEY``;
* the value of every variable a ``promptctl.yaml`` alias names in ``api_key_env``
  (:func:`add_key_names`, called when a configuration is loaded and by the model layer);

each when it is at least :data:`MIN_KEY_CHARS` (4) characters long. A shorter value is not a
secret anyone issues (three characters fall to a few hundred thousand guesses) and masking it
would destroy ordinary text: a dummy key ``x`` would turn every ``x`` of every output into ``***``.
Other credential-looking variables (``*_TOKEN``, ``*_SECRET``, ``*_PASSWORD`` …, e.g. a CI's
``GITHUB_TOKEN``) are masked too when their value has at least :data:`MIN_OTHER_CHARS` (8)
characters: they are not ours, so the bar against masking a word like ``true`` is higher.

Further maskers (say, for personal data: :mod:`promptctl.redact`) plug in with
:func:`register_masker`: they run after the key masking on every piece of text the writers above
emit. A masker that numbers what it replaces (``<EMAIL_1>``) keeps its numbering in
:func:`row_state`: every string masked inside one :func:`row` shares it. :meth:`Masking.data`
masks one value as one row; a writer whose row spans several calls wraps them in :func:`row`.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "MASK",
    "MIN_KEY_CHARS",
    "MIN_OTHER_CHARS",
    "PROVIDER_KEY_NAMES",
    "Masker",
    "Masking",
    "StreamMasker",
    "add_key_names",
    "current",
    "is_endpoint_param",
    "is_endpoint_variable",
    "is_provider_key_name",
    "key_masking",
    "mask",
    "mask_data",
    "register_masker",
    "row",
    "row_state",
    "secret_values",
]

MASK = "***"
MIN_KEY_CHARS = 4
MIN_OTHER_CHARS = 8

# The key variables litellm reads for the chat providers it supports (its validate_environment
# and each provider's transformation). Any other ``*_API_KEY`` counts as a provider key too.
PROVIDER_KEY_NAMES = frozenset(
    {
        "AI21_API_KEY",
        "ALEPH_ALPHA_API_KEY",
        "ANTHROPIC_API_KEY",
        "ANYSCALE_API_KEY",
        "AWS_ACCESS_KEY_ID",
        "AWS_BEARER_TOKEN_BEDROCK",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AZURE_AD_TOKEN",
        "AZURE_API_KEY",
        "AZURE_CLIENT_SECRET",
        "AZURE_OPENAI_API_KEY",
        "CEREBRAS_API_KEY",
        "CLOUDFLARE_API_KEY",
        "CO_API_KEY",
        "CODESTRAL_API_KEY",
        "COHERE_API_KEY",
        "DASHSCOPE_API_KEY",
        "DATABRICKS_API_KEY",
        "DATABRICKS_TOKEN",
        "DEEPINFRA_API_KEY",
        "DEEPSEEK_API_KEY",
        "FIREWORKS_AI_API_KEY",
        "FIREWORKS_API_KEY",
        "FIREWORKSAI_API_KEY",
        "FRIENDLIAI_API_KEY",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "GROQ_API_KEY",
        "HF_TOKEN",
        "HUGGING_FACE_HUB_TOKEN",
        "HUGGINGFACE_API_KEY",
        "MISTRAL_API_KEY",
        "MOONSHOT_API_KEY",
        "NEBIUS_API_KEY",
        "NLP_CLOUD_API_KEY",
        "NOVITA_API_KEY",
        "NVIDIA_NIM_API_KEY",
        "OPENAI_API_KEY",
        "OPENROUTER_API_KEY",
        "PALM_API_KEY",
        "PERPLEXITY_API_KEY",
        "PERPLEXITYAI_API_KEY",
        "PREDIBASE_API_KEY",
        "REPLICATE_API_KEY",
        "REPLICATE_API_TOKEN",
        "SAMBANOVA_API_KEY",
        "TOGETHER_AI_API_KEY",
        "TOGETHER_API_KEY",
        "TOGETHERAI_API_KEY",
        "VERTEXAI_CREDENTIALS",
        "VOLCENGINE_API_KEY",
        "VOYAGE_API_KEY",
        "WATSONX_API_KEY",
        "WATSONX_APIKEY",
        "WATSONX_TOKEN",
        "XAI_API_KEY",
    }
)

_OTHER_SECRET = re.compile(r"(?:_TOKEN|_SECRET|_SECRET_KEY|_ACCESS_KEY|_PASSWORD|_PASSWD|_CREDENTIALS)$")

Masker = Callable[[str], str]

_lock = threading.Lock()
_key_names: set[str] = set()
_maskers: list[Masker] = []


def is_provider_key_name(name: str) -> bool:
    """A variable that holds a provider key: a known provider's name, or any ``*_API_KEY``."""
    return name in PROVIDER_KEY_NAMES or name.endswith("_API_KEY")


def add_key_names(names: Iterable[str | None]) -> None:
    """Declare variables holding keys (the ``api_key_env`` names of a configuration): their
    values are masked from now on, in this process, whenever they are set."""
    with _lock:
        _key_names.update(n for n in names if n)


def register_masker(masker: Masker) -> Callable[[], None]:
    """Add a masker: a function from text to text, applied after key masking to everything
    promptctl writes or prints (it must be pure and fast; it is called on every output, error
    message, report and record string). Returns a function that removes it again.

    In streamed output (``promptctl run``) a registered masker sees whole lines: the stream is
    line-buffered while any masker is registered, so a pattern cannot be split across pieces
    (patterns must not span lines)."""
    with _lock:
        _maskers.append(masker)

    def unregister() -> None:
        with _lock:
            if masker in _maskers:
                _maskers.remove(masker)

    return unregister


_row: ContextVar[dict[str, Any] | None] = ContextVar("promptctl_masking_row", default=None)


@contextmanager
def row(state: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """Mask one row: every string masked inside shares one state (``state``, or a fresh dict),
    so a masker that numbers what it replaces numbers it consistently across the row. Inside
    another row, the outer row goes on (its state is shared)."""
    outer = _row.get()
    if outer is not None:
        yield outer
        return
    shared = {} if state is None else state
    token = _row.set(shared)
    try:
        yield shared
    finally:
        _row.reset(token)


def row_state() -> dict[str, Any] | None:
    """The state of the row being masked, or None outside any :func:`row` (each string masked
    there is a row of its own)."""
    return _row.get()


def _candidate_names(names: Iterable[str], declared: set[str]) -> tuple[tuple[str, int], ...]:
    """(name, minimum length) of every variable whose value may be a key."""
    out = []
    for name in names:
        if name in declared or is_provider_key_name(name):
            out.append((name, MIN_KEY_CHARS))
        elif _OTHER_SECRET.search(name):
            out.append((name, MIN_OTHER_CHARS))
    return tuple(out)


# (the variables' names, declared names, candidates): the names are classified again only when a
# variable appeared or went (a changed value is read afresh every time).
_scan: tuple[tuple[str, ...], frozenset[str], tuple[tuple[str, int], ...]] | None = None


def secret_values(environ: dict[str, str] | os._Environ[str] | None = None) -> list[str]:
    """The values to mask, longest first (so a key that contains another is masked whole)."""
    global _scan
    with _lock:
        declared = frozenset(_key_names)
    if environ is not None:
        candidates = _candidate_names(environ, set(declared))
        env: Any = environ
    else:
        env = os.environ
        names = tuple(env)
        scan = _scan
        if scan is None or scan[0] != names or scan[1] != declared:
            scan = (names, declared, _candidate_names(names, set(declared)))
            _scan = scan
        candidates = scan[2]
    out = {v for name, least in candidates if len(v := env.get(name) or "") >= least}
    return sorted(out, key=lambda v: (-len(v), v))


def _variants(value: str) -> list[str]:
    """The value and the forms it takes inside JSON or YAML double-quoted text."""
    forms = [value]
    for ascii_only in (False, True):
        escaped = json.dumps(value, ensure_ascii=ascii_only)[1:-1]
        if escaped not in forms:
            forms.append(escaped)
    return forms


@dataclass
class Masking:
    """The masking rules at one moment (the environment is read once): use it for many strings."""

    secrets: list[str] = field(default_factory=list)
    maskers: list[Masker] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._forms = [form for s in self.secrets for form in _variants(s)]
        self._forms.sort(key=lambda v: (-len(v), v))

    @property
    def active(self) -> bool:
        return bool(self._forms or self.maskers)

    def text(self, text: str) -> str:
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        for masker in self.maskers:
            text = masker(text)
        return text

    def contains_secret(self, text: str) -> bool:
        return any(form in text for form in self._forms)

    def data(self, value: Any) -> Any:
        """``value`` with every string in it (dict keys included) masked; other values as they
        are. The value is one :func:`row` (unless the caller is already inside one)."""
        if not self.active:
            return value
        with row():
            return self._walk(value)

    def _walk(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {(self.text(k) if isinstance(k, str) else k): self._walk(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self._walk(v) for v in value]
        return value


_last: Masking | None = None


def current() -> Masking:
    """The masking rules as of now: the environment's key values and the registered maskers."""
    global _last
    with _lock:
        maskers = list(_maskers)
    values = secret_values()
    last = _last
    if last is not None and last.secrets == values and last.maskers == maskers:
        return last
    _last = Masking(values, maskers)
    return _last


def key_masking() -> Masking:
    """Only the key values of the environment, without the registered maskers: for what stays
    in memory (a model's answer that validators check), as opposed to what is written."""
    return Masking(secret_values())


def mask(text: str) -> str:
    """``text`` with every key value (and whatever registered maskers remove) masked."""
    return current().text(text)


def mask_data(value: Any) -> Any:
    """JSON-like ``value`` with every string in it masked (a new structure when anything is)."""
    return current().data(value)


class StreamMasker:
    """Masks text that arrives in pieces (a streamed answer), where a key may be split between
    two pieces. It holds back only what could still become a key: the longest end of the text so
    far that is the start of a key (and, while a masker is registered, everything after the last
    newline), until more text arrives or :meth:`flush` is called. Ordinary text, which does not
    end in the first characters of a key, streams through at once."""

    def __init__(self, masking: Masking | None = None) -> None:
        self.masking = masking or current()
        self._pending = ""
        self._row: dict[str, Any] = {}  # the whole stream is one row (see :func:`row`)

    def feed(self, piece: str) -> str:
        """Text that is now safe to show (possibly empty)."""
        if not self.masking.active:
            return piece
        text = self._pending + piece
        cut = len(text) - self._key_start_at_end(text)
        if self.masking.maskers:
            cut = min(cut, text.rfind("\n") + 1)
        # A whole key that straddles the cut moves it back to where the key starts.
        moved = True
        while moved:
            moved = False
            for form in self.masking._forms:
                start = text.find(form, max(0, cut - len(form) + 1))
                if start != -1 and start < cut < start + len(form):
                    cut, moved = start, True
        out, self._pending = text[:cut], text[cut:]
        return self._mask(out)

    def _mask(self, out: str) -> str:
        if not out:
            return ""
        with row(self._row):
            return self.masking.text(out)

    def _key_start_at_end(self, text: str) -> int:
        """Length of the longest end of ``text`` that is a proper beginning of a key form."""
        hold = 0
        for form in self.masking._forms:
            i = text.find(form[0], max(0, len(text) - len(form) + 1))
            while i != -1:
                if len(text) - i <= hold:
                    break
                if form.startswith(text[i:]):
                    hold = len(text) - i
                    break
                i = text.find(form[0], i + 1)
        return hold

    def flush(self) -> str:
        out, self._pending = self._pending, ""
        return self._mask(out)


# --------------------------------------------------------------------------------------------
# Endpoint-like parameters
# --------------------------------------------------------------------------------------------

# Parameters that choose where a call goes or with which credentials (litellm takes them as call
# arguments and would honour them from a prompt's or an alias's ``params``). Endpoints come only
# from ``api_base`` in promptctl.yaml and keys only through ``api_key_env``; ``model`` and
# ``messages`` are promptctl's own.
_ENDPOINT_WORDS = frozenset(
    {
        "base",
        "url",
        "uri",
        "endpoint",
        "host",
        "hostname",
        "port",
        "domain",
        "key",
        "token",
        "secret",
        "password",
        "credential",
        "credentials",
        "auth",
        "proxy",
        "ssl",
        "tls",
        "cert",
        "verify",
        "region",
        "location",
        "project",
        "deployment",
        "provider",
        "client",
    }
)
_ENDPOINT_NAMES = frozenset({"model", "messages"})
# Names with one of the words above that neither redirect a call nor carry a credential.
_HARMLESS = frozenset({"prompt_cache_key", "input_cost_per_token", "output_cost_per_token"})


def is_endpoint_param(name: str) -> bool:
    """Whether a model parameter named ``name`` may redirect a call or supply credentials:
    ``base_url``, ``api_base``, ``api_key``, ``custom_llm_provider``, ``aws_region_name``,
    ``vertex_location``, ``ssl_verify``, ``client`` … (a word of its name, split on ``_``, from a
    fixed list), plus ``model`` and ``messages``. Such parameters are refused wherever params are
    written. ``extra_headers`` and ``extra_body`` are allowed: they go with the request to the
    endpoint the configuration chose and cannot send the key anywhere else."""
    lowered = name.lower()
    if lowered in _HARMLESS:
        return False
    if lowered in _ENDPOINT_NAMES:
        return True
    return any(word in _ENDPOINT_WORDS for word in re.split(r"[_\-.]+", lowered))


# Environment variables litellm (or a provider SDK under it) reads as a provider's endpoint.
_ENDPOINT_ENV = re.compile(r"(?:^|_)(?:API_BASE|BASE_URL|ENDPOINT|ENDPOINT_URL|API_URL|API_HOST)(?:_|$)")
_ENDPOINT_ENV_NAMES = frozenset({"WATSONX_URL", "WX_URL", "WML_URL"})


def is_endpoint_variable(name: str) -> bool:
    """Whether litellm would read the environment variable ``name`` as a provider's endpoint:
    ``OPENAI_BASE_URL``, ``OPENAI_API_BASE``, ``ANTHROPIC_API_BASE``, ``AZURE_API_BASE``,
    ``AWS_ENDPOINT_URL_BEDROCK_RUNTIME``, ``WATSONX_URL`` … (``*_API_BASE*``, ``*_BASE_URL*``,
    ``*_ENDPOINT*``, ``*_API_URL*``, ``*_API_HOST*``)."""
    return name in _ENDPOINT_ENV_NAMES or bool(_ENDPOINT_ENV.search(name))
