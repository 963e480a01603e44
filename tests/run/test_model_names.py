"""Model names are checked before any call: an alias, a model litellm's table knows, or an
explicit ``provider/name`` with a provider litellm supports. Anything else is exit 2 with the
close match, located in the file that names it (lint and test alike)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from promptctl.run.plan import model_problem
from promptctl.suite.model import Config, ModelAlias
from tests.fakeserver import FakeServer
from tests.helpers import init_repo, invoke, write_files

KEY = "sk-test-0123456789abcdef0123456789"


def _config() -> Config:
    cfg = Config(root=".")
    cfg.models["fake"] = ModelAlias(name="fake", model="openai/test-model", api_base="http://127.0.0.1:9/v1")
    return cfg


@pytest.mark.parametrize(
    "name",
    [
        "fake",  # an alias
        "gpt-4o-mini",  # litellm's table
        "openai/gpt-4o-mini",  # provider/name of a table entry
        "anthropic/claude-3-5-haiku-20241022",  # not in the table: an explicit provider/name
        "openai/llama3.1",  # any model of an OpenAI-compatible server
        "openrouter/meta-llama/llama-3-8b",  # a provider litellm supports without table entries
        "ollama_chat/llama3",
    ],
)
def test_known_names(name: str) -> None:
    assert model_problem(name, _config()) is None


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("fak", "unknown model 'fak'; did you mean 'fake'?"),
        ("gpt-4o-mnii", "unknown model 'gpt-4o-mnii'; did you mean 'gpt-4o-mini'?"),
        ("opnai/gpt-4o", "unknown provider 'opnai' in 'opnai/gpt-4o'; did you mean 'openai'?"),
        (
            "zzzzzzzz",
            "unknown model 'zzzzzzzz': not an alias in promptctl.yaml, not a model in litellm's table, "
            "and not 'provider/name' with a provider litellm supports",
        ),
    ],
)
def test_unknown_names(name: str, message: str) -> None:
    assert model_problem(name, _config()) == message


def test_an_alias_model_must_be_a_litellm_model_not_an_alias() -> None:
    assert model_problem("fake", _config(), alias_ok=False) is not None


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


def _project(tmp_path: Path, url: str, **override: str) -> Path:
    files = {
        "promptctl.yaml": f"""
            model: fake
            max_retries: 0
            models:
              fake:
                model: openai/test-model
                api_base: {url}
                api_key_env: FAKE_KEY
        """,
        "prompts/echo.yaml": "inputs: {text: {}}\ntemplate: '{{ text }}'\n",
        "cases/echo.yaml": "prompt: echo\ncases:\n  - {id: a, vars: {text: hi}, assert: [not_empty]}\n",
    }
    files.update(override)
    return init_repo(tmp_path / "repo", files)


@pytest.mark.parametrize(
    "argv",
    [
        ["test", "--model", "fak"],
        ["test", "--dry-run", "--model", "fak"],
        ["test", "--model", "fake", "--model", "fak"],
        ["run", "echo", "--var", "text=hi", "--model", "fak"],
    ],
)
def test_a_typo_on_the_command_line_is_exit_2_before_any_call(
    tmp_path: Path, server: FakeServer, monkeypatch: pytest.MonkeyPatch, argv: list[str]
) -> None:
    monkeypatch.setenv("FAKE_KEY", KEY)
    root = _project(tmp_path, server.url)
    result = invoke(*argv, cwd=root)
    assert result.exit_code == 2, result.output
    assert "unknown model 'fak'; did you mean 'fake'?" in result.stderr
    assert server.stats()["requests"] == 0
    assert not (root / ".promptctl" / "runs").exists()


FILE_TYPOS = {
    "prompt-model": (
        {"prompts/echo.yaml": "model: fak\ninputs: {text: {}}\ntemplate: '{{ text }}'\n"},
        "prompts/echo.yaml:1:8: unknown model 'fak'; did you mean 'fake'?",
    ),
    "case-file-models": (
        {
            "cases/echo.yaml": "prompt: echo\nmodels: [fake, gpt-4o-mnii]\ncases:\n  - {id: a, vars: {text: hi}}\n"
        },
        "cases/echo.yaml:2:16: unknown model 'gpt-4o-mnii'; did you mean 'gpt-4o-mini'?",
    ),
    "config-default": (
        {"promptctl.yaml": "model: fak\nmodels:\n  fake: {model: openai/test-model}\n"},
        "promptctl.yaml:1:8: unknown model 'fak'; did you mean 'fake'?",
    ),
    "config-judge-model": (
        {
            "promptctl.yaml": "model: fake\njudge_model: gpt-4o-mnii\nmodels:\n  fake: {model: openai/test-model}\n"
        },
        "promptctl.yaml:2:14: unknown model 'gpt-4o-mnii'; did you mean 'gpt-4o-mini'?",
    ),
    "alias-model": (
        {"promptctl.yaml": "model: fake\nmodels:\n  fake: {model: opnai/test-model}\n"},
        "promptctl.yaml:3:17: unknown provider 'opnai' in 'opnai/test-model'; did you mean 'openai'?",
    ),
    "alias-fallback": (
        {"promptctl.yaml": "model: fake\nmodels:\n  fake: {model: openai/test-model, fallbacks: [fkae]}\n"},
        "promptctl.yaml:3:48: unknown model 'fkae'; did you mean 'fake'?",
    ),
    "judge-assertion": (
        {
            "cases/echo.yaml": "prompt: echo\ncases:\n  - id: a\n    vars: {text: hi}\n    assert:\n"
            "      - {type: judge, rubric: polite, model: fak}\n"
        },
        "cases/echo.yaml:6:9: unknown model 'fak'; did you mean 'fake'?",
    ),
}


@pytest.mark.parametrize("name", sorted(FILE_TYPOS))
def test_a_typo_in_a_file_is_located_by_lint_and_test(tmp_path: Path, server: FakeServer, name: str) -> None:
    files, expected = FILE_TYPOS[name]
    root = _project(tmp_path, server.url, **files)
    for argv in (["lint"], ["test"], ["test", "--dry-run"]):
        result = invoke(*argv, cwd=root)
        assert result.exit_code == 2, (argv, result.output)
        errors = [line for line in result.output.splitlines() if "unknown" in line]
        assert errors == [expected], (argv, result.output)
    assert server.stats()["requests"] == 0


def test_the_example_config_and_local_servers_are_accepted(tmp_path: Path, server: FakeServer) -> None:
    cfg = (
        "model: mini\nmodels:\n  mini: {model: gpt-4o-mini, fallbacks: [haiku]}\n"
        "  haiku: {model: anthropic/claude-3-5-haiku-20241022}\n"
        "  local: {model: openai/llama3.1, api_base: 'http://127.0.0.1:11434/v1'}\n"
    )
    root = _project(tmp_path, server.url, **{"promptctl.yaml": cfg})
    write_files(root, {"prompts/other.yaml": "model: ollama/llama3\ntemplate: hi\n"})
    result = invoke("lint", cwd=root)
    assert result.exit_code == 0, result.output
