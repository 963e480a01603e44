from __future__ import annotations

import pytest

from tests.validate.util import A, fails, passes

UNI = "héllo wörld 🙂"


def test_not_empty() -> None:
    passes(A("not_empty"), "x")
    passes(A("not_empty"), "  ok \n")
    r = fails(A("not_empty"), "")
    assert r.reason == "output is empty"
    r = fails(A("not_empty"), " \n\t ")
    assert "whitespace only" in r.reason


@pytest.mark.parametrize(
    ("unit", "n"),
    [("chars", 13), ("words", 3), ("lines", 1)],
)
def test_length_unicode(unit: str, n: int) -> None:
    passes(A("length", min=n, max=n, unit=unit), UNI)
    r = fails(A("length", max=n - 1, unit=unit), UNI)
    assert f"got {n}" in r.reason and unit in r.reason
    fails(A("length", min=n + 1, unit=unit), UNI)


def test_length_default_unit_is_code_points() -> None:
    passes(A("length", max=13), UNI)
    r = fails(A("length", max=12), UNI)
    assert r.reason == "expected at most 12 chars, got 13"


def test_length_lines_and_empty() -> None:
    passes(A("length", min=3, max=3, unit="lines"), "a\nb\nc\n")
    passes(A("length", max=0, unit="words"), "   ")
    fails(A("length", min=1), "")
    r = fails(A("length", min=2, max=4, unit="words"), "one")
    assert r.reason == "expected between 2 and 4 words, got 1"


def test_length_tokens() -> None:
    try:
        from promptctl.execute.llm import count_tokens  # noqa: F401
    except ImportError:
        pytest.skip("promptctl.execute.llm.count_tokens is not available yet")
    passes(A("length", min=1, max=10, unit="tokens"), "hello world")
    fails(A("length", max=3, unit="tokens"), "word " * 50)
