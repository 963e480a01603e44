"""Markdown within a budget: whole blocks shortened in the stated order, a note of what went."""

from __future__ import annotations

import pytest

from promptctl.errors import UsageError
from promptctl.report.budget import STEPS, Piece, fit

LINK = "The full report: LINK."


def pieces() -> list[Piece]:
    block = "```diff\n" + "+x\n" * 40 + "```\n"  # 132 characters
    ids = "id " * 100
    return [
        Piece("# title\n"),
        *(
            Piece(f"change {i}\n{block}<details>{ids}</details>\n", {"case lists": f"change {i}\n{block}"})
            for i in range(3)
        ),
        *(Piece(f"output {i}\n{block}", {"output diffs": ""}) for i in range(3)),
    ]


def test_no_budget_or_enough_room_keeps_everything() -> None:
    full = "".join(p.text for p in pieces())
    assert fit(pieces(), None, full_report=LINK) == full
    assert fit(pieces(), len(full), full_report=LINK) == full


def test_steps_apply_in_order_last_piece_first_and_only_as_far_as_needed() -> None:
    full = "".join(p.text for p in pieces())
    out = fit(pieces(), len(full) - 30, full_report=LINK)
    # room for the note too: the case lists go first, the last change's first
    assert out.count("<details>") == 2 and "+x\n```\noutput 0" in out  # change 2 lost its list
    assert out.count("output ") == 3
    assert "in this order: the case lists of 1 group. The full report: LINK.\n" in out
    assert len(out) <= len(full) - 30
    tight = fit(pieces(), 900, full_report=LINK)
    assert "<details>" not in tight and "output 1" in tight and "output 2" not in tight
    assert "the case lists of 3 groups; 1 recorded-output change (the smallest first). " in tight
    assert len(tight) <= 900
    # blocks are whole: every fence closed
    assert tight.count("```") % 2 == 0


def test_too_small_a_budget_is_a_usage_error() -> None:
    with pytest.raises(UsageError, match="--max-bytes 50 is too small"):
        fit(pieces(), 50, full_report=LINK)


def test_every_step_has_a_note() -> None:
    names = [s.name for s in STEPS]
    assert len(names) == len(set(names))
    assert STEPS[0].describe(1) == "the case lists of 1 group"
    assert STEPS[0].describe(1200) == "the case lists of 1,200 groups"


def test_the_budget_counts_utf8_bytes() -> None:
    """A comment travels through an environment variable (128 KiB): bytes, not characters."""
    text = "日本語のプロンプト\n" * 10  # 3 bytes a character
    ps = [Piece("# title\n"), *(Piece(text, {"output diffs": ""}) for _ in range(5))]
    full = "".join(p.text for p in ps)
    assert len(full) < 1_000 < len(full.encode())
    out = fit(ps, 1_000, full_report=LINK)
    assert len(out.encode()) <= 1_000 and "recorded-output changes" in out
