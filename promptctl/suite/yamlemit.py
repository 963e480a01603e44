"""YAML text that promptctl writes into committed files (reviews, example sets, appended cases).

Written for review in a pull request: keys in the order given (never sorted), unicode kept, long
lines not folded, and every multi-line string as a literal block (``|``) so a diff of outputs
reads like a diff of text. A string the block style cannot hold exactly (trailing spaces, tabs
before a newline, ...) falls back to a quoted scalar: PyYAML picks the style, so what is written
always loads back to the same value, which :func:`dump` checks.
"""

from __future__ import annotations

from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> Any:
        # Items of a list nested in a mapping are indented (``key:\n  - item``), as people write it.
        return super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value.rstrip("\n") or value.endswith("\n") else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(data: Any) -> str:
    """``data`` as YAML text; raises ValueError if it would not load back to the same value."""
    text: str = yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1_000_000, default_flow_style=False
    )
    if yaml.safe_load(text) != data:  # pragma: no cover - a PyYAML bug would land here
        raise ValueError("YAML emitter did not round-trip the data")
    return text


def dump_item(data: Any, indent: int) -> str:
    """One sequence item (``- key: value`` ...), every line indented by ``indent`` spaces."""
    body = dump([data])
    pad = " " * indent
    return "".join(line if line in ("\n", "") else pad + line for line in body.splitlines(keepends=True))
