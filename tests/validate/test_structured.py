from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.validate.util import A, errors, fails, passes

FENCED = '\n```json\n{"a": 1}\n```\n'


def test_is_json() -> None:
    passes(A("is_json"), '{"a": [1, 2]}')
    passes(A("is_json"), "  [1, 2]\n")
    passes(A("is_json"), '"just a string"')
    r = fails(A("is_json"), '{"a": 1} Hope this helps!')
    assert "text follows" in r.reason and "Hope this helps" in r.reason
    r = fails(A("is_json"), '{"a": 1,}')
    assert "invalid JSON at line 1" in r.reason
    fails(A("is_json"), "")
    fails(A("is_json"), "   ")
    fails(A("is_json"), '{"x": NaN}')


def test_is_json_fence() -> None:
    r = fails(A("is_json"), FENCED)
    assert "allow_fence" in r.reason
    passes(A("is_json", allow_fence=True), FENCED)
    passes(A("is_json", allow_fence=True), '```\n{"a": 1}\n```')
    passes(A("is_json", allow_fence=True), '{"a": 1}')  # a fence is allowed, not required
    fails(A("is_json", allow_fence=True), 'Here it is:\n```json\n{"a": 1}\n```')
    fails(A("is_json", allow_fence=True), '```json\n{"a": 1}\n```\nmore text')
    fails(A("is_json", allow_fence=True), '```json\n{"a": 1}\n```\n```json\n{"b": 2}\n```')
    passes(A("is_json", transform=["extract_json_fence"]), 'Here it is:\n```json\n{"a": 1}\n```')


def test_the_fence_hint_only_when_allow_fence_would_accept_the_output() -> None:
    # a fenced block whose body is not JSON either: allow_fence would not help, so no hint
    for output in ('```json\n{"a": 1,\n```', "```python\ndef f(:\n```", '```json\n{"a": 1}', "```\n\n```"):
        assert "allow_fence" not in fails(A("is_json"), output).reason, output
    assert "allow_fence" not in fails(A("is_python"), "```python\ndef f(:\n    pass\n```").reason
    assert "allow_fence" not in fails(A("is_python"), "```python\ndef f(x):\n    return").reason


ITEMS_SCHEMA = {
    "type": "object",
    "required": ["items"],
    "properties": {
        "items": {
            "type": "array",
            "items": {"type": "object", "properties": {"price": {"type": "number"}}},
        }
    },
}


def test_json_schema_inline_names_path() -> None:
    good = json.dumps({"items": [{"price": 1}, {"price": 2.5}]})
    passes(A("json_schema", ITEMS_SCHEMA), good)
    bad = json.dumps({"items": [{"price": 1}, {"price": 2}, {"price": "abc"}]})
    r = fails(A("json_schema", ITEMS_SCHEMA), bad)
    assert r.reason == "$.items[2].price: 'abc' is not of type 'number'"
    r = fails(A("json_schema", ITEMS_SCHEMA), "{}")
    assert r.reason.startswith("$: 'items' is a required property")
    r = fails(A("json_schema", ITEMS_SCHEMA), "not json")
    assert "invalid JSON" in r.reason


def test_json_schema_default_from_prompt_and_fence() -> None:
    passes(A("json_schema", allow_fence=True), '```json\n{"items": []}\n```', output_schema=ITEMS_SCHEMA)
    fails(A("json_schema"), '```json\n{"items": []}\n```', output_schema=ITEMS_SCHEMA)
    r = errors(A("json_schema"), '{"items": []}')
    assert "no schema" in r.reason


def test_json_schema_file(tmp_path: Path) -> None:
    (tmp_path / "schemas").mkdir()
    (tmp_path / "schemas" / "items.json").write_text(json.dumps(ITEMS_SCHEMA))
    (tmp_path / "schemas" / "items.yaml").write_text("type: object\nrequired: [items]\n")
    passes(A("json_schema", "schemas/items.json"), '{"items": []}', root=str(tmp_path))
    passes(A("json_schema", "schemas/items.yaml"), '{"items": 1}', root=str(tmp_path))
    fails(A("json_schema", "schemas/items.yaml"), '{"x": 1}', root=str(tmp_path))
    r = errors(A("json_schema", "schemas/missing.json"), "{}", root=str(tmp_path))
    assert "cannot read schema file 'schemas/missing.json'" in r.reason
    r = errors(A("json_schema", "../outside.json"), "{}", root=str(tmp_path))
    assert "inside" in r.reason


def test_json_schema_invalid_schema_is_error() -> None:
    r = errors(A("json_schema", {"type": "nonsense"}), "{}")
    assert "invalid JSON schema" in r.reason


HARMFUL = [
    'import os; os.system("touch {marker}")',
    "open({marker!r}, 'w').write('pwned')",
    "__import__('pathlib').Path({marker!r}).touch()",
]


@pytest.mark.parametrize("template", HARMFUL)
def test_is_python_never_runs_code(tmp_path: Path, template: str) -> None:
    marker = str(tmp_path / "PWNED_x")
    passes(A("is_python"), template.format(marker=marker))
    if "os.system" not in template:
        passes(A("is_python", mode="eval"), template.format(marker=marker).split(";")[-1])
    assert not os.path.exists(marker)


def test_is_python_syntax_error_position() -> None:
    r = fails(A("is_python"), "def f(:\n    pass\n")
    assert r.reason.startswith("invalid Python at line 1:7")
    r = fails(A("is_python"), "x = 1\nif x\n    y = 2\n")
    assert "line 2:" in r.reason
    fails(A("is_python"), "")
    fails(A("is_python"), "  \n")
    fails(A("is_python"), "a = \x00")


def test_is_python_modes_and_fence() -> None:
    passes(A("is_python", mode="eval"), "sum(x * 2 for x in range(3))")
    fails(A("is_python", mode="eval"), "x = 1")
    code = "```python\ndef f(x):\n    return x + 1\n```"
    r = fails(A("is_python"), code)
    assert "allow_fence" in r.reason
    passes(A("is_python", allow_fence=True), code)
    passes(A("is_python", allow_fence=True), "```py\nprint(1)\n```\n")
    passes(A("is_python", transform=["extract_code_fence"]), "Here:\n" + code + "\nThanks")


def test_json_schema_file_through_a_symlink_outside_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    (root / "schemas").mkdir(parents=True)
    host = tmp_path / "host.json"
    host.write_text(json.dumps({"type": "string", "description": "TOP-SECRET"}))
    (root / "schemas/link.json").symlink_to(host)
    (root / "hostdir").symlink_to(tmp_path, target_is_directory=True)
    for path in ("schemas/link.json", "hostdir/host.json"):
        r = errors(A("json_schema", path), '"a string"', root=str(root))
        assert "outside the repository" in r.reason and "TOP-SECRET" not in r.reason, r.reason
    (root / ".git").mkdir()
    (root / ".git/s.json").write_text("{}")
    r = errors(A("json_schema", ".git/s.json"), "{}", root=str(root))
    assert "must be relative to the repository root and stay inside it" in r.reason


class _SchemaServer:
    """Serves one JSON schema over loopback HTTP and counts the requests."""

    def __init__(self) -> None:
        import http.server
        import threading

        self.hits = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                owner.hits += 1
                body = b'{"type": "string"}'
                self.send_response(200)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/s.json"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def test_json_schema_ref_never_fetches_a_url_or_a_file(tmp_path: Path) -> None:
    host = tmp_path / "host.json"
    host.write_text('{"type": "string"}')
    server = _SchemaServer()
    try:
        for ref in (server.url, host.as_uri(), "host.json"):
            r = errors(A("json_schema", {"$ref": ref}), "5")
            assert "$ref" in r.reason and "only refs inside the schema" in r.reason, r.reason
        assert server.hits == 0
    finally:
        server.close()
    # Refs inside the same schema still resolve.
    schema = {"$defs": {"s": {"type": "string"}}, "properties": {"a": {"$ref": "#/$defs/s"}}}
    passes(A("json_schema", schema), '{"a": "x"}')
    r = fails(A("json_schema", schema), '{"a": 5}')
    assert "$.a" in r.reason


def test_json_schema_yaml_file_with_an_alias_bomb_is_an_error_at_once(tmp_path: Path) -> None:
    import time

    bomb = "x0: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n" + "".join(
        f"x{i}: &{n} [{', '.join([f'*{p}'] * 9)}]\n"
        for i, (p, n) in enumerate(zip("abcdefgh", "bcdefghi", strict=True), 1)
    )
    (tmp_path / "s.yaml").write_text(bomb)
    started = time.perf_counter()
    r = errors(A("json_schema", "s.yaml"), "{}", root=str(tmp_path))
    assert time.perf_counter() - started < 2
    assert "alias bomb" in r.reason and "s.yaml:" in r.reason, r.reason
