"""A throwaway project for the runtime tests: prompts with a partial, model aliases pointing at the
loopback test server, in a real git repository."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.helpers import commit_all, init_repo, write_files

KEY_ENV = "FAKE_KEY"
KEY = "sk-runtime-test-0123456789abcdef0123"


def config(url: str, extra: str = "") -> str:
    return f"""
        model: fake
        max_retries: 2
        retry_max_wait: 0.2
        timeout: 5
        models:
          fake:
            model: openai/gpt-4o-mini
            api_base: {url}
            api_key_env: {KEY_ENV}
            params: {{temperature: 0}}
          broken:
            model: openai/broken-model
            api_base: {url}
            api_key_env: {KEY_ENV}
            fallbacks: [fake]
        {extra}
    """


PROMPTS = {
    "prompts/_partials/style.j2": "Answer in one short sentence.",
    "prompts/support/reply.yaml": """
        description: Answer a customer.
        inputs:
          name: {}
          question: {}
          product: {default: Acme Cloud}
        params: {max_tokens: 50}
        tags: [support]
        output: {format: text}
        messages:
          - role: system
            content: "You support {{ product }}. {% include '_partials/style.j2' %}"
          - role: user
            content: "{{ name }} asks: {{ question }}"
    """,
    "prompts/greet.yaml": """
        inputs: {name: {}}
        template: "Hello {{ name }}!"
    """,
    "cases/greet.yaml": """
        prompt: greet
        cases:
          - id: ada
            vars: {name: Ada}
            assert: [not_empty]
    """,
}


def make_project(root: Path, url: str, extra_config: str = "") -> Path:
    """A repository with one commit holding the prompts above and a config for ``url``."""
    return init_repo(root, {"promptctl.yaml": config(url, extra_config), **PROMPTS}, message="prompts v1")


def edit(root: Path, files: dict[str, str], message: str) -> str:
    write_files(root, files)
    return commit_all(root, message)


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout
