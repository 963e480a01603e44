"""promptctl's small schema checker agrees with jsonschema on the shipped schemas."""

from __future__ import annotations

import random
from typing import Any

import jsonschema
import pytest

from promptctl.suite.schemacheck import SUPPORTED, Checker
from promptctl.suite.yamlio import load_schema

SCHEMAS = ["prompt", "cases", "config"]

SAMPLES: dict[str, list[Any]] = {
    "prompt": [
        {"template": "x"},
        {"template": 5},
        {"templte": "x"},
        {"params": 5, "template": "x"},
        {"messages": []},
        {"messages": [{"role": "robot", "content": "x"}]},
        {"messages": [{"placeholder": "1bad"}]},
        {"inputs": {"a": {"type": "strin"}}, "template": "x"},
        {"inputs": {"a": None, "b": {"required": "yes"}}, "template": "x"},
        {"output": {"format": "xml", "schema": []}, "template": "x"},
        {"tags": ["a", 1], "template": "x"},
        {"params": {"temperature": "hot", "max_tokens": 0, "top_p": 2, "seed": 1.5}, "template": "x"},
        {"params": {"stop": [1], "logit_bias": {"50256": "x"}, "response_format": "json"}, "template": "x"},
        {"params": {"presence_penalty": -3, "n": 0, "custom_provider_flag": {"a": 1}}, "template": "x"},
        [],
        "text",
    ],
    "cases": [
        {"prompt": "p", "cases": [{"id": "a", "vars": {}}]},
        {"cases": []},
        {"prompt": 3},
        {"prompt": "p", "repeat": 0, "min_pass_rate": 2},
        {
            "prompt": "p",
            "cases": [{"id": 1.5, "assert": ["x", {"value": 1}, {"type": "t", "weight": -1}, 3]}],
        },
        {"prompt": "p", "defaults": {"transform": [1], "assert": "x"}},
        {"prompt": "p", "cases": [{"idd": "a"}]},
    ],
    "config": [
        {"model": "m", "concurrency": 0},
        {"models": {"a": {"model": "m", "api_key_env": "1BAD"}, "b": {}}},
        {"gate": {"alpha": 1, "correction": "bonferroni"}},
        {"timeout": 0, "max_retries": 100, "unknown": 1},
        {"models": {"a": {"model": "m", "params": {"temperature": "hot", "stop": 3}}}},
    ],
}


def _paths(errors: Any) -> set[tuple[Any, ...]]:
    return {tuple(e.absolute_path) for e in errors}


@pytest.mark.parametrize("name", SCHEMAS)
def test_shipped_schemas_use_only_supported_keywords(name: str) -> None:
    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if k not in ("properties", "$defs"):
                    assert k in SUPPORTED, f"{name}: keyword {k!r} not implemented by schemacheck"
                if k in ("properties", "$defs") and isinstance(v, dict):
                    for sub in v.values():
                        walk(sub)
                else:
                    walk(v)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    schema = load_schema(name)
    jsonschema.validators.validator_for(schema).check_schema(schema)
    walk(schema)


@pytest.mark.parametrize("name", SCHEMAS)
def test_agrees_with_jsonschema_on_samples(name: str) -> None:
    schema = load_schema(name)
    reference = jsonschema.validators.validator_for(schema)(schema)
    ours = Checker(schema)
    for sample in SAMPLES[name]:
        theirs = list(reference.iter_errors(sample))
        mine = list(ours.iter_errors(sample))
        assert bool(theirs) == bool(mine), sample
        assert _paths(theirs) == _paths(mine), sample
        assert {e.validator for e in theirs} == {e.validator for e in mine}, sample


def test_agrees_on_random_mutations() -> None:
    rng = random.Random(7)
    schema = load_schema("cases")
    reference = jsonschema.validators.validator_for(schema)(schema)
    ours = Checker(schema)
    values: list[Any] = [None, 0, -1, 1.5, True, "s", [], {}, ["x"], {"type": "contains"}]
    keys = ["prompt", "cases", "repeat", "min_pass_rate", "models", "tags", "dataset", "defaults", "bogus"]
    for _ in range(300):
        doc = {k: rng.choice(values) for k in rng.sample(keys, rng.randint(0, 5))}
        assert bool(list(reference.iter_errors(doc))) == bool(list(ours.iter_errors(doc))), doc
        assert _paths(reference.iter_errors(doc)) == _paths(ours.iter_errors(doc)), doc


def test_prompt_and_config_type_params_alike() -> None:
    """Model parameters are typed once in spirit: the two standalone schemas hold the same copy."""
    params = load_schema("prompt")["$defs"]["params"]
    assert params == load_schema("config")["$defs"]["params"]
    for name in ("temperature", "top_p", "max_tokens", "seed", "stop", "response_format", "n", "logit_bias"):
        assert name in params["properties"]
