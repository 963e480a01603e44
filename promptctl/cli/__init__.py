"""The command-line edge: the only layer that touches typer and rich, parses options, calls the
core, prints, and turns PromptctlError into a message and an exit code."""

from promptctl.cli.app import main

__all__ = ["main"]
