"""``promptctl feedback import``: feedback lines become cases (vars, expected from the correction,
tag feedback), duplicates skipped, the diff printed; malformed input located, nothing written;
``--branch`` commits on a new branch and leaves the worktree alone."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.curate.project import make_project
from tests.helpers import git, invoke, write_files

CASES = "cases/support/reply.yaml"


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    return make_project(tmp_path / "repo", "http://127.0.0.1:9/v1")  # no model is called here


def jsonl(root: Path, *lines: dict[str, Any] | str, name: str = "feedback.jsonl") -> Path:
    path = root / name
    path.write_text("".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines), "utf-8")
    return path


def cases_of(root: Path, path: str = CASES) -> list[dict[str, Any]]:
    return list(yaml.safe_load((root / path).read_text("utf-8"))["cases"])


LINE_A = {
    "trace_id": "t-101",
    "vars": {"email": "I cancelled my annual plan, I want a refund."},
    "output": "Sorry, we cannot help.",
    "rating": "bad",
    "correction": "We will refund within 5 days.",
    "comment": "refunds are allowed",
}
LINE_B = {"vars": {"email": "Great service!"}, "output": "Thank you!", "rating": 1}
LINE_C = {"vars": {"email": "Where is my parcel?"}, "output": "No idea.", "rating": "thumbs_down"}


def test_lines_become_cases_appended_with_the_file_kept_as_written(proj: Path) -> None:
    before = (proj / CASES).read_text("utf-8")
    jsonl(proj, LINE_A, LINE_B, LINE_C)
    r = invoke("feedback", "import", "feedback.jsonl", "--to", CASES, cwd=proj)
    assert r.exit_code == 0, r.output
    after = (proj / CASES).read_text("utf-8")
    assert after.startswith(before)  # comments, layout and every old case untouched
    assert f"--- a/{CASES}\n+++ b/{CASES}\n" in r.stdout and "+  - id: feedback-t-101\n" in r.stdout
    assert r.stdout.endswith(f"3 case(s) added to {CASES}\n")
    a, b, c = cases_of(proj)[3:]
    assert a == {
        "id": "feedback-t-101",
        "description": "refunds are allowed",
        "vars": {"email": "I cancelled my annual plan, I want a refund."},
        "expected": "We will refund within 5 days.",
        "tags": ["feedback"],
        "metadata": {
            "feedback": {
                "rating": "bad",
                "expected_from": "correction",
                "trace_id": "t-101",
                "comment": "refunds are allowed",
                "output": "Sorry, we cannot help.",
            }
        },
    }
    assert b["expected"] == "Thank you!" and b["metadata"]["feedback"]["expected_from"] == "output rated good"
    assert b["id"].startswith("feedback-") and len(b["id"]) == len("feedback-") + 8
    assert "expected" not in c and c["metadata"]["feedback"]["output"] == "No idea."
    assert invoke("lint", cwd=proj).exit_code == 0


def test_duplicates_are_skipped_and_a_second_import_adds_nothing(proj: Path) -> None:
    dup_of_case = {"vars": {"email": "Please refund my cancelled plan."}, "rating": "bad", "output": "x"}
    jsonl(proj, LINE_A, dup_of_case, {**LINE_A, "trace_id": "t-999"})
    r = invoke("feedback", "import", "feedback.jsonl", "--to", CASES, cwd=proj)
    assert r.exit_code == 0, r.output
    assert f"feedback.jsonl:2: skipped, same vars as case 'refund' ({CASES}:4)" in r.stderr
    assert "feedback.jsonl:3: skipped, same vars as line 1" in r.stderr
    assert [c["id"] for c in cases_of(proj)] == ["refund", "thanks", "hours", "feedback-t-101"]
    r = invoke("feedback", "import", "feedback.jsonl", "--to", CASES, cwd=proj)
    assert r.exit_code == 0 and f"no new cases for support/reply: {CASES} unchanged" in r.stdout


def test_csv_with_vars_columns(proj: Path) -> None:
    (proj / "fb.csv").write_text(
        "trace_id,vars.email,output,rating,correction,comment\n"
        't-7,"Refund, please",No.,down,"We will refund within 5 days.","multi\nline comment"\n',
        "utf-8",
    )
    r = invoke("feedback", "import", "fb.csv", "--to", CASES, cwd=proj)
    assert r.exit_code == 0, r.output
    case = cases_of(proj)[-1]
    assert (case["id"], case["vars"], case["expected"]) == (
        "feedback-t-7",
        {"email": "Refund, please"},
        "We will refund within 5 days.",
    )
    assert case["description"] == "multi" and case["metadata"]["feedback"]["comment"] == "multi\nline comment"


def test_malformed_lines_are_all_located_and_nothing_is_written(proj: Path) -> None:
    before = (proj / CASES).read_text("utf-8")
    jsonl(
        proj,
        LINE_A,
        '{"vars": {"email": "x"}, "rating": "bad"',
        {"vars": {"email": "y"}},
        {"vars": {"email": "z"}, "rating": "meh"},
        {"vars": ["email"], "rating": "bad", "ratng": 1},
        "[1, 2]",
        {"trace_id": "t-5", "rating": "bad"},
        {"vars": {"email": "w"}, "rating": "bad", "prompt": "support/triage"},
        {"vars": {"emial": "typo"}, "rating": "bad"},
    )
    r = invoke("feedback", "import", "feedback.jsonl", "--to", CASES, cwd=proj)
    assert r.exit_code == 2, r.output
    err = r.stderr
    assert "feedback.jsonl:2:41: invalid JSON: Expecting ',' delimiter" in err
    assert "feedback.jsonl:3:1: 'rating' is required (good/bad, up/down, true/false, 1/-1 …)" in err
    assert "feedback.jsonl:4:1: 'rating' 'meh' is neither good (true, 1, +1, good, up, thumbs_up)" in err
    assert "feedback.jsonl:5:1: unknown field 'ratng'; did you mean 'rating'?" in err
    assert "feedback.jsonl:5:1: 'vars' must be an object of variable names to values, got list" in err
    assert "feedback.jsonl:6:1: each line must be a JSON object" in err
    assert (
        "feedback.jsonl:7:1: trace 't-5' needs a traces file (--traces FILE), or give 'vars' and 'output'"
        in err
    )
    assert (proj / CASES).read_text("utf-8") == before
    # once every line parses: a line for another prompt and a case that cannot render
    jsonl(
        proj,
        LINE_A,
        {"vars": {"email": "w"}, "rating": "bad", "prompt": "support/triage"},
        {"vars": {"emial": "typo"}, "rating": "bad"},
    )
    r = invoke("feedback", "import", "feedback.jsonl", "--to", CASES, cwd=proj)
    assert r.exit_code == 2
    assert (
        f"feedback.jsonl:2:1: feedback for prompt 'support/triage' cannot go to {CASES} "
        "(a case file of prompt 'support/reply')"
    ) in r.stderr
    assert "feedback.jsonl:3:1: missing required variable 'email' for prompt 'support/reply'" in r.stderr
    assert (proj / CASES).read_text("utf-8") == before


def test_csv_problems_are_located(proj: Path) -> None:
    (proj / "fb.csv").write_text(
        'vars.email,rating,outptu\nhello,bad,x\n"short",bad\nfine,good,"never closed\n', "utf-8"
    )
    r = invoke("feedback", "import", "fb.csv", "--to", CASES, cwd=proj)
    assert r.exit_code == 2
    assert (
        "fb.csv:1:19: unknown column 'outptu'; did you mean 'output'? (or vars.NAME for one variable)"
        in r.stderr
    )
    assert "fb.csv:3:1: expected 3 columns, got 2" in r.stderr
    assert "fb.csv:4:1: invalid CSV: unexpected end of data" in r.stderr


def test_trace_ids_are_looked_up_in_a_traces_file(proj: Path) -> None:
    traces = jsonl(
        proj,
        {
            "trace_id": "t-1",
            "prompt": "support/reply",
            "vars": {"email": "Refund?"},
            "output": "No.",
            "ms": 3,
        },
        name="traces.jsonl",
    )
    jsonl(
        proj, {"trace_id": "t-1", "rating": "bad", "correction": "Yes."}, {"trace_id": "t-2", "rating": "up"}
    )
    r = invoke("feedback", "import", "feedback.jsonl", "--to", CASES, "--traces", str(traces), cwd=proj)
    assert r.exit_code == 2
    assert "feedback.jsonl:2:1: trace 't-2' is not in the traces file; did you mean 't-1'?" in r.stderr
    jsonl(proj, {"trace_id": "t-1", "rating": "bad", "correction": "Yes."})
    r = invoke("feedback", "import", "feedback.jsonl", "--to", CASES, "--traces", str(traces), cwd=proj)
    assert r.exit_code == 0, r.output
    case = cases_of(proj)[-1]
    assert (case["id"], case["vars"], case["expected"]) == ("feedback-t-1", {"email": "Refund?"}, "Yes.")
    assert case["metadata"]["feedback"]["output"] == "No."
    (proj / "bad.jsonl").write_text('{"trace_id": 3}\nnot json\n', "utf-8")
    r = invoke("feedback", "import", "feedback.jsonl", "--to", CASES, "--traces", "bad.jsonl", cwd=proj)
    assert r.exit_code == 2
    assert "bad.jsonl:1:1: a trace line must be a JSON object with a string 'trace_id'" in r.stderr
    assert "bad.jsonl:2:1: invalid JSON: Expecting value" in r.stderr


def test_trace_ids_default_to_the_traces_the_runtime_api_writes(proj: Path) -> None:
    config = proj / "promptctl.yaml"
    config.write_text(config.read_text("utf-8") + "traces: .promptctl/traces.jsonl\n", "utf-8")
    (proj / ".promptctl").mkdir(exist_ok=True)
    jsonl(
        proj,
        {"trace_id": "t-9", "prompt": "support/reply", "vars": {"email": "Refund?"}, "output": "No."},
        name=".promptctl/traces.jsonl",
    )
    jsonl(proj, {"trace_id": "t-9", "rating": "bad", "correction": "Yes."})
    r = invoke("feedback", "import", "feedback.jsonl", "--to", CASES, cwd=proj)
    assert r.exit_code == 0, r.output
    case = cases_of(proj)[-1]
    assert (case["id"], case["vars"], case["expected"]) == ("feedback-t-9", {"email": "Refund?"}, "Yes.")


def test_a_new_case_file_needs_its_prompt(proj: Path) -> None:
    jsonl(proj, LINE_A)
    r = invoke("feedback", "import", "feedback.jsonl", "--to", "cases/support/from_users.yaml", cwd=proj)
    assert r.exit_code == 2
    assert (
        "cases/support/from_users.yaml does not exist yet: say which prompt its cases are for with --prompt"
        in (r.stderr)
    )
    r = invoke(
        "feedback", "import", "feedback.jsonl", "--to", "cases/support/from_users.yaml", "--prompt", "support/rply",
        cwd=proj,
    )  # fmt: skip
    assert r.exit_code == 2 and "unknown prompt 'support/rply'; did you mean 'support/reply'?" in r.stderr
    r = invoke(
        "feedback", "import", "feedback.jsonl", "--to", "cases/support/from_users.yaml", "--prompt", "support/reply",
        cwd=proj,
    )  # fmt: skip
    assert r.exit_code == 0, r.output
    text = (proj / "cases/support/from_users.yaml").read_text("utf-8")
    assert text.startswith("# yaml-language-server: $schema=../../promptctl/schemas/cases.schema.json\n")
    assert yaml.safe_load(text)["prompt"] == "support/reply"
    assert invoke("lint", cwd=proj).exit_code == 0


@pytest.mark.parametrize(
    "to", ["prompts/support/reply.yaml", "cases/__reviews__/x.yaml", "../x.yaml", "cases/x.txt"]
)
def test_the_target_must_be_a_case_file(proj: Path, to: str) -> None:
    jsonl(proj, LINE_A)
    r = invoke("feedback", "import", "feedback.jsonl", "--to", to, cwd=proj)
    assert r.exit_code == 2, r.output


def test_a_missing_or_unsupported_feedback_file(proj: Path) -> None:
    r = invoke("feedback", "import", "nope.jsonl", "--to", CASES, cwd=proj)
    assert r.exit_code == 2 and "cannot read feedback file nope.jsonl" in r.stderr
    write_files(proj, {"fb.txt": "x"})
    r = invoke("feedback", "import", "fb.txt", "--to", CASES, cwd=proj)
    assert r.exit_code == 2 and "fb.txt: feedback must be a .jsonl or .csv file" in r.stderr


def test_dry_run_writes_nothing(proj: Path) -> None:
    before = (proj / CASES).read_text("utf-8")
    jsonl(proj, LINE_A)
    r = invoke("feedback", "import", "feedback.jsonl", "--to", CASES, "--dry-run", cwd=proj)
    assert r.exit_code == 0 and "would add 1 case(s)" in r.stdout and "+  - id: feedback-t-101" in r.stdout
    assert (proj / CASES).read_text("utf-8") == before


def test_branch_commits_on_a_new_branch_and_leaves_the_worktree_alone(proj: Path) -> None:
    jsonl(proj, LINE_A)  # untracked, in the worktree only
    (proj / "cases/support/reply.yaml").write_text(
        (proj / CASES).read_text("utf-8") + "# an uncommitted edit\n", "utf-8"
    )
    worktree_before = (proj / CASES).read_text("utf-8")
    head = git(proj, "rev-parse", "HEAD").strip()
    r = invoke("feedback", "import", "feedback.jsonl", "--to", CASES, "--branch", "feedback/t-101", cwd=proj)
    assert r.exit_code == 0, r.output
    assert "1 case(s) added to cases/support/reply.yaml on new branch 'feedback/t-101'" in r.stdout
    assert "push it with `git push -u origin feedback/t-101`" in r.stdout
    assert (proj / CASES).read_text("utf-8") == worktree_before  # worktree untouched
    assert git(proj, "rev-parse", "HEAD").strip() == head
    assert git(proj, "branch", "--show-current").strip() == "main"
    assert git(proj, "status", "--porcelain").splitlines() == [f" M {CASES}", "?? feedback.jsonl"]
    committed = git(proj, "show", f"feedback/t-101:{CASES}")
    assert "# an uncommitted edit" not in committed  # the branch starts from HEAD's files
    assert [c["id"] for c in yaml.safe_load(committed)["cases"]][-1] == "feedback-t-101"
    assert git(proj, "rev-parse", "feedback/t-101~1").strip() == head
    log = git(proj, "log", "-1", "--format=%an <%ae>|%s", "feedback/t-101").strip()
    assert (
        log
        == "Test Author <author@example.invalid>|Feedback from feedback.jsonl: 1 case(s) for support/reply"
    )
    assert git(proj, "diff", "--name-only", "HEAD", "feedback/t-101").split() == [CASES]
    r = invoke("feedback", "import", "feedback.jsonl", "--to", CASES, "--branch", "feedback/t-101", cwd=proj)
    assert r.exit_code == 2 and "branch 'feedback/t-101' already exists" in r.stderr
    r = invoke("feedback", "import", "feedback.jsonl", "--to", CASES, "--branch", "bad..name", cwd=proj)
    assert r.exit_code == 2 and "'bad..name' is not a valid branch name" in r.stderr


def test_a_blank_comment_gives_no_description(proj: Path) -> None:
    jsonl(proj, {**LINE_A, "comment": "   "})
    assert invoke("feedback", "import", "feedback.jsonl", "--to", CASES, cwd=proj).exit_code == 0
    assert "description" not in cases_of(proj)[-1]
