"""Repository-relative paths from users' files, confined to where they are allowed to point.

One rule for every path a suite file names (an include, a ``{file:}`` var, a dataset, a schema
file): a posix path, relative, and after normalisation still inside its base — so no file
outside the repository (or outside ``prompts/`` for includes) can be read through a prompt.
"""

from __future__ import annotations

import posixpath
import re

_DRIVE = re.compile(r"^[A-Za-z]:")


def confined(rel: str, base: str = "") -> str | None:
    """``base/rel`` normalised, or None when ``rel`` is absolute, a Windows path, or escapes
    ``base`` (``..``). ``base`` is itself a repository-relative directory ("" = the root)."""
    if not rel or rel.startswith("/") or "\\" in rel or "\0" in rel or _DRIVE.match(rel):
        return None
    norm = posixpath.normpath(rel)
    if norm in (".", "..") or norm.startswith("../"):
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
