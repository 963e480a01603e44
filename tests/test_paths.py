"""The one confinement rule for paths named in suite files."""

from __future__ import annotations

from pathlib import Path

import pytest

from promptctl.paths import confined, real_path_inside


@pytest.mark.parametrize(
    ("rel", "base", "expected"),
    [
        ("_partials/a.j2", "prompts", "prompts/_partials/a.j2"),
        ("./x/../y.txt", "", "y.txt"),
        ("..foo/bar", "prompts", "prompts/..foo/bar"),  # a name starting with dots is not an escape
        ("../secret", "prompts", None),
        ("a/../../b", "", None),
        ("/etc/passwd", "", None),
        ("C:/x", "", None),
        ("a\\b", "", None),
        ("", "", None),
        (".", "prompts", None),
    ],
)
def test_confined(rel: str, base: str, expected: str | None) -> None:
    assert confined(rel, base) == expected


@pytest.mark.parametrize("rel", [".git/config", "x/../.git/HEAD", ".GIT/config", "sub/.git/config", ".git"])
def test_git_directories_are_never_named(rel: str) -> None:
    assert confined(rel) is None


def test_real_path_inside(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "data").mkdir(parents=True)
    (root / "data/ok.txt").write_text("ok")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("TOP-SECRET")
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    (root / "data/linkfile").symlink_to(outside / "secret.txt")
    (root / "data/inner").symlink_to(root / "data/ok.txt")
    (root / "gitlink").symlink_to(root / ".git", target_is_directory=True)
    (root / ".git").mkdir()
    (root / ".git/config").write_text("[core]")
    assert real_path_inside(root, "data/ok.txt") == (root / "data/ok.txt").resolve()
    assert real_path_inside(root, "data/inner") == (root / "data/ok.txt").resolve()  # a link inside is fine
    for rel in (
        "linkdir/secret.txt",
        "data/linkfile",
        "gitlink/config",
        ".git/config",
        "../outside/secret.txt",
    ):
        with pytest.raises(PermissionError):
            real_path_inside(root, rel)
