"""Structured-output checks: ``is_json``, ``json_schema`` and ``is_python``.

``is_json`` wants the *whole* output to be one JSON value: text after it ("Hope this helps!")
fails, because the program consuming the output would fail too. ``allow_fence: true`` accepts
exactly one fenced block (```json or bare ```) with nothing but whitespace around it. NaN and
Infinity are rejected: they are not JSON and most parsers refuse them.

``is_python`` only *parses* (``ast.parse``): the output is never executed, evaluated or compiled
to a code object, so a model answer like ``import os; os.system(...)`` is inspected, not run.

jsonschema is imported lazily: importing the validate package must stay cheap for ``lint``.
"""

from __future__ import annotations

import ast
import json
import os
import re
import weakref
from functools import lru_cache
from pathlib import Path
from typing import Any

from promptctl.git.sources import Source, WorktreeSource
from promptctl.jsonutil import canonical_json
from promptctl.paths import confined, real_path_inside
from promptctl.suite.model import Assertion, Case, Prompt
from promptctl.validate.registry import CheckError, Opt, Outcome, fail, ok, one_line, show, validator
from promptctl.validate.types import ValidationContext

ALLOW_FENCE = Opt("boolean", default=False, description="accept exactly one fenced block around the output")

JSON_FENCE = re.compile(r"```[ \t]*(?:json)?[ \t]*\r?\n(.*?)\r?\n?[ \t]*```", re.DOTALL | re.IGNORECASE)
_PY_FENCE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\r?\n(.*?)\r?\n?[ \t]*```", re.DOTALL | re.IGNORECASE)


def unfence(output: str, fence: re.Pattern[str]) -> str | None:
    """The body when the output is exactly one fenced block (whitespace around allowed)."""
    m = fence.fullmatch(output.strip())
    if m is None or "```" in m.group(1):
        return None
    return m.group(1)


_FENCE_HINT = " (output is a fenced block: set allow_fence: true to accept it)"


def _fence_would_help(output: str, fence: re.Pattern[str], parses: Any) -> bool:
    """``allow_fence: true`` would accept this output: one fenced block whose body parses."""
    body = unfence(output, fence)
    if body is None or not body.strip():
        return False
    try:
        parses(body)
    except (ValueError, SyntaxError, RecursionError, MemoryError):
        return False
    return True


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


class JsonProblem(Exception):
    """The output is not (exactly) one JSON value; the message is the failure reason."""


def parse_json_output(output: str, allow_fence: bool) -> Any:
    text = output
    if allow_fence:
        body = unfence(output, JSON_FENCE)
        if body is not None:
            text = body
    if not text.strip():
        raise JsonProblem("expected JSON, got empty output")
    try:
        return json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as e:
        if e.msg == "Extra data":
            rest = text[e.pos :].strip()
            where = f"line {e.lineno} col {e.colno}"
            msg = f"expected only JSON, but text follows it at {where}: {show(rest, 40)}"
        else:
            msg = f"invalid JSON at line {e.lineno} col {e.colno}: {e.msg}; got {show(text, 50)}"
        if not allow_fence and _fence_would_help(
            output, JSON_FENCE, lambda body: json.loads(body, parse_constant=_reject_constant)
        ):
            msg += _FENCE_HINT
        raise JsonProblem(msg) from e
    except ValueError as e:  # NaN / Infinity
        raise JsonProblem(f"invalid JSON: {e}") from e
    except RecursionError as e:
        raise JsonProblem("invalid JSON: nested too deeply") from e


@validator("is_json", options={"allow_fence": ALLOW_FENCE})
def is_json(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """The whole output is one JSON value."""
    try:
        value = parse_json_output(output, bool(a.options.get("allow_fence", False)))
    except JsonProblem as e:
        return fail(str(e))
    kinds: dict[type, str] = {dict: "object", list: "array", str: "string"}
    kind = kinds.get(type(value), "value")
    return ok(f"output is a JSON {kind}")


def load_schema(a: Assertion, ctx: ValidationContext) -> dict[str, Any] | bool:
    v = a.value
    if isinstance(v, (dict, bool)):
        return v
    if isinstance(v, str):
        rel = confined(v)
        if rel is None:
            raise CheckError(f"schema path {v!r} must be relative to the repository root and stay inside it")
        if ctx.source is not None and not isinstance(ctx.source, WorktreeSource):
            return _schema_at_revision(ctx.source, rel, v)  # graded at a revision: its own file
        try:
            real = real_path_inside(Path(ctx.config.root), rel)
        except PermissionError as e:
            raise CheckError(f"schema file {v!r}: {e}") from None
        return _load_schema_file(str(real), v)
    if v is not None:
        raise CheckError(f"json_schema `value` must be a schema or a file path, got {type(v).__name__}")
    if ctx.prompt.output_schema is not None:
        return ctx.prompt.output_schema
    raise CheckError(
        f"no schema: give `value` (inline or a file path) "
        f"or declare output_schema in prompt {ctx.prompt.name!r}"
    )


def _load_schema_file(path: str, shown: str) -> dict[str, Any] | bool:
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError as e:
        raise CheckError(f"cannot read schema file {shown!r}: {e.strerror}") from e
    schema: dict[str, Any] | bool = _read_schema(path, mtime, shown)
    return schema


@lru_cache(maxsize=64)
def _read_schema(path: str, mtime: int, shown: str) -> Any:
    """Parsed schema file, cached per (path, mtime): a run checks thousands of rows."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise CheckError(f"cannot load schema file {shown!r}: {one_line(str(e))}") from e
    return _parse_schema(text, path, shown)


def _parse_schema(text: str, path: str, shown: str) -> Any:
    problems: list[Any] = []
    try:
        if path.endswith((".yaml", ".yml")):
            from promptctl.suite.yamlio import load_yaml  # its limits: nesting, alias expansion

            doc, problems = load_yaml(text, shown)
            data = doc.data
        else:
            data = json.loads(text)
    except Exception as e:  # JSONDecodeError, RecursionError
        raise CheckError(f"cannot load schema file {shown!r}: {one_line(str(e))}") from e
    if problems:
        raise CheckError(f"cannot load schema file {shown!r}: {one_line(problems[0].format())}")
    if not isinstance(data, (dict, bool)):
        raise CheckError(f"schema file {shown!r} does not hold a JSON schema object")
    return data


# Parsed schema files of a revision, per source (a revision's files never change while it is read).
_AT_REVISION: weakref.WeakKeyDictionary[Source, dict[str, Any]] = weakref.WeakKeyDictionary()


def _schema_at_revision(source: Source, rel: str, shown: str) -> dict[str, Any] | bool:
    """A schema file as the revision being graded has it (read from its tree, not the worktree)."""
    cache = _AT_REVISION.setdefault(source, {})
    if rel not in cache:
        try:
            text = source.read_text(rel)
        except (OSError, UnicodeDecodeError) as e:
            raise CheckError(
                f"cannot read schema file {shown!r} at {source.label}: {one_line(str(e))}"
            ) from e
        cache[rel] = _parse_schema(text, rel, shown)
    schema: dict[str, Any] | bool = cache[rel]
    return schema


@lru_cache(maxsize=64)
def _compiled(schema_json: str) -> Any:
    """A jsonschema validator for the (canonical JSON of the) schema; SchemaError if invalid."""
    from jsonschema import validators
    from referencing import Registry

    schema = json.loads(schema_json)
    cls = validators.validator_for(schema)
    cls.check_schema(schema)
    # A registry that retrieves nothing: a $ref resolves inside this schema or not at all. The
    # default would fetch any http(s) or file:// URL a schema names (even --offline).
    return cls(schema, format_checker=cls.FORMAT_CHECKER, registry=Registry(retrieve=_no_retrieval))  # type: ignore[call-arg]


def _no_retrieval(uri: str) -> Any:
    from referencing.exceptions import NoSuchResource

    raise NoSuchResource(ref=uri)  # type: ignore[call-arg]


def _lint_schema(a: Assertion, case: Case | None, prompt: Prompt | None) -> list[str]:
    if isinstance(a.value, str) and confined(a.value) is None:
        return [f"schema path {a.value!r} must be relative to the repository root and stay inside it"]
    if a.value is None and prompt is not None and prompt.output_schema is None:
        return ["'json_schema' has no `value` and the prompt declares no `output_schema`"]
    return []


@validator(
    "json_schema",
    value=Opt(
        ("object", "string"),
        description="inline schema, or a schema file path (.json/.yaml) relative to the repository root; "
        "default: the prompt's output_schema",
    ),
    options={"allow_fence": ALLOW_FENCE},
    lint=_lint_schema,
)
def json_schema(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """The output is JSON valid against a JSON schema."""
    schema = load_schema(a, ctx)
    from jsonschema.exceptions import SchemaError, best_match

    try:
        validator_ = _compiled(canonical_json(schema))
    except SchemaError as e:
        raise CheckError(f"invalid JSON schema: {one_line(e.message)}") from e
    try:
        doc = parse_json_output(output, bool(a.options.get("allow_fence", False)))
    except JsonProblem as e:
        return fail(str(e))
    from referencing.exceptions import Unresolvable

    try:
        errors = list(validator_.iter_errors(doc))
    except Unresolvable as e:
        ref = getattr(e, "ref", None) or str(e)
        raise CheckError(
            f"$ref {ref!r} cannot be resolved: only refs inside the schema (#/...) are followed; "
            "remote and file refs are never fetched"
        ) from None
    if not errors:
        return ok("output matches the schema")
    best = best_match(errors)
    more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
    return fail(f"{best.json_path}: {one_line(best.message, 150)}{more}")


@validator(
    "is_python",
    options={
        "mode": Opt(
            "string", enum=("exec", "eval"), default="exec", description="module code or one expression"
        ),
        "allow_fence": ALLOW_FENCE,
    },
)
def is_python(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """The output parses as Python source (never executed)."""
    mode = str(a.options.get("mode", "exec"))
    if mode not in ("exec", "eval"):
        raise CheckError(f"is_python mode must be exec or eval, got {mode!r}")
    source = output
    if a.options.get("allow_fence"):
        body = unfence(output, _PY_FENCE)
        if body is not None:
            source = body
    if mode == "eval":
        source = source.strip()
    if not source.strip():
        return fail("expected Python source, got empty output")
    try:
        # ast.parse only builds a syntax tree: nothing in ``source`` runs.
        ast.parse(source, mode=mode)
    except SyntaxError as e:
        where = f"line {e.lineno}:{e.offset}" if e.lineno else "unknown position"
        hint = ""
        if not a.options.get("allow_fence") and _fence_would_help(
            output, _PY_FENCE, lambda body: ast.parse(body.strip() if mode == "eval" else body, mode=mode)
        ):
            hint = _FENCE_HINT
        return fail(f"invalid Python at {where}: {e.msg}{hint}")
    except (ValueError, RecursionError, MemoryError) as e:  # null bytes, absurd nesting
        return fail(f"invalid Python: {one_line(str(e)) or type(e).__name__}")
    return ok(f"output parses as Python ({mode})")
