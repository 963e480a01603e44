"""Every command a message names exists: scan the package's strings for `promptctl VERB [--option]`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import typer

import promptctl
from promptctl.cli.app import app

PACKAGE = Path(promptctl.__file__).parent
# "promptctl VERB", then the rest of that command up to where a shell or a sentence ends it.
_COMMAND = re.compile(r"promptctl ([a-z][a-z-]*)([^`)\n;|&]*)")


def _docstrings(tree: ast.AST) -> set[int]:
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


def package_strings() -> list[tuple[str, str]]:
    """(where, text) of every string a user can see: Python string literals other than docstrings
    (f-strings' literal parts included) and every line of the shipped templates."""
    out: list[tuple[str, str]] = []
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text("utf-8"))
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs:
                out.append((f"{path.relative_to(PACKAGE)}:{node.lineno}", node.value))
    for path in sorted((PACKAGE / "templates").rglob("*")):
        if path.is_file():
            for n, line in enumerate(path.read_text("utf-8").splitlines(), 1):
                out.append((f"{path.relative_to(PACKAGE)}:{n}", line))
    return out


def _options(cmd: click.Command) -> set[str]:
    return {o for p in cmd.params if isinstance(p, click.Option) for o in (*p.opts, *p.secondary_opts)}


def problems_in(text: str, root: click.Group) -> list[str]:
    out = []
    for m in _COMMAND.finditer(text):
        verb, rest = m.group(1), m.group(2).split()
        cmd = root.commands.get(verb)
        if cmd is None:
            before = text[: m.start()].rstrip(" ")
            if before.endswith(("`", "(")):
                out.append(f"`promptctl {verb}`: no such command")
            continue  # prose: "promptctl reads version 1"
        name = verb
        if isinstance(cmd, click.Group):
            sub = rest[0] if rest else None
            if sub is None or sub not in cmd.commands:
                out.append(f"`promptctl {verb} {sub or ''}`: no such subcommand")
                continue
            cmd, name, rest = cmd.commands[sub], f"{verb} {sub}", rest[1:]
        for token in rest:
            opt = token.split("=", 1)[0]
            if opt.startswith("-") and opt not in _options(cmd):
                out.append(f"`promptctl {name} {opt}`: no such option")
    return out


def test_every_command_named_in_a_message_exists() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, click.Group)
    found = 0
    bad = []
    for where, text in package_strings():
        found += len(_COMMAND.findall(text))
        bad += [f"{where}: {p}" for p in problems_in(text, root)]
    assert found > 20  # the scan does see the hints
    assert not bad, "\n".join(bad)


def test_the_scan_catches_a_wrong_verb_subcommand_and_option() -> None:
    root = typer.main.get_command(app)
    assert isinstance(root, click.Group)
    assert problems_in("pull first (promptctl notes pull)", root) == ["`promptctl notes`: no such command"]
    assert problems_in("run `promptctl run --record`", root) == ["`promptctl run --record`: no such option"]
    assert problems_in("`promptctl records fetch`", root) == ["`promptctl records fetch`: no such subcommand"]
    assert problems_in("run `promptctl test --record -k x`", root) == []
    assert problems_in("this promptctl reads version 1", root) == []
