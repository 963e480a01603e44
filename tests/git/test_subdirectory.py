"""A project in a subdirectory of its repository (a monorepo): revisions are read from the project's
place in the tree, and git's repository paths come back as the project's paths."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import commit_all, init_repo, invoke, write_files

FILES = {
    "proj/promptctl.yaml": "model: gpt-4o-mini\n",
    "proj/prompts/echo.yaml": 'inputs: {text: {}}\ntemplate: "Say: {{ text }}"\n',
    "proj/cases/echo.yaml": "prompt: echo\ncases:\n  - {id: a, vars: {text: hi}, assert: [not_empty]}\n",
    "elsewhere/prompts/echo.yaml": "not: promptctl's\n",
}


def test_ref_and_diff_read_the_project_inside_the_repository(tmp_path: Path) -> None:
    repo = init_repo(tmp_path / "mono", FILES)
    proj = repo / "proj"
    write_files(repo, {"proj/prompts/echo.yaml": FILES["proj/prompts/echo.yaml"].replace("Say", "Shout")})
    write_files(repo, {"elsewhere/prompts/echo.yaml": "changed: too\n"})
    old = invoke("render", "echo", "--var", "text=x", "--ref", "HEAD", cwd=proj)
    assert old.exit_code == 0, old.output
    assert "Say: x" in old.stdout
    assert "Shout: x" in invoke("render", "echo", "--var", "text=x", cwd=proj).stdout
    d = invoke("diff", "HEAD", "--format", "json", cwd=proj)
    assert d.exit_code == 0, d.output
    data = json.loads(d.stdout)
    assert [f["path"] for f in data["changed_files"]] == ["prompts/echo.yaml"]  # not elsewhere/, not proj/...
    commit_all(repo, "shout")
    lst = invoke("list", "--ref", "HEAD~1", cwd=proj)
    assert lst.exit_code == 0 and "echo" in lst.stdout
