"""`promptctl diff` and `test --affected` on a throwaway repo with one kind of change per commit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from promptctl.review.diff import affected_keys
from promptctl.suite.project import open_project
from tests.helpers import git, invoke, write_files
from tests.review.common import commit, new_repo

BASE_FILES = {
    "promptctl.yaml": "model: openai/test-model\n",
    "prompts/_style.txt": "Answer politely and briefly.\n",
    "prompts/greet.yaml": """
        inputs: {name: {}}
        messages:
          - role: system
            content: '{% include "_style.txt" %}'
          - role: user
            content: "Say hello to {{ name }}."
    """,
    "prompts/farewell.yaml": """
        inputs: {name: {}}
        messages:
          - role: system
            content: '{% include "_style.txt" %}'
          - role: user
            content: "Say goodbye to {{ name }}."
    """,
    "prompts/solo.yaml": """
        inputs: {topic: {}}
        template: "Write one line about {{ topic }}."
    """,
    "cases/greet.yaml": """
        prompt: greet
        cases:
          - {id: alice, vars: {name: Alice}, assert: [not_empty]}
          - {id: bob, vars: {name: Bob}, assert: [not_empty]}
    """,
    "cases/farewell.yaml": """
        prompt: farewell
        cases:
          - {id: carol, vars: {name: Carol}, assert: [not_empty]}
          - {id: dave, vars: {name: Dave}, assert: [not_empty]}
    """,
    "cases/solo.yaml": """
        prompt: solo
        cases:
          - {id: sea, vars: {topic: the sea}, assert: [not_empty]}
    """,
}


@pytest.fixture(scope="module")
def repo(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """c0 base; c1 prompt edit; c2 partial edit; c3 case added + removed; c4 no-effect change."""
    root, c0 = new_repo(tmp_path_factory.mktemp("diff") / "repo", BASE_FILES)
    c1 = commit(
        root,
        {"prompts/greet.yaml": BASE_FILES["prompts/greet.yaml"].replace("Say hello to", "Warmly greet")},
        "prompt edit",
    )
    c2 = commit(root, {"prompts/_style.txt": "Answer politely, briefly and in English.\n"}, "partial edit")
    c3 = commit(
        root,
        {
            "cases/solo.yaml": """
        prompt: solo
        cases:
          - {id: sea, vars: {topic: the sea}, assert: [not_empty]}
          - {id: moon, vars: {topic: the moon}, assert: [not_empty]}
    """,
            "cases/farewell.yaml": """
        prompt: farewell
        cases:
          - {id: carol, vars: {name: Carol}, assert: [not_empty]}
    """,
        },
        "case added and removed",
    )
    c4 = commit(
        root,
        {
            "prompts/solo.yaml": """
        # a comment and a description: the rendered request does not change
        description: One line on a topic.
        inputs:
          topic: {}
        template: "Write one line about {{ topic }}."
    """
        },
        "no-effect change",
    )
    return {"root": root, "c": [c0, c1, c2, c3, c4]}


def diff_json(root: Path, *args: str) -> dict[str, Any]:
    r = invoke("diff", *args, "--format", "json", cwd=root)
    assert r.exit_code == 0, r.output
    data: dict[str, Any] = json.loads(r.stdout)
    return data


def by_key(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {e["case_key"]: e for e in data["affected"]}


def diff_of(data: dict[str, Any], case_key: str) -> str:
    """The rendered diff shown for a case: its group's."""
    group = by_key(data)[case_key]["group"]
    diff: str = next(g["diff"] for g in data["groups"] if g["id"] == group)
    return diff


def test_prompt_edit_shows_rendered_diff(repo: dict[str, Any]) -> None:
    c = repo["c"]
    data = diff_json(repo["root"], c[0], c[1])
    assert {f["path"]: (f["status"], f["kind"]) for f in data["changed_files"]} == {
        "prompts/greet.yaml": ("M", "prompt")
    }
    aff = by_key(data)
    assert set(aff) == {"greet::alice", "greet::bob"}
    d = diff_of(data, "greet::alice")
    assert "-Say hello to Alice." in d and "+Warmly greet Alice." in d
    assert " --- system ---" in d  # unchanged message blocks are context
    assert aff["greet::alice"]["change"] == "changed" and aff["greet::alice"]["model"] == "openai/test-model"
    assert data["summary"]["affected"] == 2 and data["summary"]["units"] == 5
    # the variable is inside the changed line: one group per case, each with its own diff
    assert [(g["prompt"], g["count"]) for g in data["groups"]] == [("greet", 1), ("greet", 1)]
    assert "+Warmly greet Bob." in diff_of(data, "greet::bob")
    # the template-level diff: what the author typed
    [t] = data["templates"]
    assert t["path"] == "prompts/greet.yaml" and t["prompts"] == ["greet"] and t["groups"] == [1, 2]
    assert '-    content: "Say hello to {{ name }}."' in t["diff"]
    assert '+    content: "Warmly greet {{ name }}."' in t["diff"]


def test_partial_edit_shows_in_every_including_prompt(repo: dict[str, Any]) -> None:
    c = repo["c"]
    data = diff_json(repo["root"], c[1], c[2])
    assert [(f["path"], f["kind"]) for f in data["changed_files"]] == [("prompts/_style.txt", "partial")]
    aff = by_key(data)
    assert set(aff) == {"greet::alice", "greet::bob", "farewell::carol", "farewell::dave"}
    # the same edit in two prompts: one group per prompt, each case listed once
    groups = {g["prompt"]: g for g in data["groups"]}
    assert {p: [c["case"] for c in g["cases"]] for p, g in groups.items()} == {
        "greet": ["alice", "bob"],
        "farewell": ["carol", "dave"],
    }
    for g in groups.values():
        assert "-Answer politely and briefly." in g["diff"]
        assert "+Answer politely, briefly and in English." in g["diff"]
        assert g["count"] == 2 and g["change"] == "changed"
    assert {e["group"] for e in aff.values()} == {1, 2}
    [t] = data["templates"]
    assert (t["kind"], t["prompts"], sorted(t["groups"])) == ("partial", ["farewell", "greet"], [1, 2])
    assert t["diff"].endswith("-Answer politely and briefly.\n+Answer politely, briefly and in English.\n")


def test_case_added_and_removed(repo: dict[str, Any]) -> None:
    c = repo["c"]
    data = diff_json(repo["root"], c[2], c[3])
    aff = by_key(data)
    assert aff["solo::moon"]["change"] == "added" and "+Write one line about the moon." in diff_of(
        data, "solo::moon"
    )
    assert aff["farewell::dave"]["change"] == "removed"
    assert "-Say goodbye to Dave." in diff_of(data, "farewell::dave")
    assert data["templates"] == []  # case files only: no template changed
    assert set(aff) == {"solo::moon", "farewell::dave"}
    assert data["summary"]["added"] == 1 and data["summary"]["removed"] == 1


def test_no_effect_change_lists_no_affected_case(repo: dict[str, Any]) -> None:
    c = repo["c"]
    data = diff_json(repo["root"], c[3], c[4])
    assert [f["path"] for f in data["changed_files"]] == ["prompts/solo.yaml"]
    assert data["affected"] == [] and data["summary"]["affected"] == 0 and data["groups"] == []
    [t] = data["templates"]  # the source changed, the requests did not
    assert t["groups"] == [] and "+description: One line on a topic." in t["diff"]
    text = invoke("diff", c[3], c[4], cwd=repo["root"])
    assert text.exit_code == 0 and "0 of 5 case × model affected" in text.stdout


def test_table_and_markdown_formats(repo: dict[str, Any], tmp_path: Path) -> None:
    c = repo["c"]
    table = invoke("diff", c[1], c[2], cwd=repo["root"])
    assert table.exit_code == 0
    # equal sizes: in suite order (case files by path)
    assert "── change 1 · farewell · 2 cases · changed · openai/test-model" in table.stdout
    assert "── change 2 · greet · 2 cases · changed · openai/test-model" in table.stdout
    assert "(context lines from greet::alice; the other cases' context differs)" in table.stdout
    assert "cases: carol, dave" in table.stdout
    # the partial's source diff once, each prompt's rendered diff once
    assert table.stdout.count("+Answer politely, briefly and in English.") == 3
    assert (
        "── prompts/_style.txt (partial, modified) · included by farewell, greet · rendered: changes 1–2"
        in (table.stdout)
    )
    out = tmp_path / "diff.md"
    md = invoke("diff", c[1], c[2], "--format", "markdown", "-o", str(out), cwd=repo["root"])
    assert md.exit_code == 0, md.output
    text = out.read_text()
    assert text.count("<details><summary>2 cases</summary>") == 2
    assert "`carol` · `dave`" in text
    assert text.count("```diff\n") == 3 and text.count("+Answer politely, briefly and in English.") == 3
    assert "- `M` `prompts/_style.txt` (partial)" in text
    assert text.index("Templates: what the author changed") < text.index("Rendered requests")


def test_default_base_is_merge_base_and_head_is_worktree(tmp_path: Path) -> None:
    root, c0 = new_repo(tmp_path / "repo", BASE_FILES)
    git(root, "checkout", "-q", "-b", "feature")
    commit(
        root, {"prompts/solo.yaml": BASE_FILES["prompts/solo.yaml"].replace("one line", "two lines")}, "f1"
    )
    write_files(
        root, {"prompts/greet.yaml": BASE_FILES["prompts/greet.yaml"].replace("hello", "hi")}
    )  # dirty
    data = diff_json(root)
    assert data["base"]["sha"] == c0 and data["head"]["label"] == "worktree"
    assert set(by_key(data)) == {"solo::sea", "greet::alice", "greet::bob"}


def test_affected_keys_and_test_affected(repo: dict[str, Any]) -> None:
    root, c = repo["root"], repo["c"]
    project = open_project(root, c[2])
    try:
        assert affected_keys(project, c[1]) == {
            "greet::alice",
            "greet::bob",
            "farewell::carol",
            "farewell::dave",
        }
    finally:
        project.source.close()  # type: ignore[attr-defined]
    assert affected_keys(open_project(root), c[3]) == set()  # worktree = c4: no request changed
    assert affected_keys(open_project(root), c[2]) == {"solo::moon"}  # new case (dave removed: not run)
    # the CLI wiring: --dry-run plans only the affected cases
    r = invoke("test", "--affected", c[0], "--dry-run", "--format", "json", cwd=root)
    assert r.exit_code == 0, r.output
    plan = json.loads(r.stdout)
    # c0 -> worktree: greet (prompt + partial), farewell::carol (partial), solo::moon (new)
    assert plan["cases"] == 4 and plan["rows"] == 4


def test_template_changes_added_deleted_nested_and_not_text(tmp_path: Path) -> None:
    files = {
        **BASE_FILES,
        "prompts/_inner.j2": "Sign as the Acme team.\n",
        "prompts/_outer.j2": '{% include "_inner.j2" %}\n',
        "prompts/nest.yaml": "template: 'Write a note. {% include \"_outer.j2\" %}'\n",
        "prompts/_logo.bin": "v1",
    }
    root, c0 = new_repo(tmp_path / "repo", files)
    (root / "prompts/_logo.bin").write_bytes(b"\xff\xfe\x00binary")
    (root / "prompts/solo.yaml").unlink()
    (root / "cases/solo.yaml").unlink()
    c1 = commit(
        root,
        {
            "prompts/_inner.j2": "Sign as the Acme support team.\n",
            "prompts/extra.yaml": "template: 'Extra.'\n",
        },
        "templates",
    )
    data = diff_json(root, c0, c1)
    templates = {t["path"]: t for t in data["templates"]}
    assert list(templates) == [
        "prompts/_inner.j2",
        "prompts/_logo.bin",
        "prompts/extra.yaml",
        "prompts/solo.yaml",
    ]
    inner = templates["prompts/_inner.j2"]
    assert inner["prompts"] == ["nest"]  # through _outer.j2
    assert "-Sign as the Acme team.\n+Sign as the Acme support team.\n" in inner["diff"]
    logo = templates["prompts/_logo.bin"]
    assert logo["diff"] is None and logo["note"] == f"not UTF-8 text at {c1[:7]}"
    extra, solo = templates["prompts/extra.yaml"], templates["prompts/solo.yaml"]
    assert (extra["status"], extra["prompts"], extra["diff"].splitlines()[-1]) == (
        "A",
        ["extra"],
        "+template: 'Extra.'",
    )
    assert (solo["status"], solo["prompts"]) == ("D", ["solo"])
    assert solo["groups"] == [g["id"] for g in data["groups"] if g["prompt"] == "solo"] != []
    assert '-template: "Write one line about {{ topic }}."' in solo["diff"]
    table = invoke("diff", c0, c1, cwd=root).stdout
    assert (
        f"── prompts/_logo.bin (partial, modified) · included by no prompt · no rendered request changed\n(no source diff: not UTF-8 text at {c1[:7]})"
        in table
    )


GRADED = {
    "promptctl.yaml": "model: openai/test-model\n",
    "prompts/echo.yaml": 'inputs: {text: {}}\ntemplate: "{{ text }}"\n',
    "cases/echo.yaml": """
        prompt: echo
        cases:
          - {id: shaped, vars: {text: x}, assert: [{type: json_schema, value: schemas/answer.json}]}
          - {id: custom, vars: {text: y}, assert: [{type: python, value: "checks.verdicts:greets"}]}
          - {id: plain, vars: {text: z}, assert: [not_empty]}
    """,
    "schemas/answer.json": '{"type": "object"}',
    "checks/__init__.py": "",
    "checks/verdicts.py": "from helpers import GREETING\n\ndef greets(output):\n    return GREETING in output\n",
    "helpers.py": "GREETING = 'hello'\n",
}


def test_affected_includes_cases_graded_differently(tmp_path: Path) -> None:
    """The request is not all: a case whose assertions, python validator (or a module it imports)
    or schema file changed is affected too -- `test --affected` reruns it, the gate tries it."""
    root, c0 = new_repo(tmp_path / "repo", GRADED)
    c1 = commit(root, {"helpers.py": "GREETING = 'hi'\n"}, "validator's import changed")
    c2 = commit(root, {"schemas/answer.json": '{"type": "object", "required": ["a"]}'}, "schema")
    c3 = commit(
        root, {"cases/echo.yaml": GRADED["cases/echo.yaml"].replace("[not_empty]", "[is_json]")}, "assert"
    )
    for base, head, want in (
        (c0, c1, {"echo::custom"}),
        (c1, c2, {"echo::shaped"}),
        (c2, c3, {"echo::plain"}),
    ):
        project = open_project(root, head)
        try:
            assert affected_keys(project, base) == want
        finally:
            project.source.close()  # type: ignore[attr-defined]
    r = invoke("test", "--affected", c0, "--dry-run", "--format", "json", cwd=root)
    assert r.exit_code == 0, r.output
    assert json.loads(r.stdout)["cases"] == 3
    r = invoke("test", "--affected", c2, "--dry-run", "--format", "json", cwd=root)
    assert json.loads(r.stdout)["cases"] == 1


def test_a_change_of_judge_model_puts_the_judged_cases_on_trial(tmp_path: Path) -> None:
    """A pull request that swaps the judge (config `judge_model`, or what its alias points at)
    changes the verdicts of the judged cases with the very same outputs: they are on trial."""
    files = {
        "promptctl.yaml": "model: openai/test-model\njudge_model: openai/strict-judge\n",
        "prompts/echo.yaml": 'inputs: {text: {}}\ntemplate: "{{ text }}"\n',
        "cases/echo.yaml": """
            prompt: echo
            cases:
              - {id: judged, vars: {text: x}, assert: [{type: judge, rubric: "Is it good?"}]}
              - {id: plain, vars: {text: z}, assert: [not_empty]}
        """,
    }
    root, c0 = new_repo(tmp_path / "repo", files)
    c1 = commit(
        root, {"promptctl.yaml": "model: openai/test-model\njudge_model: openai/lenient-judge\n"}, "judge"
    )
    project = open_project(root, c1)
    try:
        assert affected_keys(project, c0) == {"echo::judged"}
    finally:
        project.source.close()  # type: ignore[attr-defined]
