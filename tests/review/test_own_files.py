"""Each side is graded by its own files: case files, `json_schema` files, `python` validators (and the
modules they import) and the `_judge.yaml` override are read from the revision being graded, and the
compare report lists the assertions and validator files that differ between the sides."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fakeserver import FakeServer, last_user_message
from tests.helpers import invoke, write_files
from tests.review.common import KEY, commit, config, new_repo

PROMPT = """
    inputs: {text: {}}
    template: "{{ text }}"
"""
CASES = """
    prompt: echo
    cases:
      - id: shaped
        vars: {text: '{"result": 1}'}
        assert: [{type: json_schema, value: schemas/answer.json}]
      - id: custom
        vars: {text: hello there}
        assert: [{type: python, value: "checks.verdicts:greets"}]
"""
SCHEMA_RESULT = '{"type": "object", "required": ["result"]}'
SCHEMA_ANSWER = '{"type": "object", "required": ["answer"]}'
VERDICTS = """
    from helpers import GREETING

    def greets(output):
        return GREETING in output
"""


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    monkeypatch.setenv("FAKE_KEY", KEY)
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


def files(url: str, *, schema: str = SCHEMA_RESULT, greeting: str = "hello") -> dict[str, str]:
    return {
        "promptctl.yaml": config(url),
        "prompts/echo.yaml": PROMPT,
        "cases/echo.yaml": CASES,
        "schemas/answer.json": schema,
        "checks/__init__.py": "",
        "checks/verdicts.py": VERDICTS,
        "helpers.py": f"GREETING = {greeting!r}\n",
    }


def statuses(r: Any) -> dict[str, str]:
    assert r.exit_code in (0, 1), r.output
    return {row["case"]: row["status"] for row in json.loads(r.stdout)["rows"]}


def test_a_revision_is_graded_by_its_own_schema_and_python_files(tmp_path: Path, server: FakeServer) -> None:
    root, c0 = new_repo(tmp_path / "repo", files(server.url))
    # the worktree (and the next commit) require another key and greet differently
    c1 = commit(root, files(server.url, schema=SCHEMA_ANSWER, greeting="bonjour"), "stricter checks")
    assert statuses(invoke("test", "--format", "json", cwd=root)) == {"shaped": "fail", "custom": "fail"}
    at_c0 = invoke("test", "--ref", c0, "--format", "json", cwd=root)
    assert statuses(at_c0) == {"shaped": "pass", "custom": "pass"}  # c0's schema, c0's modules
    # the sides of a compare see their own modules, helpers included, in either order
    data = json.loads(invoke("compare", c0, c1, "--format", "json", "--rerun", cwd=root).stdout)
    assert {u["case_key"]: u["transition"] for u in data["units"]} == {
        "echo::shaped": "pass_to_fail",
        "echo::custom": "pass_to_fail",
    }
    data = json.loads(invoke("compare", c1, c0, "--format", "json", "--rerun", cwd=root).stdout)
    assert {u["transition"] for u in data["units"]} == {"fail_to_pass"}
    # an uncommitted edit of a module a validator imports makes the worktree dirty: it is the head
    # side, graded by the files on disk (not HEAD's record), and its record says so
    assert invoke("test", cwd=root).exit_code == 1  # a record of the clean HEAD (c1)
    write_files(root, {"helpers.py": "GREETING = 'hello'\n"})
    data = json.loads(invoke("compare", c1, "--format", "json", cwd=root).stdout)
    assert data["head"]["label"] == "worktree" and data["head"]["dirty"] is True
    assert {u["case_key"]: u["transition"] for u in data["units"]}["echo::custom"] == "fail_to_pass"
    dirty = [p.name for p in (root / ".promptctl/runs").iterdir() if "-dirty-" in p.name]
    assert len(dirty) == 1 and dirty[0].startswith(c1)
    assert data["checks"]["files"] == [
        {"path": "helpers.py", "kind": "python", "change": "modified", "used_by": ["echo::custom"]}
    ]


def test_the_judge_override_is_read_at_the_revision(tmp_path: Path, server: FakeServer) -> None:
    def answer(body: dict[str, Any]) -> str:
        text = json.dumps(body["messages"])
        if "GRADE" in text:
            return json.dumps({"score": 1.0 if "BASE-JUDGE" in text else 0.0, "reason": "r"})
        return last_user_message(body)

    server.configure(responder=answer)
    judge = """
        inputs: {{rubric: {{}}, output: {{}}, input: {{}}, expected: {{}}}}
        messages:
          - role: system
            content: "{who} GRADE {{{{ rubric }}}}: {{{{ output }}}}"
    """
    cases = "prompt: echo\ncases:\n  - {id: j, vars: {text: hi}, assert: [{type: judge, rubric: nice}]}\n"
    root, c0 = new_repo(
        tmp_path / "repo",
        {
            "promptctl.yaml": config(server.url),
            "prompts/echo.yaml": PROMPT,
            "prompts/_judge.yaml": judge.format(who="BASE-JUDGE"),
            "cases/echo.yaml": cases,
        },
    )
    commit(root, {"prompts/_judge.yaml": judge.format(who="HEAD-JUDGE")}, "another judge")
    assert statuses(invoke("test", "--format", "json", cwd=root)) == {"j": "fail"}
    assert statuses(invoke("test", "--ref", c0, "--format", "json", cwd=root)) == {"j": "pass"}
    data = json.loads(invoke("compare", c0, "--format", "json", cwd=root).stdout)
    assert data["units"][0]["transition"] == "pass_to_fail"
    assert [f["path"] for f in data["checks"]["files"]] == ["prompts/_judge.yaml"]


def test_compare_lists_changed_assertions_and_validator_files(tmp_path: Path, server: FakeServer) -> None:
    root, c0 = new_repo(tmp_path / "repo", files(server.url))
    c1 = commit(
        root,
        {
            **files(server.url, schema=SCHEMA_ANSWER, greeting="bonjour"),
            "cases/echo.yaml": CASES.replace(
                "value: schemas/answer.json}", "value: schemas/answer.json, not: true}"
            ),
        },
        "loosen",
    )
    r = invoke("compare", c0, c1, "--format", "json", cwd=root)
    data = json.loads(r.stdout)
    checks = data["checks"]
    assert checks["assertions"] == ["echo::shaped"]
    assert {f["path"]: (f["kind"], f["change"]) for f in checks["files"]} == {
        "helpers.py": ("python", "modified"),
        "schemas/answer.json": ("json_schema", "modified"),
    }
    table = invoke("compare", c0, c1, cwd=root).stdout
    assert "checks changed: assertions of 1 case(s): echo::shaped" in table
    assert (
        "validator files changed: helpers.py (python, modified), schemas/answer.json (json_schema, modified)"
        in table
    )
    md = invoke("compare", c0, c1, "--format", "markdown", cwd=root).stdout
    assert "`helpers.py` (python, modified)" in md and "`echo::shaped`" in md
