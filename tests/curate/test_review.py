"""``promptctl review`` through its flags: what is pending, verdicts with scores and comments, the
``human`` assertion following them, and bad input (unknown case, stale id, bad score, no git
identity) refused before anything is written."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.curate.project import RIGHT, RULES, make_project, reviews
from tests.fakeserver import FakeServer
from tests.helpers import commit_all, invoke

REFUND = "support/reply::refund"
THANKS = "support/reply::thanks"
REVIEWER = "Test Author <author@example.invalid>"  # GIT_AUTHOR_* of the test environment win, as in git


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(spec=RULES) as srv:
        yield srv


@pytest.fixture
def proj(tmp_path: Path, server: FakeServer) -> Path:
    return make_project(tmp_path / "repo", server.url)


def pending(root: Path, *args: str) -> list[dict[str, Any]]:
    r = invoke("review", "--json", *args, cwd=root)
    assert r.exit_code == 0, r.output
    data: list[dict[str, Any]] = json.loads(r.stdout)
    return data


def test_without_a_run_there_is_nothing_to_review(proj: Path) -> None:
    r = invoke("review", "--json", cwd=proj)
    assert r.exit_code == 2
    assert "error: no run records yet: nothing to review\nhint: run `promptctl test` first" in r.stderr


def test_unreviewed_outputs_are_pending_and_fail_the_run(proj: Path) -> None:
    r = invoke("test", cwd=proj)
    assert r.exit_code == 1, r.output
    assert "1 passed, 1 failed, 0 errors, 1 pending review · pass rate 33.3%" in r.stdout
    assert "human (pending)" in r.stdout and "outputs wait for a human verdict" in r.stderr
    items = pending(proj)
    assert [(i["case_key"], i["state"]) for i in items] == [(REFUND, "new"), (THANKS, "new")]
    refund = items[0]
    assert refund["id"] == f"{REFUND}::fake@{refund['output_sha256'][:12]}"
    assert (refund["case_file"], refund["case_line"], refund["output"]) == (
        "cases/support/reply.yaml",
        4,
        "Sorry, we cannot help.",
    )
    assert refund["scores"] == [
        {"metric": "helpful", "kind": "numeric", "accepts": "a number from 1 to 5"},
        {"metric": "tone", "kind": "categorical", "accepts": "one of friendly, neutral, rude"},
    ]
    assert [i["case_key"] for i in pending(proj, "--all")] == [REFUND, THANKS, "support/reply::hours"]


def test_accept_with_scores_then_the_test_passes_and_scores_aggregate(proj: Path) -> None:
    invoke("test", cwd=proj)
    r = invoke(
        "review", "--accept", THANKS, "--comment", "warm", "--score", "helpful=4", cwd=proj
    )  # thanks declares no score: refused
    assert r.exit_code == 2 and "no case of these outputs declares a score 'helpful'" in r.stderr
    assert reviews(proj) == []
    r = invoke("review", "--accept", THANKS, "--comment", "warm", cwd=proj)
    assert r.exit_code == 0, r.output
    assert r.stdout.startswith(f"accepted {THANKS}::fake@")
    assert "verdicts written to cases/__reviews__/support/reply.yaml" in r.stderr
    r = invoke("review", "--reject", REFUND, "--score", "helpful=1", "--score", "tone=neutral", cwd=proj)
    assert r.exit_code == 0, r.output
    (thanks, refund) = reviews(proj)
    assert thanks["verdict"] == "accepted" and thanks["comment"] == "warm" and thanks["reviewer"] == REVIEWER
    assert thanks["output"] == "You are welcome!" and len(thanks["output_sha256"]) == 64
    assert refund["verdict"] == "rejected" and refund["scores"] == {"helpful": 1, "tone": "neutral"}
    assert pending(proj) == []
    r = invoke("test", "--format", "json", cwd=proj)
    data = json.loads(r.stdout)
    assert data["summary"]["pending"] == 0 and data["summary"]["passed"] == 2
    assert data["summary"]["metrics"] == {"helpful": 0.0, "tone": 0.0}  # 1 on 1..5; a list label: the verdict
    row = next(x for x in data["rows"] if x["case"] == "refund")
    human = [a for a in row["asserts"] if a["type"] == "human"]
    assert human[0]["reason"] == f"rejected by {REVIEWER} on {refund['at'][:10]}"


def test_a_changed_output_is_pending_again_with_its_diff(proj: Path, server: FakeServer) -> None:
    invoke("test", cwd=proj)
    assert invoke("review", "--accept-all", cwd=proj).exit_code == 0
    assert invoke("test", "-k", "thanks", cwd=proj).exit_code == 0
    server.configure(spec={**RULES, "rules": [{"match": "Thanks", "reply": "You are welcome!\nBye"}]})
    assert invoke("test", "--no-cache", "-k", "thanks", cwd=proj).exit_code == 1
    (item,) = pending(proj)
    assert item["state"] == "changed" and item["accepted_output"] == "You are welcome!"
    assert "-You are welcome!\n+You are welcome!\n+Bye\n" in item["diff"]
    assert item["diff"].startswith(f"--- accepted by {REVIEWER} on ")


def test_a_new_verdict_on_the_same_output_replaces_the_old(proj: Path) -> None:
    invoke("test", cwd=proj)
    invoke("review", "--reject", THANKS, cwd=proj)
    assert invoke("review", "--accept", f"{THANKS}::fake", cwd=proj).exit_code == 0
    assert [r["verdict"] for r in reviews(proj) if r["case"] == "thanks"] == ["accepted"]


def test_unknown_case_model_and_malformed_ids_write_nothing(proj: Path) -> None:
    invoke("test", cwd=proj)
    for ident, message in (
        (
            "support/reply::refnud",
            "unknown case 'support/reply::refnud'; did you mean 'support/reply::refund'?",
        ),
        (f"{REFUND}::gpt-5", f"case '{REFUND}' did not run on model 'gpt-5'"),
        ("refund", "'refund' is not a review id; use PROMPT::CASE[::MODEL][@HASH]"),
    ):
        r = invoke("review", "--accept", THANKS, "--accept", ident, cwd=proj)
        assert r.exit_code == 2, r.output
        assert message in r.stderr, r.stderr
    assert reviews(proj) == []


def test_a_case_the_latest_run_did_not_cover(proj: Path) -> None:
    invoke("test", "-k", "thanks", cwd=proj)
    r = invoke("review", "--accept", REFUND, cwd=proj)
    assert r.exit_code == 2
    assert f"case '{REFUND}' has no output in the latest run record" in r.stderr
    assert f"hint: run `promptctl test -k {REFUND}` first" in r.stderr


def test_a_stale_id_is_refused(proj: Path, server: FakeServer) -> None:
    invoke("test", cwd=proj)
    (_refund, thanks) = pending(proj)
    server.configure(spec={**RULES, "rules": [{"match": "Thanks", "reply": "Glad to help."}]})
    invoke("test", "--no-cache", cwd=proj)
    r = invoke("review", "--accept", thanks["id"], cwd=proj)
    assert r.exit_code == 2
    assert (
        f"stale review id '{thanks['id']}': that output is not the latest output of '{THANKS}::fake'"
        in r.stderr
    )
    assert "hint: run `promptctl review --json` again" in r.stderr
    assert reviews(proj) == []


def test_bad_scores_are_refused_before_anything_is_written(proj: Path) -> None:
    invoke("test", cwd=proj)
    for score, message in (
        ("helpful=9", "helpful: 9 is not a number from 1 to 5"),
        ("tone=grumpy", "tone: 'grumpy' is not one of friendly, neutral, rude"),
        ("helpfull=3", "declares a score 'helpfull'; did you mean 'helpful'?; they declare helpful, tone"),
        ("helpful", "--score expects METRIC=VALUE, got 'helpful'"),
    ):
        r = invoke("review", "--accept-all", "--score", score, cwd=proj)
        assert r.exit_code == 2 and message in r.stderr, (score, r.stderr)
    assert reviews(proj) == []


def test_no_git_identity_is_a_clear_error(proj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    invoke("test", cwd=proj)
    for var in ("GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL"):
        monkeypatch.delenv(var)
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    (proj / ".git/config").write_text("[core]\n\trepositoryformatversion = 0\n", "utf-8")
    r = invoke("review", "--accept-all", cwd=proj)
    assert r.exit_code == 2
    assert "no git identity to sign the verdicts with (user.name and user.email not set)" in r.stderr
    assert 'hint: set it with `git config user.name "Your Name"`' in r.stderr
    assert reviews(proj) == []


def test_the_interactive_form_needs_a_terminal(proj: Path) -> None:
    invoke("test", cwd=proj)
    r = invoke("review", cwd=proj)
    assert r.exit_code == 2
    assert "2 output(s) to review, but this is not an interactive terminal" in r.stderr
    assert "hint: list them with `promptctl review --json`" in r.stderr
    r = invoke("review", "--comment", "x", cwd=proj)
    assert r.exit_code == 2 and "--comment and --score go with --accept" in r.stderr


def test_nothing_pending(proj: Path) -> None:
    invoke("test", "-k", "hours", cwd=proj)
    r = invoke("review", cwd=proj)
    assert r.exit_code == 0 and "nothing to review" in r.stdout


def test_a_malformed_review_file_stops_the_run_with_located_errors(proj: Path) -> None:
    bad = proj / "cases/__reviews__/support/reply.yaml"
    bad.parent.mkdir(parents=True)
    bad.write_text("reviews:\n  - case: refund\n    verdict: maybe\n", "utf-8")
    r = invoke("test", cwd=proj)
    assert r.exit_code == 2
    assert "cases/__reviews__/support/reply.yaml:3:14: reviews.0.verdict: 'maybe' is not allowed" in r.stderr


def test_accepted_output_passes_the_human_assertion(proj: Path, server: FakeServer) -> None:
    server.configure(spec={**RULES, "default": RIGHT})
    assert invoke("test", cwd=proj).exit_code == 1
    invoke("review", "--accept-all", "--score", "helpful=5", "--score", "tone=friendly", cwd=proj)
    r = invoke("test", "--format", "json", cwd=proj)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["summary"]["metrics"] == {"helpful": 1.0, "tone": 1.0}


def test_any_output_can_be_reviewed_by_id_and_an_errored_check_keeps_it_reviewable(proj: Path) -> None:
    cases = proj / "cases/support/reply.yaml"
    cases.write_text(
        cases.read_text("utf-8").replace(
            "assert: [not_empty]", "assert: [not_empty, {type: cost, max_usd: 1}]"
        ),
        "utf-8",
    )
    r = invoke("test", "-k", "hours", cwd=proj)
    assert r.exit_code == 3, r.output  # the price of this model is unknown: an evaluation error
    assert pending(proj) == []  # hours has no `human` assertion: not waiting for anyone
    (item,) = pending(proj, "--all")  # but its output is there to look at
    assert item["case_key"] == "support/reply::hours"
    r = invoke("review", "--accept", "support/reply::hours", cwd=proj)
    assert r.exit_code == 0, r.output
    assert [x["case"] for x in reviews(proj)] == ["hours"]


def test_the_prompt_changed_since_the_run_is_marked(proj: Path) -> None:
    invoke("test", "-k", "thanks", cwd=proj)
    prompt = proj / "prompts/support/reply.yaml"
    prompt.write_text(
        prompt.read_text("utf-8").replace("support emails.", "support emails politely."), "utf-8"
    )
    (item,) = pending(proj)
    assert item["prompt_changed"] is True


def test_a_run_at_a_revision_reads_that_revisions_verdicts(proj: Path) -> None:
    invoke("test", "-k", "thanks", cwd=proj)
    invoke("review", "--accept", THANKS, cwd=proj)
    commit_all(proj, "accept thanks")
    invoke("review", "--reject", THANKS, cwd=proj)  # a change of mind, not committed
    assert invoke("test", "-k", "thanks", cwd=proj).exit_code == 1
    assert invoke("test", "-k", "thanks", "--ref", "HEAD", cwd=proj).exit_code == 0
