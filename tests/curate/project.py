"""A support-reply project on a real throwaway git repository, answered by the loopback server:
the model answers correctly only when a correct example is in the prompt."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.helpers import git, init_repo, invoke

RIGHT = "We will refund within 5 days."
WRONG = "Sorry, we cannot help."
RULES: dict[str, Any] = {
    "mode": "rules",
    "rules": [
        {"match": f"Answer: {RIGHT}", "reply": RIGHT},
        {"match": "Thanks", "reply": "You are welcome!"},
    ],
    "default": WRONG,
}


def files(url: str) -> dict[str, str]:
    return {
        ".gitignore": ".promptctl/\n",
        "promptctl.yaml": f"""
            model: fake
            models:
              fake:
                model: openai/support-bot
                api_base: {url}
        """,
        "prompts/support/reply.yaml": """
            description: Reply to a support email.
            inputs:
              email: {}
            messages:
              - role: system
                content: |
                  You answer customer support emails.
                  {% for ex in examples("support/reply", k=2, select="similar") %}
                  Email: {{ ex.vars.email }}
                  Answer: {{ ex.output }}
                  {% endfor %}
              - role: user
                content: "{{ email }}"
        """,
        "cases/support/reply.yaml": """
            # Support replies: two cases reviewed by a person, one not.
            prompt: support/reply
            cases:
              - id: refund
                description: A refund for a cancelled plan.
                vars: {email: "Please refund my cancelled plan."}
                assert:
                  - type: icontains
                    value: refund within 5 days
                  - type: human
                    metric: helpful
                    kind: numeric
                    min: 1
                    max: 5
                  - type: human
                    metric: tone
                    kind: categorical
                    labels: [friendly, neutral, rude]
              - id: thanks
                vars: {email: "Thanks for the quick help!"}
                assert: [human]
              - id: hours
                vars: {email: "When are you open?"}
                assert: [not_empty]
        """,
        "examples/support/reply.yaml": "examples: []\n",
    }


def make_project(root: Path, url: str) -> Path:
    init_repo(root, files(url))
    git(root, "config", "user.name", "Rita Reviewer")
    git(root, "config", "user.email", "rita@example.invalid")
    return root


def run_test(root: Path, *args: str) -> int:
    return invoke("test", *args, cwd=root).exit_code


def reviews(root: Path, case_file: str = "support/reply.yaml") -> list[dict[str, Any]]:
    path = root / "cases/__reviews__" / case_file
    if not path.exists():
        return []
    data: dict[str, Any] = yaml.safe_load(path.read_text("utf-8"))
    return list(data["reviews"])
