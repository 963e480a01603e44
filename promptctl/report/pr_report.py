"""The pull-request report: the gate's verdict, ``compare``'s report, its messages and ``diff``'s
report, assembled from their JSON within one size budget (``report.budget``): what the CI
workflow writes to the job summary and posts as the sticky comment."""

from __future__ import annotations

import html
from typing import Any

from promptctl.report.budget import COMMENT_BUDGET, Piece, fit
from promptctl.report.compare_markdown import comparison_pieces
from promptctl.report.diff_markdown import diff_pieces, fenced

#: The verdict line per exit code of ``promptctl compare --gate``.
VERDICTS = {
    "0": "**promptctl gate: passed**: no quality drop versus the base commit.",
    "1": "**promptctl gate: failed**: quality drop versus the base commit.",
    "2": "**promptctl gate: invalid input** (exit 2): fix the problems below.",
    "3": "**promptctl gate: cannot evaluate** (exit 3): not a quality drop — some results could not be "
    "evaluated; the reasons and next steps are below.",
}
#: Lines of compare's messages shown (the last ones), and under a tight budget.
LOG_LINES = 60
LOG_LINES_SHORT = 20


def verdict(gate_exit: str | None) -> str:
    code = (gate_exit or "").strip()
    shown = html.escape(code, quote=False).replace("*", "\\*") or "none"
    return VERDICTS.get(code, f"**promptctl gate: did not run** (exit {shown}): see the job log.")


def _log_piece(log: str, *, collapsed: bool) -> Piece:
    """compare's messages: collapsed under its report, open when they are all there is."""
    lines = log.rstrip("\n").split("\n")

    def block(n: int) -> str:
        shown = lines[-n:]
        cut = len(lines) - len(shown)
        skipped = f"(the first {cut:,} lines are in the job log)\n\n" if cut else ""
        body = f"{skipped}{fenced(chr(10).join(shown), 'text')}"
        if not collapsed:
            return f"promptctl compare output:\n\n{body}\n"
        return f"<details><summary>promptctl compare output</summary>\n\n{body}\n</details>\n\n"

    return Piece(block(LOG_LINES), {"log": block(LOG_LINES_SHORT)})


def pr_report(
    *,
    gate_exit: str | None,
    compare: dict[str, Any] | None,
    diff: dict[str, Any] | None,
    log: str = "",
    max_bytes: int | None = COMMENT_BUDGET,
    full_report: str | None = None,
) -> str:
    """The whole report: verdict, comparison, compare's messages, diff. ``compare`` or ``diff``
    None: that command wrote no report (said so in its place). ``full_report``: a URL where the
    whole report is (the job summary), linked when detail had to go."""
    pieces = [Piece(verdict(gate_exit) + "\n\n")]
    if compare is not None:
        pieces += comparison_pieces(compare)
    elif (gate_exit or "").strip() in ("0", "1"):
        pieces.append(Piece("> promptctl compare wrote no report.\n\n"))
    if log.strip():
        pieces.append(_log_piece(log, collapsed=compare is not None))
    if diff is not None:
        pieces += diff_pieces(diff)
    else:
        pieces.append(Piece("> promptctl diff wrote no report: no rendered diffs (see the job log).\n\n"))
    where = (
        f"The full report is in the [job summary]({full_report})."
        if full_report
        else "Run `promptctl compare` and `promptctl diff` for all of it."
    )
    return fit(pieces, max_bytes, full_report=where)
