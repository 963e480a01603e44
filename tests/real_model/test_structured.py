"""`is_json` and `json_schema` (with and without `allow_fence`) on what a 135M model really writes:
fenced JSON, prose, a truncated Python block. Every verdict and reason in the record is checked
against one computed here, independently, from the recorded output with `json` and `jsonschema`."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from jsonschema.exceptions import best_match

from tests.real_model.conftest import cli, last_record

pytestmark = pytest.mark.real_model

PROMPT = """
    description: Ask for JSON (the model may or may not comply).
    inputs: {ask: {}}
    params: {temperature: 0, max_tokens: 120}
    messages:
      - role: user
        content: "{{ ask }}"
"""

CAT_SCHEMA = {
    "type": "object",
    "required": ["name", "age", "color"],
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "color": {"type": "string"}},
}
ASSERTS: list[dict[str, Any]] = [
    {"type": "is_json", "allow_fence": True},
    {"type": "is_json"},
    {"type": "json_schema", "allow_fence": True, "value": CAT_SCHEMA},
    {"type": "json_schema", "allow_fence": True, "value": {"required": ["owner"]}},
    {
        "type": "json_schema",
        "allow_fence": True,
        "value": {"properties": {"color": {"enum": ["black", "white", "grey"]}}},
    },
    {"type": "json_schema", "value": CAT_SCHEMA},
]
ASKS = {
    "cat": "Describe a cat as a JSON object with name, age and color.",
    "capital": 'Give the capital of France as {"capital": "..."}.',
    "fruits": "Write a JSON list of three fruits.",
}
FENCE = re.compile(r"\s*```(?:json)?[ \t]*\n(.*?)\n?[ \t]*```\s*", re.DOTALL | re.IGNORECASE)


def fence_would_help(output: str) -> bool:
    """The output is one fenced block whose body is JSON: ``allow_fence: true`` would accept it."""
    m = FENCE.fullmatch(output)
    if m is None or "```" in m.group(1):
        return False
    try:
        json.loads(m.group(1))
    except ValueError:
        return False
    return True


def verdict(output: str, a: dict[str, Any]) -> tuple[bool, list[str]]:
    """(passes, fragments the reason must contain), computed with json/jsonschema alone."""
    text = output
    if a.get("allow_fence"):
        m = FENCE.fullmatch(output)
        if m is not None and "```" not in m.group(1):
            text = m.group(1)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        if not text.strip():
            return False, ["empty output"]
        where = f"line {e.lineno} col {e.colno}"
        needed = ["expected only JSON", where] if e.msg == "Extra data" else ["invalid JSON", where, e.msg]
        if not a.get("allow_fence") and fence_would_help(output):
            needed.append("allow_fence: true")
        return False, needed
    if a["type"] == "is_json":
        kinds: dict[type, str] = {dict: "object", list: "array", str: "string"}
        kind = kinds.get(type(doc), "value")
        return True, [f"JSON {kind}"]
    errors = list(Draft202012Validator(a["value"]).iter_errors(doc))
    if not errors:
        return True, ["matches the schema"]
    best = best_match(errors)
    return False, [f"{best.json_path}:", best.message[:40]]


def run_asks(make_project: Callable[[dict[str, str]], Path]) -> dict[str, dict[str, Any]]:
    cases = {
        "prompt": "ask",
        "cases": [{"id": cid, "vars": {"ask": ask}, "assert": ASSERTS} for cid, ask in ASKS.items()],
    }
    root = make_project({"prompts/ask.yaml": PROMPT, "cases/ask.yaml": json.dumps(cases, indent=1)})
    r = cli(root, "test")
    assert r.code in (0, 1), r.output  # failures are expected; errors (exit 3) are not
    rows = {row["case"]: row for row in last_record(root)["rows"]}
    assert set(rows) == set(ASKS)
    return rows


def test_is_json_and_json_schema_verdicts_on_real_output(
    make_project: Callable[[dict[str, str]], Path],
) -> None:
    rows = run_asks(make_project)
    seen: set[tuple[str, bool]] = set()
    for cid, row in rows.items():
        assert row["source"] == "live" and isinstance(row["output"], str), row
        assert len(row["asserts"]) == len(ASSERTS)
        for a, got in zip(ASSERTS, row["asserts"], strict=True):
            assert got["type"] == a["type"] and got["error"] is False, got
            passes, fragments = verdict(row["output"], a)
            where = f"{cid} / {a}: output {row['output']!r}"
            assert got["passed"] is passes, f"{where}: promptctl says {got}"
            assert got["score"] == (1.0 if passes else 0.0), where
            for fragment in fragments:
                assert fragment in got["reason"], f"{where}: reason {got['reason']!r} lacks {fragment!r}"
            seen.add((a["type"], passes))
        assert row["status"] == ("pass" if all(x["passed"] for x in row["asserts"]) else "fail")
    # This model at temperature 0 gives both kinds of answer, so both verdicts are exercised.
    assert seen == {("is_json", True), ("is_json", False), ("json_schema", True), ("json_schema", False)}, (
        seen
    )


def test_the_allow_fence_hint_appears_only_when_it_would_help(
    make_project: Callable[[dict[str, str]], Path],
) -> None:
    rows = run_asks(make_project)
    wrong = [
        (cid, a, got["reason"])
        for cid, row in rows.items()
        for a, got in zip(ASSERTS, row["asserts"], strict=True)
        if "allow_fence: true" in got["reason"] and not fence_would_help(row["output"])
    ]
    assert not wrong, wrong
