"""Every git access of promptctl: reading the suite at a commit, repository facts, run-record notes.

GitPython is imported lazily, inside the functions that need it: ``import git`` costs ~0.12 s and
commands that never touch git (``promptctl list`` on the worktree) must not pay it. That is also
why :class:`WorktreeSource` and :func:`find_repo_root` are plain filesystem code.

Git commands are run through :func:`_run`, which turns a failure into :class:`GitError` carrying
the first line of git's stderr (GitPython's own exception text is a multi-line dump of the
command line that is no use to a user). Read-only object access (blobs, trees, commits) goes
through GitPython objects, so nothing here ever writes the worktree or the index -- except
``git status`` in :func:`is_dirty`, which may refresh the index's stat cache as git always does.

Run records live in git notes under ``refs/notes/promptctl`` (see :func:`notes_pull` for how
notes from several machines are merged).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Protocol, TypedDict

from promptctl.errors import GitError

if TYPE_CHECKING:
    import git

NOTES_REF = "refs/notes/promptctl"
_INCOMING_REF = "refs/notes/promptctl-incoming"  # scratch ref notes_pull fetches into


# --------------------------------------------------------------------------------------------
# Paths


def _norm_relpath(relpath: str) -> str:
    """Validate a repo-relative posix path and return it normalised ("" is the root).

    Refuses absolute paths and any ``..`` component: a suite file must never make promptctl read
    outside the repository (and a commit's tree has no notion of outside anyway).
    """
    if "\\" in relpath or "\0" in relpath:
        raise ValueError(f"path must be a posix path relative to the repository root: {relpath!r}")
    p = PurePosixPath(relpath)
    if p.is_absolute() or (len(relpath) > 1 and relpath[1] == ":"):
        raise ValueError(f"path must be relative to the repository root, not absolute: {relpath!r}")
    parts = [part for part in p.parts if part != "."]
    if ".." in parts:
        raise ValueError(f"path escapes the repository root: {relpath!r}")
    return "/".join(parts)


def _suffix_ok(name: str, suffixes: tuple[str, ...]) -> bool:
    return not suffixes or name.endswith(suffixes)


# --------------------------------------------------------------------------------------------
# Sources


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


class WorktreeSource:
    """The files on disk, as the user sees them (uncommitted edits and untracked files included).

    Plain filesystem code: it must not import git. Directory symlinks are not followed when
    listing (no cycles); file symlinks are read through.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.label = "worktree"

    def _path(self, relpath: str) -> Path:
        rel = _norm_relpath(relpath)
        return self.root / rel if rel else self.root

    def read_text(self, relpath: str) -> str:
        path = self._path(relpath)
        if path.is_symlink() and not path.resolve().is_relative_to(self.root.resolve()):
            # A symlink must not smuggle a file from outside the repository into a prompt.
            raise PermissionError(f"{relpath} is a symlink to a file outside the repository")
        return path.read_text(encoding="utf-8")

    def resolves_within(self, relpath: str, reldir: str) -> bool:
        """Whether ``relpath``, symlinks followed, is a file under ``reldir`` of this tree."""
        real = self._path(relpath).resolve()
        return real.is_relative_to(self._path(reldir).resolve())

    def exists(self, relpath: str) -> bool:
        return self._path(relpath).exists()

    def list_files(self, reldir: str, suffixes: tuple[str, ...]) -> list[str]:
        rel = _norm_relpath(reldir)
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
        self._repo = _open(self.root)
        try:
            self.sha = _resolve(self._repo, rev)
            self.short = _short(self._repo, self.sha)
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
        rel = _norm_relpath(relpath)
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

    def list_files(self, reldir: str, suffixes: tuple[str, ...]) -> list[str]:
        import git

        obj = self._lookup(reldir)
        if not isinstance(obj, git.Tree):
            return []
        out = [
            str(item.path)
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


# --------------------------------------------------------------------------------------------
# Plumbing


def _open(root: Path) -> git.Repo:
    import git

    try:
        return git.Repo(root)
    except (git.InvalidGitRepositoryError, git.NoSuchPathError):
        raise GitError(
            f"not a git repository: {root}", hint="run promptctl inside a git checkout (or `git init`)"
        ) from None


@contextmanager
def _repo(root: Path) -> Iterator[git.Repo]:
    repo = _open(root)
    try:
        yield repo
    finally:
        repo.close()


_HINTS = (
    ("does not appear to be a git repository", "check the remote name (`git remote -v`)"),
    ("could not read from remote", "check the remote URL and your credentials"),
    ("non-fast-forward", "pull the notes first (promptctl notes pull), then push again"),
    ("fetch first", "pull the notes first (promptctl notes pull), then push again"),
    ("rejected", "pull the notes first (promptctl notes pull), then push again"),
)


def _run(repo: git.Repo, *args: str, ok_codes: tuple[int, ...] = (0,)) -> str:
    """Run ``git <args>`` in the repo; GitError with git's first stderr line on failure.

    Uses GitPython's command runner without exceptions so the message is git's own words.
    """
    status, out, err = repo.git.execute(["git", *args], with_extended_output=True, with_exceptions=False)
    if status not in ok_codes:
        _raise_from_stderr(args[0] if args[0] != "--literal-pathspecs" else args[1], int(status), str(err))
    return str(out)


def _raise_from_stderr(verb: str, status: int, err: str) -> None:
    lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
    first = next(
        (ln for ln in lines if ln.lower().startswith(("fatal:", "error:"))), lines[0] if lines else ""
    )
    hint = next((h for key, h in _HINTS if key in err.lower()), None)
    raise GitError(f"git {verb} failed: {first or f'exit code {status}'}", hint=hint)


def _check_rev(rev: str) -> None:
    if not rev or rev.startswith("-") or "\0" in rev:
        raise GitError(f"invalid revision {rev!r}")


def _resolve(repo: git.Repo, rev: str) -> str:
    _check_rev(rev)
    status, out, _err = repo.git.execute(
        ["git", "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}"],
        with_extended_output=True,
        with_exceptions=False,
    )
    if status != 0 or not str(out).strip():
        raise GitError(
            f"unknown revision '{rev}'", hint="check the name with `git log --oneline` or fetch it"
        )
    return str(out).strip()


def _short(repo: git.Repo, sha: str) -> str:
    return _run(repo, "rev-parse", "--short", sha).strip()


def _ref_sha(repo: git.Repo, ref: str) -> str | None:
    status, out, _err = repo.git.execute(
        ["git", "rev-parse", "--verify", "--quiet", ref], with_extended_output=True, with_exceptions=False
    )
    return str(out).strip() if status == 0 and str(out).strip() else None


# --------------------------------------------------------------------------------------------
# Repository facts


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


def _git_cli(root: Path, *args: str, ok: tuple[int, ...] = (0,)) -> tuple[int, str]:
    """Run the ``git`` binary directly. Used on the hot path of every ``test`` run (HEAD, dirty
    check), where importing GitPython (~0.1 s) would cost more than the git commands themselves."""
    proc = subprocess.run(["git", *args], cwd=root, capture_output=True, check=False)
    if proc.returncode not in ok:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitError(f"git {args[0]} failed: {err[0] if err else f'exit {proc.returncode}'}")
    return proc.returncode, proc.stdout.decode("utf-8", "surrogateescape")


def head_commit(root: Path) -> str | None:
    """Full sha of HEAD; None when ``root`` is not a repository or has no commits yet."""
    if find_repo_root(root) is None:
        return None
    try:
        code, out = _git_cli(root, "rev-parse", "--verify", "--quiet", "HEAD^{commit}", ok=(0, 1))
    except (GitError, OSError):
        return None
    return out.strip() if code == 0 and out.strip() else None


def resolve(root: Path, rev: str) -> str:
    """Full sha of the commit ``rev`` names (any git rev syntax); GitError "unknown revision" if none."""
    with _repo(root) as repo:
        return _resolve(repo, rev)


def is_dirty(root: Path, paths: list[str]) -> bool:
    """True if anything under ``paths`` differs from HEAD: staged, unstaged or untracked (not
    ignored) files. An empty ``paths`` list means the whole repository. Paths are literal
    (no globbing), relative to the repository root."""
    rels = [_norm_relpath(p) or "." for p in paths]
    _code, out = _git_cli(
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
    rels = [_norm_relpath(p) or "." for p in paths]
    if find_repo_root(root) is not None:
        _code, out = _git_cli(
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
    with _repo(root) as repo:
        full = _resolve(repo, sha)
        c = repo.commit(full)
        message = c.message if isinstance(c.message, str) else c.message.decode("utf-8", "replace")
        return CommitInfo(
            sha=full,
            short=_short(repo, full),
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
    with _repo(root) as repo:
        status, out, _err = repo.git.execute(
            ["git", "symbolic-ref", "-q", "refs/remotes/origin/HEAD"],
            with_extended_output=True,
            with_exceptions=False,
        )
        target = str(out).strip()
        if status == 0 and target.startswith("refs/remotes/") and _ref_sha(repo, target):
            return target[len("refs/remotes/") :]
        for ref, name in (
            ("refs/heads/main", "main"),
            ("refs/heads/master", "master"),
            ("refs/remotes/origin/main", "origin/main"),
            ("refs/remotes/origin/master", "origin/master"),
        ):
            if _ref_sha(repo, ref):
                return name
    return None


_SHALLOW_HINT = "the clone is shallow: fetch full history (`git fetch --unshallow`; fetch-depth: 0 in CI)"


def merge_base(root: Path, a: str, b: str) -> str:
    """Full sha of the best common ancestor of ``a`` and ``b``; GitError if they share none."""
    with _repo(root) as repo:
        sa, sb = _resolve(repo, a), _resolve(repo, b)
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
    specs = [_norm_relpath(p) or "." for p in paths] if paths else []
    with _repo(root) as repo:
        base = _resolve(repo, base_sha)
        revs = [base] if head is None else [base, _resolve(repo, head)]
        out = _run(
            repo, "--literal-pathspecs", "diff", "--name-status", "-z", "--no-renames", *revs, "--", *specs
        )
        tokens = [t for t in out.split("\0") if t]
        result = {tokens[i + 1]: tokens[i][0] for i in range(0, len(tokens) - 1, 2)}
        if head is None:
            untracked = _run(
                repo, "--literal-pathspecs", "ls-files", "-z", "--others", "--exclude-standard", "--", *specs
            )
            for f in untracked.split("\0"):
                if f:
                    result.setdefault(f, "A")
    return sorted(((s, p) for p, s in result.items()), key=lambda t: t[1])


# --------------------------------------------------------------------------------------------
# Notes


def _note_blob_map(repo: git.Repo, commit_sha: str | None) -> dict[str, str]:
    """{annotated sha: note blob sha} of a notes commit (handles git's fan-out directories)."""
    if commit_sha is None:
        return {}
    tree = repo.commit(commit_sha).tree
    out: dict[str, str] = {}
    import git

    for item in tree.traverse():
        if isinstance(item, git.Blob):
            out[str(item.path).replace("/", "")] = str(item.hexsha)
    return out


def _read_blob(repo: git.Repo, blob_sha: str) -> str:
    data: bytes = repo.odb.stream(bytes.fromhex(blob_sha)).read()
    return data.decode("utf-8")


def _write_note(repo: git.Repo, sha: str, text: str) -> None:
    # Store the text as a blob and attach it with -C: `notes add -m/-F` would run git's
    # stripspace cleanup (collapse blank lines, add a final newline), so records would not
    # round-trip byte for byte; -C takes the blob as is. Temp file, not argv: records can be big.
    with tempfile.TemporaryDirectory(prefix="promptctl-note-") as tmp:
        path = Path(tmp, "note")
        path.write_bytes(text.encode("utf-8"))
        blob = _run(repo, "hash-object", "-w", "--", str(path)).strip()
    _run(repo, "notes", "--ref", NOTES_REF, "add", "-f", "-C", blob, sha)


def notes_write(root: Path, sha: str, text: str) -> None:
    """Attach ``text`` as the promptctl note of commit ``sha``, replacing any existing note.
    The text is stored byte for byte (no whitespace cleanup)."""
    with _repo(root) as repo:
        _write_note(repo, _resolve(repo, sha), text)


def notes_read(root: Path, sha: str) -> str | None:
    """The promptctl note of commit ``sha``, exactly as written; None if it has none."""
    with _repo(root) as repo:
        full = _resolve(repo, sha)
        status, out, _err = repo.git.execute(
            ["git", "notes", "--ref", NOTES_REF, "list", full],
            with_extended_output=True,
            with_exceptions=False,
        )
        blob = str(out).strip()
        if status != 0 or not blob:
            return None
        return _read_blob(repo, blob)


def notes_list(root: Path) -> list[str]:
    """Full shas of the commits that carry a promptctl note, sorted."""
    with _repo(root) as repo:
        if _ref_sha(repo, NOTES_REF) is None:
            return []
        out = _run(repo, "notes", "--ref", NOTES_REF, "list")
        return sorted(line.split()[1] for line in out.splitlines() if len(line.split()) == 2)


def _check_remote(repo: git.Repo, remote: str) -> None:
    if remote.startswith("-"):
        raise GitError(f"invalid remote {remote!r}")
    names = {r.name for r in repo.remotes}
    looks_like_url = any(c in remote for c in "/:") or remote.startswith(".")
    if remote not in names and not looks_like_url:
        known = ", ".join(sorted(names)) or "none"
        raise GitError(
            f"no remote named '{remote}' (known: {known})",
            hint=f"add it with `git remote add {remote} <url>` or pass another remote",
        )


def notes_push(root: Path, remote: str = "origin") -> None:
    """Push ``refs/notes/promptctl`` to ``remote``.

    Never forced: if someone else pushed notes meanwhile, git rejects the push and the GitError
    hint says to pull (merge) first -- a force push would silently delete their run records.
    """
    with _repo(root) as repo:
        _check_remote(repo, remote)
        if _ref_sha(repo, NOTES_REF) is None:
            raise GitError("no promptctl notes to push", hint="record a run first (promptctl run --record)")
        _run(repo, "push", "--quiet", remote, f"{NOTES_REF}:{NOTES_REF}")


NoteMerger = Callable[[str, str], str]


def union_lines(local: str, remote: str) -> str:
    """Default note merge: the local lines, then the remote lines not already present.

    Lossless and idempotent for line-oriented records (one JSON record per line), which is the
    format run records should use; merging twice, or in either order, loses nothing.
    """
    seen = set(local.splitlines())
    extra: list[str] = []
    for line in remote.splitlines():
        if line not in seen:
            seen.add(line)
            extra.append(line)
    if not extra:
        return local
    sep = "" if not local or local.endswith("\n") else "\n"
    tail = "\n" if remote.endswith("\n") or local.endswith("\n") else ""
    return local + sep + "\n".join(extra) + tail


def notes_pull(root: Path, remote: str = "origin", merge: NoteMerger = union_lines) -> list[str]:
    """Fetch ``refs/notes/promptctl`` from ``remote`` and merge it into the local notes.

    Returns the shas whose local note was added or changed, sorted.

    How merging works (and why): the remote ref is fetched into a scratch ref, never over the
    local one, so local records can't be lost. If one side is missing or an ancestor of the
    other, the result is simply the newer side (fast-forward). Otherwise each annotated commit is
    resolved three-way against the notes' merge base: a note changed on only one side takes that
    side; a note changed on both sides (two machines recorded runs for the same commit) becomes
    ``merge(local, remote)`` -- by default :func:`union_lines`, which keeps every record line of
    both. A note deleted on one side and changed on the other is kept (records are never dropped
    silently). Git's own strategies could not do this: ``ours``/``theirs`` lose one machine's
    records and ``union``/``cat_sort_uniq`` cannot be customised. The merge commit itself is made
    by ``git notes merge -s ours`` (so history joins and the next push fast-forwards), then the
    both-sides notes are rewritten with the merged text on top.
    """
    with _repo(root) as repo:
        _check_remote(repo, remote)
        status, _out, err = repo.git.execute(
            ["git", "fetch", "--quiet", "--no-tags", remote, f"+{NOTES_REF}:{_INCOMING_REF}"],
            with_extended_output=True,
            with_exceptions=False,
        )
        if status != 0:
            if "couldn't find remote ref" in str(err).lower():
                return []  # the remote has no notes yet: nothing to pull
            _raise_from_stderr("fetch", status, str(err))
        try:
            return _merge_incoming(repo, merge)
        finally:
            repo.git.execute(
                ["git", "update-ref", "-d", _INCOMING_REF], with_extended_output=True, with_exceptions=False
            )


def _merge_incoming(repo: git.Repo, merge: NoteMerger) -> list[str]:
    incoming = _ref_sha(repo, _INCOMING_REF)
    local = _ref_sha(repo, NOTES_REF)
    if incoming is None or incoming == local:
        return []
    before = _note_blob_map(repo, local)
    if local is None or repo.is_ancestor(repo.commit(local), repo.commit(incoming)):
        _run(repo, "update-ref", NOTES_REF, incoming, *([local] if local else []))
        after = _note_blob_map(repo, incoming)
        return sorted(s for s, b in after.items() if before.get(s) != b)
    if repo.is_ancestor(repo.commit(incoming), repo.commit(local)):
        return []
    bases = repo.merge_base(local, incoming)
    base_map = _note_blob_map(repo, str(bases[0].hexsha) if bases else None)
    theirs = _note_blob_map(repo, incoming)
    wanted: dict[str, str] = {}  # sha -> merged text, only for notes that need rewriting
    for sha in sorted(set(before) | set(theirs)):
        lb, rb, bb = before.get(sha), theirs.get(sha), base_map.get(sha)
        if lb == rb or rb == bb:
            continue  # same on both sides, or only local changed: git's merge keeps local
        if rb is None:
            continue  # remote deleted it: git's merge deletes if local is unchanged, else keeps local
        if lb == bb or lb is None:
            wanted[sha] = _read_blob(repo, rb)  # only remote changed, or local deleted what remote changed
        else:
            wanted[sha] = merge(_read_blob(repo, lb), _read_blob(repo, rb))  # both sides changed
    _run(repo, "notes", "--ref", NOTES_REF, "merge", "--quiet", "-s", "ours", _INCOMING_REF)
    merged = _note_blob_map(repo, _ref_sha(repo, NOTES_REF))
    for sha, text in wanted.items():
        current = merged.get(sha)
        if current is None or _read_blob(repo, current) != text:
            _write_note(repo, sha, text)
    after = _note_blob_map(repo, _ref_sha(repo, NOTES_REF))
    return sorted(s for s, b in after.items() if before.get(s) != b)
