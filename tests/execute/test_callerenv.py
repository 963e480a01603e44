"""A worker's calls use the request's environment: which variables travel, and their masking."""

from __future__ import annotations

import pytest

from promptctl.execute.callerenv import is_key_variable, masking_with


def test_key_variables_travel_and_others_do_not() -> None:
    assert is_key_variable("OPENAI_API_KEY") and is_key_variable("HF_TOKEN")
    assert not is_key_variable("HOME") and not is_key_variable("OPENAI_BASE_URL")


def test_a_requests_keys_are_masked_with_the_processs_own(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OWN_API_KEY", "sk-own-0123456789")
    monkeypatch.delenv("SENT_API_KEY", raising=False)
    masking = masking_with({"SENT_API_KEY": "sk-sent-0123456789"})
    assert masking.text("a sk-sent-0123456789 b sk-own-0123456789") == "a *** b ***"
    assert masking_with({}).text("sk-sent-0123456789") == "sk-sent-0123456789"
