"""The HTML report's page as text: self-contained, every shown value escaped, the script and style
pinned by the Content-Security-Policy, the word diff and the history chart. What a browser makes
of it is tested in test_html_browser.py."""

from __future__ import annotations

import base64
import hashlib
import re
from typing import Any

from promptctl.records.record import Record
from promptctl.report.formats import render_comparison, render_record
from promptctl.report.html import comparison_html, record_html
from promptctl.report.html_page import MAX_DIFF_TOKENS, history_charts, word_diff
from tests.records.rows import record, row

HOSTILE = '<script>alert(1)</script></script><img src=x onerror="alert(2)">\'"onerror=alert(3)'


def _hostile_record() -> Record:
    bad = row("x<b>", "fail", output=HOSTILE, prompt="p<i>")
    bad["asserts"][0]["reason"] = "reason </td><script>alert(4)</script>"
    bad["tags"] = ['t"><script>alert(5)</script>']
    return record([row("ok"), bad])


def test_every_shown_value_is_escaped() -> None:
    page = record_html(
        _hostile_record(),
        messages={"": [{"role": "user", "content": "<script>alert(6)</script>"}]},
        history=[{"short": "<script>", "dirty": False, "date": "2026", "pass_rate": 0.5, "cost": 0.1}],
    )
    assert page.count("<script>") == 1 and page.count("</script>") == 1  # the report's own
    assert "<img" not in page and "x<b>" not in page and "p<i>" not in page
    assert "x&lt;b&gt;" in page and "p&lt;i&gt;" in page
    assert (
        "&lt;script&gt;alert(1)&lt;/script&gt;&lt;/script&gt;&lt;img src=x onerror=&quot;alert(2)&quot;&gt;"
        in page
    )
    assert "&#x27;&quot;onerror=alert(3)" in page
    assert 'data-tags="t&quot;&gt;&lt;script&gt;alert(5)&lt;/script&gt;"' in page


def test_self_contained_and_only_its_own_script_and_style_may_run() -> None:
    page = render_record(record([row("ok")]), "html")
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)  # nothing fetched
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', page)
    assert csp is not None
    script = re.search(r"<script>(.*)</script>", page, re.S)
    style = re.search(r"<style>(.*)</style>", page, re.S)
    assert script and style

    def sha(text: str) -> str:
        return base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    policy = csp.group(1).replace("&#x27;", "'")
    assert policy.startswith("default-src 'none'; ")
    assert f"script-src 'sha256-{sha(script.group(1))}'" in policy
    assert f"style-src 'sha256-{sha(style.group(1))}'" in policy


def test_record_page_lists_each_case_and_model_with_its_samples() -> None:
    rec = record(
        [row("rep", sample=0, output="first"), row("rep", "fail", sample=1, output="second"), row("ok")]
    )
    page = record_html(rec)
    assert page.count('class="unit"') == 2
    assert "sample 1 of 2" in page and "sample 2 of 2" in page
    assert 'value="pass" checked> pass' in page and 'value="error"' not in page  # statuses present only
    assert "Rendered messages" not in page  # none given: the section is left out, not faked


def test_missing_messages_are_said_so() -> None:
    page = record_html(record([row("ok")]), messages={})
    assert "Rendered messages not available" in page


def test_word_diff_marks_words_and_escapes() -> None:
    left, right = word_diff("the <b>cat</b> sat", "the <b>dog</b> sat down")
    assert left == "the &lt;b&gt;<del>cat</del>&lt;/b&gt; sat"
    assert right == "the &lt;b&gt;<ins>dog</ins>&lt;/b&gt; sat<ins> down</ins>"
    huge = "w " * MAX_DIFF_TOKENS
    assert word_diff(huge, huge + "<x>") == (huge, huge + "&lt;x&gt;")


def test_history_chart_is_inline_svg_oldest_first_with_gaps_for_unknowns() -> None:
    rows: list[dict[str, Any]] = [  # newest first, as history_rows gives them
        {"short": "c3", "date": "2026-01-03T00:00", "pass_rate": 1.0, "cost": None},
        {"short": "c2", "date": "2026-01-02T00:00", "pass_rate": None, "cost": 0.2},
        {"short": "c1", "date": "2026-01-01T00:00", "pass_rate": 0.5, "cost": 0.1},
    ]
    svg = history_charts(rows)
    assert svg.count("<svg") == 2 and "History (3 run records)" in svg
    rate_titles = re.findall(r'class="dot-rate"[^>]*><title>([^<]*)</title>', svg)
    assert rate_titles == ["c1 2026-01-01T00:00: 50.0%", "c3 2026-01-03T00:00: 100.0%"]
    rate_chart, cost_chart = svg.split('<figure class="chart">')[1:]
    assert "<polyline" not in rate_chart  # 50% and 100% are not joined across the unknown
    assert cost_chart.count("<polyline") == 1  # $0.1 → $0.2
    assert history_charts([]).endswith("No run records yet.</p>")
    assert history_charts(None) == ""


def test_comparison_page_without_records_still_renders() -> None:
    data = {
        "base": {"label": "b<1>", "origin": "record"},
        "head": {"label": "h", "origin": "ran"},
        "totals": {
            "transitions": {"pass_to_fail": 1, "still_failing": 0, "fail_to_pass": 0, "new": 0, "removed": 0,
                            "still_passing": 0},
            "pass_rate": {"base": 1.0, "head": 0.0, "delta": -1.0},
            "mean_score": {"base": 1.0, "head": 0.0, "delta": -1.0},
            "cost": {"base": None, "head": None, "delta": None},
            "p95_latency_ms": {"base": None, "head": None, "delta": None},
            "outputs_changed": 1, "provider_model_drift": 0, "metrics": {},
        },
        "units": [{
            "case_key": "p::c", "prompt": "p", "case": "c", "model": "m", "transition": "pass_to_fail",
            "base": {"status": "pass", "passes": 1, "samples": 1}, "head": {"status": "fail", "passes": 0, "samples": 1},
            "pass_rate_delta": -1.0, "score_delta": -1.0, "output_changed": True, "cost_delta": None,
            "latency_delta_ms": None, "provider_model_drift": False,
        }],
        "gate": {"failed": True, "causes": ["regression <x>"], "pvalues": ["no repeated cases"], "stats": None},
    }  # fmt: skip
    page = render_comparison(data, "html")
    assert "Outputs not available." in page and "Gate: failed" in page and "regression &lt;x&gt;" in page
    assert "b&lt;1&gt;" in page and "b<1>" not in page
    assert comparison_html(data) == page


def test_a_partial_run_says_why_and_a_comparison_shows_the_gates_additions() -> None:
    """The record page names why a run is not the suite; the comparison page shows the checks
    that changed, the gate's warnings, and a model change's outputs from each side's own rows."""
    rec = record([row("a")])
    rec.complete, rec.selection = False, {"partial": ["-k a<b>"]}
    page = record_html(rec)
    assert "PARTIAL run: -k a&lt;b&gt;" in page and "a<b>" not in page
    assert "PARTIAL" not in record_html(record([row("a")]))
    from tests.report.comparisons import comparison

    base = [row("c", model="strong", output="fine answer")]
    head = [row("c", "fail", model="weak", output="bad answer")]
    data = comparison(base, head)
    data["checks"] = {
        "assertions": ["p::c"],
        "files": [{"path": "v<1>.py", "kind": "python", "change": "modified"}],
    }
    data["gate"]["warnings"] = ["removed at head: x <y>"]
    page = comparison_html(data, base=record(base), head=record(head))
    assert "<td>strong → weak</td>" in page and "Outputs not available" not in page
    assert "<del>fine</del>" in page and "<ins>bad</ins>" in page  # the word diff of the two sides
    assert "Checks changed" in page and "v&lt;1&gt;.py (python, modified)" in page
    assert "warning: removed at head: x &lt;y&gt;" in page
