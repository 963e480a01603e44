"""A small JSON-Schema checker for promptctl's *own* file schemas.

Why not jsonschema here: importing it costs ~0.1 s, which alone would blow the start-up budget of
``promptctl list`` and of fully cached runs. Our shipped schemas (``promptctl/schemas/*.json``)
use a small subset of the standard, implemented below with the same error shape jsonschema
produces (``validator``, ``validator_value``, ``absolute_path``, ``instance``, ``schema``,
``message``, ``context``). A test checks that this checker and jsonschema agree on where every
error is, for the shipped schemas and a corpus of bad files. User-supplied schemas (a prompt's
``output.schema``, the ``json_schema`` validator) still go through jsonschema: they may use any
keyword.
"""

from __future__ import annotations

import re
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from promptctl.jsonutil import is_json_type

SUPPORTED = {
    "$schema", "$id", "$defs", "$ref", "title", "description", "type", "properties", "additionalProperties",
    "required", "enum", "items", "anyOf", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum",
    "pattern", "minItems",
}  # fmt: skip


@dataclass
class SchemaError:
    validator: str
    validator_value: Any
    instance: Any
    schema: dict[str, Any]
    message: str
    absolute_path: deque[str | int] = field(default_factory=deque)
    context: list[SchemaError] = field(default_factory=list)


_BOUNDS: tuple[tuple[str, Callable[[float, float], bool]], ...] = (
    ("minimum", lambda v, m: v < m),
    ("maximum", lambda v, m: v > m),
    ("exclusiveMinimum", lambda v, m: v <= m),
    ("exclusiveMaximum", lambda v, m: v >= m),
)


@cache
def _pattern(p: str) -> re.Pattern[str]:
    return re.compile(p)


class Checker:
    def __init__(self, schema: dict[str, Any]) -> None:
        self.root = schema

    def _resolve(self, schema: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in schema:
            ref = schema["$ref"]
            if not ref.startswith("#/"):
                raise ValueError(f"unsupported $ref {ref!r}")
            node: Any = self.root
            for part in ref[2:].split("/"):
                node = node[part]
            schema = node
        return schema

    def iter_errors(self, instance: Any) -> Iterator[SchemaError]:
        yield from self._check(instance, self.root, ())

    def _err(
        self,
        kw: str,
        value: Any,
        inst: Any,
        schema: dict[str, Any],
        path: tuple[str | int, ...],
        msg: str,
        context: list[SchemaError] | None = None,
    ) -> SchemaError:
        return SchemaError(kw, value, inst, schema, msg, deque(path), context or [])

    def _check(self, inst: Any, schema: dict[str, Any], path: tuple[str | int, ...]) -> Iterator[SchemaError]:
        schema = self._resolve(schema)
        if "type" in schema:
            types = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
            if not any(is_json_type(inst, t) for t in types):
                yield self._err(
                    "type", schema["type"], inst, schema, path, f"{inst!r} is not of type {types}"
                )
                return
        if "enum" in schema and inst not in schema["enum"]:
            yield self._err(
                "enum", schema["enum"], inst, schema, path, f"{inst!r} is not one of {schema['enum']}"
            )
        if "anyOf" in schema:
            branches = [list(self._check(inst, sub, path)) for sub in schema["anyOf"]]
            if all(branches):
                ctx = [e for b in branches for e in b]
                yield self._err(
                    "anyOf",
                    schema["anyOf"],
                    inst,
                    schema,
                    path,
                    f"{inst!r} is not valid under any of the given schemas",
                    ctx,
                )
        if isinstance(inst, (int, float)) and not isinstance(inst, bool):
            for kw, bad in _BOUNDS:
                if kw in schema and bad(inst, schema[kw]):
                    yield self._err(
                        kw, schema[kw], inst, schema, path, f"{inst!r} violates {kw} {schema[kw]}"
                    )
        if isinstance(inst, str) and "pattern" in schema and not _pattern(schema["pattern"]).search(inst):
            yield self._err(
                "pattern",
                schema["pattern"],
                inst,
                schema,
                path,
                f"{inst!r} does not match {schema['pattern']!r}",
            )
        if isinstance(inst, list):
            if "minItems" in schema and len(inst) < schema["minItems"]:
                yield self._err(
                    "minItems",
                    schema["minItems"],
                    inst,
                    schema,
                    path,
                    f"should have at least {schema['minItems']} item(s)",
                )
            if "items" in schema:
                for i, item in enumerate(inst):
                    yield from self._check(item, schema["items"], (*path, i))
        if isinstance(inst, dict):
            props = schema.get("properties", {})
            for name in schema.get("required", []):
                if name not in inst:
                    yield self._err(
                        "required", schema["required"], inst, schema, path, f"{name!r} is a required property"
                    )
            extra = schema.get("additionalProperties", True)
            unknown = [k for k in inst if k not in props]
            if extra is False and unknown:
                yield self._err(
                    "additionalProperties",
                    False,
                    inst,
                    schema,
                    path,
                    f"Additional properties are not allowed ({', '.join(map(repr, unknown))} unexpected)",
                )
            for k, v in inst.items():
                if k in props:
                    yield from self._check(v, props[k], (*path, k))
                elif isinstance(extra, dict):
                    yield from self._check(v, extra, (*path, k))
