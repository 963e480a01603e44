"""`promptctl lint` for CI and commit hooks: `--format github` workflow annotations, `--strict`
(warnings fail), the pre-commit hook this repository ships, and a changed prompt's case files."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import yaml

from promptctl.errors import Problem
from promptctl.report.github import annotation
from tests.helpers import MINIMAL, init_repo, invoke, write_files

REPO = Path(__file__).resolve().parents[2]

UNUSED = {  # a clean suite but for one warning: 'tone' is declared and never used
    **MINIMAL,
    "prompts/greet.yaml": 'inputs:\n  name: {}\n  tone: {default: warm}\ntemplate: "Say hello to {{ name }}."\n',
}
BROKEN = {**MINIMAL, "prompts/bad.yaml": 'inputs: {a: {}}\ntemplate: "{{ b }}"\n'}


def test_github_format_prints_one_annotation_per_problem(tmp_path: Path) -> None:
    write_files(tmp_path, {**BROKEN, **{k: v for k, v in UNUSED.items() if k.startswith("prompts/greet")}})
    text = invoke("lint", cwd=tmp_path)
    r = invoke("lint", "--format", "github", cwd=tmp_path)
    assert r.exit_code == 2 == text.exit_code
    lines = [line for line in r.stdout.splitlines() if line.startswith("::")]
    assert len(lines) == len([line for line in text.stdout.splitlines() if line.strip()])
    error = next(line for line in lines if line.startswith("::error "))
    m = re.match(r"^::error file=prompts/bad\.yaml,line=(\d+),col=(\d+),title=promptctl lint::(.+)$", error)
    assert m is not None, error
    assert f"prompts/bad.yaml:{m.group(1)}:{m.group(2)}: {m.group(3)}" in text.stdout  # the same place
    warnings = [line for line in lines if line.startswith("::warning ")]
    assert any("file=prompts/greet.yaml" in w and "'tone'" in w for w in warnings), warnings


def test_annotation_paths_are_from_the_repository_root(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "repo")
    write_files(repo / "ai", BROKEN)
    r = invoke("lint", "--format", "github", cwd=repo / "ai")
    assert r.exit_code == 2
    assert "::error file=ai/prompts/bad.yaml," in r.stdout


def test_annotations_escape_what_github_would_read_as_syntax() -> None:
    p = Problem("prompts/a,b:c.yaml", 3, 0, "100% wrong:\nsecond line")
    assert annotation(p) == (
        "::error file=prompts/a%2Cb%3Ac.yaml,line=3,col=1,title=promptctl lint::100%25 wrong:%0Asecond line"
    )
    whole_file = Problem("cases/x.yaml", 0, 0, "cannot read", severity="warning")
    assert (
        annotation(whole_file, prefix="sub")
        == "::warning file=sub/cases/x.yaml,title=promptctl lint::cannot read"
    )


def test_strict_makes_warnings_fail_with_exit_1(tmp_path: Path) -> None:
    write_files(tmp_path, UNUSED)
    relaxed = invoke("lint", cwd=tmp_path)
    assert relaxed.exit_code == 0 and "1 warning(s)" in relaxed.stdout
    strict = invoke("lint", "--strict", cwd=tmp_path)
    assert strict.exit_code == 1 and "--strict: warnings fail" in strict.stderr
    write_files(tmp_path, BROKEN)
    assert invoke("lint", "--strict", cwd=tmp_path).exit_code == 2  # errors stay invalid input
    write_files(tmp_path, MINIMAL)
    (tmp_path / "prompts/bad.yaml").unlink()
    assert invoke("lint", "--strict", cwd=tmp_path).exit_code == 0


def test_unknown_lint_format_is_a_usage_error(tmp_path: Path) -> None:
    write_files(tmp_path, MINIMAL)
    r = invoke("lint", "--format", "sarif", cwd=tmp_path)
    assert r.exit_code == 2 and "use text or github" in r.stderr


def test_a_changed_prompt_reports_its_case_files_too(tmp_path: Path) -> None:
    """A prompt edit that breaks its cases (a new required input) is caught by `lint PROMPT`."""
    write_files(
        tmp_path,
        {
            **MINIMAL,
            "prompts/greet.yaml": 'inputs: {name: {}, city: {}}\ntemplate: "Hi {{ name }} of {{ city }}"\n',
        },
    )
    r = invoke("lint", "prompts/greet.yaml", cwd=tmp_path)
    assert r.exit_code == 2 and "cases/greet.yaml:" in r.stdout and "city" in r.stdout
    assert "cases/greet.yaml:" in invoke("lint", "prompts", cwd=tmp_path).stdout  # a folder of prompts
    assert invoke("lint", "promptctl.yaml", cwd=tmp_path).exit_code == 2  # the config reaches all
    write_files(tmp_path, {"prompts/_partials/p.j2": "x", "prompts/_partials/more/q.yaml": "y: 1\n"})
    for partial in ("prompts/_partials/p.j2", "prompts/_partials/more/q.yaml"):
        r = invoke("lint", partial, cwd=tmp_path)
        assert r.exit_code == 2 and "cases/greet.yaml:" in r.stdout, partial


def test_the_pre_commit_hook_runs_lint_on_changed_prompt_files(tmp_path: Path) -> None:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    hook = next(h for h in hooks if h["id"] == "promptctl-lint")
    assert hook["pass_filenames"] is True and hook["language"] == "python"
    assert shlex.split(hook["entry"])[:2] == ["promptctl", "lint"]
    files, exclude = re.compile(hook["files"]), re.compile(hook["exclude"])

    def selected(path: str) -> bool:  # pre-commit: `files` searched, then `exclude` searched
        return bool(files.search(path)) and not exclude.search(path)

    for path in ("prompts/a.yaml", "prompts/support/b.yml", "prompts/_partials/p.j2", "cases/a.yaml",
                 "promptctl.yaml", "sub/prompts/x.yaml", "sub/promptctl.yaml"):  # fmt: skip
        assert selected(path), path
    for path in (
        "cases/__recordings__/a.yaml",
        "README.md",
        "src/app.py",
        "myprompts/a.yaml",
        "cases/data.csv",
    ):
        assert not selected(path), path
    # what pre-commit runs: the entry with the changed files as arguments
    write_files(tmp_path, BROKEN)
    args = shlex.split(hook["entry"])[1:]
    assert invoke(*args, "prompts/bad.yaml", "cases/greet.yaml", cwd=tmp_path).exit_code == 2
    assert invoke(*args, "prompts/greet.yaml", "cases/greet.yaml", cwd=tmp_path).exit_code == 0
