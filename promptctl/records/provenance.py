"""What a run's verdicts depend on besides the prompts, cases and config: the files its validators
read — ``json_schema`` files, ``python`` validator modules with the repository modules they import,
and the ``_judge.yaml`` override. A run record is "dirty" when any of them has uncommitted changes
(its verdicts are not those of the commit), and ``compare`` lists the ones that differ between the
sides."""

from __future__ import annotations

import ast
from pathlib import Path

from promptctl.git.sources import Source
from promptctl.paths import confined
from promptctl.records.record import suite_state_paths
from promptctl.suite.load import Suite
from promptctl.suite.model import Config

JUDGE_OVERRIDE = "_judge.yaml"


def _module_file(source: Source, module: str) -> str | None:
    base = module.replace(".", "/")
    for rel in (f"{base}.py", f"{base}/__init__.py"):
        if source.exists(rel):
            return rel
    return None


def _imports(text: str, module: str, is_package: bool) -> list[str]:
    """The absolute names of the modules ``text`` imports (relative imports resolved)."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return []
    package = module if is_package else module.rpartition(".")[0]
    out: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".") if package else []
                parts = parts[: len(parts) - (node.level - 1)] if node.level > 1 else parts
                base = ".".join([*parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            out += [base] + [f"{base}.{a.name}" for a in node.names if base]
    return [n for n in out if n]


def python_files(source: Source, module: str) -> list[str]:
    """The files of ``module`` in the tree and of the repository modules it imports, transitively
    (packages' ``__init__.py`` included): what a ``python`` validator runs."""
    seen: set[str] = set()
    files: list[str] = []
    todo = [module]
    while todo:
        name = todo.pop()
        parts = name.split(".")
        for i in range(1, len(parts) + 1):  # the packages on the way, then the module itself
            sub = ".".join(parts[:i])
            if sub in seen:
                continue
            seen.add(sub)
            rel = _module_file(source, sub)
            if rel is None:
                continue
            files.append(rel)
            try:
                text = source.read_text(rel)
            except (OSError, UnicodeDecodeError):
                continue
            todo += _imports(text, sub, rel.endswith("__init__.py"))
    return sorted(set(files))


def grading_files(suite: Suite) -> dict[str, tuple[str, list[str]]]:
    """{path: (kind, case keys using it)} of every file the suite's validators read."""
    out: dict[str, tuple[str, list[str]]] = {}
    pdir = suite.config.prompts_dir.rstrip("/")
    modules: dict[str, list[str]] = {}

    def add(path: str, kind: str, key: str) -> None:
        users = out.setdefault(path, (kind, []))[1]
        if key not in users:
            users.append(key)

    for case in suite.cases:
        for a in case.asserts:
            if a.type == "json_schema" and isinstance(a.value, str):
                rel = confined(a.value)
                if rel is not None:
                    add(rel, "json_schema", case.key)
            elif a.type == "python" and isinstance(a.value, str) and ":" in a.value:
                module = a.value.partition(":")[0]
                if module not in modules:
                    modules[module] = python_files(suite.source, module)
                for rel in modules[module]:
                    add(rel, "python", case.key)
            elif a.type == "judge":
                add(f"{pdir}/{JUDGE_OVERRIDE}", "judge", case.key)
    return out


def state_paths(root: Path, config: Config, suite: Suite | None = None) -> list[str]:
    """The paths whose content a run's verdicts depend on, for the dirty check and content hash:
    the prompts and cases folders and the config, then (given the suite) the validators' files
    outside them that exist."""
    base = suite_state_paths(root, config.public_dict())
    if suite is None:
        return base
    inside = tuple(p.rstrip("/") + "/" for p in base)
    extra = [p for p in grading_files(suite) if not p.startswith(inside) and (Path(root) / p).is_file()]
    return base + sorted(extra)
