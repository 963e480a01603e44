"""What a change does to the requests: ``promptctl diff`` and ``promptctl test --affected``.

A prompt edit is reviewed by its effect, not by its YAML: both revisions are loaded and planned
(every case × model rendered and fingerprinted), and every case × model whose request changed is
shown as a unified diff of its *rendered* messages. So a one-line edit of a partial shows up in
every prompt that includes it, and a refactoring that renders the same text shows up as nothing.
The per-case diffs are grouped by the lines they change (``review.grouping``): an edit that renders
identically in 400 cases is one diff with a list of 400 cases. Before them, the source diff of each
changed prompt file and partial (``review.template_diff``).
The fingerprint (see ``run.plan``) is the same content address the cache and the recordings use, so
"affected" here means exactly "would need a new model call".
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptctl.errors import InputError
from promptctl.execute.recordings.store import Recordings
from promptctl.git.repo import changed_files, default_base, resolve
from promptctl.review.checks import changed_checks
from promptctl.review.grouping import Grouper, Member, unified
from promptctl.review.template_diff import Revision, template_changes
from promptctl.run.plan import Row, Selection, build_plan, models_for
from promptctl.suite.load import Suite, prompt_name
from promptctl.suite.model import Case
from promptctl.suite.project import Project, open_project
from promptctl.suite.render import Message, RenderError, make_renderer, render_prompt

UnitKey = tuple[str, str]  # (case key "prompt::id", model name as written)


@dataclass
class Unit:
    """One case × model of a planned revision: its samples' fingerprints and rendered request."""

    case: Case
    model: str
    fingerprints: tuple[str, ...] = ()
    messages: list[Message] | None = None
    litellm_model: str | None = None
    api_base: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    error: str | None = None  # the render error, when the case does not render at this revision

    @property
    def signature(self) -> tuple[Any, ...]:
        return (self.fingerprints, self.error)


@dataclass
class Side:
    """One revision of the suite, planned. ``ref`` None is the worktree."""

    label: str
    ref: str | None
    sha: str | None
    project: Project
    suite: Suite
    units: dict[UnitKey, Unit]
    problems: list[str] = field(default_factory=list)

    def close(self) -> None:
        close = getattr(self.project.source, "close", None)
        if close is not None:
            close()


def _units_from_rows(rows: list[Row]) -> dict[UnitKey, Unit]:
    units: dict[UnitKey, Unit] = {}
    for r in rows:
        u = units.get((r.case.key, r.model_name))
        if u is None:
            u = units[(r.case.key, r.model_name)] = Unit(
                case=r.case,
                model=r.model_name,
                messages=r.messages,
                litellm_model=r.target.model,
                api_base=r.target.api_base,
                params=r.params,
            )
        u.fingerprints = (*u.fingerprints, r.fingerprint)
    return units


def plan_project(project: Project) -> tuple[Suite, dict[UnitKey, Unit], list[str]]:
    """Load and plan every case × model, tolerating problems: a case that does not render at this
    revision becomes a unit carrying its error (a diff must still work on a broken revision)."""
    suite = project.load()
    problems = [p.format() for p in suite.errors]
    renderer = make_renderer(suite)
    try:
        rows = build_plan(suite, renderer)
    except InputError:
        broken: dict[str, str] = {}
        for case in suite.cases:
            prompt = suite.prompts.get(case.prompt)
            if prompt is None:
                continue
            try:
                render_prompt(renderer, prompt, case.vars, where=case.loc)
            except RenderError as exc:
                broken[case.key] = "; ".join(p.format() for p in exc.problems)
        ok = {c.key for c in suite.cases} - set(broken)
        rows = build_plan(suite, renderer, selection=Selection(only_keys=ok))
        problems.extend(broken.values())
        units = _units_from_rows(rows)
        for case in suite.cases:
            if case.key in broken:
                prompt = suite.prompts[case.prompt]
                for model in models_for(case, prompt, suite.config, None):
                    units[(case.key, model)] = Unit(case=case, model=model, error=broken[case.key])
        return suite, units, problems
    return suite, _units_from_rows(rows), problems


def open_side(root: Path, ref: str | None) -> Side:
    """Load and plan the suite at ``ref`` (None: the worktree)."""
    project = open_project(root, ref)
    try:
        suite, units, problems = plan_project(project)
    except BaseException:
        close = getattr(project.source, "close", None)
        if close is not None:
            close()
        raise
    sha = resolve(project.root, ref) if ref is not None else None
    label = "worktree" if ref is None else getattr(project.source, "label", ref)
    return Side(label=label, ref=ref, sha=sha, project=project, suite=suite, units=units, problems=problems)


def affected_keys(project: Project, base: str) -> set[str]:
    """The cases a change from ``base`` to ``project``'s revision touched -- the one definition
    ``promptctl test --affected BASE`` runs and ``compare --gate`` puts on trial: a case whose
    rendered request (the fingerprint of any of its rows) differs from ``base`` or that does not
    exist there, or whose grading differs (``graded_differently``)."""
    _suite, head_units, _ = plan_project(project)
    base_side = open_side(project.root, base)
    try:
        requests = {
            k[0]
            for k, u in head_units.items()
            if k not in base_side.units or base_side.units[k].signature != u.signature
        }
    finally:
        base_side.close()
    return requests | graded_differently(project.root, base, project.ref)


def graded_differently(root: Path, base: str, head: str | None) -> set[str]:
    """Cases whose assertions differ between the revisions, or that use a validator file (a
    ``python`` validator's sources, a ``json_schema`` file, the judge prompt override) whose
    content differs: a change there can change their verdict with the very same outputs."""
    checks = changed_checks(root, base, head)
    return set(checks["assertions"]) | {k for f in checks["files"] for k in f["used_by"]}


# -- the diff -------------------------------------------------------------------------------------
def request_text(unit: Unit | None, *, with_target: bool = False) -> str:
    """The rendered request as reviewable text: ``--- role ---`` blocks (plus model and params when
    those are what changed)."""
    if unit is None:
        return ""
    if unit.error is not None:
        return f"--- render error ---\n{unit.error}\n"
    parts = []
    if with_target:
        where = f" @ {unit.api_base}" if unit.api_base else ""
        parts.append(
            f"--- model ---\n{unit.litellm_model}{where}\n--- params ---\n"
            f"{json.dumps(unit.params, sort_keys=True, ensure_ascii=False, default=str)}\n"
        )
    for m in unit.messages or []:
        content = m["content"]
        parts.append(f"--- {m['role']} ---\n{content}" + ("" if content.endswith("\n") else "\n"))
    if len(unit.fingerprints) > 1:
        parts.append(f"--- samples ---\n{len(unit.fingerprints)}\n")
    return "".join(parts)


def _file_kind(path: str, suite_paths: set[str], pdir: str, cdir: str, edir: str = "examples") -> str:
    if path == "promptctl.yaml":
        return "config"
    if path.startswith(edir + "/"):
        return "examples"
    if "/__reviews__/" in f"/{path}":
        return "reviews"
    if path.startswith(pdir + "/"):
        return "prompt" if prompt_name(path, pdir) is not None else "partial"
    if "/__recordings__/" in f"/{path}":
        return "recording"
    if path in suite_paths and not path.endswith((".yaml", ".yml")):
        return "dataset"
    return "cases"


def _case_signature(case: Case) -> str:
    """What decides a case's verdict besides the model's output (its checks), location-free."""
    asserts = [{k: v for k, v in a.__dict__.items() if k != "loc"} for a in case.asserts]
    return json.dumps(
        {"asserts": asserts, "expected": case.expected, "min_pass_rate": case.min_pass_rate},
        sort_keys=True,
        default=str,
    )


def _recorded_outputs(side: Side, unit: Unit, cache: dict[str, Recordings]) -> list[str | None] | None:
    """The recorded outputs of a unit at this revision, only when recorded for exactly this request."""
    if unit.error is not None or not unit.fingerprints:
        return None
    key = side.label
    recs = cache.get(key)
    if recs is None:
        cases_dir = side.project.config.cases_dir.rstrip("/")
        recs = cache[key] = Recordings(side.project.source, cases_dir=cases_dir)
    try:
        rf = recs.load(unit.case.file)
    except InputError:
        return None
    out: list[str | None] = []
    for sample, fp in enumerate(unit.fingerprints):
        result, resp = rf.lookup(unit.case.id, unit.model, sample, fp)
        if result != "hit" or resp is None:
            return None
        out.append(resp.text)
    return out


def _outputs_text(outputs: list[str | None]) -> str:
    if len(outputs) == 1:
        text = outputs[0] or ""
        return text if text.endswith("\n") or not text else text + "\n"
    return "".join(
        f"--- sample {i} ---\n{o or ''}" + ("" if (o or "").endswith("\n") else "\n")
        for i, o in enumerate(outputs)
    )


def compute_diff(base: Side, head: Side, *, context: int = 3) -> dict[str, Any]:
    """Everything ``promptctl diff`` reports, as JSON-ready data (``report.formats.render_diff``
    renders it): the changed files, the source diff of each changed template, the rendered-request
    diffs grouped by change (``review.grouping``), the recorded-output diffs grouped the same way,
    and one entry per affected case × model naming its groups."""
    root = head.project.root
    cfg = head.project.config
    pdir, cdir = cfg.prompts_dir.rstrip("/"), cfg.cases_dir.rstrip("/")
    suite_paths = {c.loc.path for c in head.suite.cases} | {c.loc.path for c in base.suite.cases}
    specs = sorted(
        {
            pdir,
            cdir,
            base.project.config.prompts_dir.rstrip("/"),
            base.project.config.cases_dir.rstrip("/"),
            cfg.examples_dir.rstrip("/"),
            base.project.config.examples_dir.rstrip("/"),
            "promptctl.yaml",
        }
        | {p for p in suite_paths if not p.startswith((pdir + "/", cdir + "/"))}  # datasets elsewhere
    )
    assert base.sha is not None
    changed = changed_files(root, base.sha, head.sha, specs)
    edir = cfg.examples_dir.rstrip("/")
    files = [
        {"status": s, "path": p, "kind": _file_kind(p, suite_paths, pdir, cdir, edir)} for s, p in changed
    ]
    templates = template_changes(
        files,
        Revision(base.label, base.project.source, base.suite),
        Revision(head.label, head.project.source, head.suite),
        context=context,
    )

    recordings: dict[str, Recordings] = {}
    requests, outputs = Grouper(), Grouper()
    affected: list[tuple[dict[str, Any], str, str | None]] = []  # (entry, request key, output key)
    keys = list(head.units) + [k for k in base.units if k not in head.units]
    counts = {"changed": 0, "added": 0, "removed": 0}
    for key in keys:
        b, h = base.units.get(key), head.units.get(key)
        if b is not None and h is not None and b.signature == h.signature:
            continue
        change = "added" if b is None else "removed" if h is None else "changed"
        counts[change] += 1
        with_target = (
            b is not None
            and h is not None
            and (b.litellm_model, b.api_base, b.params) != (h.litellm_model, h.api_base, h.params)
        )
        unit = h or b
        assert unit is not None
        diff = unified(
            request_text(b, with_target=with_target),
            request_text(h, with_target=with_target),
            f"{base.label}/{unit.case.prompt}",
            f"{head.label}/{unit.case.prompt}",
            context,
        )
        member = Member(key[0], unit.case.id, key[1])
        request_key = requests.add(member, unit.case.prompt, change, diff)
        output_key = None
        if b is not None and h is not None:
            ob, oh = _recorded_outputs(base, b, recordings), _recorded_outputs(head, h, recordings)
            if ob is not None and oh is not None and ob != oh:
                output_diff = unified(
                    _outputs_text(ob),
                    _outputs_text(oh),
                    f"{base.label}/{unit.case.prompt} (output)",
                    f"{head.label}/{unit.case.prompt} (output)",
                    context,
                )
                output_key = outputs.add(member, unit.case.prompt, change, output_diff)
        entry = {"case_key": key[0], "prompt": unit.case.prompt, "case": unit.case.id, "model": key[1]}
        affected.append(({**entry, "change": change}, request_key, output_key))
    groups, group_ids = requests.groups()
    output_groups, output_ids = outputs.groups()
    for t in templates:
        reached = set(t.prompts)
        t.groups = [g.id for g in groups if g.prompt in reached]
    base_cases = {c.key: c for c in base.suite.cases}
    checks_changed = sorted(
        c.key
        for c in head.suite.cases
        if c.key in base_cases and _case_signature(c) != _case_signature(base_cases[c.key])
    )
    return {
        "base": {"label": base.label, "ref": base.ref, "sha": base.sha},
        "head": {"label": head.label, "ref": head.ref, "sha": head.sha},
        "changed_files": files,
        "summary": {
            "units": len(head.units),
            "base_units": len(base.units),
            "affected": len(affected),
            **counts,
            "groups": len(groups),
            "output_changes": sum(len(g.members) for g in output_groups),
            "output_groups": len(output_groups),
            "checks_changed": len(checks_changed),
        },
        "templates": [t.to_dict() for t in templates],
        "groups": [g.to_dict() for g in groups],
        "output_groups": [g.to_dict() for g in output_groups],
        "affected": [
            {**e, "group": group_ids[rk], "output_group": None if ok is None else output_ids[ok]}
            for e, rk, ok in affected
        ],
        "checks_changed": checks_changed,
        "problems": {"base": base.problems, "head": head.problems},
    }


def diff_revisions(root: Path, base: str | None, head: str | None, *, context: int = 3) -> dict[str, Any]:
    """``promptctl diff [BASE] [HEAD]``: BASE defaults to the merge-base with the default branch,
    HEAD to the worktree."""
    base_rev = base if base is not None else default_base(root)
    b = open_side(root, base_rev)
    try:
        h = open_side(root, head)
        try:
            return compute_diff(b, h, context=context)
        finally:
            h.close()
    finally:
        b.close()
