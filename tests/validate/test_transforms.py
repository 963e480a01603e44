from __future__ import annotations

import pytest

from promptctl.validate.transforms import KNOWN_TRANSFORMS, TRANSFORMS, apply_transforms
from tests.validate.util import A, errors, fails, passes


@pytest.mark.parametrize(
    ("name", "text", "want"),
    [
        ("strip", "  a \n", "a"),
        ("lower", "ÀB", "àb"),
        ("upper", "ab", "AB"),
        ("collapse_whitespace", " a \n\n b\tc ", "a b c"),
        ("first_line", "\n\n first\nsecond\n", " first"),
        ("last_line", "a\nlast\n\n", "last"),
        ("extract_json_fence", 'x\n```python\n1\n```\n```json\n{"a":1}\n```', '{"a":1}'),
        ("extract_json_fence", "```\n[1]\n```", "[1]"),
        ("extract_json_fence", "no fence", "no fence"),
        ("extract_code_fence", "text\n```sql\nSELECT 1;\n```\nmore", "SELECT 1;"),
        ("extract_code_fence", "plain", "plain"),
        ("json_compact", '{ "b": 1,\n "a": [1, 2] }', '{"a":[1,2],"b":1}'),
        ("json_compact", "not json", "not json"),
        ("strip_think", "<think>hmm\nok</think>\nAnswer: 4", "Answer: 4"),
    ],
)
def test_each_transform(name: str, text: str, want: str) -> None:
    assert TRANSFORMS[name](text) == want


def test_known_sorted() -> None:
    assert list(KNOWN_TRANSFORMS) == sorted(TRANSFORMS)


def test_chain_applies_in_order() -> None:
    text = 'Sure!\n```json\n{"Answer": "YES"}\n```'
    assert apply_transforms(["extract_json_fence", "json_compact", "lower"], text) == '{"answer":"yes"}'
    passes(A("equals", '{"answer":"yes"}', transform=["extract_json_fence", "json_compact", "lower"]), text)
    fails(A("equals", '{"answer":"yes"}', transform=["lower", "extract_json_fence"]), "nope")


def test_unknown_transform_is_error_at_runtime() -> None:
    r = errors(A("contains", "a", transform=["strip", "shout"]), "a")
    assert "unknown transform 'shout'" in r.reason
