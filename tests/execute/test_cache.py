"""The SQLite response cache: round trips, batching, sharing between processes, and never
failing a run because of a broken cache file."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptctl.execute import cache as cache_mod
from promptctl.execute.cache import CACHE_RELPATH, ResponseCache, default_cache_path
from promptctl.execute.types import ModelResponse

REPO = Path(__file__).resolve().parents[2]


def fp(i: int) -> str:
    return f"{i:064x}"


def ok(text: str = "answer", **kw: object) -> ModelResponse:
    base: dict[str, object] = {
        "status": "ok",
        "text": text,
        "latency_ms": 12.5,
        "input_tokens": 10,
        "output_tokens": 3,
        "cost": 0.00012,
        "finish_reason": "stop",
        "answered_by": "mini",
        "provider_model": "gpt-4o-mini-2024-07-18",
        "attempts": 2,
        "retries": 1,
    }
    base.update(kw)
    return ModelResponse.from_dict(base)


def rows(path: Path) -> int:
    """Committed rows, seen through an independent connection (what another process sees)."""
    with sqlite3.connect(path) as conn:
        return int(conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])


@pytest.fixture
def cache(tmp_path: Path) -> Iterator[ResponseCache]:
    c = ResponseCache.for_root(tmp_path)
    yield c
    c.close()


def test_put_get_round_trip(tmp_path: Path) -> None:
    c = ResponseCache.for_root(tmp_path)
    assert c.enabled and c.warning is None
    resp = ok("multi\nline — ünïcode\n")
    c.put(fp(1), resp)
    hit = c.get(fp(1))  # visible while still buffered
    assert hit is not None and hit.source == "cache"
    c.close()

    c2 = ResponseCache.for_root(tmp_path)
    hit = c2.get(fp(1))
    assert hit is not None
    expected = resp.to_dict() | {"source": "cache", "attempts": 0, "retries": 0}
    assert hit.to_dict() == expected
    assert c2.get(fp(2)) is None
    c2.close()

    with sqlite3.connect(default_cache_path(tmp_path)) as conn:
        payload, model = conn.execute("SELECT response, model FROM responses").fetchone()
    stored = json.loads(payload)
    assert "source" not in stored and stored["text"] == resp.text
    assert model == "mini"
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_get_many_mixed_and_chunked(cache: ResponseCache) -> None:
    cache.put_many((fp(i), ok(f"a{i}")) for i in range(0, 1200, 2))
    cache.put(fp(1), ok("buffered"))
    wanted = [fp(i) for i in range(1200)] + [fp(0)]  # more than one chunk, with a duplicate
    got = cache.get_many(wanted)
    assert set(got) == {fp(i) for i in range(0, 1200, 2)} | {fp(1)}
    assert got[fp(4)].text == "a4" and got[fp(1)].text == "buffered"
    assert all(r.source == "cache" for r in got.values())
    assert cache.get_many([]) == {}


def test_get_many_is_fast(tmp_path: Path) -> None:
    with ResponseCache.for_root(tmp_path) as c:
        c.put_many((fp(i), ok(f"output {i}\n" * 5)) for i in range(10_000))
    with ResponseCache.for_root(tmp_path) as c:
        start = time.perf_counter()
        got = c.get_many([fp(i) for i in range(1000)])
        elapsed = time.perf_counter() - start
    assert len(got) == 1000
    print(f"get_many(1000) took {elapsed * 1000:.1f} ms")
    assert elapsed < 2.0  # generous: the target is < 0.1 s, measured ~20 ms


@pytest.mark.parametrize("status", ["error", "skipped"])
def test_failures_are_never_cached(cache: ResponseCache, status: str) -> None:
    bad = ModelResponse(status=status, error="RateLimitError: slow down")  # type: ignore[arg-type]
    cache.put(fp(1), bad)
    cache.put_many([(fp(2), bad), (fp(3), ok())])
    cache.flush()
    assert cache.get(fp(1)) is None and cache.get(fp(2)) is None
    assert cache.get(fp(3)) is not None
    assert rows(cache.path) == 1


def test_buffered_writes_commit_every_n_puts(tmp_path: Path) -> None:
    c = ResponseCache.for_root(tmp_path, flush_every=3, flush_interval=3600)
    c.put(fp(1), ok())
    c.put(fp(2), ok())
    assert rows(c.path) == 0  # buffered: not yet visible to other processes
    c.put(fp(3), ok())
    assert rows(c.path) == 3  # third put committed all three in one transaction
    c.put(fp(4), ok())
    assert rows(c.path) == 3
    c.flush()
    assert rows(c.path) == 4
    c.flush()  # nothing buffered: a no-op
    c.put(fp(5), ok())
    c.close()  # close flushes
    assert rows(c.path) == 5


def test_buffered_writes_commit_after_interval(tmp_path: Path) -> None:
    c = ResponseCache.for_root(tmp_path, flush_every=1000, flush_interval=0.0)
    c.put(fp(1), ok())
    assert rows(c.path) == 1
    c.close()


def test_stats_and_last_run_ratio(tmp_path: Path) -> None:
    c = ResponseCache.for_root(tmp_path)
    s = c.stats()
    assert s["entries"] == 0 and s["last_run"] is None and s["path"] == CACHE_RELPATH
    c.put_many((fp(i), ok()) for i in range(5))
    c.record_run_stats(hits=3, misses=1)
    c.close()

    c = ResponseCache.for_root(tmp_path)
    s = c.stats()
    assert s["entries"] == 5 and s["size_bytes"] > 0 and s["enabled"] and s["warning"] is None
    assert s["last_run"]["hits"] == 3 and s["last_run"]["misses"] == 1
    assert s["last_run"]["ratio"] == pytest.approx(0.75)
    c.record_run_stats(0, 0)
    assert c.stats()["last_run"]["ratio"] is None
    c.close()


def test_clear_removes_everything(tmp_path: Path) -> None:
    c = ResponseCache.for_root(tmp_path)
    c.put_many((fp(i), ok("x" * 2000)) for i in range(300))
    c.record_run_stats(1, 1)
    c.put(fp(999), ok())  # buffered: dropped too
    assert c.clear() == 300
    s = c.stats()
    assert s["entries"] == 0 and s["last_run"] is None
    assert c.get(fp(1)) is None
    assert s["size_bytes"] < 100_000  # vacuumed
    c.put(fp(1), ok())
    assert c.get(fp(1)) is not None
    c.close()


def test_disabled_cache_touches_nothing(tmp_path: Path) -> None:
    c = ResponseCache.for_root(tmp_path, enabled=False)
    c.put(fp(1), ok())
    c.flush()
    assert c.get(fp(1)) is None and not c.enabled and c.warning is None
    assert c.clear() == 0
    c.close()
    assert not (tmp_path / ".promptctl").exists()


def test_garbage_file_is_reported_and_bypassed(tmp_path: Path) -> None:
    path = default_cache_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not sqlite at all\n" * 200)
    c = ResponseCache.for_root(tmp_path)
    assert not c.enabled
    assert c.warning is not None
    assert ".promptctl/cache/cache.sqlite3 is unreadable" in c.warning
    assert "file is not a database" in c.warning and "promptctl cache clear" in c.warning
    # Everything is a quiet no-op.
    assert c.get(fp(1)) is None and c.get_many([fp(1)]) == {}
    c.put(fp(1), ok())
    c.put_many([(fp(2), ok())])
    c.flush()
    c.record_run_stats(1, 1)
    assert c.stats()["enabled"] is False
    assert path.read_bytes().startswith(b"this is not sqlite")  # untouched until asked
    # clear rebuilds it.
    assert c.clear() == 0
    assert c.enabled and c.warning is None
    c.put(fp(1), ok())
    assert c.get(fp(1)) is not None
    c.close()


def test_directory_in_the_way(tmp_path: Path) -> None:
    path = default_cache_path(tmp_path)
    (path / "junk").mkdir(parents=True)
    c = ResponseCache.for_root(tmp_path)
    assert not c.enabled and c.warning is not None and "directory" in c.warning
    assert c.get(fp(1)) is None
    c.put(fp(1), ok())
    assert c.clear() == 0 and c.enabled and path.is_file()
    c.close()


def test_unusable_parent_directory(tmp_path: Path) -> None:
    (tmp_path / ".promptctl").write_text("a file, not a directory")
    c = ResponseCache.for_root(tmp_path)
    assert not c.enabled and c.warning is not None
    c.put(fp(1), ok())
    assert c.get(fp(1)) is None
    c.close()


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="needs POSIX permissions, not root")
def test_permission_denied(tmp_path: Path) -> None:
    ResponseCache.for_root(tmp_path).close()
    path = default_cache_path(tmp_path)
    path.chmod(0)
    try:
        c = ResponseCache.for_root(tmp_path)
        assert not c.enabled and c.warning is not None and "permission denied" in c.warning
        assert c.get(fp(1)) is None
        c.close()
    finally:
        path.chmod(0o644)


def test_lock_held_beyond_timeout_disables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cache_mod, "BUSY_TIMEOUT_MS", 200)
    c = ResponseCache.for_root(tmp_path, flush_every=1000)
    c.put(fp(1), ok())
    other = sqlite3.connect(c.path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    try:
        c.flush()
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert not c.enabled
    assert c.warning is not None and "locked" in c.warning
    assert c.get(fp(1)) is None
    c.close()


def test_threads_share_one_cache(cache: ResponseCache) -> None:
    def work(base: int) -> None:
        for i in range(base, base + 100):
            cache.put(fp(i), ok(str(i)))
            cache.get(fp(i - 1))

    threads = [threading.Thread(target=work, args=(n * 1000,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    cache.flush()
    assert len(cache.get_many([fp(n * 1000 + i) for n in range(4) for i in range(100)])) == 400


WRITER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from promptctl.execute.cache import ResponseCache
    from promptctl.execute.types import ModelResponse

    root, tag, go = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
    while not go.exists():
        time.sleep(0.005)
    c = ResponseCache.for_root(root, flush_every=7)
    for i in range(300):
        c.put(f"{tag}-{i}", ModelResponse(text=f"{tag} {i}"))
        c.get(f"{tag}-{i // 2}")
        if i % 50 == 0:
            c.get_many([f"a-{j}" for j in range(i)] + [f"b-{j}" for j in range(i)])
    c.record_run_stats(1, 2)
    c.close()
    print("warning:", c.warning)
    """
)


def test_two_processes_write_concurrently(tmp_path: Path) -> None:
    """Both start on a cache that does not exist yet (racing to create it and switch to WAL)."""
    go = tmp_path / "go"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), tag, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for tag in ("a", "b")
    ]
    time.sleep(0.3)  # let both interpreters start and wait at the gate
    go.touch()
    for p in procs:
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        assert out.strip() == "warning: None", (out, err)
        assert err == ""
    with ResponseCache.for_root(tmp_path) as c:
        got = c.get_many([f"{tag}-{i}" for tag in ("a", "b") for i in range(300)])
        assert len(got) == 600
        assert got["b-299"].text == "b 299"
        assert c.stats()["entries"] == 600


def test_importing_the_cache_does_not_import_litellm() -> None:
    code = "import sys, promptctl.execute.cache, promptctl.execute.recordings.store; print('litellm' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        check=True,
    )
    assert out.stdout.strip() == "False"
