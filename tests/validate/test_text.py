from __future__ import annotations

import pytest

from tests.validate.util import A, errors, fails, passes


def test_equals_strips_by_default() -> None:
    passes(A("equals", "Paris"), "Paris\n")
    passes(A("equals", " Paris "), "Paris")
    r = fails(A("equals", "Paris"), "paris")
    assert r.reason == "expected 'Paris', got 'paris'"
    passes(A("equals", "Paris", ignore_case=True), "PARIS")
    fails(A("equals", "Paris", strip=False), "Paris\n")
    passes(A("equals", "Paris\n", strip=False), "Paris\n")


def test_equals_uses_expected_and_compares_json_structurally() -> None:
    passes(A("equals"), "42", expected="42")
    passes(A("equals"), '{"b": 2, "a": [1, true]}', expected={"a": [1, True], "b": 2})
    fails(A("equals"), '{"a": [1, 1], "b": 2}', expected={"a": [1, True], "b": 2})
    fails(A("equals"), "not json", expected={"a": 1})
    r = errors(A("equals"), "x")
    assert "no `expected`" in r.reason


def test_contains_family() -> None:
    passes(A("contains", "world"), "hello world")
    r = fails(A("contains", "World"), "hello world")
    assert "contains 'World'" in r.reason and "'hello world'" in r.reason
    passes(A("contains", "World", ignore_case=True), "hello world")
    passes(A("icontains", "WÖRLD"), "hello wörld")
    passes(A("starts_with", "Dear"), "Dear Sir")
    fails(A("starts_with", "Dear"), " Dear Sir")
    passes(A("starts_with", "Dear", transform=["strip"]), " Dear Sir")
    passes(A("not_contains", "sorry"), "Here you go")
    r = fails(A("not_contains", ["sorry", "apolog"]), "I apologize")
    assert "'apolog'" in r.reason
    passes(A("not_contains", ["sorry", "apolog"]), "Done.")


def test_list_any_and_all() -> None:
    vals = ["red", "green", "blue"]
    r = passes(A("contains", vals), "the green one")
    assert r.score == 1.0
    fails(A("contains", vals), "yellow")
    r = fails(A("contains", vals, all=True), "red and green")
    assert r.score == pytest.approx(2 / 3)
    assert "missing ['blue']" in r.reason
    r = passes(A("contains", vals, all=True), "red, green, blue")
    assert r.score == 1.0


def test_regex_list_any_all() -> None:
    pats = [r"\d{3}-\d{4}", r"[A-Z]{2}\d+"]
    passes(A("regex", pats), "call 555-1234")
    r = fails(A("regex", pats, all=True), "call 555-1234")
    assert r.score == pytest.approx(0.5)
    passes(A("regex", pats, all=True), "call 555-1234 ref AB12")
    fails(A("regex", pats), "nothing here")
    passes(A("regex", "^yes$", ignore_case=True, multiline=True), "well\nYES\n")
    fails(A("regex", "^yes$"), "well\nyes\n")
    passes(A("regex", r"\w+", fullmatch=True), "abc")
    fails(A("regex", r"\w+", fullmatch=True), "abc def")
    r = errors(A("regex", "(unclosed"), "x")
    assert "invalid regular expression" in r.reason


def test_one_of() -> None:
    labels = ["positive", "negative", "neutral"]
    passes(A("one_of", labels), " negative\n")
    r = fails(A("one_of", labels), "Negative")
    assert "expected one of" in r.reason and "'Negative'" in r.reason
    passes(A("one_of", labels, ignore_case=True), "Negative")
    fails(A("one_of", labels), "negative sentiment")


def test_reason_trims_long_output() -> None:
    r = fails(A("contains", "needle"), "hay " * 1000)
    assert len(r.reason) < 250 and "4000 chars" in r.reason
