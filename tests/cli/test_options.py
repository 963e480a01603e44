"""Option values are checked where they are typed: a bad one is a usage error (exit 2) before
anything runs, never silently ignored."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import MINIMAL, init_repo, invoke

BAD = {
    "alpha-without-gate": (
        ["compare", "HEAD", "HEAD", "--alpha", "0.1"],
        "--alpha has no effect without --gate",
    ),
    "alpha-out-of-range": (["compare", "HEAD", "HEAD", "--alpha", "2"], "--alpha"),
    "correction-unknown": (["compare", "HEAD", "HEAD", "--correction", "foo"], "'foo' is not one of"),
    "tolerance-without-gate": (
        ["compare", "HEAD", "HEAD", "--score-tolerance", "0.1"],
        "--score-tolerance has no effect without --gate",
    ),
    "history-negative": (["history", "-n", "-1"], "-n"),
    "history-zero": (["history", "-n", "0"], "-n"),
    "render-empty-var-name": (["render", "greet", "--var", "=x"], "--var expects KEY=VALUE with a name"),
    "render-bad-var-name": (["render", "greet", "--var", "my name=x"], "not a variable name"),
    "test-format": (["test", "--format", "xml"], "unknown --format 'xml'"),
    "show-format": (["show", "--format", "xml"], "unknown --format 'xml'"),
}


@pytest.mark.parametrize("name", sorted(BAD))
def test_bad_option_is_a_usage_error(tmp_path: Path, name: str) -> None:
    argv, fragment = BAD[name]
    init_repo(tmp_path, MINIMAL)
    result = invoke(*argv, cwd=tmp_path)
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / ".promptctl" / "runs").exists()  # nothing ran


def test_gate_options_with_gate_are_accepted(tmp_path: Path) -> None:
    init_repo(tmp_path, MINIMAL)
    argv = ["compare", "HEAD", "HEAD", "--offline", "--gate", "--alpha", "0.1", "--correction", "bh"]
    result = invoke(*argv, cwd=tmp_path)
    # No recordings: no row can be evaluated offline; what matters is that the gate ran with the options.
    assert result.exit_code == 3, result.output
    assert "gate: CANNOT EVALUATE" in result.stdout
