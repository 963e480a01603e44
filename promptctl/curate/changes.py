"""Putting a checked file change into the repository: written atomically into the worktree, or
committed on a new branch (for a pull request) without touching the worktree or the index."""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from promptctl.atomic import write_text_atomic
from promptctl.curate.yamledit import unified_diff
from promptctl.errors import GitError, UsageError


@dataclass(frozen=True)
class FileChange:
    path: str  # repository-relative
    before: str  # "" for a new file
    after: str
    created: bool = False

    @property
    def diff(self) -> str:
        return unified_diff(self.before, self.after, self.path)


def write_changes(root: Path, changes: list[FileChange]) -> None:
    for change in changes:
        write_text_atomic(Path(root) / change.path, change.after)


def _git(root: Path, *args: str, env: dict[str, str] | None = None, data: str | None = None) -> str:
    proc = subprocess.run(
        ["git", *args],
        cwd=root,
        env={**os.environ, **(env or {})},
        input=data.encode("utf-8") if data is not None else None,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {err[0] if err else f'exit {proc.returncode}'}")
    return proc.stdout.decode("utf-8", "replace")


def check_branch(root: Path, branch: str) -> str:
    """The commit the new branch will start from (HEAD); UsageError for a bad or taken name."""
    try:
        _git(root, "check-ref-format", "--branch", branch)
    except GitError:
        raise UsageError(f"'{branch}' is not a valid branch name") from None
    if _git(root, "branch", "--list", branch).strip():
        raise UsageError(f"branch '{branch}' already exists; choose a new name")
    try:
        return _git(root, "rev-parse", "--verify", "HEAD^{commit}").strip()
    except GitError:
        raise UsageError("the repository has no commit yet to branch from") from None


def commit_on_new_branch(root: Path, branch: str, changes: list[FileChange], message: str) -> str:
    """Commit ``changes`` on top of HEAD as the new branch ``branch``; returns the commit sha.
    Plumbing only (a temporary index), so the worktree, the index and the current branch stay
    exactly as they were. The author is the repository's git identity."""
    head = check_branch(root, branch)
    with tempfile.TemporaryDirectory(prefix="promptctl-index-") as tmp:
        env = {"GIT_INDEX_FILE": os.path.join(tmp, "index")}
        _git(root, "read-tree", head, env=env)
        for change in changes:
            listed = _git(root, "ls-tree", head, "--", change.path).split()
            mode = listed[0] if listed else "100644"
            blob = _git(root, "hash-object", "-w", "--stdin", data=change.after).strip()
            _git(root, "update-index", "--add", "--cacheinfo", f"{mode},{blob},{change.path}", env=env)
        tree = _git(root, "write-tree", env=env).strip()
    commit = _git(root, "commit-tree", tree, "-p", head, "-m", message).strip()
    _git(root, "update-ref", f"refs/heads/{branch}", commit, "")  # "": only if it does not exist
    return commit
