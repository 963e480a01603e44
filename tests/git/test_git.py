"""promptctl.git on real throwaway repositories (git env pinned by conftest)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from promptctl.errors import EXIT_EXECUTION, GitError
from promptctl.git import notes as git_notes
from promptctl.git import repo as git_repo
from promptctl.git.plumbing import find_repo_root
from promptctl.git.sources import GitSource, WorktreeSource


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout


def write(root: Path, rel: str, text: str) -> None:
    p = root / rel
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text, encoding="utf-8")


def commit_all(root: Path, msg: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", msg)
    return git(root, "rev-parse", "HEAD").strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "repo"
    root.mkdir()
    git(root, "init", "-q", "-b", "main")
    write(root, "promptctl.yaml", "version: 1\n")
    write(root, "prompts/greet.yaml", "v: 1\n")
    write(root, "prompts/sub/deep.yaml", "deep: 1\n")
    write(root, "prompts/notes.txt", "not yaml\n")
    write(root, "cases/greet.yaml", "- case: a\n")
    return root


# ---------------------------------------------------------------------------- import cost


def test_import_does_not_import_git(repo: Path) -> None:
    code = (
        "import sys; from pathlib import Path; import promptctl.git.sources as g, promptctl.git.plumbing as p; "
        f"s = g.WorktreeSource(Path({str(repo)!r})); s.list_files('prompts', ('.yaml',)); "
        f"s.read_text('promptctl.yaml'); p.find_repo_root(Path({str(repo)!r})); "
        "assert 'git' not in sys.modules, 'git imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


# ---------------------------------------------------------------------------- sources


def test_git_source_reads_old_commit_without_touching_worktree_or_index(repo: Path) -> None:
    first = commit_all(repo, "first")
    write(repo, "prompts/greet.yaml", "v: 2\n")
    commit_all(repo, "second")
    write(repo, "prompts/greet.yaml", "v: 3 dirty\n")  # unstaged edit
    write(repo, "cases/greet.yaml", "- case: staged\n")
    git(repo, "add", "cases/greet.yaml")  # a staged edit too
    status_before = git(repo, "status", "--porcelain")
    index_before = (repo / ".git" / "index").read_bytes()

    with GitSource(repo, first[:10]) as src:
        assert src.read_text("prompts/greet.yaml") == "v: 1\n"
        assert src.read_text("./cases/greet.yaml") == "- case: a\n"
        assert src.label == src.short and first.startswith(src.label)
        assert src.sha == first
    with GitSource(repo, "HEAD~1") as src:
        assert src.label == "HEAD~1"
        assert src.read_text("prompts/greet.yaml") == "v: 1\n"

    assert git(repo, "status", "--porcelain") == status_before
    assert (repo / ".git" / "index").read_bytes() == index_before
    assert (repo / "prompts/greet.yaml").read_text() == "v: 3 dirty\n"
    assert WorktreeSource(repo).read_text("prompts/greet.yaml") == "v: 3 dirty\n"


def test_sources_agree_on_listing_and_existence(repo: Path) -> None:
    commit_all(repo, "first")
    wt = WorktreeSource(repo)
    with GitSource(repo, "main") as gs:
        for src in (wt, gs):
            assert src.list_files("prompts", (".yaml", ".yml")) == [
                "prompts/greet.yaml",
                "prompts/sub/deep.yaml",
            ]
            assert src.list_files("prompts", ()) == [
                "prompts/greet.yaml",
                "prompts/notes.txt",
                "prompts/sub/deep.yaml",
            ]
            assert src.list_files("nope", (".yaml",)) == []
            assert src.list_files("promptctl.yaml", (".yaml",)) == []  # a file is not a dir
            assert src.exists("prompts/greet.yaml") and src.exists("prompts") and src.exists("")
            assert not src.exists("prompts/missing.yaml")
            with pytest.raises(FileNotFoundError):
                src.read_text("prompts/missing.yaml")
            with pytest.raises(IsADirectoryError):
                src.read_text("prompts")
        assert wt.label == "worktree"


def test_list_files_at_ref_ignores_later_and_untracked_files(repo: Path) -> None:
    commit_all(repo, "first")
    write(repo, "prompts/new.yaml", "new\n")
    commit_all(repo, "second")
    write(repo, "prompts/untracked.yaml", "u\n")
    with GitSource(repo, "HEAD~1") as old, GitSource(repo, "HEAD") as new:
        assert "prompts/new.yaml" not in old.list_files("prompts", (".yaml",))
        assert new.list_files("prompts", (".yaml",)) == [
            "prompts/greet.yaml",
            "prompts/new.yaml",
            "prompts/sub/deep.yaml",
        ]
    assert "prompts/untracked.yaml" in WorktreeSource(repo).list_files("prompts", (".yaml",))


@pytest.mark.parametrize("bad", ["../outside.yaml", "prompts/../../x", "/etc/passwd", "C:/x", "a\\..\\b"])
def test_paths_escaping_root_are_rejected(repo: Path, bad: str) -> None:
    commit_all(repo, "first")
    (repo.parent / "outside.yaml").write_text("secret\n")
    with GitSource(repo, "HEAD") as gs:
        for src in (WorktreeSource(repo), gs):
            with pytest.raises(ValueError):
                src.read_text(bad)
            with pytest.raises(ValueError):
                src.exists(bad)
            with pytest.raises(ValueError):
                src.list_files(bad, (".yaml",))


def test_unknown_revision(repo: Path) -> None:
    commit_all(repo, "first")
    with pytest.raises(GitError, match="unknown revision 'foo'"):
        GitSource(repo, "foo")
    with pytest.raises(GitError, match="unknown revision 'nope'"):
        git_repo.resolve(repo, "nope")
    with pytest.raises(GitError, match="invalid revision"):
        git_repo.resolve(repo, "--all")


def test_not_a_repository(tmp_path: Path) -> None:
    assert find_repo_root(tmp_path) is None
    assert git_repo.head_commit(tmp_path) is None
    with pytest.raises(GitError, match="not a git repository"):
        git_repo.resolve(tmp_path, "HEAD")


# ---------------------------------------------------------------------------- repository facts


def test_repo_root_head_resolve_commit_info(repo: Path) -> None:
    assert find_repo_root(repo / "prompts" / "sub") == repo.resolve()
    assert git_repo.head_commit(repo) is None  # no commits yet
    sha = commit_all(repo, "first commit\n\nbody text")
    assert git_repo.head_commit(repo) == sha
    assert git_repo.resolve(repo, "main") == sha
    assert git_repo.resolve(repo, sha[:8]) == sha
    info = git_repo.commit_info(repo, "HEAD")
    assert info["sha"] == sha and sha.startswith(info["short"])
    assert info["subject"] == "first commit"
    assert info["author"] == "Test Author" and info["author_email"] == "author@example.invalid"
    assert info["date"] == "2026-01-01T00:00:00+00:00"


def test_is_dirty_tracks_edits_and_untracked_files_under_paths(repo: Path) -> None:
    paths = ["prompts", "cases", "promptctl.yaml"]
    assert git_repo.is_dirty(repo, paths)  # nothing committed yet
    commit_all(repo, "first")
    assert not git_repo.is_dirty(repo, paths)
    write(repo, "README.md", "outside the suite\n")
    assert not git_repo.is_dirty(repo, paths)
    assert git_repo.is_dirty(repo, [])  # whole repository
    write(repo, "cases/new/untracked.yaml", "x\n")
    assert git_repo.is_dirty(repo, paths)
    (repo / "cases/new/untracked.yaml").unlink()
    assert not git_repo.is_dirty(repo, paths)
    write(repo, ".gitignore", "*.log\n")
    write(repo, "prompts/debug.log", "ignored\n")
    assert not git_repo.is_dirty(repo, ["prompts"])
    write(repo, "promptctl.yaml", "version: 2\n")
    assert git_repo.is_dirty(repo, ["promptctl.yaml"])
    assert not git_repo.is_dirty(repo, ["prompts"])


def test_content_hash_is_stable_and_tracks_content(repo: Path) -> None:
    paths = ["prompts", "cases", "promptctl.yaml"]
    h1 = git_repo.content_hash(repo, paths)
    commit_all(repo, "first")
    assert git_repo.content_hash(repo, paths) == h1  # committing does not change content
    assert git_repo.content_hash(repo, list(reversed(paths))) == h1
    assert len(h1) == 64
    write(repo, "prompts/greet.yaml", "v: 2\n")
    h2 = git_repo.content_hash(repo, paths)
    assert h2 != h1
    write(repo, "prompts/greet.yaml", "v: 1\n")
    assert git_repo.content_hash(repo, paths) == h1
    write(repo, "prompts/extra.yaml", "")  # an empty untracked file still counts
    assert git_repo.content_hash(repo, paths) != h1
    (repo / "prompts/extra.yaml").unlink()
    write(repo, ".gitignore", "*.log\n")
    write(repo, "prompts/debug.log", "ignored\n")
    assert git_repo.content_hash(repo, paths) == h1
    # moving content between files changes the hash
    (repo / "prompts/greet.yaml").rename(repo / "prompts/greet2.yaml")
    assert git_repo.content_hash(repo, paths) != h1
    # a copy elsewhere with the same content hashes the same
    clone = repo.parent / "clone"
    git(repo.parent, "clone", "-q", str(repo), str(clone))
    assert git_repo.content_hash(clone, paths) == h1


def test_merge_base_default_branch_and_changed_files(repo: Path) -> None:
    base = commit_all(repo, "base")
    assert git_repo.default_branch(repo) == "main"
    git(repo, "checkout", "-q", "-b", "feature")
    write(repo, "prompts/greet.yaml", "v: 2\n")
    (repo / "cases/greet.yaml").unlink()
    write(repo, "prompts/added.yaml", "a\n")
    commit_all(repo, "feature work")
    git(repo, "checkout", "-q", "main")
    write(repo, "promptctl.yaml", "version: 9\n")
    commit_all(repo, "main moves on")
    git(repo, "checkout", "-q", "feature")

    mb = git_repo.merge_base(repo, "main", "feature")
    assert mb == base
    assert git_repo.changed_files(repo, mb, "HEAD") == [
        ("D", "cases/greet.yaml"),
        ("A", "prompts/added.yaml"),
        ("M", "prompts/greet.yaml"),
    ]
    assert git_repo.changed_files(repo, mb, "HEAD", paths=["cases"]) == [("D", "cases/greet.yaml")]
    # worktree mode: committed + unstaged + untracked, ignored excluded
    write(repo, "prompts/sub/deep.yaml", "deep: 2\n")
    write(repo, "cases/brand_new.yaml", "n\n")
    write(repo, ".gitignore", "*.log\n")
    write(repo, "cases/x.log", "ignored\n")
    assert git_repo.changed_files(repo, mb, None) == [
        ("A", ".gitignore"),
        ("A", "cases/brand_new.yaml"),
        ("D", "cases/greet.yaml"),
        ("A", "prompts/added.yaml"),
        ("M", "prompts/greet.yaml"),
        ("M", "prompts/sub/deep.yaml"),
    ]


def test_default_branch_prefers_origin_head(repo: Path, tmp_path: Path) -> None:
    commit_all(repo, "first")
    git(repo, "branch", "-m", "main", "trunk")
    assert git_repo.default_branch(repo) is None
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(repo), str(clone))
    assert git_repo.default_branch(clone) == "origin/trunk"


def test_merge_base_unrelated_histories(repo: Path) -> None:
    commit_all(repo, "first")
    git(repo, "checkout", "-q", "--orphan", "other")
    commit_all(repo, "unrelated")
    with pytest.raises(GitError, match="no common ancestor"):
        git_repo.merge_base(repo, "main", "other")


# ---------------------------------------------------------------------------- notes


def test_notes_write_read_list_roundtrip(repo: Path) -> None:
    a = commit_all(repo, "a")
    write(repo, "prompts/greet.yaml", "v: 2\n")
    b = commit_all(repo, "b")
    assert git_notes.notes_list(repo) == []
    assert git_notes.notes_read(repo, a) is None
    text = '{"run": 1}\n\n\n{"run": 2}   \n# not a comment'  # no stripspace cleanup
    git_notes.notes_write(repo, a, text)
    assert git_notes.notes_read(repo, a) == text
    git_notes.notes_write(repo, "HEAD", "first")
    git_notes.notes_write(repo, b, "second")  # overwrite
    assert git_notes.notes_read(repo, "HEAD") == "second"
    assert git_notes.notes_list(repo) == sorted([a, b])
    big = "x" * 300_000  # larger than one argv string may be
    git_notes.notes_write(repo, a, big)
    assert git_notes.notes_read(repo, a) == big
    assert git(repo, "status", "--porcelain") == ""
    # the default notes ref is untouched
    assert subprocess.run(["git", "notes", "list"], cwd=repo, capture_output=True, text=True).stdout == ""


@pytest.fixture
def remote_setup(repo: Path, tmp_path: Path) -> tuple[Path, Path, str]:
    """A bare remote holding one commit, the original repo as its 'origin' user, and that sha."""
    sha = commit_all(repo, "first")
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    return repo, bare, sha


def test_notes_push_and_pull_into_fresh_clone(remote_setup: tuple[Path, Path, str], tmp_path: Path) -> None:
    repo, bare, sha = remote_setup
    git_notes.notes_write(repo, sha, '{"run": "a"}\n')
    git_notes.notes_push(repo)
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    assert git_notes.notes_read(clone, sha) is None  # notes are not cloned by default
    assert git_notes.notes_pull(clone) == [sha]
    assert git_notes.notes_read(clone, sha) == '{"run": "a"}\n'
    assert git_notes.notes_pull(clone) == []  # idempotent
    assert git_notes.notes_list(clone) == [sha]
    refs = git(clone, "for-each-ref", "--format=%(refname)", "refs/notes/")
    assert refs.split() == ["refs/notes/promptctl"]  # scratch ref cleaned up


def test_notes_pull_merges_diverged_notes(remote_setup: tuple[Path, Path, str], tmp_path: Path) -> None:
    repo, bare, sha = remote_setup
    write(repo, "prompts/greet.yaml", "v: 2\n")
    sha2 = commit_all(repo, "second")
    git(repo, "push", "-q", "origin", "main")
    git_notes.notes_write(repo, sha, '{"run": "base"}\n')
    git_notes.notes_push(repo)

    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    git_notes.notes_pull(clone)
    # both machines record runs for the same commit, and one for another commit
    git_notes.notes_write(clone, sha, '{"run": "base"}\n{"run": "clone"}\n')
    git_notes.notes_write(clone, sha2, '{"run": "clone2"}\n')
    git_notes.notes_push(clone)
    git_notes.notes_write(repo, sha, '{"run": "base"}\n{"run": "repo"}\n')

    with pytest.raises(GitError, match="push failed") as err:
        git_notes.notes_push(repo)  # diverged: never forced
    assert err.value.hint is not None and "`promptctl records pull`" in err.value.hint
    # a rejected push is not a usage error: nothing the user typed is wrong
    assert err.value.exit_code == EXIT_EXECUTION

    changed = git_notes.notes_pull(repo)
    assert changed == sorted([sha, sha2])
    assert git_notes.notes_read(repo, sha) == '{"run": "base"}\n{"run": "repo"}\n{"run": "clone"}\n'
    assert git_notes.notes_read(repo, sha2) == '{"run": "clone2"}\n'
    git_notes.notes_push(repo)  # now a fast-forward
    git_notes.notes_pull(clone)
    assert git_notes.notes_read(clone, sha) == git_notes.notes_read(repo, sha)
    assert git_notes.notes_read(clone, sha2) == '{"run": "clone2"}\n'


def test_notes_pull_unrelated_histories_and_custom_merge(
    remote_setup: tuple[Path, Path, str], tmp_path: Path
) -> None:
    repo, bare, sha = remote_setup
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    # two machines start notes independently: no common notes history
    git_notes.notes_write(repo, sha, "A")
    git_notes.notes_push(repo)
    git_notes.notes_write(clone, sha, "B")
    changed = git_notes.notes_pull(clone, merge=lambda local, remote: f"{local}+{remote}")
    assert changed == [sha]
    assert git_notes.notes_read(clone, sha) == "B+A"


def test_notes_remote_errors(repo: Path) -> None:
    sha = commit_all(repo, "first")
    git_notes.notes_write(repo, sha, "x")
    with pytest.raises(GitError, match="no remote named 'origin'") as err:
        git_notes.notes_push(repo)
    assert err.value.hint is not None and "git remote add origin" in err.value.hint
    with pytest.raises(GitError, match="no remote named 'upstream'"):
        git_notes.notes_pull(repo, "upstream")
    git(repo, "remote", "add", "broken", str(repo.parent / "does-not-exist.git"))
    with pytest.raises(GitError, match="git push failed: fatal:"):
        git_notes.notes_push(repo, "broken")


def test_notes_pull_from_remote_without_notes_is_noop(remote_setup: tuple[Path, Path, str]) -> None:
    repo, _bare, _sha = remote_setup
    assert git_notes.notes_pull(repo) == []
    with pytest.raises(GitError, match="no promptctl notes to push"):
        git_notes.notes_push(repo)
