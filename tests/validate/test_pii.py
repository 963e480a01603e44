"""The ``pii`` validator: findings masked in its reason, ``types``, ``allow`` and ``region``, and
bad options as lint and check errors (the detector's corpus is tests/test_pii.py)."""

from __future__ import annotations

from promptctl.suite.model import Assertion
from promptctl.validate import lint_assertion
from tests.validate.util import run


def test_the_validator_fails_with_masked_findings_and_honours_types_allow_and_region() -> None:
    out = "Mail jane@example.com or call (415) 555-0132; card 4111 1111 1111 1111."
    r = run(Assertion(type="pii"), out)
    assert not r.passed and r.score == 0.0
    assert r.reason == "found 3 personal data item(s): email j***@e***.com, phone ***0132, card ***1111"
    assert "jane@example.com" not in r.reason and "555-0132" not in r.reason
    only_cards = run(Assertion(type="pii", options={"types": ["email", "phone"]}), "card 4111 1111 1111 1111")
    assert only_cards.passed and only_cards.reason == "no email, phone found"
    allowed = run(
        Assertion(type="pii", options={"allow": ["JANE@example.com", "+1 415-555-0132", "4111111111111111"]}),
        out,
    )
    assert allowed.passed, allowed.reason
    assert run(Assertion(type="pii", options={"region": "GB"}), "ring 020 7946 0958").passed is False
    assert run(Assertion(type="pii"), "ring 020 7946 0958").passed is True  # not a US number
    negated = run(Assertion(type="pii", negate=True), "no personal data here")
    assert not negated.passed


def test_bad_options_are_lint_errors_and_check_errors() -> None:
    assert lint_assertion(Assertion(type="pii", options={"types": ["email", "ssn"]}))
    assert lint_assertion(Assertion(type="pii", options={"region": "XX"}))
    assert lint_assertion(Assertion(type="pii", options={"allow": ["a@b.co"], "types": "email"})) == []
    r = run(Assertion(type="pii", options={"types": ["ssn"]}), "x")
    assert r.error and "unknown type 'ssn'" in r.reason
