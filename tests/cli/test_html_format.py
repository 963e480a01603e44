"""``--format html`` on test, show and compare through the CLI: one file, rendered messages (a run
has them; ``show`` renders them again at the record's revision), the history chart; ``diff``
does not take it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.test_test_command import KEY, project_files
from tests.fakeserver import FakeServer
from tests.helpers import commit_all, git, init_repo, invoke, write_files


@pytest.fixture
def proj(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("FAKE_KEY", KEY)
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield init_repo(tmp_path / "repo", project_files(srv.url))


def test_test_writes_one_page_with_messages_and_history(proj: Path) -> None:
    r = invoke("test", "--format", "html", cwd=proj)
    assert r.exit_code == 0, r.output
    page = r.stdout
    assert page.startswith("<!DOCTYPE html>") and page.count('class="unit"') == 2
    assert page.count("Rendered messages") == 2 and '<span class="role">user</span><pre>goodbye</pre>' in page
    assert "History (1 run record)" in page


def test_show_renders_the_messages_again_at_the_records_revision(proj: Path) -> None:
    assert invoke("test", cwd=proj).exit_code == 0
    sha = git(proj, "rev-parse", "HEAD").strip()
    write_files(
        proj,
        {
            "prompts/echo.yaml": 'inputs: {text: {}}\ntemplate: "changed {{ text }}"\n',
            ".gitignore": ".promptctl/\n",  # a committed record would be ignored (not trusted)
        },
    )
    commit_all(proj, "change the prompt")
    r = invoke("show", "--format", "html", "-o", "out.html", cwd=proj)
    assert r.exit_code == 0, r.output
    page = (proj / "out.html").read_text("utf-8")
    assert "<pre>hello world</pre></div>" in page and "changed hello" not in page  # the record's revision
    assert "Rendered messages not available" not in page
    assert invoke("show", sha, "--format", "html", cwd=proj).stdout.count("Rendered messages") == 2


def test_compare_html_and_diff_rejects_it(proj: Path) -> None:
    assert invoke("test", cwd=proj).exit_code == 0
    write_files(proj, {"prompts/echo.yaml": 'inputs: {text: {}}\ntemplate: "{{ text }}!"\n'})
    commit_all(proj, "exclaim")
    r = invoke("compare", "HEAD~1", "HEAD", "--format", "html", cwd=proj)
    assert r.exit_code == 0, r.output
    assert "<ins>!</ins>" in r.stdout and "History (2 run records)" in r.stdout
    bad = invoke("diff", "--format", "html", cwd=proj)
    assert bad.exit_code == 2 and "unknown --format 'html'; use table, markdown or json" in bad.output
    bad = invoke("compare", "--format", "pdf", cwd=proj)
    assert bad.exit_code == 2 and "use table, markdown, json or html" in bad.output
