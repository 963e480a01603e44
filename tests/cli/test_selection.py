"""Selecting nothing is not a pass: like pytest's exit 5, a distinct code; a path that does not
exist is a usage error (exit 2). Neither calls a model or writes a record."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptctl.errors import EXIT_NO_CASES
from tests.helpers import MINIMAL, init_repo, invoke


@pytest.fixture
def proj(tmp_path: Path) -> Path:
    return init_repo(tmp_path / "repo", MINIMAL)


def _no_record(root: Path) -> bool:
    return not (root / ".promptctl" / "runs").exists()


@pytest.mark.parametrize(
    "argv",
    [
        ["test", "-k", "zzzz"],
        ["test", "--tag", "nope"],
        ["test", "--dry-run", "-k", "zzzz"],
        ["test", "prompts/empty.yaml"],  # a prompt without cases
    ],
)
def test_nothing_selected_exits_5(proj: Path, argv: list[str]) -> None:
    (proj / "prompts" / "empty.yaml").write_text("template: hi\n", "utf-8")
    result = invoke(*argv, cwd=proj)
    assert EXIT_NO_CASES == 5
    assert result.exit_code == 5, result.output
    assert "no cases selected" in result.stderr
    assert "Traceback" not in result.output
    assert _no_record(proj)


def test_the_selection_is_named_in_the_message(proj: Path) -> None:
    result = invoke("test", "-k", "zzzz", "--tag", "t1", cwd=proj)
    assert result.exit_code == 5
    assert "-k zzzz" in result.stderr and "--tag t1" in result.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["test", "cases/nope.yaml"],
        ["test", "nope/"],
        ["test", "--dry-run", "cases/nope"],
        ["lint", "nope.yaml"],
    ],
)
def test_a_path_that_does_not_exist_is_a_usage_error(proj: Path, argv: list[str]) -> None:
    result = invoke(*argv, cwd=proj)
    assert result.exit_code == 2, result.output
    assert f"{argv[-1]}: no such file or directory" in result.stderr
    assert _no_record(proj)


def test_a_path_missing_at_the_ref_is_a_usage_error(proj: Path) -> None:
    (proj / "cases" / "new.yaml").write_text((proj / "cases" / "greet.yaml").read_text(), "utf-8")
    result = invoke("test", "--ref", "HEAD", "cases/new.yaml", "--dry-run", cwd=proj)
    assert result.exit_code == 2, result.output
    assert "cases/new.yaml: no such file or directory at HEAD" in result.stderr


def test_exit_codes_table_documents_5(repo_root: Path) -> None:
    readme = (repo_root / "README.md").read_text("utf-8")
    section = readme.split("## Exit codes", 1)[1].split("\n## ", 1)[0]
    assert "| 5 | no cases selected" in section
