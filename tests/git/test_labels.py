"""Labels on real throwaway repositories: set, move, delete, log, resolve; push and pull through a
bare "remote" to a second clone, diverged histories merged, hostile remote data refused."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from promptctl.errors import GitError, PromptctlError, UsageError
from promptctl.git import labels
from promptctl.git.labels import LABELS_REF, UnknownLabel


def git(cwd: Path, *args: str, env: dict[str, str] | None = None) -> str:
    import os

    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True, env={**os.environ, **(env or {})}
    ).stdout


def commit(root: Path, name: str, text: str) -> str:
    (root / name).write_text(text, "utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", f"edit {name}")
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    commit(root, "a.txt", "one\n")
    return root


def as_author(monkeypatch: pytest.MonkeyPatch, name: str, date: str) -> None:
    monkeypatch.setenv("GIT_AUTHOR_NAME", name)
    monkeypatch.setenv("GIT_AUTHOR_EMAIL", f"{name.lower()}@example.invalid")
    monkeypatch.setenv("GIT_AUTHOR_DATE", date)
    monkeypatch.setenv("GIT_COMMITTER_DATE", date)


def test_set_move_resolve_and_log(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = git(repo, "rev-parse", "HEAD").strip()
    as_author(monkeypatch, "Ada", "2026-02-01T10:00:00+00:00")
    sha, move = labels.set_label(repo, "production")
    assert sha == first and move is not None
    assert (move.label, move.from_sha, move.to_sha, move.author) == ("production", None, first, "Ada")
    assert labels.resolve(repo, "production") == first

    second = commit(repo, "a.txt", "two\n")
    as_author(monkeypatch, "Bob", "2026-02-02T11:30:00+01:00")
    _, moved = labels.set_label(repo, "production", "HEAD")
    assert moved is not None and (moved.from_sha, moved.to_sha) == (first, second)
    assert labels.resolve(repo, "production") == second
    assert labels.set_label(repo, "production", second) == (second, None)  # already there: no move

    log = labels.label_log(repo, "production")
    assert [(m.from_sha, m.to_sha, m.author, m.time) for m in log] == [
        (first, second, "Bob", "2026-02-02T11:30:00+01:00"),
        (None, first, "Ada", "2026-02-01T10:00:00+00:00"),
    ]
    # the storage: a commit chain outside branches and tags, one file per label
    assert git(repo, "ls-tree", "--name-only", LABELS_REF).split() == ["production"]
    assert git(repo, "show", f"{LABELS_REF}:production").strip() == second
    assert git(repo, "rev-list", "--count", LABELS_REF).strip() == "2"
    assert "refs/heads" not in git(repo, "for-each-ref", "--format=%(refname)", "refs/promptctl")


def test_several_labels_and_delete(repo: Path) -> None:
    head = git(repo, "rev-parse", "HEAD").strip()
    labels.set_label(repo, "staging")
    labels.set_label(repo, "production")
    assert labels.read_labels(repo) == {"production": head, "staging": head}
    move = labels.delete_label(repo, "staging")
    assert (move.from_sha, move.to_sha) == (head, None)
    assert labels.read_labels(repo) == {"production": head}
    assert [m.label for m in labels.label_log(repo)] == ["staging", "production", "staging"]
    with pytest.raises(UnknownLabel):
        labels.delete_label(repo, "staging")


def test_unknown_label_is_a_promptctl_error_with_a_hint(repo: Path) -> None:
    with pytest.raises(UnknownLabel) as none_yet:
        labels.resolve(repo, "production")
    assert "no labels" in none_yet.value.message and "promptctl label set production" in (
        none_yet.value.hint or ""
    )
    labels.set_label(repo, "production")
    with pytest.raises(PromptctlError) as typo:
        labels.resolve(repo, "prodution")
    assert "did you mean 'production'" in typo.value.message
    assert typo.value.exit_code == 2 and "promptctl label list" in (typo.value.hint or "")


@pytest.mark.parametrize("name", ["", "-rf", "a/b", "x y", "a" * 65, "main.lock", "é", "\x1b[31m"])
def test_invalid_names_are_refused(repo: Path, name: str) -> None:
    with pytest.raises(UsageError, match="invalid label name"):
        labels.set_label(repo, name)


def test_unknown_revision(repo: Path) -> None:
    with pytest.raises(GitError, match="unknown revision 'nope'"):
        labels.set_label(repo, "production", "nope")
    with pytest.raises(GitError, match="invalid revision"):
        labels.set_label(repo, "production", "--all")


def test_a_label_naming_a_missing_commit_says_to_fetch(repo: Path) -> None:
    labels.set_label(repo, "production")
    # the state a pull leaves when the labelled commit was not fetched
    blob = _blob(repo, "1" * 40 + "\n")
    tree = subprocess.run(
        ["git", "mktree"],
        cwd=repo,
        input=f"100644 blob {blob}\tproduction\n",
        text=True,
        capture_output=True,
        check=True,
    ).stdout.strip()
    c = git(repo, "commit-tree", tree, "-p", LABELS_REF, "-m", "x").strip()
    git(repo, "update-ref", LABELS_REF, c)
    with pytest.raises(GitError) as exc:
        labels.resolve(repo, "production")
    assert "not in this repository" in exc.value.message and "git fetch" in (exc.value.hint or "")


# -- push and pull ------------------------------------------------------------------------------
@pytest.fixture
def two_clones(tmp_path: Path, repo: Path) -> tuple[Path, Path, Path]:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(bare), str(other))
    return repo, bare, other


def test_a_move_shows_in_the_log_of_another_clone(
    two_clones: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, bare, other = two_clones
    first = git(repo, "rev-parse", "HEAD").strip()
    as_author(monkeypatch, "Ada", "2026-03-01T09:00:00+00:00")
    labels.set_label(repo, "production")
    labels.push(repo)
    assert git(bare, "rev-parse", LABELS_REF).strip() == git(repo, "rev-parse", LABELS_REF).strip()

    result = labels.pull(other)
    assert result.changed == ["production"] and result.missing == []
    assert labels.resolve(other, "production") == first

    second = commit(repo, "a.txt", "two\n")
    git(repo, "push", "-q", "origin", "main")
    as_author(monkeypatch, "Bob", "2026-03-02T09:00:00+00:00")
    labels.set_label(repo, "production", second)
    labels.push(repo)
    assert labels.pull(other).changed == ["production"]
    log = labels.label_log(other, "production")
    assert [(m.author, m.from_sha, m.to_sha) for m in log] == [("Bob", first, second), ("Ada", None, first)]
    assert labels.pull(other).changed == []  # idempotent
    # the scratch ref is gone
    assert "incoming" not in git(other, "for-each-ref", "refs/promptctl")


def test_pull_reports_labels_naming_commits_not_fetched(two_clones: tuple[Path, Path, Path]) -> None:
    repo, _bare, other = two_clones
    unpushed = commit(repo, "a.txt", "local only\n")
    labels.set_label(repo, "staging", unpushed)
    labels.push(repo)
    assert labels.pull(other).missing == ["staging"]
    with pytest.raises(GitError, match="not in this repository"):
        labels.resolve(other, "staging")


def test_diverged_moves_merge_without_losing_history(
    two_clones: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _bare, other = two_clones
    base = git(repo, "rev-parse", "HEAD").strip()
    labels.set_label(repo, "production")
    labels.set_label(repo, "staging")
    labels.push(repo)
    labels.pull(other)
    newer = commit(repo, "a.txt", "two\n")
    git(repo, "push", "-q", "origin", "main")
    git(other, "pull", "-q", "origin", "main")

    as_author(monkeypatch, "Ada", "2026-04-01T09:00:00+00:00")
    labels.set_label(repo, "staging", newer)  # only here
    labels.set_label(repo, "production", newer)  # here, earlier ...
    labels.push(repo)
    as_author(monkeypatch, "Bob", "2026-04-01T10:00:00+00:00")
    labels.set_label(other, "production", newer)  # ... and there, later, and back
    labels.set_label(other, "production", base)
    labels.set_label(other, "canary", newer)  # only there

    with pytest.raises(GitError) as rejected:
        labels.push(other)
    assert "promptctl label pull origin" in (rejected.value.hint or "")

    result = labels.pull(other)
    assert set(result.changed) == {"staging"}
    assert labels.read_labels(other) == {"canary": newer, "production": base, "staging": newer}
    # both histories are kept: Ada's moves show on the other clone
    authors = [(m.label, m.author) for m in labels.label_log(other)]
    assert ("staging", "Ada") in authors and ("production", "Ada") in authors and ("canary", "Bob") in authors
    labels.push(other)  # now a fast-forward for the remote
    assert labels.pull(repo).changed == ["canary", "production"]
    assert labels.read_labels(repo) == labels.read_labels(other)


def test_the_later_move_wins_when_both_sides_moved(
    two_clones: tuple[Path, Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    repo, _bare, other = two_clones
    base = git(repo, "rev-parse", "HEAD").strip()
    newer = commit(repo, "a.txt", "two\n")
    git(repo, "push", "-q", "origin", "main")
    git(other, "pull", "-q", "origin", "main")
    as_author(monkeypatch, "Bob", "2026-05-01T08:00:00+00:00")
    labels.set_label(other, "production", base)
    as_author(monkeypatch, "Ada", "2026-05-01T09:00:00+00:00")
    labels.set_label(repo, "production", newer)
    labels.push(repo)
    assert labels.pull(other).changed == ["production"]
    assert labels.resolve(other, "production") == newer


def test_pull_from_a_remote_without_labels_is_a_no_op(two_clones: tuple[Path, Path, Path]) -> None:
    _repo, _bare, other = two_clones
    result = labels.pull(other)
    assert (result.changed, result.missing) == ([], [])


def test_push_without_labels_and_to_an_unknown_remote(two_clones: tuple[Path, Path, Path]) -> None:
    repo, _bare, _other = two_clones
    with pytest.raises(GitError) as none:
        labels.push(repo)
    assert "no labels to push" in none.value.message and "promptctl label set" in (none.value.hint or "")
    labels.set_label(repo, "production")
    with pytest.raises(GitError, match="no remote named 'upstream'"):
        labels.push(repo, "upstream")


def _forge_remote_labels(bare: Path, tmp_path: Path, entries: str) -> None:
    """Write a labels commit with a hand-made tree straight into the bare remote."""
    tree = subprocess.run(
        ["git", "mktree"], cwd=bare, input=entries, text=True, capture_output=True, check=True
    ).stdout.strip()
    c = git(bare, "commit-tree", tree, "-m", "forged").strip()
    git(bare, "update-ref", LABELS_REF, c)


def _blob(cwd: Path, text: str) -> str:
    return subprocess.run(
        ["git", "hash-object", "-w", "--stdin"],
        cwd=cwd,
        input=text,
        text=True,
        capture_output=True,
        check=True,
    ).stdout.strip()


@pytest.mark.parametrize(
    "kind",
    ["bad-name", "bad-value", "subtree", "escape-in-name"],
)
def test_hostile_remote_labels_are_refused_and_change_nothing(
    two_clones: tuple[Path, Path, Path], tmp_path: Path, kind: str
) -> None:
    repo, bare, other = two_clones
    head = git(repo, "rev-parse", "HEAD").strip()
    labels.set_label(other, "production")
    before = git(other, "rev-parse", LABELS_REF).strip()
    good = _blob(bare, f"{head}\n")
    if kind == "bad-name":
        entries = f"100644 blob {good}\t..\n"
    elif kind == "escape-in-name":
        entries = f"100644 blob {good}\tprod\x1b[2Juction\n"
    elif kind == "bad-value":
        evil = _blob(bare, "$(rm -rf ~)\n")
        entries = f"100644 blob {evil}\tproduction\n"
    else:
        sub = subprocess.run(
            ["git", "mktree"],
            cwd=bare,
            input=f"100644 blob {good}\tx\n",
            text=True,
            capture_output=True,
            check=True,
        ).stdout.strip()
        entries = f"040000 tree {sub}\tproduction\n"
    try:
        _forge_remote_labels(bare, tmp_path, entries)
    except subprocess.CalledProcessError:
        pytest.skip("git itself refuses to write this tree")
    with pytest.raises(GitError) as exc:
        labels.pull(other)
    assert "origin's refs/promptctl/labels" in exc.value.message
    assert "\x1b" not in exc.value.message
    assert git(other, "rev-parse", LABELS_REF).strip() == before
    assert labels.read_labels(other) == {"production": head}


def test_forged_log_entries_are_not_shown_as_moves(repo: Path) -> None:
    labels.set_label(repo, "production")
    tree = git(repo, "rev-parse", f"{LABELS_REF}^{{tree}}").strip()
    msg = "label production\n\nPromptctl-Label: production\nPromptctl-From: none\nPromptctl-To: $(evil)\n"
    c = git(repo, "commit-tree", tree, "-p", LABELS_REF, "-m", msg).strip()
    git(repo, "update-ref", LABELS_REF, c)
    assert len(labels.label_log(repo, "production")) == 1


def test_outside_a_repository_says_so(tmp_path: Path) -> None:
    for call in (
        lambda: labels.resolve(tmp_path, "production"),
        lambda: labels.set_label(tmp_path, "production"),
    ):
        with pytest.raises(GitError) as exc:
            call()
        assert "not a git repository" in exc.value.message and exc.value.hint
