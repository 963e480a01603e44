"""Who gives a verdict: the git identity of the repository, as ``git commit`` would record it."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path

from promptctl.errors import UsageError
from promptctl.git.plumbing import git_cli


def _config(root: Path, key: str) -> str:
    try:
        code, out = git_cli(root, "config", "--get", key, ok=(0, 1))
    except OSError:  # no git at all
        return ""
    return out.strip() if code == 0 else ""


def reviewer(root: Path) -> str:
    """``Name <email>``: ``GIT_AUTHOR_NAME``/``GIT_AUTHOR_EMAIL`` when set (as git uses them), else
    ``git config user.name``/``user.email`` of the repository (local, global or system); a
    UsageError saying how to set it when either is missing — a verdict is never anonymous."""
    name = os.environ.get("GIT_AUTHOR_NAME") or _config(root, "user.name")
    email = os.environ.get("GIT_AUTHOR_EMAIL") or _config(root, "user.email")
    if not name or not email:
        missing = " and ".join(k for k, v in (("user.name", name), ("user.email", email)) if not v)
        raise UsageError(
            f"no git identity to sign the verdicts with ({missing} not set)",
            hint='set it with `git config user.name "Your Name"` and `git config user.email you@example.com`',
        )
    return f"{name} <{email}>"


def now() -> str:
    """The time of a verdict: UTC, to the second (ISO 8601 with ``Z``)."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
