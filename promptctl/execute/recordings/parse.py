"""Reading a recording's text: a line parser for the YAML subset promptctl writes, the YAML loader
for anything else, and entry checks whose errors point at a line and column."""

from __future__ import annotations

import re
from typing import Any

import yaml

from promptctl.errors import InputError, Problem
from promptctl.execute.recordings.model import (
    FORMAT_VERSION,
    KNOWN_FIELDS,
    OPTIONAL_INT,
    OPTIONAL_NUM,
    OPTIONAL_STR,
    PLAIN_SCALAR,
    REQUIRED_FIELDS,
    RecordingEntry,
    RecordingFile,
)
from promptctl.suite.yamlio import load_yaml

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse(text: str, rel: str, case_file: str) -> RecordingFile:
    """Parse recording text (``rel`` is only used in messages)."""
    data = _fast_load(text)
    if data is _NOT_FAST:
        # The loader of suite files, with its limits: a committed recording is input (an alias
        # bomb in one must not hang `compare`), not something to trust.
        doc, problems = load_yaml(text, rel)
        if problems:
            if re.search(r"^(<<<<<<<|>>>>>>>|=======)( |$)", text, re.MULTILINE):
                first = problems[0]
                hint = " (the file has unresolved merge conflict markers)"
                problems[0] = Problem(first.path, first.line, first.col, first.message + hint)
            raise InputError(problems)
        data = doc.data

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
        and raw.keys() <= KNOWN_FIELDS
    ):
        return None
    for name in OPTIONAL_STR:
        v = get(name)
        if v is not None and type(v) is not str:
            return None
    for name in OPTIONAL_INT:
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
    for name in REQUIRED_FIELDS:
        if name not in raw:
            errors.append((where, f"entry is missing `{name}`"))
            ok = False
    for name in raw:
        if name not in KNOWN_FIELDS:
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
    for name in OPTIONAL_STR:
        check(name, raw.get(name) is None or isinstance(raw.get(name), str), "a string")
    for name in OPTIONAL_INT:
        check(name, raw.get(name) is None or type(raw.get(name)) is int, "an integer")
    for name in OPTIONAL_NUM:
        value = raw.get(name)
        check(name, value is None or (type(value) in (int, float)), "a number")
    if not ok:
        return None
    num = {n: (None if raw.get(n) is None else float(raw[n])) for n in OPTIONAL_NUM}
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
        and PLAIN_SCALAR.match(value)
        and not value.endswith(":")
        and ": " not in value
        and value.lower() not in _NOT_STR_WORDS
    ):
        return value
    if value == "[]":
        return []
    if PLAIN_SCALAR.match(value) and not value.endswith(":") and ": " not in value:
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
