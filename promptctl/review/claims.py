"""A pull request's recordings are claims, not evidence.

Recordings are committed files: a pull request can edit ``cases/__recordings__/`` next to its
prompt change, and a replay would then take those outputs as if a model had produced them. So
``compare`` asks git which recording entries the head changed relative to the base — per case,
model (judge verdicts included) and sample, an entry that is new or whose output or request
fingerprint differs — and treats the rows they answer as claims: called live when there is a key
(the comparison says so), else replayed and marked *unverified*, which the gate reports as
"cannot evaluate" unless the project trusts them (``gate.trust_pr_recordings``)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from promptctl.errors import PromptctlError
from promptctl.execute.recordings.model import RECORDINGS_DIRNAME, RecordingFile
from promptctl.execute.recordings.parse import parse
from promptctl.git.repo import changed_files
from promptctl.git.sources import GitSource, Source, WorktreeSource

#: (case file, case id, model as recorded, sample): what a recording entry answers.
ClaimKey = tuple[str, str, str, int]
_JUDGE = re.compile(r"^(.*) \[judge \d+\]$")


def case_file_of(recording: str) -> str | None:
    """``cases/__recordings__/a/b.yaml`` -> ``cases/a/b.yaml`` (the inverse of
    ``recording_path_for``); None for a path that is not an output recording."""
    parts = PurePosixPath(recording).parts
    if RECORDINGS_DIRNAME not in parts or not recording.endswith((".yaml", ".yml")):
        return None
    i = parts.index(RECORDINGS_DIRNAME)
    return str(PurePosixPath(*parts[:i], *parts[i + 1 :]))


def row_key(key: ClaimKey) -> ClaimKey:
    """The row a claim answers: a judge verdict's entry (``m [judge 0]``) answers the row of ``m``."""
    m = _JUDGE.match(key[2])
    return (key[0], key[1], m.group(1), key[3]) if m else key


@dataclass
class ChangedRecording:
    path: str
    case_file: str
    change: str  # "added" | "modified" | "deleted"
    source: str | None  # the head's `source:` header (as the author wrote it)
    base_source: str | None
    entries: int  # entries that are claims

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "case_file": self.case_file,
            "change": self.change,
            "source": self.source,
            "base_source": self.base_source,
            "entries": self.entries,
        }


@dataclass
class Claims:
    """The recording entries the head changed relative to the base."""

    entries: set[ClaimKey] = field(default_factory=set)
    files: list[ChangedRecording] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    @property
    def rows(self) -> set[ClaimKey]:
        """The rows those entries answer (a changed judge verdict makes its row a claim too)."""
        return {row_key(k) for k in self.entries}

    def to_dict(self) -> dict[str, Any]:
        return {
            "entries": len(self.entries),
            "rows": len(self.rows),
            "files": [f.to_dict() for f in self.files],
            "problems": self.problems,
        }


def _load(source: Source, path: str, case_file: str) -> RecordingFile | None:
    try:
        text = source.read_text(path)
    except (FileNotFoundError, IsADirectoryError):
        return None
    except (OSError, UnicodeDecodeError):
        return None
    try:
        return parse(text, path, case_file)
    except PromptctlError:
        return None


def pr_claims(root: Path, base_sha: str, head_sha: str | None) -> Claims:
    """The recording entries ``head_sha`` (None: the worktree) changed relative to ``base_sha``."""
    out = Claims()
    try:
        changed = changed_files(root, base_sha, head_sha)
    except PromptctlError as exc:
        out.problems.append(f"cannot tell which recordings changed: {exc}")
        return out
    wanted = [(status, path, cf) for status, path in changed if (cf := case_file_of(path)) is not None]
    if not wanted:
        return out
    base = GitSource(root, base_sha)
    head: Source = WorktreeSource(root) if head_sha is None else GitSource(root, head_sha)
    try:
        for status, path, case_file in wanted:
            old = _load(base, path, case_file)
            new = _load(head, path, case_file) if status != "D" else None
            if status != "D" and new is None:
                out.problems.append(f"{path}: cannot read the head's recording (the run reports why)")
                continue
            claimed = 0
            for key, entry in (new.entries if new is not None else {}).items():
                before = old.entries.get(key) if old is not None else None
                if before is None or before.fingerprint != entry.fingerprint or before.output != entry.output:
                    out.entries.add((case_file, *key))
                    claimed += 1
            change = {"A": "added", "D": "deleted"}.get(status, "modified")
            out.files.append(
                ChangedRecording(
                    path,
                    case_file,
                    change,
                    None if new is None else new.source,
                    None if old is None else old.source,
                    claimed,
                )
            )
    finally:
        base.close()
        if isinstance(head, GitSource):
            head.close()
    return out
