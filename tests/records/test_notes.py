"""Run records shared as git notes: pushed from a machine with no git identity (every CI runner)."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import GIT_ENV
from tests.fakeserver import FakeServer
from tests.helpers import git, invoke
from tests.review.common import KEY, config, new_repo

PROMPT = """
    inputs: {text: {}}
    template: "{{ text }}"
"""
CASES = """
    prompt: echo
    cases:
      - {id: hello, vars: {text: hello world}, assert: [{type: contains, value: hello}]}
"""


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    monkeypatch.setenv("FAKE_KEY", KEY)
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


def test_records_push_works_where_git_has_no_identity(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, sha = new_repo(
        tmp_path / "repo",
        {"promptctl.yaml": config(server.url), "prompts/echo.yaml": PROMPT, "cases/echo.yaml": CASES},
    )
    bare = tmp_path / "remote.git"
    subprocess.run(["git", "init", "-q", "--bare", "-b", "main", str(bare)], check=True)
    git(root, "remote", "add", "origin", str(bare))
    git(root, "push", "-q", "origin", "main")
    # From here on, as on a CI runner: empty HOME and XDG dirs, no identity anywhere.
    empty = tmp_path / "empty-home"
    empty.mkdir()
    monkeypatch.setenv("HOME", str(empty))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(empty / "xdg"))
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(empty / ".gitconfig"))
    for var in [*GIT_ENV, "EMAIL"]:
        if var != "GIT_CONFIG_NOSYSTEM":
            monkeypatch.delenv(var, raising=False)
    no_identity = subprocess.run(
        ["git", "commit", "--allow-empty", "-q", "-m", "x"], cwd=root, capture_output=True, text=True
    )
    assert no_identity.returncode != 0  # git itself cannot commit here
    assert invoke("test", cwd=root).exit_code == 0
    pushed = invoke("records", "push", cwd=root)
    assert pushed.exit_code == 0, pushed.output
    assert "attached 1 new record(s)" in pushed.stdout
    author = git(bare, "log", "-1", "--format=%an <%ae>|%cn <%ce>", "refs/notes/promptctl").strip()
    assert author == "promptctl <records@promptctl.invalid>|promptctl <records@promptctl.invalid>"
    # a second machine (no identity either) adds its run to the same commit's note and pushes
    clone = tmp_path / "clone"
    subprocess.run(["git", "clone", "-q", str(bare), str(clone)], check=True)
    assert invoke("test", cwd=clone).exit_code == 0
    assert invoke("records", "pull", cwd=clone).exit_code == 0
    assert invoke("records", "push", cwd=clone).exit_code == 0
    # the first machine ran again meanwhile: its push is refused until it merges (a notes merge
    # commit, made with promptctl's identity too)
    assert invoke("test", cwd=root).exit_code == 0
    assert invoke("records", "push", cwd=root).exit_code != 0
    pulled = invoke("records", "pull", cwd=root)
    assert pulled.exit_code == 0, pulled.output
    again = invoke("records", "push", cwd=root)
    assert again.exit_code == 0, again.output
    note = git(root, "notes", "--ref", "refs/notes/promptctl", "show", sha)
    assert len(note.splitlines()) == 3  # both machines' records, none lost
    authors = git(bare, "log", "--format=%an <%ae>", "refs/notes/promptctl").split("\n")[:-1]
    assert set(authors) == {"promptctl <records@promptctl.invalid>"} and len(authors) >= 4
    assert git(bare, "log", "--merges", "--format=%cn", "refs/notes/promptctl").strip() == "promptctl"
