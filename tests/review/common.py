"""Throwaway repositories for the review workflow tests (diff, compare, gate, notes)."""

from __future__ import annotations

from pathlib import Path

from tests.helpers import commit_all, init_repo, write_files

KEY = "sk-test-review-0123456789abcdef"


def config(url: str, *, extra: str = "") -> str:
    """promptctl.yaml pointing the suite at the fake server through an alias."""
    return (
        "model: fake\n"
        "concurrency: 8\n"
        "max_retries: 0\n"
        "retry_max_wait: 0.1\n"
        "timeout: 5\n"
        "models:\n"
        "  fake:\n"
        "    model: openai/gpt-4o-mini\n"
        f"    api_base: {url}\n"
        "    api_key_env: FAKE_KEY\n" + extra
    )


def new_repo(root: Path, files: dict[str, str], message: str = "initial") -> tuple[Path, str]:
    init_repo(root)
    write_files(root, {".gitignore": ".promptctl/\n", **files})
    return root, commit_all(root, message)


def commit(root: Path, files: dict[str, str], message: str, remove: tuple[str, ...] = ()) -> str:
    write_files(root, files)
    for rel in remove:
        (root / rel).unlink()
    return commit_all(root, message)
