"""Printing: rich on a terminal, plain text when piped; NO_COLOR honoured (rich does that)."""

from __future__ import annotations

import os
import sys
from typing import Any

from promptctl.errors import Problem

_consoles: dict[bool, Any] = {}


def console(stderr: bool = False) -> Any:
    """A rich Console, created on first use (rich costs import time that --help should not pay)."""
    c = _consoles.get(stderr)
    if c is None:
        from rich.console import Console

        c = Console(
            stderr=stderr, highlight=False, soft_wrap=not (sys.stderr if stderr else sys.stdout).isatty()
        )
        _consoles[stderr] = c
    return c


def is_tty() -> bool:
    return sys.stdout.isatty() and os.environ.get("TERM") != "dumb"


def echo(text: str = "", *, err: bool = False) -> None:
    """Print a line; every key value in it masked (promptctl.secrets), as in all output."""
    from promptctl.secrets import mask

    stream = sys.stderr if err else sys.stdout
    stream.write(mask(text) + "\n")


def print_json(data: Any) -> None:
    import json

    from promptctl.secrets import mask_data

    sys.stdout.write(json.dumps(mask_data(data), indent=2, ensure_ascii=False, default=str) + "\n")


def print_problems(problems: list[Problem], *, err: bool = False) -> None:
    for p in problems:
        echo(p.format(), err=err)


def table(columns: list[str], rows: list[list[str]], *, title: str | None = None) -> None:
    """A table: rich box on a terminal, tab-free aligned text when piped (stable for scripts)."""
    from promptctl.secrets import mask_data

    rows = mask_data(rows)
    if is_tty():
        from rich.table import Table

        t = Table(title=title, show_lines=False)
        for c in columns:
            t.add_column(c, overflow="fold")
        for r in rows:
            t.add_row(*r)
        console().print(t)
        return
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
    if title:
        echo(title)
    echo("  ".join(c.ljust(widths[i]) for i, c in enumerate(columns)).rstrip())
    for r in rows:
        echo("  ".join(v.ljust(widths[i]) for i, v in enumerate(r)).rstrip())
