"""What grades each side of a comparison, and what of it changed: the assertions of every case, and
the files the validators read — ``json_schema`` files, ``python`` validator modules (with the
repository modules they import) and the ``_judge.yaml`` override —, the models that grade (a
judge's, an embedding model) and the ``gate:`` settings of ``promptctl.yaml``. Each side is graded by its own
files, so a change that loosens a check changes the verdict by itself: the report lists such
changes so reviewers see them next to the results."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

from promptctl.errors import PromptctlError
from promptctl.git.sources import Source
from promptctl.records.provenance import grading_files
from promptctl.suite.model import Assertion, Case, Config
from promptctl.suite.project import Project, open_project


def _signature(case: Case, config: Config) -> str:
    """What decides a case's verdict besides the model's output, location-free: its assertions,
    and the models that grade it (a ``judge``'s model, a ``similar``'s embedding model, resolved
    through the configuration, where a change of ``judge_model`` or of an alias lands)."""
    asserts = [{k: v for k, v in a.__dict__.items() if k != "loc"} for a in case.asserts]
    return json.dumps(
        {
            "asserts": asserts,
            "expected": case.expected,
            "min_pass_rate": case.min_pass_rate,
            "graders": [_grader(a, config) for a in case.asserts],
        },
        sort_keys=True,
        default=str,
    )


def _grader(a: Assertion, config: Config) -> list[str | None] | None:
    """The model (litellm model and endpoint) an assertion calls to grade, if any."""
    from promptctl.run.plan import resolve_target
    from promptctl.validate.judge import judge_model

    if a.type == "judge":
        name: object = judge_model(a, config)
    elif a.type == "similar":
        name = a.options.get("embedding_model") or config.embedding_model
    else:
        return None
    if not name:
        return None
    try:
        target, _fallbacks = resolve_target(str(name), config)
    except PromptctlError:
        return [str(name), None]
    return [target.model, target.api_base]


def _read(source: Source, rel: str) -> str | None:
    try:
        return source.read_text(rel)
    except (OSError, UnicodeDecodeError):
        return None


def _load(root: Path, ref: str | None) -> Project:
    return open_project(root, ref)


def changed_checks(root: Path, base: str, head: str | None) -> dict[str, Any]:
    """The assertions (case keys) and validator files that differ between two revisions (``head``
    None: the worktree). ``{"error": …}`` when a side's suite cannot be read."""
    projects: list[Project] = []
    try:
        projects = [_load(root, base), _load(root, head)]
        suites = [p.load() for p in projects]
        sb, sh = suites
        cb = {c.key: _signature(c, projects[0].config) for c in sb.cases}
        ch = {c.key: _signature(c, projects[1].config) for c in sh.cases}
        assertions = sorted(k for k in cb.keys() & ch.keys() if cb[k] != ch[k])
        fb, fh = grading_files(sb), grading_files(sh)
        files = []
        for path in sorted(fb.keys() | fh.keys()):
            kind, users = fh.get(path) or fb[path]
            old, new = _read(sb.source, path), _read(sh.source, path)
            if old == new:
                continue
            change = "added" if old is None else "removed" if new is None else "modified"
            files.append({"path": path, "kind": kind, "change": change, "used_by": sorted(users)})
        gb, gh = asdict(projects[0].config.gate), asdict(projects[1].config.gate)
        gate = {k: [gb[k], gh[k]] for k in gb if gb[k] != gh[k]}
        return {"assertions": assertions, "files": files, "gate_settings": gate}
    except PromptctlError as e:
        return {"error": e.message, "assertions": [], "files": [], "gate_settings": {}}
    finally:
        for p in projects:
            close = getattr(p.source, "close", None)
            if close is not None:
                close()
