"""init, list, lint and the global behaviours (help, version, exit codes) through the entry point."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import MINIMAL, invoke, write_files


def test_init_scaffolds_and_never_overwrites(tmp_path: Path) -> None:
    (tmp_path / ".gitignore").write_text("node_modules/\n")
    (tmp_path / "promptctl.yaml").write_text("model: mine\n")
    result = invoke("init", cwd=tmp_path)
    assert result.exit_code == 0, result.output
    assert (tmp_path / "promptctl.yaml").read_text() == "model: mine\n"
    assert (tmp_path / "prompts/summarize.yaml").exists()
    assert (tmp_path / ".github/workflows/promptctl.yml").exists()
    gi = (tmp_path / ".gitignore").read_text()
    assert gi.startswith("node_modules/\n") and ".promptctl/" in gi
    again = invoke("init", cwd=tmp_path)
    assert again.exit_code == 0
    assert (tmp_path / ".gitignore").read_text() == gi
    assert "created" not in again.stdout
    # the scaffold is itself a clean suite
    (tmp_path / "promptctl.yaml").unlink()
    assert invoke("init", cwd=tmp_path).exit_code == 0
    lint = invoke("lint", cwd=tmp_path)
    assert lint.exit_code == 0, lint.output


def test_list_json_and_table(tmp_path: Path) -> None:
    write_files(tmp_path, MINIMAL)
    data = json.loads(invoke("list", "--json", cwd=tmp_path).stdout)
    assert data == [
        {
            "name": "greet",
            "kind": "text",
            "model": "openai/test-model",
            "tags": [],
            "cases": 1,
            "broken_case_files": [],
            "path": "prompts/greet.yaml",
            "description": "Greet someone.",
        }
    ]
    table = invoke("list", cwd=tmp_path)
    assert table.exit_code == 0 and "greet" in table.stdout and "text" in table.stdout


def test_example_suite_lints_clean(repo_root: Path) -> None:
    result = invoke("lint", cwd=repo_root)
    assert result.exit_code == 0, result.output
    assert "error" not in result.stdout.replace("0 error(s)", "")


def test_example_suite_lists_all_prompt_kinds(repo_root: Path) -> None:
    data = json.loads(invoke("list", "--json", cwd=repo_root).stdout)
    names = {p["name"] for p in data}
    assert len(names) >= 5
    assert {"text", "chat"} <= {p["kind"] for p in data}


def test_unknown_command_and_option_exit_2(tmp_path: Path) -> None:
    assert invoke("frobnicate", cwd=tmp_path).exit_code == 2
    assert invoke("list", "--nope", cwd=tmp_path).exit_code == 2


def test_version_and_help_subprocess(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "promptctl", "--version"], capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 0 and out.stdout.startswith("promptctl ")
    out = subprocess.run(
        [sys.executable, "-m", "promptctl", "--help"], capture_output=True, text=True, cwd=tmp_path
    )
    assert out.returncode == 0
    for verb in ("init", "list", "render", "lint"):
        assert verb in out.stdout


def test_fast_commands_do_not_import_litellm(repo_root: Path) -> None:
    code = (
        "import sys\n"
        "from promptctl.cli import main\n"
        "for argv in (['--help'], ['list'], ['render', 'summarize', '--case', 'library-hours'], ['lint'],\n"
        "             ['test', '--dry-run']):  # model names are checked from litellm's files, not litellm\n"
        "    try:\n"
        "        main(argv)\n"
        "    except SystemExit as e:\n"
        "        assert e.code in (0, None), (argv, e.code)\n"
        "assert 'litellm' not in sys.modules, 'litellm imported'\n"
        "assert 'openai' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=repo_root)
    assert out.returncode == 0, out.stderr[-2000:]


def test_debug_flag_shows_traceback_only_on_request(tmp_path: Path) -> None:
    write_files(tmp_path, MINIMAL)
    plain = invoke("render", "nope", cwd=tmp_path)
    assert plain.exit_code == 2 and "Traceback" not in plain.output
    debug = invoke("--debug", "render", "nope", cwd=tmp_path)
    assert debug.exit_code == 2 and "Traceback" in debug.stderr


def test_lint_paths_limit_the_report(tmp_path: Path) -> None:
    write_files(
        tmp_path, {**MINIMAL, "prompts/bad.yaml": "templte: x\n", "cases/other/bad.yaml": "prompt: nope\n"}
    )
    everything = invoke("lint", cwd=tmp_path)
    assert everything.exit_code == 2
    assert "prompts/bad.yaml" in everything.stdout and "cases/other/bad.yaml" in everything.stdout
    only = invoke("lint", "cases/other", cwd=tmp_path)
    assert (
        only.exit_code == 2
        and "prompts/bad.yaml" not in only.stdout
        and "cases/other/bad.yaml" in only.stdout
    )
    clean = invoke("lint", "cases/greet.yaml", cwd=tmp_path)
    assert clean.exit_code == 0, clean.output
