"""Writing a recording's text by hand rather than with yaml.dump: PyYAML picks quoted styles for many
outputs (e.g. any line with trailing spaces), folds long lines, and cannot put a comment on top.
Every scalar emitted is checked to read back as exactly the same value."""

from __future__ import annotations

import contextlib
import math
import re
from functools import lru_cache
from typing import Any

import yaml

from promptctl.execute.recordings.model import (
    FORMAT_VERSION,
    OPTIONAL_INT,
    OPTIONAL_NUM,
    OPTIONAL_STR,
    PLAIN_SCALAR,
    RecordingEntry,
    RecordingFile,
)

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def render_file(rec: RecordingFile) -> str:
    """The file's text: header comment, then entries sorted by (case, model, sample)."""
    lines = [
        f"# Recorded model outputs for {_comment_safe(rec.case_file)} — replayed by `promptctl test`; "
        "refresh with `promptctl test --record`.",
        f"version: {FORMAT_VERSION}",
        f"case_file: {_scalar(rec.case_file)}",
    ]
    if rec.source is not None:
        lines.append(f"source: {_scalar(rec.source)}")
    if not rec.entries:
        lines.append("entries: []")
        return "\n".join(lines) + "\n"
    lines.append("entries:")
    for key in sorted(rec.entries):
        lines.extend(_render_entry(rec.entries[key]))
    return "\n".join(lines) + "\n"


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
    for name in OPTIONAL_STR:
        value = getattr(e, name)
        if value is not None:
            out.append(f"    {name}: {_scalar(value)}")
    for name in OPTIONAL_INT:
        value = getattr(e, name)
        if value is not None:
            out.append(f"    {name}: {int(value)}")
    for name in OPTIONAL_NUM:
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
    if PLAIN_SCALAR.match(value) and not value.endswith(":") and ": " not in value:
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
