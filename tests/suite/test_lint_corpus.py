"""A corpus of bad files: each must give exactly one located error and exit 2, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import MINIMAL, invoke, write_files

GOOD_CASES = MINIMAL["cases/greet.yaml"]

# name -> (files overriding MINIMAL, expected "path:line:col" prefix, expected message fragment)
CORPUS: dict[str, tuple[dict[str, str], str, str]] = {
    "malformed-yaml": (  # an unclosed quote: where it opens, not at the end of the file
        {"prompts/greet.yaml": 'inputs:\n  name: {}\ntemplate: "unclosed\n'},
        "prompts/greet.yaml:3:11",
        "invalid YAML",
    ),
    "unclosed-flow-sequence": (
        {"prompts/greet.yaml": "tags: [a, b\ninputs:\n  name: {}\ntemplate: Hi {{ name }}\n\n\n"},
        "prompts/greet.yaml:1:7",
        "invalid YAML: did not find expected ',' or ']' at line 2, column 7 "
        "(while parsing a flow sequence that starts here)",
    ),
    "undeclared-var-line": (
        {
            "prompts/greet.yaml": "inputs:\n  name: {}\ntemplate: |\n  Dear {{ name }},\n\n  one\n  two\n"
            "  three\n  Urgency: {{ urgency }}\n  end\n"
        },
        "prompts/greet.yaml:9:3",
        "variable 'urgency' is used but not declared",
    ),
    "undefined-optional-input-line": (  # the issue's own example: line 9 of the file, not line 4
        {
            "prompts/greet.yaml": "inputs:\n  name: {}\n  urgency: {required: false}\ntemplate: |\n"
            "  Dear {{ name }},\n  one\n  two\n  three\n  Urgency: {{ urgency }}\n",
        },
        "prompts/greet.yaml:9:3",
        "undefined variable: 'urgency' is undefined (rendering case at cases/greet.yaml:3)",
    ),
    "undefined-attribute-line": (
        {
            "prompts/greet.yaml": "inputs:\n  name: {}\n  ticket: {type: object}\nmessages:\n  - role: user\n"
            "    content: |\n      Dear {{ name }},\n      one\n      Urgency: {{ ticket.urgency }}\n",
            "cases/greet.yaml": "prompt: greet\ncases:\n  - id: a\n    vars: {name: A, ticket: {subject: s}}\n",
        },
        "prompts/greet.yaml:9:7",
        "undefined variable: 'dict object' has no attribute 'urgency' (rendering case at cases/greet.yaml:3)",
    ),
    "undefined-in-partial": (
        {
            "prompts/greet.yaml": "inputs:\n  name: {}\n  ticket: {type: object}\n"
            "template: \"{{ name }}{% include '_p.j2' %}\"\n",
            "prompts/_p.j2": "a\nb\n{{ ticket.urgency }}\n",
            "cases/greet.yaml": "prompt: greet\ncases:\n  - id: a\n    vars: {name: A, ticket: {subject: s}}\n",
        },
        "prompts/_p.j2:3:1",
        "undefined variable: 'dict object' has no attribute 'urgency'",
    ),
    "wrong-type": (
        {"prompts/greet.yaml": "params: 5\ninputs:\n  name: {}\ntemplate: Hi {{ name }}\n"},
        "prompts/greet.yaml:1:9",
        "params: expected mapping, got integer",
    ),
    "unknown-key": (
        {"prompts/greet.yaml": "inputs:\n  name: {}\ntemplte: Hi {{ name }}\n"},
        "prompts/greet.yaml:3:1",
        "unknown key 'templte'; did you mean 'template'?",
    ),
    "duplicate-yaml-key": (
        {"prompts/greet.yaml": "inputs:\n  name: {}\ntemplate: Hi {{ name }}\ntemplate: Yo {{ name }}\n"},
        "prompts/greet.yaml:4:1",
        "duplicate key 'template'",
    ),
    "template-and-messages": (
        {
            "prompts/greet.yaml": "inputs:\n  name: {}\ntemplate: Hi\nmessages:\n  - {role: user, content: Hi}\n"
        },
        "prompts/greet.yaml:1:1",
        "exactly one of 'template' or 'messages'",
    ),
    "bad-role": (
        {
            "prompts/greet.yaml": "inputs:\n  name: {}\nmessages:\n  - role: robot\n    content: Hi {{ name }}\n"
        },
        "prompts/greet.yaml:4:11",
        "'robot' is not allowed",
    ),
    "missing-var": (
        {"cases/greet.yaml": "prompt: greet\ncases:\n  - id: alice\n    vars: {}\n"},
        "cases/greet.yaml:3:5",
        "missing required variable 'name'",
    ),
    "undeclared-var": (
        {"prompts/greet.yaml": "inputs:\n  name: {}\ntemplate: Hi {{ name }} from {{ city }}\n"},
        "prompts/greet.yaml:3:11",
        "variable 'city' is used but not declared",
    ),
    "jinja-syntax": (
        {"prompts/greet.yaml": "inputs:\n  name: {}\ntemplate: |\n  Hi {{ name }}\n  {% if %}x{% endif %}\n"},
        "prompts/greet.yaml:5:3",
        "Jinja syntax error",
    ),
    "sandbox-escape": (
        {
            "prompts/greet.yaml": "inputs:\n  name: {}\n"
            "template: \"{{ name }}{{ ''.__class__.__mro__[1].__subclasses__() }}\"\n"
        },
        "prompts/greet.yaml:3:11",
        "not allowed",
    ),
    "include-outside": (
        {
            "prompts/greet.yaml": "inputs:\n  name: {}\ntemplate: '{{ name }}{% include \"../secret.txt\" %}'\n",
            "secret.txt": "TOP-SECRET-CONTENT",
        },
        "prompts/greet.yaml:3:11",
        "outside prompts/",
    ),
    "missing-partial": (
        {
            "prompts/greet.yaml": "inputs:\n  name: {}\ntemplate: '{{ name }}{% include \"_partials/nope.j2\" %}'\n"
        },
        "prompts/greet.yaml:3:11",
        "'_partials/nope.j2' not found",
    ),
    "missing-partial-close-match": (
        {
            "prompts/greet.yaml": "inputs:\n  name: {}\ntemplate: |\n  {{ name }}\n"
            "  {% include '_partials/house_styl.j2' %}\n",
            "prompts/_partials/house_style.j2": "Be brief.",
        },
        "prompts/greet.yaml:5:3",
        "included template '_partials/house_styl.j2' not found in prompts/; "
        "did you mean '_partials/house_style.j2'?",
    ),
    "misspelled-variable": (  # and no "declared but never used" warning for 'text' on top
        {"prompts/greet.yaml": "inputs:\n  name: {}\n  text: {}\ntemplate: '{{ name }}: {{ txt }}'\n"},
        "prompts/greet.yaml:4:11",
        "variable 'txt' is used but not declared in 'inputs'; did you mean 'text'?",
    ),
    "include-cycle-without-cases": (
        {
            "prompts/loop.yaml": "template: |\n  start\n  {% include '_a.j2' %}\n",
            "prompts/_a.j2": "a\n{% include '_b.j2' %}\n",
            "prompts/_b.j2": "b\n\n{% include '_a.j2' %}\n",
        },
        "prompts/_b.j2:3:1",
        "include cycle: prompts/_a.j2 → prompts/_b.j2 → prompts/_a.j2",
    ),
    "duplicate-ids": (
        {
            "cases/greet.yaml": "prompt: greet\ncases:\n  - id: a\n    vars: {name: A}\n  - id: a\n    vars: {name: B}\n"
        },
        "cases/greet.yaml:5:5",
        "duplicate case id 'a'",
    ),
    "unknown-assert": (
        {
            "cases/greet.yaml": "prompt: greet\ncases:\n  - id: a\n    vars: {name: A}\n    assert:\n      - containz\n"
        },
        "cases/greet.yaml:6:9",
        "did you mean 'contains'",
    ),
    "unknown-prompt": (
        {"cases/greet.yaml": "prompt: gret\ncases:\n  - id: a\n    vars: {name: A}\n"},
        "cases/greet.yaml:1:9",
        "unknown prompt 'gret'; did you mean 'greet'?",
    ),
    "missing-dataset": (
        {"cases/greet.yaml": "prompt: greet\ndataset: rows.jsonl\n"},
        "cases/greet.yaml:2:10",
        "dataset file 'rows.jsonl' not found",
    ),
    "file-var-outside-repo": (
        {
            "cases/greet.yaml": "prompt: greet\ncases:\n  - id: a\n    vars:\n      name: {file: ../../../etc/passwd}\n"
        },
        "cases/greet.yaml:5:20",
        "outside the repository",
    ),
    "param-type": (
        {"prompts/greet.yaml": "inputs:\n  name: {}\nparams:\n  temperature: hot\ntemplate: Hi {{ name }}\n"},
        "prompts/greet.yaml:4:16",
        "params.temperature: expected number, got string",
    ),
    "param-out-of-range": (
        {"prompts/greet.yaml": "inputs:\n  name: {}\nparams: {max_tokens: 0}\ntemplate: Hi {{ name }}\n"},
        "prompts/greet.yaml:3:22",
        "params.max_tokens: must be at least 1, got 0",
    ),
    "param-stop-type": (
        {"prompts/greet.yaml": "inputs:\n  name: {}\nparams: {stop: [1]}\ntemplate: Hi {{ name }}\n"},
        "prompts/greet.yaml:3:17",
        "params.stop.0: expected string, got integer",
    ),
    "param-n": (
        {"prompts/greet.yaml": "inputs:\n  name: {}\nparams: {n: 3}\ntemplate: Hi {{ name }}\n"},
        "prompts/greet.yaml:3:13",
        "use `repeat: 3`",
    ),
    "config-param-type": (
        {
            "promptctl.yaml": "model: fast\nmodels:\n  fast:\n    model: openai/test-model\n"
            "    params: {max_tokens: lots}\n"
        },
        "promptctl.yaml:5:26",
        "models.fast.params.max_tokens: expected integer, got string",
    ),
    "bad-config": (
        {"promptctl.yaml": "model: openai/test-model\nconcurency: 4\n"},
        "promptctl.yaml:2:1",
        "unknown key 'concurency'; did you mean 'concurrency'?",
    ),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_bad_file_gives_one_located_error(tmp_path: Path, name: str) -> None:
    files, where, fragment = CORPUS[name]
    write_files(tmp_path, {**MINIMAL, **files})
    result = invoke("lint", cwd=tmp_path)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    errors = [
        line for line in result.output.splitlines() if ": warning: " not in line and line.count(":") >= 3
    ]
    assert len(errors) == 1, result.output
    assert errors[0].startswith(where + ":"), result.output
    assert fragment in errors[0]
    if name == "misspelled-variable":
        assert ": warning:" not in result.output
    assert "TOP-SECRET-CONTENT" not in result.output


def test_all_problems_reported_in_one_run(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            **MINIMAL,
            "prompts/bad1.yaml": "templte: x\n",
            "prompts/bad2.yaml": "params: 5\ntemplate: x\n",
            "cases/bad.yaml": "prompt: nope\n",
        },
    )
    result = invoke("lint", cwd=tmp_path)
    assert result.exit_code == 2
    for fragment in ("bad1.yaml:1:1", "bad2.yaml:1:9", "cases/bad.yaml:1:9"):
        assert fragment in result.stdout


@pytest.mark.parametrize(
    ("command", "code"),
    [(["render", "broken", "--var", "name=x"], 2), (["test", "--dry-run"], 2), (["list"], 0)],
)
def test_other_commands_report_bad_input(tmp_path: Path, command: list[str], code: int) -> None:
    """Located like lint; ``list`` still lists (marking the file), the others stop with exit 2."""
    write_files(tmp_path, {**MINIMAL, "prompts/broken.yaml": "template: [unclosed\n"})
    result = invoke(*command, cwd=tmp_path)
    assert result.exit_code == code
    assert "prompts/broken.yaml:1:11: invalid YAML" in result.stderr
    assert "Traceback" not in result.output


def test_clean_suite_passes_with_warnings(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            **MINIMAL,
            "prompts/greet.yaml": "inputs:\n  name: {}\n  unused: {default: 1}\ntemplate: Hi {{ name }}\n",
        },
    )
    result = invoke("lint", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "prompts/greet.yaml:3:3: warning: input 'unused' is declared but never used" in result.stdout


def test_dry_run_with_a_bad_param_is_exit_2_not_an_internal_error(tmp_path: Path) -> None:
    prompt = "inputs:\n  name: {}\nparams: {max_tokens: lots}\ntemplate: Hi {{ name }}\n"
    write_files(tmp_path, {**MINIMAL, "prompts/greet.yaml": prompt})
    result = invoke("test", "--dry-run", cwd=tmp_path)
    assert result.exit_code == 2, result.output
    assert "prompts/greet.yaml:3:22: params.max_tokens: expected integer, got string" in result.stderr
    assert "internal error" not in result.output


@pytest.mark.parametrize(
    ("name", "data", "where"),
    [
        (
            "prompts/greet.yaml",
            b"inputs:\n  name: {}\ntemplate: 'Hi \xff{{ name }}'\n",
            "prompts/greet.yaml:3:15",
        ),
        (
            "cases/greet.yaml",
            "prompt: greet\n# caf\u00e9 \n".encode() + b"x: \xe9t\xe9\n",
            "cases/greet.yaml:3:4",
        ),
        ("promptctl.yaml", b"model: openai/test-model\n\x80\n", "promptctl.yaml:2:1"),
    ],
)
def test_a_file_that_is_not_utf8_is_located_at_the_bad_byte(
    tmp_path: Path, name: str, data: bytes, where: str
) -> None:
    write_files(tmp_path, MINIMAL)
    (tmp_path / name).write_bytes(data)
    result = invoke("lint", cwd=tmp_path)
    assert result.exit_code == 2, result.output
    assert f"{where}: not valid UTF-8 (byte 0x" in result.output
    assert "save the file as UTF-8" in result.output
    assert "Traceback" not in result.output


def test_a_partial_that_is_not_utf8_is_not_reported_missing(tmp_path: Path) -> None:
    prompt = "inputs:\n  name: {}\ntemplate: \"{{ name }}{% include '_p.j2' %}\"\n"
    write_files(tmp_path, {**MINIMAL, "prompts/greet.yaml": prompt})
    (tmp_path / "prompts" / "_p.j2").write_bytes(b"ok\n\xff\n")
    result = invoke("lint", cwd=tmp_path)
    assert result.exit_code == 2, result.output
    assert "prompts/_p.j2:2:1: not valid UTF-8 (byte 0xff)" in result.stdout
    assert "not found" not in result.output


PY_CASES = "prompt: greet\ncases:\n  - id: a\n    vars: {name: A}\n    assert:\n      - {type: python, value: '%s'}\n"


@pytest.mark.parametrize(
    ("files", "ref", "fragment"),
    [
        ({}, "lintmissing.mod:check", "cannot import 'lintmissing.mod': ModuleNotFoundError"),
        (
            {"lintnofn.py": "def other(output):\n    return True\n"},
            "lintnofn:check",
            "'lintnofn' has no attribute 'check'",
        ),
        (
            {"lintnotcallable.py": "check = 3\n"},
            "lintnotcallable:check",
            "'lintnotcallable:check' is not callable",
        ),
        (
            {"lintraises.py": "raise RuntimeError('boom at import')\n"},
            "lintraises:check",
            "cannot import 'lintraises': RuntimeError: boom at import",
        ),
        (
            {"lintexits.py": "import sys\nsys.exit(3)\n"},
            "lintexits:check",
            "cannot import 'lintexits': SystemExit: 3",
        ),
    ],
)
def test_lint_imports_python_validator_targets(
    tmp_path: Path, files: dict[str, str], ref: str, fragment: str
) -> None:
    write_files(tmp_path, {**MINIMAL, **files, "cases/greet.yaml": PY_CASES % ref})
    result = invoke("lint", cwd=tmp_path)
    assert result.exit_code == 2, result.output
    errors = [line for line in result.output.splitlines() if line.startswith("cases/greet.yaml:6:9: ")]
    assert len(errors) == 1 and fragment in errors[0], result.output


def test_lint_accepts_a_python_validator_that_imports(tmp_path: Path) -> None:
    files = {"lintgood/__init__.py": "", "lintgood/checks.py": "def check(output):\n    return True\n"}
    write_files(tmp_path, {**MINIMAL, **files, "cases/greet.yaml": PY_CASES % "lintgood.checks:check"})
    result = invoke("lint", cwd=tmp_path)
    assert result.exit_code == 0, result.output
