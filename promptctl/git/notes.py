"""Notes storage: text attached to commits under ``refs/notes/promptctl``, pushed, pulled and
merged (see :func:`notes_pull` for how notes from several machines are merged without loss)."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from promptctl.errors import GitError
from promptctl.git.plumbing import raise_from_stderr, ref_sha, repo_at, resolve_rev, run

if TYPE_CHECKING:
    import git

NOTES_REF = "refs/notes/promptctl"
_INCOMING_REF = "refs/notes/promptctl-incoming"  # scratch ref notes_pull fetches into

# Notes commits are made by promptctl, not by the user: a fixed identity of their own, so they work
# where git has none (every CI runner) and never carry whoever happened to run the command.
NOTES_IDENTITY = {
    "GIT_AUTHOR_NAME": "promptctl",
    "GIT_AUTHOR_EMAIL": "records@promptctl.invalid",
    "GIT_COMMITTER_NAME": "promptctl",
    "GIT_COMMITTER_EMAIL": "records@promptctl.invalid",
}


def _run_notes(repo: git.Repo, *args: str) -> str:
    """``git notes ARGS`` as promptctl's own identity (the commands that make notes commits)."""
    status, out, err = repo.git.execute(
        ["git", "notes", "--ref", NOTES_REF, *args],
        with_extended_output=True,
        with_exceptions=False,
        env=NOTES_IDENTITY,
    )
    if status != 0:
        raise_from_stderr("notes", int(status), str(err))
    return str(out)


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
        blob = run(repo, "hash-object", "-w", "--", str(path)).strip()
    _run_notes(repo, "add", "-f", "-C", blob, sha)


def notes_write(root: Path, sha: str, text: str) -> None:
    """Attach ``text`` as the promptctl note of commit ``sha``, replacing any existing note.
    The text is stored byte for byte (no whitespace cleanup)."""
    with repo_at(root) as repo:
        _write_note(repo, resolve_rev(repo, sha), text)


def notes_read(root: Path, sha: str) -> str | None:
    """The promptctl note of commit ``sha``, exactly as written; None if it has none."""
    with repo_at(root) as repo:
        full = resolve_rev(repo, sha)
        status, out, _err = repo.git.execute(
            ["git", "notes", "--ref", NOTES_REF, "list", full],
            with_extended_output=True,
            with_exceptions=False,
        )
        blob = str(out).strip()
        if status != 0 or not blob:
            return None
        return _read_blob(repo, blob)


def notes_read_all(root: Path) -> dict[str, str]:
    """Every promptctl note: {annotated commit sha: text}. One repository, one listing."""
    with repo_at(root) as repo:
        if ref_sha(repo, NOTES_REF) is None:
            return {}
        out = run(repo, "notes", "--ref", NOTES_REF, "list")
        pairs = [line.split() for line in out.splitlines()]
        return {p[1]: _read_blob(repo, p[0]) for p in pairs if len(p) == 2}


def notes_list(root: Path) -> list[str]:
    """Full shas of the commits that carry a promptctl note, sorted."""
    with repo_at(root) as repo:
        if ref_sha(repo, NOTES_REF) is None:
            return []
        out = run(repo, "notes", "--ref", NOTES_REF, "list")
        return sorted(line.split()[1] for line in out.splitlines() if len(line.split()) == 2)


def check_remote(repo: git.Repo, remote: str) -> None:
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
    with repo_at(root) as repo:
        check_remote(repo, remote)
        if ref_sha(repo, NOTES_REF) is None:
            raise GitError(
                "no promptctl notes to push",
                hint="run `promptctl test` on a committed tree first: "
                "only whole-suite runs of a clean commit are shared",
            )
        run(repo, "push", "--quiet", remote, f"{NOTES_REF}:{NOTES_REF}")


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
    with repo_at(root) as repo:
        check_remote(repo, remote)
        status, _out, err = repo.git.execute(
            ["git", "fetch", "--quiet", "--no-tags", remote, f"+{NOTES_REF}:{_INCOMING_REF}"],
            with_extended_output=True,
            with_exceptions=False,
        )
        if status != 0:
            if "couldn't find remote ref" in str(err).lower():
                return []  # the remote has no notes yet: nothing to pull
            raise_from_stderr("fetch", status, str(err))
        try:
            return _merge_incoming(repo, merge)
        finally:
            repo.git.execute(
                ["git", "update-ref", "-d", _INCOMING_REF], with_extended_output=True, with_exceptions=False
            )


def _merge_incoming(repo: git.Repo, merge: NoteMerger) -> list[str]:
    incoming = ref_sha(repo, _INCOMING_REF)
    local = ref_sha(repo, NOTES_REF)
    if incoming is None or incoming == local:
        return []
    before = _note_blob_map(repo, local)
    if local is None or repo.is_ancestor(repo.commit(local), repo.commit(incoming)):
        run(repo, "update-ref", NOTES_REF, incoming, *([local] if local else []))
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
    _run_notes(repo, "merge", "--quiet", "-s", "ours", _INCOMING_REF)
    merged = _note_blob_map(repo, ref_sha(repo, NOTES_REF))
    for sha, text in wanted.items():
        current = merged.get(sha)
        if current is None or _read_blob(repo, current) != text:
            _write_note(repo, sha, text)
    after = _note_blob_map(repo, ref_sha(repo, NOTES_REF))
    return sorted(s for s, b in after.items() if before.get(s) != b)
