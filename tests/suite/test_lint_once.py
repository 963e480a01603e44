"""One problem, one message: a mistake shared by many cases is reported once, where it is."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import MINIMAL, invoke, write_files


def _errors(output: str) -> list[str]:
    return [line for line in output.splitlines() if line.count(":") >= 3 and ": warning: " not in line]


def test_a_typo_in_defaults_transform_is_one_error(tmp_path: Path) -> None:
    cases = "prompt: greet\ndefaults:\n  transform: [strpi]\n  assert: [not_empty]\ncases:\n" + "".join(
        f"  - id: c{i}\n    vars: {{name: N{i}}}\n    assert: [{{type: contains, value: N}}]\n"
        for i in range(5)
    )
    write_files(tmp_path, {**MINIMAL, "cases/greet.yaml": cases})
    result = invoke("lint", cwd=tmp_path)
    assert result.exit_code == 2
    errors = _errors(result.output)
    assert len(errors) == 1, result.output
    assert errors[0].startswith("cases/greet.yaml:3:15: unknown transform 'strpi'; did you mean 'strip'?")


def test_an_assertion_with_its_own_transform_typo_is_reported_there(tmp_path: Path) -> None:
    cases = (
        "prompt: greet\ndefaults:\n  transform: strip\ncases:\n"
        "  - id: a\n    vars: {name: A}\n    assert:\n      - {type: contains, value: A, transform: [lowr]}\n"
    )
    write_files(tmp_path, {**MINIMAL, "cases/greet.yaml": cases})
    result = invoke("lint", cwd=tmp_path)
    errors = _errors(result.output)
    assert len(errors) == 1, result.output
    assert errors[0].startswith("cases/greet.yaml:8:9: unknown transform 'lowr'; did you mean 'lower'?")


SANDBOX = "inputs:\n  name: {}\ntemplate: |\n  Hi {{ name }}\n  {{ ''.__class__.__mro__ }}\n"
THREE_CASES = "prompt: greet\ncases:\n" + "".join(
    f"  - id: c{i}\n    vars: {{name: N{i}}}\n" for i in range(3)
)


def test_a_sandbox_violation_is_one_error_not_one_per_case(tmp_path: Path) -> None:
    write_files(tmp_path, {**MINIMAL, "prompts/greet.yaml": SANDBOX, "cases/greet.yaml": THREE_CASES})
    for argv in (["lint"], ["test", "--dry-run"]):
        result = invoke(*argv, cwd=tmp_path)
        assert result.exit_code == 2
        errors = _errors(result.output)
        assert len(errors) == 1, result.output
        assert errors[0].startswith(
            "prompts/greet.yaml:5:3: template is not allowed to do that in the sandbox"
        )
        assert errors[0].endswith("(rendering case at cases/greet.yaml:3 and 2 more cases)")


def test_a_jinja_syntax_error_adds_no_unused_input_warnings(tmp_path: Path) -> None:
    prompt = (
        "inputs:\n  name: {}\n  city: {}\nmessages:\n  - role: system\n    content: 'From {{ city }}'\n"
        "  - role: user\n    content: 'Hi {{ name }'\n"
    )
    write_files(tmp_path, {**MINIMAL, "prompts/greet.yaml": prompt})
    result = invoke("lint", cwd=tmp_path)
    assert result.exit_code == 2
    assert ": warning: " not in result.output
    errors = _errors(result.output)
    assert len(errors) == 1 and "Jinja syntax error" in errors[0], result.output
