"""The command-line edge: the only layer that touches typer and rich, parses options, calls the
core, prints, and turns PromptctlError into a message and an exit code."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> None:
    from promptctl.cli.app import app_main

    app_main(argv)


__all__ = ["main"]
