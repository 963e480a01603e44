"""Appending items to a list in a committed YAML file, leaving every other byte as it was.

``feedback import`` adds cases to a case file and ``examples add`` adds examples to a set: files
people wrote by hand, with comments and their own layout. Re-dumping the whole document would
drop the comments and reformat everything in the pull request, so the new items are inserted as
text at the end of the list (block style, at the list's own indentation). The caller re-parses
the result with the real loader before anything is written.
"""

from __future__ import annotations

import difflib
from typing import Any

import yaml

from promptctl.suite.yamlemit import dump, dump_item

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - pure-Python PyYAML build
    _Loader = yaml.SafeLoader


def append_items(text: str, key: str, items: list[dict[str, Any]]) -> str:
    """``text`` (a YAML mapping) with ``items`` appended to its top-level list ``key``; the list
    is created when absent or empty. ValueError when ``key`` holds something else than a list."""
    if not items:
        return text
    root = yaml.compose(text, Loader=_Loader) if text.strip() else None
    if root is not None and not isinstance(root, yaml.MappingNode):
        raise ValueError("the file is not a mapping of keys")
    value = None
    for k, v in root.value if root is not None else []:
        if isinstance(k, yaml.ScalarNode) and k.value == key:
            value = v
    block = "".join(dump_item(item, 2) for item in items)
    if value is None:
        prefix = text if not text or text.endswith("\n") else text + "\n"
        return f"{prefix}{key}:\n{block}"
    if isinstance(value, yaml.SequenceNode) and not value.flow_style and value.value:
        at = value.end_mark.index
        indent = value.start_mark.column
        body = "".join(dump_item(item, indent) for item in items)
        head = text[:at]
        if head and not head.endswith("\n"):
            head += "\n"
        return head + body + text[at:]
    empty_scalar = isinstance(value, yaml.ScalarNode) and value.tag.endswith(":null")
    if isinstance(value, yaml.SequenceNode) or empty_scalar:
        # `key: []`, `key: [a, b]` or `key:` with nothing: rewrite just that value as a block list.
        existing = yaml.safe_load(text[value.start_mark.index : value.end_mark.index]) or []
        every = [*existing, *items] if isinstance(existing, list) else items
        new_block = "".join(dump_item(item, 2) for item in every)
        rest = text[value.end_mark.index :]
        return text[: value.start_mark.index].rstrip(" ") + "\n" + new_block + rest.lstrip("\n")
    raise ValueError(f"'{key}' is not a list")


def append_verified(text: str, key: str, items: list[dict[str, Any]]) -> str:
    """:func:`append_items`, checked: the result loads to exactly the old document plus the new
    items (ValueError otherwise, and nothing is written)."""
    new = append_items(text, key, items)
    old_data = yaml.load(text, Loader=_Loader) or {} if text.strip() else {}
    expected = {**old_data, key: [*(old_data.get(key) or []), *items]}
    if yaml.load(new, Loader=_Loader) != expected:
        raise ValueError(f"cannot append to '{key}' without changing the rest of the file")
    return new


def unified_diff(before: str, after: str, path: str) -> str:
    """What a change does to a file, as ``git diff`` shows it."""
    lines = difflib.unified_diff(
        before.splitlines(keepends=True), after.splitlines(keepends=True), f"a/{path}", f"b/{path}"
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def new_document(data: dict[str, Any], header: str = "") -> str:
    """A whole new file: an optional comment header, then ``data``."""
    return header + dump(data)
