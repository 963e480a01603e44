"""The one error hierarchy of promptctl.

The core raises these and never prints or exits; the CLI edge (``promptctl.cli``) turns them
into a message and an exit code. Keeping the exit code on the class means every command agrees
on what 2 or 3 means without a lookup table in each verb.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_INVALID = 2
EXIT_EXECUTION = 3
EXIT_NO_CASES = 5  # as pytest's "no tests collected": a selection typo must not pass CI
EXIT_INTERRUPTED = 130


@dataclass(frozen=True, order=True)
class Problem:
    """One located problem in a user's file: ``path:line:col: message``.

    ``line`` and ``col`` are 1-based; 0 means "the whole file" (e.g. it cannot be read).
    """

    path: str
    line: int
    col: int
    message: str
    severity: str = "error"  # "error" | "warning"

    def format(self) -> str:
        where = self.path if self.line <= 0 else f"{self.path}:{self.line}:{max(self.col, 1)}"
        prefix = "" if self.severity == "error" else "warning: "
        return f"{where}: {prefix}{self.message}"

    @property
    def is_error(self) -> bool:
        return self.severity == "error"


class PromptctlError(Exception):
    """Base of every error promptctl reports to a user. ``exit_code`` is what the CLI exits with."""

    exit_code = EXIT_INVALID

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def render(self) -> str:
        return self.message if not self.hint else f"{self.message}\nhint: {self.hint}"


class UsageError(PromptctlError):
    """Bad command-line usage or a missing project (exit 2)."""


class InputError(PromptctlError):
    """One or more problems in the user's files (exit 2). Carries every problem found, not just the first."""

    in_lint = True  # whether `promptctl lint` lists these problems too (not so for a feedback file)

    def __init__(self, problems: Iterable[Problem], message: str | None = None) -> None:
        self.problems = sorted(set(problems))
        errors = [p for p in self.problems if p.is_error]
        super().__init__(message or f"{len(errors)} error(s) in input files")

    def render(self) -> str:
        return "\n".join(p.format() for p in self.problems)

    def __str__(self) -> str:  # what an application logs: every problem, not only their count
        return f"{self.message}:\n{self.render()}" if self.problems else self.message


class ExecutionError(PromptctlError):
    """Model calls or other execution failed after retries (exit 3)."""

    exit_code = EXIT_EXECUTION


class GitError(PromptctlError):
    """A git operation failed or a ref does not exist (exit 2: it is the user's input that is wrong)."""


class RemoteRejected(GitError):
    """A remote refused an update that is not a fast-forward (someone pushed first). Nothing the
    user typed is wrong, so not a usage error (exit 3): pull, then push again."""

    exit_code = EXIT_EXECUTION


class NothingSelected(PromptctlError):
    """The selection (paths, -k, --tag, --shard, ...) matched no case (exit 5)."""

    exit_code = EXIT_NO_CASES


class Interrupted(PromptctlError):
    """The run was interrupted (Ctrl-C / SIGTERM); finished work was kept (exit 130)."""

    exit_code = EXIT_INTERRUPTED
