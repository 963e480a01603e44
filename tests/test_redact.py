"""Redaction (promptctl/redact.py) on the masking hook of promptctl/secrets.py: placeholders
numbered per kind and consistent within a row, ``types`` and ``allow``, placeholders already in a
text never reused, restoring an answer, and the one registered masker."""

from __future__ import annotations

import pytest

from promptctl import redact, secrets
from promptctl.redact import Placeholders, Policy, Redactor, RestoringTokens, redact_messages
from tests.test_pii import LOOKALIKES

NOTE = (
    "Mail jane.doe@example.com or JANE.DOE@example.com, cc bob@example.org; "
    "call (415) 555-0132 or +1 415 555 0132; card 4111 1111 1111 1111; "
    "IBAN DE89 3704 0044 0532 0130 00; from 203.0.113.7"
)


def test_placeholders_are_numbered_per_kind_and_the_same_value_keeps_its_number() -> None:
    out = Redactor(Policy()).redact(NOTE, Placeholders())
    assert out == (
        "Mail <EMAIL_1> or <EMAIL_1>, cc <EMAIL_2>; call <PHONE_1> or <PHONE_1>; card <CARD_1>; "
        "IBAN <IBAN_1>; from <IP_1>"
    )


@pytest.mark.parametrize("text", LOOKALIKES)
def test_lookalikes_are_left_alone(text: str) -> None:
    assert Redactor(Policy()).redact(text, Placeholders()) == text


def test_types_and_allow_choose_what_is_redacted() -> None:
    policy = Policy(types=("email",), allow=("Bob@Example.org",))
    out = Redactor(policy).redact(NOTE, Placeholders())
    assert out.startswith("Mail <EMAIL_1> or <EMAIL_1>, cc bob@example.org; call (415) 555-0132")
    gb = Redactor(Policy(types=("phone",), regions=("GB",))).redact("ring 020 7946 0958", Placeholders())
    assert gb == "ring <PHONE_1>"
    assert (
        Redactor(Policy(types=("phone",))).redact("ring 020 7946 0958", Placeholders())
        == "ring 020 7946 0958"
    )


def test_a_placeholder_already_in_the_text_is_never_given_to_another_value() -> None:
    # a model answering a redacted request writes <EMAIL_1>; a new address must not get it too
    out = Redactor(Policy()).redact("Sent to <EMAIL_1>, cc boss@corp.example.com", Placeholders())
    assert out == "Sent to <EMAIL_1>, cc <EMAIL_2>"


def test_restore_puts_back_only_what_this_row_gave_out() -> None:
    messages, placeholders = redact_messages(
        [{"role": "system", "content": "Agent: ann@example.com"}, {"role": "user", "content": NOTE}],
        Redactor(Policy()),
    )
    assert messages[0] == {"role": "system", "content": "Agent: <EMAIL_1>"}
    assert messages[1]["content"].startswith("Mail <EMAIL_2> or <EMAIL_2>, cc <EMAIL_3>")
    assert placeholders.restore("Dear <EMAIL_2>, see <EMAIL_9>") == "Dear jane.doe@example.com, see <EMAIL_9>"


def test_mask_data_is_one_row_and_each_call_a_new_one() -> None:
    redact.configure(Policy(types=("email",)))
    row = {"output": "to b@example.com", "asserts": [{"reason": "a@example.com and b@example.com"}]}
    assert secrets.mask_data(row) == {
        "output": "to <EMAIL_1>",
        "asserts": [{"reason": "<EMAIL_2> and <EMAIL_1>"}],
    }
    # the next row numbers afresh: a placeholder says nothing about other rows
    assert secrets.mask_data({"output": "a@example.com"}) == {"output": "<EMAIL_1>"}
    with secrets.row():  # a writer whose row spans several calls
        assert secrets.mask("x@example.com") == "<EMAIL_1>"
        assert secrets.mask("y@example.com, x@example.com") == "<EMAIL_2>, <EMAIL_1>"
    assert secrets.mask("y@example.com") == "<EMAIL_1>"  # outside a row: each string its own


def test_a_stream_is_one_row() -> None:
    redact.configure(Policy(types=("email",)))
    stream = secrets.StreamMasker()
    shown = stream.feed("hi a@exa") + stream.feed("mple.com\nand b@example.com then ")
    shown += stream.feed("a@example.com\n") + stream.flush()
    assert shown == "hi <EMAIL_1>\nand <EMAIL_2> then <EMAIL_1>\n"


def test_configure_replaces_the_one_masker_and_none_removes_it() -> None:
    first = redact.configure(Policy(types=("email",)))
    assert redact.configure(Policy(types=("email",))) is first  # the same policy: kept
    redact.configure(Policy(types=("ip",)))
    assert secrets.current().maskers == [redact.active()]
    assert secrets.mask("a@example.com from 203.0.113.7") == "a@example.com from <IP_1>"
    redact.configure(None)
    assert redact.active() is None and secrets.current().maskers == []
    assert redact.configure(Policy(types=())) is None  # nothing to redact: no masker


def test_the_answer_validators_see_is_not_redacted_but_what_is_shown_is(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-0123456789")
    redact.configure(Policy(types=("email",)))
    assert secrets.key_masking().text("sk-test-0123456789 a@example.com") == "*** a@example.com"
    assert secrets.mask("sk-test-0123456789 a@example.com") == "*** <EMAIL_1>"


@pytest.mark.parametrize("size", [1, 2, 3, 5, 40])
def test_streamed_chunks_get_the_values_back_even_when_a_placeholder_is_split(size: int) -> None:
    _, placeholders = redact_messages([{"role": "user", "content": "mail a@example.com"}], Redactor(Policy()))
    shown: list[str] = []
    stream = RestoringTokens(shown.append, placeholders)
    answer = "Dear <EMAIL_1>, 1 < 2 and <EMAIL_9> stays; <EMAIL_1>"
    for i in range(0, len(answer), size):
        stream(answer[i : i + size])
    stream.flush()
    assert "".join(shown) == "Dear a@example.com, 1 < 2 and <EMAIL_9> stays; a@example.com"
