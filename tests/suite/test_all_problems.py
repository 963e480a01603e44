"""One broken file does not hide the others: a config error is reported with every other problem,
and ``list`` still lists, marking what it could not load."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import MINIMAL, invoke, write_files

BAD_PROMPT = "inputs:\n  name: {}\ntemplte: Hi {{ name }}\n"


def test_a_config_error_and_a_prompt_error_are_reported_together(tmp_path: Path) -> None:
    files = {
        **MINIMAL,
        "promptctl.yaml": "model: openai/test-model\nconcurrency: many\n",
        "prompts/other.yaml": BAD_PROMPT,
    }
    write_files(tmp_path, files)
    for argv in (["lint"], ["test"], ["test", "--dry-run"], ["render", "greet", "--var", "name=x"]):
        result = invoke(*argv, cwd=tmp_path)
        assert result.exit_code == 2, (argv, result.output)
        assert "promptctl.yaml:2:14: concurrency: expected integer, got string" in result.output, argv
        if argv != ["render", "greet", "--var", "name=x"]:  # render names only what stops it
            assert "prompts/other.yaml:3:1: unknown key 'templte'" in result.output, argv
        assert "promptctl lint" not in result.output, argv  # it would say the same


def test_an_alias_with_a_bad_setting_is_not_also_an_unknown_model(tmp_path: Path) -> None:
    files = {
        **MINIMAL,
        "promptctl.yaml": "model: fast\nmodels:\n  fast: {api_base: 'http://127.0.0.1:9/v1'}\n",
    }
    write_files(tmp_path, files)
    result = invoke("lint", cwd=tmp_path)
    assert result.exit_code == 2
    errors = [
        line for line in result.output.splitlines() if line.startswith(("promptctl.yaml", "prompts", "cases"))
    ]
    assert errors == ["promptctl.yaml:3:9: models.fast: 'model' is required"], result.output


def test_prompts_dir_outside_the_project_loads_nothing_else(tmp_path: Path) -> None:
    write_files(tmp_path, {**MINIMAL, "promptctl.yaml": "prompts_dir: ../elsewhere\n"})
    result = invoke("lint", cwd=tmp_path)
    assert result.exit_code == 2
    errors = [
        line for line in result.output.splitlines() if ": " in line and not line.startswith("0 prompts")
    ]
    assert errors == [
        "promptctl.yaml:1:14: prompts_dir must be a path inside the project, got '../elsewhere'"
    ]


def test_list_marks_broken_files_instead_of_refusing(tmp_path: Path) -> None:
    files = {
        **MINIMAL,
        "prompts/other.yaml": BAD_PROMPT,
        "cases/greet_more.yaml": "prompt: greet\ncases:\n  - id: x\n    varz: {}\n",
        "cases/mystery.yaml": "prompt: [unclosed\n",
    }
    write_files(tmp_path, files)
    result = invoke("list", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line for line in result.stdout.splitlines()[1:]}
    assert "broken" in rows["other"]
    assert "1 + 1 broken file" in rows["greet"]
    assert "prompts/other.yaml:3:1: unknown key 'templte'" in result.stderr
    assert "cases/greet_more.yaml:4:5: unknown key 'varz'" in result.stderr
    assert "cases/mystery.yaml:1:9: invalid YAML" in result.stderr
    as_json = invoke("list", "--json", cwd=tmp_path)
    assert as_json.exit_code == 0
    data = {r["name"]: r for r in json.loads(as_json.stdout)}
    assert data["other"]["kind"] == "broken" and data["other"]["path"] == "prompts/other.yaml"
    assert data["greet"]["broken_case_files"] == ["cases/greet_more.yaml"]
    assert data["greet"]["cases"] == 1


def test_render_works_when_an_unrelated_file_is_broken(tmp_path: Path) -> None:
    write_files(tmp_path, {**MINIMAL, "prompts/other.yaml": BAD_PROMPT, "cases/greet.yaml": "prompt: [x\n"})
    result = invoke("render", "greet", "--var", "name=Ann", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert "Say hello to Ann." in result.stdout
    assert "2 other file(s) have problems; `promptctl lint` shows them" in result.stderr
    broken = invoke("render", "other", cwd=tmp_path)
    assert broken.exit_code == 2
    assert "prompts/other.yaml:3:1: unknown key 'templte'" in broken.stderr
