"""``promptctl examples add``: grow a few-shot example set from what people approved.

``--from-reviews`` takes the accepted outputs of ``promptctl review`` (the latest accepted output of
each case); ``--from-feedback`` takes the cases ``promptctl feedback import`` made (tag
``feedback``) with their ``expected`` output (a correction, or an output rated good). Each becomes
an example: the case's vars, the output, when it was added and where it came from. An input the
set already holds (same vars) is skipped. The set file is appended to as text (its comments and
layout stay), checked by the real loader, and written atomically.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from promptctl.curate.changes import FileChange, write_changes
from promptctl.curate.feedback_cases import FEEDBACK_TAG
from promptctl.curate.identity import now
from promptctl.curate.yamledit import append_verified, new_document
from promptctl.errors import InputError, Problem, UsageError
from promptctl.git.sources import WorktreeSource
from promptctl.jsonutil import canonical_json
from promptctl.suggest import suggest
from promptctl.suite.examples import ExampleSet, parse_set_text, set_path
from promptctl.suite.model import Case
from promptctl.suite.project import Project
from promptctl.suite.reviews import Review, ReviewBook

_NAME = re.compile(r"^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$")
_ID_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass
class AddResult:
    name: str
    path: str
    change: FileChange | None
    added: list[str] = field(default_factory=list)  # example ids
    skipped: list[str] = field(default_factory=list)


def _latest_accepted(book: ReviewBook, case: Case) -> Review | None:
    best: Review | None = None
    for r in book.file(case.file).reviews:
        if r.case == case.id and r.accepted and r.output is not None and (best is None or r.at >= best.at):
            best = r
    return best


def from_reviews(book: ReviewBook, cases: list[Case]) -> list[dict[str, Any]]:
    out = []
    for case in cases:
        review = _latest_accepted(book, case)
        if review is None:
            continue
        assert review.output is not None
        source = {
            "kind": "review",
            "case": case.key,
            "model": review.model,
            "reviewer": review.reviewer,
            "at": review.at,
            "output_sha256": review.output_sha256,
        }
        out.append({"id": case.id, "vars": case.vars, "output": review.output, "source": source})
    return out


def from_feedback(cases: list[Case], skipped: list[str]) -> list[dict[str, Any]]:
    out = []
    for case in cases:
        if FEEDBACK_TAG not in case.tags or case.expected is None:
            continue
        if not isinstance(case.expected, str):
            skipped.append(f"{case.key}: its expected value is not text")
            continue
        given = case.metadata.get("feedback")
        meta: dict[str, Any] = given if isinstance(given, dict) else {}
        source: dict[str, Any] = {"kind": "feedback", "case": case.key}
        for key in ("trace_id", "rating", "comment"):
            value = meta.get(key)
            if isinstance(value, (str, int, float, bool)):
                source[key] = value if key != "comment" else str(value)
        out.append({"id": case.id, "vars": case.vars, "output": case.expected, "source": source})
    return out


def add_examples(
    project: Project,
    name: str,
    *,
    reviews: bool,
    feedback: bool,
    prompt: str | None = None,
    dry_run: bool = False,
) -> AddResult:
    """Append the new examples to ``examples/<name>.yaml`` (created when absent)."""
    if not (reviews or feedback):
        raise UsageError("say where the examples come from: --from-reviews and/or --from-feedback")
    if not _NAME.match(name) or any(part.startswith(".") for part in name.split("/")):
        raise UsageError(f"'{name}' is not an example set name (letters, digits, ._- and / between parts)")
    suite = project.load()
    suite.raise_for_errors()
    source_prompt = prompt or name
    if source_prompt not in suite.prompts:
        if prompt is None:
            raise UsageError(
                f"no prompt named '{name}': say whose cases feed the set with --prompt",
                hint=f"`promptctl examples add {name} --prompt PROMPT --from-reviews`",
            )
        raise UsageError(f"unknown prompt '{prompt}'{suggest(prompt, sorted(suite.prompts))}")
    path = set_path(name, project.config.examples_dir)
    cases = suite.cases_for(source_prompt)
    result = AddResult(name=name, path=path, change=None)
    candidates: list[dict[str, Any]] = []
    if reviews:
        book = ReviewBook(WorktreeSource(project.root), cases_dir=project.config.cases_dir)
        candidates += from_reviews(book, cases)
    if feedback:
        candidates += from_feedback(cases, result.skipped)
    existing = suite.examples.load(name)
    if name in suite.examples.problems:
        raise InputError(suite.examples.problems[name])  # fix the set first
    if existing is not None:
        path = result.path = existing.path  # maybe a .yml
    new = _new_examples(existing, candidates, result.skipped)
    if not new:
        return result
    before = project.source.read_text(path) if existing is not None else ""
    if existing is not None:
        after = append_verified(before, "examples", new)
    else:
        after = new_document(
            {"description": f"Few-shot examples for {source_prompt}.", "examples": new}, _header(path)
        )
    problems: list[Problem] = []
    if parse_set_text(after, path, name, problems) is None:  # pragma: no cover - an emitter bug
        raise InputError(problems)
    result.added = [e["id"] for e in new]
    result.change = FileChange(path, before, after, created=existing is None)
    if not dry_run:
        write_changes(project.root, [result.change])
    return result


def _new_examples(
    existing: ExampleSet | None, candidates: list[dict[str, Any]], skipped: list[str]
) -> list[dict[str, Any]]:
    have = {canonical_json(e.vars) for e in existing.examples} if existing else set()
    ids = {e.id for e in existing.examples} if existing else set()
    added_at = now()
    out = []
    for cand in candidates:
        key = canonical_json(cand["vars"])
        if key in have:
            skipped.append(f"{cand['source']['case']}: the set already has an example with the same vars")
            continue
        have.add(key)
        base = _ID_SAFE.sub("-", cand["id"]).strip("-") or "example"
        ex_id, n = base, 2
        while ex_id in ids:
            ex_id, n = f"{base}-{n}", n + 1
        ids.add(ex_id)
        out.append(
            {
                "id": ex_id,
                "vars": cand["vars"],
                "output": cand["output"],
                "added": added_at,
                "source": cand["source"],
            }
        )
    return out


def _header(path: str) -> str:
    depth = len(path.split("/")) - 1
    return (
        f"# yaml-language-server: $schema={'../' * depth}promptctl/schemas/examples.schema.json\n"
        "# Few-shot examples, grown by `promptctl examples add`; templates select from them with\n"
        "# {% for ex in examples(NAME, k=3) %}.\n"
    )
