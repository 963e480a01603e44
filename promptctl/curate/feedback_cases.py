"""``promptctl feedback import``, second half: checked feedback lines (``curate.feedback``) become
cases of a case file — planned (duplicates skipped, every case rendered), appended as text,
re-checked, then written atomically or committed on a new branch."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptctl.curate.changes import FileChange, check_branch, commit_on_new_branch, write_changes
from promptctl.curate.feedback import Feedback, input_problems, read_feedback, read_traces
from promptctl.curate.identity import reviewer
from promptctl.curate.yamledit import append_verified, new_document
from promptctl.errors import Problem, UsageError
from promptctl.jsonutil import canonical_json
from promptctl.paths import confined
from promptctl.suggest import suggest
from promptctl.suite.load import Suite, parse_case_file
from promptctl.suite.model import Case, Loc, Prompt
from promptctl.suite.project import Project, open_project
from promptctl.suite.render import RenderError, make_renderer, render_prompt, resolve_vars
from promptctl.suite.yamlio import check_schema, load_yaml

FEEDBACK_TAG = "feedback"


# -- cases ----------------------------------------------------------------------------------------
_ID_SAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _case_id(item: Feedback, taken: set[str]) -> str:
    if item.trace_id:
        base = "feedback-" + (_ID_SAFE.sub("-", item.trace_id).strip("-") or "trace")
    else:
        base = "feedback-" + hashlib.sha256(canonical_json(item.vars).encode()).hexdigest()[:8]
    cid, n = base, 2
    while cid in taken:
        cid, n = f"{base}-{n}", n + 1
    taken.add(cid)
    return cid


def case_for(item: Feedback, case_id: str) -> dict[str, Any]:
    """The case a line of feedback becomes."""
    case: dict[str, Any] = {"id": case_id}
    if item.comment and item.comment.strip():
        case["description"] = item.comment.strip().splitlines()[0][:200]
    case["vars"] = item.vars
    if item.correction is not None:
        case["expected"] = item.correction
        origin = "correction"
    elif item.rating and item.output is not None:
        case["expected"] = item.output
        origin = "output rated good"
    else:
        origin = "rated bad, no correction"
    case["tags"] = [FEEDBACK_TAG]
    meta: dict[str, Any] = {"rating": item.rating_raw, "expected_from": origin}
    if item.trace_id:
        meta["trace_id"] = item.trace_id
    if item.comment:
        meta["comment"] = item.comment
    if item.output is not None and item.output != case.get("expected"):
        meta["output"] = item.output
    if item.metadata:
        meta["metadata"] = item.metadata
    case["metadata"] = {"feedback": meta}
    return case


@dataclass
class Plan:
    """What an import will do: the new cases (with the feedback line each came from) and the lines
    skipped as duplicates."""

    cases: list[tuple[Feedback, dict[str, Any]]]
    skipped: list[str]


def plan_cases(suite: Suite, prompt: Prompt, target: str, items: list[Feedback], shown: str) -> Plan:
    """New cases for ``prompt``, duplicates skipped; InputError (at ``file:line``) for a line for
    another prompt or one that would not render."""
    renderer = make_renderer(suite)
    problems: list[Problem] = []
    seen: dict[str, str] = {}
    for c in suite.cases_for(prompt.name):
        where = f"case '{c.id}' ({c.loc.path}:{c.loc.line})"
        seen.setdefault(canonical_json(resolve_vars(prompt, c.vars)[0]), where)
    taken = {c.id for c in suite.cases_for(prompt.name)}
    out: list[tuple[Feedback, dict[str, Any]]] = []
    skipped: list[str] = []
    for item in items:
        if item.prompt is not None and item.prompt != prompt.name:
            problems.append(
                Problem(shown, item.line, 1, f"feedback for prompt '{item.prompt}' cannot go to {target} "
                        f"(a case file of prompt '{prompt.name}')")
            )  # fmt: skip
            continue
        key = canonical_json(resolve_vars(prompt, item.vars)[0])
        if key in seen:
            skipped.append(f"{shown}:{item.line}: skipped, same vars as {seen[key]}")
            continue
        try:
            render_prompt(renderer, prompt, item.vars, where=Loc(shown, item.line, 1))
        except RenderError as exc:
            problems.extend(exc.problems)
            continue
        seen[key] = f"line {item.line}"
        out.append((item, case_for(item, _case_id(item, taken))))
    if problems:
        raise input_problems(problems)
    return Plan(out, skipped)


# -- the import -----------------------------------------------------------------------------------
@dataclass
class ImportResult:
    """What an import did (or, with ``dry_run``, would do)."""

    prompt: str
    target: str
    change: FileChange | None  # None when nothing new was found
    added: list[str]  # the new case ids
    skipped: list[str]
    commit: str | None = None
    notes: list[str] = field(default_factory=list)


def case_file_path(project: Project, to: str) -> str:
    """The repository path of ``--to`` (given relative to the project root), which must be a
    ``.yaml`` case file under the cases folder."""
    cdir = project.config.cases_dir.rstrip("/")
    rel = confined(to)
    if rel is None or not rel.startswith(cdir + "/") or not rel.endswith((".yaml", ".yml")):
        raise UsageError(f"--to must be a .yaml case file under {cdir}/, got '{to}'")
    if any(part.startswith("_") for part in rel[len(cdir) + 1 :].split("/")):
        raise UsageError(f"--to {to}: files and folders starting with '_' are not case files")
    return rel


def import_feedback(
    project: Project,
    feedback_file: Path,
    shown: str,
    to: str,
    *,
    traces: Path | None = None,
    prompt: str | None = None,
    branch: str | None = None,
    dry_run: bool = False,
) -> ImportResult:
    """Check every line, plan the new cases, then write them into ``to`` (or commit them on a new
    ``branch``). Nothing is written when any line has a problem."""
    target = case_file_path(project, to)
    root = project.root
    if branch is not None:
        reviewer(root)  # the commit's author: a clear message now rather than git's later
        check_branch(root, branch)
        project = open_project(root, "HEAD")  # the branch starts from HEAD's files, not the worktree's
    try:
        suite = project.load()
        suite.raise_for_errors()
        trace_lines = read_traces(traces, str(traces)) if traces is not None else None
        items = read_feedback(feedback_file, shown, trace_lines)
        existing = next((cf for cf in suite.case_files if cf.path == target), None)
        if existing is None and project.source.exists(target):
            raise UsageError(f"{target} exists but is not a case file promptctl loads")
        name = _target_prompt(suite, existing.prompt if existing else None, prompt, items, target)
        plan = plan_cases(suite, suite.prompts[name], target, items, shown)
        before = project.source.read_text(target) if existing is not None else ""
    finally:
        close = getattr(project.source, "close", None)
        if close is not None and branch is not None:
            close()
    result = ImportResult(name, target, None, [c["id"] for _i, c in plan.cases], plan.skipped)
    if not plan.cases:
        return result
    new_cases = [c for _i, c in plan.cases]
    if existing is not None:
        after = append_verified(before, "cases", new_cases)
    else:
        after = new_document({"prompt": name, "cases": new_cases}, header=_header(target))
    problems: list[Problem] = []
    doc, problems = load_yaml(after, target)
    problems += check_schema(doc, "cases") if not problems else []
    if problems:  # pragma: no cover - a bug in the emitter would land here, before any write
        raise input_problems(problems)
    written = parse_case_file(doc, project.source, project.config, problems)
    unchecked = [
        c.id
        for c in written.cases
        if c.id in result.added and c.expected is not None and not _uses_expected(c)
    ]
    if unchecked:
        result.notes.append(
            f"{len(unchecked)} new case(s) of {target} have no check comparing the output to `expected`: "
            "give the file a `defaults: assert:` that does (levenshtein, rouge, bleu, equals, judge)"
        )
    result.change = FileChange(target, before, after, created=existing is None)
    if dry_run:
        return result
    if branch is not None:
        message = f"Feedback from {Path(shown).name}: {len(new_cases)} case(s) for {name}"
        result.commit = commit_on_new_branch(root, branch, [result.change], message)
    else:
        write_changes(root, [result.change])
    return result


def _uses_expected(case: Case) -> bool:
    """Whether one of the case's checks compares the output to its ``expected`` value."""
    from promptctl.validate.registry import get

    for a in case.asserts:
        spec = get(a.type)
        if a.type == "judge" or (spec is not None and spec.needs_expected and a.value is None):
            return True
    return False


def _header(target: str) -> str:
    depth = len(target.split("/")) - 1
    return (
        f"# yaml-language-server: $schema={'../' * depth}promptctl/schemas/cases.schema.json\n"
        "# Cases imported from feedback by `promptctl feedback import`.\n"
    )


def _target_prompt(
    suite: Suite, of_file: str | None, given: str | None, items: list[Feedback], target: str
) -> str:
    if of_file is not None:
        if given is not None and given != of_file:
            raise UsageError(f"{target} holds cases of prompt '{of_file}', not '{given}'")
        name = of_file
    elif given is not None:
        name = given
    else:
        named = {i.prompt for i in items if i.prompt}
        if len(named) != 1:
            raise UsageError(f"{target} does not exist yet: say which prompt its cases are for with --prompt")
        name = named.pop()
    if name not in suite.prompts:
        raise UsageError(f"unknown prompt '{name}'{suggest(name, sorted(suite.prompts))}")
    return name
