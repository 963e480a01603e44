"""The comparison as Markdown: summary tables, then only the cases that changed verdict or moved,
grouped; the others counted; within a budget."""

from __future__ import annotations

import re

from promptctl.report.compare_markdown import comparison_markdown
from tests.records.rows import row
from tests.report.comparisons import a_pull_request, comparison


def test_summary_tables_then_only_changed_cases_grouped() -> None:
    md = comparison_markdown(a_pull_request(), max_bytes=None)
    assert md.startswith("### ❌ promptctl compare — `base` → `head`\n")
    assert "| pass rate | 98.7% | 92.5% | -6.3 pt |" in md
    assert "| cases | 398 | 399 | +1 |" in md
    for line in (
        "| pass→fail | 30 | 30 |",
        "| fail→pass | 5 | 5 |",
        "| new | 2 | 2 |",
        "| removed | 1 | 1 |",
        "| still passing | 362 | 1 |",
    ):
        assert line in md
    assert "| still failing |" not in md  # no such case: no row
    assert "**Gate: failed**" in md and "- regression: reply::r00 [m] passed at base, fail at head" in md
    # the groups: regressions first, then by transition, larger groups first
    heads = re.findall(r"^\*\*(.+?)\*\* · `(\w+)` · `m` · (\d+) cases?", md, re.M)
    assert heads == [
        ("pass→fail", "reply", "30"),
        ("fail→pass", "triage", "5"),
        ("new", "triage", "2"),
        ("removed", "triage", "1"),
        ("still passing", "summarize", "1"),
    ]
    assert "#### Cases that changed verdict or moved — 39 cases in 5 groups" in md
    assert "<details><summary>30 cases</summary>" in md and len(re.findall(r"^\| `r\d\d` \|", md, re.M)) == 30
    assert "| `rep` | pass 5/5 | pass 4/5 | -20.0 pt |" in md  # one case: its table, not collapsed
    # unchanged cases: counted, not listed
    assert "Not listed: 361 still passing (20 of them with a changed output)" in md
    assert "`s000`" not in md and "s000" not in md


def test_the_gate_causes_after_ten_are_collapsed() -> None:
    md = comparison_markdown(a_pull_request(), max_bytes=None)
    visible = md[md.index("**Gate: failed**") : md.index("<details><summary>")]
    # the removed case fails the gate too (gate.removed: fail), and is the first cause
    assert visible.count("- ") == 10 and visible.count("- regression:") == 9
    assert "- removed at head: 1 case × model that base ran: triage::gone [m]" in visible
    assert "<details><summary>22 more causes</summary>" in md  # 21 regressions + the pass rate


def test_within_a_budget_the_case_tables_go_first() -> None:
    data = a_pull_request()
    full = comparison_markdown(data, max_bytes=None)
    md = comparison_markdown(data, max_bytes=len(full.encode()) - 500)
    # the last groups' tables go first (the single "still passing", "removed", "new" ones); their headers stay
    assert "<details><summary>2 cases</summary>" not in md and "**new** · `triage` · `m` · 2 cases\n" in md
    assert "| `rep` |" not in md
    assert "<details><summary>5 cases</summary>" in md and "<details><summary>30 cases</summary>" in md
    assert "in this order: the case lists of 3 groups. " in md
    assert md.endswith("Run `promptctl compare --format json` for every case.\n")
    tiny = comparison_markdown(data, max_bytes=2_500)
    assert len(tiny.encode()) <= 2_500
    assert "| pass→fail | 30 | 30 |" in tiny  # the summary tables always stay
    assert "group" in tiny[tiny.index("Left out") :]


def test_no_gate_and_nothing_changed() -> None:
    rows = [row("a"), row("b")]
    md = comparison_markdown(comparison(rows, rows, gate=False))
    assert md.startswith("### promptctl compare — `base` → `head`\n")
    assert "Gate" not in md and "Cases that changed" not in md
    assert "Not listed: 2 still passing — no verdict change" in md


def test_untrusted_text_stays_text() -> None:
    """Case ids and provider model names come from the pull request: no HTML, no broken table."""
    evil = "x</details><img src=y>|z"
    data = comparison([row(evil), row("ok")], [row(evil, "fail"), row("ok")])
    md = comparison_markdown(data, max_bytes=None)
    assert "- regression: p::x&lt;/details&gt;&lt;img src=y&gt;\\|z [m] passed at base, fail at head" in md
    assert "| `x</details><img src=y>\\|z` | pass 1/1 | fail 0/1 |" in md
    assert md.count("<details><summary>") == md.count("\n</details>\n")  # the id's is inside code


def test_checks_changed_gate_warnings_and_a_model_change() -> None:
    """The gate's additions in the grouped layout: the checks that grade the sides differently, the
    gate's warnings, and cases paired across a model change listed as ``A → B`` even when their
    verdict held."""
    base = [row("a", model="strong"), row("b", model="strong"), row("gone", model="strong")]
    head = [row("a", model="weak"), row("b", "fail", model="weak")]
    data = comparison(base, head)
    data["checks"] = {
        "assertions": ["p::a", "p::b"],
        "files": [{"path": "schemas/x|y.json", "kind": "json_schema", "change": "modified"}],
        "gate_settings": {"removed": ["fail", "warn"]},
    }
    data["gate"]["warnings"] = ["removed at head: 1 case × model that base ran: p::gone [strong] (allowed)"]
    md = comparison_markdown(data, max_bytes=None)
    checks = md[
        md.index("**Checks changed** (each side is graded by its own):") : md.index("**Gate: failed**")
    ]
    assert "- assertions of 2 cases: `p::a`, `p::b`\n" in checks
    assert "- `schemas/x|y.json` (json_schema, modified)\n" in checks
    assert "- gate setting `removed`: `fail` → `warn` (the base's applies until merged)\n" in checks
    assert "- ⚠️ removed at head: 1 case × model that base ran: p::gone [strong] (allowed)\n" in md
    assert "**pass→fail** · `p` · `strong → weak` · 1 case" in md
    assert "**still passing** · `p` · `strong → weak` · 1 case" in md  # listed: its model changed
    assert "Model changed in 2 cases." in md
    assert "**removed** · `p` · `strong` · 1 case" in md


def test_many_changed_assertions_are_counted() -> None:
    data = comparison([row("a")], [row("a")])
    data["checks"] = {"assertions": [f"p::c{i:02d}" for i in range(25)]}
    md = comparison_markdown(data, max_bytes=None)
    assert "- assertions of 25 cases: `p::c00`," in md and "`p::c19` and 5 more\n" in md and "c20" not in md
