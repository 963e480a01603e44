"""``python``: a check written in Python in the repository under test.

SECURITY: this RUNS repository code. ``value: "checks.tone:is_polite"`` imports the module
``checks.tone`` from the repository root (``ctx.config.root`` is put first on ``sys.path`` while
importing) and calls the function in the promptctl process, with its privileges. Running the
tests of a repository you do not trust is as dangerous as running its ``pytest`` suite.
(The model *output* is only passed to the function as a string; it is never executed.)

At a revision (``test --ref``, a side of ``compare``) the module comes from that revision: its
Python files are written from the git objects into a temporary directory (once per run), which
is the import root for that side only. The modules a side imported are forgotten when another
root is used, so the two sides of a comparison never see each other's modules (helpers they
import included).

The function is called as ``fn(output, case=<Case>, context={...})``; functions taking only
``(output)`` or ``(output, context)`` work too (decided from the signature). ``context`` holds
``vars``, ``expected``, ``model``, ``prompt``, ``case_id``, ``metadata``, ``response`` (latency,
tokens, cost as a dict, or None) and ``args`` (the assertion's ``args`` option). An ``async def``
function is awaited.

It returns a bool (score 1/0), a number in [0, 1] (pass when ``score >= threshold``, default
0.5), or a dict ``{"pass": bool, "score": number, "reason": str}`` (any of ``pass``/``score``
may be omitted, not both). An exception, or any other return value, is an *error* result.
"""

from __future__ import annotations

import importlib
import inspect
import itertools
import math
import os
import re
import sys
import tempfile
import weakref
from collections.abc import Callable
from types import ModuleType
from typing import Any

from promptctl.git.sources import Source, WorktreeSource
from promptctl.suite.model import Assertion, Case, Prompt
from promptctl.validate.registry import CheckError, Opt, Outcome, graded, one_line, show, validator
from promptctl.validate.types import ValidationContext

DEFAULT_THRESHOLD = 0.5
_DOTTED = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*"
_REF_RE = re.compile(rf"^{_DOTTED}:{_DOTTED}$")


def _lint_ref(a: Assertion, case: Case | None, prompt: Prompt | None) -> list[str]:
    if isinstance(a.value, str) and not _REF_RE.match(a.value):
        return [f"'python' value must look like 'module.path:function', got {a.value!r}"]
    return []


def _under(path: str | None, root: str) -> bool:
    if not path:
        return False
    try:
        return os.path.commonpath([os.path.realpath(path), os.path.realpath(root)]) == os.path.realpath(root)
    except ValueError:
        return False


def _evict_foreign(module: str, root: str) -> None:
    """Forget modules of this name imported from another root (e.g. the other worktree of a
    compare), but only when ``root`` really provides that module: stdlib and installed
    packages the repository does not shadow are left alone."""
    top = module.split(".")[0]
    if not (os.path.exists(os.path.join(root, top + ".py")) or os.path.isdir(os.path.join(root, top))):
        return
    cached = sys.modules.get(top)
    if cached is None:
        return
    paths = [getattr(cached, "__file__", None), *list(getattr(cached, "__path__", []) or [])]
    if any(_under(p, root) for p in paths):
        return
    for name in [n for n in sys.modules if n == top or n.startswith(top + ".")]:
        del sys.modules[name]


# Modules imported while loading checks, per import scope (an import root, and the source of the
# run using it); when another scope is used, the other scopes' modules are forgotten, so the sides
# of a compare never share a module and every run imports the files as they are now.
_OWNED: dict[tuple[str, int], set[str]] = {}
_current_scope: tuple[str, int] | None = None
_RUN_TOKENS: weakref.WeakKeyDictionary[Source, int] = weakref.WeakKeyDictionary()
_NEXT_TOKEN = itertools.count(1)


def _scope(root: str, source: Source | None) -> tuple[str, int]:
    if source is None:
        return (root, 0)
    token = _RUN_TOKENS.get(source)
    if token is None:
        token = _RUN_TOKENS[source] = next(_NEXT_TOKEN)
    return (root, token)


def _enter(scope: tuple[str, int]) -> None:
    global _current_scope
    if _current_scope == scope:
        return
    for other, names in _OWNED.items():
        if other != scope:
            for name in names:
                sys.modules.pop(name, None)
            names.clear()
    _current_scope = scope


def load_function(
    ref: str, root: str, *, hide: str | None = None, source: Source | None = None
) -> Callable[..., Any]:
    """Import ``module.path:function`` from the repository at ``root``. ``hide``: a directory
    (the worktree, while a revision is graded) kept off ``sys.path`` during the import;
    ``source``: the run's file source (a new one starts from fresh imports)."""
    if not _REF_RE.match(ref):
        raise CheckError(f"python check must be 'module.path:function', got {ref!r}")
    mod_name, _, attr = ref.partition(":")
    root = os.path.abspath(root)
    scope = _scope(root, source)
    _enter(scope)
    _evict_foreign(mod_name, root)
    saved = list(sys.path)
    if hide is not None:
        hidden = os.path.realpath(hide)
        sys.path[:] = [p for p in sys.path if os.path.realpath(p or os.getcwd()) != hidden]
    if root not in sys.path:
        sys.path.insert(0, root)
    before = set(sys.modules)
    try:
        if mod_name not in sys.modules:
            importlib.invalidate_caches()  # the file may be newer than the import system's listing
        module: ModuleType = importlib.import_module(mod_name)
    except (Exception, SystemExit) as e:  # a module calling sys.exit() must not end promptctl
        raise CheckError(f"cannot import {mod_name!r}: {type(e).__name__}: {one_line(str(e), 150)}") from e
    finally:
        _OWNED.setdefault(scope, set()).update(
            n for n in set(sys.modules) - before if _under(getattr(sys.modules[n], "__file__", None), root)
        )
        sys.path[:] = saved  # whatever the imported code did to it
    obj: Any = module
    for part in attr.split("."):
        if not hasattr(obj, part):
            raise CheckError(f"{mod_name!r} has no attribute {attr!r}")
        obj = getattr(obj, part)
    if not callable(obj):
        raise CheckError(f"{ref!r} is not callable")
    return obj  # type: ignore[no-any-return]


# The Python files of a revision, written out once per source (removed when it is collected or
# at exit): the import root of the side graded at that revision.
_MATERIALISED: weakref.WeakKeyDictionary[Source, tempfile.TemporaryDirectory[str]] = (
    weakref.WeakKeyDictionary()
)


def _materialised(source: Source) -> str:
    tmp = _MATERIALISED.get(source)
    if tmp is None:
        tmp = tempfile.TemporaryDirectory(prefix="promptctl-checks-")
        for rel in source.list_files("", (".py",)):
            try:
                text = source.read_text(rel)
            except (OSError, UnicodeDecodeError):
                continue  # not a module this revision can import
            path = os.path.join(tmp.name, *rel.split("/"))
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w", encoding="utf-8") as f:
                f.write(text)
        _MATERIALISED[source] = tmp
    return tmp.name


def check_ref(ref: str, root: str) -> str | None:
    """Why ``module.path:function`` cannot be used from the repository at ``root`` (it does not
    import, has no such attribute, or it is not callable), or None. IMPORTS the module, as
    pytest's collection does: lint runs the repository's module-level code."""
    try:
        load_function(ref, root)
    except CheckError as e:
        return str(e)
    return None


def call_arguments(
    fn: Callable[..., Any], output: str, case: Case, context: dict[str, Any]
) -> tuple[list[Any], dict[str, Any]]:
    """Arguments for ``fn`` from its signature: ``(output, case=, context=)`` by name when it
    declares them (or ``**kwargs``), else ``(output, context)`` or ``(output)`` positionally."""
    try:
        params = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return [output], {}
    kinds = {p.kind for p in params.values()}
    by_name = inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD
    kwargs: dict[str, Any] = {}
    for name, val in (("case", case), ("context", context)):
        if (name in params and params[name].kind in by_name) or inspect.Parameter.VAR_KEYWORD in kinds:
            kwargs[name] = val
    args: list[Any] = [output]
    if not kwargs:
        positional = [
            p
            for p in params.values()
            if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        ]
        if len(positional) >= 2 or inspect.Parameter.VAR_POSITIONAL in kinds:
            args.append(context)
    return args, kwargs


def _score(v: Any, what: str) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
        raise CheckError(f"python check returned {what} {show(v, 30)}; expected a number in [0, 1]")
    if not 0.0 <= v <= 1.0:
        raise CheckError(f"python check returned {what} {v!r}, outside [0, 1]")
    return float(v)


def interpret(result: Any, threshold: float, ref: str) -> Outcome:
    """Turn the function's return value into an outcome (see the module docstring)."""
    if isinstance(result, bool):
        return Outcome(result, 1.0 if result else 0.0, f"{ref} returned {result}")
    if isinstance(result, (int, float)):
        s = _score(result, "score")
        cmp = ">=" if s >= threshold else "<"
        return graded(s, threshold, f"{ref} score {s:.2f} {cmp} threshold {threshold:.2f}")
    if isinstance(result, dict):
        has_pass = "pass" in result or "passed" in result
        if not has_pass and "score" not in result:
            raise CheckError(f"python check returned a dict without 'pass' or 'score': {show(result, 60)}")
        reason = result.get("reason")
        reason_s = one_line(str(reason), 160) if reason is not None else ""
        score = _score(result["score"], "score") if "score" in result else None
        if has_pass:
            passed = result.get("pass", result.get("passed"))
            if not isinstance(passed, bool):
                raise CheckError(f"python check returned 'pass' = {show(passed, 30)}; expected true or false")
            if score is None:
                score = 1.0 if passed else 0.0
            return Outcome(passed, score, reason_s or f"{ref} returned pass={passed}")
        assert score is not None
        cmp = ">=" if score >= threshold else "<"
        default = f"{ref} score {score:.2f} {cmp} threshold {threshold:.2f}"
        return graded(score, threshold, reason_s or default)
    kind = "None (missing return?)" if result is None else type(result).__name__
    raise CheckError(f"python check returned {kind}; expected bool, number in [0, 1] or dict")


@validator(
    "python",
    value=Opt("string", required=True, description="'module.path:function' in the repository"),
    options={"args": Opt("object", description="passed to the function as context['args']")},
    threshold=DEFAULT_THRESHOLD,
    is_async=True,
    lint=_lint_ref,
)
async def python(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """A repository Python function decides (RUNS repository code)."""
    ref = str(a.value)
    source = ctx.source
    if source is None or isinstance(source, WorktreeSource):
        fn = load_function(ref, ctx.config.root, source=source)
    else:
        fn = load_function(ref, _materialised(source), hide=ctx.config.root, source=source)
    context = {
        "vars": ctx.case.vars,
        "expected": ctx.case.expected,
        "model": ctx.model,
        "prompt": ctx.prompt.name,
        "case_id": ctx.case.id,
        "metadata": ctx.case.metadata,
        "response": ctx.response.to_dict() if ctx.response is not None else None,
        "args": dict(a.options.get("args") or {}),
    }
    args, kwargs = call_arguments(fn, output, ctx.case, context)
    try:
        result = fn(*args, **kwargs)
        if inspect.isawaitable(result):
            result = await result
    except Exception as e:
        msg = one_line(str(e), 160)
        raise CheckError(f"{ref} raised {type(e).__name__}" + (f": {msg}" if msg else "")) from e
    th = float(a.threshold) if a.threshold is not None else DEFAULT_THRESHOLD
    return interpret(result, th, ref)
