"""Rendering prompts: Jinja in a sandbox, variables as data, roles from the YAML structure only.

Security model: templates come from the repository and are rendered in Jinja's
``SandboxedEnvironment`` with ``StrictUndefined`` (a typo is an error, not an empty string), and
with limits on output size, loops, calls and time (``suite/sandbox.py``).
Variable *values* are passed as data and never compiled, so a value containing ``{{ 7*7 }}``
stays literal. ``{% include %}`` is resolved by a loader that only reads below ``prompts/``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError

from promptctl.errors import InputError, Problem
from promptctl.jsonutil import is_json_type
from promptctl.paths import confined
from promptctl.suggest import suggest
from promptctl.suite.examples import ExampleLibrary, ExamplesError
from promptctl.suite.model import ROLES, Loc, MessageSpec, Prompt
from promptctl.suite.sandbox import Budget, LimitedSandbox, render_limited
from promptctl.suite.yamlio import decode_problem

if TYPE_CHECKING:
    from promptctl.git.sources import Source
    from promptctl.suite.load import Suite

Message = dict[str, str]


class NotUtf8(jinja2.TemplateError):
    """A partial that is not UTF-8; ``problem`` locates its first bad byte."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.message)
        self.problem = problem


class _ConfinedLoader(jinja2.BaseLoader):
    """Resolves ``{% include "x" %}`` to ``prompts/x``, refusing anything outside ``prompts/``."""

    def __init__(self, read: Callable[[str], str], prompts_dir: str) -> None:
        self.read = read
        self.prompts_dir = prompts_dir.rstrip("/")

    def resolve(self, name: str) -> str | None:
        return confined(name, self.prompts_dir)

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str, Callable[[], bool]]:
        path = self.resolve(template)
        if path is None:
            raise jinja2.TemplateNotFound(f"{template} (includes must stay inside {self.prompts_dir}/)")
        try:
            text = self.read(path)
        except PermissionError:
            raise jinja2.TemplateNotFound(f"{template} (resolves outside {self.prompts_dir}/)") from None
        except UnicodeDecodeError as exc:
            raise NotUtf8(decode_problem(path, exc)) from None
        except (FileNotFoundError, IsADirectoryError, KeyError):
            raise jinja2.TemplateNotFound(template) from None
        return text, path, lambda: True


class RenderError(InputError):
    """A template failed to render (missing variable, sandbox violation, bad include...)."""


class ExampleSelectionError(jinja2.TemplateRuntimeError):
    """``examples()`` cannot select what a template asked for (unknown set, bad argument)."""


def _at(loc: Loc, message: str) -> Problem:
    return Problem(loc.path, loc.line, loc.col, message)


def _references(ast: nodes.Template) -> list[tuple[str | None, int]]:
    """(template name or None when computed, line) of every include/import/extends in ``ast``."""
    out: list[tuple[str | None, int]] = []
    for node in ast.find_all((nodes.Extends, nodes.FromImport, nodes.Import, nodes.Include)):
        target: Any = getattr(node, "template", None)
        if isinstance(target, nodes.Const) and isinstance(target.value, str):
            out.append((target.value, node.lineno))
        elif isinstance(target, (nodes.Tuple, nodes.List)):
            for item in target.items:  # {% include ["a", "b"] %}: the first that exists
                if isinstance(item, nodes.Const) and isinstance(item.value, str):
                    out.append((item.value, node.lineno))
        else:
            out.append((None, node.lineno))
    return out


def _first_line_using(env: jinja2.Environment, text: str, var: str) -> int | None:
    try:
        ast = env.parse(text)
    except jinja2.TemplateSyntaxError:
        return None
    lines = [n.lineno for n in ast.find_all(nodes.Name) if n.name == var and n.ctx == "load"]
    return min(lines) if lines else None


def _error_position(exc: BaseException) -> tuple[str, int] | None:
    """(template file, line) of the innermost template frame of a render-time error: Jinja
    rewrites its tracebacks so that template code shows at its own line. ``<template>`` is the
    string being rendered; another name is a partial it included."""
    found = None
    tb = exc.__traceback__
    while tb is not None:
        name = tb.tb_frame.f_code.co_filename
        if "__jinja_exception__" in tb.tb_frame.f_globals:  # a frame Jinja made for template code
            found = (name, tb.tb_lineno)
        tb = tb.tb_next
    return found


def make_environment(read: Callable[[str], str], prompts_dir: str) -> LimitedSandbox:
    env = LimitedSandbox(
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        loader=_ConfinedLoader(read, prompts_dir),
    )
    env.filters["tojson"] = _tojson
    env.limit_filter("tojson")
    return env


def _tojson(value: Any, indent: int | None = None) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, indent=indent, sort_keys=False, default=str)


def describe_jinja_error(exc: BaseException) -> str:
    """A one-line, actionable message for any Jinja failure (never the file's content)."""
    if isinstance(exc, ExampleSelectionError):
        return str(exc)
    if isinstance(exc, SecurityError):
        return f"template is not allowed to do that in the sandbox: {exc}"
    if isinstance(exc, jinja2.UndefinedError):
        msg = str(exc)
        if "unsafe" in msg or "__" in msg:
            return f"template is not allowed to do that in the sandbox: {msg}"
        return f"undefined variable: {msg}"
    if isinstance(exc, jinja2.TemplateNotFound):
        return f"included template not found: {exc.message or exc.name}"
    if isinstance(exc, jinja2.TemplateSyntaxError):
        return f"Jinja syntax error: {exc.message}"
    return f"template error: {type(exc).__name__}: {exc}"


class Renderer:
    """Renders prompts of one suite. Compiled templates are cached: a suite of 10,000 cases renders
    each template once, not once per case."""

    def __init__(
        self,
        read: Callable[[str], str],
        prompts_dir: str = "prompts",
        partials: list[str] | None = None,
        examples: ExampleLibrary | None = None,
        *,
        limits: Budget | None = None,
    ) -> None:
        self.env = make_environment(read, prompts_dir)
        self.limits = limits or Budget()  # each render spends a fresh copy
        self.env.globals["examples"] = _examples_global(examples or ExampleLibrary(), self.env)
        self.prompts_dir = prompts_dir
        # partial names as an include names them (relative to prompts/): for "did you mean"
        self.partials = partials or []
        self._compiled: dict[tuple[str, int], jinja2.Template] = {}

    # -- static analysis -------------------------------------------------------------------
    def template_strings(self, prompt: Prompt) -> list[tuple[int, str, Loc]]:
        """(index, text, loc) for every Jinja string of the prompt; index -1 is ``template``."""
        if prompt.template is not None:
            return [(-1, prompt.template, prompt.template_loc)]
        out = []
        for i, m in enumerate(prompt.messages or []):
            if m.content is not None:
                out.append((i, m.content, m.loc))
        return out

    def _compile(self, prompt: Prompt, index: int, text: str) -> jinja2.Template:
        key = (prompt.name, index)
        tpl = self._compiled.get(key)
        if tpl is None:
            tpl = self.env.from_string(text)
            self._compiled[key] = tpl
        return tpl

    def analyse(self, prompt: Prompt) -> tuple[set[str], list[Problem]]:
        """Variables the prompt's templates (and their includes) use, plus syntax/include problems
        (an include cycle included: it would fail every render of the prompt)."""
        used: set[str] = set()
        problems: list[Problem] = []
        for _index, text, loc in self.template_strings(prompt):
            try:
                ast = self.env.parse(text)
            except jinja2.TemplateSyntaxError as exc:
                problems.append(_at(loc.text_line(exc.lineno or 1), describe_jinja_error(exc)))
                continue
            used |= self._vars_of(ast, loc, problems, chain=(), seen=set())
        for m in prompt.messages or []:
            if m.placeholder:
                used.add(m.placeholder)
        return used, problems

    def _vars_of(
        self,
        ast: nodes.Template,
        loc: Loc,
        problems: list[Problem],
        chain: tuple[str, ...],
        seen: set[str],
    ) -> set[str]:
        """Variables of ``ast`` and of what it includes. ``chain``: the partials being expanded
        (a ref already in it is a cycle); ``seen``: partials already analysed for this prompt."""
        names = set(meta.find_undeclared_variables(ast)) - set(self.env.globals)
        loader = self.env.loader
        assert isinstance(loader, _ConfinedLoader)
        for ref, lineno in _references(ast):
            where = loc.text_line(lineno)
            if ref is None:
                continue  # dynamic include: checked when rendering
            path = loader.resolve(ref)
            if path is None:
                message = f"include '{ref}' is outside {self.prompts_dir}/; includes must stay inside it"
                problems.append(_at(where, message))
                continue
            if path in chain:
                cycle = " → ".join([*chain[chain.index(path) :], path])
                problems.append(_at(where, f"include cycle: {cycle}"))
                continue
            if path in seen:
                continue
            seen.add(path)
            try:
                src, path, _ = loader.get_source(self.env, ref)
            except NotUtf8 as exc:
                problems.append(exc.problem)
                continue
            except jinja2.TemplateNotFound as exc:
                if "outside" in str(exc.message):
                    message = f"included template '{ref}' resolves outside {self.prompts_dir}/"
                else:
                    message = f"included template '{ref}' not found in {self.prompts_dir}/"
                    message += suggest(ref, self.partials) if self.partials else ""
                problems.append(_at(where, message))
                continue
            try:
                sub = self.env.parse(src)
            except jinja2.TemplateSyntaxError as exc:
                problems.append(Problem(path, exc.lineno or 1, 1, describe_jinja_error(exc)))
                continue
            names |= self._vars_of(sub, Loc(path, 1, 1, block=True), problems, (*chain, path), seen)
        return names

    def var_loc(self, prompt: Prompt, var: str) -> Loc:
        """Where ``var`` is first used: the line of its first ``{{ var }}`` (or other use) in the
        prompt's templates, else in a partial they include, else the prompt itself."""
        for _i, text, loc in self.template_strings(prompt):
            line = _first_line_using(self.env, text, var)
            if line is not None:
                return loc.text_line(line)
        loader = self.env.loader
        assert isinstance(loader, _ConfinedLoader)
        for path in sorted(self.includes(prompt)):
            try:
                text = loader.read(path)
            except (OSError, KeyError, UnicodeDecodeError):
                continue
            line = _first_line_using(self.env, text, var)
            if line is not None:
                return Loc(path, line, 1)
        for m in prompt.messages or []:
            if m.placeholder == var:
                return m.loc
        return prompt.loc

    def includes(self, prompt: Prompt) -> set[str]:
        """Repository paths of every partial the prompt includes (transitively)."""
        out: set[str] = set()
        loader = self.env.loader
        assert isinstance(loader, _ConfinedLoader)
        todo = [text for _, text, _ in self.template_strings(prompt)]
        while todo:
            try:
                ast = self.env.parse(todo.pop())
            except jinja2.TemplateSyntaxError:
                continue
            for ref in meta.find_referenced_templates(ast):
                path = loader.resolve(ref) if ref else None
                if path and path not in out:
                    out.add(path)
                    with contextlib.suppress(jinja2.TemplateNotFound, NotUtf8):
                        todo.append(loader.get_source(self.env, ref)[0])  # type: ignore[arg-type]
        return out

    # -- rendering -------------------------------------------------------------------------
    def render(self, prompt: Prompt, variables: dict[str, Any], *, where: Loc | None = None) -> list[Message]:
        """Render to ``[{role, content}, ...]``. ``variables`` must already hold defaults (see
        ``resolve_vars``). Raises RenderError pointing at the template (and the case, via ``where``)."""
        problems: list[Problem] = []
        out: list[Message] = []
        if prompt.template is not None:
            text = self._render_one(
                prompt, -1, prompt.template, prompt.template_loc, variables, problems, where
            )
            if text is not None:
                out.append({"role": "user", "content": text})
        else:
            for i, m in enumerate(prompt.messages or []):
                if m.placeholder:
                    out.extend(self._expand_placeholder(m, variables, problems, where))
                    continue
                assert m.content is not None and m.role is not None
                text = self._render_one(prompt, i, m.content, m.loc, variables, problems, where)
                if text is not None:
                    out.append({"role": m.role, "content": text})
        if problems:
            raise RenderError(problems)
        return out

    def _render_one(
        self,
        prompt: Prompt,
        index: int,
        text: str,
        loc: Loc,
        variables: dict[str, Any],
        problems: list[Problem],
        where: Loc | None,
    ) -> str | None:
        try:
            tpl = self._compile(prompt, index, text)
            rendered = render_limited(tpl, variables, self.limits)
        except jinja2.TemplateSyntaxError as exc:
            problems.append(_at(loc.text_line(exc.lineno or 1), describe_jinja_error(exc)))
            return None
        except NotUtf8 as exc:
            problems.append(exc.problem)
            return None
        except Exception as exc:  # SecurityError, UndefinedError, or a filter or method raised
            msg = describe_jinja_error(exc)
            if where is not None:
                msg += _case_suffix(where)
            position = _error_position(exc)
            if position is None:
                problems.append(_at(loc, msg))
            elif position[0] == "<template>":
                problems.append(_at(loc.text_line(position[1]), msg))
            else:  # inside a partial the template included
                problems.append(Problem(position[0], position[1], 1, msg))
            return None
        return rendered.rstrip("\n")

    @staticmethod
    def _expand_placeholder(
        m: MessageSpec, variables: dict[str, Any], problems: list[Problem], where: Loc | None
    ) -> list[Message]:
        name = m.placeholder or ""
        value = variables.get(name)
        loc = where or m.loc
        if not isinstance(value, list):
            problems.append(
                Problem(
                    loc.path,
                    loc.line,
                    loc.col,
                    f"placeholder '{name}' needs a list of {{role, content}} messages, "
                    f"got {type(value).__name__}",
                )
            )
            return []
        out: list[Message] = []
        for j, item in enumerate(value):
            if (
                not isinstance(item, dict)
                or set(item) != {"role", "content"}
                or item.get("role") not in ROLES
                or not isinstance(item.get("content"), str)
            ):
                problems.append(
                    Problem(
                        loc.path,
                        loc.line,
                        loc.col,
                        f"placeholder '{name}' item {j}: expected {{role: system|user|assistant, "
                        f"content: string}}",
                    )
                )
                continue
            out.append({"role": item["role"], "content": item["content"]})
        return out


def _examples_global(library: ExampleLibrary, env: jinja2.Environment) -> Callable[..., Any]:
    """``examples(name, k=3, select="recent", seed=0, fields=None)`` for templates: a deterministic
    selection from a few-shot example set (``suite.examples``), given the variables being rendered."""

    @jinja2.pass_context
    def examples(
        context: jinja2.runtime.Context,
        name: Any,
        k: Any = 3,
        select: Any = "recent",
        seed: Any = 0,
        fields: Any = None,
    ) -> list[dict[str, Any]]:
        current = {n: v for n, v in context.get_all().items() if env.globals.get(n) is not v}
        try:
            return library.select(name, current, k=k, select=select, seed=seed, fields=fields)
        except ExamplesError as exc:
            raise ExampleSelectionError(str(exc)) from None

    return examples


_CASE_SUFFIX = " (rendering case at "


def _case_suffix(where: Loc) -> str:
    return f"{_CASE_SUFFIX}{where.path}:{where.line})"


def merge_case_problems(problems: list[Problem]) -> list[Problem]:
    """One problem per template mistake: the same error at the same template position while
    rendering several cases (a sandbox violation, an attribute every case lacks) becomes one
    problem naming the first case and how many more."""
    groups: dict[tuple[str, int, int, str, str], list[Problem]] = {}
    out: list[Problem] = []
    for p in problems:
        base, sep, _case = p.message.partition(_CASE_SUFFIX)
        if not sep:
            out.append(p)
            continue
        groups.setdefault((p.path, p.line, p.col, base, p.severity), []).append(p)
    for same in groups.values():
        first = same[0]
        if len(same) > 1:
            more = len(same) - 1
            message = f"{first.message[:-1]} and {more} more case{'s' if more > 1 else ''})"
            first = Problem(first.path, first.line, first.col, message, first.severity)
        out.append(first)
    return out


def make_renderer(suite: Suite) -> Renderer:
    """A renderer whose includes read through the suite's source, confined to ``prompts/`` (on a
    worktree, symlinks included: a link inside prompts/ cannot point outside it), whose
    ``examples()`` selects from the suite's example sets."""
    return renderer_for(suite.source, suite.config.prompts_dir, suite.partials, suite.examples)


def renderer_for(
    source: Source,
    prompts_dir: str,
    partials: list[str] | None = None,
    examples: ExampleLibrary | None = None,
) -> Renderer:
    """A renderer reading includes from ``source``, confined to ``prompts_dir``; ``partials``
    (repository paths) are the names it suggests for an include that is not found."""
    pdir = prompts_dir.rstrip("/")
    partials = [p[len(pdir) + 1 :] for p in partials or [] if p.startswith(pdir + "/")]

    def read(relpath: str) -> str:
        if source.exists(relpath) and not source.resolves_within(relpath, pdir):
            raise PermissionError(f"{relpath} resolves outside {pdir}/")
        return source.read_text(relpath)

    return Renderer(read, pdir, partials, examples)


def resolve_vars(prompt: Prompt, given: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Fill declared defaults for variables the caller did not give (a given ``""``, ``0`` or
    ``false`` wins). Returns the variables and the names of required inputs still missing."""
    out = dict(given)
    missing = []
    for name, spec in prompt.inputs.items():
        if name in out:
            continue
        if spec.has_default:
            out[name] = spec.default
        elif spec.required:
            missing.append(name)
    return out, missing


def type_errors(prompt: Prompt, variables: dict[str, Any]) -> list[str]:
    """Messages for variables whose value does not match the declared input type."""
    out = []
    for name, spec in prompt.inputs.items():
        if name in variables and variables[name] is not None:
            json_type = "array" if spec.type == "messages" else spec.type
            if not is_json_type(variables[name], json_type):
                out.append(f"variable '{name}' should be {spec.type}, got {type(variables[name]).__name__}")
    return out


def render_prompt(
    renderer: Renderer, prompt: Prompt, given: dict[str, Any], *, where: Loc | None = None
) -> list[Message]:
    """Defaults + required/type checks + render, with every problem located at ``where``."""
    variables, missing = resolve_vars(prompt, given)
    loc = where or prompt.loc
    problems = [
        Problem(loc.path, loc.line, loc.col, f"missing required variable '{n}' for prompt '{prompt.name}'")
        for n in missing
    ]
    problems += [Problem(loc.path, loc.line, loc.col, m) for m in type_errors(prompt, variables)]
    if problems:
        raise RenderError(problems)
    return renderer.render(prompt, variables, where=where)
