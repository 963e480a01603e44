"""Few-shot example sets: committed input/output pairs that templates put into prompts.

A set is ``examples/<name>.yaml`` (``examples_dir`` in promptctl.yaml): a list of examples, each
the prompt's ``vars`` for an input, the ``output`` that input should get, when it was ``added``
and where it came from (``source``: a review, a feedback correction, or written by hand).
``promptctl examples add`` grows a set from accepted reviews or feedback corrections.

Templates take a deterministic selection with ``examples(name, k=3, select=..., seed=0,
fields=None)`` (registered by ``suite.render``):

- ``recent``: the ``k`` most recently added (by ``added``, then position in the file), in file order;
- ``random``: ``k`` chosen by a seeded hash of each example's content, in file order — the same
  seed gives the same choice on every machine and Python version, and adding an example never
  reshuffles the others;
- ``similar``: the ``k`` most lexically similar to the variables being rendered (cosine of word
  counts over the shared variables, or over ``fields``), most similar first; ties go to the more
  recent.

An example whose variables all equal the ones being rendered is never selected: a case must not
be shown its own answer. The selection is part of the rendered messages, so it is part of every
request fingerprint (the cache and recordings stay exact) and ``render``/``diff`` show it.
"""

from __future__ import annotations

import datetime
import hashlib
import math
import posixpath
import re
import threading
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from promptctl.errors import Problem
from promptctl.git.sources import Source
from promptctl.jsonutil import canonical_json
from promptctl.paths import confined
from promptctl.suggest import suggest
from promptctl.suite.model import Loc
from promptctl.suite.yamlio import Doc, check_schema, load_yaml

SELECTIONS = ("recent", "random", "similar")
SUFFIXES = (".yaml", ".yml")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)
_LITERAL_CALL = re.compile(r"""\bexamples\(\s*(['"])([^'"]+)\1""")  # examples("support/reply" ...


class ExamplesError(Exception):
    """A template asked for examples it cannot have (unknown set, bad argument): the message is
    reported at the template's position like any render error."""


@dataclass(frozen=True)
class Example:
    id: str
    vars: dict[str, Any]
    output: str
    position: int  # 0-based, in the file
    added: str = ""
    source: dict[str, Any] = field(default_factory=dict)
    loc: Loc = field(default_factory=lambda: Loc(""), compare=False)

    def as_template_value(self) -> dict[str, Any]:
        """What a template sees: ``ex.vars.NAME``, ``ex.output``, ``ex.id``."""
        return {"id": self.id, "vars": self.vars, "output": self.output}

    def content_key(self) -> str:
        return canonical_json({"vars": self.vars, "output": self.output})


@dataclass
class ExampleSet:
    name: str
    path: str
    description: str = ""
    examples: list[Example] = field(default_factory=list)


def set_name(relpath: str, examples_dir: str) -> str | None:
    """``examples/support/reply.yaml`` -> ``support/reply``; None for other files."""
    rel = posixpath.relpath(relpath, examples_dir)
    stem, ext = posixpath.splitext(rel)
    return stem if ext in SUFFIXES and not rel.startswith("../") else None


def set_path(name: str, examples_dir: str) -> str:
    return f"{examples_dir.rstrip('/')}/{name}.yaml"


def parse_set(doc: Doc, name: str, problems: list[Problem]) -> ExampleSet:
    data: dict[str, Any] = doc.data
    es = ExampleSet(name=name, path=doc.path, description=data.get("description", ""))
    seen: dict[str, int] = {}
    for i, raw in enumerate(data.get("examples") or []):
        ex_id = str(raw["id"]) if raw.get("id") not in (None, "") else f"example-{i + 1}"
        loc = doc.loc(("examples", i))
        if ex_id in seen:
            problems.append(
                doc.problem(
                    ("examples", i, "id"),
                    f"duplicate example id '{ex_id}' in set '{name}' (first at line {seen[ex_id]})",
                )
            )
            continue
        seen[ex_id] = loc.line
        es.examples.append(
            Example(
                id=ex_id,
                vars=dict(raw["vars"]),
                output=raw["output"],
                position=i,
                added=raw.get("added", ""),
                source=dict(raw.get("source") or {}),
                loc=loc,
            )
        )
    return es


def parse_set_text(text: str, path: str, name: str, problems: list[Problem]) -> ExampleSet | None:
    """One example set's text (schema-checked after a safe load); None when it has errors."""
    doc, errs = load_yaml(text, path)
    if not errs and doc.data is None:
        errs.append(Problem(path, 1, 1, "file is empty; an empty set is `examples: []`"))
    elif not errs and not isinstance(doc.data, dict):
        errs.append(doc.problem((), "expected a mapping with an 'examples' list"))
    if not errs:
        _dates_as_text(doc)
        errs = check_schema(doc, "examples")
    if errs:
        problems.extend(errs)
        return None
    before = len(problems)
    es = parse_set(doc, name, problems)
    return es if len(problems) == before else None


def _dates_as_text(doc: Doc) -> None:
    """``added: 2026-11-30`` written by hand loads as a date: take it as the ISO text it is."""
    items = doc.data.get("examples")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict) and isinstance(item.get("added"), (datetime.date, datetime.datetime)):
            item["added"] = item["added"].isoformat().replace("+00:00", "Z")


class ExampleLibrary:
    """The example sets of one revision of the suite, read through its source when first asked
    for: a folder of unrelated YAML never breaks a project that does not use it. ``preload``
    reads the sets the prompts name, so their problems are reported with the suite's."""

    def __init__(self, source: Source | None = None, examples_dir: str = "examples") -> None:
        self.source = source
        self.examples_dir = examples_dir.rstrip("/")
        self.sets: dict[str, ExampleSet] = {}
        self.problems: dict[str, list[Problem]] = {}  # sets whose file has errors
        self.reported: set[str] = set()  # ... that the suite already lists (one problem, one message)
        self._lock = threading.Lock()

    def names(self) -> list[str]:
        """Every set in the folder (by file name, without reading them)."""
        if self.source is None:
            return []
        found = (
            set_name(rel, self.examples_dir) for rel in self.source.list_files(self.examples_dir, SUFFIXES)
        )
        return sorted(n for n in found if n is not None)

    def load(self, name: str) -> ExampleSet | None:
        """The set ``name`` (None when it does not exist or has errors, see ``problems``)."""
        with self._lock:
            if name in self.sets or name in self.problems:
                return self.sets.get(name)
            if self.source is None or confined(name) != name:
                return None
            for suffix in SUFFIXES:
                rel = f"{self.examples_dir}/{name}{suffix}"
                if self.source.exists(rel):
                    break
            else:
                return None
            problems: list[Problem] = []
            try:
                es = parse_set_text(self.source.read_text(rel), rel, name, problems)
            except (OSError, UnicodeDecodeError) as exc:
                es, problems = None, [Problem(rel, 0, 0, f"cannot read example set: {exc}")]
            if es is None:
                self.problems[name] = problems
            else:
                self.sets[name] = es
            return es

    def preload(self, texts: list[str]) -> list[Problem]:
        """Load the sets that ``texts`` (templates) name literally; returns their problems."""
        out: list[Problem] = []
        for name in sorted({m.group(2) for t in texts for m in _LITERAL_CALL.finditer(t)}):
            self.load(name)
            if name in self.problems and name not in self.reported:
                self.reported.add(name)
                out.extend(self.problems[name])
        return out

    def select(
        self,
        name: Any,
        current: dict[str, Any],
        *,
        k: Any = 3,
        select: Any = "recent",
        seed: Any = 0,
        fields: Any = None,
    ) -> list[dict[str, Any]]:
        """The examples a template asked for, as template values; ExamplesError on a bad request."""
        if not isinstance(name, str):
            raise ExamplesError(f"examples(): the set name must be a string, got {name!r}")
        es = self.load(name)
        if name in self.reported:
            return []  # its file's problems are listed already: one problem, one message
        if name in self.problems:
            first = next((p for p in self.problems[name] if p.is_error), None)
            raise ExamplesError(f"example set '{name}' has errors: {first.format() if first else '?'}")
        if es is None:
            raise ExamplesError(
                f"unknown example set '{name}' (no {set_path(name, self.examples_dir)})"
                f"{suggest(name, self.names())}; create it (`examples: []`) or grow it with "
                f"`promptctl examples add {name} --from-reviews`"
            )
        if isinstance(k, bool) or not isinstance(k, int) or k < 0:
            raise ExamplesError(f"examples(): k must be a whole number >= 0, got {k!r}")
        if select not in SELECTIONS:
            raise ExamplesError(
                f"examples(): select={select!r} is not one of {', '.join(SELECTIONS)}"
                f"{suggest(str(select), list(SELECTIONS))}"
            )
        if fields is not None and (
            not isinstance(fields, (list, tuple)) or not all(isinstance(f, str) for f in fields)
        ):
            raise ExamplesError(f"examples(): fields must be a list of variable names, got {fields!r}")
        chosen = choose(es.examples, current, k=k, select=select, seed=seed, fields=fields)
        return [ex.as_template_value() for ex in chosen]


def _same_input(ex: Example, current: dict[str, Any]) -> bool:
    return bool(ex.vars) and all(n in current and current[n] == v for n, v in ex.vars.items())


def _text(value: Any) -> str:
    return value if isinstance(value, str) else canonical_json(value)


def _words(values: list[Any]) -> Counter[str]:
    return Counter(w.lower() for v in values for w in _WORD.findall(_text(v)))


def similarity(a: Counter[str], b: Counter[str]) -> float:
    """Cosine similarity of two word-count vectors (0 when either is empty)."""
    dot = sum(n * b[w] for w, n in a.items() if w in b)
    if not dot:
        return 0.0
    return dot / math.sqrt(sum(n * n for n in a.values()) * sum(n * n for n in b.values()))


def _recency(ex: Example) -> tuple[str, int]:
    return (ex.added, ex.position)


def choose(
    examples: list[Example],
    current: dict[str, Any],
    *,
    k: int,
    select: str,
    seed: Any = 0,
    fields: list[str] | tuple[str, ...] | None = None,
) -> list[Example]:
    """The deterministic selection (see the module docstring)."""
    pool = [ex for ex in examples if not _same_input(ex, current)]
    if k == 0 or not pool:
        return []
    if select == "recent":
        picked = sorted(pool, key=_recency)[-k:]
        return sorted(picked, key=lambda ex: ex.position)
    if select == "random":
        salt = _text(seed)

        def rank(ex: Example) -> str:
            return hashlib.sha256(f"{salt}\0{ex.content_key()}".encode()).hexdigest()

        return sorted(sorted(pool, key=rank)[:k], key=lambda ex: ex.position)
    scored = []
    for ex in pool:
        names = list(fields) if fields is not None else sorted(set(ex.vars) & set(current))
        here = _words([current[n] for n in names if n in current])
        there = _words([ex.vars[n] for n in names if n in ex.vars])
        scored.append((similarity(here, there), _recency(ex), ex))
    scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
    return [ex for _s, _r, ex in scored[:k]]
