"""Reports written by `promptctl test` / `show`: `-o FORMAT=FILE` (several in one run), `-o FILE` in
`--format`'s format, and the terminal summary and exit code kept whatever is written."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakeserver import FakeServer
from tests.helpers import init_repo, invoke

KEY = "sk-test-0123456789abcdef0123456789"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


@pytest.fixture
def proj(tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FAKE_KEY", KEY)
    return init_repo(
        tmp_path / "repo",
        {
            "promptctl.yaml": f"model: fake\nmodels:\n  fake:\n    model: openai/gpt-4o-mini\n"
            f"    api_base: {server.url}\n    api_key_env: FAKE_KEY\n",
            "prompts/echo.yaml": 'inputs: {text: {}}\ntemplate: "{{ text }}"\n',
            "cases/echo.yaml": "prompt: echo\ncases:\n"
            "  - {id: ok, vars: {text: fine}, assert: [not_empty]}\n"
            "  - {id: bad, vars: {text: fine too}, assert: [{type: contains, value: zebra}]}\n",
        },
    )


def _terminal_view(stdout: str) -> None:
    assert "Failures" in stdout and "zebra" in stdout
    assert "1 passed, 1 failed, 0 errors" in stdout


def test_format_with_output_file_keeps_the_terminal_summary_and_exit_code(proj: Path) -> None:
    r = invoke("test", "--format", "junit", "-o", "report.xml", cwd=proj)
    assert r.exit_code == 1, r.output
    _terminal_view(r.stdout)
    root = ET.parse(proj / "report.xml").getroot()
    assert root.get("tests") == "2" and root.get("failures") == "1"
    assert "junit report written to report.xml" in r.stderr


def test_several_reports_in_one_run(proj: Path, server: FakeServer) -> None:
    r = invoke(
        "test", "-o", "junit=out/report.xml", "-o", "json=run.json", "-o", "markdown=summary.md", cwd=proj
    )
    assert r.exit_code == 1, r.output
    _terminal_view(r.stdout)
    assert server.stats()["requests"] == 2  # one run, three reports
    assert ET.parse(proj / "out/report.xml").getroot().get("failures") == "1"
    assert json.loads((proj / "run.json").read_text())["summary"]["failed"] == 1
    assert (proj / "summary.md").read_text().startswith("### ❌ promptctl test")
    assert not list(proj.rglob("*.tmp"))


def test_a_bare_file_takes_the_format_option(proj: Path) -> None:
    assert invoke("test", "-o", "plain.json", cwd=proj).exit_code == 1  # table: JSON, as before
    assert json.loads((proj / "plain.json").read_text())["summary"]["passed"] == 1
    assert invoke("test", "--format", "markdown", "-o", "r.md", cwd=proj).exit_code == 1
    assert (proj / "r.md").read_text().startswith("### ❌")
    # a file name with '=' in it: ./ makes it a path
    assert invoke("test", "-o", "./a=b.json", cwd=proj).exit_code == 1
    assert json.loads((proj / "a=b.json").read_text())["rows"]


def test_machine_format_on_stdout_stays_clean_and_the_summary_goes_to_stderr(proj: Path) -> None:
    r = invoke("test", "--format", "json", "-o", "junit=r.xml", cwd=proj)
    assert r.exit_code == 1
    assert json.loads(r.stdout)["summary"]["failed"] == 1
    assert "1 passed, 1 failed" in r.stderr and (proj / "r.xml").is_file()


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["-o", "jsno=x.json"], "unknown report format 'jsno'"),
        (["-o", "json="], "no file name"),
        (["-o", "json=same.out", "-o", "junit=same.out"], "twice"),
        (["-o", "cases"], "is a directory"),
        (["--format", "xml", "-o", "x"], "unknown --format 'xml'"),
    ],
)
def test_bad_report_options_fail_before_any_call(
    proj: Path, server: FakeServer, args: list[str], fragment: str
) -> None:
    r = invoke("test", *args, cwd=proj)
    assert r.exit_code == 2, r.output
    assert fragment in r.stderr
    assert server.stats()["requests"] == 0 and not (proj / ".promptctl/runs").exists()


def test_show_writes_several_reports_too(proj: Path) -> None:
    invoke("test", cwd=proj)
    r = invoke("show", "-o", "junit=s.xml", "-o", "json=s.json", cwd=proj)
    assert r.exit_code == 0, r.output
    _terminal_view(r.stdout)
    assert ET.parse(proj / "s.xml").getroot().get("tests") == "2"
    assert json.loads((proj / "s.json").read_text())["summary"]["units"] == 2
