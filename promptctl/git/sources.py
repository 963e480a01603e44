"""Where suite files are read from: the worktree, or the tree of one commit.

Both answer the same three questions (:class:`Source`), so the loader reads the suite at any
revision with the same code. Nothing here writes the worktree or the index.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from promptctl.git.plumbing import open_repo, project_prefix, resolve_rev, short_sha
from promptctl.paths import real_path_inside, repo_relpath

if TYPE_CHECKING:
    import git


def _suffix_ok(name: str, suffixes: tuple[str, ...]) -> bool:
    return not suffixes or name.endswith(suffixes)


class Source(Protocol):
    """Where the loader reads suite files from: the worktree or one commit."""

    label: str

    def read_text(self, relpath: str) -> str:
        """UTF-8 text of a file; FileNotFoundError if missing, IsADirectoryError for a directory."""
        ...

    def exists(self, relpath: str) -> bool:
        """True for an existing file or directory."""
        ...

    def list_files(self, reldir: str, suffixes: tuple[str, ...]) -> list[str]:
        """Repo-relative posix paths of the files under ``reldir`` (recursive, sorted) whose name
        ends with one of ``suffixes`` (an empty tuple means every file). A missing dir gives []."""
        ...

    def resolves_within(self, relpath: str, reldir: str) -> bool:
        """Whether ``relpath``, symlinks followed, is a file under ``reldir`` of this tree."""
        ...


class WorktreeSource:
    """The files on disk, as the user sees them (uncommitted edits and untracked files included).

    Plain filesystem code: it must not import git. Directory symlinks are not followed when
    listing (no cycles). A file is read only when its real path (symlinks to files and
    directories resolved) is inside the repository and outside ``.git/``.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.label = "worktree"

    def _path(self, relpath: str) -> Path:
        rel = repo_relpath(relpath)
        return self.root / rel if rel else self.root

    def read_text(self, relpath: str) -> str:
        repo_relpath(relpath)  # ValueError for a path that escapes by its name
        # PermissionError when a symlink (of the file or of a directory on the way) leads out.
        return real_path_inside(self.root, relpath).read_text(encoding="utf-8")

    def resolves_within(self, relpath: str, reldir: str) -> bool:
        """Whether ``relpath``, symlinks followed, is a file under ``reldir`` of this tree."""
        real = self._path(relpath).resolve()
        return real.is_relative_to(self._path(reldir).resolve())

    def exists(self, relpath: str) -> bool:
        return self._path(relpath).exists()

    def list_files(self, reldir: str, suffixes: tuple[str, ...]) -> list[str]:
        rel = repo_relpath(reldir)
        base = self._path(reldir)
        if not base.is_dir():
            return []
        out: list[str] = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if d != ".git"]
            sub = Path(dirpath).relative_to(base).as_posix()
            prefix = "/".join(p for p in (rel, "" if sub == "." else sub) if p)
            out.extend(f"{prefix}/{f}" if prefix else f for f in filenames if _suffix_ok(f, suffixes))
        return sorted(out)

    def __repr__(self) -> str:
        return f"WorktreeSource({str(self.root)!r})"


class GitSource:
    """The files of one commit, read as blobs from its tree.

    Never touches the worktree or the index, so it is safe while the user has uncommitted edits
    (``promptctl diff HEAD~1`` reads the old suite next to the dirty one). ``label`` is the rev as
    given if it is a name (``main``, ``HEAD~1``), the short sha if it was a sha. Holds an open
    repository (GitPython keeps a ``git cat-file`` process): use as a context manager or call
    :meth:`close` when done.
    """

    def __init__(self, root: Path, rev: str) -> None:
        self.root = Path(root)
        self._repo = open_repo(self.root)
        try:
            # The project's place in the repository ("" at its top): paths given and returned are
            # the project's, the tree is the repository's.
            self._prefix = project_prefix(self._repo, self.root)
            self.sha = resolve_rev(self._repo, rev)
            self.short = short_sha(self._repo, self.sha)
            self._tree = self._repo.commit(self.sha).tree
        except BaseException:
            self._repo.close()
            raise
        is_sha = (
            len(rev) >= 4
            and all(c in "0123456789abcdefABCDEF" for c in rev)
            and self.sha.startswith(rev.lower())
        )
        self.label = self.short if is_sha else rev

    def _lookup(self, relpath: str) -> git.Tree | git.Blob | None:
        rel = (self._prefix + repo_relpath(relpath)).rstrip("/")
        if not rel:
            return self._tree
        try:
            obj = self._tree / rel
        except KeyError:
            return None
        import git

        if isinstance(obj, (git.Blob, git.Tree)):
            return obj
        return None  # a submodule entry: not readable from this tree

    def read_text(self, relpath: str) -> str:
        obj = self._lookup(relpath)
        if obj is None:
            raise FileNotFoundError(f"{relpath}: not in {self.label}")
        if obj.type == "tree":
            raise IsADirectoryError(f"{relpath}: is a directory in {self.label}")
        data: bytes = obj.data_stream.read()
        return data.decode("utf-8")

    def exists(self, relpath: str) -> bool:
        return self._lookup(relpath) is not None

    def resolves_within(self, relpath: str, reldir: str) -> bool:
        """A commit's tree is read as stored: a symlink is a blob holding its target, never followed."""
        rel, base = repo_relpath(relpath), repo_relpath(reldir)
        return not base or rel == base or rel.startswith(base + "/")

    def list_files(self, reldir: str, suffixes: tuple[str, ...]) -> list[str]:
        import git

        obj = self._lookup(reldir)
        if not isinstance(obj, git.Tree):
            return []
        cut = len(self._prefix)
        out = [
            str(item.path)[cut:]
            for item in obj.traverse()
            if isinstance(item, git.Blob) and _suffix_ok(item.name, suffixes)
        ]
        return sorted(out)

    def close(self) -> None:
        self._repo.close()

    def __enter__(self) -> GitSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"GitSource({str(self.root)!r}, {self.label!r})"
