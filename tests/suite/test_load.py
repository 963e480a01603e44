"""The loader on its own: prompt names, partials, case files and datasets into typed objects, with
every problem located and reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptctl.errors import InputError
from promptctl.git.sources import WorktreeSource
from promptctl.suite.load import load_suite, parse_prompt_text, prompt_name
from promptctl.suite.model import Config
from tests.helpers import write_files

FILES = {
    "prompts/greet.yaml": """
        inputs: {name: {}, tone: {default: warm}}
        messages:
          - role: system
            content: "{% include '_partials/sig.j2' %}"
          - role: user
            content: "Hello {{ name }} ({{ tone }})"
    """,
    "prompts/_partials/sig.j2": "Signed",
    "prompts/support/triage.yaml": "template: 'Triage {{ ticket }}'\ninputs: {ticket: {}}\n",
    "cases/greet.yaml": """
        prompt: greet
        repeat: 2
        defaults:
          vars: {tone: dry}
          assert: [not_empty]
        cases:
          - id: alice
            vars: {name: Alice}
          - vars: {name: {file: names/bob.txt}}
            assert: [{type: contains, value: Bob}]
        dataset: rows.jsonl
    """,
    "cases/names/bob.txt": "Bob",
    "cases/rows.jsonl": '{"id": "r1", "name": "Row"}\n\n{"name": "Two", "expected": "x"}\n',
    "cases/__recordings__/greet.yaml": "not: a case file\n",
}


def test_prompts_partials_cases_and_datasets(tmp_path: Path) -> None:
    write_files(tmp_path, FILES)
    suite = load_suite(Config(root=str(tmp_path)), WorktreeSource(tmp_path))
    assert suite.errors == []
    assert sorted(suite.prompts) == ["greet", "support/triage"]
    assert suite.partials == ["prompts/_partials/sig.j2"]
    assert suite.prompts["support/triage"].kind == "text" and suite.prompts["greet"].kind == "chat"
    cases = {c.id: c for c in suite.cases}
    assert list(cases) == ["alice", "case-2", "r1", "rows-3"]
    assert cases["alice"].vars == {"tone": "dry", "name": "Alice"} and cases["alice"].repeat == 2
    assert cases["case-2"].vars["name"] == "Bob"
    assert [a.type for a in cases["case-2"].asserts] == ["not_empty", "contains"]
    assert cases["rows-3"].expected == "x" and cases["rows-3"].loc.path == "cases/rows.jsonl"
    assert cases["rows-3"].loc.line == 3


def test_every_problem_is_located_in_one_load(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "prompts/a.yaml": "template: hi\nmodle: x\n",
            "prompts/b.yaml": "template: x\nmessages: [{role: user, content: y}]\n",
            "cases/a.yaml": """
                prompt: greeet
                cases:
                  - {id: one}
                  - {id: one}
                  - {id: two, vars: {x: {file: ../../etc/passwd}}}
            """,
        },
    )
    suite = load_suite(Config(root=str(tmp_path)), WorktreeSource(tmp_path))
    messages = {(p.path, p.line): p.message for p in suite.errors}
    assert messages[("prompts/a.yaml", 2)].startswith("unknown key 'modle'; did you mean 'model'?")
    assert "exactly one of 'template' or 'messages'" in messages[("prompts/b.yaml", 1)]
    assert "unknown prompt 'greeet'" in messages[("cases/a.yaml", 1)]
    assert "duplicate case id 'one'" in messages[("cases/a.yaml", 4)]
    assert "outside the repository" in messages[("cases/a.yaml", 5)]


def test_only_restricts_case_files(tmp_path: Path) -> None:
    write_files(tmp_path, {**FILES, "cases/other/x.yaml": "prompt: greet\ncases: [{id: z}]\n"})
    suite = load_suite(Config(root=str(tmp_path)), WorktreeSource(tmp_path), only=["cases/other"])
    assert [c.id for c in suite.cases] == ["z"]


@pytest.mark.parametrize(
    ("path", "name"),
    [
        ("prompts/a.yaml", "a"),
        ("prompts/x/b.yml", "x/b"),
        ("prompts/_p/c.yaml", None),
        ("prompts/d.j2", None),
    ],
)
def test_prompt_names(path: str, name: str | None) -> None:
    assert prompt_name(path, "prompts") == name


def test_a_prompt_outside_the_suite_is_parsed_with_located_problems() -> None:
    p = parse_prompt_text("messages:\n  - {role: user, content: hi}\n", "builtin/j.yaml", "_j")
    assert p.messages is not None and p.messages[0].content == "hi"
    with pytest.raises(InputError) as exc:
        parse_prompt_text("template: x\nunknown: 1\n", "builtin/j.yaml", "_j")
    assert exc.value.problems[0].format().startswith("builtin/j.yaml:2:1: unknown key 'unknown'")


def _csv_suite(tmp_path: Path, csv_text: str) -> list[str]:
    write_files(
        tmp_path,
        {
            "prompts/greet.yaml": "inputs: {name: {}}\ntemplate: 'Hi {{ name }}'\n",
            "cases/greet.yaml": "prompt: greet\ndataset: people.csv\n",
        },
    )
    (tmp_path / "cases" / "people.csv").write_text(csv_text, "utf-8")
    suite = load_suite(Config(root=str(tmp_path)), WorktreeSource(tmp_path))
    return [p.format() for p in suite.problems]


def test_csv_ragged_rows_are_errors_at_their_line(tmp_path: Path) -> None:
    problems = _csv_suite(tmp_path, "id,name\na,Ann\nb\nc,Carol,extra\nd,Dan\n")
    assert problems == [
        "cases/people.csv:3:1: row has 1 field but the header (line 1) has 2: id, name",
        "cases/people.csv:4:1: row has 3 fields but the header (line 1) has 2: id, name",
    ]


def test_csv_unterminated_quote_does_not_swallow_the_rest(tmp_path: Path) -> None:
    problems = _csv_suite(tmp_path, 'id,name\na,Ann\nb,"Bob\nc,Carol\na,Dup\n')
    assert problems == [
        "cases/people.csv:3:3: the quote opened here is never closed (it would swallow the rest of the file)",
        "cases/people.csv:5:1: duplicate case id 'a' for prompt 'greet' (first defined at cases/people.csv:2)",
    ]


def test_csv_bad_quoting_and_header(tmp_path: Path) -> None:
    problems = _csv_suite(tmp_path, 'id,name,name\na,"Ann"x,1\n')
    assert problems == [
        "cases/people.csv:1:1: column 'name' appears twice in the header",
        "cases/people.csv:2:1: bad quoting: ',' expected after '\"'",
    ]


def test_csv_quoted_newlines_and_blank_lines_are_fine(tmp_path: Path) -> None:
    assert _csv_suite(tmp_path, 'id,name\na,"Ann\nSmith"\n\nb,Bob\n') == []
    suite = load_suite(Config(root=str(tmp_path)), WorktreeSource(tmp_path))
    assert [(c.id, c.vars, c.loc.line) for c in suite.cases] == [
        ("a", {"name": "Ann\nSmith"}, 2),
        ("b", {"name": "Bob"}, 5),
    ]


def test_a_dataset_or_file_var_that_is_not_utf8_is_located_not_missing(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "prompts/greet.yaml": "inputs: {name: {}}\ntemplate: 'Hi {{ name }}'\n",
            "cases/greet.yaml": "prompt: greet\ncases:\n  - id: a\n    vars: {name: {file: n.txt}}\n"
            "dataset: people.csv\n",
        },
    )
    (tmp_path / "cases" / "people.csv").write_bytes(b"id,name\na,\xe9\n")
    (tmp_path / "cases" / "n.txt").write_bytes(b"ok\n\xff")
    suite = load_suite(Config(root=str(tmp_path)), WorktreeSource(tmp_path))
    assert [p.format() for p in suite.problems] == [
        "cases/n.txt:2:1: not valid UTF-8 (byte 0xff); save the file as UTF-8",
        "cases/people.csv:2:3: not valid UTF-8 (byte 0xe9); save the file as UTF-8",
    ]
