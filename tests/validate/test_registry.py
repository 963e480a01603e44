from __future__ import annotations

import json
import subprocess
import sys

import pytest

from promptctl.suite.model import Case, Prompt
from promptctl.validate import KNOWN_TRANSFORMS, KNOWN_TYPES, assertion_schemas, lint_assertion
from tests.validate.util import A

ALL_TYPES = {
    "not_empty", "length", "equals", "contains", "icontains", "not_contains", "starts_with", "regex",
    "one_of", "is_json", "json_schema", "is_python", "levenshtein", "bleu", "rouge", "latency", "cost",
    "judge", "python", "similar", "pii", "human",
}  # fmt: skip


def test_known_types() -> None:
    assert list(KNOWN_TYPES) == sorted(KNOWN_TYPES)
    assert set(KNOWN_TYPES) == ALL_TYPES
    assert "extract_json_fence" in KNOWN_TRANSFORMS


def test_import_is_light() -> None:
    heavy = ["rapidfuzz", "sacrebleu", "rouge_score", "litellm", "jsonschema", "nltk", "absl"]
    code = (
        "import sys, json\n"
        "import promptctl.validate\n"
        "from promptctl.validate import lint_assertion\n"
        "from promptctl.suite.model import Assertion\n"
        "lint_assertion(Assertion(type='json_schema', value={'type': 'object'}))\n"
        "lint_assertion(Assertion(type='regex', value='a+'))\n"
        f"print(json.dumps([m for m in {heavy!r} if m in sys.modules]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == []


def test_valid_assertions_lint_clean() -> None:
    good = [
        A("not_empty"),
        A("length", min=1, max=10, unit="words"),
        A("contains", ["a", "b"], all=True, transform=["strip", "lower"]),
        A("regex", r"^\d+$", multiline=True),
        A("one_of", ["a", "b"]),
        A("equals", {"a": 1}),
        A("is_json", allow_fence=True),
        A("json_schema", "schemas/x.json"),
        A("is_python", mode="eval"),
        A("levenshtein", "x", threshold=0.9),
        A("rouge", "x", variant="rouge2"),
        A("latency", max_ms=2000),
        A("cost", max_usd=0.01),
        A("judge", rubric="polite", model="gpt-4o", threshold=0.7, weight=2),
        A("python", "checks.tone:is_polite", args={"k": 1}),
    ]
    for a in good:
        assert lint_assertion(a) == [], a


def test_unknown_type_suggests() -> None:
    [msg] = lint_assertion(A("containz", "x"))
    assert msg.startswith("unknown assertion type 'containz'; did you mean 'contains'? known: bleu, contains")
    [msg] = lint_assertion(A("frobnicate"))
    assert msg.startswith("unknown assertion type 'frobnicate'; known: ")


def test_unknown_option() -> None:
    [msg] = lint_assertion(A("contains", "x", ignorecase=True))
    assert msg == (
        "unknown option 'ignorecase' for 'contains'; did you mean 'ignore_case'? known: all, ignore_case"
    )
    [msg] = lint_assertion(A("not_empty", min=1))
    assert msg == "unknown option 'min' for 'not_empty'; none are accepted"


def test_unknown_transform() -> None:
    [msg] = lint_assertion(A("contains", "x", transform=["strip", "lowercase"]))
    assert msg.startswith("unknown transform 'lowercase'; did you mean 'lower'? known: collapse_whitespace")


@pytest.mark.parametrize(
    ("a", "expected"),
    [
        (A("regex"), "'regex' requires `value` (string or array)"),
        (A("regex", "(a"), "invalid regular expression '(a'"),
        (A("contains", 3), "`value` must be string or array, got integer 3"),
        (A("contains", ["a", 1]), "`value` items must be string, got integer 1"),
        (A("contains", []), "`value` must not be an empty list"),
        (A("not_empty", "x"), "'not_empty' takes no `value`"),
        (A("length", min="3"), "option 'min' must be integer, got string '3'"),
        (A("length", max=-1), "option 'max' must be >= 0, got -1"),
        (
            A("length", unit="bytes", max=1),
            "option 'unit' must be one of chars, words, lines, tokens, got 'bytes'",
        ),
        (A("length"), "'length' needs option 'min', 'max' or both"),
        (A("length", min=5, max=2), "'length' min (5) is greater than max (2)"),
        (A("contains", "x", threshold=0.5), "`threshold` has no meaning for 'contains'"),
        (A("bleu", "x", threshold=2), "`threshold` must be a number in [0, 1], got 2"),
        (A("contains", "x", weight=-1), "`weight` must be a number >= 0, got -1"),
        (A("judge"), "'judge' requires option 'rubric' (string)"),
        (A("latency"), "'latency' requires option 'max_ms' (number)"),
        (A("cost", max_usd=True), "option 'max_usd' must be number, got boolean True"),
        (A("is_python", mode="run"), "option 'mode' must be one of exec, eval, got 'run'"),
        (A("rouge", "x", variant="rouge3"), "option 'variant' must be one of rouge1, rouge2, rougeL"),
        (A("python", "checks.tone"), "'python' value must look like 'module.path:function'"),
        (A("python"), "'python' requires `value` (string)"),
        (
            A("json_schema", "/etc/schema.json"),
            "schema path '/etc/schema.json' must be relative to the repository root",
        ),
    ],
)
def test_lint_messages(a: object, expected: str) -> None:
    problems = lint_assertion(a)  # type: ignore[arg-type]
    assert any(p.startswith(expected) for p in problems), problems


def test_lint_with_case_and_prompt_context() -> None:
    case = Case(id="c", prompt="p", file="f")
    prompt = Prompt(name="p", path="prompts/p.yaml")
    msg = "'bleu' compares to `value` or the case's `expected`, and neither is set"
    assert lint_assertion(A("bleu"), case=case) == [msg]
    assert lint_assertion(A("bleu")) == []
    assert lint_assertion(A("bleu"), case=Case(id="c", prompt="p", file="f", expected="ref")) == []
    assert lint_assertion(A("json_schema"), prompt=prompt) == [
        "'json_schema' has no `value` and the prompt declares no `output_schema`"
    ]
    prompt.output_schema = {"type": "object"}
    assert lint_assertion(A("json_schema"), prompt=prompt) == []


def test_assertion_schemas() -> None:
    s = assertion_schemas()
    assert set(s) >= ALL_TYPES
    assert s["length"]["options"]["unit"] == {
        "type": "string",
        "enum": ["chars", "words", "lines", "tokens"],
        "default": "chars",
        "description": "what is counted",
    }
    assert s["judge"]["required_options"] == ["rubric"] and s["judge"]["default_threshold"] == 0.5
    assert s["contains"]["default_threshold"] is None and s["contains"]["value_required"]
    json.dumps(s)
