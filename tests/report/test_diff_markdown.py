"""The Markdown of a diff: blocks that show their text exactly, and rendering that scales."""

from __future__ import annotations

import json
import time

from promptctl.report.as_json import data_json
from promptctl.report.diff_markdown import code, diff_markdown, fenced
from promptctl.report.diff_text import changes_ref, diff_text
from tests.report.diffs import thousand_cases


def test_code_and_fences_show_backticks_literally() -> None:
    assert code("a`b") == "``a`b``"
    assert code("`x`") == "`` `x` ``"
    assert code("two\nlines") == "`two lines`"
    # a context line " ```" would close a ``` fence: the fence gets longer, the text stays as it is
    block = fenced(" ```python\n-print(1)\n+print(2)\n ```\n")
    assert block.startswith("````diff\n") and block.endswith("\n````\n")
    assert "\n ```\n" in block
    assert fenced("+```\n").startswith("```diff\n")  # a + line cannot close a fence


def test_long_diffs_are_cut_at_a_line_and_say_so() -> None:
    block = fenced("".join(f"+line {i}\n" for i in range(400)), hint=" (see X)")
    lines = block.split("\n")
    assert lines[0] == "```diff" and lines[-2] == "```"
    assert "+line 149" in block and "+line 150" not in block
    assert "… 250 more lines not shown (see X)" in block
    wide = fenced("+" + "w" * 50_000 + "\n+short\n")
    assert len(wide) < 21_000 and "… 1 more lines not shown" in wide


def test_changes_ref_compresses_runs() -> None:
    assert changes_ref([]) == "no rendered request changed"
    assert changes_ref([3]) == "rendered: change 3"
    assert changes_ref([7, 1, 2, 3, 4, 9, 10]) == "rendered: changes 1–4, 7, 9–10"


def test_a_thousand_cases_group_and_render_in_linear_time() -> None:
    """No diff is compared with another (grouping hashes each diff once): grouping and rendering
    1,000 cases takes milliseconds (measured: ~40 ms); the bound only catches a quadratic blow-up."""
    start = time.perf_counter()
    data = thousand_cases()
    md = diff_markdown(data)
    text = diff_text(data)
    as_json = data_json(data)
    elapsed = time.perf_counter() - start
    assert data["summary"]["groups"] == 501 and data["groups"][0]["count"] == 500
    assert len(md.encode()) <= 60_000 and "Left out to keep this report under 60,000 bytes" in md
    assert text.count("── change ") == 501
    assert len(json.loads(as_json)["groups"][0]["cases"]) == 500
    assert elapsed < 5.0, f"{elapsed:.2f} s for 1,000 cases"
