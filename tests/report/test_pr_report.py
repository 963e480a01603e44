"""The pull-request report: verdict, comparison, compare's messages and diff in one budget."""

from __future__ import annotations

import re

import pytest

from promptctl.report.pr_report import pr_report, verdict
from tests.report.comparisons import a_pull_request
from tests.report.diffs import thousand_cases
from tests.review.test_diff_groups import well_formed

URL = "https://github.com/o/r/actions/runs/7"


@pytest.mark.parametrize(
    ("code", "line"),
    [
        ("0", "**promptctl gate: passed**: no quality drop versus the base commit."),
        ("1", "**promptctl gate: failed**: quality drop versus the base commit."),
        ("2", "**promptctl gate: invalid input** (exit 2): fix the problems below."),
        (
            "3",
            "**promptctl gate: cannot evaluate** (exit 3): not a quality drop — some results could not "
            "be evaluated; the reasons and next steps are below.",
        ),
        ("", "**promptctl gate: did not run** (exit none): see the job log."),
        (None, "**promptctl gate: did not run** (exit none): see the job log."),
        ("143", "**promptctl gate: did not run** (exit 143): see the job log."),
        ("<b>*", "**promptctl gate: did not run** (exit &lt;b&gt;\\*): see the job log."),
    ],
)
def test_verdict_per_exit_code(code: str | None, line: str) -> None:
    assert verdict(code) == line


def test_the_parts_in_order() -> None:
    log = "\n".join(f"message {i}" for i in range(100))
    md = pr_report(gate_exit="1", compare=a_pull_request(), diff=thousand_cases(), log=log, max_bytes=None)
    order = [
        "**promptctl gate: failed**",
        "### ❌ promptctl compare",
        "#### Cases that changed verdict or moved",
        "<details><summary>promptctl compare output</summary>",
        "### promptctl diff",
        "#### Rendered requests",
    ]
    assert [md.index(x) for x in order] == sorted(md.index(x) for x in order)
    # compare's messages: the last 60 lines, the rest said to be in the job log
    assert (
        "(the first 40 lines are in the job log)" in md and "message 40\n" in md and "message 39\n" not in md
    )
    assert "Left out" not in md
    well_formed(md)


def test_missing_reports_are_said_so() -> None:
    md = pr_report(gate_exit="2", compare=None, diff=None, log="cases/x.yaml:3:5: unknown key 'asert'")
    assert md.startswith("**promptctl gate: invalid input** (exit 2)")
    assert "compare wrote no report" not in md  # exit 2: its messages are the report
    assert "cases/x.yaml:3:5: unknown key 'asert'" in md
    assert "> promptctl diff wrote no report: no rendered diffs (see the job log)." in md
    md = pr_report(gate_exit="0", compare=None, diff=None)
    assert "> promptctl compare wrote no report." in md and "compare output" not in md


def test_the_comment_stays_under_the_limit_and_links_the_full_report() -> None:
    log = "\n".join(f"  ✗ regression: case {i}" for i in range(200))
    md = pr_report(gate_exit="1", compare=a_pull_request(), diff=thousand_cases(), log=log, full_report=URL)
    assert 55_000 < len(md.encode()) <= 60_000
    well_formed(md)
    note = md[md.index("**Left out to keep this report under 60,000 bytes**") :]
    assert note.endswith(f"The full report is in the [job summary]({URL}).\n")
    # the stated order: case lists (the diff's 500-case list, compare's tables), statistics, causes,
    # then the smaller rendered changes, as far as needed
    assert re.search(
        r"in this order: the case lists of 6 groups; the gate's statistics; the gate's causes after the "
        r"first 10; \d+ rendered-request changes after the 3 largest \(the smallest first\)\. ",
        note,
    )
    # what stays: verdict, summary tables, the first causes, the group headers, the largest change
    assert md.startswith("**promptctl gate: failed**")
    assert "| pass→fail | 30 | 30 |" in md and "- regression: reply::r08 [m]" in md  # after "removed at head"
    assert "**pass→fail** · `reply` · `m` · 30 cases" in md
    assert "**Change 1** · `p` · 500 cases" in md and "+Be very brief." in md
    # a budget that leaves little: still whole blocks, still the verdict and the tables
    small = pr_report(gate_exit="1", compare=a_pull_request(), diff=thousand_cases(), max_bytes=4_000)
    assert len(small.encode()) <= 4_000
    well_formed(small)
    assert "| pass→fail | 30 | 30 |" in small and "group" in small[small.index("Left out") :]
