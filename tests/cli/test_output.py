"""Terminal control characters in what users' files and models produce (case ids, outputs,
reasons) are shown visibly and never reach the terminal raw: an ESC sequence cannot recolour,
move the cursor or retitle the terminal, and rich markup in a case id is text."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from promptctl.cli import output
from tests.fakeserver import FakeServer
from tests.helpers import init_repo, invoke

KEY = "sk-test-0123456789abcdef0123456789"
RAW = ("\x1b", "\x9b", "\x07", "\r", "\u202e")


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("\x1b[31mred\x1b[0m", "\\x1b[31mred\\x1b[0m"),
        ("bell\x07 cr\r del\x7f csi\x9b", "bell\\x07 cr\\r del\\x7f csi\\x9b"),
        ("rtl \u202eevil\u202c", "rtl \\u202eevil\\u202c"),
        ("tab\tline\nnext", "tab\\tline\\nnext"),
        ("café ✓ 漢字", "café ✓ 漢字"),
    ],
)
def test_visible_escapes_control_characters_only(text: str, shown: str) -> None:
    assert output.visible(text) == shown


def test_visible_can_keep_newlines_and_tabs() -> None:
    assert output.visible("a\tb\nc\x1b[2J\r", keep_lines=True) == "a\tb\nc\\x1b[2J\\r"


def test_streamed_text_is_escaped_on_a_terminal_only(monkeypatch: pytest.MonkeyPatch) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    tty = Tty()
    monkeypatch.setattr("sys.stdout", tty)
    output.write_content("line 1\n\x1b]0;pwned\x07line 2\t!")
    assert tty.getvalue() == "line 1\n\\x1b]0;pwned\\x07line 2\t!"
    piped = io.StringIO()
    monkeypatch.setattr("sys.stdout", piped)
    output.write_content("raw \x1b[1m bytes")  # a pipe or file gets the model's text as it is
    assert piped.getvalue() == "raw \x1b[1m bytes"


def test_rich_table_shows_escapes_and_markup_as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.StringIO()
    monkeypatch.setattr(output, "is_tty", lambda: True)
    monkeypatch.setitem(output._consoles, False, Console(file=buf, color_system=None, width=200))
    output.table(["CASE", "OUTPUT"], [["[bold]id[/bold]", "x\x1b[31my"]])
    text = buf.getvalue()
    assert "[bold]id[/bold]" in text and "x\\x1b[31my" in text
    assert not any(c in text for c in RAW)


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


def test_case_ids_outputs_and_reasons_are_shown_visibly(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_KEY", KEY)
    root = init_repo(
        tmp_path / "repo",
        {
            "promptctl.yaml": f"model: fake\nmodels:\n  fake: {{model: openai/test-model, api_base: '{server.url}', "
            "api_key_env: FAKE_KEY}\n",
            "prompts/echo.yaml": "inputs: {text: {}}\ntemplate: '{{ text }}'\n",
            "cases/echo.yaml": 'prompt: echo\ncases:\n  - id: "evil\\e[31m"\n'
            '    vars: {text: "out\\e]0;title\\a\\e[2Jput"}\n'
            '    assert: [{type: equals, value: "x\\e[5m"}]\n',
        },
    )
    result = invoke("test", "-v", cwd=root)
    assert result.exit_code == 1, result.output
    assert not any(c in result.stdout + result.stderr for c in RAW), repr(result.output)
    assert "evil\\x1b[31m" in result.stdout  # -v listing and the failures table
    assert result.stdout.count("evil\\x1b[31m") >= 2
    assert "out\\x1b]0;title\\x07\\x1b[2Jput" in result.stdout  # the output column
    shown = invoke("show", "--format", "json", cwd=root)  # a pipe: JSON keeps the data exact
    assert json.loads(shown.stdout)["rows"][0]["case"] == "evil\x1b[31m"


def test_an_error_message_naming_user_input_is_escaped(tmp_path: Path) -> None:
    init_repo(tmp_path / "repo", {"promptctl.yaml": "model: gpt-4o-mini\n"})
    result = invoke("render", "evil\x1b[2J", cwd=tmp_path / "repo")
    assert result.exit_code == 2
    assert "unknown prompt 'evil\\x1b[2J'" in result.stderr and "\x1b" not in result.stderr


def test_json_output_escapes_what_json_leaves_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    buf = io.StringIO()
    monkeypatch.setattr("sys.stdout", buf)
    data = [{"case": "a\x1b[31m\x9b\u202e", "n": 1}]
    output.print_json(data)
    text = buf.getvalue()
    assert json.loads(text) == data  # the same value, pretty-printed
    assert "\n  {" in text and not any(c in text for c in RAW)
