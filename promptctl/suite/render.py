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
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import jinja2
from jinja2 import meta, nodes
from jinja2.exceptions import SecurityError

from promptctl.errors import InputError, Problem
from promptctl.jsonutil import is_json_type
from promptctl.paths import confined
from promptctl.suite.model import ROLES, Loc, MessageSpec, Prompt
from promptctl.suite.sandbox import Budget, LimitedSandbox, render_limited

if TYPE_CHECKING:
    from promptctl.git.sources import Source
    from promptctl.suite.load import Suite

Message = dict[str, str]


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
        except (FileNotFoundError, IsADirectoryError, KeyError, UnicodeDecodeError):
            raise jinja2.TemplateNotFound(template) from None
        return text, path, lambda: True


class RenderError(InputError):
    """A template failed to render (missing variable, sandbox violation, bad include...)."""


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
        self, read: Callable[[str], str], prompts_dir: str = "prompts", *, limits: Budget | None = None
    ) -> None:
        self.env = make_environment(read, prompts_dir)
        self.limits = limits or Budget()  # each render gets a fresh copy
        self.prompts_dir = prompts_dir
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
        """Variables the prompt's templates (and their includes) use, plus syntax/include problems."""
        used: set[str] = set()
        problems: list[Problem] = []
        for _index, text, loc in self.template_strings(prompt):
            try:
                ast = self.env.parse(text)
            except jinja2.TemplateSyntaxError as exc:
                problems.append(
                    Problem(loc.path, loc.line + (exc.lineno or 1) - 1, loc.col, describe_jinja_error(exc))
                )
                continue
            used |= self._vars_of(ast, loc, problems, seen=set())
        for m in prompt.messages or []:
            if m.placeholder:
                used.add(m.placeholder)
        return used, problems

    def _vars_of(self, ast: nodes.Template, loc: Loc, problems: list[Problem], seen: set[str]) -> set[str]:
        names = set(meta.find_undeclared_variables(ast)) - set(self.env.globals)
        for ref in meta.find_referenced_templates(ast):
            if ref is None:
                continue  # dynamic include: checked when rendering
            if ref in seen:
                continue
            seen.add(ref)
            loader = self.env.loader
            assert isinstance(loader, _ConfinedLoader)
            if loader.resolve(ref) is None:
                problems.append(
                    Problem(
                        loc.path,
                        loc.line,
                        loc.col,
                        f"include '{ref}' is outside {self.prompts_dir}/; includes must stay inside it",
                    )
                )
                continue
            try:
                src, path, _ = loader.get_source(self.env, ref)
            except jinja2.TemplateNotFound as exc:
                why = "resolves outside" if "outside" in str(exc.message) else "not found in"
                problems.append(
                    Problem(
                        loc.path, loc.line, loc.col, f"included template '{ref}' {why} {self.prompts_dir}/"
                    )
                )
                continue
            try:
                sub = self.env.parse(src)
            except jinja2.TemplateSyntaxError as exc:
                problems.append(Problem(path, exc.lineno or 1, 1, describe_jinja_error(exc)))
                continue
            names |= self._vars_of(sub, Loc(path, 1, 1), problems, seen)
        return names

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
                    with contextlib.suppress(jinja2.TemplateNotFound):
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
            rendered = render_limited(tpl, variables, replace(self.limits))
        except jinja2.TemplateSyntaxError as exc:
            problems.append(
                Problem(loc.path, loc.line + (exc.lineno or 1) - 1, loc.col, describe_jinja_error(exc))
            )
            return None
        except (jinja2.TemplateError, SecurityError) as exc:
            msg = describe_jinja_error(exc)
            if where is not None:
                msg += f" (rendering case at {where.path}:{where.line})"
            problems.append(Problem(loc.path, loc.line, loc.col, msg))
            return None
        except Exception as exc:  # a filter or method raised: still the template's problem
            problems.append(Problem(loc.path, loc.line, loc.col, describe_jinja_error(exc)))
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


def make_renderer(suite: Suite) -> Renderer:
    """A renderer whose includes read through the suite's source, confined to ``prompts/`` (on a
    worktree, symlinks included: a link inside prompts/ cannot point outside it)."""
    return renderer_for(suite.source, suite.config.prompts_dir)


def renderer_for(source: Source, prompts_dir: str) -> Renderer:
    """A renderer reading includes from ``source``, confined to ``prompts_dir``."""
    pdir = prompts_dir.rstrip("/")

    def read(relpath: str) -> str:
        if source.exists(relpath) and not source.resolves_within(relpath, pdir):
            raise PermissionError(f"{relpath} resolves outside {pdir}/")
        return source.read_text(relpath)

    return Renderer(read, pdir)


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
