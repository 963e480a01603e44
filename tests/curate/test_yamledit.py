"""Appending to a list in a hand-written YAML file: every other byte stays, the result loads to
the old document plus the new items."""

from __future__ import annotations

import pytest
import yaml

from promptctl.curate.yamledit import append_items, append_verified, unified_diff

NEW = [{"id": "n1", "vars": {"text": "two\nlines\n"}}]


@pytest.mark.parametrize(
    "text",
    [
        "# head\nprompt: p\ncases:\n  - id: a  # keep me\n    vars: {x: 1}\n# trailing\n",
        "prompt: p\ncases:\n- id: a\n  vars: {x: 1}\ndefaults: {vars: {y: 2}}\n",  # indentless, not last
        "cases: []\nprompt: p\n",
        "prompt: p\ncases:\n",
        "prompt: p\ncases: [{id: z}]\n",
        "prompt: p",  # no list yet, no final newline
        "prompt: p\ncases:\n  - id: a\n    expected: |\n      hi\n\n",
    ],
)
def test_append_keeps_the_rest_and_loads_back(text: str) -> None:
    out = append_verified(text, "cases", NEW)
    old = yaml.safe_load(text)
    new = yaml.safe_load(out)
    assert new == {**old, "cases": [*(old.get("cases") or []), *NEW]}
    if "cases:\n" in text and old.get("cases"):  # a block list: the old text is all still there
        kept = text if text.endswith("\n") else text + "\n"
        assert all(line in out.splitlines() for line in kept.splitlines())


def test_block_list_in_the_middle_is_appended_in_place() -> None:
    out = append_items("cases:\n  - id: a\ndefaults: {}\n", "cases", NEW)
    assert out == (
        "cases:\n  - id: a\n  - id: n1\n    vars:\n      text: |\n        two\n        lines\ndefaults: {}\n"
    )


def test_not_a_list_is_refused() -> None:
    with pytest.raises(ValueError, match="'cases' is not a list"):
        append_items("cases: {a: 1}\n", "cases", NEW)
    with pytest.raises(ValueError, match="not a mapping"):
        append_items("- a\n", "cases", NEW)
    assert append_items("x: 1\n", "cases", []) == "x: 1\n"


def test_unified_diff_reads_like_git() -> None:
    assert unified_diff("a\n", "a\nb\n", "f.yaml") == "--- a/f.yaml\n+++ b/f.yaml\n@@ -1 +1,2 @@\n a\n+b\n"
