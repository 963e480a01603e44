"""``promptctl test --watch``: what changed on disk, and which cases a change touches.

* **Files watched**: everything under the prompts, cases and examples folders and
  ``promptctl.yaml`` (and ``.env``), polled by modification time and size every
  :data:`POLL_S` (no watcher library needed; an editor's several writes in a row settle for
  :data:`SETTLE_S` first).
* **Cases to rerun**: those whose *digest* changed: every row's request fingerprint (so a change
  of template, partial, variable, model or parameter reruns exactly the cases whose rendered
  request changed), plus the case's own checks (its assertions, ``min_pass_rate``, ``expected``:
  a changed assertion is re-validated, from the cache, at no cost). New cases run too.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from promptctl.jsonutil import canonical_json
from promptctl.run.plan import Row
from promptctl.suite.model import Config

__all__ = ["POLL_S", "SETTLE_S", "Snapshot", "case_digests", "changed_cases", "snapshot", "wait_for_change"]

POLL_S = 0.3
SETTLE_S = 0.15

Snapshot = dict[str, tuple[int, int]]


def watched_roots(root: Path, config: Config) -> list[Path]:
    return [
        root / config.prompts_dir,
        root / config.cases_dir,
        root / config.examples_dir,
        root / "promptctl.yaml",
        root / ".env",
    ]


def snapshot(root: Path, config: Config) -> Snapshot:
    """``path -> (mtime_ns, size)`` of every watched file (symlinks are followed only as files)."""
    out: Snapshot = {}
    for base in watched_roots(root, config):
        if base.is_file():
            st = base.stat()
            out[str(base)] = (st.st_mtime_ns, st.st_size)
            continue
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith(".") or name.endswith(("~", ".swp", ".tmp")):
                    continue  # editors' and promptctl's own temporary files
                path = os.path.join(dirpath, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue
                out[path] = (st.st_mtime_ns, st.st_size)
    return out


def diff(before: Snapshot, after: Snapshot) -> list[str]:
    """Paths added, removed or changed."""
    return sorted(p for p in before.keys() | after.keys() if before.get(p) != after.get(p))


def wait_for_change(
    root: Path,
    config: Config,
    before: Snapshot,
    *,
    poll_s: float = POLL_S,
    sleep: Callable[[float], None] = time.sleep,
) -> tuple[Snapshot, list[str]]:
    """Block until a watched file changes and has stayed unchanged for :data:`SETTLE_S`; the new
    snapshot and the changed paths (relative to ``root``)."""
    while True:
        sleep(poll_s)
        now = snapshot(root, config)
        if now == before:
            continue
        while True:  # let a burst of writes settle
            sleep(SETTLE_S)
            later = snapshot(root, config)
            if later == now:
                break
            now = later
        changed = diff(before, now)
        if changed:
            return now, [os.path.relpath(p, root) for p in changed]
        before = now


def case_digests(rows: list[Row]) -> dict[str, str]:
    """Per case key: a digest of its rows' request fingerprints and its own checks."""
    parts: dict[str, list[str]] = {}
    for row in rows:
        parts.setdefault(row.case.key, []).append(f"{row.model_name}#{row.sample}:{row.fingerprint}")
    out: dict[str, str] = {}
    cases = {row.case.key: row.case for row in rows}
    for key, fps in parts.items():
        case = cases[key]
        checks = {
            "asserts": [{k: v for k, v in asdict(a).items() if k != "loc"} for a in case.asserts],
            "min_pass_rate": case.min_pass_rate,
            "expected": case.expected,
        }
        text = canonical_json({"rows": sorted(fps), "checks": checks})
        out[key] = hashlib.sha256(text.encode("utf-8")).hexdigest()
    return out


def changed_cases(before: dict[str, str], after: dict[str, str]) -> set[str]:
    """Case keys that are new or whose digest changed (removed ones have nothing to run)."""
    return {key for key, digest in after.items() if before.get(key) != digest}
