"""Running git: GitPython repositories opened lazily, commands whose failure is git's own words.

GitPython is imported inside the functions that need it: ``import git`` costs ~0.12 s and commands
that never touch git (``promptctl list`` on the worktree) must not pay it. Git commands go
through :func:`run`, which turns a failure into :class:`GitError` carrying the first line of git's
stderr (GitPython's own exception text is a multi-line dump of the command line). The hot path
of every ``test`` run (HEAD, the dirty check) runs the ``git`` binary directly (:func:`git_cli`).
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from promptctl.errors import GitError, RemoteRejected

if TYPE_CHECKING:
    import git


def open_repo(root: Path) -> git.Repo:
    """The repository ``root`` is in (a project may live in a subdirectory of it)."""
    import git

    try:
        return git.Repo(root, search_parent_directories=True)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise GitError(
            f"not a git repository: {root}", hint="run promptctl inside a git checkout (or `git init`)"
        ) from None


def project_prefix(repo: git.Repo, root: Path) -> str:
    """Where the project at ``root`` sits in ``repo``'s tree: ``""`` at its top, else the
    repository-relative directory with a trailing ``/``. Git speaks repository paths; promptctl
    speaks project paths."""
    top = Path(repo.working_tree_dir or root).resolve()
    inside = Path(root).resolve().relative_to(top).as_posix()
    return "" if inside == "." else inside + "/"


@contextmanager
def repo_at(root: Path) -> Iterator[git.Repo]:
    repo = open_repo(root)
    try:
        yield repo
    finally:
        repo.close()


_PULL_FIRST = "pull the notes first (`promptctl records pull`), then push again"
# Words of git's that say a push was refused because the remote moved on (not a usage error).
_REJECTED = ("non-fast-forward", "fetch first", "rejected")
_HINTS = (
    ("does not appear to be a git repository", "check the remote name (`git remote -v`)"),
    ("could not read from remote", "check the remote URL and your credentials"),
    *((word, _PULL_FIRST) for word in _REJECTED),
)


def run(repo: git.Repo, *args: str, ok_codes: tuple[int, ...] = (0,)) -> str:
    """Run ``git <args>`` in the repo; GitError with git's first stderr line on failure.

    Uses GitPython's command runner without exceptions so the message is git's own words.
    """
    status, out, err = repo.git.execute(["git", *args], with_extended_output=True, with_exceptions=False)
    if status not in ok_codes:
        raise_from_stderr(args[0] if args[0] != "--literal-pathspecs" else args[1], int(status), str(err))
    return str(out)


def raise_from_stderr(verb: str, status: int, err: str) -> None:
    lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
    first = next(
        (ln for ln in lines if ln.lower().startswith(("fatal:", "error:"))), lines[0] if lines else ""
    )
    hint = next((h for key, h in _HINTS if key in err.lower()), None)
    message = f"git {verb} failed: {first or f'exit code {status}'}"
    if verb == "push" and any(word in err.lower() for word in _REJECTED):
        raise RemoteRejected(message, hint=hint)
    raise GitError(message, hint=hint)


def check_rev(rev: str) -> None:
    if not rev or rev.startswith("-") or "\0" in rev:
        raise GitError(f"invalid revision {rev!r}")


def resolve_rev(repo: git.Repo, rev: str) -> str:
    check_rev(rev)
    status, out, _err = repo.git.execute(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        with_extended_output=True,
        with_exceptions=False,
    )
    if status != 0 or not str(out).strip():
        raise GitError(
            f"unknown revision '{rev}'{_close_ref(repo, rev)}",
            hint="check the name with `git log --oneline` or fetch it",
        )
    return str(out).strip()


def _close_ref(repo: git.Repo, rev: str) -> str:
    """``; did you mean 'main'?`` when a branch, tag or remote branch is close to ``rev``."""
    from promptctl.suggest import closest

    status, out, _err = repo.git.execute(
        ["git", "for-each-ref", "--format=%(refname:short)", "refs/heads", "refs/tags", "refs/remotes"],
        with_extended_output=True,
        with_exceptions=False,
    )
    names = str(out).split() if status == 0 else []
    close = closest(rev, names)
    return f"; did you mean '{close}'?" if close else ""


def short_sha(repo: git.Repo, sha: str) -> str:
    return run(repo, "rev-parse", "--short", sha).strip()


def ref_sha(repo: git.Repo, ref: str) -> str | None:
    status, out, _err = repo.git.execute(
        ["git", "rev-parse", "--verify", "--quiet", ref], with_extended_output=True, with_exceptions=False
    )
    return str(out).strip() if status == 0 and str(out).strip() else None


def find_repo_root(start: Path) -> Path | None:
    """The top of the git worktree containing ``start`` (a ``.git`` dir or file), or None.

    Pure filesystem walk (no git import, no subprocess): called on every command.
    """
    cur = Path(start).resolve()
    if cur.is_file():
        cur = cur.parent
    for d in (cur, *cur.parents):
        if (d / ".git").exists():
            return d
    return None


def git_cli(root: Path, *args: str, ok: tuple[int, ...] = (0,)) -> tuple[int, str]:
    """Run the ``git`` binary directly. Used on the hot path of every ``test`` run (HEAD, dirty
    check), where importing GitPython (~0.1 s) would cost more than the git commands themselves."""
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, check=False)
    if proc.returncode not in ok:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {err[0] if err else f'exit {proc.returncode}'}")
    return proc.returncode, proc.stdout.decode("utf-8", "surrogateescape")
