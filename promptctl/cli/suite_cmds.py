"""Verbs on the suite's files: ``init``, ``list``, ``render``, ``lint``. None calls a model."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from promptctl.cli.common import JsonOpt, LabelOpt, RefOpt, check_paths, current_project, parse_vars
from promptctl.cli.output import echo, print_json, print_problems, table, write_content
from promptctl.errors import InputError, Problem, UsageError

if TYPE_CHECKING:
    from promptctl.suite.load import Suite
    from promptctl.suite.project import Project


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command("list")(list_)
    app.command()(render)
    app.command()(lint)


# -- init ---------------------------------------------------------------------------------------
def init() -> None:
    """Scaffold prompts/, cases/, promptctl.yaml, .gitignore entries and a CI workflow here.

    Never overwrites an existing file."""
    from promptctl.scaffold import next_steps, scaffold

    actions = scaffold(Path.cwd())
    for action, path in actions:
        echo(f"{action:>8}  {path}")
    echo()
    for line in next_steps(actions):
        echo(line)


# -- list ---------------------------------------------------------------------------------------
def list_(ref: RefOpt = None, label: LabelOpt = None, as_json: JsonOpt = False) -> None:
    """List prompts with their kind, model, tags and number of cases.

    A file that cannot be loaded does not stop the listing: a broken prompt file is listed as
    kind "broken", a broken case file is counted on its prompt's line, and their problems are
    printed on stderr."""
    project = current_project(ref, label)
    suite = project.load()
    if project.config.suite_unreadable:  # where the files are is itself wrong: nothing to list
        raise InputError(suite.problems)
    broken_prompts = {
        name: path
        for path, name in suite.broken_files.items()
        if name is not None and path not in _case_paths(suite)
    }
    rows: list[dict[str, Any]] = []
    for name in sorted({*suite.prompts, *broken_prompts}):
        p = suite.prompts.get(name)
        rows.append(
            {
                "name": name,
                "kind": p.kind if p is not None else "broken",
                "model": (p.model or project.config.model) if p is not None else None,
                "tags": p.tags if p is not None else [],
                "cases": len(suite.cases_for(name)),
                "broken_case_files": sorted(
                    path
                    for path, target in suite.broken_files.items()
                    if target == name and path in _case_paths(suite)
                ),
                "path": p.path if p is not None else broken_prompts[name],
                "description": p.description if p is not None else "",
            }
        )
    print_problems(suite.problems, err=True)
    if as_json:
        print_json(rows)
        return
    if not rows:
        echo(f"no prompts found under {project.config.prompts_dir}/; run `promptctl init` to scaffold one")
        return

    def cases(r: dict[str, Any]) -> str:
        k = len(r["broken_case_files"])
        return str(r["cases"]) + (f" + {k} broken file{'s' if k > 1 else ''}" if k else "")

    table(
        ["PROMPT", "KIND", "MODEL", "CASES", "TAGS"],
        [[r["name"], r["kind"], r["model"] or "-", cases(r), ", ".join(r["tags"])] for r in rows],
    )


def _case_paths(suite: Any) -> set[str]:
    """The broken files that are case files (under cases_dir)."""
    cdir = suite.config.cases_dir.rstrip("/") + "/"
    return {path for path in suite.broken_files if path.startswith(cdir)}


# -- render -------------------------------------------------------------------------------------
def render(
    prompt: Annotated[str, typer.Argument(help="Prompt name, e.g. support/triage.")],
    var: Annotated[list[str], typer.Option("--var", help="Variable KEY=VALUE (repeatable).")] = [],  # noqa: B006
    vars_file: Annotated[
        Path | None, typer.Option("--vars-file", help="YAML/JSON file of variables.")
    ] = None,
    case: Annotated[str | None, typer.Option("--case", help="Take the variables of this case id.")] = None,
    ref: RefOpt = None,
    label: LabelOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the rendered messages of a prompt. No model is called."""
    from promptctl.suggest import suggest
    from promptctl.suite.render import make_renderer, render_prompt

    project = current_project(ref, label)
    suite = project.load()
    # What stops this render: problems in promptctl.yaml, in the prompt's own file, in the case
    # files written for it that could not be loaded and in the file of the --case; problems
    # elsewhere are only mentioned.
    own = {path for path, name in suite.broken_files.items() if name == prompt}
    if prompt in suite.prompts:
        own.add(suite.prompts[prompt].path)
    own.update(c.file for c in suite.cases_for(prompt) if case is not None and c.id == case)
    if project.config.path:
        own.add(project.config.path)
    blocking = [p for p in suite.errors if p.path in own]
    if blocking:
        raise InputError(blocking)
    if prompt not in suite.prompts:
        raise UsageError(
            f"unknown prompt '{prompt}'{suggest(prompt, sorted(suite.prompts))}",
            hint="`promptctl list` shows the prompts",
        )
    others = {p.path for p in suite.errors}
    if others:
        echo(f"note: {len(others)} other file(s) have problems; `promptctl lint` shows them", err=True)
    p = suite.prompts[prompt]
    given: dict[str, Any] = {}
    where = None
    if case is not None:
        matches = [c for c in suite.cases_for(prompt) if c.id == case]
        if not matches:
            ids = [c.id for c in suite.cases_for(prompt)]
            raise UsageError(f"prompt '{prompt}' has no case '{case}'{suggest(case, ids)}")
        given.update(matches[0].vars)
        where = matches[0].loc
    given.update(parse_vars(var, vars_file))
    messages = render_prompt(make_renderer(suite), p, given, where=where)
    if as_json:
        print_json(messages)
        return
    from promptctl.secrets import mask_data

    for m in mask_data(messages):  # as --json prints them: key values (and redact:) masked
        echo(f"--- {m['role']} ---")
        write_content(m["content"] + "\n")


# -- lint ---------------------------------------------------------------------------------------
def lint(
    paths: Annotated[
        list[str] | None, typer.Argument(help="Files or directories to check (default: all).")
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", "-f", help="text | github (workflow annotations on the lines)")
    ] = "text",
    strict: Annotated[bool, typer.Option("--strict", help="Warnings fail too (exit 1).")] = False,
    ref: RefOpt = None,
    label: LabelOpt = None,
) -> None:
    """Check prompt and case files: schema, Jinja, variables, assertions, ids, partials, datasets.

    Exit 0 when clean (warnings allowed), 2 on any error, 1 on warnings with --strict."""
    from promptctl.run.plan import model_check
    from promptctl.suite.lint import check_suite
    from promptctl.validate import lint_assertion_in

    if fmt not in ("text", "github"):
        raise UsageError(f"unknown --format '{fmt}'; use text or github")
    project = current_project(ref, label)
    check_paths(project, paths or [])
    suite = project.load()
    problems = check_suite(
        suite, lint_assertion_in(project.config.root), check_model=model_check(project.config)
    )
    if paths:
        problems = _only_paths(project, suite, problems, paths)
    if fmt == "github":
        from promptctl.git.plumbing import find_repo_root
        from promptctl.report.github import annotation

        root = Path(project.config.root)
        top = find_repo_root(root)
        prefix = os.path.relpath(root, top).replace(os.sep, "/") if top is not None else ""
        for p in problems:
            echo(annotation(p, prefix=prefix))
    else:
        print_problems(problems)
    errors = sum(p.is_error for p in problems)
    warnings = len(problems) - errors
    n_prompts, n_cases = len(suite.prompts), len(suite.cases)
    summary = f"{n_prompts} prompts, {n_cases} cases: {errors} error(s), {warnings} warning(s)"
    if errors:
        echo(summary, err=True)
        raise typer.Exit(2)
    if warnings and strict:
        echo(summary + " (--strict: warnings fail)", err=True)
        raise typer.Exit(1)
    echo(summary if problems else f"{n_prompts} prompts, {n_cases} cases: all clean")


def _only_paths(project: Project, suite: Suite, problems: list[Problem], paths: list[str]) -> list[Problem]:
    """The problems ``lint PATH…`` reports: those in the given files and folders, and in the case
    files of a given prompt (an edit to a prompt can break them); a given promptctl.yaml or
    partial (anything under prompts/ that is no prompt) reaches every file: all problems."""
    root = project.config.root
    pdir = project.config.prompts_dir.rstrip("/")
    norm = [os.path.relpath(os.path.abspath(p), root).replace(os.sep, "/") for p in paths]
    for n in norm:
        inside = n[len(pdir) + 1 :].split("/") if n.startswith(pdir + "/") else []
        if n == "promptctl.yaml" or (
            inside and (n.endswith(".j2") or any(x.startswith("_") for x in inside))
        ):
            return problems

    def given(path: str) -> bool:
        return any(n in (".", path) or path.startswith(n.rstrip("/") + "/") for n in norm)

    named = {name for name, p in suite.prompts.items() if given(p.path)}
    cases_of_named = {cf.path for cf in suite.case_files if cf.prompt in named}
    return [p for p in problems if given(p.path) or p.path in cases_of_named]
