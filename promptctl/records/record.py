"""Run records: every ``promptctl test`` result, keyed by git commit, written atomically.

Layout: ``.promptctl/runs/<sha>/<UTC time>-<nonce>.json`` for a clean tree and
``.promptctl/runs/<sha>-dirty-<hash12>/...`` when prompts/, cases/ or the config had uncommitted
changes (the hash is of their content, so two runs of the same dirty state share a folder).
A record is plain JSON: readable by jq, diffable, cheap to load, and small enough for a git note.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from promptctl.atomic import write_text_atomic
from promptctl.errors import UsageError
from promptctl.records.summary import summarize
from promptctl.version import __version__, installed_version

SCHEMA_VERSION = 1
RUNS_DIR = ".promptctl/runs"


def _versions() -> dict[str, str]:
    out = {"promptctl": __version__, "python": sys.version.split()[0]}
    for pkg in ("litellm", "jinja2"):
        v = installed_version(pkg)
        if v is not None:
            out[pkg] = v
    return out


@dataclass
class Record:
    """One run. ``rows`` are plain dicts (see ``records.run_record.row_to_dict``), so a record loads
    without importing anything."""

    commit: str | None
    dirty: bool
    content_hash: str | None
    created_at: str
    command: list[str]
    config: dict[str, Any]
    rows: list[dict[str, Any]] = field(default_factory=list)
    complete: bool = True
    interrupted: bool = False
    selection: dict[str, Any] = field(default_factory=dict)
    stats: dict[str, Any] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=_versions)
    schema_version: int = SCHEMA_VERSION
    path: str | None = None  # where it was read from / written to (not stored)
    ref: str | None = None  # the --ref the suite was read from, if any
    # (rows list, its length, summary): a `test` run asks for the summary three times (record,
    # table, exit code). Rows are treated as immutable once set: assign a new list to change them.
    _summary: tuple[list[dict[str, Any]], int, dict[str, Any]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "path" and not k.startswith("_")}
        data["summary"] = self.summary
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str | None = None) -> Record:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "path" and k[0] != "_"}
        rec = cls(**known)
        rec.path = path
        return rec

    def preset_summary(self, summary: dict[str, Any]) -> None:
        """The summary of the current ``rows`` as computed elsewhere (a streamed run's tally,
        whose rows are not in memory)."""
        self._summary = (self.rows, len(self.rows), dict(summary))

    @property
    def summary(self) -> dict[str, Any]:
        memo = self._summary
        if memo is None or memo[0] is not self.rows or memo[1] != len(self.rows):
            memo = (self.rows, len(self.rows), summarize(self.rows))
            self._summary = memo
        return dict(memo[2])

    @property
    def folder(self) -> str:
        base = "no-commit" if self.commit is None else self.commit
        if self.dirty:
            base += f"-dirty-{(self.content_hash or 'unknown')[:12]}"
        return base


def now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def new_record_path(root: Path, record: Record) -> Path:
    """Where a record written now goes: its folder (commit, dirty hash), a UTC time and a nonce."""
    stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S%fZ")
    return Path(root) / RUNS_DIR / record.folder / f"{stamp}-{os.urandom(3).hex()}.json"


def write_record(root: Path, record: Record) -> Path:
    """Write atomically (temporary file + rename) and return the path."""
    path = new_record_path(root, record)
    # check_circular=False: rows are plain trees; the check costs ~15 % of dumping 1,000 rows.
    text = json.dumps(record.to_dict(), ensure_ascii=False, separators=(",", ":"), check_circular=False)
    write_text_atomic(path, text)
    record.path = str(path)
    return path


def read_record(path: Path) -> Record:
    data = json.loads(Path(path).read_text("utf-8"))
    if data.get("schema_version", 0) > SCHEMA_VERSION:
        raise UsageError(
            f"{path} was written by a newer promptctl (schema {data['schema_version']}); upgrade"
        )
    return Record.from_dict(data, str(path))


def list_records(root: Path) -> list[Path]:
    """Every record file, oldest first (by the timestamp in its name)."""
    base = Path(root) / RUNS_DIR
    if not base.is_dir():
        return []
    files = [p for p in base.glob("*/*.json") if not p.name.startswith(".")]
    return sorted(files, key=lambda p: (p.name, str(p.parent)))


def records_for_commit(root: Path, sha: str, *, include_dirty: bool = False) -> list[Path]:
    base = Path(root) / RUNS_DIR
    out = sorted((base / sha).glob("*.json")) if (base / sha).is_dir() else []
    if include_dirty:
        for d in sorted(base.glob(f"{sha}-dirty-*")):
            out.extend(sorted(d.glob("*.json")))
        out.sort(key=lambda p: p.name)
    return out


def latest_record(root: Path, sha: str | None = None, *, include_dirty: bool = True) -> Record | None:
    paths = records_for_commit(root, sha, include_dirty=include_dirty) if sha else list_records(root)
    return read_record(paths[-1]) if paths else None


def new_record(root: Path, *, command: list[str], config: dict[str, Any], ref: str | None = None) -> Record:
    """A record stamped with provenance: HEAD (or --ref's commit), the dirty flag and content hash."""
    from promptctl.git.plumbing import find_repo_root
    from promptctl.git.repo import content_hash, head_commit, is_dirty, resolve

    commit = dirty_hash = None
    dirty = False
    if find_repo_root(root) is not None:
        if ref is not None:
            commit = resolve(root, ref)
        else:
            commit = head_commit(root)
            paths = [
                config.get("prompts_dir", "prompts"),
                config.get("cases_dir", "cases"),
                config.get("examples_dir", "examples"),
                "promptctl.yaml",
            ]
            paths = [p for p in paths if (root / p).exists()]
            if commit is None or is_dirty(root, paths):
                dirty = True
                dirty_hash = content_hash(root, paths)
    return Record(
        commit=commit,
        dirty=dirty,
        content_hash=dirty_hash,
        created_at=now_iso(),
        command=_redacted_argv(command),
        config=config,
        ref=ref,
    )


def _redacted_argv(argv: list[str]) -> list[str]:
    """The command line, with any value that looks like a secret from the environment masked."""
    secrets_ = {v for k, v in os.environ.items() if len(v) >= 8 and k.endswith(("_KEY", "_TOKEN", "_SECRET"))}
    return ["***" if a in secrets_ else a for a in argv]
