"""Markdown within a size budget: detail is dropped in a stated order, never by cutting text.

A report is a list of pieces, each a complete Markdown block (a table, a fenced diff, a
``<details>`` element): a piece is kept whole, replaced by a shorter form or dropped, so no table
or code block is ever cut in half. Each way of shortening is a *step*; the steps run in the order
given, each only as far as needed (within a step, the last piece of the report goes first: the
smallest groups, the least important rows), and the report ends with a note saying what was left
out and where the whole report is.

Sizes are UTF-8 bytes. GitHub refuses a comment over 65,536 characters and a job summary over
1 MiB; a comment also travels through an environment variable (at most 128 KiB on Linux), so a
budget in characters would fail for text in, say, Japanese. A byte holds at most one character:
a budget in bytes keeps every limit.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from promptctl.errors import UsageError

#: What a pull-request comment holds by default, in bytes: GitHub's limit (65,536 characters) less
#: room for the marker the workflow adds and a margin.
COMMENT_BUDGET = 60_000


def size(text: str) -> int:
    """What a budget counts: UTF-8 bytes."""
    return len(text.encode("utf-8"))


@dataclass(frozen=True)
class Step:
    """One way of shortening a report: its name and how the note counts what it left out."""

    name: str
    note: str  # "{n}" is replaced by how many pieces the step shortened

    def describe(self, n: int) -> str:
        return self.note.replace("{n}", f"{n:,}").replace("{s}", "" if n == 1 else "s")


@dataclass
class Piece:
    """A complete Markdown block, with its shorter forms: ``levels`` maps a step's name to the text
    left after that step ("" drops the piece)."""

    text: str
    levels: dict[str, str] = field(default_factory=dict)


#: Every way a report is shortened, in the order they are applied (a report uses those that apply to
#: its pieces). The first ones lose the least: a case list is a count's detail, an output diff the
#: consequence of a request diff, a template's source diff is also in the pull request's files.
STEPS = [
    Step("case lists", "the case lists of {n} group{s}"),
    Step("statistics", "the gate's statistics"),
    Step("causes", "the gate's causes after the first 10"),
    Step("output diffs", "{n} recorded-output change{s} (the smallest first)"),
    Step("groups after 3", "{n} rendered-request change{s} after the 3 largest (the smallest first)"),
    Step("source diffs", "the source diffs of {n} template{s}"),
    Step("log", "compare's messages except the last 20 lines"),
    Step("groups", "the diffs of {n} of the 3 largest rendered-request changes"),
    Step("compared groups", "{n} group{s} of compared cases (the last first)"),
    Step("changed files", "the list of changed files"),
]


def _size(pieces: list[Piece]) -> int:
    return sum(size(p.text) for p in pieces)


def fit(pieces: list[Piece], budget: int | None, *, full_report: str, steps: list[Step] = STEPS) -> str:
    """Join ``pieces`` into one text of at most ``budget`` bytes (None: no limit), applying
    ``steps`` in order as far as needed. ``full_report`` is the sentence that says where the whole
    report is (a link, or the command that prints it)."""
    if budget is None:
        return "".join(p.text for p in pieces)
    pieces = [Piece(p.text, dict(p.levels)) for p in pieces]
    done: list[tuple[Step, int]] = []

    def note() -> str:
        if not done:
            return ""
        left = "; ".join(step.describe(n) for step, n in done)
        return (
            f"\n---\n**Left out to keep this report under {budget:,} bytes**, in this order: {left}. "
            f"{full_report}\n"
        )

    total = _size(pieces)
    for step in steps:
        if total + size(note()) <= budget:
            break
        shortened = 0
        for p in reversed(pieces):
            if step.name not in p.levels:
                continue
            shorter = p.levels.pop(step.name)
            if size(shorter) >= size(p.text):
                continue  # already as short (an earlier step went further)
            if shortened == 0:
                done.append((step, 0))
            total += size(shorter) - size(p.text)
            p.text = shorter
            shortened += 1
            done[-1] = (step, shortened)
            if total + size(note()) <= budget:
                break
    text = "".join(p.text for p in pieces) + note()
    if size(text) > budget:
        raise UsageError(
            f"--max-bytes {budget:,} is too small: the report needs {size(text):,} bytes with all "
            "detail left out",
            hint="give a larger --max-bytes (a GitHub comment holds 65,536 characters)",
        )
    return text
