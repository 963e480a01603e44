"""The one confinement rule for paths named in suite files."""

from __future__ import annotations

import pytest

from promptctl.paths import confined


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
