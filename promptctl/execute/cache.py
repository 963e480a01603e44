"""The local response cache: content-addressed by the request fingerprint, stored in SQLite.

Why SQLite (stdlib, no litellm import): a cached rerun of a 10,000-row suite must take well
under a second, two promptctl processes (say ``promptctl test`` and ``promptctl compare`` in two
terminals, or parallel CI jobs on one runner) must be able to share one cache, and an
interrupted run must keep what it already paid for. WAL mode gives concurrent readers with one
writer at a time, ``busy_timeout`` makes a second writer wait instead of failing, and buffered
writes committed in one transaction keep the per-row cost low.

The cache is an optimisation, never a source of truth: anything wrong with it (a corrupt file,
a directory in the way, no permission, a lock held too long) disables it with a ``warning`` the
CLI prints, and the run carries on live.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import sqlite3
import threading
import time
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from promptctl.errors import PromptctlError
from promptctl.execute.types import ModelResponse
from promptctl.secrets import Masking, current

__all__ = ["CACHE_RELPATH", "ResponseCache", "default_cache_path"]

CACHE_RELPATH = ".promptctl/cache/cache.sqlite3"
SCHEMA_VERSION = 1
BUSY_TIMEOUT_MS = 5000
# SQLite builds before 3.32 cap bound parameters at 999; stay well below for IN (...) lookups.
_CHUNK = 500

_SCHEMA = """
CREATE TABLE IF NOT EXISTS responses (
    fingerprint TEXT PRIMARY KEY,
    response    TEXT NOT NULL,
    model       TEXT,
    created_at  TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
"""


def default_cache_path(root: Path) -> Path:
    """Where a project's cache lives: ``<root>/.promptctl/cache/cache.sqlite3``."""
    return Path(root) / CACHE_RELPATH


class ResponseCache:
    """Fingerprint -> successful ModelResponse, shared safely between processes.

    Writes are buffered: ``put`` keeps the row in memory and commits the buffer in one
    transaction every ``flush_every`` puts or ``flush_interval`` seconds, whichever comes first,
    so an interrupted run loses at most that much. The runner calls ``flush()`` at the end and on
    interrupt; ``close()`` flushes too. Buffered rows are visible to ``get`` at once.

    All methods are safe to call from several threads (one lock around the connection).
    """

    def __init__(
        self,
        path: Path,
        *,
        enabled: bool = True,
        flush_every: int = 200,
        flush_interval: float = 2.0,
        display_path: str | None = None,
    ) -> None:
        self.path = Path(path)
        # The path shown to users: relative to the project when the caller knows the root.
        self.display_path = display_path or str(path)
        self.flush_every = max(1, flush_every)
        self.flush_interval = flush_interval
        self.warning: str | None = None
        self.malformed: set[str] = set()  # entries read that did not decode (answered as misses)
        self._warning_is_malformed = False
        self._requested = enabled
        self._enabled = False
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.RLock()
        self._pending: dict[str, tuple[str, str | None, str]] = {}
        self._last_flush = time.monotonic()
        self._owns_folder = False
        # what ``clear`` removed besides the entries: other files of the cache folder
        self.cleared_files: list[str] = []
        if enabled:
            self._open()

    @classmethod
    def for_root(cls, root: Path, *, enabled: bool = True, **kwargs: Any) -> ResponseCache:
        """The project's cache, with warnings naming the path relative to ``root``. It owns its
        folder: ``clear`` also removes whatever else is in it (an older promptctl's plan cache)."""
        c = cls(default_cache_path(root), enabled=enabled, display_path=CACHE_RELPATH, **kwargs)
        c._owns_folder = True
        return c

    @property
    def enabled(self) -> bool:
        """False when turned off by the caller or disabled after a problem (see ``warning``)."""
        return self._enabled

    # -- opening and failure handling -------------------------------------------------------

    def _open(self) -> None:
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None, check_same_thread=False
            )
        except (sqlite3.Error, OSError) as exc:
            self._disable(exc)
            return
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            # Switching to WAL needs a brief exclusive lock; two processes creating the cache
            # at the same moment may see SQLITE_BUSY here even with a busy timeout, so retry.
            deadline = time.monotonic() + BUSY_TIMEOUT_MS / 1000
            while True:
                try:
                    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()
                    conn.execute("PRAGMA synchronous = NORMAL")
                    conn.executescript(_SCHEMA)
                    break
                except sqlite3.OperationalError as exc:
                    if "locked" not in str(exc) and "busy" not in str(exc):
                        raise
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.05)
            if mode is None or str(mode[0]).lower() != "wal":
                raise sqlite3.DatabaseError(f"could not switch to WAL mode (got {mode!r})")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version == 0:
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
            elif version != SCHEMA_VERSION:
                raise sqlite3.DatabaseError(f"cache schema version {version} is not {SCHEMA_VERSION}")
        except sqlite3.Error as exc:
            with contextlib.suppress(sqlite3.Error):
                conn.close()
            self._disable(exc)
            return
        self._conn = conn
        self._enabled = True
        self.warning = None

    def _disable(self, exc: BaseException) -> None:
        """Turn the cache off for the rest of this process and say why, once."""
        self._enabled = False
        self._pending.clear()
        if self._conn is not None:
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()
            self._conn = None
        if self.warning is None or self._warning_is_malformed:
            self._warning_is_malformed = False
            self.warning = (
                f"cache at {self.display_path} is unreadable ({self._reason(exc)}); "
                "running without it — `promptctl cache clear` rebuilds it"
            )

    def _reason(self, exc: BaseException) -> str:
        if self.path.is_dir():
            return "a directory is in the way"
        if isinstance(exc, PermissionError) or (
            self.path.exists() and not os.access(self.path, os.R_OK | os.W_OK)
        ):
            return "permission denied"
        text = str(exc) or type(exc).__name__
        if "locked" in text or "busy" in text:
            return f"{text} for more than {BUSY_TIMEOUT_MS // 1000} s"
        return text

    # -- reads --------------------------------------------------------------------------------

    def get(self, fp: str) -> ModelResponse | None:
        """The cached response for ``fp`` (``source="cache"``), or None."""
        return self.get_many([fp]).get(fp)

    def get_many(self, fps: Iterable[str]) -> dict[str, ModelResponse]:
        """Every cached response among ``fps``, in a few ``IN (...)`` queries instead of one per
        row: this is what makes a fully cached rerun of a large suite take milliseconds."""
        wanted = list(dict.fromkeys(fps))
        found: dict[str, ModelResponse] = {}
        with self._lock:
            if not self._enabled or self._conn is None:
                return found
            rows: list[tuple[str, str]] = []
            for fp in wanted:
                pend = self._pending.get(fp)
                if pend is not None:
                    rows.append((fp, pend[0]))
            missing = [fp for fp in wanted if fp not in self._pending]
            try:
                for start in range(0, len(missing), _CHUNK):
                    chunk = missing[start : start + _CHUNK]
                    marks = ",".join("?" * len(chunk))
                    rows.extend(
                        self._conn.execute(
                            f"SELECT fingerprint, response FROM responses WHERE fingerprint IN ({marks})",
                            chunk,
                        ).fetchall()
                    )
            except sqlite3.Error as exc:
                self._disable(exc)
                return {}
        for fp, payload in rows:
            resp = _decode(payload)
            if resp is not None:
                found[fp] = resp
            else:
                self._note_malformed(fp)
        return found

    def _note_malformed(self, fp: str) -> None:
        """An entry that does not decode is a miss (the live answer replaces it); ``warning``
        says how many, unless it already says the cache is unusable."""
        with self._lock:
            self.malformed.add(fp)
            if self.warning is None or self._warning_is_malformed:
                n = len(self.malformed)
                self.warning = (
                    f"{n} {'entry' if n == 1 else 'entries'} of the cache at {self.display_path} could "
                    "not be read and were answered as misses (replaced by the new answers)"
                )
                self._warning_is_malformed = True

    # -- writes -------------------------------------------------------------------------------

    def put(self, fp: str, resp: ModelResponse, *, model: str | None = None) -> None:
        """Remember a successful response (errors and skips are never cached: a rate limit
        must not become a permanent answer). Buffered; see the class docstring."""
        if resp.status != "ok":
            return
        with self._lock:
            if not self._enabled:
                return
            encoded = _encode(resp, model, current())
            if encoded is None:
                return
            self._pending[fp] = encoded
            if len(self._pending) >= self.flush_every or (
                time.monotonic() - self._last_flush >= self.flush_interval
            ):
                self._flush_locked()

    def put_many(self, items: Iterable[tuple[str, ModelResponse]]) -> None:
        """Store several responses and commit them (with anything buffered) in one transaction."""
        with self._lock:
            if not self._enabled:
                return
            masking = current()
            for fp, resp in items:
                encoded = _encode(resp, None, masking) if resp.status == "ok" else None
                if encoded is not None:
                    self._pending[fp] = encoded
            self._flush_locked()

    def flush(self) -> None:
        """Commit buffered puts in one transaction. Cheap when nothing is buffered."""
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        self._last_flush = time.monotonic()
        if not self._pending or not self._enabled or self._conn is None:
            return
        rows = [(fp, payload, model, created) for fp, (payload, model, created) in self._pending.items()]
        try:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                self._conn.executemany(
                    "INSERT OR REPLACE INTO responses (fingerprint, response, model, created_at) "
                    "VALUES (?, ?, ?, ?)",
                    rows,
                )
                self._conn.execute("COMMIT")
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise
        except sqlite3.Error as exc:
            self._disable(exc)
            return
        self._pending.clear()

    # -- bookkeeping --------------------------------------------------------------------------

    def record_run_stats(self, hits: int, misses: int) -> None:
        """Remember the hit ratio of the run that just finished, for ``promptctl cache stats``."""
        value = json.dumps({"hits": hits, "misses": misses, "recorded_at": _now()})
        with self._lock:
            if not self._enabled or self._conn is None:
                return
            try:
                self._conn.execute(
                    "INSERT OR REPLACE INTO meta (key, value) VALUES ('last_run', ?)", (value,)
                )
            except sqlite3.Error as exc:
                self._disable(exc)

    def stats(self) -> dict[str, Any]:
        """``entries``, ``size_bytes`` (database plus WAL), ``path``, ``last_run`` (``{hits,
        misses, ratio}`` or None), and ``enabled``/``warning`` so a disabled cache explains itself."""
        entries = 0
        last_run: dict[str, Any] | None = None
        with self._lock:
            self._flush_locked()
            if self._enabled and self._conn is not None:
                try:
                    entries = int(self._conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0])
                    row = self._conn.execute("SELECT value FROM meta WHERE key = 'last_run'").fetchone()
                except sqlite3.Error as exc:
                    self._disable(exc)
                    row = None
                if row is not None:
                    last_run = _parse_last_run(row[0])
        return {
            "entries": entries,
            "size_bytes": self._size_bytes(),
            "path": self.display_path,
            "last_run": last_run,
            "enabled": self._enabled,
            "warning": self.warning,
        }

    def _size_bytes(self) -> int:
        total = 0
        for suffix in ("", "-wal"):
            with contextlib.suppress(OSError):
                p = Path(f"{self.path}{suffix}")
                if p.is_file():
                    total += p.stat().st_size
        return total

    def clear(self) -> int:
        """Delete every entry (and the last-run stats) and VACUUM; returns how many were removed.

        On a cache that could not be opened, the file (or whatever is in its way) is deleted and
        a fresh one created instead, and 0 is returned: the old entries cannot be counted.
        Raises PromptctlError when even that fails (the user asked for it explicitly). A cache
        constructed with ``enabled=False`` is left alone.
        """
        with self._lock:
            if not self._requested:
                return 0
            self._pending.clear()
            self._clear_folder()
            if self._enabled and self._conn is not None:
                try:
                    self._conn.execute("BEGIN IMMEDIATE")
                    removed = self._conn.execute("DELETE FROM responses").rowcount
                    tables = self._conn.execute(
                        "SELECT name FROM sqlite_master WHERE type = 'table' AND name != 'responses'"
                    ).fetchall()
                    for (table,) in tables:  # meta, and anything a newer promptctl keeps here
                        self._conn.execute(f'DELETE FROM "{table}"')
                    self._conn.execute("COMMIT")
                except sqlite3.Error as exc:
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("ROLLBACK")
                    self._disable(exc)
                else:
                    # Best effort: another process reading the cache makes VACUUM fail, and
                    # the entries are gone either way.
                    with contextlib.suppress(sqlite3.Error):
                        self._conn.execute("VACUUM")
                        self._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                    return max(removed, 0)
            # Broken cache: remove it and start over.
            try:
                for suffix in ("", "-wal", "-shm", "-journal"):
                    p = Path(f"{self.path}{suffix}")
                    if p.is_dir() and not p.is_symlink():
                        shutil.rmtree(p)
                    elif p.exists() or p.is_symlink():
                        p.unlink()
            except OSError as exc:
                raise PromptctlError(
                    f"cannot clear the cache at {self.display_path}: {exc.strerror or exc}",
                    hint=f"delete {self.display_path} by hand",
                ) from exc
            self.warning = None
            self._open()
            if not self._enabled:
                raise PromptctlError(f"cannot rebuild the cache: {self.warning}")
            return 0

    def _clear_folder(self) -> None:
        """Remove every other file and folder of the project's cache folder (never the database
        and its journal files, and only for the project's cache: see ``for_root``)."""
        self.cleared_files = []
        if not self._owns_folder or not self.path.parent.is_dir():
            return
        ours = {self.path.name + suffix for suffix in ("", "-wal", "-shm", "-journal")}
        folder = Path(self.display_path).parent.as_posix()
        for entry in sorted(self.path.parent.iterdir()):
            if entry.name in ours:
                continue
            try:
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry)
                else:
                    entry.unlink()
            except OSError as exc:
                raise PromptctlError(
                    f"cannot clear {folder}/{entry.name}: {exc.strerror or exc}",
                    hint=f"delete {folder}/{entry.name} by hand",
                ) from exc
            self.cleared_files.append(f"{folder}/{entry.name}")

    def close(self) -> None:
        """Flush and close. The last connection to close checkpoints and removes the WAL file."""
        with self._lock:
            self._flush_locked()
            if self._conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.close()
                self._conn = None
            self._enabled = False

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_FIELDS = tuple(name for name in ModelResponse.__dataclass_fields__ if name != "source")


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _encode(resp: ModelResponse, model: str | None, masking: Masking) -> tuple[str, str | None, str] | None:
    """The stored form of ``resp`` (every string masked: promptctl.secrets), or None when an
    answer holds personal data ``redact:`` masks: a hit must be the answer the model gave, so
    it is not stored (the next run asks again). No ``asdict`` deep copies: they were slow."""
    data = masking.data({name: getattr(resp, name) for name in _FIELDS})
    if masking.maskers and data["text"] != Masking(masking.secrets).text(resp.text or "") and resp.text:
        return None
    payload = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return payload, model or resp.answered_by or resp.provider_model, _now()


# What each stored field must be for the row to be a usable answer (None allowed but for text).
_NUMBER = (int, float)
_SHAPES: dict[str, tuple[type, ...]] = {
    "text": (str, type(None)),
    "error": (str, type(None)),
    "latency_ms": (*_NUMBER, type(None)),
    "input_tokens": (int, type(None)),
    "output_tokens": (int, type(None)),
    "cost": (*_NUMBER, type(None)),
    "finish_reason": (str, type(None)),
    "answered_by": (str, type(None)),
    "provider_model": (str, type(None)),
    "attempts": (int,),
    "retries": (int,),
}


def _decode(payload: str) -> ModelResponse | None:
    """A stored row as a cache hit. ``attempts``/``retries`` are zeroed: a hit made no HTTP
    call in this run, and run totals must not count the original call again. A row that does
    not decode to a successful answer of the right shape is treated as a miss (it will be
    overwritten by the live answer)."""
    try:
        data = json.loads(payload)
    except (ValueError, TypeError):
        return None
    if not isinstance(data, dict) or data.get("status") != "ok":
        return None
    for name, types in _SHAPES.items():
        value = data.get(name, 0 if name in ("attempts", "retries") else None)
        if not isinstance(value, types) or isinstance(value, bool):
            return None
    resp = ModelResponse.from_dict(data)
    resp.source = "cache"
    resp.attempts = 0
    resp.retries = 0
    return resp


def _parse_last_run(value: str) -> dict[str, Any] | None:
    try:
        data = json.loads(value)
        hits, misses = int(data["hits"]), int(data["misses"])
    except (ValueError, TypeError, KeyError):
        return None
    total = hits + misses
    return {
        "hits": hits,
        "misses": misses,
        "ratio": (hits / total) if total else None,
        "recorded_at": data.get("recorded_at"),
    }
