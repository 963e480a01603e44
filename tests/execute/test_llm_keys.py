"""A provider key reaches only its provider: never a custom api_base that did not ask for it, never
a URL from a prompt's or alias's params, never an endpoint from the environment.

Two loopback servers: the provider (a fake OpenAI-compatible server at the configured base) and
an attacker, which logs every request it gets, whatever its path and headers."""

from __future__ import annotations

import asyncio
import http.server
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from promptctl.execute import llm
from promptctl.execute.types import ModelRequest, RetryPolicy, Target
from tests.fakeserver import FakeServer
from tests.helpers import commit_all, git, init_repo, invoke

KEY = "sk-real-openai-key-must-not-leak-000000"
NO_RETRY = RetryPolicy(max_retries=0, timeout=5)


class Attacker:
    """Logs (method, path, headers) of every request and answers 500."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str, dict[str, str]]] = []
        seen = self.seen

        class Handler(http.server.BaseHTTPRequestHandler):
            def _any(self) -> None:
                seen.append((self.command, self.path, {k.lower(): v for k, v in self.headers.items()}))
                length = int(self.headers.get("content-length") or 0)
                if length:
                    self.rfile.read(length)
                self.send_response(500)
                self.send_header("content-length", "0")
                self.end_headers()

            do_GET = do_POST = do_PUT = _any

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def attacker() -> Iterator[Attacker]:
    a = Attacker()
    try:
        yield a
    finally:
        a.close()


@pytest.fixture
def provider() -> Iterator[FakeServer]:
    with FakeServer(spec={"mode": "fixed", "reply": "ok"}) as srv:
        yield srv


def complete(target: Target, **params: object) -> str | None:
    req = ModelRequest(target=target, messages=[{"role": "user", "content": "hi"}], params=dict(params))
    resp = asyncio.run(llm.complete(req, NO_RETRY))
    return resp.error


def test_custom_api_base_without_key_env_gets_a_dummy_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    with FakeServer(spec={"mode": "fixed", "reply": "ok"}) as srv:
        req = ModelRequest(
            target=Target(name="local", model="openai/llama", api_base=srv.url),
            messages=[{"role": "user", "content": "hi"}],
        )
        resp = asyncio.run(llm.complete(req, NO_RETRY))
        assert resp.status == "ok", resp.error
        headers = srv.stats()["auth_headers"]
    assert headers and all(KEY not in h for h in headers)


def test_the_configured_provider_gets_its_key(monkeypatch: pytest.MonkeyPatch, provider: FakeServer) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    target = Target(name="p", model="openai/test-model", api_base=provider.url, api_key_env="OPENAI_API_KEY")
    assert complete(target) is None
    assert provider.stats()["auth_headers"] == [f"Bearer {KEY}"]


@pytest.mark.parametrize("param", ["base_url", "api_base", "api_key", "custom_llm_provider", "model"])
def test_endpoint_params_are_refused_by_the_model_layer(
    monkeypatch: pytest.MonkeyPatch, provider: FakeServer, attacker: Attacker, param: str
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    target = Target(name="p", model="openai/test-model", api_base=provider.url, api_key_env="OPENAI_API_KEY")
    value = {"base_url": attacker.url, "api_base": attacker.url, "model": "openai/x"}.get(param, "x")
    error = complete(target, **{param: value})
    assert error is not None and param in error and "not allowed" in error
    assert attacker.seen == [] and provider.stats()["requests"] == 0


@pytest.mark.parametrize("variable", ["OPENAI_BASE_URL", "OPENAI_API_BASE"])
def test_an_endpoint_in_the_environment_is_not_used(
    monkeypatch: pytest.MonkeyPatch, attacker: Attacker, variable: str
) -> None:
    """Without api_base the call goes to the provider's own endpoint (here: refused by the tests'
    network guard, so it fails), never to a URL from the environment."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv(variable, attacker.url + "/v1")
    error = complete(Target(name="gpt-4o-mini", model="gpt-4o-mini"))
    assert error is not None
    assert attacker.seen == []


def test_anthropic_endpoint_in_the_environment_is_not_used(
    monkeypatch: pytest.MonkeyPatch, attacker: Attacker
) -> None:
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    monkeypatch.setenv("ANTHROPIC_API_BASE", attacker.url)
    monkeypatch.setenv("ANTHROPIC_BASE_URL", attacker.url)
    error = complete(Target(name="haiku", model="anthropic/claude-3-5-haiku-20241022"))
    assert error is not None
    assert attacker.seen == []


# -- through the command line -----------------------------------------------------------------------
def project(provider_url: str, *, prompt_params: str = "", alias_params: str = "") -> dict[str, str]:
    return {
        "promptctl.yaml": f"""
            model: prov
            max_retries: 0
            models:
              prov:
                model: openai/test-model
                api_base: {provider_url}
                api_key_env: OPENAI_API_KEY
                {alias_params}
        """,
        "prompts/greet.yaml": f"""
            inputs:
              name: {{}}
            {prompt_params}
            template: "Say hello to {{{{ name }}}}."
        """,
        "cases/greet.yaml": """
            prompt: greet
            cases:
              - id: alice
                vars: {name: Alice}
                assert: [not_empty]
        """,
    }


def test_base_url_in_a_prompts_params_is_a_located_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: FakeServer, attacker: Attacker
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    root = init_repo(
        tmp_path / "repo", project(provider.url, prompt_params=f"params: {{base_url: {attacker.url}}}")
    )
    r = invoke("test", "--live", cwd=root)
    assert r.exit_code == 2, r.output
    assert "prompts/greet.yaml:3:10: params.base_url: " in r.stderr, r.stderr
    assert "api_base" in r.stderr and "Traceback" not in r.output
    assert attacker.seen == [] and provider.stats()["requests"] == 0


def test_base_url_in_an_aliases_params_is_a_located_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: FakeServer, attacker: Attacker
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    files = project(provider.url, alias_params=f"params: {{temperature: 0, base_url: {attacker.url}}}")
    root = init_repo(tmp_path / "repo", files)
    r = invoke("test", "--live", cwd=root)
    assert r.exit_code == 2, r.output
    assert "promptctl.yaml:8:30: models.prov.params.base_url: " in r.stderr, r.stderr
    assert attacker.seen == [] and provider.stats()["requests"] == 0


def test_a_compared_revision_that_sets_base_url_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: FakeServer, attacker: Attacker
) -> None:
    """Only the ref being compared sets it: the worktree is clean."""
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    root = init_repo(tmp_path / "repo", project(provider.url))
    git(root, "checkout", "-q", "-b", "evil")
    (root / "prompts/greet.yaml").write_text(
        f"inputs:\n  name: {{}}\nparams: {{base_url: {attacker.url}}}\ntemplate: 'Say hello to {{{{ name }}}}.'\n"
    )
    commit_all(root, "evil")
    git(root, "checkout", "-q", "main")
    r = invoke("compare", "main", "evil", cwd=root)
    assert r.exit_code == 2, r.output
    assert "params.base_url" in r.stderr
    assert attacker.seen == []


def test_litellm_never_loads_a_dotenv_of_its_own(tmp_path: Path, attacker: Attacker) -> None:
    """litellm's import runs python-dotenv's load_dotenv(), which (in `python -c`, as in a model
    worker) reads the .env of the working directory, every variable in it."""
    (tmp_path / ".env").write_text(f"OPENAI_BASE_URL={attacker.url}\nPROMPTCTL_T_LEAK=yes\n")
    code = (
        "import os; from promptctl.execute import llm; llm.ensure_litellm(); "
        "print(os.environ.get('PROMPTCTL_T_LEAK'), os.environ.get('OPENAI_BASE_URL'))"
    )
    env = {
        k: v for k, v in __import__("os").environ.items() if k not in ("OPENAI_BASE_URL", "PROMPTCTL_T_LEAK")
    }
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["None", "None"]


# -- a revision's config that moves a key elsewhere ---------------------------------------------------
def evil_branch(root: Path, config: str) -> None:
    git(root, "checkout", "-q", "-b", "evil")
    (root / "promptctl.yaml").write_text(config)
    (root / "cases/greet.yaml").write_text(
        "prompt: greet\ncases:\n  - id: alice\n    vars: {name: Alicia}\n    assert: [not_empty]\n"
    )
    commit_all(root, "evil")
    git(root, "checkout", "-q", "main")


def evil_config(api_base: str, key_env: str = "OPENAI_API_KEY") -> str:
    return (
        "model: prov\nmax_retries: 0\nmodels:\n  prov:\n    model: openai/test-model\n"
        f"    api_base: {api_base}\n    api_key_env: {key_env}\n"
    )


def test_a_revision_that_moves_an_endpoint_gets_no_live_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: FakeServer, attacker: Attacker
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    root = init_repo(tmp_path / "repo", project(provider.url))
    evil_branch(root, evil_config(attacker.url + "/v1"))
    change = f"alias 'prov': api_base {provider.url} → {attacker.url}/v1"
    for args in (("test", "--ref", "evil"), ("compare", "main", "evil")):
        r = invoke(*args, cwd=root)
        assert r.exit_code == 2, r.output
        assert "refusing live model calls for 'evil'" in r.stderr and change in r.stderr, r.stderr
        assert "--trust-ref-config" in r.stderr and "Traceback" not in r.output
    assert attacker.seen == []
    # The user who has read the change and trusts it says so.
    r = invoke("test", "--ref", "evil", "--trust-ref-config", cwd=root)
    assert r.exit_code == 3, r.output  # the "attacker" answers 500
    assert attacker.seen and attacker.seen[0][2].get("authorization") == f"Bearer {KEY}"
    r = invoke("compare", "main", "evil", "--trust-ref-config", "--rerun", cwd=root)
    assert "refusing" not in r.output, r.output


def test_a_revision_that_changes_the_key_variable_gets_no_live_call(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: FakeServer
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    monkeypatch.setenv("DEPLOY_TOKEN", "deploy-token-value")
    root = init_repo(tmp_path / "repo", project(provider.url))
    evil_branch(root, evil_config(provider.url, key_env="DEPLOY_TOKEN"))
    r = invoke("test", "--ref", "evil", cwd=root)
    assert r.exit_code == 2, r.output
    assert "alias 'prov': api_key_env OPENAI_API_KEY → DEPLOY_TOKEN" in r.stderr, r.stderr
    assert provider.stats()["requests"] == 0


def test_a_revision_with_the_worktrees_endpoints_runs_live(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, provider: FakeServer
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    root = init_repo(tmp_path / "repo", project(provider.url))
    evil_branch(root, evil_config(provider.url) + "concurrency: 2\n")  # other settings may change
    r = invoke("test", "--ref", "evil", cwd=root)
    assert r.exit_code == 0, r.output
    assert provider.stats()["requests"] == 1
