"""The committed review files: format, located problems, lookups, atomic writes, lint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from promptctl.errors import InputError
from promptctl.git.sources import WorktreeSource
from promptctl.suite.reviews import (
    Review,
    ReviewBook,
    ReviewFile,
    check_files,
    load,
    output_hash,
    parse,
    reviews_path_for,
    write,
)
from tests.helpers import write_files

SHA_A = output_hash("answer A\n")


def _review(case: str = "c1", output: str = "answer A\n", verdict: str = "accepted", at: str = "") -> Review:
    return Review(
        case=case,
        model="fake",
        output_sha256=output_hash(output),
        verdict=verdict,
        reviewer="Rita Reviewer <rita@example.invalid>",
        at=at or "2026-11-30T10:00:00Z",
        scores={"helpful": 4, "tone": "friendly", "correct": True},
        comment="fine",
        output=output,
    )


def test_paths_mirror_the_case_files() -> None:
    assert reviews_path_for("cases/support/reply.yaml") == "cases/__reviews__/support/reply.yaml"
    assert reviews_path_for("suite/x.yaml", "suite/") == "suite/__reviews__/x.yaml"
    assert reviews_path_for("other/x.yaml", "cases") == "other/__reviews__/x.yaml"


def test_render_then_parse_round_trips(tmp_path: Path) -> None:
    rf = ReviewFile(path="cases/__reviews__/p.yaml", case_file="cases/p.yaml")
    rf.upsert(_review(output="line one\nline two\n"))
    rf.upsert(_review("c2", output="x", verdict="rejected"))
    text = rf.render()
    assert text.startswith("# yaml-language-server: $schema=../../promptctl/schemas/reviews.schema.json\n")
    assert "    output: |\n      line one\n      line two\n" in text  # a diff of outputs reads as text
    back = parse(text, rf.path, rf.case_file)
    assert back.reviews == rf.reviews
    assert back.reviews[0].loc.line == 4


def test_a_new_verdict_on_the_same_output_replaces_the_old_one() -> None:
    rf = ReviewFile(path="r.yaml", case_file="cases/p.yaml")
    rf.upsert(_review(verdict="rejected"))
    rf.upsert(_review(verdict="accepted"))
    assert [r.verdict for r in rf.reviews] == ["accepted"]
    assert rf.find("c1", "fake", SHA_A) is not None
    assert rf.find("c1", "other-model", SHA_A) is None


def test_last_accepted_is_the_most_recent_accepted_output() -> None:
    rf = ReviewFile(path="r.yaml", case_file="cases/p.yaml")
    rf.upsert(_review(output="old\n", at="2026-11-01T00:00:00Z"))
    rf.upsert(_review(output="new\n", at="2026-11-02T00:00:00Z"))
    rf.upsert(_review(output="newest but rejected\n", verdict="rejected", at="2026-11-03T00:00:00Z"))
    last = rf.last_accepted("c1", "fake")
    assert last is not None and last.output == "new\n"
    assert rf.last_accepted("c2", "fake") is None


BAD = """\
reviews:
  - case: c1
    model: fake
    output_sha256: {sha}
    verdict: approved
    reviewer: R <r@x>
    at: "2026-11-30T10:00:00Z"
  - case: c2
    model: fake
    output_sha256: nothex
    verdict: accepted
    reviewer: R <r@x>
    at: yesterday
    colour: red
"""


def test_schema_problems_are_located_all_at_once() -> None:
    with pytest.raises(InputError) as exc:
        parse(BAD.format(sha=SHA_A), "cases/__reviews__/p.yaml", "cases/p.yaml")
    got = [p.format() for p in exc.value.problems]
    assert any(
        g.startswith("cases/__reviews__/p.yaml:5:14: ") and "'approved' is not allowed" in g for g in got
    )
    assert any(g.startswith("cases/__reviews__/p.yaml:10:20: ") for g in got), got
    assert any(g.startswith("cases/__reviews__/p.yaml:13:9: ") for g in got), got
    assert any(g.startswith("cases/__reviews__/p.yaml:14:5: unknown key 'colour'") for g in got), got


def test_an_output_edited_by_hand_and_a_second_verdict_are_errors() -> None:
    text = f"""\
reviews:
  - case: c1
    model: fake
    output_sha256: {SHA_A}
    verdict: accepted
    reviewer: R <r@x>
    at: "2026-11-30T10:00:00Z"
    output: answer B
  - case: c1
    model: fake
    output_sha256: {SHA_A}
    verdict: rejected
    reviewer: R <r@x>
    at: "2026-11-30T11:00:00Z"
"""
    with pytest.raises(InputError) as exc:
        parse(text, "r.yaml", "cases/p.yaml")
    got = [p.format() for p in exc.value.problems]
    assert got[0].startswith("r.yaml:8:13: ") and "does not hash to its output_sha256" in got[0]
    assert got[1].startswith("r.yaml:9:5: second review of the same output of 'c1' [fake] (first at line 2)")


def test_load_reads_through_a_source_and_a_missing_file_is_empty(tmp_path: Path) -> None:
    source = WorktreeSource(tmp_path)
    assert load(source, "cases/p.yaml").reviews == []
    rf = ReviewFile(path="cases/__reviews__/p.yaml", case_file="cases/p.yaml", reviews=[_review()])
    write(tmp_path, rf)
    assert load(source, "cases/p.yaml").reviews == rf.reviews
    book = ReviewBook(source)
    assert book.file("cases/p.yaml") is book.file("cases/p.yaml")


def test_write_refuses_what_would_not_load_back_and_leaves_the_file_alone(tmp_path: Path) -> None:
    rf = ReviewFile(path="cases/__reviews__/p.yaml", case_file="cases/p.yaml", reviews=[_review()])
    write(tmp_path, rf)
    before = (tmp_path / rf.path).read_text("utf-8")
    rf.upsert(Review("c9", "fake", "not-a-hash", "accepted", "R <r@x>", "2026-11-30T10:00:00Z"))
    with pytest.raises(InputError):
        write(tmp_path, rf)
    assert (tmp_path / rf.path).read_text("utf-8") == before
    assert [p.name for p in (tmp_path / "cases/__reviews__").iterdir()] == ["p.yaml"]  # no temp file left


def test_lint_check_reports_malformed_files_and_warns_on_unknown_cases(tmp_path: Path) -> None:
    good = ReviewFile(path="cases/__reviews__/p.yaml", case_file="cases/p.yaml", reviews=[_review("gone")])
    write(tmp_path, good)
    write_files(tmp_path, {"cases/p.yaml": "prompt: p\n", "cases/__reviews__/q.yaml": "reviews: 3\n"})
    problems = check_files(WorktreeSource(tmp_path), "cases", {"cases/p.yaml": {"c1"}})
    got = [p.format() for p in problems]
    assert "cases/__reviews__/q.yaml:1:10: reviews: expected list, got integer" in got
    assert any(
        g.startswith("cases/__reviews__/p.yaml:4:5: warning: review of unknown case 'gone' (no such case")
        for g in got
    ), got


def test_the_schema_uses_what_the_small_checker_supports_and_agrees_with_jsonschema() -> None:
    import jsonschema

    from promptctl.suite.schemacheck import SUPPORTED, Checker
    from promptctl.suite.yamlio import load_schema

    schema = load_schema("reviews")
    jsonschema.validators.validator_for(schema).check_schema(schema)
    review = _review().to_dict()
    samples: list[Any] = [
        {"reviews": [review]},
        {"reviews": [{**review, "verdict": "ok", "at": "noon", "extra": 1}]},
        {"reviews": [{**review, "scores": {"a": [1]}}]},
        {"reviews": [{"case": "c"}]},
        {"reviews": "x"},
        {},
        [],
    ]
    reference = jsonschema.validators.validator_for(schema)(schema)
    for sample in samples:
        theirs = {tuple(e.absolute_path) for e in reference.iter_errors(sample)}
        mine = {tuple(e.absolute_path) for e in Checker(schema).iter_errors(sample)}
        assert theirs == mine, sample

    def keywords(node: object) -> set[str]:
        if isinstance(node, dict):
            own = {k for k in node if k not in ("properties", "$defs")}
            subs = [v for k, v in node.items() if k not in ("properties", "$defs")]
            subs += [v for k in ("properties", "$defs") for v in (node.get(k) or {}).values()]
            return own | {x for s in subs for x in keywords(s)}
        if isinstance(node, list):
            return {x for s in node for x in keywords(s)}
        return set()

    assert keywords(schema) <= SUPPORTED
