"""The package's import graph: every import points down the layers (or sideways within one layer)
and no modules import each other in a circle. Parsed with ``ast``, so imports inside functions and
under ``TYPE_CHECKING`` count too."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "promptctl"

# Top to bottom. A module belongs to the first layer naming it or a package containing it; the
# package face, "promptctl" itself, names only itself (it sits on top of its own subpackages).
FACE = "promptctl"
LAYERS: list[tuple[str, ...]] = [
    (FACE,),  # the package face: promptctl.get_prompt, imported lazily
    ("promptctl.__main__", "promptctl.cli"),  # the command line: typer and rich only here
    ("promptctl.curate",),  # humans in the loop: snapshot review, feedback into cases, example sets
    ("promptctl.runtime",),  # prompts in production: the Python API, export bundles, traces
    ("promptctl.review",),  # a change between revisions: diff, compare, gate, statistics
    ("promptctl.report",),  # records and comparisons as text / JSON / JUnit / Markdown
    ("promptctl.records",),  # run records, history, notes, shard merges
    ("promptctl.run",),  # the plan, the run of a suite, one-shot calls
    ("promptctl.validate",),  # the validator registry, families, transforms
    ("promptctl.execute",),  # the model layer: litellm, cache, recordings, worker pool
    ("promptctl.suite",),  # the files: model, YAML, schemas, config, load, render, lint
    (  # the ground floor
        "promptctl.git",
        "promptctl.paths",
        "promptctl.secrets",
        "promptctl.pii",
        "promptctl.redact",
        "promptctl.errors",
        "promptctl.atomic",
        "promptctl.jsonutil",
        "promptctl.suggest",
        "promptctl.scaffold",
        "promptctl.version",
    ),
]
CLI = 1  # the index of the command line's layer


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _layer(module: str) -> int:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or (p != FACE and module.startswith(p + ".")) for p in prefixes):
            return index
    raise AssertionError(f"{module} is in no layer: add it to LAYERS")


def _imports(module: str, path: Path, known: dict[str, Path]) -> set[str]:
    """promptctl modules that ``module`` imports (a ``from pkg import sub`` names the submodule)."""
    out: set[str] = set()
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text("utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.split(".")[0] == "promptctl")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = module.split(".") if is_package else module.split(".")[:-1]
                base = base[: len(base) - node.level + 1]
                target = ".".join([*base, node.module] if node.module else base)
            else:
                target = node.module or ""
            if target.split(".")[0] != "promptctl":
                continue
            subs = [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in known]
            out.update(subs)
            if len(subs) < len(node.names):
                out.add(target)
    out.discard(module)
    return out


def _graph() -> dict[str, set[str]]:
    known = _modules()
    return {name: _imports(name, path, known) for name, path in known.items()}


def test_every_module_has_a_layer() -> None:
    for module in _modules():
        _layer(module)


def test_imports_point_down() -> None:
    upward = [
        f"{src} (layer {_layer(src)}) imports {dst} (layer {_layer(dst)})"
        for src, targets in sorted(_graph().items())
        for dst in sorted(targets)
        if _layer(dst) < _layer(src)
    ]
    assert not upward, "imports running up the layers:\n" + "\n".join(upward)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles() -> None:
    assert _cycles(_graph()) == []


def test_the_checker_sees_a_cycle_and_an_upward_import() -> None:
    graph = {"promptctl.run.a": {"promptctl.run.b"}, "promptctl.run.b": {"promptctl.run.a"}}
    assert _cycles(graph) == [["promptctl.run.a", "promptctl.run.b"]]
    assert _layer("promptctl.suite.load") > _layer("promptctl.validate.registry")
    assert _layer("promptctl") < _layer("promptctl.cli") < _layer("promptctl.runtime.api")
    assert _layer("promptctl.version") == len(LAYERS) - 1


def test_only_the_cli_imports_typer_and_rich() -> None:
    offenders = []
    for module, path in _modules().items():
        if _layer(module) == CLI:
            continue
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            offenders += [f"{module}: {n}" for n in names if n.split(".")[0] in ("typer", "rich", "click")]
    assert not offenders


def test_no_module_is_over_500_lines() -> None:
    long = {m: n for m, p in _modules().items() if (n := len(p.read_text("utf-8").splitlines())) > 520}
    assert not long


@pytest.mark.parametrize("module", ["promptctl.validate.registry", "promptctl.validate.judge"])
def test_a_validator_module_imports_alone(module: str) -> None:
    """Importing any module of the validate package first, on its own, works and registers every
    built-in family (the registry does not depend on being imported last)."""
    code = (
        f"import {module}\n"
        "from promptctl.validate.registry import known_types\n"
        "assert 'judge' in known_types() and 'not_empty' in known_types(), known_types()\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
