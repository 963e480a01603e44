"""Facts about the repository: HEAD, a revision's commit, the dirty check and content hash, commit
metadata, the default branch, merge bases and changed files."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import TypedDict

from promptctl.errors import GitError, UsageError
from promptctl.git.plumbing import (
    find_repo_root,
    git_cli,
    project_prefix,
    ref_sha,
    repo_at,
    resolve_rev,
    run,
    short_sha,
)
from promptctl.paths import repo_relpath


def head_commit(root: Path) -> str | None:
    """Full sha of HEAD; None when ``root`` is not a repository or has no commits yet."""
    if find_repo_root(root) is None:
        return None
    try:
        code, out = git_cli(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", ok=(0, 1))
    except (GitError, OSError):
        return None
    return out.strip() if code == 0 and out.strip() else None


def resolve(root: Path, rev: str) -> str:
    """Full sha of the commit ``rev`` names (any git rev syntax); GitError "unknown revision" if none."""
    with repo_at(root) as repo:
        return resolve_rev(repo, rev)


def is_dirty(root: Path, paths: list[str]) -> bool:
    """True if anything under ``paths`` differs from HEAD: staged, unstaged or untracked (not
    ignored) files. An empty ``paths`` list means the whole repository. Paths are literal
    (no globbing), relative to the repository root."""
    rels = [repo_relpath(p) or "." for p in paths]
    _code, out = git_cli(
        root, "--literal-pathspecs", "status", "--porcelain=v1", "-z", "--untracked-files=all", "--", *rels
    )
    return bool(out.strip("\0").strip())


def content_hash(root: Path, paths: list[str]) -> str:
    """sha256 (hex) over the worktree content of the files under ``paths``.

    Files are those git would see (tracked and untracked, ignored ones excluded) that exist on
    disk, in sorted path order; each contributes its path, size and bytes (symlinks: their
    target), so renames and moves change the hash. Identical content gives the identical hash on
    any machine, which is what lets a dirty run record say *which* dirty state it measured.
    Outside a git repository every file under ``paths`` is hashed.
    """
    root = Path(root)
    rels = [repo_relpath(p) or "." for p in paths]
    if find_repo_root(root) is not None:
        _code, out = git_cli(
            root,
            "--literal-pathspecs",
            "ls-files",
            "-z",
            "--cached",
            "--others",
            "--exclude-standard",
            "--",
            *rels,
        )
        files = sorted({f for f in out.split("\0") if f})
    else:
        files = sorted(
            {
                (Path(dp) / f).relative_to(root).as_posix()
                for rel in rels
                for dp, _dirs, fs in os.walk(root / rel)
                for f in fs
            }
            | {rel for rel in rels if (root / rel).is_file()}
        )
    h = hashlib.sha256()
    for rel in files:
        path = root / rel
        if path.is_symlink():
            data = os.readlink(path).encode("utf-8", "surrogateescape")
        elif path.is_file():
            data = path.read_bytes()
        else:  # deleted tracked file, submodule directory
            continue
        name = rel.encode("utf-8", "surrogateescape")
        h.update(b"%d:%s\0%d\0" % (len(name), name, len(data)))
        h.update(data)
    return h.hexdigest()


class CommitInfo(TypedDict):
    sha: str
    short: str
    subject: str
    author: str
    author_email: str
    date: str  # author date, ISO 8601 with offset


def commit_info(root: Path, sha: str) -> CommitInfo:
    """Who/what/when of a commit (any rev accepted); the date is the author date in ISO 8601."""
    with repo_at(root) as repo:
        full = resolve_rev(repo, sha)
        c = repo.commit(full)
        message = c.message if isinstance(c.message, str) else c.message.decode("utf-8", "replace")
        return CommitInfo(
            sha=full,
            short=short_sha(repo, full),
            subject=message.split("\n", 1)[0].strip(),
            author=str(c.author.name or ""),
            author_email=str(c.author.email or ""),
            date=c.authored_datetime.isoformat(),
        )


def default_branch(root: Path) -> str | None:
    """A rev naming the default branch, for "compare against the base" in CI.

    ``origin/HEAD``'s target if set (returned as ``origin/<branch>``: in CI the remote-tracking
    ref is the up-to-date one), else local ``main``, else ``master``, else ``origin/main`` /
    ``origin/master`` (a CI checkout often has only those). None if none exists.
    """
    with repo_at(root) as repo:
        status, out, _err = repo.git.execute(
            ["git", "symbolic-ref", "-q", "refs/remotes/origin/HEAD"],
            with_extended_output=True,
            with_exceptions=False,
        )
        target = str(out).strip()
        if status == 0 and target.startswith("refs/remotes/") and ref_sha(repo, target):
            return target[len("refs/remotes/") :]
        for ref, name in (
            ("refs/heads/main", "main"),
            ("refs/heads/master", "master"),
            ("refs/remotes/origin/main", "origin/main"),
            ("refs/remotes/origin/master", "origin/master"),
        ):
            if ref_sha(repo, ref):
                return name
    return None


_SHALLOW_HINT = "the clone is shallow: fetch full history (`git fetch --unshallow`; fetch-depth: 0 in CI)"


def merge_base(root: Path, a: str, b: str) -> str:
    """Full sha of the best common ancestor of ``a`` and ``b``; GitError if they share none."""
    with repo_at(root) as repo:
        sa, sb = resolve_rev(repo, a), resolve_rev(repo, b)
        status, out, _err = repo.git.execute(
            ["git", "merge-base", sa, sb], with_extended_output=True, with_exceptions=False
        )
        if status != 0 or not str(out).strip():
            shallow = Path(repo.git_dir, "shallow").exists()
            raise GitError(
                f"no common ancestor between '{a}' and '{b}'",
                hint=_SHALLOW_HINT if shallow else None,
            )
        return str(out).strip()


def changed_files(
    root: Path, base_sha: str, head: str | None = None, paths: list[str] | None = None
) -> list[tuple[str, str]]:
    """``(status, path)`` for files that differ between ``base_sha`` and ``head``, sorted by path.

    ``head=None`` compares with the worktree (staged + unstaged edits) and adds untracked,
    non-ignored files as ``"A"``. Status is git's letter: A added, M modified, D deleted,
    T type change. Renames are reported as D + A (``--no-renames``) so every entry has one path.
    ``paths`` optionally restricts to literal pathspecs.
    """
    with repo_at(root) as repo:
        prefix = project_prefix(repo, root)
        specs = [(prefix + repo_relpath(p)).rstrip("/") or "." for p in paths or []] or (
            [prefix.rstrip("/")] if prefix else []
        )
        base = resolve_rev(repo, base_sha)
        revs = [base] if head is None else [base, resolve_rev(repo, head)]
        out = run(
            repo, "--literal-pathspecs", "diff", "--name-status", "-z", "--no-renames", *revs, "--", *specs
        )
        tokens = [t for t in out.split("\0") if t]
        result = {tokens[i + 1]: tokens[i][0] for i in range(0, len(tokens) - 1, 2)}
        if head is None:
            untracked = run(
                repo, "--literal-pathspecs", "ls-files", "-z", "--others", "--exclude-standard", "--", *specs
            )
            for f in untracked.split("\0"):
                if f:
                    result.setdefault(f, "A")
    inside = ((s, p[len(prefix) :]) for p, s in result.items() if p.startswith(prefix))
    return sorted(inside, key=lambda t: t[1])


def default_base(root: Path) -> str:
    """The merge-base of HEAD with the default branch: what a pull request would be compared with."""
    branch = default_branch(root)
    if branch is None:
        raise UsageError("no default branch (main/master) to compare with", hint="give BASE explicitly")
    return merge_base(root, "HEAD", branch)
