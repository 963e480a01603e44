"""``promptctl examples add``: a set grows from accepted reviews and feedback corrections, with
provenance; inputs it already holds are skipped; bad requests change nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.curate.project import RIGHT, RULES, make_project
from tests.fakeserver import FakeServer
from tests.helpers import invoke, write_files

SET = "examples/support/reply.yaml"


@pytest.fixture
def proj(tmp_path: Path) -> Iterator[Path]:
    with FakeServer(spec=RULES) as srv:
        yield make_project(tmp_path / "repo", srv.url)


def examples_of(root: Path) -> list[dict[str, Any]]:
    return list(yaml.safe_load((root / SET).read_text("utf-8"))["examples"])


def test_from_reviews_takes_accepted_outputs_with_provenance(proj: Path) -> None:
    invoke("test", cwd=proj)
    invoke("review", "--accept", "support/reply::thanks", "--reject", "support/reply::refund", cwd=proj)
    r = invoke("examples", "add", "support/reply", "--from-reviews", cwd=proj)
    assert r.exit_code == 0, r.output
    assert f"--- a/{SET}\n+++ b/{SET}\n" in r.stdout and r.stdout.endswith(f"1 example(s) added to {SET}\n")
    (ex,) = examples_of(proj)  # the rejected output is no example
    assert (ex["id"], ex["vars"], ex["output"]) == (
        "thanks",
        {"email": "Thanks for the quick help!"},
        "You are welcome!",
    )
    source = ex["source"]
    assert (source["kind"], source["case"], source["model"]) == ("review", "support/reply::thanks", "fake")
    assert source["reviewer"] == "Test Author <author@example.invalid>" and len(source["output_sha256"]) == 64
    assert ex["added"].endswith("Z")
    r = invoke("examples", "add", "support/reply", "--from-reviews", cwd=proj)
    assert r.exit_code == 0 and f"no new examples for support/reply: {SET} unchanged" in r.stdout
    assert "skipped support/reply::thanks: the set already has an example with the same vars" in r.stderr


def test_from_feedback_takes_corrections_into_a_new_set(proj: Path) -> None:
    (proj / "fb.jsonl").write_text(
        json.dumps({"trace_id": "t-1", "vars": {"email": "Refund?"}, "output": "No.", "rating": "bad",
                    "correction": RIGHT, "comment": "refunds are allowed"}) + "\n"
        + json.dumps({"vars": {"email": "Where is it?"}, "output": "Lost.", "rating": "bad"}) + "\n",
        "utf-8",
    )  # fmt: skip
    assert (
        invoke("feedback", "import", "fb.jsonl", "--to", "cases/support/reply.yaml", cwd=proj).exit_code == 0
    )
    r = invoke("examples", "add", "replies/refunds", "--from-feedback", "--prompt", "support/reply", cwd=proj)
    assert r.exit_code == 0, r.output
    path = proj / "examples/replies/refunds.yaml"
    text = path.read_text("utf-8")
    assert text.startswith("# yaml-language-server: $schema=../../promptctl/schemas/examples.schema.json\n")
    (ex,) = yaml.safe_load(text)["examples"]  # the line without a correction has no expected output
    assert (ex["id"], ex["vars"], ex["output"]) == ("feedback-t-1", {"email": "Refund?"}, RIGHT)
    assert ex["source"] == {
        "kind": "feedback",
        "case": "support/reply::feedback-t-1",
        "trace_id": "t-1",
        "rating": "bad",
        "comment": "refunds are allowed",
    }
    assert invoke("lint", cwd=proj).exit_code == 0


def test_appending_keeps_a_hand_written_set_as_it_was(proj: Path) -> None:
    hand = "# Curated by the support team.\nexamples:\n  - id: thanks\n    vars: {email: Other}\n    output: Hi  # short\n"
    write_files(proj, {SET: hand})
    invoke("test", cwd=proj)
    invoke("review", "--accept", "support/reply::thanks", cwd=proj)
    r = invoke("examples", "add", "support/reply", "--from-reviews", cwd=proj)
    assert r.exit_code == 0, r.output
    text = (proj / SET).read_text("utf-8")
    assert text.startswith(hand)
    assert [e["id"] for e in examples_of(proj)] == ["thanks", "thanks-2"]  # ids stay unique


def test_bad_requests_change_nothing(proj: Path) -> None:
    before = (proj / SET).read_text("utf-8")
    for args, message in (
        (["support/reply"], "say where the examples come from: --from-reviews and/or --from-feedback"),
        (["nothing/here", "--from-reviews"], "no prompt named 'nothing/here': say whose cases feed the set with --prompt"),
        (["x", "--from-reviews", "--prompt", "support/rply"], "unknown prompt 'support/rply'; did you mean 'support/reply'?"),
        (["../x", "--from-reviews"], "'../x' is not an example set name"),
    ):  # fmt: skip
        r = invoke("examples", "add", *args, cwd=proj)
        assert r.exit_code == 2 and message in r.stderr, (args, r.output)
    write_files(proj, {SET: "examples: {}\n"})
    r = invoke("examples", "add", "support/reply", "--from-reviews", cwd=proj)
    assert r.exit_code == 2 and f"{SET}:1:11: examples: expected list, got mapping" in r.stderr
    write_files(proj, {SET: before})
    r = invoke("examples", "add", "support/reply", "--from-reviews", "--dry-run", cwd=proj)
    assert r.exit_code == 0 and (proj / SET).read_text("utf-8") == before
