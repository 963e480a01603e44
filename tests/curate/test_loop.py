"""The loop end to end, as the README shows it: a case fails; a correction from production is
imported as cases; an example set grows from it; on the next run the model (the loopback server,
which answers correctly only when a correct example is in the prompt) passes; a person reviews
the output; the review and the example are in the diff of one commit."""

from __future__ import annotations

import json
from pathlib import Path

from tests.curate.project import RIGHT, RULES, WRONG, make_project
from tests.fakeserver import FakeServer
from tests.helpers import git, invoke, write_files


def _requests(server: FakeServer) -> list[str]:
    return ["\n".join(m["content"] for m in b["messages"]) for b in server.stats()["bodies"]]


def _refund_requests(server: FakeServer) -> list[str]:
    return [t for t in _requests(server) if t.endswith("Please refund my cancelled plan.")]


def test_fail_import_correction_add_example_pass_review_commit(tmp_path: Path) -> None:
    with FakeServer(spec=RULES) as server:
        root = make_project(tmp_path / "repo", server.url)
        # feedback cases go to their own file, whose checks compare outputs to `expected`
        write_files(
            root,
            {
                "cases/support/feedback.yaml": """
                    prompt: support/reply
                    defaults:
                      assert:
                        - type: levenshtein
                          threshold: 0.9
                    cases: []
                """
            },
        )
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "support suite")

        # 1. the case fails: without an example the model cannot answer
        r = invoke("test", "-k", "refund", cwd=root)
        assert r.exit_code == 1, r.output
        assert "expected output that contains 'refund within 5 days'" in r.stdout and WRONG in r.stdout
        (first,) = _refund_requests(server)
        assert "Answer:" not in first

        # 2. corrections from production become cases
        (root / "feedback.jsonl").write_text(
            "".join(
                json.dumps(line) + "\n"
                for line in (
                    {"trace_id": "t-101", "vars": {"email": "I cancelled my annual plan, I want a refund."},
                     "output": WRONG, "rating": "bad", "correction": RIGHT, "comment": "refunds are allowed"},
                    {"trace_id": "t-102", "vars": {"email": "Refund my monthly plan please, it is cancelled."},
                     "output": WRONG, "rating": "down", "correction": RIGHT},
                )
            ),
            "utf-8",
        )  # fmt: skip
        r = invoke("feedback", "import", "feedback.jsonl", "--to", "cases/support/feedback.yaml", cwd=root)
        assert r.exit_code == 0, r.output
        assert "2 case(s) added to cases/support/feedback.yaml" in r.stdout

        # 3. the corrections grow the example set the prompt selects from
        r = invoke("examples", "add", "support/reply", "--from-feedback", cwd=root)
        assert r.exit_code == 0, r.output
        assert "2 example(s) added to examples/support/reply.yaml" in r.stdout
        r = invoke("render", "support/reply", "--case", "refund", cwd=root)
        assert f"Answer: {RIGHT}" in r.stdout  # render shows the selected examples

        # 4. next run: the example is in the prompt and the model answers correctly
        r = invoke("test", cwd=root)
        assert r.exit_code == 1, r.output  # passing checks, but two outputs wait for a person
        assert "3 passed, 0 failed, 0 errors, 2 pending review" in r.stdout
        second = _refund_requests(server)[-1]
        assert f"Email: I cancelled my annual plan, I want a refund.\nAnswer: {RIGHT}" in second
        # each feedback case sees the other's example, never its own answer
        annual = next(
            t for t in _requests(server) if t.endswith("I cancelled my annual plan, I want a refund.")
        )
        assert "Email: Refund my monthly plan please" in annual
        assert "Email: I cancelled my annual plan" not in annual

        # 5. a person reviews the new output
        r = invoke("review", "--accept-all", "--score", "helpful=5", "--score", "tone=friendly", cwd=root)
        assert r.exit_code == 0, r.output
        r = invoke("test", cwd=root)
        assert r.exit_code == 0, r.output
        assert "5 passed, 0 failed, 0 errors · pass rate 100.0%" in r.stdout

        # 6. one commit holds the review, the example and the new cases
        git(root, "add", "-A")
        git(root, "commit", "-q", "-m", "Refunds: learn from production feedback")
        changed = git(root, "show", "--name-only", "--format=", "HEAD").split()
        assert {
            "cases/__reviews__/support/reply.yaml",
            "examples/support/reply.yaml",
            "cases/support/feedback.yaml",
        } <= set(changed)
        r = invoke("diff", "HEAD~1", "HEAD", cwd=root)
        assert r.exit_code == 0, r.output
        assert "A  cases/__reviews__/support/reply.yaml  (reviews)" in r.stdout
        assert "M  examples/support/reply.yaml  (examples)" in r.stdout
        assert f"+Answer: {RIGHT}" in r.stdout  # the examples in the rendered request diff
