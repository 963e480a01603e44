"""The plan: selection (-k, --tag, shards), which models a case runs on, alias targets, and one
rendered, fingerprinted row per case × model × sample."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptctl.errors import InputError, UsageError
from promptctl.git.sources import WorktreeSource
from promptctl.run.plan import Selection, build_plan, models_for, parse_shard, resolve_target, shard_of
from promptctl.suite.config import load_config
from promptctl.suite.load import Suite, load_suite
from promptctl.suite.model import Case, Config, ModelAlias, Prompt
from promptctl.suite.render import make_renderer
from tests.helpers import write_files

FILES = {
    "promptctl.yaml": """
        model: base-model
        models:
          fast: {model: openai/gpt-4o-mini, params: {temperature: 0}, fallbacks: [slow], rpm: 60}
          slow: {model: anthropic/claude, api_base: "http://127.0.0.1:9/v1"}
    """,
    "prompts/greet.yaml": "inputs: {name: {}}\nparams: {max_tokens: 20}\ntemplate: 'Hello {{ name }}'\n",
    "cases/greet.yaml": """
        prompt: greet
        models: [fast, slow]
        cases:
          - {id: alice, vars: {name: Alice}, tags: [vip]}
          - {id: bob, vars: {name: Bob}, repeat: 3}
    """,
}


def _suite(root: Path) -> Suite:
    write_files(root, FILES)
    return load_suite(load_config(root), WorktreeSource(root))


def test_rows_are_case_model_sample_with_distinct_fingerprints(tmp_path: Path) -> None:
    suite = _suite(tmp_path)
    rows = build_plan(suite, make_renderer(suite))
    assert [r.key_str for r in rows] == [
        "greet::alice::fast::0",
        "greet::alice::slow::0",
        "greet::bob::fast::0",
        "greet::bob::fast::1",
        "greet::bob::fast::2",
        "greet::bob::slow::0",
        "greet::bob::slow::1",
        "greet::bob::slow::2",
    ]
    assert len({r.fingerprint for r in rows}) == len(rows)  # samples stay distinct requests
    fast = rows[0]
    assert fast.messages == [{"role": "user", "content": "Hello Alice"}]
    assert fast.params == {"temperature": 0, "max_tokens": 20}  # alias params under prompt params
    assert fast.target.model == "openai/gpt-4o-mini" and [t.name for t in fast.fallbacks] == ["slow"]
    again = build_plan(suite, make_renderer(suite), models=["fast"], repeat=1)
    assert [r.key_str for r in again] == ["greet::alice::fast::0", "greet::bob::fast::0"]
    assert again[0].fingerprint == fast.fingerprint


def test_every_render_problem_is_reported_before_anything_runs(tmp_path: Path) -> None:
    write_files(tmp_path, {"cases/more.yaml": "prompt: greet\ncases: [{id: x}, {id: y}]\n"})
    suite = _suite(tmp_path)
    with pytest.raises(InputError) as exc:
        build_plan(suite, make_renderer(suite))
    assert [(p.path, p.line) for p in exc.value.problems] == [("cases/more.yaml", 2)] * 2
    assert all("missing required variable 'name'" in p.message for p in exc.value.problems)


def _case(id_: str, tags: list[str] | None = None) -> Case:
    return Case(id=id_, prompt="greet", file="cases/greet.yaml", tags=tags or [])


@pytest.mark.parametrize(
    ("selection", "selected"),
    [
        (Selection(), {"alice", "bob", "carol"}),
        (Selection(keywords=["ali"]), {"alice"}),
        (Selection(keywords=["greet::b*"]), {"bob"}),
        (Selection(keywords=["not alice"]), {"bob", "carol"}),
        (Selection(keywords=["alice", "carol"]), {"alice", "carol"}),
        (Selection(tags=["vip"]), {"alice"}),
        (Selection(only_keys={"greet::bob"}), {"bob"}),
    ],
)
def test_selection(selection: Selection, selected: set[str]) -> None:
    prompt = Prompt(name="greet", path="prompts/greet.yaml")
    cases = [_case("alice", ["vip"]), _case("bob"), _case("carol")]
    assert {c.id for c in cases if selection.matches(c, prompt)} == selected


def test_shards_partition_the_cases_deterministically() -> None:
    keys = [f"p::case-{i}" for i in range(200)]
    shards = [shard_of(k, 4) for k in keys]
    assert set(shards) == {1, 2, 3, 4} and shards == [shard_of(k, 4) for k in keys]
    assert parse_shard("2/4") == (2, 4)
    for bad in ("5/4", "0/4", "x"):
        with pytest.raises(UsageError):
            parse_shard(bad)


def test_models_for_and_targets() -> None:
    cfg = Config(root="/", model="cfg-model", models={"a": ModelAlias("a", "openai/x", fallbacks=["b"])})
    prompt = Prompt(name="p", path="p.yaml", model="prompt-model")
    case = _case("c")
    assert models_for(case, prompt, cfg, None) == ["prompt-model"]
    assert models_for(case, Prompt(name="p", path="p.yaml"), cfg, None) == ["cfg-model"]
    case.models = ["a", "a", "z"]
    assert models_for(case, prompt, cfg, None) == ["a", "z"]
    assert models_for(case, prompt, cfg, ["o"]) == ["o"]
    target, fallbacks = resolve_target("a", cfg)
    assert target.model == "openai/x" and [(t.name, t.model) for t in fallbacks] == [("b", "b")]
    raw, none = resolve_target("openai/raw", cfg)
    assert raw.model == "openai/raw" and none == []
