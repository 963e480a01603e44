"""promptctl.yaml discovery, .env loading, aliases and what a record may contain."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from promptctl.errors import InputError
from promptctl.suite.config import find_root, load_config
from tests.helpers import MINIMAL, init_repo, invoke, write_files


def test_config_found_walking_up_from_a_subdirectory(tmp_path: Path) -> None:
    write_files(tmp_path, MINIMAL)
    sub = tmp_path / "cases" / "deep"
    sub.mkdir(parents=True)
    root, path = find_root(sub)
    assert root == tmp_path and path == tmp_path / "promptctl.yaml"
    result = invoke("list", "--json", cwd=sub)
    assert result.exit_code == 0 and json.loads(result.stdout)[0]["name"] == "greet"


def test_defaults_without_config_use_git_root(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "x").mkdir()
    cfg = load_config(tmp_path / "x")
    assert Path(cfg.root) == tmp_path and cfg.path is None and cfg.prompts_dir == "prompts"


def test_dotenv_loaded_without_overriding(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write_files(
        tmp_path,
        {
            **MINIMAL,
            ".env": "# keys\nPROMPTCTL_T_A=from-file\nexport PROMPTCTL_T_B='quoted value'\n"
            "PROMPTCTL_T_C=keep # comment\n",
        },
    )
    monkeypatch.setenv("PROMPTCTL_T_A", "from-env")
    monkeypatch.delenv("PROMPTCTL_T_B", raising=False)
    monkeypatch.delenv("PROMPTCTL_T_C", raising=False)
    load_config(tmp_path)
    assert os.environ["PROMPTCTL_T_A"] == "from-env"
    assert os.environ["PROMPTCTL_T_B"] == "quoted value"
    assert os.environ["PROMPTCTL_T_C"] == "keep"


def test_aliases_and_public_dict_has_no_secret(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY", "sk-supersecret-value-123456")
    write_files(
        tmp_path,
        {
            "promptctl.yaml": """
        model: fast
        models:
          fast:
            model: openai/gpt-4o-mini
            api_base: http://127.0.0.1:1/v1
            api_key_env: MY_KEY
            fallbacks: [slow]
            params: {temperature: 0}
            rpm: 60
          slow: {model: openai/gpt-4o}
    """
        },
    )
    cfg = load_config(tmp_path)
    assert cfg.models["fast"].fallbacks == ["slow"] and cfg.models["fast"].rpm == 60
    dumped = json.dumps(cfg.public_dict())
    assert "MY_KEY" in dumped and "sk-supersecret" not in dumped


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("models:\n  a: {model: x, fallbacks: [a]}\n", "lists itself as a fallback"),
        ("prompts_dir: ../elsewhere\n", "must be a path inside the project"),
        ("concurrency: 0\n", "concurrency"),
        ("gate: {correction: bonferroni}\n", "'bonferroni' is not allowed"),
        ("models:\n  a: {model: x, price: {input: cheap, output: 1}}\n", "price.input"),
        ("models:\n  a: {model: x, price: {input: 1}}\n", "output"),
        ("models:\n  a: {model: x, price: {input: 1, output: 2, inptu: 3}}\n", "inptu"),
    ],
)
def test_bad_config_is_located(tmp_path: Path, text: str, fragment: str) -> None:
    write_files(tmp_path, {"promptctl.yaml": text})
    cfg = load_config(tmp_path)  # the problems travel with the config, reported with the suite's
    rendered = InputError(cfg.problems).render()
    assert rendered.startswith("promptctl.yaml:") and fragment in rendered


# -- .env: only the variables promptctl uses ----------------------------------------------------------
DOTENV = """\
OPENAI_API_KEY=sk-from-dotenv
LOCAL_LLM_SECRET=local-from-dotenv
PROMPTCTL_T_FLAG=1
GIT_CONFIG_COUNT=1
export OPENAI_BASE_URL=http://127.0.0.1:9/v1
HTTPS_PROXY=http://127.0.0.1:9
PATH=/nowhere
"""
IGNORED = ("GIT_CONFIG_COUNT", "OPENAI_BASE_URL", "HTTPS_PROXY")


def test_dotenv_sets_only_provider_keys_api_key_env_names_and_promptctl_variables(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = "models:\n  local: {model: openai/x, api_base: 'http://127.0.0.1:1/v1', api_key_env: LOCAL_LLM_SECRET}\n"
    write_files(tmp_path, {"promptctl.yaml": config, ".env": DOTENV})
    for name in ("LOCAL_LLM_SECRET", *IGNORED):  # restored after the test, whatever happens
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    path_before = os.environ["PATH"]
    cfg = load_config(tmp_path)
    assert os.environ["OPENAI_API_KEY"] == "sk-from-dotenv"
    assert os.environ["LOCAL_LLM_SECRET"] == "local-from-dotenv"
    assert os.environ["PROMPTCTL_T_FLAG"] == "1"
    assert all(name not in os.environ for name in IGNORED) and os.environ["PATH"] == path_before
    assert [p.format() for p in cfg.problems] == [
        f".env:{line}:1: warning: {name} is not a variable promptctl uses (provider keys, the "
        "api_key_env names of promptctl.yaml, PROMPTCTL_*): ignored"
        for line, name in ((4, "GIT_CONFIG_COUNT"), (5, "OPENAI_BASE_URL"), (6, "HTTPS_PROXY"), (7, "PATH"))
    ]


def test_dotenv_key_names_come_from_the_worktree_config_not_a_revisions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_files(tmp_path, {"promptctl.yaml": "model: openai/x\n", ".env": "DEPLOY_SECRET=s3cr3t-value\n"})
    monkeypatch.setenv("DEPLOY_SECRET", "")
    monkeypatch.delenv("DEPLOY_SECRET")
    other = "models:\n  m: {model: openai/x, api_base: 'http://127.0.0.1:1', api_key_env: DEPLOY_SECRET}\n"
    cfg = load_config(tmp_path, text_override=other)
    assert cfg.models["m"].api_key_env == "DEPLOY_SECRET"
    assert "DEPLOY_SECRET" not in os.environ


def test_an_endpoint_variable_in_the_environment_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_files(tmp_path, MINIMAL)
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    r = invoke("list", cwd=tmp_path)
    assert r.exit_code == 0, r.output
    assert (
        "warning: OPENAI_BASE_URL is set in the environment: ignored (endpoints come only from "
        "`api_base` in promptctl.yaml)" in r.stderr
    )


def test_a_committed_dotenv_cannot_configure_git(tmp_path: Path) -> None:
    """The attack: GIT_CONFIG_* in a committed .env made every git command promptctl ran execute
    core.fsmonitor, a shell command of the attacker's choosing."""
    marker = tmp_path / "PWNED"
    files = {
        **MINIMAL,
        ".env": f"GIT_CONFIG_COUNT=1\nGIT_CONFIG_KEY_0=core.fsmonitor\nGIT_CONFIG_VALUE_0=touch {marker}; false\n",
    }
    root = init_repo(tmp_path / "repo", files)
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_CONFIG_") or k == "GIT_CONFIG_GLOBAL"}
    r = subprocess.run(
        [sys.executable, "-m", "promptctl", "test", "--offline"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 3, r.stdout + r.stderr  # the case has no recording: an error row, as expected
    assert not marker.exists()
    assert ".env:1:1: warning: GIT_CONFIG_COUNT is not a variable promptctl uses" in r.stderr
    assert list((root / ".promptctl/runs").rglob("*.json")), "the run was recorded (git was used)"


def test_an_alias_price_is_read_and_resolved_per_token(tmp_path: Path) -> None:
    from promptctl.execute.model_catalog import Prices
    from promptctl.run.plan import resolve_target

    write_files(
        tmp_path,
        {
            "promptctl.yaml": "models:\n  mine:\n    model: openai/x\n    price: {input: 0.5, output: 2, cached_input: 0.25}\n"
        },
    )
    cfg = load_config(tmp_path)
    assert cfg.models["mine"].price == {"input": 0.5, "output": 2.0, "cached_input": 0.25}
    assert cfg.public_dict()["models"]["mine"]["price"] == {"input": 0.5, "output": 2.0, "cached_input": 0.25}
    target, _ = resolve_target("mine", cfg)
    assert target.price == Prices(0.5e-6, 2e-6, 0.25e-6)


def test_a_bad_setting_falls_back_to_its_default_and_keeps_the_rest(tmp_path: Path) -> None:
    text = (
        "concurrency: many\ntimeout: 9\ngate: {alpha: 2, score_tolerance: 0.2}\n"
        "models:\n  fast: {model: openai/x, params: {temperature: hot, seed: 1}}\n  broken: {api_base: x}\n"
    )
    write_files(tmp_path, {"promptctl.yaml": text})
    cfg = load_config(tmp_path)
    assert [p.format() for p in cfg.problems] == [
        "promptctl.yaml:1:14: concurrency: expected integer, got string",
        "promptctl.yaml:3:15: gate.alpha: must be less than 1, got 2",
        "promptctl.yaml:5:49: models.fast.params.temperature: expected number, got string",
        "promptctl.yaml:6:11: models.broken: 'model' is required",
    ]
    assert cfg.concurrency == 8 and cfg.timeout == 9.0
    assert cfg.gate.alpha == 0.05 and cfg.gate.score_tolerance == 0.2
    assert cfg.models["fast"].params == {"seed": 1}
    assert "broken" not in cfg.models and cfg.broken_aliases == {"broken"}


def test_a_config_that_does_not_parse_gives_defaults_and_its_problem(tmp_path: Path) -> None:
    write_files(tmp_path, {"promptctl.yaml": "model: [unclosed\n"})
    cfg = load_config(tmp_path)
    assert [p.format()[:25] for p in cfg.problems] == ["promptctl.yaml:1:8: inval"]
    assert cfg.model == "gpt-4o-mini"


# -- redact: --------------------------------------------------------------------------------------------
def test_redact_section_is_read_and_installs_the_redaction(tmp_path: Path) -> None:
    from promptctl import redact, secrets
    from promptctl.redact import Policy

    write_files(
        tmp_path,
        {
            "promptctl.yaml": """
        model: openai/test-model
        redact:
          types: [email, phone]
          region: [gb, US]
          allow: [help@acme.example]
          inputs: true
    """
        },
    )
    cfg = load_config(tmp_path)
    assert cfg.problems == []
    assert cfg.redact == Policy(
        types=("email", "phone"), regions=("GB", "US"), allow=("help@acme.example",), inputs=True
    )
    assert cfg.public_dict()["redact"] == {
        "types": ["email", "phone"],
        "region": ["GB", "US"],
        "inputs": True,
    }
    assert redact.active() is not None and redact.active().policy == cfg.redact  # type: ignore[union-attr]
    assert (
        secrets.mask("a@b.example, help@acme.example, 020 7946 0958")
        == "<EMAIL_1>, help@acme.example, <PHONE_1>"
    )
    write_files(tmp_path, {"promptctl.yaml": "model: openai/test-model\nredact: {}\n"})
    assert load_config(tmp_path).redact == Policy()  # every kind, region US, nothing allowed, outputs only
    write_files(tmp_path, {"promptctl.yaml": "model: openai/test-model\n"})
    assert load_config(tmp_path).redact is None and redact.active() is None  # gone with the section


@pytest.mark.parametrize(
    ("text", "position", "fragment"),
    [
        (
            "redact:\n  types: [email, ssn]\n",
            "promptctl.yaml:2:",
            "promptctl.yaml:2:18: redact.types.1: 'ssn' is not allowed",
        ),
        ("redact:\n  region: [US, XX]\n", "promptctl.yaml:2:", "unknown region 'XX'"),
        ("redact:\n  region: XX\n", "promptctl.yaml:2:", "unknown region 'XX'"),
        ("redact:\n  inputs: yes please\n", "promptctl.yaml:2:", "inputs"),
        ("redact:\n  typos: [email]\n", "promptctl.yaml:2:", "typos"),
    ],
)
def test_a_bad_redact_section_is_located(tmp_path: Path, text: str, position: str, fragment: str) -> None:
    write_files(tmp_path, {"promptctl.yaml": text})
    rendered = InputError(load_config(tmp_path).problems).render()
    assert rendered.startswith(position) and fragment in rendered, rendered
