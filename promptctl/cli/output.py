"""Printing: rich on a terminal, plain text when piped; NO_COLOR honoured (rich does that).

Text from users' files and from models (case ids, outputs, reasons) may hold terminal control
characters: an ESC sequence would recolour the terminal, move the cursor, retitle the window or
worse. Everything printed for people goes through :func:`visible`, which shows them as escapes
(``\\x1b[31m``) instead; content printed as data (``run``'s answer, ``render``'s messages) is
escaped only on a terminal, so a pipe or a file still gets the exact text.
"""

from __future__ import annotations

import os
import re
import sys
from typing import Any

from promptctl.errors import Problem

# C0 controls, DEL, C1 controls, and the Unicode bidirectional overrides and isolates (text
# that displays in another order than it reads).
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NOT_ESCAPED_BY_JSON = re.compile(r"[\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_NAMED = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(m: re.Match[str]) -> str:
    ch = m.group()
    return _NAMED.get(ch) or (f"\\x{ord(ch):02x}" if ord(ch) < 0x100 else f"\\u{ord(ch):04x}")


def visible(text: str, *, keep_lines: bool = False) -> str:
    """``text`` with every control character shown as its escape (``\\x1b``, ``\\r``,
    ``\\u202e``); ``keep_lines`` leaves newlines and tabs as they are."""
    return (_CONTROL_BUT_LINES if keep_lines else _CONTROL).sub(_escape, text)


def write_content(text: str) -> None:
    """Model output or rendered text as data: exact into a pipe or file, visible on a terminal
    (newlines and tabs kept). Flushed, for streaming."""
    sys.stdout.write(visible(text, keep_lines=True) if sys.stdout.isatty() else text)
    sys.stdout.flush()


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
    """A line for people: every key value in it masked (promptctl.secrets), as in all output;
    control characters shown visibly (newlines and tabs kept)."""
    from promptctl.secrets import mask

    stream = sys.stderr if err else sys.stdout
    stream.write(visible(mask(text), keep_lines=True) + "\n")


def print_json(data: Any) -> None:
    import json

    from promptctl.secrets import mask_data

    # json escapes C0 controls itself; DEL, C1 and bidi controls (only ever inside strings) are
    # written as \\u escapes too (the same JSON value), so a terminal never receives them raw.
    text = json.dumps(mask_data(data), indent=2, ensure_ascii=False, default=str)
    sys.stdout.write(_NOT_ESCAPED_BY_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text) + "\n")


# Problems this command already showed through show_once (cleared as each command starts).
SHOWN: set[Problem] = set()


def show_once(problems: list[Problem]) -> None:
    """Show ``problems`` on stderr now, each once per command: a later print_problems of a list
    that holds them too (a failing run's problems) leaves them out."""
    for p in problems:
        if p not in SHOWN:
            SHOWN.add(p)
            echo(p.format(), err=True)


def print_problems(problems: list[Problem], *, err: bool = False) -> None:
    for p in problems:
        if p not in SHOWN:
            echo(p.format(), err=err)


def table(columns: list[str], rows: list[list[str]], *, title: str | None = None) -> None:
    """A table: rich box on a terminal, tab-free aligned text when piped (stable for scripts)."""
    from promptctl.secrets import mask_data

    rows = [[visible(v) for v in r] for r in mask_data(rows)]
    if is_tty():
        from rich.table import Table
        from rich.text import Text

        t = Table(title=title, show_lines=False)
        for c in columns:
            t.add_column(c, overflow="fold")
        for r in rows:
            t.add_row(*(Text(v) for v in r))  # Text: a "[bold]" in a case id is not markup
        console().print(t)
        return
    widths = [max(len(c), *(len(r[i]) for r in rows)) if rows else len(c) for i, c in enumerate(columns)]
    if title:
        echo(title)
    echo("  ".join(c.ljust(widths[i]) for i, c in enumerate(columns)).rstrip())
    for r in rows:
        echo("  ".join(v.ljust(widths[i]) for i, v in enumerate(r)).rstrip())
