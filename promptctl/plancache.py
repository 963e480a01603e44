"""The plan cache: a rerun of an unchanged suite skips loading, linting and rendering.

Why: on a rerun answered entirely by the response cache or by recordings, most of the time went
into work whose result had not changed since the last run: composing and schema-checking the
YAML, linting, compiling Jinja and rendering every row (and importing jinja2 to do it). The plan
(the loaded suite plus every rendered, fingerprinted row) is a pure function of

- the promptctl code (its version *and* the files of the installed package, so an edited
  checkout never reuses a plan built by other code), the Python version and the registered
  assertion types (lint depends on them);
- the resolved configuration and the bytes of ``promptctl.yaml``;
- the selection (paths, -k, --tag, --model, --repeat, --shard, --last-failed/--affected keys);
- every file-system question the loader, the linter and the renderer asked the source: each
  file read (content hash, or the error it raised), each existence check, each directory
  listing (so a new or deleted prompt, partial or case file changes the answer), each symlink
  confinement check.

The first group forms the cache *key* (the file name); the last is stored in the entry and
re-asked on reuse: the entry is used only if every answer is still the same. Reading and
hashing the handful of files involved costs about a millisecond.

Only worktree sources are cached (``--ref`` reads git objects; those runs are rare and their
own cache would need the commit as key). Entries live in ``.promptctl/cache/plan/`` (git-ignored,
local): pickle is acceptable there, written atomically, stamped with the format and code stamp,
and any problem reading one (corrupt, truncated, from other code) means "plan normally".
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import pickle
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptctl import __version__
from promptctl.execute.recordings import RecordingFile, Recordings, recording_path_for
from promptctl.execute.recordings import load as load_recording
from promptctl.execute.recordings import parse as parse_recording

PLAN_DIR = ".promptctl/cache/plan"
FORMAT = 1
KEEP = 8  # entries kept per project (one per distinct selection); the oldest are dropped

Answer = tuple[str, Any]  # ("ok", value or digest) | ("err", exception type name)
Call = tuple[str, tuple[Any, ...]]


def _digest(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=20).hexdigest()


class RecordingSource:
    """A source that answers like ``inner`` and remembers every question and its answer.

    Wraps the worktree source during a real load so the cache entry knows exactly which files
    (and listings) the plan depends on, without the loader having to report them.
    """

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.label: str = inner.label
        self.calls: dict[Call, Answer] = {}

    def _ask(self, method: str, args: tuple[Any, ...], digest: Callable[[Any], Any] | None = None) -> Any:
        try:
            value = getattr(self._inner, method)(*args)
        except Exception as exc:
            self.calls[(method, args)] = ("err", type(exc).__name__)
            raise
        self.calls[(method, args)] = ("ok", digest(value) if digest else value)
        return value

    def read_text(self, relpath: str) -> str:
        text: str = self._ask("read_text", (relpath,), _digest)
        return text

    def exists(self, relpath: str) -> bool:
        return bool(self._ask("exists", (relpath,)))

    def list_files(self, reldir: str, suffixes: tuple[str, ...]) -> list[str]:
        files: list[str] = self._ask("list_files", (reldir, tuple(suffixes)), tuple)
        return files

    def resolves_within(self, relpath: str, reldir: str) -> bool:
        return bool(self._ask("resolves_within", (relpath, reldir)))

    def __getattr__(self, name: str) -> Any:  # anything else (root, ...) as the real source has it
        return getattr(self._inner, name)


def _answer(source: Any, method: str, args: tuple[Any, ...]) -> Answer:
    try:
        value = getattr(source, method)(*args)
    except Exception as exc:
        return ("err", type(exc).__name__)
    if method == "read_text":
        return ("ok", _digest(value))
    if method == "list_files":
        return ("ok", tuple(value))
    return ("ok", value)


def still_valid(source: Any, calls: list[tuple[Call, Answer]]) -> bool:
    """Whether ``source`` answers every recorded question exactly as it did."""
    return all(_answer(source, method, args) == ans for (method, args), ans in calls)


# -- the key ------------------------------------------------------------------------------------
_code_stamp: str | None = None


def code_stamp() -> str:
    """promptctl's version + (name, size, mtime) of every file of the package + Python's version.

    The version alone is not enough in a checkout (``pip install -e``): the code changes without
    it. Listing ~60 files costs well under a millisecond.
    """
    global _code_stamp
    if _code_stamp is None:
        pkg = Path(__file__).resolve().parent
        parts = [f"promptctl {__version__}", sys.version, f"format {FORMAT}"]
        for dirpath, dirnames, filenames in os.walk(pkg):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for f in sorted(filenames):
                if f.endswith((".pyc", ".tmp")):
                    continue
                with contextlib.suppress(OSError):
                    st = os.stat(os.path.join(dirpath, f))
                    parts.append(
                        f"{os.path.relpath(os.path.join(dirpath, f), pkg)}:{st.st_size}:{st.st_mtime_ns}"
                    )
        parts.extend(_dependency_stamps(("jinja2", "yaml", "jsonschema")))
        _code_stamp = hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()
    return _code_stamp


def _dependency_stamps(names: tuple[str, ...]) -> list[str]:
    """Rendering and parsing also depend on jinja2/PyYAML/jsonschema: an upgrade rewrites their
    ``__init__.py``, found without importing them."""
    from importlib.machinery import PathFinder

    out = []
    for name in names:
        try:
            spec = PathFinder.find_spec(name)
            origin = spec.origin if spec is not None else None
            st = os.stat(origin) if origin else None
        except (OSError, ImportError, ValueError):
            st = None
        out.append(f"{name}:{origin if st else None}:{st.st_size if st else 0}:{st.st_mtime_ns if st else 0}")
    return out


def plan_key(config: Any, selection: dict[str, Any]) -> str:
    """Cache key of one plan: code, configuration (resolved and as written) and selection."""
    from promptctl.validate.registry import known_types

    config_text = None
    if getattr(config, "path", None):
        try:
            config_text = _digest(Path(config.path).read_text("utf-8"))
        except (OSError, UnicodeDecodeError):
            config_text = "unreadable"
    material = repr(
        (
            code_stamp(),
            repr(config),
            config_text,
            known_types(),
            sorted(selection.items()),
        )
    )
    return hashlib.sha256(material.encode("utf-8")).hexdigest()


# -- entries ------------------------------------------------------------------------------------
@dataclass
class PlanCache:
    """Read and write plan entries under ``<root>/.promptctl/cache/plan``."""

    root: Path
    key: str
    directory: Path = field(init=False)

    def __post_init__(self) -> None:
        self.directory = Path(self.root) / PLAN_DIR

    @property
    def path(self) -> Path:
        return self.directory / f"{self.key[:40]}.pickle"

    def load(self, source: Any) -> Any | None:
        """The cached payload if the entry exists, is intact, has this key and every recorded
        file-system answer is unchanged; None otherwise (never raises for a bad entry)."""
        try:
            with open(self.path, "rb") as fh:
                header = pickle.load(fh)
                if (
                    not isinstance(header, dict)
                    or header.get("format") != FORMAT
                    or header.get("key") != self.key
                    or header.get("code") != code_stamp()
                ):
                    return None
                if not still_valid(source, header["calls"]):
                    return None
                # Unpickling builds ~50,000 objects for 1,000 rows; the collector would walk
                # them again and again meanwhile (they are all alive: nothing to collect).
                was_enabled = gc.isenabled()
                gc.disable()
                try:
                    return pickle.load(fh)
                finally:
                    if was_enabled:
                        gc.enable()
        except FileNotFoundError:
            return None
        except Exception:  # a corrupt, truncated or foreign entry is simply not a hit
            return None

    def save(self, calls: dict[Call, Answer], payload: Any) -> None:
        """Write the entry atomically; a failure to write (read-only disk, ...) is not an error:
        the cache only ever saves time."""
        from promptctl.atomic import write_bytes_atomic

        header = {"format": FORMAT, "key": self.key, "code": code_stamp(), "calls": list(calls.items())}
        try:
            data = pickle.dumps(header, protocol=pickle.HIGHEST_PROTOCOL) + pickle.dumps(
                payload, protocol=pickle.HIGHEST_PROTOCOL
            )
            write_bytes_atomic(self.path, data)
            _prune(self.directory, "[0-9a-f]*.pickle", KEEP)
        except Exception:
            with contextlib.suppress(OSError):
                self.path.unlink()


# -- parsed recordings --------------------------------------------------------------------------
REC_KEEP = 64  # parsed recording files kept (one per case file and content)


class CachedRecordings(Recordings):
    """The worktree's ``Recordings``, with each parsed recording file cached by content.

    Replaying 1,000 rows spent most of its time parsing the recording YAML (~50-90 ms for one
    file of 1,000 entries; unpickling the result takes ~3 ms), and recordings change far less
    often than they are read. The text is still read and hashed on every run, so an edited
    recording is parsed afresh.
    """

    def __init__(self, root: Path, *, cases_dir: str = "cases") -> None:
        super().__init__(Path(root), cases_dir=cases_dir)
        self._parsed: dict[str, RecordingFile] = {}
        self._parse_lock = threading.Lock()

    def load(self, case_file: str) -> RecordingFile:
        with self._parse_lock:
            rec = self._parsed.get(case_file)
            if rec is None:
                rec = self._parsed[case_file] = _load_recording(self.root, case_file, self.cases_dir)
            return rec


def _load_recording(root: Path, case_file: str, cases_dir: str) -> RecordingFile:
    rel = recording_path_for(case_file, cases_dir)
    try:
        text = (Path(root) / rel).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        # Absent or unreadable: the module's own loader gives the empty recording or the error.
        return load_recording(root, case_file, None, cases_dir=cases_dir)
    key = hashlib.blake2b(
        "\0".join((code_stamp(), rel, case_file, text)).encode("utf-8", "surrogatepass"), digest_size=20
    ).hexdigest()
    path = Path(root) / PLAN_DIR / f"rec-{key}.pickle"
    try:
        with open(path, "rb") as fh:
            cached = pickle.load(fh)
        if isinstance(cached, RecordingFile):
            return cached
    except Exception:  # absent, corrupt or foreign: parse
        pass
    rec = parse_recording(text, rel, case_file)  # InputError on a malformed file: not cached
    from promptctl.atomic import write_bytes_atomic

    try:
        write_bytes_atomic(path, pickle.dumps(rec, protocol=pickle.HIGHEST_PROTOCOL))
        _prune(path.parent, "rec-*.pickle", REC_KEEP)
    except Exception:
        with contextlib.suppress(OSError):
            path.unlink()
    return rec


def _prune(directory: Path, pattern: str, keep: int) -> None:
    entries = []
    for p in directory.glob(pattern):
        with contextlib.suppress(OSError):
            entries.append((p.stat().st_mtime_ns, p))
    entries.sort(reverse=True)
    for _, p in entries[keep:]:
        with contextlib.suppress(OSError):
            p.unlink()
