"""Committed, reviewable recordings of model outputs, replayed by ``promptctl test`` offline.

Why YAML files next to the cases (``cases/__recordings__/<same path>``) rather than the cache:
recordings are part of the change under review. A prompt edit that changes outputs shows up in
the pull request as a diff of *outputs*, so the format is tuned for that: one file per case
file, entries in a stable order, every output as a literal block scalar (``|``) with exactly the
text the model produced, and re-recording an unchanged output leaves its entry untouched.

Each entry is keyed by (case id, model name as the user wrote it, sample index) and carries the
request fingerprint: replay is a *hit* only when the fingerprint still matches; a key whose
fingerprint changed (the prompt, params or rendered messages moved on) is *stale*.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Literal

from promptctl.errors import Problem
from promptctl.execute.types import ModelResponse

FORMAT_VERSION = 1
RECORDINGS_DIRNAME = "__recordings__"
RecordingKey = tuple[str, str, int]  # (case id, model name as written, sample index)
LookupResult = Literal["hit", "stale", "missing"]

REQUIRED_FIELDS = ("case", "model", "sample", "fingerprint", "output")
OPTIONAL_STR = ("answered_by", "provider_model", "finish_reason")
OPTIONAL_INT = ("input_tokens", "output_tokens")
OPTIONAL_NUM = ("cost", "latency_ms")
KNOWN_FIELDS = frozenset(REQUIRED_FIELDS + OPTIONAL_STR + OPTIONAL_INT + OPTIONAL_NUM)


def recording_path_for(case_file_relpath: str, cases_dir: str = "cases") -> str:
    """``cases/support/triage.yaml`` -> ``cases/__recordings__/support/triage.yaml``.

    Paths are repo-relative posix. A case file outside ``cases_dir`` gets a ``__recordings__``
    directory next to it.
    """
    case = PurePosixPath(case_file_relpath.replace("\\", "/"))
    base = PurePosixPath(cases_dir.replace("\\", "/"))
    try:
        rel = case.relative_to(base)
    except ValueError:
        return str(case.parent / RECORDINGS_DIRNAME / case.name)
    return str(base / RECORDINGS_DIRNAME / rel)


@dataclass(frozen=True)
class RecordingEntry:
    """One recorded model output. Only successful responses are ever recorded."""

    case: str
    model: str
    sample: int
    fingerprint: str
    output: str | None
    answered_by: str | None = None  # only when a fallback answered instead of ``model``
    provider_model: str | None = None
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cost: float | None = None
    latency_ms: float | None = None

    @property
    def key(self) -> RecordingKey:
        return (self.case, self.model, self.sample)

    def to_response(self) -> ModelResponse:
        return ModelResponse(
            status="ok",
            text=self.output,
            latency_ms=self.latency_ms,
            input_tokens=self.input_tokens,
            output_tokens=self.output_tokens,
            cost=self.cost,
            finish_reason=self.finish_reason,
            answered_by=self.answered_by or self.model,
            provider_model=self.provider_model,
            source="recording",
        )

    @classmethod
    def from_response(
        cls, case: str, model: str, sample: int, fingerprint: str, resp: ModelResponse
    ) -> RecordingEntry:
        return cls(
            case=case,
            model=model,
            sample=sample,
            fingerprint=fingerprint,
            output=resp.text,
            answered_by=resp.answered_by if resp.answered_by not in (None, model) else None,
            provider_model=resp.provider_model,
            finish_reason=resp.finish_reason,
            input_tokens=resp.input_tokens,
            output_tokens=resp.output_tokens,
            cost=resp.cost,
            # Whole milliseconds: sub-ms noise would make every re-record a diff.
            latency_ms=float(round(resp.latency_ms)) if resp.latency_ms is not None else None,
        )


@dataclass
class RecordingFile:
    """The recordings of one case file. ``exists`` is False when there is no file yet (every
    lookup is then "missing"). ``problems`` holds warnings found while loading."""

    path: str  # repo-relative posix path of the recording
    case_file: str
    entries: dict[RecordingKey, RecordingEntry] = field(default_factory=dict)
    source: str | None = None
    exists: bool = False
    problems: list[Problem] = field(default_factory=list)

    def lookup(
        self, case_id: str, model: str, sample: int, fingerprint: str
    ) -> tuple[LookupResult, ModelResponse | None]:
        """``("hit", response)`` when recorded for this exact request, ``("stale", None)`` when
        recorded for an older version of it, ``("missing", None)`` otherwise."""
        entry = self.entries.get((case_id, model, sample))
        if entry is None:
            return "missing", None
        if entry.fingerprint != fingerprint:
            return "stale", None
        return "hit", entry.to_response()

    def prune(self, valid_keys: Iterable[RecordingKey]) -> int:
        """Drop entries whose key is not in ``valid_keys``; returns how many were dropped."""
        keep = set(valid_keys)
        gone = [k for k in self.entries if k not in keep]
        for k in gone:
            del self.entries[k]
        return len(gone)


# A YAML plain scalar of the subset promptctl writes and reads back without a YAML parser.
PLAIN_SCALAR = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./@+()=,:<>'-]*( [A-Za-z0-9_./@+()=,:<>'-]+)*$")
