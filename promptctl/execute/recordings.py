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

import contextlib
import math
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from pathlib import Path, PurePosixPath
from typing import Any, Literal

import yaml

from promptctl import __version__
from promptctl.atomic import write_text_atomic
from promptctl.errors import ExecutionError, InputError, Problem
from promptctl.execute.types import ModelResponse

__all__ = [
    "FORMAT_VERSION",
    "RECORDINGS_DIRNAME",
    "LookupResult",
    "RecordingEntry",
    "RecordingFile",
    "RecordingKey",
    "RecordingWriter",
    "Recordings",
    "SourceReader",
    "load",
    "parse",
    "recording_path_for",
]

FORMAT_VERSION = 1
RECORDINGS_DIRNAME = "__recordings__"

RecordingKey = tuple[str, str, int]  # (case id, model name as written, sample index)
LookupResult = Literal["hit", "stale", "missing"]
# Reads a repo-relative posix path and returns its text, or None when it does not exist. Lets
# callers replay recordings as they are at a git ref instead of in the working tree.
SourceReader = Callable[[str], "str | None"]

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

_REQUIRED = ("case", "model", "sample", "fingerprint", "output")
_OPTIONAL_STR = ("answered_by", "provider_model", "finish_reason")
_OPTIONAL_INT = ("input_tokens", "output_tokens")
_OPTIONAL_NUM = ("cost", "latency_ms")
_KNOWN = frozenset(_REQUIRED + _OPTIONAL_STR + _OPTIONAL_INT + _OPTIONAL_NUM)


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

    def render(self) -> str:
        """The file's text: header comment, then entries sorted by (case, model, sample)."""
        lines = [
            f"# Recorded model outputs for {_comment_safe(self.case_file)} — replayed by `promptctl test`; "
            "refresh with `promptctl test --record`.",
            f"version: {FORMAT_VERSION}",
            f"case_file: {_scalar(self.case_file)}",
        ]
        if self.source is not None:
            lines.append(f"source: {_scalar(self.source)}")
        if not self.entries:
            lines.append("entries: []")
            return "\n".join(lines) + "\n"
        lines.append("entries:")
        for key in sorted(self.entries):
            lines.extend(_render_entry(self.entries[key]))
        return "\n".join(lines) + "\n"


# -- loading ---------------------------------------------------------------------------------


def load(
    root: Path,
    case_file: str,
    source_reader: SourceReader | None = None,
    *,
    cases_dir: str = "cases",
) -> RecordingFile:
    """Load the recording of ``case_file`` (repo-relative); an absent file is an empty recording.

    Raises InputError (with line and column) on malformed YAML or a malformed entry: replaying
    from a half-understood recording would report wrong results.
    """
    rel = recording_path_for(case_file, cases_dir)
    if source_reader is not None:
        text = source_reader(rel)
    else:
        try:
            text = (Path(root) / rel).read_text(encoding="utf-8")
        except FileNotFoundError:
            text = None
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError([Problem(rel, 0, 0, f"cannot read recording: {exc}")]) from exc
    if text is None:
        return RecordingFile(path=rel, case_file=case_file)
    return parse(text, rel, case_file)


def parse(text: str, rel: str, case_file: str) -> RecordingFile:
    """Parse recording text (``rel`` is only used in messages)."""
    try:
        data = _fast_load(text)
        if data is _NOT_FAST:
            data = yaml.load(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        message = f"invalid YAML: {exc.problem or exc}"
        if re.search(r"^(<<<<<<<|>>>>>>>|=======)( |$)", text, re.MULTILINE):
            message += " (the file has unresolved merge conflict markers)"
        line, col = (mark.line + 1, mark.column + 1) if mark is not None else (0, 0)
        raise InputError([Problem(rel, line, col, message)]) from exc
    except yaml.YAMLError as exc:
        raise InputError([Problem(rel, 0, 0, f"invalid YAML: {exc}")]) from exc

    rec = RecordingFile(path=rel, case_file=case_file, exists=True)
    errors: list[tuple[tuple[Any, ...], str]] = []
    warnings: list[tuple[tuple[Any, ...], str]] = []
    if data is None:
        return rec
    if not isinstance(data, dict):
        raise InputError([Problem(rel, 1, 1, "a recording must be a mapping with `version` and `entries`")])

    version = data.get("version")
    if version != FORMAT_VERSION:
        errors.append(
            (("version",), f"unsupported recording version {version!r} (this promptctl reads version 1)")
        )
    src = data.get("source")
    rec.source = None if src is None else str(src)
    recorded_for = data.get("case_file")
    if recorded_for is not None and str(recorded_for) != case_file:
        warnings.append((("case_file",), f"recording says it is for {recorded_for}, expected {case_file}"))

    raw_entries = data.get("entries")
    if raw_entries is None:
        raw_entries = []
    if not isinstance(raw_entries, list):
        errors.append((("entries",), "`entries` must be a list"))
        raw_entries = []
    for i, raw in enumerate(raw_entries):
        entry = _parse_entry(raw, ("entries", i), errors, warnings)
        if entry is None:
            continue
        if entry.key in rec.entries:
            errors.append(
                (
                    ("entries", i),
                    f"duplicate entry for case {entry.case!r}, model {entry.model!r}, sample {entry.sample}",
                )
            )
            continue
        rec.entries[entry.key] = entry

    if errors or warnings:
        locate = _Locator(text)
        rec.problems = [Problem(rel, *locate(p), msg, severity="warning") for p, msg in warnings]
        if errors:
            raise InputError([Problem(rel, *locate(p), msg) for p, msg in errors] + rec.problems)
    return rec


def _quick_entry(raw: dict[str, Any]) -> RecordingEntry | None:
    """The common case of a well-formed entry, checked without building any messages."""
    get = raw.get
    case, model, sample, fp, output = (
        get("case"),
        get("model"),
        get("sample"),
        get("fingerprint"),
        get("output"),
    )
    if not (
        type(case) is str
        and case
        and type(model) is str
        and model
        and type(sample) is int
        and sample >= 0
        and type(fp) is str
        and fp
        and (output is None or type(output) is str)
        and "output" in raw
        and raw.keys() <= _KNOWN
    ):
        return None
    for name in _OPTIONAL_STR:
        v = get(name)
        if v is not None and type(v) is not str:
            return None
    for name in _OPTIONAL_INT:
        v = get(name)
        if v is not None and type(v) is not int:
            return None
    cost, latency = get("cost"), get("latency_ms")
    if (cost is not None and type(cost) not in (int, float)) or (
        latency is not None and type(latency) not in (int, float)
    ):
        return None
    return RecordingEntry(
        case,
        model,
        sample,
        fp,
        output,
        get("answered_by"),
        get("provider_model"),
        get("finish_reason"),
        get("input_tokens"),
        get("output_tokens"),
        None if cost is None else float(cost),
        None if latency is None else float(latency),
    )


def _parse_entry(
    raw: Any,
    where: tuple[Any, ...],
    errors: list[tuple[tuple[Any, ...], str]],
    warnings: list[tuple[tuple[Any, ...], str]],
) -> RecordingEntry | None:
    if not isinstance(raw, dict):
        errors.append((where, "an entry must be a mapping with case, model, sample, fingerprint, output"))
        return None
    quick = _quick_entry(raw)
    if quick is not None:
        return quick
    ok = True
    for name in _REQUIRED:
        if name not in raw:
            errors.append((where, f"entry is missing `{name}`"))
            ok = False
    for name in raw:
        if name not in _KNOWN:
            warnings.append(((*where, name), f"unknown entry field `{name}` (ignored)"))

    def check(name: str, valid: bool, expected: str) -> None:
        nonlocal ok
        if name in raw and not valid:
            errors.append(((*where, name), f"`{name}` must be {expected}, got {raw[name]!r}"))
            ok = False

    for name in ("case", "model", "fingerprint"):
        check(name, isinstance(raw.get(name), str) and bool(raw.get(name)), "a non-empty string (quote it)")
    sample = raw.get("sample")
    check("sample", type(sample) is int and sample >= 0, "a non-negative integer")
    check("output", raw.get("output") is None or isinstance(raw.get("output"), str), "a string")
    for name in _OPTIONAL_STR:
        check(name, raw.get(name) is None or isinstance(raw.get(name), str), "a string")
    for name in _OPTIONAL_INT:
        check(name, raw.get(name) is None or type(raw.get(name)) is int, "an integer")
    for name in _OPTIONAL_NUM:
        value = raw.get(name)
        check(name, value is None or (type(value) in (int, float)), "a number")
    if not ok:
        return None
    num = {n: (None if raw.get(n) is None else float(raw[n])) for n in _OPTIONAL_NUM}
    return RecordingEntry(
        case=raw["case"],
        model=raw["model"],
        sample=raw["sample"],
        fingerprint=raw["fingerprint"],
        output=raw["output"],
        answered_by=raw.get("answered_by"),
        provider_model=raw.get("provider_model"),
        finish_reason=raw.get("finish_reason"),
        input_tokens=raw.get("input_tokens"),
        output_tokens=raw.get("output_tokens"),
        cost=num["cost"],
        latency_ms=num["latency_ms"],
    )


# -- fast path ---------------------------------------------------------------------------------
# Even the C YAML loader builds every node through Python code (~0.2 s for 1,000 entries on a
# slow machine), and replay loads every touched recording. Files promptctl wrote itself use a
# small, fixed subset of YAML, parsed here line by line (~15 ms for 1,000 entries): a plain
# scalar is resolved with PyYAML's own implicit resolvers, never by starting a YAML parser. Anything outside
# that subset (hand edits with comments after values, flow collections, anchors, multi-line
# quoted strings, ...) returns _NOT_FAST and goes through the real loader, so the fast path
# only ever accepts text whose meaning it knows to be identical to what YAML would give.

_NOT_FAST: Any = object()
_KEY_LINE = re.compile(r"^( {0}|  - |    )([A-Za-z_][A-Za-z0-9_]*):(?: (.*))?$")
_BLOCK_HEADER = re.compile(r"^\|([1-9])?([-+])?$")
_INT_RE = re.compile(r"^(?:0|[1-9][0-9]*)$")
_FLOAT_RE = re.compile(r"^[-+]?[0-9]+\.[0-9]*(?:[eE][-+][0-9]+)?$")
_NOT_STR_WORDS = frozenset({"yes", "no", "true", "false", "on", "off", "null"})
_Resolvers = dict[str | None, list[tuple[str, re.Pattern[str]]]]
_IMPLICIT: _Resolvers = yaml.resolver.Resolver.yaml_implicit_resolvers


def _fast_scalar(value: str) -> Any:
    if _INT_RE.match(value):
        return int(value)
    if _FLOAT_RE.match(value):
        return float(value)
    if (
        value[:1].isascii()
        and value[:1].isalpha()
        and _PLAIN_RE.match(value)
        and not value.endswith(":")
        and ": " not in value
        and value.lower() not in _NOT_STR_WORDS
    ):
        return value
    if value == "[]":
        return []
    if _PLAIN_RE.match(value) and not value.endswith(":") and ": " not in value:
        # A plain scalar is a string unless one of YAML's implicit resolvers (int, float, bool,
        # null, timestamp, ...) claims it: the very test PyYAML makes, without building a parser.
        resolvers = [*_IMPLICIT.get(value[0], ()), *_IMPLICIT.get(None, ())]
        if not any(regexp.match(value) for _tag, regexp in resolvers):
            return value
        try:
            return yaml.load(value, Loader=_Loader)
        except yaml.YAMLError:
            return _NOT_FAST
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        # A one-line quoted or plain scalar means the same on its own as inside the mapping.
        try:
            return yaml.load(value, Loader=_Loader)
        except yaml.YAMLError:
            return _NOT_FAST
    return _NOT_FAST


def _fast_load(text: str) -> Any:
    if "\r" in text or "\t" in text[:1]:
        return _NOT_FAST
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    top: dict[str, Any] = {}
    entries: list[dict[str, Any]] | None = None
    current: dict[str, Any] | None = None
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        i += 1
        if not line or line.startswith("#"):
            continue
        m = _KEY_LINE.match(line)
        if m is None:
            return _NOT_FAST
        lead, key, value = m.groups()
        if key.lower() in _NOT_STR_WORDS:
            return _NOT_FAST  # YAML 1.1 reads keys like `on` or `null` as booleans / null
        if lead == "":
            current = None
            if key == "entries" and value is None:
                entries = top["entries"] = []
                continue
            entries = None
            if value is None:
                return _NOT_FAST
            parsed = _fast_scalar(value)
            if parsed is _NOT_FAST:
                return _NOT_FAST
            top[key] = parsed
            continue
        if entries is None:
            return _NOT_FAST
        if lead == "  - ":
            current = {}
            entries.append(current)
        elif current is None:
            return _NOT_FAST
        if value is None:
            return _NOT_FAST
        header = _BLOCK_HEADER.match(value)
        if header is None:
            parsed = _fast_scalar(value)
            if parsed is _NOT_FAST:
                return _NOT_FAST
            current[key] = parsed
            continue
        # A literal block scalar owned by a key at column 4: content indented by 6 unless an
        # explicit indicator says otherwise.
        indent = 4 + int(header.group(1)) if header.group(1) else 6
        chomp = header.group(2) or ""
        body: list[str] = []
        pad = " " * indent
        while i < n:
            raw = lines[i]
            if raw.startswith(pad):
                body.append(raw[indent:])
            elif raw == "":
                body.append("")
            elif raw.strip(" ") == "" or (not header.group(1) and not body and raw.startswith(" ")):
                return _NOT_FAST  # whitespace-only lines or unusual indentation: let YAML decide
            else:
                break
            i += 1
        if not header.group(1) and (not body or body[0] == "" or body[0][0] in " \t"):
            return _NOT_FAST  # indentation would be auto-detected from another line
        trailing = 0
        while body and body[-1] == "":
            body.pop()
            trailing += 1
        if not body:
            return _NOT_FAST
        content = "\n".join(body)
        if chomp == "":
            content += "\n"
        elif chomp == "+":
            content += "\n" * (trailing + 1)
        current[key] = content
    return top or None


class _Locator:
    """Finds line/column of a path like ("entries", 3, "sample") for error messages.

    Only used when something is wrong, so the fast path (constructing plain objects with the C
    loader, which keeps no positions) stays fast.
    """

    def __init__(self, text: str) -> None:
        try:
            self.root: yaml.Node | None = yaml.compose(text, Loader=_Loader)
        except yaml.YAMLError:
            self.root = None

    def __call__(self, path: tuple[Any, ...]) -> tuple[int, int]:
        node = self.root
        if node is None:
            return (0, 0)
        best = node
        for step in path:
            nxt: yaml.Node | None = None
            if isinstance(node, yaml.MappingNode):
                for k, v in node.value:
                    if isinstance(k, yaml.ScalarNode) and k.value == step:
                        nxt = v
                        break
            elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
                nxt = node.value[step]
            if nxt is None:
                break
            node = best = nxt
        return (best.start_mark.line + 1, best.start_mark.column + 1)


class Recordings:
    """The recordings of a project, each case file's loaded on first use and kept."""

    def __init__(
        self, root: Path, *, cases_dir: str = "cases", source_reader: SourceReader | None = None
    ) -> None:
        self.root = Path(root)
        self.cases_dir = cases_dir
        self.source_reader = source_reader
        self._files: dict[str, RecordingFile] = {}
        self._lock = threading.Lock()

    def load(self, case_file: str) -> RecordingFile:
        with self._lock:
            rec = self._files.get(case_file)
            if rec is None:
                rec = load(self.root, case_file, self.source_reader, cases_dir=self.cases_dir)
                self._files[case_file] = rec
            return rec

    def lookup(
        self, case_file: str, case_id: str, model: str, sample: int, fingerprint: str
    ) -> tuple[LookupResult, ModelResponse | None]:
        return self.load(case_file).lookup(case_id, model, sample, fingerprint)


# -- writing ---------------------------------------------------------------------------------


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
        with self._lock:
            self._added.setdefault(case_file, {})[entry.key] = entry
        return True

    def prune(self, case_file: str, valid_keys: Iterable[RecordingKey]) -> None:
        """On write, drop entries of ``case_file`` not in ``valid_keys``: pass every key the case
        file defines now (all cases x models x samples), not only the rows rerun."""
        with self._lock:
            self._prune[case_file] = set(valid_keys)
            self._added.setdefault(case_file, {})

    @property
    def touched(self) -> list[str]:
        with self._lock:
            return sorted(self._added)

    def write(self) -> list[str]:
        """Write every touched recording atomically; returns the repo-relative paths whose
        content changed. Raises InputError, after writing the others, if an existing recording
        cannot be parsed (it is committed work: never overwrite what we could not read)."""
        with self._lock:
            written: list[str] = []
            problems: list[Problem] = []
            for case_file in sorted(self._added):
                try:
                    rec = load(self.root, case_file, cases_dir=self.cases_dir)
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
                text = rec.render()
                _refuse_secrets(text, rec.path)
                write_text_atomic(self.root / rec.path, text)
                written.append(rec.path)
            if problems:
                raise InputError(
                    problems, "existing recordings could not be read; they were left as they are"
                )
            return written


def _refuse_secrets(text: str, where: str) -> None:
    """Last line of defence: a recording is committed, so it must never contain a credential
    (say, a prompt that interpolated one and a model that echoed it back)."""
    for name, value in os.environ.items():
        if len(value) >= 16 and name.endswith(("_API_KEY", "_TOKEN", "_SECRET")) and value in text:
            raise ExecutionError(
                f"refusing to write {where}: it contains the value of ${name}",
                hint="make sure prompts and case inputs never include credentials",
            )


# -- YAML emission ---------------------------------------------------------------------------
# Hand-written rather than yaml.dump: PyYAML picks quoted styles for many outputs (e.g. any
# line with trailing spaces), folds long lines, and cannot put a comment on top. Every scalar
# we emit is checked to read back as exactly the same value.

_PLAIN_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./@+()=,:<>'-]*( [A-Za-z0-9_./@+()=,:<>'-]+)*$")
# Characters a YAML block scalar cannot carry verbatim: C0 controls other than tab/newline
# (including \r, which a reader would normalise to \n), DEL, C1 controls (NEL is a line break
# for PyYAML), the Unicode line/paragraph separators, BOM, surrogates and non-characters.
_NOT_BLOCK_SAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\ufeff\ud800-\udfff\ufffe\uffff]")


def _render_entry(e: RecordingEntry) -> list[str]:
    out = [
        f"  - case: {_scalar(e.case)}",
        f"    model: {_scalar(e.model)}",
        f"    sample: {e.sample}",
        f"    fingerprint: {_scalar(e.fingerprint)}",
    ]
    out.extend(_block("    output:", e.output, "      "))
    for name in _OPTIONAL_STR:
        value = getattr(e, name)
        if value is not None:
            out.append(f"    {name}: {_scalar(value)}")
    for name in _OPTIONAL_INT:
        value = getattr(e, name)
        if value is not None:
            out.append(f"    {name}: {int(value)}")
    for name in _OPTIONAL_NUM:
        value = getattr(e, name)
        if value is not None:
            out.append(f"    {name}: {_number(value)}")
    return out


def _block(prefix: str, text: str | None, indent: str) -> list[str]:
    """``text`` as a literal block scalar with the chomping indicator that keeps its exact
    trailing newlines, or a double-quoted scalar when a block cannot represent it."""
    if text is None:
        return [f"{prefix} null"]
    if not text.strip(" \n") or _NOT_BLOCK_SAFE.search(text):
        return [f"{prefix} {_quoted(text)}"]
    stripped = text.rstrip("\n")
    trailing = len(text) - len(stripped)
    chomp = "-" if trailing == 0 else ("" if trailing == 1 else "+")
    # An explicit indentation indicator when the first line starts with whitespace or is
    # empty, where a reader would otherwise guess the indentation from the wrong line.
    parent_indent = len(prefix) - len(prefix.lstrip(" "))
    indicator = str(len(indent) - parent_indent) if text[0] in " \t\n" else ""
    header = f"{prefix} |{indicator}{chomp}"
    body = [f"{indent}{line}" if line else "" for line in stripped.split("\n")]
    body.extend("" for _ in range(trailing - 1))
    return [header, *body]


def _comment_safe(value: str) -> str:
    return _quoted(value) if _NOT_BLOCK_SAFE.search(value) or "\n" in value else value


@lru_cache(maxsize=4096)
def _scalar(value: str) -> str:
    """A plain scalar when that reads back as the same string, else double-quoted."""
    if _PLAIN_RE.match(value) and not value.endswith(":") and ": " not in value:
        with contextlib.suppress(yaml.YAMLError):
            if yaml.load(value, Loader=_Loader) == value:
                return value
    return _quoted(value)


def _quoted(value: str) -> str:
    # The pure-Python emitter: it escapes everything a YAML reader would not keep verbatim.
    dumped: str = yaml.dump(value, Dumper=yaml.SafeDumper, default_style='"', allow_unicode=True, width=10**9)
    return dumped.rstrip("\n").removesuffix("\n...").rstrip("\n")


def _number(value: float) -> str:
    """A float PyYAML reads back as a float (it wants ``1.0e-05``, not ``1e-05``)."""
    if math.isnan(value):
        return ".nan"
    if math.isinf(value):
        return ".inf" if value > 0 else "-.inf"
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{value:.1f}"
    text = repr(float(value))
    if "e" in text:
        mantissa, exp = text.split("e")
        if "." not in mantissa:
            mantissa += ".0"
        if exp[0] not in "+-":
            exp = "+" + exp
        text = f"{mantissa}e{exp}"
    return text
