"""What litellm knows about models — names and prices — read without importing litellm.

litellm runs with ``LITELLM_LOCAL_MODEL_COST_MAP=True`` (see :mod:`promptctl.execute.llm`), so its
price table is the JSON file it ships, ``model_prices_and_context_window_backup.json``. Reading
that file directly (~15 ms, once per process) gives the same answers as ``litellm.get_model_info``
at a fraction of litellm's ~2.5 s import: replayed and cached runs can be priced, and model names
checked, on paths that must never import litellm (``lint``, ``--dry-run``, replays).
"""

from __future__ import annotations

import importlib.util
import json
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

_TABLE = "model_prices_and_context_window_backup.json"


@dataclass(frozen=True)
class Prices:
    """USD per token; ``cached_input`` is the price of prompt tokens served from a provider cache."""

    input: float
    output: float
    cached_input: float | None = None

    @classmethod
    def per_million(cls, input: float, output: float, cached_input: float | None = None) -> Prices:
        """Prices as promptctl.yaml declares them (an alias's ``price:``): USD per 1M tokens."""
        return cls(input / 1e6, output / 1e6, None if cached_input is None else cached_input / 1e6)


def _litellm_folders() -> list[str]:
    spec = importlib.util.find_spec("litellm")
    return list(spec.submodule_search_locations or []) if spec is not None else []


@cache
def _table() -> dict[str, dict[str, Any]]:
    for folder in _litellm_folders():
        path = Path(folder) / _TABLE
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(data, dict):
            return {k: v for k, v in data.items() if isinstance(v, dict) and k != "sample_spec"}
    return {}


def model_info(model: str) -> dict[str, Any] | None:
    """litellm's entry for ``model``: the exact name, else ``provider/name`` looked up as ``name``
    when the table says that model belongs to ``provider`` (``openai/gpt-4o-mini``)."""
    table = _table()
    info = table.get(model)
    if info is not None:
        return info
    provider, sep, name = model.partition("/")
    if sep:
        info = table.get(name)
        if info is not None and info.get("litellm_provider") == provider:
            return info
    return None


def known_model_names() -> frozenset[str]:
    """Every model name in litellm's table (for "did you mean" suggestions)."""
    return frozenset(_table())


# litellm's provider enum (``class LlmProviders(str, Enum)`` in litellm/types/utils.py), read as
# text like the table: it names providers the price table has no entry for (openrouter,
# ollama_chat, hosted_vllm, ...).
_PROVIDER_ENUM = re.compile(r'^    [A-Z0-9_]+ = "([^"]+)"', re.MULTILINE)


@cache
def known_providers() -> frozenset[str]:
    """Every provider prefix litellm routes (``provider/name``): the table's ``litellm_provider``
    values, litellm's provider enum, and ``openai`` (any OpenAI-compatible server)."""
    out = {"openai"}
    out.update(v["litellm_provider"] for v in _table().values() if isinstance(v.get("litellm_provider"), str))
    for folder in _litellm_folders():
        try:
            text = (Path(folder) / "types" / "utils.py").read_text("utf-8")
        except OSError:
            continue
        start = text.find("class LlmProviders(")
        if start >= 0:
            end = text.find("\nclass ", start + 1)
            out.update(_PROVIDER_ENUM.findall(text[start : end if end > 0 else len(text)]))
            break
    return frozenset(out)


def prices(model: str) -> Prices | None:
    """The model's prices, or None when the table does not price it (never a fake zero)."""
    info = model_info(model)
    if info is None:
        return None
    price_in, price_out = info.get("input_cost_per_token"), info.get("output_cost_per_token")
    if not isinstance(price_in, (int, float)) or not isinstance(price_out, (int, float)):
        return None
    cached = info.get("cache_read_input_token_cost")
    return Prices(
        float(price_in), float(price_out), float(cached) if isinstance(cached, (int, float)) else None
    )


def is_priced(model: str, price: Prices | None = None) -> bool:
    """Whether :func:`cost` can price calls to ``model`` (``price``: an alias's declared prices)."""
    return price is not None or prices(model) is not None


def cost(
    model: str,
    input_tokens: int,
    output_tokens: int,
    *,
    cached_tokens: int = 0,
    price: Prices | None = None,
) -> float | None:
    """The one pricing rule: tokens x the model's prices, ``cached_tokens`` of the prompt at the
    cached-input price when the model has one. ``price`` (an alias's ``price:`` in promptctl.yaml)
    wins over the table. Calls made, replays and ``--dry-run`` estimates all go through it. None
    when the model is not priced."""
    p = price if price is not None else prices(model)
    if p is None:
        return None
    cached = cached_tokens if p.cached_input is not None and 0 < cached_tokens <= input_tokens else 0
    total = (input_tokens - cached) * p.input + output_tokens * p.output
    if cached and p.cached_input is not None:
        total += cached * p.cached_input
    return total
