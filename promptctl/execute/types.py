"""Plain data passed between the planner, the model layer, the cache and the runner.

Nothing here imports litellm: cached and replayed runs must never pay its ~2 s import.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from promptctl.execute.model_catalog import Prices
from promptctl.jsonutil import canonical_json

if TYPE_CHECKING:
    from promptctl.suite.model import Config

# The start of the error of a target whose provider key is missing (llm writes it, the runner
# recognises it to add the way out for that row).
NO_API_KEY = "no API key for "

Source = Literal["live", "cache", "recording"]
Status = Literal["ok", "error", "skipped"]


@dataclass(frozen=True)
class Target:
    """A resolved model target: what litellm is called with. ``name`` is what the user wrote
    (an alias from promptctl.yaml or a raw litellm model string)."""

    name: str
    model: str
    api_base: str | None = None
    api_key_env: str | None = None
    params: tuple[tuple[str, Any], ...] = ()
    rpm: float | None = None
    price: Prices | None = None  # the alias's declared prices (else litellm's table applies)

    @property
    def params_dict(self) -> dict[str, Any]:
        return dict(self.params)

    def to_dict(self) -> dict[str, Any]:
        """Plain data (lists and dicts only): what crosses the process boundary to a model worker."""
        return {
            "name": self.name,
            "model": self.model,
            "api_base": self.api_base,
            "api_key_env": self.api_key_env,
            "params": [[k, v] for k, v in self.params],
            "rpm": self.rpm,
            "price": None
            if self.price is None
            else [self.price.input, self.price.output, self.price.cached_input],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Target:
        price = data.get("price")
        return cls(
            name=data["name"],
            model=data["model"],
            api_base=data.get("api_base"),
            api_key_env=data.get("api_key_env"),
            params=tuple((str(k), v) for k, v in data.get("params") or ()),
            rpm=data.get("rpm"),
            price=None if price is None else Prices(price[0], price[1], price[2]),
        )


@dataclass
class ModelRequest:
    target: Target
    messages: list[dict[str, str]]
    params: dict[str, Any] = field(default_factory=dict)  # alias params overlaid by prompt params
    fallbacks: list[Target] = field(default_factory=list)
    sample: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target.to_dict(),
            "messages": self.messages,
            "params": self.params,
            "fallbacks": [t.to_dict() for t in self.fallbacks],
            "sample": self.sample,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelRequest:
        return cls(
            target=Target.from_dict(data["target"]),
            messages=list(data["messages"]),
            params=dict(data.get("params") or {}),
            fallbacks=[Target.from_dict(t) for t in data.get("fallbacks") or ()],
            sample=int(data.get("sample") or 0),
        )


def fingerprint(
    model: str, api_base: str | None, messages: list[dict[str, str]], params: dict[str, Any], sample: int
) -> str:
    """Content address of a request: the cache key and the recording check.

    Covers model, api_base, the fully rendered messages, every parameter and the sample index
    (so repeated samples stay distinct). Never the API key (only its variable name is known
    here, and even that is left out: rotating a key must not invalidate the cache).
    """
    payload = {"model": model, "api_base": api_base, "messages": messages, "params": params, "sample": sample}
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


@dataclass
class ModelResponse:
    """Everything one model call yields. ``cost`` is None when the price is unknown (never 0)."""

    status: Status = "ok"
    text: str | None = None
    error: str | None = None
    latency_ms: float | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    finish_reason: str | None = None
    answered_by: str | None = None  # target name (alias) that produced the answer
    provider_model: str | None = None  # model version the provider reported, for drift detection
    attempts: int = 0  # HTTP attempts made, across retries and fallbacks
    retries: int = 0
    source: Source = "live"
    # The provider reported no usage: the token counts (and the cost) are promptctl's estimate.
    tokens_estimated: bool = False

    def to_dict(self) -> dict[str, Any]:
        # Shallow: every field is a plain value (asdict's deep copy is slow on hot paths).
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelResponse:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data}
        return cls(**known)


@dataclass(frozen=True)
class RetryPolicy:
    """promptctl's own retry policy (litellm's retries are off: they hide the real error)."""

    max_retries: int = 4
    base_delay: float = 0.5  # seconds, doubled each attempt, with full jitter
    max_delay: float = 8.0
    retry_after_cap: float = 30.0  # never sleep longer than this for a Retry-After header
    timeout: float = 60.0  # per call

    @classmethod
    def from_config(cls, cfg: Config) -> RetryPolicy:
        """The policy promptctl.yaml asks for (``max_retries``, ``retry_max_wait``, ``timeout``)."""
        return cls(max_retries=cfg.max_retries, retry_after_cap=cfg.retry_max_wait, timeout=cfg.timeout)

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> RetryPolicy:
        return cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
