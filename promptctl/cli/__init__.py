"""The command-line edge: the only layer that touches typer and rich, parses options, calls the
core, prints, and turns PromptctlError into a message and an exit code.

``promptctl --help`` is answered from a pre-rendered copy of the help (``help.txt``) without
importing typer and click (~70 ms of a ~150 ms budget). A test renders the help through typer and
fails when the copy is stale; ``python -m promptctl.cli.helptext`` rewrites it. The copy is used
only where click would print exactly the same text: a terminal at least 80 columns wide (click
caps help at 80) or no terminal at all.
"""

from __future__ import annotations

import os
import shutil
import sys

HELP_WIDTH = 80


def _fast_help(argv: list[str]) -> bool:
    if argv not in (["--help"], ["-h"]):
        return False
    columns = shutil.get_terminal_size((HELP_WIDTH, 24)).columns
    if columns < HELP_WIDTH:
        return False
    path = os.path.join(os.path.dirname(__file__), "help.txt")
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError:
        return False
    sys.stdout.write(text)
    sys.stdout.flush()
    return True


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if _fast_help(args):
        sys.exit(0)
    from promptctl.cli.app import main as app_main

    app_main(argv)


__all__ = ["main"]
