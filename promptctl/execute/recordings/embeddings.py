"""Recorded embeddings (the ``similar`` validator's model calls), committed next to the output
recordings so that an offline replay (``promptctl test --offline``, CI without a key) grades
``similar`` exactly as the recorded run did.

One file per case file, beside its output recording: ``cases/__recordings__/<path>.embeddings.jsonl``.
JSON lines, sorted by fingerprint so a re-record diffs line by line: a header line, then one
line per embedding with its fingerprint (:func:`promptctl.execute.embeddings.embedding_fingerprint`),
the model, the start of the embedded text (for the reviewer), the input tokens and the vector
(``f32:`` + base64 of little-endian float32). A ``--record`` run merges what it used into the
file; a full ``--record`` of a case file keeps only the embeddings that run used.
"""

from __future__ import annotations

import json
import threading
from datetime import date
from pathlib import Path, PurePosixPath
from typing import Any

from promptctl.atomic import write_text_atomic
from promptctl.errors import InputError, Problem
from promptctl.execute.embeddings import decode_vector
from promptctl.execute.recordings.model import recording_path_for
from promptctl.execute.recordings.store import refuse_secret_names
from promptctl.execute.types import ModelResponse
from promptctl.git.sources import Source, WorktreeSource
from promptctl.secrets import current
from promptctl.version import __version__

FORMAT = "promptctl embeddings 1"
PREVIEW = 80  # characters of the embedded text kept for the reviewer


def embeddings_path_for(case_file: str, cases_dir: str = "cases") -> str:
    """``cases/support/reply.yaml`` -> ``cases/__recordings__/support/reply.embeddings.jsonl``."""
    rec = PurePosixPath(recording_path_for(case_file, cases_dir))
    return str(rec.with_name(rec.stem + ".embeddings.jsonl"))


def _parse(text: str, where: str) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except ValueError as e:
            problems.append(Problem(where, n, 1, f"not a JSON line: {e}"))
            continue
        if n == 1:
            if not isinstance(data, dict) or data.get("format") != FORMAT:
                problems.append(Problem(where, 1, 1, f'the first line must be {{"format": "{FORMAT}", ...}}'))
            continue
        ok = (
            isinstance(data, dict)
            and isinstance(data.get("fingerprint"), str)
            and isinstance(data.get("model"), str)
            and decode_vector(data.get("vector")) is not None
        )
        if not ok:
            problems.append(Problem(where, n, 1, "an entry needs fingerprint, model and an f32: vector"))
            continue
        entries[data["fingerprint"]] = data
    if problems:
        raise InputError(problems, f"{where} cannot be read; re-record it with `promptctl test --record`")
    return entries


class EmbeddingRecordings:
    """The recorded embeddings of a project (read through ``source``), and, with ``root``, the
    writer of a ``--record`` run."""

    def __init__(self, source: Source, *, cases_dir: str = "cases", root: Path | None = None) -> None:
        self.source = source
        self.cases_dir = cases_dir
        self.root = root
        self._files: dict[str, dict[str, dict[str, Any]]] = {}
        self._added: dict[str, dict[str, dict[str, Any]]] = {}
        self._used: dict[str, set[str]] = {}
        self._prune: set[str] = set()
        self._lock = threading.Lock()

    def _load(self, case_file: str) -> dict[str, dict[str, Any]]:
        entries = self._files.get(case_file)
        if entries is None:
            where = embeddings_path_for(case_file, self.cases_dir)
            try:
                entries = _parse(self.source.read_text(where), where)
            except FileNotFoundError:
                entries = {}
            except (OSError, UnicodeDecodeError) as e:
                raise InputError([Problem(where, 0, 0, f"cannot read: {e}")]) from e
            self._files[case_file] = entries
        return entries

    def preload(self, case_file: str) -> None:
        """Read ``case_file``'s embeddings now; InputError (located) when the file is malformed."""
        with self._lock:
            self._load(case_file)

    def lookup(self, case_file: str, fingerprint: str) -> ModelResponse | None:
        with self._lock:
            entry = self._load(case_file).get(fingerprint)
            if entry is None:
                return None
            self._used.setdefault(case_file, set()).add(fingerprint)
        return ModelResponse(
            status="ok",
            text=entry["vector"],
            input_tokens=entry.get("input_tokens"),
            output_tokens=0,
            answered_by=entry["model"],
            source="recording",
        )

    def add(self, case_file: str, fingerprint: str, model: str, text: str, response: ModelResponse) -> None:
        """Record one embedding (an ok response holding a vector) for a ``--record`` run."""
        if response.status != "ok" or decode_vector(response.text) is None:
            return
        entry = {
            "fingerprint": fingerprint,
            "model": model,
            "text": text[:PREVIEW],
            "input_tokens": response.input_tokens,
            "vector": response.text,
        }
        with self._lock:
            self._added.setdefault(case_file, {})[fingerprint] = entry
            self._used.setdefault(case_file, set()).add(fingerprint)

    def prune(self, case_file: str) -> None:
        """On write, keep only the embeddings of ``case_file`` this run used (a full re-record)."""
        with self._lock:
            self._prune.add(case_file)

    def write(self, *, prune: bool = True, today: date | None = None) -> list[str]:
        """Write each touched file atomically; the repo-relative paths whose content changed.
        ``prune`` False: keep every old entry (an interrupted run)."""
        if self.root is None:
            return []
        pruned = self._prune if prune else set()
        written = []
        with self._lock:
            disk = WorktreeSource(self.root)
            for case_file in sorted(set(self._added) | pruned):
                where = embeddings_path_for(case_file, self.cases_dir)
                try:
                    old = _parse(disk.read_text(where), where)
                except FileNotFoundError:
                    old = {}
                entries = {**old, **self._added.get(case_file, {})}
                if case_file in pruned:
                    used = self._used.get(case_file, set())
                    entries = {fp: e for fp, e in entries.items() if fp in used}
                if entries == old:
                    continue
                if not entries:  # every similar check of this case file is gone
                    (self.root / where).unlink()
                    written.append(where)
                    continue
                masking = current()  # the text is the reviewer's preview: no key value in it
                entries = {
                    fp: {**e, "text": masking.text(str(e.get("text", "")))} for fp, e in entries.items()
                }
                refuse_secret_names(where, [e["model"] for e in entries.values()], masking)
                day = (today or date.today()).isoformat()
                header = {"format": FORMAT, "source": f"recorded by promptctl {__version__} on {day}"}
                lines = [json.dumps(header, ensure_ascii=False)]
                lines += [
                    json.dumps(entries[fp], ensure_ascii=False, sort_keys=True) for fp in sorted(entries)
                ]
                text = "\n".join(lines) + "\n"
                write_text_atomic(self.root / where, text)
                written.append(where)
        return written
