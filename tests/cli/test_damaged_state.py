"""What promptctl left on disk may be damaged (a truncated run record, a cache entry of the wrong
shape) and a file may have a name promptctl cannot read: each is a clear message, never an
"internal error", and everything else keeps working."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptctl.execute.cache import CACHE_RELPATH
from promptctl.records.record import list_records
from tests.fakeserver import FakeServer
from tests.helpers import MINIMAL, commit_all, git, init_repo, invoke, write_files

KEY = "sk-test-0123456789abcdef0123456789"


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


@pytest.fixture
def proj(tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FAKE_KEY", KEY)
    files = {
        "promptctl.yaml": f"model: fake\nmax_retries: 0\nmodels:\n  fake:\n"
        f"    model: openai/test-model\n    api_base: {server.url}\n    api_key_env: FAKE_KEY\n",
        "prompts/echo.yaml": "inputs: {text: {}}\ntemplate: '{{ text }}'\n",
        "cases/echo.yaml": "prompt: echo\ncases:\n"
        "  - {id: good, vars: {text: hello}, assert: [{type: contains, value: hello}]}\n"
        "  - {id: bad, vars: {text: bye}, assert: [{type: contains, value: hello}]}\n",
    }
    return init_repo(tmp_path / "repo", files)


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def test_show_skips_a_truncated_record_and_says_so(proj: Path) -> None:
    assert invoke("test", cwd=proj).exit_code == 1
    assert invoke("test", "--no-cache", cwd=proj).exit_code == 1
    _older, newer = list_records(proj)
    _truncate(newer)
    result = invoke("show", cwd=proj)
    assert result.exit_code == 0, result.output
    assert "internal error" not in result.output
    rel = newer.relative_to(proj).as_posix()
    assert f"warning: skipped {rel}: damaged run record (not valid JSON" in result.stderr
    assert "1 passed, 1 failed" in result.stdout  # the older record, shown


def test_show_with_only_a_damaged_record_is_a_clear_error(proj: Path) -> None:
    invoke("test", cwd=proj)
    (only,) = list_records(proj)
    _truncate(only)
    result = invoke("show", cwd=proj)
    assert result.exit_code == 2, result.output
    assert "damaged run record (not valid JSON" in result.stderr
    assert "delete it" in result.stderr
    assert "internal error" not in result.output


def test_history_lists_the_readable_records(proj: Path) -> None:
    invoke("test", cwd=proj)
    invoke("test", "--no-cache", cwd=proj)
    damaged = list_records(proj)[-1]
    _truncate(damaged)
    result = invoke("history", "--json", cwd=proj)
    assert result.exit_code == 0, result.output
    assert "internal error" not in result.output
    assert len(json.loads(result.stdout)) == 1
    rel = damaged.relative_to(proj).as_posix()
    assert f"warning: skipped {rel}: damaged run record (not valid JSON" in result.stderr


def test_a_record_that_breaks_the_schema_is_damaged_too(proj: Path) -> None:
    """Valid JSON is not enough: the record schema decides (here `rows` is a string)."""
    invoke("test", cwd=proj)
    invoke("test", "--no-cache", cwd=proj)
    newer = list_records(proj)[-1]
    data = json.loads(newer.read_text("utf-8"))
    newer.write_text(json.dumps({**data, "rows": "all good"}), "utf-8")
    result = invoke("show", cwd=proj)
    assert result.exit_code == 0, result.output
    rel = newer.relative_to(proj).as_posix()
    assert (
        f"warning: skipped {rel}: damaged run record (rows: expected a list, got 'all good')" in result.stderr
    )


def test_last_failed_uses_the_newest_readable_record(proj: Path, server: FakeServer) -> None:
    invoke("test", cwd=proj)
    (first,) = list_records(proj)
    (first.parent / "29990101T000000000000Z-ffffff.json").write_text(
        '{"schema_version": 1, "rows": [', "utf-8"
    )
    result = invoke("test", "--last-failed", "--format", "json", cwd=proj)
    assert "internal error" not in result.output
    assert result.exit_code == 1, result.output
    assert [r["case"] for r in json.loads(result.stdout)["rows"]] == ["bad"]


def test_records_push_skips_a_damaged_record(proj: Path, tmp_path: Path) -> None:
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", str(bare))
    git(proj, "remote", "add", "origin", str(bare))
    invoke("test", cwd=proj)
    invoke("test", "--no-cache", cwd=proj)
    damaged = list_records(proj)[-1]
    _truncate(damaged)
    result = invoke("records", "push", cwd=proj)
    assert result.exit_code == 0, result.output
    assert "attached 1 new record(s)" in result.stdout
    assert f"warning: skipped {damaged.relative_to(proj).as_posix()}: damaged run record" in result.stderr


def _cache_rows(root: Path) -> list[tuple[str, str]]:
    with sqlite3.connect(root / CACHE_RELPATH) as conn:
        return list(conn.execute("SELECT fingerprint, response FROM responses"))


@pytest.mark.parametrize(
    "payload",
    [
        '{"status": "ok", "text": 5}',
        '{"status": "ok", "text": "x", "latency_ms": "slow", "input_tokens": "many"}',
        '["not", "a", "mapping"]',
        "{truncated",
    ],
)
def test_a_malformed_cache_entry_is_a_miss_with_a_warning(
    proj: Path, server: FakeServer, payload: str
) -> None:
    assert invoke("test", cwd=proj).exit_code == 1
    assert server.stats()["requests"] == 2
    fingerprint, _ = _cache_rows(proj)[0]
    with sqlite3.connect(proj / CACHE_RELPATH) as conn:
        conn.execute("UPDATE responses SET response = ? WHERE fingerprint = ?", (payload, fingerprint))
    result = invoke("test", cwd=proj)
    assert result.exit_code == 1, result.output
    assert "internal error" not in result.output
    assert server.stats()["requests"] == 3  # the damaged entry answered live again
    assert (
        "warning: 1 entry of the cache at .promptctl/cache/cache.sqlite3 could not be read" in result.stderr
    )
    again = invoke("test", cwd=proj)  # and it was replaced by the live answer
    assert server.stats()["requests"] == 3 and "could not be read" not in again.stderr


def test_cache_clear_removes_everything_the_cache_holds(proj: Path) -> None:
    invoke("test", cwd=proj)
    old_plan = proj / ".promptctl" / "cache" / "plan"  # left by an older promptctl
    old_plan.mkdir()
    (old_plan / "entry.pickle").write_bytes(b"x")
    result = invoke("cache", "clear", cwd=proj)
    assert result.exit_code == 0, result.output
    assert "removed 2 cached responses" in result.stdout
    assert ".promptctl/cache/plan" in result.stdout
    assert not old_plan.exists()
    assert _cache_rows(proj) == []
    stats = json.loads(invoke("cache", "stats", "--json", cwd=proj).stdout)
    assert stats["entries"] == 0 and stats["last_run"] is None


@pytest.mark.parametrize("name", ["prompts/we\\ird.yaml", "cases/x\\y.yaml"])
def test_a_file_name_with_a_backslash_is_a_clear_error(tmp_path: Path, name: str) -> None:
    root = init_repo(tmp_path / "repo", MINIMAL)
    write_files(
        root, {name: MINIMAL["cases/greet.yaml" if name.startswith("cases") else "prompts/greet.yaml"]}
    )
    commit_all(root, "odd name")
    message = f"{name}: not read: the file name contains a backslash (a folder separator on Windows)"
    for argv, code in (
        (["lint"], 2),
        (["test", "--dry-run"], 2),
        (["list"], 0),
        (["list", "--ref", "HEAD"], 0),
    ):
        result = invoke(*argv, cwd=root)
        assert result.exit_code == code, (argv, result.output)
        assert "internal error" not in result.output
        assert message in result.output, argv
        if argv[0] == "list":
            assert "greet" in result.stdout  # the rest is listed
