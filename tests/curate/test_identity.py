"""Who signs a verdict: git's author identity (environment first, then the repository config)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from promptctl.curate.identity import now, reviewer
from promptctl.errors import UsageError
from tests.helpers import git, init_repo


def test_identity_like_git(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = init_repo(tmp_path / "r")
    assert reviewer(root) == "Test Author <author@example.invalid>"  # GIT_AUTHOR_* as git uses them
    monkeypatch.delenv("GIT_AUTHOR_NAME")
    monkeypatch.delenv("GIT_AUTHOR_EMAIL")
    with pytest.raises(UsageError) as exc:
        reviewer(root)
    assert exc.value.message == "no git identity to sign the verdicts with (user.name and user.email not set)"
    git(root, "config", "user.name", "Rita")
    with pytest.raises(UsageError, match=r"\(user.email not set\)"):
        reviewer(root)
    git(root, "config", "user.email", "rita@example.invalid")
    assert reviewer(root) == "Rita <rita@example.invalid>"


def test_now_is_utc_to_the_second() -> None:
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", now())
