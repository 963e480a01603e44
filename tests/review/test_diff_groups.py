"""`promptctl diff` at the scale of a real pull request: a suite of 500 cases (tests/review/large_suite.py),
one commit per kind of edit. One diff per distinct change, in every format; the Markdown for the
pull-request comment stays under GitHub's limit and says what it left out."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.fakeserver import FakeServer
from tests.helpers import invoke
from tests.review.common import KEY, commit, config, new_repo
from tests.review.large_suite import build


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    root = tmp_path_factory.mktemp("large") / "repo"
    return root, build(root)


def run(root: Path, *args: str) -> str:
    r = invoke("diff", *args, cwd=root)
    assert r.exit_code == 0, r.output
    return r.stdout


def diff_json(root: Path, base: str, head: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(run(root, base, head, "--format", "json"))
    return data


def well_formed(md: str) -> None:
    """Every fenced block and every <details> element is closed: nothing was cut in half."""
    fences = re.findall(r"^(`{3,})", md, re.M)
    assert len(fences) % 2 == 0, "a code block is left open"
    opened: list[str] = []
    for f in fences:
        if opened and f == opened[-1]:
            opened.pop()
        else:
            opened.append(f)
    assert opened == []
    assert md.count("<details>") == md.count("</details>")
    assert md.count("<summary>") == md.count("</summary>")


def test_a_one_word_system_message_change_is_one_group(repo: tuple[Path, dict[str, str]]) -> None:
    root, c = repo
    data = diff_json(root, c["base"], c["word"])
    assert data["summary"]["affected"] == 200 and data["summary"]["groups"] == 1
    [g] = data["groups"]
    assert (g["prompt"], g["count"], g["change"]) == ("reply", 200, "changed")
    assert [m["case"] for m in g["cases"]] == [f"reply-{i:04d}" for i in range(200)]
    assert "-You are a helpful support agent for Acme." in g["diff"]
    assert "+You are a friendly support agent for Acme." in g["diff"]
    # the customer's line is context here: shown from the first case, flagged as varying
    assert g["example"] == "reply::reply-0000" and " Customer Cy wrote:" in g["diff"]
    assert g["context_varies"] is True
    assert {e["group"] for e in data["affected"]} == {1}
    [t] = data["templates"]
    assert (t["path"], t["kind"], t["prompts"], t["groups"]) == (
        "prompts/reply.yaml",
        "prompt",
        ["reply"],
        [1],
    )

    # the diff once in every format
    as_json = run(root, c["base"], c["word"], "--format", "json")
    assert as_json.count("+You are a friendly support agent") == 1
    table = run(root, c["base"], c["word"])
    assert table.count("+You are a friendly support agent") == 1
    assert "── change 1 · reply · 200 cases · changed · openai/test-model" in table
    assert "cases: reply-0000, reply-0001," in table and "… and 190 more (-v lists all)" in table
    assert "reply-0199" in run(root, c["base"], c["word"], "-v")
    md = run(root, c["base"], c["word"], "--format", "markdown")
    # the template's source diff, then the rendered one
    assert len(re.findall(r"^\+ *You are a friendly support agent", md, re.M)) == 2
    assert "<details><summary>200 cases</summary>" in md and "`reply-0199`" in md
    assert len(md) < 12_000 and "Left out" not in md
    well_formed(md)


def test_a_partial_used_by_two_of_three_prompts_gives_a_group_per_prompt(
    repo: tuple[Path, dict[str, str]],
) -> None:
    root, c = repo
    data = diff_json(root, c["word"], c["partial"])
    assert [(g["prompt"], g["count"]) for g in data["groups"]] == [("reply", 200), ("triage", 150)]
    for g in data["groups"]:
        assert g["diff"].count("\n-Refunds are possible within 30 days of purchase.\n") == 1
        assert g["diff"].count("\n+Refunds are possible within 60 days of purchase.\n") == 1
    assert data["summary"]["affected"] == 350  # summarize does not include the partial
    assert not any(e["prompt"] == "summarize" for e in data["affected"])
    [t] = data["templates"]
    assert (t["path"], t["kind"], t["prompts"], t["groups"]) == (
        "prompts/_policy.j2",
        "partial",
        ["reply", "triage"],
        [1, 2],
    )
    md = run(root, c["word"], c["partial"], "--format", "markdown")
    assert (
        "**`prompts/_policy.j2`** (partial, modified) · included by `reply`, `triage` · rendered: changes 1–2"
        in md
    )
    assert md.index("Templates: what the author changed") < md.index("**Change 1** · `reply` · 200 cases")
    assert md.index("**Change 1**") < md.index("**Change 2** · `triage` · 150 cases")
    well_formed(md)


def test_a_variable_inside_the_changed_line_splits_groups_largest_first(
    repo: tuple[Path, dict[str, str]],
) -> None:
    root, c = repo
    data = diff_json(root, c["partial"], c["variable"])
    # 40 Cy, then 100 Ann, then 60 Bob in case order: the groups come largest first
    assert [(g["count"], g["example"]) for g in data["groups"]] == [
        (100, "reply::reply-0040"),
        (60, "reply::reply-0140"),
        (40, "reply::reply-0000"),
    ]
    for g, who in zip(data["groups"], ["Ann", "Bob", "Cy"], strict=True):
        assert f"-Customer {who} wrote:\n+Customer {who} asks:\n" in g["diff"]
        assert not g["context_varies"] or "Ticket" in g["diff"]


def test_the_comment_stays_under_the_limit_and_says_what_it_left_out(
    repo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    root, c = repo
    # every edit at once: 500 cases; summarize's ticket is inside its changed line (150 changes)
    data = diff_json(root, c["base"], c["unique"])
    assert data["summary"]["affected"] == 500
    assert [(g["prompt"], g["count"]) for g in data["groups"][:4]] == [
        ("triage", 150),
        ("reply", 100),
        ("reply", 60),
        ("reply", 40),
    ]
    assert len(data["groups"]) == 154 and all(g["count"] == 1 for g in data["groups"][4:])

    out = tmp_path / "comment.md"
    r = invoke("diff", c["base"], c["unique"], "--format", "markdown", "-o", str(out), cwd=root)
    assert r.exit_code == 0, r.output
    md = out.read_text("utf-8")
    assert 50_000 < len(md.encode()) <= 60_000
    well_formed(md)
    note = md[md.index("**Left out to keep this report under 60,000 bytes**") :]
    assert "in this order: the case lists of 4 groups; " in note
    assert re.search(
        r"; [1-9]\d* rendered-request changes after the 3 largest \(the smallest first\)\. ", note
    )
    assert f"Run `promptctl diff {c['base']} {c['unique']}` for all of it." in note
    # what stays: the templates, the three largest changes with their diffs, then as many as fit
    assert md.count("```diff") > 50
    for i in (1, 2, 3):
        assert f"**Change {i}** ·" in md
    assert "**Change 154**" not in md
    # no limit: everything
    full = run(root, c["base"], c["unique"], "--format", "markdown", "--max-bytes", "0")
    assert "**Change 154** · `summarize` · 1 case: `summarize-" in full and "Left out" not in full
    assert len(full) > 65_536
    well_formed(full)
    small = run(root, c["base"], c["unique"], "--format", "markdown", "--max-bytes", "3000")
    assert len(small.encode()) <= 3_000
    well_formed(small)
    # the source diffs go after the smaller changes, the last template first; the line stays
    assert re.search(
        r"; 151 rendered-request changes after the 3 largest \(the smallest first\); "
        r"the source diffs of [1-3] templates?\. Run ",
        small,
    )
    assert (
        "**`prompts/summarize.yaml`** (prompt, modified) · prompt `summarize` · rendered: changes 5–154"
        in small
    )


def test_max_bytes_is_for_markdown_and_must_fit_the_essentials(repo: tuple[Path, dict[str, str]]) -> None:
    root, c = repo
    r = invoke("diff", c["base"], c["word"], "--max-bytes", "1000", cwd=root)
    assert r.exit_code == 2 and "--max-bytes applies to --format markdown only" in r.output
    r = invoke("diff", c["base"], c["unique"], "--format", "markdown", "--max-bytes", "200", cwd=root)
    assert r.exit_code == 2 and "--max-bytes 200 is too small" in r.output


# -- recorded outputs -------------------------------------------------------------------------
LABEL_PROMPT = """
    inputs: {text: {}}
    messages:
      - role: system
        content: Label the sentiment.
      - role: user
        content: "{{ text }}"
"""
# the model: "positive"/"negative"; told to shout, it shouts "POSITIVE" but keeps "negative"
LABEL_SPEC = {
    "mode": "rules",
    "rules": [
        {"match": "SHOUT[\\s\\S]*good", "reply": "POSITIVE"},
        {"match": "good", "reply": "positive"},
        {"match": "bad", "reply": "negative"},
    ],
    "default": "unknown",
}


def test_recorded_output_diffs_are_grouped_the_same_way(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KEY", KEY)
    texts = [("good", i) for i in range(20)] + [("bad", i) for i in range(10)]
    cases = "prompt: label\ncases:\n" + "".join(
        f"  - {{id: {kind}-{i:02d}, vars: {{text: 'a {kind} thing number {i}'}}, assert: [not_empty]}}\n"
        for kind, i in texts
    )
    with FakeServer(spec=LABEL_SPEC) as srv:
        root, _ = new_repo(
            tmp_path / "repo",
            {
                "promptctl.yaml": config(srv.url),
                "prompts/label.yaml": LABEL_PROMPT,
                "cases/label.yaml": cases,
            },
        )
        assert invoke("test", "--record", cwd=root).exit_code == 0
        c0 = commit(root, {}, "recordings")
        commit(root, {"prompts/label.yaml": LABEL_PROMPT.replace("sentiment.", "sentiment. SHOUT.")}, "shout")
        assert invoke("test", "--record", cwd=root).exit_code == 0
        c1 = commit(root, {}, "recordings again")
    data = diff_json(root, c0, c1)
    # one request change for all 30 cases; their outputs changed only for the 20 good ones, alike
    assert [(g["prompt"], g["count"]) for g in data["groups"]] == [("label", 30)]
    [out] = data["output_groups"]
    assert out["count"] == 20 and [m["case"] for m in out["cases"]] == [f"good-{i:02d}" for i in range(20)]
    assert out["diff"].endswith("-positive\n+POSITIVE\n")
    assert data["summary"]["output_changes"] == 20 and data["summary"]["output_groups"] == 1
    by_case = {e["case"]: e for e in data["affected"]}
    assert by_case["good-03"]["output_group"] == 1 and by_case["bad-03"]["output_group"] is None
    table = run(root, c0, c1)
    assert "recorded outputs: 20 cases changed output, 1 distinct change" in table
    assert "── output change 1 · label · 20 cases · changed · fake" in table
    md = run(root, c0, c1, "--format", "markdown")
    assert "#### Recorded outputs — 20 cases changed, 1 distinct change" in md
    assert "**Output change 1** · `label` · 20 cases" in md and md.count("+POSITIVE") == 1
    well_formed(md)
