"""YAML loading that keeps positions, and JSON-Schema checking that reports ``path:line:col``.

PyYAML's ``safe_load`` throws positions away. We compose the node tree instead (C loader when
available: it is several times faster), construct plain values ourselves and remember where every
key and item came from, so a problem found anywhere later can still point at the offending spot.
Duplicate mapping keys, which ``safe_load`` silently resolves to the last one, are reported.

Limits, each a located problem rather than minutes, gigabytes or a crash: collections nest at most
:data:`MAX_DEPTH` levels (deeper, recursion would end in a RecursionError or a segfault), and
aliases (``*name``, merge keys ``<<``) expand to at most :data:`MAX_ALIAS_VALUES` values per
document (a 464-byte "billion laughs" file expands to 9**9 strings: 29 s and 3.3 GB before).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

import yaml

from promptctl.errors import Problem
from promptctl.suggest import suggest
from promptctl.suite.model import Loc

try:
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - pure-Python PyYAML build
    _Loader = yaml.SafeLoader

PathKey = tuple[str | int, ...]
_STR_TAG = "tag:yaml.org,2002:str"
_MERGE_TAG = "tag:yaml.org,2002:merge"

MAX_DEPTH = 100  # levels of nested collections; suite files need a handful
MAX_ALIAS_VALUES = 100_000  # values produced by expanding aliases, per document


_ALIAS_BOMB = (
    f"YAML aliases here expand to more than {MAX_ALIAS_VALUES:,} values (an alias bomb?); "
    "write the values out or use fewer nested aliases"
)


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether lists and mappings nest more than ``limit`` levels in ``value`` (say, one parsed from
    JSON), found without recursion."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > limit:
                return True
            stack.extend((v, depth + 1) for v in (item.values() if isinstance(item, dict) else item))
    return False


class _LimitHit(Exception):
    """A limit was reached: construction stops (the problem is already recorded)."""


@dataclass
class _Budget:
    """What construction of one document has spent: the collection nodes seen (a node met again
    is an alias), how deep it is, how many values aliases produced."""

    seen: set[int] = field(default_factory=set)
    depth: int = 0
    in_alias: int = 0
    alias_values: int = 0
    alias_at: tuple[int, int] | None = None  # where the outermost expanding alias is used


@dataclass
class Doc:
    """A loaded YAML document: its data plus where every value (and mapping key) starts."""

    path: str
    data: Any
    value_pos: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    key_pos: dict[PathKey, tuple[int, int]] = field(default_factory=dict)
    # block scalars (``|``, ``>``): the indentation (0-based column) of their content lines
    block_scalar: dict[PathKey, int] = field(default_factory=dict)

    def loc(self, key: PathKey, *, of_key: bool = False) -> Loc:
        """Best location for ``key``: the value (or the key itself), else the nearest ancestor."""
        k = key
        while True:
            table = self.key_pos if of_key and k in self.key_pos else self.value_pos
            if k in table:
                line, col = table[k]
                return Loc(self.path, line, col)
            if not k:
                return Loc(self.path, 1, 1)
            k = k[:-1]

    def text_loc(self, key: PathKey, lineno: int = 1) -> Loc:
        """Location of line ``lineno`` (1-based) *inside* the string at ``key`` (for Jinja errors)."""
        base = self.loc(key)
        indent = self.block_scalar.get(key)
        if indent is not None:  # the value starts at the indicator; its text on the next line
            return Loc(self.path, base.line + 1, indent + 1, block=True).text_line(lineno)
        return base.text_line(lineno)

    def problem(
        self, key: PathKey, message: str, *, of_key: bool = False, severity: str = "error"
    ) -> Problem:
        loc = self.loc(key, of_key=of_key)
        return Problem(loc.path, loc.line, loc.col, message, severity)


def _block_indent(text: str, node: yaml.Node) -> int:
    """The indentation of a block scalar's content: its first non-blank line after the indicator."""
    pos, end = text.find("\n", node.start_mark.index) + 1, node.end_mark.index
    while 0 < pos < end:
        nl = text.find("\n", pos)
        line = text[pos : nl if nl >= 0 else len(text)]
        if line.strip():
            return len(line) - len(line.lstrip(" "))
        pos = nl + 1
    return node.start_mark.column


def _construct(
    loader: Any,
    node: yaml.Node,
    path: PathKey,
    doc: Doc,
    problems: list[Problem],
    text: str,
    budget: _Budget,
) -> Any:
    doc.value_pos[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
    if budget.in_alias:
        budget.alias_values += 1
        if budget.alias_values > MAX_ALIAS_VALUES:
            _stop(doc, problems, node, _ALIAS_BOMB, at=budget.alias_at)
    if isinstance(node, (yaml.MappingNode, yaml.SequenceNode)):
        if budget.depth >= MAX_DEPTH:
            _stop(doc, problems, node, f"nesting deeper than {MAX_DEPTH} levels")
        alias = id(node) in budget.seen
        if alias and not budget.in_alias:  # an alias node carries its anchor's position: use
            budget.alias_at = doc.value_pos.get(path[:-1])  # the collection that refers to it
        budget.seen.add(id(node))
        budget.depth += 1
        budget.in_alias += alias
        try:
            if isinstance(node, yaml.MappingNode):
                return _mapping(loader, node, path, doc, problems, text, budget)
            return [
                _construct(loader, item, (*path, i), doc, problems, text, budget)
                for i, item in enumerate(node.value)
            ]
        finally:
            budget.depth -= 1
            budget.in_alias -= alias
    if isinstance(node, yaml.ScalarNode):
        if node.style in ("|", ">"):
            doc.block_scalar[path] = _block_indent(text, node)
        if node.tag == _STR_TAG:
            return node.value  # the common case, without the constructor's bookkeeping
    return loader.construct_object(node, deep=True)


def _stop(
    doc: Doc, problems: list[Problem], node: yaml.Node, message: str, *, at: tuple[int, int] | None = None
) -> None:
    line, col = at or (node.start_mark.line + 1, node.start_mark.column + 1)
    problems.append(Problem(doc.path, line, col, message))
    raise _LimitHit


def _mapping(
    loader: Any,
    node: yaml.MappingNode,
    path: PathKey,
    doc: Doc,
    problems: list[Problem],
    text: str,
    budget: _Budget,
) -> dict[Any, Any]:
    out: dict[Any, Any] = {}
    merged: dict[Any, Any] = {}  # from merge keys (<<): explicit keys win, then the first merge
    for key_node, value_node in node.value:
        if key_node.tag == _MERGE_TAG:
            subs = value_node.value if isinstance(value_node, yaml.SequenceNode) else [value_node]
            for sub in subs:
                if not isinstance(sub, yaml.MappingNode):
                    mark = sub.start_mark
                    problems.append(
                        Problem(
                            doc.path,
                            mark.line + 1,
                            mark.column + 1,
                            "a merge key (<<) takes a mapping or a list of mappings",
                        )
                    )
                    continue
                for k, v in _construct(loader, sub, path, doc, problems, text, budget).items():
                    merged.setdefault(k, v)
            doc.value_pos[path] = (node.start_mark.line + 1, node.start_mark.column + 1)
            continue
        if isinstance(key_node, yaml.ScalarNode) and key_node.tag == _STR_TAG:
            key: Any = key_node.value
        else:
            key = loader.construct_object(key_node, deep=True)
        if isinstance(key, (dict, list)):
            problems.append(
                Problem(
                    doc.path,
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                    "mapping keys must be plain scalars",
                )
            )
            continue
        skey = key if isinstance(key, str) else str(key)
        if key in out:
            problems.append(
                Problem(
                    doc.path,
                    key_node.start_mark.line + 1,
                    key_node.start_mark.column + 1,
                    f"duplicate key '{skey}'",
                )
            )
        child = (*path, skey)
        doc.key_pos[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
        out[key] = _construct(loader, value_node, child, doc, problems, text, budget)
    if merged:
        return {**merged, **out}
    return out


# Contexts whose start is where the mistake is: an unclosed ``[``, ``{`` or quote is noticed only
# where the parser runs out (often the end of the file), but the fix belongs where it opens.
_OPENED_HERE = ("flow sequence", "flow mapping", "quoted scalar")


def _yaml_problem(path: str, exc: yaml.MarkedYAMLError) -> Problem:
    mark, ctx_mark = exc.problem_mark, exc.context_mark
    what = exc.problem or "invalid YAML"
    context = exc.context or ""
    if (
        ctx_mark is not None
        and mark is not None
        and any(w in context for w in _OPENED_HERE)
        and (ctx_mark.line, ctx_mark.column) != (mark.line, mark.column)
    ):
        where = f"at line {mark.line + 1}, column {mark.column + 1}"
        message = f"invalid YAML: {what} {where} ({context} that starts here)"
        return Problem(path, ctx_mark.line + 1, ctx_mark.column + 1, message)
    mark = mark or ctx_mark
    line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
    return Problem(path, line, col, f"invalid YAML: {what}" + (f" ({context})" if context else ""))


def decode_problem(path: str, exc: UnicodeDecodeError) -> Problem:
    """A file that is not UTF-8, located at its first bad byte (column in characters)."""
    data = exc.object if isinstance(exc.object, (bytes, bytearray)) else b""
    start = exc.start
    line_start = data.rfind(b"\n", 0, start) + 1
    line = data.count(b"\n", 0, start) + 1
    col = len(bytes(data[line_start:start]).decode("utf-8", "replace")) + 1
    byte = data[start : start + 1].hex() if start < len(data) else "??"
    return Problem(path, line, col, f"not valid UTF-8 (byte 0x{byte}); save the file as UTF-8")


def load_yaml(text: str, path: str) -> tuple[Doc, list[Problem]]:
    """Parse ``text`` safely. Returns the document and any problems (a syntax error leaves data None)."""
    doc = Doc(path=path, data=None)
    problems: list[Problem] = []
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        if node is not None:
            doc.data = _construct(loader, node, (), doc, problems, text, _Budget())
    except _LimitHit:
        doc.data = None
    except yaml.MarkedYAMLError as exc:
        problems.append(_yaml_problem(path, exc))
        doc.data = None
    except yaml.YAMLError as exc:
        problems.append(Problem(path, 1, 1, f"invalid YAML: {exc}"))
        doc.data = None
    finally:
        loader.dispose()
    return doc, problems


@cache
def load_schema(name: str) -> dict[str, Any]:
    """A JSON Schema shipped in ``promptctl/schemas/`` (also usable by editors)."""
    # One joinpath argument: Python 3.10's Traversable takes a single child.
    text = resources.files("promptctl").joinpath(f"schemas/{name}.schema.json").read_text("utf-8")
    data: dict[str, Any] = json.loads(text)
    return data


@cache
def _validator(name: str) -> Any:
    # Our own schemas use a small subset of JSON Schema, checked without importing jsonschema
    # (~0.1 s): see promptctl.suite.schemacheck.
    from promptctl.suite.schemacheck import Checker

    return Checker(load_schema(name))


def _subschema(schema: dict[str, Any], path: list[Any]) -> dict[str, Any]:
    node: Any = schema
    for part in path:
        if not isinstance(node, dict):
            return {}
        node = node.get(part, {})
        if isinstance(node, dict) and "$ref" in node:
            ref = node["$ref"]
            if ref.startswith("#/"):
                node = schema
                for p in ref[2:].split("/"):
                    node = node.get(p, {})
    return node if isinstance(node, dict) else {}


def _type_name(value: Any) -> str:
    return {
        bool: "boolean",
        int: "integer",
        float: "number",
        str: "string",
        list: "list",
        dict: "mapping",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def check_schema(doc: Doc, schema_name: str) -> list[Problem]:
    """Validate ``doc.data`` against a shipped schema; every violation becomes a located problem."""
    return [problem for _path, problem in schema_violations(doc, schema_name)]


def schema_violations(doc: Doc, schema_name: str) -> list[tuple[PathKey, Problem]]:
    """Every violation of a shipped schema with the path of the offending value (an unknown
    key's own path), so a caller can drop exactly what is wrong and keep the rest."""
    validator = _validator(schema_name)
    schema = load_schema(schema_name)
    out: list[tuple[PathKey, Problem]] = []
    for err in validator.iter_errors(doc.data):
        out.extend(_explain(doc, schema, err))
    return out


_BOUND_WORDS = {
    "minimum": "at least",
    "maximum": "at most",
    "exclusiveMinimum": "greater than",
    "exclusiveMaximum": "less than",
}


def _explain(doc: Doc, schema: dict[str, Any], err: Any) -> list[tuple[PathKey, Problem]]:
    path: PathKey = tuple(err.absolute_path)
    where = ".".join(str(p) for p in path) or "document"

    def at(message: str) -> list[tuple[PathKey, Problem]]:
        return [(path, doc.problem(path, f"{where}: {message}"))]

    if err.validator == "additionalProperties" and isinstance(err.instance, dict):
        allowed = sorted(err.schema.get("properties", {}).keys())
        out = []
        for key in err.instance:
            if key not in allowed:
                key_path: PathKey = (*path, str(key))
                message = f"unknown key '{key}'{suggest(str(key), allowed)}"
                out.append((key_path, doc.problem(key_path, message, of_key=True)))
        return out
    if err.validator == "required":
        return at(f"{err.message.replace(' is a required property', '')} is required")
    if err.validator == "type":
        expected = err.validator_value
        expected_s = " or ".join(expected) if isinstance(expected, list) else expected
        expected_s = expected_s.replace("object", "mapping").replace("array", "list")
        return at(f"expected {expected_s}, got {_type_name(err.instance)}")
    if err.validator == "enum":
        choices = [str(c) for c in err.validator_value]
        return at(f"'{err.instance}' is not allowed{suggest(str(err.instance), choices)}")
    if err.validator in _BOUND_WORDS:
        return at(f"must be {_BOUND_WORDS[err.validator]} {err.validator_value:g}, got {err.instance!r}")
    if err.validator in ("oneOf", "anyOf") and err.context:
        # Report the branch that got furthest: the error with the deepest path, then the shortest message.
        best = sorted(err.context, key=lambda e: (-len(e.absolute_path), len(e.message)))[0]
        return _explain(doc, schema, best)
    return at(err.message)
