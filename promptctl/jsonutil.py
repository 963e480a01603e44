"""JSON helpers every layer shares: the canonical text of a value and the JSON-type predicate.

One predicate answers "is this YAML-loaded value of JSON type T?" for our schema checker, a
prompt's declared input types and assertion options, with JSON Schema's meaning: a boolean is
not a number, and an integral float (``3.0``) is an integer.
"""

from __future__ import annotations

import json
from typing import Any


def canonical_json(value: Any) -> str:
    """Sorted keys, no spaces, unicode kept: equal values give equal text (hashes, comparisons)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def is_json_type(value: Any, name: str) -> bool:
    """Whether ``value`` is of the JSON-schema type ``name``; ``any`` (or an unknown name) accepts all."""
    if name == "object":
        return isinstance(value, dict)
    if name == "array":
        return isinstance(value, list)
    if name == "string":
        return isinstance(value, str)
    if name == "boolean":
        return isinstance(value, bool)
    if name == "null":
        return value is None
    if isinstance(value, bool):
        return False
    if name == "integer":
        return isinstance(value, int) or (isinstance(value, float) and value.is_integer())
    if name == "number":
        return isinstance(value, (int, float))
    return True


def json_type_name(value: Any) -> str:
    """The JSON name of a value's type, for messages (``integer``, ``array``, ...)."""
    kinds = {bool: "boolean", str: "string", int: "integer", float: "number", list: "array", dict: "object"}
    return "null" if value is None else kinds.get(type(value), type(value).__name__)
