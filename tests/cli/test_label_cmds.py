"""`promptctl label …` and `--label` through the CLI entry point, on real repositories: a move made
on one clone shows in `label log` on another after push and pull."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import MINIMAL, commit_all, git, init_repo, invoke, write_files


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "repo", MINIMAL)


def head(root: Path) -> str:
    return git(root, "rev-parse", "HEAD").strip()


def test_set_show_list_log_delete(repo: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = head(repo)
    r = invoke("label", "set", "production", cwd=repo)
    assert r.exit_code == 0 and r.stdout.strip() == f"production set to {first[:12]} (initial)"
    write_files(repo, {"prompts/greet.yaml": 'inputs: {name: {}}\ntemplate: "Hi {{ name }}."\n'})
    second = commit_all(repo, "friendlier greeting")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Bob")
    monkeypatch.setenv("GIT_AUTHOR_DATE", "2026-02-01T09:30:00+00:00")
    r = invoke("label", "set", "production", "HEAD", cwd=repo)
    assert r.stdout.strip() == f"production moved {first[:12]} → {second[:12]} (friendlier greeting)"
    assert invoke("label", "set", "production", cwd=repo).stdout.startswith("production already names")
    invoke("label", "set", "staging", first, cwd=repo)

    listed = invoke("label", "list", "--json", cwd=repo)
    rows = json.loads(listed.stdout)
    assert [(x["label"], x["commit"], x["subject"]) for x in rows] == [
        ("production", second, "friendlier greeting"),
        ("staging", first, "initial"),
    ]
    text = invoke("label", "list", cwd=repo).stdout
    assert "production  " + second[:12] in text and "Bob" in text

    log = json.loads(invoke("label", "log", "production", "--json", cwd=repo).stdout)
    assert [(m["from"], m["to"], m["author"]) for m in log] == [
        (first, second, "Bob"),
        (None, first, "Test Author"),
    ]
    assert log[0]["time"] == "2026-02-01T09:30:00+00:00"
    table = invoke("label", "log", cwd=repo).stdout.splitlines()
    assert table[0].split() == ["WHEN", "LABEL", "FROM", "TO", "BY"] and len(table) == 4

    show = json.loads(invoke("label", "show", "staging", "--json", cwd=repo).stdout)
    assert show["commit"] == first and show["subject"] == "initial"
    assert {p["prompt"]: p["at_head"] for p in show["prompts"]} == {"greet": "differs"}
    shown = invoke("label", "show", "production", cwd=repo).stdout
    assert f"production → {second[:12]} friendlier greeting" in shown and "greet" in shown and "same" in shown

    assert (
        invoke("label", "delete", "staging", cwd=repo).stdout.strip()
        == f"staging deleted (it named {first[:12]})"
    )
    assert [x["label"] for x in json.loads(invoke("label", "list", "--json", cwd=repo).stdout)] == [
        "production"
    ]


def test_errors_have_hints_and_exit_2(repo: Path) -> None:
    none = invoke("label", "show", "production", cwd=repo)
    assert none.exit_code == 2 and "unknown label 'production'" in none.stderr
    assert "hint: set one with `promptctl label set production REV`" in none.stderr
    invoke("label", "set", "production", cwd=repo)
    typo = invoke("render", "greet", "--var", "name=x", "--label", "prodution", cwd=repo)
    assert (
        typo.exit_code == 2 and "did you mean 'production'" in typo.stderr and "Traceback" not in typo.output
    )
    bad = invoke("label", "set", "Prod uction", cwd=repo)
    assert bad.exit_code == 2 and "invalid label name" in bad.stderr
    rev = invoke("label", "set", "production", "nope", cwd=repo)
    assert rev.exit_code == 2 and "unknown revision 'nope'" in rev.stderr
    both = invoke("list", "--ref", "HEAD", "--label", "production", cwd=repo)
    assert both.exit_code == 2 and "--ref and --label" in both.stderr
    assert invoke("label", "log", "canary", cwd=repo).stdout.strip() == "label 'canary' was never set"


def test_label_works_wherever_ref_does(repo: Path, tmp_path: Path) -> None:
    invoke("label", "set", "production", cwd=repo)
    write_files(
        repo,
        {
            "prompts/greet.yaml": 'inputs: {name: {}}\ntemplate: "Bye {{ name }}"\n',
            "prompts/extra.yaml": "template: extra\n",
        },
    )
    commit_all(repo, "v2")
    rendered = invoke("render", "greet", "--var", "name=Ada", "--label", "production", "--json", cwd=repo)
    assert json.loads(rendered.stdout) == [{"role": "user", "content": "Say hello to Ada."}]
    listed = json.loads(invoke("list", "--label", "production", "--json", cwd=repo).stdout)
    assert [p["name"] for p in listed] == ["greet"]
    assert invoke("lint", "--label", "production", cwd=repo).exit_code == 0
    dry = invoke("test", "--label", "production", "--dry-run", cwd=repo)
    assert dry.exit_code == 0 and "1 rows (1 cases)" in dry.stdout


def test_a_move_shows_in_label_log_on_another_clone(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(bare), str(other))

    monkeypatch.setenv("GIT_AUTHOR_NAME", "Ada")
    assert invoke("label", "set", "production", cwd=repo).exit_code == 0
    pushed = invoke("label", "push", cwd=repo)
    assert pushed.exit_code == 0 and "pushed refs/promptctl/labels to origin" in pushed.stdout
    pulled = invoke("label", "pull", cwd=other)
    assert pulled.stdout.strip() == "pulled labels from origin: 1 changed (production)"

    write_files(repo, {"prompts/greet.yaml": 'inputs: {name: {}}\ntemplate: "Hey {{ name }}"\n'})
    second = commit_all(repo, "v2")
    git(repo, "push", "-q", "origin", "main")
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Bob")
    invoke("label", "set", "production", cwd=repo)
    invoke("label", "push", "origin", cwd=repo)
    invoke("label", "pull", "origin", cwd=other)
    git(other, "pull", "-q", "origin", "main")
    log = invoke("label", "log", "production", cwd=other)
    lines = log.stdout.splitlines()
    assert len(lines) == 3 and second[:12] in lines[1] and "Bob" in lines[1] and "Ada" in lines[2]
    rendered = invoke("render", "greet", "--label", "production", "--var", "name=x", "--json", cwd=other)
    assert json.loads(rendered.stdout)[0]["content"] == "Hey x"

    # the remote has moves this clone lacks: the push is refused with what to do
    invoke("label", "set", "staging", cwd=other)
    invoke("label", "set", "canary", cwd=repo)
    invoke("label", "push", cwd=repo)
    refused = invoke("label", "push", cwd=other)
    assert (
        refused.exit_code == 2
        and "hint: run `promptctl label pull origin`, then push again" in refused.stderr
    )
    assert invoke("label", "pull", cwd=other).exit_code == 0
    assert invoke("label", "push", cwd=other).exit_code == 0


def test_pull_warns_about_labels_naming_commits_not_fetched(repo: Path, tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(repo, "remote", "add", "origin", str(bare))
    git(repo, "push", "-q", "origin", "main")
    other = tmp_path / "other"
    git(tmp_path, "clone", "-q", str(bare), str(other))
    commit_all(repo, "local only")
    invoke("label", "set", "staging", cwd=repo)
    invoke("label", "push", cwd=repo)
    pulled = invoke("label", "pull", cwd=other)
    assert (
        pulled.exit_code == 0
        and "warning: label 'staging' names a commit this clone does not have" in pulled.stderr
    )
    listed = invoke("label", "list", cwd=other)
    assert "(commit not in this clone: git fetch)" in listed.stdout
