"""Render ``promptctl --help`` through typer; ``python -m promptctl.cli.helptext`` rewrites the
pre-rendered copy the fast path prints (see ``promptctl.cli``)."""

from __future__ import annotations

import io
import os
from contextlib import redirect_stdout, suppress
from pathlib import Path

from promptctl.cli import HELP_WIDTH


def render_help() -> str:
    """The top-level help exactly as typer/click print it at the full help width."""
    from promptctl.cli.app import app_main

    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = str(HELP_WIDTH + 20)
    buf = io.StringIO()
    try:
        with redirect_stdout(buf), suppress(SystemExit):
            app_main(["--help"])
    finally:
        if old is None:
            os.environ.pop("COLUMNS", None)
        else:
            os.environ["COLUMNS"] = old
    return buf.getvalue()


def write_help() -> Path:
    path = Path(__file__).with_name("help.txt")
    path.write_text(render_help(), encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write_help())
