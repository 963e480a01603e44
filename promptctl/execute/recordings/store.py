"""The recordings of a project: loaded through a file source (the worktree or a git revision),
looked up per row, and merged and written back by ``--record``."""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import replace
from datetime import date
from pathlib import Path

from promptctl.atomic import write_text_atomic
from promptctl.errors import ExecutionError, InputError, Problem
from promptctl.execute.recordings.emit import render_file
from promptctl.execute.recordings.model import (
    LookupResult,
    RecordingEntry,
    RecordingFile,
    RecordingKey,
    recording_path_for,
)
from promptctl.execute.recordings.parse import parse
from promptctl.execute.types import ModelResponse
from promptctl.git.sources import Source, WorktreeSource
from promptctl.secrets import Masking, current, row
from promptctl.version import __version__


def load(source: Source, case_file: str, *, cases_dir: str = "cases") -> RecordingFile:
    """Load the recording of ``case_file`` (repo-relative) from ``source``; an absent file is an
    empty recording.

    Raises InputError (with line and column) on malformed YAML or a malformed entry: replaying
    from a half-understood recording would report wrong results.
    """
    rel = recording_path_for(case_file, cases_dir)
    try:
        text = source.read_text(rel)
    except FileNotFoundError:
        return RecordingFile(path=rel, case_file=case_file)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Problem(rel, 0, 0, f"cannot read recording: {exc}")]) from exc
    return parse(text, rel, case_file)


class Recordings:
    """The recordings of a project as ``source`` has them (the worktree, or a revision with
    ``--ref``), each case file's loaded on first use and kept."""

    def __init__(self, source: Source, *, cases_dir: str = "cases") -> None:
        self.source = source
        self.cases_dir = cases_dir
        self._files: dict[str, RecordingFile] = {}
        self._lock = threading.Lock()

    def load(self, case_file: str) -> RecordingFile:
        with self._lock:
            rec = self._files.get(case_file)
            if rec is None:
                rec = load(self.source, case_file, cases_dir=self.cases_dir)
                self._files[case_file] = rec
            return rec

    def lookup(
        self, case_file: str, case_id: str, model: str, sample: int, fingerprint: str
    ) -> tuple[LookupResult, ModelResponse | None]:
        return self.load(case_file).lookup(case_id, model, sample, fingerprint)


class RecordingWriter:
    """Collects outputs during a ``--record`` run and writes each touched recording at the end.

    Merges with what is on disk: entries for rows not rerun are kept, rerun ones replaced, and
    an entry whose fingerprint and output did not change is kept as it was (fresh latency or
    token counts alone are not worth a diff). ``write()`` is idempotent, so the runner can call
    it from both its normal end and its interrupt handler.
    """

    def __init__(
        self,
        root: Path,
        *,
        cases_dir: str = "cases",
        version: str = __version__,
        today: date | None = None,
    ) -> None:
        self.root = Path(root)
        self.cases_dir = cases_dir
        self.version = version
        self.today = today
        self._added: dict[str, dict[RecordingKey, RecordingEntry]] = {}
        self._prune: dict[str, set[RecordingKey]] = {}
        self._lock = threading.Lock()

    def add(
        self, case_file: str, case_id: str, model: str, sample: int, fingerprint: str, response: ModelResponse
    ) -> bool:
        """Record one output; returns False (and records nothing) for a failed or skipped call."""
        if response.status != "ok":
            return False
        entry = RecordingEntry.from_response(case_id, model, sample, fingerprint, response)
        entry = _masked(entry, current())
        with self._lock:
            self._added.setdefault(case_file, {})[entry.key] = entry
        return True

    def prune(self, case_file: str, valid_keys: Iterable[RecordingKey]) -> None:
        """On write, drop entries of ``case_file`` not in ``valid_keys``: pass every key the case
        file defines now (all cases x models x samples), not only the rows rerun."""
        with self._lock:
            self._prune[case_file] = set(valid_keys)
            self._added.setdefault(case_file, {})

    def write(self) -> list[str]:
        """Write every touched recording atomically; returns the repo-relative paths whose
        content changed. Raises InputError, after writing the others, if an existing recording
        cannot be parsed (it is committed work: never overwrite what we could not read)."""
        with self._lock:
            written: list[str] = []
            problems: list[Problem] = []
            masking = current()
            for case_file in sorted(self._added):
                try:
                    rec = load(WorktreeSource(self.root), case_file, cases_dir=self.cases_dir)
                except InputError as exc:
                    problems.extend(exc.problems)  # still write the other files
                    continue
                changed = False
                for key, entry in self._added[case_file].items():
                    old = rec.entries.get(key)
                    if (
                        old is not None
                        and old.fingerprint == entry.fingerprint
                        and old.output == entry.output
                    ):
                        continue
                    rec.entries[key] = entry
                    changed = True
                if case_file in self._prune and rec.prune(self._prune[case_file]):
                    changed = True
                if not changed:  # nothing new (or only a prune of a file that does not exist)
                    continue
                models = sorted({e.model for e in rec.entries.values()})
                day = (self.today or date.today()).isoformat()
                rec.source = (
                    f"recorded from {', '.join(models) or 'no models'} by promptctl {self.version} on {day}"
                )
                rec.entries = {k: _masked(e, masking) for k, e in rec.entries.items()}
                _refuse_secrets(rec, masking)
                text = render_file(rec)
                write_text_atomic(self.root / rec.path, text)
                written.append(rec.path)
            if problems:
                raise InputError(
                    problems, "existing recordings could not be read; they were left as they are"
                )
            return written


def _masked(entry: RecordingEntry, masking: Masking) -> RecordingEntry:
    """The entry with every key value, and the personal data ``redact:`` chooses, masked out of
    what the model said (promptctl.secrets)."""
    if not masking.active:
        return entry
    with row():  # one entry, one row: its placeholders (redact:) are consistent
        return replace(
            entry,
            output=None if entry.output is None else masking.text(entry.output),
            answered_by=None if entry.answered_by is None else masking.text(entry.answered_by),
            provider_model=None if entry.provider_model is None else masking.text(entry.provider_model),
            finish_reason=None if entry.finish_reason is None else masking.text(entry.finish_reason),
        )


def _refuse_secrets(rec: RecordingFile, masking: Masking) -> None:
    """Last line of defence: a recording is committed, so it must never contain a key. Outputs
    are masked; a key in what identifies an entry (a case id, a model name), which masking would
    break, stops the write."""
    refuse_secret_names(
        rec.path, [rec.case_file, *(s for e in rec.entries.values() for s in (e.case, e.model))], masking
    )


def refuse_secret_names(where: str, names: Iterable[str], masking: Masking) -> None:
    """ExecutionError when one of ``names`` (what identifies the entries of the committed file
    ``where``: case ids, model names) holds a key value: masking it would break the file."""
    if any(masking.contains_secret(s) for s in names):
        raise ExecutionError(
            f"refusing to write {where}: it contains the value of a key variable",
            hint="make sure case ids, model names and prompts never include credentials",
        )
