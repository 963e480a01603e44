from __future__ import annotations

import pytest

from promptctl.validate.similarity import DEFAULT_THRESHOLDS
from tests.validate.util import A, errors, fails, passes, run


def test_default_thresholds() -> None:
    assert DEFAULT_THRESHOLDS == {"levenshtein": 0.8, "bleu": 0.3, "rouge": 0.5}


def test_levenshtein() -> None:
    r = passes(A("levenshtein", "kitten"), "kitten")
    assert r.score == 1.0
    r = fails(A("levenshtein", "kitten"), "sitting")
    assert r.score == pytest.approx(1 - 3 / 7)
    assert "0.57 < threshold 0.80" in r.reason and "'kitten'" in r.reason
    passes(A("levenshtein", "kitten", threshold=0.5), "sitting")
    passes(A("levenshtein"), "The capital is Paris.", expected="The capital is Paris")


def test_levenshtein_non_string_expected_is_canonical_json() -> None:
    passes(A("levenshtein", threshold=1.0), '{"a":1,"b":[2]}', expected={"b": [2], "a": 1})


def test_bleu() -> None:
    ref = "the quick brown fox jumps over the lazy dog"
    r = passes(A("bleu", ref), ref)
    assert r.score == 1.0
    r = fails(A("bleu", ref), "a slow red cat sleeps under a busy table")
    assert r.score < 0.3 and "BLEU" in r.reason
    near = "the quick brown fox jumped over a lazy dog"
    mid = run(A("bleu", ref), near)
    assert 0.0 < mid.score < 1.0
    assert mid.passed == (mid.score >= 0.3)
    assert not run(A("bleu", ref, threshold=min(1.0, mid.score + 0.01)), near).passed
    assert run(A("bleu", ref, threshold=max(0.0, mid.score - 0.01)), near).passed


def test_rouge_variants() -> None:
    ref = "the cat is running in the garden"
    out = "the cats are running in a garden"
    r1 = run(A("rouge", ref, variant="rouge1"), out)
    r2 = run(A("rouge", ref, variant="rouge2"), out)
    rl = run(A("rouge", ref), out)
    # stemming on: "cats" matches "cat", "running" matches "running"
    assert r1.score == pytest.approx(5 / 7)
    assert r2.score < r1.score
    assert r1.passed and not r2.passed
    assert "rougeL F1" in rl.reason
    fails(A("rouge", ref, threshold=0.9), out)
    passes(A("rouge", ref), ref)


def test_missing_reference_is_error() -> None:
    for t in ("levenshtein", "bleu", "rouge"):
        r = errors(A(t), "anything")
        assert "no `expected`" in r.reason
