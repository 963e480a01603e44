"""Named output transforms applied, in order, before an assertion checks the output.

An assertion's ``transform: [extract_json_fence, json_compact]`` lets one check look at a part
or a normalised form of the output without a custom validator. Transforms are total: when one
does not apply (no fence, not JSON) it returns its input unchanged, so the check that follows
reports what it actually saw instead of a transform error hiding it.

Only names are accepted (no expressions): a case file must never be able to run code.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

# ```lang\n...\n```   (lang optional; the closing fence on its own line or right after the body)
FENCE_RE = re.compile(r"```[ \t]*([A-Za-z0-9_+.#-]*)[^\n`]*\n(.*?)\n?[ \t]*```", re.DOTALL)
_THINK_RE = re.compile(r"<think(?:ing)?>.*?</think(?:ing)?>", re.DOTALL | re.IGNORECASE)
_WS_RE = re.compile(r"\s+")


def _first_fence(text: str, langs: tuple[str, ...] | None) -> str:
    for m in FENCE_RE.finditer(text):
        if langs is None or m.group(1).lower() in langs:
            return m.group(2)
    return text


def extract_json_fence(text: str) -> str:
    """Content of the first ```json (or bare ```) block, else the text unchanged."""
    return _first_fence(text, ("json", ""))


def extract_code_fence(text: str) -> str:
    """Content of the first fenced block of any language, else the text unchanged."""
    return _first_fence(text, None)


def first_line(text: str) -> str:
    """First non-blank line (models often open with an empty line)."""
    for line in text.splitlines():
        if line.strip():
            return line
    return ""


def last_line(text: str) -> str:
    """Last non-blank line (e.g. the final answer after some reasoning)."""
    for line in reversed(text.splitlines()):
        if line.strip():
            return line
    return ""


def collapse_whitespace(text: str) -> str:
    """Runs of whitespace (incl. newlines) become one space; ends stripped."""
    return _WS_RE.sub(" ", text).strip()


def json_compact(text: str) -> str:
    """Canonical JSON (sorted keys, no spaces) when the text parses as JSON, else unchanged.

    Makes ``equals``/similarity checks indifferent to key order and formatting."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def strip_think(text: str) -> str:
    """Remove ``<think>...</think>`` blocks reasoning models put before the answer."""
    return _THINK_RE.sub("", text).strip()


TRANSFORMS: dict[str, Callable[[str], str]] = {
    "strip": str.strip,
    "lower": str.lower,
    "upper": str.upper,
    "collapse_whitespace": collapse_whitespace,
    "first_line": first_line,
    "last_line": last_line,
    "extract_json_fence": extract_json_fence,
    "extract_code_fence": extract_code_fence,
    "json_compact": json_compact,
    "strip_think": strip_think,
}

KNOWN_TRANSFORMS: tuple[str, ...] = tuple(sorted(TRANSFORMS))


def apply_transforms(names: list[str], text: str) -> str:
    """Apply ``names`` in order. Raises KeyError for an unknown name (lint reports it earlier)."""
    for name in names:
        fn = TRANSFORMS.get(name)
        if fn is None:
            raise KeyError(name)
        text = fn(text)
    return text
