"""Repository-relative paths from users' files, confined to where they are allowed to point.

One rule for every path a suite file names (an include, a ``{file:}`` var, a dataset, a schema
file): a posix path, relative, and after normalisation still inside its base, never naming a
``.git`` directory — so no file outside the repository (or outside ``prompts/`` for includes), and
nothing of git's own (its config, its hooks), can be read through a prompt. On disk the rule holds
for the *real* path too (:func:`real_path_inside`): a symlink, to a file or to a directory
anywhere on the way, cannot lead out of the repository or into ``.git/``.
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

_DRIVE = re.compile(r"^[A-Za-z]:")


def confined(rel: str, base: str = "") -> str | None:
    """``base/rel`` normalised, or None when ``rel`` is absolute, a Windows path, escapes ``base``
    (``..``) or names a ``.git`` directory (any case: case-insensitive file systems). ``base`` is
    itself a repository-relative directory ("" = the root)."""
    if not rel or rel.startswith("/") or "\\" in rel or "\0" in rel or _DRIVE.match(rel):
        return None
    norm = posixpath.normpath(rel)
    if norm in (".", "..") or norm.startswith("../"):
        return None
    if any(part.lower() == ".git" for part in norm.split("/")):
        return None
    return posixpath.join(base, norm) if base else norm


def repo_relpath(relpath: str) -> str:
    """A repository-relative posix path, normalised ("" is the root); ValueError when it is
    absolute, a Windows path, or escapes the repository (the :func:`confined` rule)."""
    if relpath in ("", "."):
        return ""
    norm = confined(relpath)
    if norm is None:
        raise ValueError(f"path must be a relative posix path inside the repository: {relpath!r}")
    return norm


def real_path_inside(root: Path, rel: str) -> Path:
    """The real path (every symlink resolved) of ``root/rel``; PermissionError when ``rel`` breaks
    the :func:`confined` rule or its real path lies outside ``root`` or inside its ``.git/``."""
    norm = confined(rel) if rel not in ("", ".") else ""
    if norm is None:
        raise PermissionError(f"{rel} is not a path inside the repository")
    real_root = Path(root).resolve()
    real = (Path(root) / norm).resolve()
    try:
        inner = real.relative_to(real_root)
    except ValueError:
        raise PermissionError(f"{rel} resolves outside the repository") from None
    if any(part.lower() == ".git" for part in inner.parts):
        raise PermissionError(f"{rel} resolves into .git/, which is never read")
    return real
