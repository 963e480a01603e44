"""Labels: names for commits (``production``, ``staging``) kept in git, with every move's history.

Storage: a chain of commits on ``refs/promptctl/labels``, outside branches and tags so no
checkout, merge or ``git log --all`` of the project mixes with it. The tree of each commit holds
one file per label, named after the label, holding the labelled commit's full sha. Every move
(set or delete) is one commit: its author is who moved the label and when, its message says
which label moved from where to where, in trailers a parser can trust::

    label production: 1a2b3c4 -> 5d6e7f8

    Promptctl-Label: production
    Promptctl-From: <full sha, or none>
    Promptctl-To: <full sha, or none>

``label log`` walks the chain. Push and pull move that ref between clones like the records'
notes (:mod:`promptctl.git.notes`): a pull fetches into a scratch ref, never over the local one;
when both sides moved labels it makes a merge commit with both histories as parents (so every
move of every clone stays in ``label log``) whose tree takes, per label, the side that changed
it since the merge base and, when both did, the later move. Pulled data is untrusted: every
label name and value of the incoming tree is checked before anything local changes.

Only the ``git`` binary is run here (no GitPython on ``--label`` resolution, which every command
with ``--label`` pays); GitPython is imported for push and pull only, to check the remote.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from promptctl.errors import GitError, UsageError
from promptctl.git.plumbing import find_repo_root
from promptctl.suggest import suggest

LABELS_REF = "refs/promptctl/labels"
_INCOMING_REF = "refs/promptctl/labels-incoming"  # scratch ref `pull` fetches into

NAME_RULE = "letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64"
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TRAILERS = ("Promptctl-Label", "Promptctl-From", "Promptctl-To")
_PULL_HINT = "run `promptctl label pull {remote}`, then push again"


class UnknownLabel(GitError):
    """A label that does not exist in this repository (exit 2); the hint names the close match."""


@dataclass(frozen=True)
class LabelMove:
    """One move of a label: set (``to_sha``), moved (``from_sha`` -> ``to_sha``) or deleted
    (``to_sha`` None); who moved it and when (the label commit's author), and that commit."""

    label: str
    from_sha: str | None
    to_sha: str | None
    author: str
    email: str
    time: str  # ISO 8601 with offset
    commit: str  # the commit on refs/promptctl/labels that records the move

    def to_dict(self) -> dict[str, str | None]:
        return {
            "label": self.label,
            "from": self.from_sha,
            "to": self.to_sha,
            "author": self.author,
            "email": self.email,
            "time": self.time,
            "commit": self.commit,
        }


# -- running git --------------------------------------------------------------------------------
def _git(root: Path, *args: str, input: bytes | None = None, ok: tuple[int, ...] = (0,)) -> tuple[int, str]:
    proc = subprocess.run(["git", *args], cwd=root, input=input, capture_output=True, check=False)
    if proc.returncode not in ok:
        err = [ln.strip() for ln in proc.stderr.decode("utf-8", "replace").splitlines() if ln.strip()]
        first = next((ln for ln in err if ln.lower().startswith(("fatal:", "error:"))), err[0] if err else "")
        hint = None
        if "please tell me who you are" in " ".join(err).lower() or "identity" in first.lower():
            hint = "set your name for the label history: git config user.name/user.email"
        raise GitError(f"git {args[0]} failed: {first or f'exit code {proc.returncode}'}", hint=hint)
    return proc.returncode, proc.stdout.decode("utf-8", "surrogateescape")


def _require_repo(root: Path) -> None:
    if find_repo_root(root) is None:
        raise GitError(
            f"not a git repository: {root}", hint="labels live in git: run this inside a git checkout"
        )


def _tip(root: Path, ref: str = LABELS_REF) -> str | None:
    code, out = _git(root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}", ok=(0, 1, 128))
    return out.strip() if code == 0 and out.strip() else None


def _is_ancestor(root: Path, a: str, b: str) -> bool:
    code, _ = _git(root, "merge-base", "--is-ancestor", a, b, ok=(0, 1))
    return code == 0


def _has_commit(root: Path, sha: str) -> bool:
    code, _ = _git(root, "cat-file", "-e", f"{sha}^{{commit}}", ok=(0, 1, 128))
    return code == 0


# -- names and trees ----------------------------------------------------------------------------
def check_name(name: str) -> str:
    """``name`` when it is a valid label name; UsageError naming the rule otherwise."""
    if not _NAME.fullmatch(name) or name.endswith(".lock"):
        raise UsageError(f"invalid label name {name!r}: use {NAME_RULE} characters (not ending in .lock)")
    return name


def _read_tree(root: Path, commit: str | None, where: str = LABELS_REF) -> dict[str, tuple[str, str]]:
    """{label: (labelled commit sha, blob sha)} of a labels commit; GitError on any entry that is
    not a valid label file (pulled data is checked with this before it is used)."""
    if commit is None:
        return {}
    _code, out = _git(root, "ls-tree", "-z", "--full-tree", commit)
    entries: list[tuple[str, str]] = []
    for item in out.split("\0"):
        if not item:
            continue
        meta, _, name = item.partition("\t")
        mode, kind, oid = [*meta.split(), "", "", ""][:3]
        shown = _CONTROL.sub("?", name)
        if mode != "100644" or kind != "blob":
            raise GitError(f"{where} holds '{shown}', which is not a label file ({kind or 'unknown'})")
        if not _NAME.fullmatch(name) or name.endswith(".lock"):
            raise GitError(f"{where} holds an invalid label name '{shown}'")
        entries.append((name, oid))
    if not entries:
        return {}
    batch = "".join(f"{blob}\n" for _, blob in entries).encode()
    _code, raw = _git(root, "cat-file", "--batch", input=batch)
    values = _parse_batch(raw, len(entries))
    out_map: dict[str, tuple[str, str]] = {}
    for (name, blob), value in zip(entries, values, strict=True):
        sha = value.strip()
        if not _SHA.fullmatch(sha) or value not in (sha, sha + "\n"):
            raise GitError(f"{where} holds label '{name}' whose value is not a commit sha")
        out_map[name] = (sha, blob)
    return out_map


def _parse_batch(raw: str, n: int) -> list[str]:
    """The contents of ``git cat-file --batch`` output for ``n`` blobs, in order."""
    data = raw.encode("utf-8", "surrogateescape")
    out: list[str] = []
    pos = 0
    for _ in range(n):
        end = data.index(b"\n", pos)
        header = data[pos:end].split()
        if len(header) != 3 or header[1] != b"blob":
            raise GitError(f"{LABELS_REF} holds an unreadable label file")
        size = int(header[2])
        body = data[end + 1 : end + 1 + size]
        out.append(body.decode("utf-8", "replace"))
        pos = end + 1 + size + 1
    return out


def _write_tree(root: Path, entries: dict[str, tuple[str, str]]) -> str:
    lines = "".join(f"100644 blob {blob}\t{name}\0" for name, (_sha, blob) in sorted(entries.items()))
    _code, out = _git(root, "mktree", "-z", input=lines.encode())
    return out.strip()


def _blob_for(root: Path, sha: str) -> str:
    _code, out = _git(root, "hash-object", "-w", "--stdin", input=f"{sha}\n".encode())
    return out.strip()


def _commit(root: Path, tree: str, parents: list[str], message: str) -> str:
    args = ["commit-tree", tree]
    for p in parents:
        args += ["-p", p]
    _code, out = _git(root, *args, input=message.encode())
    return out.strip()


def _update(root: Path, new: str, old: str | None, ref: str = LABELS_REF) -> bool:
    """Compare-and-swap the ref; False when another process moved it meanwhile."""
    code, _ = _git(root, "update-ref", ref, new, old or "", ok=(0, 1, 128))
    return code == 0


# -- reading ------------------------------------------------------------------------------------
def read_labels(root: Path) -> dict[str, str]:
    """{label: full sha of the commit it names}, sorted by label."""
    _require_repo(root)
    entries = _read_tree(root, _tip(root))
    return {name: sha for name, (sha, _blob) in sorted(entries.items())}


def resolve(root: Path, label: str) -> str:
    """The full sha of the commit ``label`` names; :class:`UnknownLabel` (with the close match,
    or how to create or fetch labels) when there is none."""
    check_name(label)
    labels = read_labels(root)
    sha = labels.get(label)
    if sha is None:
        if labels:
            hint = f"labels here: {', '.join(labels)}; `promptctl label list` shows them"
            raise UnknownLabel(f"unknown label '{label}'{suggest(label, list(labels))}", hint=hint)
        raise UnknownLabel(
            f"unknown label '{label}': this repository has no labels",
            hint=f"set one with `promptctl label set {label} REV`, or fetch them with `promptctl label pull`",
        )
    if not _has_commit(root, sha):
        raise GitError(
            f"label '{label}' names commit {sha[:12]}, which is not in this repository",
            hint="fetch it (`git fetch`), e.g. the branch it was set on",
        )
    return sha


def _parse_moves(raw: str, name: str | None) -> list[LabelMove]:
    moves: list[LabelMove] = []
    for record in raw.split("\x1e"):
        record = record.strip("\n")
        if not record:
            continue
        fields = record.split("\0", 5)
        if len(fields) != 6:
            continue
        commit, parents, author, email, when, body = fields
        if len(parents.split()) > 1:
            continue  # a merge of two clones' histories: not a move
        trailers: dict[str, str] = {}
        for line in body.splitlines():
            key, sep, value = line.partition(": ")
            if sep and key in _TRAILERS:
                trailers[key] = value.strip()
        label = trailers.get("Promptctl-Label", "")
        ends = [trailers.get("Promptctl-From", ""), trailers.get("Promptctl-To", "")]
        if not _NAME.fullmatch(label) or not all(e == "none" or _SHA.fullmatch(e) for e in ends):
            continue  # not a label move promptctl wrote: never shown as one
        if name is not None and label != name:
            continue
        moves.append(
            LabelMove(
                label=label,
                from_sha=None if ends[0] == "none" else ends[0],
                to_sha=None if ends[1] == "none" else ends[1],
                author=_CONTROL.sub("", author),
                email=_CONTROL.sub("", email),
                time=when,
                commit=commit,
            )
        )
    return moves


def label_log(
    root: Path, name: str | None = None, *, tip: str | None = None, stop: str | None = None
) -> list[LabelMove]:
    """Every move of ``name`` (of every label when None), newest first. ``tip`` and ``stop``
    limit the walk to ``stop..tip`` (for the merge of a pull)."""
    if name is not None:
        check_name(name)
    _require_repo(root)
    start = tip or _tip(root)
    if start is None:
        return []
    fmt = "%H%x00%P%x00%an%x00%ae%x00%aI%x00%B%x1e"
    rng = [start, f"^{stop}"] if stop else [start]
    _code, out = _git(root, "log", "--date-order", f"--format={fmt}", *rng, "--")
    return _parse_moves(out, name)


# -- moving -------------------------------------------------------------------------------------
def _message(name: str, old: str | None, new: str | None) -> str:
    def short(s: str | None) -> str:
        return s[:12] if s else "(none)"

    verb = "set" if old is None else ("deleted" if new is None else f"{short(old)} -> {short(new)}")
    head = f"label {name}: {short(new)}" if old is None else f"label {name}: {verb}"
    return (
        f"{head}\n\nPromptctl-Label: {name}\nPromptctl-From: {old or 'none'}\nPromptctl-To: {new or 'none'}\n"
    )


def _move(root: Path, name: str, new: str | None) -> LabelMove | None:
    """Point ``name`` at ``new`` (None: delete it) in one commit; None when nothing changes."""
    for _attempt in range(5):
        old_tip = _tip(root)
        entries = _read_tree(root, old_tip)
        old = entries.get(name, (None, ""))[0]
        if old == new:
            return None
        if new is None:
            entries.pop(name)
        else:
            entries[name] = (new, _blob_for(root, new))
        commit = _commit(
            root, _write_tree(root, entries), [old_tip] if old_tip else [], _message(name, old, new)
        )
        if _update(root, commit, old_tip):
            moves = label_log(root, name, tip=commit, stop=old_tip)
            return moves[0]
    raise GitError(f"{LABELS_REF} kept changing while moving '{name}'", hint="try again")


def set_label(root: Path, name: str, rev: str = "HEAD") -> tuple[str, LabelMove | None]:
    """Point ``name`` at the commit ``rev`` names. Returns that sha and the move (None when the
    label already pointed there)."""
    from promptctl.git.repo import resolve as resolve_rev

    check_name(name)
    _require_repo(root)
    sha = resolve_rev(root, rev)
    return sha, _move(root, name, sha)


def delete_label(root: Path, name: str) -> LabelMove:
    """Remove ``name`` (recorded as a move to none in its history)."""
    check_name(name)
    labels = read_labels(root)
    if name not in labels:
        resolve(root, name)  # raises UnknownLabel with the close match
    move = _move(root, name, None)
    assert move is not None
    return move


# -- push and pull ------------------------------------------------------------------------------
def _check_remote(root: Path, remote: str) -> None:
    from promptctl.git.notes import check_remote
    from promptctl.git.plumbing import repo_at

    with repo_at(root) as repo:
        check_remote(repo, remote)


def push(root: Path, remote: str = "origin") -> None:
    """Push ``refs/promptctl/labels`` to ``remote``; never forced (a remote with moves this clone
    lacks rejects it, and the hint says to pull first)."""
    _check_remote(root, remote)
    if _tip(root) is None:
        raise GitError("no labels to push", hint="set one first: `promptctl label set LABEL [REV]`")
    proc = subprocess.run(
        ["git", "push", "--quiet", "--no-verify", remote, f"{LABELS_REF}:{LABELS_REF}"],
        cwd=root,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace")
        if "rejected" in err or "fetch first" in err or "non-fast-forward" in err:
            raise GitError(
                f"{remote} has label moves this clone does not have", hint=_PULL_HINT.format(remote=remote)
            )
        lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
        raise GitError(f"git push failed: {lines[0] if lines else f'exit code {proc.returncode}'}")


@dataclass
class PullResult:
    changed: list[str]  # labels whose commit changed here
    missing: list[str]  # labels naming a commit this clone does not have


def pull(root: Path, remote: str = "origin") -> PullResult:
    """Fetch ``remote``'s labels and merge them into the local ones (see the module docstring)."""
    _check_remote(root, remote)
    proc = subprocess.run(
        [
            "git",
            "fetch",
            "--quiet",
            "--no-tags",
            "--no-write-fetch-head",
            remote,
            f"+{LABELS_REF}:{_INCOMING_REF}",
        ],
        cwd=root,
        capture_output=True,
        check=False,
    )
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace")
        if "couldn't find remote ref" in err.lower():
            return PullResult([], [])  # the remote has no labels yet
        lines = [ln.strip() for ln in err.splitlines() if ln.strip()]
        first = next(
            (ln for ln in lines if ln.lower().startswith(("fatal:", "error:"))), lines[0] if lines else ""
        )
        raise GitError(f"git fetch failed: {first or f'exit code {proc.returncode}'}")
    try:
        return _merge_incoming(root, remote)
    finally:
        _git(root, "update-ref", "-d", _INCOMING_REF, ok=(0, 1, 128))


def _merge_incoming(root: Path, remote: str) -> PullResult:
    incoming = _tip(root, _INCOMING_REF)
    if incoming is None:
        return PullResult([], [])
    theirs = _read_tree(root, incoming, where=f"{remote}'s {LABELS_REF}")  # checked before any use
    for _attempt in range(5):
        local = _tip(root)
        before = _read_tree(root, local)
        if local == incoming or (local is not None and _is_ancestor(root, incoming, local)):
            return _result(root, before, before)
        if local is None or _is_ancestor(root, local, incoming):
            new, after = incoming, theirs
        else:
            after = _merged(root, local, incoming, before, theirs)
            message = f"labels: merge {remote}\n\nPromptctl-Merge: {remote}\n"
            new = _commit(root, _write_tree(root, after), [local, incoming], message)
        if _update(root, new, local):
            return _result(root, before, after)
    raise GitError(f"{LABELS_REF} kept changing while pulling", hint="try again")


def _merged(
    root: Path,
    local: str,
    incoming: str,
    ours: dict[str, tuple[str, str]],
    theirs: dict[str, tuple[str, str]],
) -> dict[str, tuple[str, str]]:
    """Per label: the side that moved it since the merge base; when both did, the later move
    (a roll-back made after the other side's move stays rolled back). Ties: the larger target,
    so every clone decides alike."""
    _code, out = _git(root, "merge-base", local, incoming, ok=(0, 1))
    base = out.strip() or None
    ours_last, theirs_last = _last_moves(root, local, base), _last_moves(root, incoming, base)
    merged: dict[str, tuple[str, str]] = {}
    for name in sorted(set(ours) | set(theirs)):
        take_theirs = name in theirs_last and (name not in ours_last or theirs_last[name] > ours_last[name])
        chosen = theirs.get(name) if take_theirs else ours.get(name)
        if chosen is not None:
            merged[name] = chosen
    return merged


def _last_moves(root: Path, tip: str, stop: str | None) -> dict[str, tuple[float, str]]:
    """{label: (time, target) of its latest move} in ``stop..tip``."""
    out: dict[str, tuple[float, str]] = {}
    for m in label_log(root, tip=tip, stop=stop):
        key = (datetime.fromisoformat(m.time).timestamp(), m.to_sha or "")
        if key > out.get(m.label, (float("-inf"), "")):
            out[m.label] = key
    return out


def _result(root: Path, before: dict[str, tuple[str, str]], after: dict[str, tuple[str, str]]) -> PullResult:
    changed = sorted(n for n in set(before) | set(after) if before.get(n, ("",))[0] != after.get(n, ("",))[0])
    missing = sorted(n for n, (sha, _b) in after.items() if not _has_commit(root, sha))
    return PullResult(changed, missing)
