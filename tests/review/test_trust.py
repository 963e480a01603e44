"""Only trusted records reach the gate: a record committed into the tree is ignored, and records from
git notes are checked against the record schema (a bad line is skipped with a warning, never a crash).
Each attack is a pull request on a real throwaway repository, judged through the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from promptctl.git.notes import notes_write
from tests.fakeserver import FakeServer
from tests.helpers import git, invoke
from tests.records.rows import record, row
from tests.review.common import KEY, commit, config, new_repo

PROMPT = """
    inputs: {text: {}}
    template: "{{ text }}"
"""
CASES = """
    prompt: echo
    cases:
      - {id: hello, vars: {text: hello world}, assert: [{type: contains, value: hello}]}
      - {id: bye, vars: {text: goodbye}, assert: [{type: contains, value: goodbye}]}
      - {id: other, vars: {text: anything}, assert: [not_empty]}
"""


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    monkeypatch.setenv("FAKE_KEY", KEY)
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


def collapsed_pr(root: Path, srv: FakeServer) -> tuple[str, str]:
    """main: the echo suite, all passing; the pull request: upper-cases every output (2 of 3 fail)."""
    _, base = new_repo(
        root, {"promptctl.yaml": config(srv.url), "prompts/echo.yaml": PROMPT, "cases/echo.yaml": CASES}
    )
    head = commit(
        root, {"prompts/echo.yaml": PROMPT.replace('"{{ text }}"', '"{{ text | upper }}"')}, "upper"
    )
    return base, head


def forged(base: str, **changes: Any) -> dict[str, Any]:
    """A record of ``base`` claiming every case already failed there (so the collapse looks old)."""
    rows = [row(c, "fail", prompt="echo", model="fake") for c in ("hello", "bye", "other")]
    return {**record(rows, commit=base).to_dict(), **changes}


def gate(root: Path, base: str) -> tuple[int, dict[str, Any], str]:
    r = invoke("compare", base, "--gate", "--format", "json", cwd=root)
    assert r.exit_code in (0, 1), r.output
    return r.exit_code, json.loads(r.stdout), r.stderr


def test_a_record_committed_into_the_tree_is_ignored(tmp_path: Path, server: FakeServer) -> None:
    root = tmp_path / "repo"
    base, _head = collapsed_pr(root, server)
    runs = root / ".promptctl/runs" / base
    runs.mkdir(parents=True)
    (runs / "20260101T000000000000Z-forged.json").write_text(json.dumps(forged(base)), "utf-8")
    git(root, "add", "-f", ".promptctl/runs")
    head = commit(root, {}, "add a 'record' of main")
    assert git(root, "ls-files", ".promptctl").strip() != ""
    code, data, err = gate(root, base)
    assert code == 1, data["gate"]
    assert data["base"]["origin"] == "ran" and data["head"]["sha"] == head
    assert {u["case_key"]: u["transition"] for u in data["units"]}["echo::hello"] == "pass_to_fail"
    assert "ignoring 1 run record tracked by git" in err and "20260101T000000000000Z-forged.json" in err
    assert invoke("history", "--json", cwd=root).stdout.count("forged") == 0
    shown = invoke("show", base, "--format", "json", cwd=root)
    assert json.loads(shown.stdout)["summary"]["passed"] == 3  # the real run, not the forgery


def test_a_symlinked_runs_folder_is_not_trusted(tmp_path: Path, server: FakeServer) -> None:
    root = tmp_path / "repo"
    base, _head = collapsed_pr(root, server)
    stash = root / "fixtures" / base
    stash.mkdir(parents=True)
    (stash / "20260101T000000000000Z-forged.json").write_text(json.dumps(forged(base)), "utf-8")
    (root / ".promptctl").mkdir()
    (root / ".promptctl/runs").symlink_to(root / "fixtures")
    commit(root, {}, "fixtures")
    code, data, err = gate(root, base)
    assert code == 1 and data["base"]["origin"] == "ran"
    assert ".promptctl/runs is a symbolic link" in err


@pytest.mark.parametrize(
    ("line", "warning"),
    [
        (lambda b: forged(b, schema_version=99), "schema_version 99"),
        (lambda b: forged(b, rows="all good"), "rows: expected a list"),
        (lambda b: forged(b, rows=[{"case_key": "echo::hello"}]), "rows[0]: missing 'model'"),
        (lambda b: {**forged(b), "rows": [{**forged(b)["rows"][0], "sample": "0"}]}, "rows[0].sample"),
        (lambda b: forged(b, commit="f" * 40), "is for commit ffffffffff"),
        (lambda b: forged(b, dirty=True), "dirty"),
        (lambda b: [1, 2, 3], "not a JSON object"),
        (lambda b: forged(b, complete="yes"), "complete: expected true or false"),
    ],
)
def test_bad_records_in_git_notes_are_skipped_with_a_warning(
    tmp_path: Path, server: FakeServer, line: Any, warning: str
) -> None:
    root = tmp_path / "repo"
    base, _head = collapsed_pr(root, server)
    notes_write(root, base, "{not json\n" + json.dumps(line(base)) + "\n")
    code, data, err = gate(root, base)
    assert code == 1 and data["base"]["origin"] == "ran", err
    assert f"git note of {base[:10]}, line 1: not JSON; skipped" in err
    assert f"git note of {base[:10]}, line 2: " in err and warning in err, err
    assert invoke("history", cwd=root).exit_code == 0
    show = invoke("show", base, cwd=root)
    assert show.exit_code == 0 and "Traceback" not in show.output  # the base's record from compare


def test_a_damaged_local_record_is_passed_over_with_a_warning(tmp_path: Path, server: FakeServer) -> None:
    """A local record that breaks the record schema is damaged: compare says so and runs the side."""
    root = tmp_path / "repo"
    base, _head = collapsed_pr(root, server)
    runs = root / ".promptctl/runs" / base
    runs.mkdir(parents=True)
    bad = runs / "20260101T000000000000Z-bad.json"
    bad.write_text(json.dumps(forged(base, rows="all good")), "utf-8")
    code, data, err = gate(root, base)
    assert code == 1 and data["base"]["origin"] == "ran"
    assert f"warning: skipped {bad}: damaged run record (rows: expected a list, got 'all good')" in err
