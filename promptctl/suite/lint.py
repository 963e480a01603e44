"""Semantic checks on a loaded suite, beyond the JSON Schemas: Jinja syntax, includes, variables,
case vars against required inputs, assertion types and options, and a trial render of every case.

``promptctl test`` runs the same checks before spending anything: a typo in an assertion type
should cost nothing, not a full suite of model calls.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from promptctl.errors import Problem
from promptctl.suggest import closest
from promptctl.suite.load import Suite
from promptctl.suite.model import Assertion, Loc, Prompt
from promptctl.suite.render import Renderer, RenderError, make_renderer, merge_case_problems, render_prompt
from promptctl.suite.reviews import check_files as check_review_files


def _check_output_schema(prompt: Prompt) -> list[Problem]:
    """A prompt's ``output.schema`` must itself be a valid JSON Schema (any keyword: jsonschema)."""
    import jsonschema

    schema = prompt.output_schema
    if schema is None:
        return []
    try:
        jsonschema.validators.validator_for(schema).check_schema(schema)
    except jsonschema.SchemaError as exc:
        where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
        loc = prompt.schema_loc
        return [
            Problem(
                loc.path,
                loc.line,
                loc.col,
                f"output.schema is not a valid JSON Schema at {where}: {exc.message}",
            )
        ]
    return []


# Checks one assertion against the validator registry: (assertion, case, prompt) -> messages.
# The registry sits a layer above the suite, so whoever asks for a lint passes it in
# (``promptctl.validate.lint_assertion``).
AssertionLinter = Callable[..., list[str]]


# Checks one model name: (name, whether it may be an alias) -> why it is unknown, or None. What
# litellm knows sits above the suite, so the caller passes it in (``promptctl.run.plan.model_check``).
ModelCheck = Callable[[str, bool], "str | None"]


def model_problems(suite: Suite, check: ModelCheck) -> list[Problem]:
    """Every model name the suite's files write (config, prompts, case files, judge assertions)
    that ``check`` does not know, located where it is written."""
    verdicts: dict[tuple[str, bool], str | None] = {}
    out: list[Problem] = []

    def one(name: str, loc: Loc, alias_ok: bool) -> None:
        key = (name, alias_ok)
        if key not in verdicts:
            verdicts[key] = check(name, alias_ok)
        message = verdicts[key]
        if message is not None:
            out.append(Problem(loc.path, loc.line, loc.col, message))

    for name, loc, alias_ok in suite.config.model_names():
        one(name, loc, alias_ok)
    for prompt in suite.prompts.values():
        if prompt.model is not None:
            one(prompt.model, prompt.model_loc, True)
    for cf in suite.case_files:
        for name, loc in zip(cf.models or [], cf.model_locs, strict=False):
            one(name, loc, True)
        for case in cf.cases:
            for a in case.asserts:
                judge = a.options.get("model") if a.type == "judge" else None
                if isinstance(judge, str):
                    one(judge, a.loc, True)
    return out


def check_suite(
    suite: Suite,
    lint_assertion: AssertionLinter,
    renderer: Renderer | None = None,
    *,
    trial_render: bool = True,
    check_model: ModelCheck | None = None,
) -> list[Problem]:
    """Every problem in the suite: the loader's plus the semantic ones (sorted, de-duplicated).
    ``check_model``: also every model name the files write."""
    renderer = renderer or make_renderer(suite)
    problems = list(suite.problems)
    if check_model is not None:
        problems.extend(model_problems(suite, check_model))
    used_by_prompt: dict[str, set[str]] = {}
    broken: set[str] = set()
    for name, prompt in suite.prompts.items():
        used, errs = renderer.analyse(prompt)
        problems.extend(errs)
        if errs:
            broken.add(name)
        used_by_prompt[name] = used
        unused = sorted(set(prompt.inputs) - used)
        meant: set[str] = set()  # unused inputs a misspelled variable most likely meant
        for var in sorted(used - set(prompt.inputs)):
            loc = renderer.var_loc(prompt, var)
            message = f"variable '{var}' is used but not declared in 'inputs'"
            close = closest(var, unused)
            if close is not None:
                message += f"; did you mean '{close}'?"
                meant.add(close)
            problems.append(Problem(loc.path, loc.line, loc.col, message))
            broken.add(name)
        if prompt.output_schema is not None:
            problems.extend(_check_output_schema(prompt))
        for var in unused:
            if var in meant or errs:  # the error says it already / a template did not parse
                continue
            loc = prompt.inputs[var].loc
            problems.append(
                Problem(loc.path, loc.line, loc.col, f"input '{var}' is declared but never used", "warning")
            )
    # `defaults.transform` applies to every assertion without its own: check it once, where it
    # is written (a bare assertion with only that transform reports exactly the transform's
    # problems), and check the assertions that inherit it without it.
    for cf in suite.case_files:
        for name, loc in cf.default_transform:
            for msg in lint_assertion(Assertion(type="not_empty", transform=[name], loc=loc)):
                problems.append(Problem(loc.path, loc.line, loc.col, msg))
    # A case file's `defaults: assert:` objects are shared by all its cases: lint each once per
    # (assertion, whether the case has an expected value, prompt) instead of once per case.
    linted: dict[tuple[int, bool, str], list[str]] = {}
    rendered: list[Problem] = []
    for case in suite.cases:
        target = suite.prompts.get(case.prompt)
        for a in case.asserts:
            key = (id(a), case.expected is None, case.prompt)
            if key not in linted:
                own = replace(a, transform=[]) if a.transform_inherited else a
                linted[key] = lint_assertion(own, case=case, prompt=target)
            problems.extend(Problem(a.loc.path, a.loc.line, a.loc.col, msg) for msg in linted[key])
        if target is None:
            continue
        prompt = target
        for var in sorted(set(case.vars) - set(prompt.inputs)):
            problems.append(
                Problem(
                    case.loc.path,
                    case.loc.line,
                    case.loc.col,
                    f"case '{case.id}' sets '{var}', which is not an input of prompt '{prompt.name}'",
                    "warning",
                )
            )
        if trial_render and case.prompt not in broken:
            try:
                render_prompt(renderer, prompt, case.vars, where=case.loc)
            except RenderError as exc:
                rendered.extend(exc.problems)
    case_ids = {cf.path: {c.id for c in cf.cases} for cf in suite.case_files}
    problems.extend(check_review_files(suite.source, suite.config.cases_dir, case_ids))
    return sorted(set(problems) | set(merge_case_problems(rendered)))
