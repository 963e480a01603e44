"""litellm's model table read without litellm: the same names and prices litellm itself uses."""

from __future__ import annotations

import subprocess
import sys

import pytest

from promptctl.execute import model_catalog


@pytest.mark.parametrize(
    "model", ["gpt-4o-mini", "openai/gpt-4o-mini", "anthropic/claude-haiku-4-5", "gpt-4o"]
)
def test_prices_equal_litellms_own(model: str) -> None:
    from promptctl.execute.llm import ensure_litellm

    info = ensure_litellm().get_model_info(model)
    p = model_catalog.prices(model)
    assert p is not None
    assert (p.input, p.output) == (info["input_cost_per_token"], info["output_cost_per_token"])
    assert p.cached_input == info.get("cache_read_input_token_cost")


def test_unknown_and_mismatched_provider_are_not_priced() -> None:
    assert model_catalog.prices("openai/no-such-model") is None
    assert model_catalog.prices("no-such-model") is None
    # the name exists, but under another provider: not this model
    assert model_catalog.model_info("anthropic/gpt-4o-mini") is None


def test_cost_is_tokens_times_prices_with_cached_prompt_tokens() -> None:
    p = model_catalog.prices("gpt-4o-mini")
    assert p is not None and p.cached_input is not None
    assert model_catalog.cost("gpt-4o-mini", 1000, 500) == pytest.approx(1000 * p.input + 500 * p.output)
    with_cache = model_catalog.cost("gpt-4o-mini", 1000, 500, cached_tokens=400)
    assert with_cache == pytest.approx(600 * p.input + 400 * p.cached_input + 500 * p.output)
    assert model_catalog.cost("openai/no-such-model", 10, 10) is None


def test_reading_the_table_does_not_import_litellm() -> None:
    code = (
        "import sys; from promptctl.execute import model_catalog as m; "
        "assert m.prices('gpt-4o-mini') is not None and 'gpt-4o' in m.known_model_names(); "
        "print('litellm' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_a_declared_price_wins_over_the_table_in_the_one_rule() -> None:
    declared = model_catalog.Prices.per_million(1.0, 4.0, cached_input=0.5)
    assert declared == model_catalog.Prices(1e-6, 4e-6, 0.5e-6)
    assert model_catalog.cost("openai/no-such-model", 1000, 500, price=declared) == pytest.approx(
        1000 * 1e-6 + 500 * 4e-6
    )
    with_cache = model_catalog.cost("gpt-4o-mini", 1000, 500, cached_tokens=200, price=declared)
    assert with_cache == pytest.approx(800 * 1e-6 + 200 * 0.5e-6 + 500 * 4e-6)
    assert model_catalog.is_priced("openai/no-such-model", declared)
    assert not model_catalog.is_priced("openai/no-such-model")
    assert model_catalog.is_priced("gpt-4o-mini")


def test_a_target_keeps_its_price_across_the_process_boundary() -> None:
    from promptctl.execute.types import Target

    t = Target("mine", "openai/x", price=model_catalog.Prices.per_million(1.0, 2.0))
    assert Target.from_dict(t.to_dict()) == t
    assert Target.from_dict(Target("raw", "raw").to_dict()).price is None
