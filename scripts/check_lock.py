"""Check that this interpreter's environment holds exactly what requirements.lock pins for it.

    <venv>/bin/python scripts/check_lock.py [LOCK] [--dist NAME] [--extra EXTRA]

.ci/run runs it in every venv it installs from the lock. It walks the installed dependency tree of
promptctl-git[dev] (the distribution and extra the README's quickstart installs) and fails when

- a distribution in that tree is not pinned by the lock for this interpreter (the lock no longer
  covers pyproject.toml: a new dependency, or a new release pulling in a new one),
- one is installed at another version than the lock pins (not installed from the lock),
- the lock pins something for this interpreter that is not installed (a stale lock).

Distributions outside that tree (installed by hand) are listed but do not fail the check. The lock
is a pip constraints file: ``name==version`` lines, optionally with an environment marker.
Exit codes: 0 in step, 1 out of step (each difference on its own line), 2 bad usage or lock file.
Needs only the standard library and ``packaging`` (in the dev extra).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

# Installed by `python -m venv` itself, never pinned: not part of what the lock describes.
BOOTSTRAP = {"pip", "setuptools", "wheel"}
REFRESH = "refresh it with scripts/lock.sh"


class LockError(Exception):
    """The lock file itself is unusable (exit 2)."""


def read_lock(path: Path) -> dict[str, str]:
    """The pins of ``path`` that apply to this interpreter: canonical name -> version.

    A marker is evaluated for the running interpreter and platform (packaging's default environment)."""
    pins: dict[str, str] = {}
    for lineno, raw in enumerate(path.read_text("utf-8").splitlines(), 1):
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        try:
            req = Requirement(line)
        except InvalidRequirement as exc:
            raise LockError(f"{path}:{lineno}: not a pin: {exc}") from exc
        specs = list(req.specifier)
        if len(specs) != 1 or specs[0].operator != "==":
            raise LockError(f"{path}:{lineno}: expected name==version, got {line!r}")
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(req.name)
        if name in pins and pins[name] != specs[0].version:
            raise LockError(f"{path}:{lineno}: {name} pinned twice for this interpreter")
        pins[name] = specs[0].version
    return pins


def installed() -> dict[str, metadata.Distribution]:
    """Every installed distribution by canonical name (the first on sys.path wins, as for import)."""
    out: dict[str, metadata.Distribution] = {}
    for dist in metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            out.setdefault(canonicalize_name(name), dist)
    return out


def dependency_tree(root: str, extras: Iterable[str], dists: dict[str, metadata.Distribution]) -> set[str]:
    """Canonical names of the installed distributions ``root[extras]`` needs, ``root`` excluded.

    A requirement whose distribution is not installed is skipped: pip's own resolver reports those.
    """
    seen: set[str] = set()
    todo: list[tuple[str, frozenset[str]]] = [(canonicalize_name(root), frozenset(extras))]
    done: set[tuple[str, frozenset[str]]] = set()
    while todo:
        name, wanted = todo.pop()
        if (name, wanted) in done or name not in dists:
            continue
        done.add((name, wanted))
        for text in dists[name].requires or []:
            req = Requirement(text)
            if req.marker is not None and not any(
                req.marker.evaluate({"extra": extra}) for extra in ("", *wanted)
            ):
                continue
            dep = canonicalize_name(req.name)
            seen.add(dep)
            todo.append((dep, frozenset(req.extras)))
    seen.discard(canonicalize_name(root))
    return seen


def check(lock: Path, root: str, extras: list[str]) -> list[str]:
    """The differences between the environment and the lock, one message each (empty: in step)."""
    pins = read_lock(lock)
    dists = installed()
    if canonicalize_name(root) not in dists:
        return [f"{root} is not installed in this environment ({sys.prefix})"]
    tree = dependency_tree(root, extras, dists)
    problems: list[str] = []
    for name in sorted(tree):
        version = dists[name].version if name in dists else None
        if version is None:
            continue
        if name not in pins:
            problems.append(f"{name} {version} is installed but {lock} does not pin it; {REFRESH}")
        elif pins[name] != version:
            problems.append(
                f"{name} {version} is installed but {lock} pins {pins[name]}; reinstall with "
                f"`pip install -c {lock} -e '.[dev]'` (or, if pyproject.toml changed, {REFRESH})"
            )
    for name in sorted(set(pins) - set(dists) - BOOTSTRAP):
        problems.append(f"{lock} pins {name}=={pins[name]} but nothing installs it here; {REFRESH}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("lock", nargs="?", default="requirements.lock", type=Path)
    parser.add_argument("--dist", default="promptctl-git", help="the distribution whose tree is checked")
    parser.add_argument("--extra", action="append", default=None, help="its extras (default: dev)")
    args = parser.parse_args(argv)
    extras = ["dev"] if args.extra is None else args.extra
    if not args.lock.is_file():
        print(f"check_lock: {args.lock}: no such file", file=sys.stderr)
        return 2
    try:
        problems = check(args.lock, args.dist, extras)
    except LockError as exc:
        print(f"check_lock: {exc}", file=sys.stderr)
        return 2
    py = ".".join(map(str, sys.version_info[:3]))
    if problems:
        for p in problems:
            print(f"check_lock (Python {py}): {p}", file=sys.stderr)
        return 1
    extra = sorted(set(installed()) - dependency_tree(args.dist, extras, installed()))
    extra = [n for n in extra if n not in BOOTSTRAP and n != canonicalize_name(args.dist)]
    note = f"; not from the lock, installed by hand: {', '.join(extra)}" if extra else ""
    print(f"check_lock (Python {py}): the environment matches {args.lock}{note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
