"""Run records: every ``promptctl test`` result, keyed by git commit, written atomically.

Layout: ``.promptctl/runs/<sha>/<UTC time>-<nonce>.json`` for a clean tree and
``.promptctl/runs/<sha>-dirty-<hash12>/...`` when prompts/, cases/ or the config had uncommitted
changes (the hash is of their content, so two runs of the same dirty state share a folder).
A record is plain JSON: readable by jq, diffable, cheap to load, and small enough for a git note.

Only records git does not track are read back: a file under ``.promptctl/runs`` that is in the
index (``git add -f``: a pull request can commit a "record" of the base that makes its own
regressions look old) or reached through a symbolic link is ignored, with a warning
(:func:`scan_local`). Every record read is checked against the record schema (``records.schema``).
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from promptctl.atomic import write_text_atomic
from promptctl.errors import UsageError
from promptctl.records.schema import SCHEMA_VERSION, describe, record_problems
from promptctl.records.summary import summarize
from promptctl.secrets import current, mask_data, row
from promptctl.version import __version__, installed_version

RUNS_DIR = ".promptctl/runs"


class InvalidRecord(ValueError):
    """A stored record that does not match the record schema (the message says where)."""


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
    # Records written before ``selection.partial`` existed may say why they are incomplete in a
    # field of their own (``incomplete_reason``): read, never written.
    _legacy_reason: str | None = field(default=None, init=False, repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "path" and not k.startswith("_")}
        data["summary"] = self.summary
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str | None = None) -> Record:
        known = {k: data[k] for k in cls.__dataclass_fields__ if k in data and k != "path" and k[0] != "_"}
        rec = cls(**known)
        rec.path = path
        legacy = data.get("incomplete_reason")
        rec._legacy_reason = legacy if isinstance(legacy, str) and legacy else None
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
    def partial(self) -> list[str]:
        """Why this record is not the whole suite ([] when it is). Stored by the run
        (``selection.partial``); derived from the selection for records written before that."""
        sel = self.selection or {}
        stored = sel.get("partial")
        if isinstance(stored, list):
            return [str(x) for x in stored]
        out = [f"{k}: {sel[k]}" for k in ("paths", "keywords", "tags", "models") if sel.get(k)]
        shard = sel.get("shard")
        if isinstance(shard, list) and len(shard) == 2:
            out.append(f"--shard {shard[0]}/{shard[1]}")
        if sel.get("last_failed"):
            out.append("--last-failed")
        skipped = sum(r.get("status") == "skipped" for r in self.rows)
        if self.interrupted:
            out.append(f"interrupted: {len(self.rows)} rows finished")
        elif skipped:
            out.append(f"--max-cost stopped it: {skipped} of {len(self.rows)} rows skipped")
        elif not self.complete:
            out.append(self._legacy_reason or "incomplete")
        return out

    @property
    def whole(self) -> bool:
        """The result of the whole suite: every case on its own models, every row finished."""
        return self.complete and not self.partial

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
    data = masked_dict(record)  # no key value a provider echoed, no personal data (redact:)
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), check_circular=False)
    write_text_atomic(path, text)
    record.path = str(path)
    return path


def masked_dict(record: Record) -> dict[str, Any]:
    """``record.to_dict()`` as it may be written or shown (promptctl.secrets: key values, and the
    personal data ``redact:`` chooses). Each row is one masking row -- its placeholders are
    consistent within it and numbered afresh in the next -- and the rest of the record another."""
    data = record.to_dict()
    rows = data.get("rows") or []
    head = mask_data({k: v for k, v in data.items() if k != "rows"})
    return {k: ([mask_data(r) for r in rows] if k == "rows" else head[k]) for k in data}


def masked_record(
    record: Record, messages: dict[str, Any] | None = None
) -> tuple[Record, dict[str, Any] | None]:
    """A copy of ``record`` masked as :func:`masked_dict` says (the record itself when no masker
    is registered), for reports: they show what the stored record holds. ``messages`` (rendered
    requests by fingerprint, for the HTML report) are masked in the row of the first row with
    their fingerprint, so a placeholder means the same value in the request and its answer."""
    masking = current()
    if not masking.maskers:
        # key values never reach a record in memory (the model layer masks them)
        return record, None if messages is None else masking.data(messages)
    data = record.to_dict()
    data.update(masking.data({k: v for k, v in data.items() if k != "rows"}))
    rows: list[dict[str, Any]] = []
    shown: dict[str, Any] = {}
    for raw in record.rows:
        with row():
            rows.append(masking.data(raw))
            fp = raw.get("fingerprint")
            if messages is not None and fp in messages and fp not in shown:
                shown[fp] = masking.data(messages[fp])
    data["rows"] = rows
    if messages is not None:
        shown.update({fp: masking.data(m) for fp, m in messages.items() if fp not in shown})
    return Record.from_dict(data, path=record.path), None if messages is None else shown


class DamagedRecord(UsageError, InvalidRecord):
    """A run record file that cannot be read back: cut short by a crash or a full disk, edited by
    hand, or not matching the record schema (``records.schema``: the one rule of what a sound
    record is). An InvalidRecord (a ValueError) too, so readers that skip unreadable records keep
    skipping it."""

    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"{path}: damaged run record ({why})", hint=f"delete it: rm '{path}'")
        self.path = Path(path)
        self.why = why


def record_from_data(data: object, path: str | None) -> Record:
    """A record from its parsed JSON, checked against the record schema (InvalidRecord if not)."""
    problems = record_problems(data)
    if problems:
        raise InvalidRecord(describe(problems))
    assert isinstance(data, dict)
    return Record.from_dict(data, path)


def read_records(paths: Iterable[Path], skipped: list[DamagedRecord] | None = None) -> Iterator[Record]:
    """The readable records at ``paths``, in order. A damaged one is passed over (and added to
    ``skipped``, to be reported); so is one that cannot be read or that a newer promptctl wrote."""
    for path in paths:
        try:
            yield read_record(path)
        except DamagedRecord as exc:
            if skipped is not None:
                skipped.append(exc)
        except (OSError, UsageError):
            continue


def read_record(path: Path) -> Record:
    """The record stored at ``path``; UsageError when a newer promptctl wrote it, DamagedRecord
    when it is not a sound record (not JSON, or not matching the record schema)."""
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except UnicodeDecodeError:
        raise DamagedRecord(path, "not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise DamagedRecord(
            path, f"not valid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        ) from None
    version = data.get("schema_version", 0) if isinstance(data, dict) else 0
    if isinstance(version, int) and not isinstance(version, bool) and version > SCHEMA_VERSION:
        raise UsageError(f"{path} was written by a newer promptctl (schema {version}); upgrade")
    try:
        return record_from_data(data, str(path))
    except InvalidRecord as e:
        raise DamagedRecord(path, str(e)) from None


@dataclass
class LocalRecords:
    """The record files of ``.promptctl/runs`` that can be trusted, oldest first, and why others
    were left out (one warning each)."""

    paths: list[Path]
    warnings: list[str]


def _tracked(root: Path, rel: str) -> set[str] | None:
    """Paths under ``rel`` that git tracks (in the index); None when git cannot say."""
    from promptctl.errors import GitError
    from promptctl.git.plumbing import find_repo_root, git_cli

    if find_repo_root(root) is None:
        return set()  # not a repository: nothing can be committed
    try:
        code, out = git_cli(root, "--literal-pathspecs", "ls-files", "-z", "--", rel, ok=(0, 128))
    except (GitError, OSError):
        return None
    if code != 0:
        return None
    return {p for p in out.split("\0") if p}


def scan_local(root: Path) -> LocalRecords:
    """Every trustworthy local record file, oldest first (by the timestamp in its name).

    Records are results of runs on this machine, written where git does not look
    (``.promptctl/`` is ignored). A record file tracked by git came with the checkout, from
    whoever made the commit, and one reached through a symbolic link could be any file: both are
    left out with a warning."""
    root = Path(root)
    base = root / RUNS_DIR
    for rel in (".promptctl", RUNS_DIR):
        if (root / rel).is_symlink():
            return LocalRecords(
                [],
                [
                    f"{rel} is a symbolic link: no run record is read through it (records are read "
                    "only from local files git does not track, and from git notes)"
                ],
            )
    if not base.is_dir():
        return LocalRecords([], [])
    files = [p for p in base.glob("*/*.json") if not p.name.startswith(".")]
    if not files:
        return LocalRecords([], [])
    tracked = _tracked(root, RUNS_DIR)
    ok: list[Path] = []
    committed: list[str] = []
    linked: list[str] = []
    for p in files:
        rel = p.relative_to(root).as_posix()
        if p.is_symlink() or p.parent.is_symlink():
            linked.append(rel)
        elif tracked is None or rel in tracked or p.parent.relative_to(root).as_posix() in tracked:
            committed.append(rel)
        else:
            ok.append(p)
    warnings = []
    if committed:
        n = len(committed)
        why = "git cannot tell whether they are tracked" if tracked is None else "tracked by git"
        warnings.append(
            f"ignoring {n} run record{'s' if n != 1 else ''} {why} (records are read only from local "
            f"files git does not track, and from git notes): {', '.join(sorted(committed))}"
        )
    if linked:
        warnings.append(f"ignoring run records reached through a symbolic link: {', '.join(sorted(linked))}")
    return LocalRecords(sorted(ok, key=lambda p: (p.name, str(p.parent))), warnings)


def list_records(root: Path) -> list[Path]:
    """Every trusted record file, oldest first (by the timestamp in its name)."""
    return scan_local(root).paths


def records_for_commit(root: Path, sha: str, *, include_dirty: bool = False) -> list[Path]:
    """The trusted record files of ``sha`` (its clean folder; with ``include_dirty`` its dirty
    worktree states too), oldest first."""
    prefix = f"{sha}-dirty-"
    return [
        p
        for p in list_records(root)
        if p.parent.name == sha or (include_dirty and p.parent.name.startswith(prefix))
    ]


def latest_record(
    root: Path,
    sha: str | None = None,
    *,
    include_dirty: bool = True,
    skipped: list[DamagedRecord] | None = None,
) -> Record | None:
    """The newest readable record (of ``sha``'s commit, else of any). Damaged records are passed
    over (and added to ``skipped`` to be reported); when every one is damaged, the newest one's
    DamagedRecord is raised."""
    paths = records_for_commit(root, sha, include_dirty=include_dirty) if sha else list_records(root)
    damaged: list[DamagedRecord] = []
    for path in reversed(paths):
        try:
            rec = read_record(path)
        except DamagedRecord as exc:
            damaged.append(exc)
            continue
        if skipped is not None:
            skipped.extend(damaged)
        return rec
    if damaged:
        raise damaged[0]
    return None


def suite_state_paths(root: Path, config: dict[str, Any]) -> list[str]:
    """The folders and file of the suite whose uncommitted changes make a run dirty (those that
    exist): prompts, cases, example sets and the config. ``config`` is the resolved config as
    stored in records (``Config.public_dict``)."""
    names = [
        config.get("prompts_dir", "prompts"),
        config.get("cases_dir", "cases"),
        config.get("examples_dir", "examples"),
        "promptctl.yaml",
    ]
    return [str(p) for p in names if p and (Path(root) / p).exists()]


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
            paths = suite_state_paths(root, config)
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
    """The command line, with every key value masked (promptctl.secrets)."""
    masking = current()
    return [masking.text(a) for a in argv]
