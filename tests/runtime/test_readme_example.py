"""The example application in the README ("Using prompts from an application"), run as written:
from a clone whose label came through push/pull, then from a bundle exported from that label, with
no repository at all. Its calls go through litellm to the loopback test server and leave a trace
that names the exact prompt version."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import promptctl
from tests.fakeserver import FakeServer
from tests.helpers import commit_all, git, init_repo, invoke

ROOT = Path(__file__).resolve().parents[2]
KEY = "sk-readme-example-0123456789abcdef"


def readme_example() -> str:
    text = (ROOT / "README.md").read_text("utf-8")
    section = text.split("\n## Using prompts from an application\n", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the section has no python example"
    return match.group(1)


def test_the_example_is_a_dozen_lines() -> None:
    code = [ln for ln in readme_example().splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(code) <= 12, code


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(spec={"mode": "echo"}) as srv:
        yield srv


def run_example(tmp_path: Path, root: Path, traces: Path) -> list[str]:
    script = tmp_path / "app.py"
    script.write_text(readme_example())
    env = {**os.environ, "PROMPTCTL_ROOT": str(root), "PROMPTCTL_TRACES": str(traces), "FAKE_KEY": KEY}
    out = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert KEY not in out.stdout + out.stderr
    return out.stdout.splitlines()


def test_the_readme_example_runs_from_a_clone_and_from_a_bundle(tmp_path: Path, server: FakeServer) -> None:
    # the team's repository: the example prompts, a model alias on the test server
    origin = init_repo(
        tmp_path / "team",
        {
            "promptctl.yaml": f"""
                models:
                  gpt-4o-mini:
                    model: openai/gpt-4o-mini
                    api_base: {server.url}
                    api_key_env: FAKE_KEY
            """,
        },
    )
    shutil.copytree(ROOT / "prompts", origin / "prompts")
    released = commit_all(origin, "the prompts")
    assert invoke("label", "set", "production", cwd=origin).exit_code == 0
    reply = origin / "prompts/support/reply.yaml"
    reply.write_text(reply.read_text().replace("You are a support agent", "You are a NEW agent"))
    commit_all(origin, "work in progress, not released")
    bare = tmp_path / "remote.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(bare))
    git(origin, "remote", "add", "origin", str(bare))
    git(origin, "push", "-q", "origin", "main")
    assert invoke("label", "push", cwd=origin).exit_code == 0

    # the application's clone: labels come with `label pull`
    clone = tmp_path / "clone"
    git(tmp_path, "clone", "-q", str(bare), str(clone))
    assert invoke("label", "pull", cwd=clone).exit_code == 0
    expected = promptctl.get_prompt("support/reply", label="production", root=clone)
    assert (
        expected.commit == released
        and "NEW agent" not in expected.render(customer_name="x", email="y")[0]["content"]
    )

    traces = tmp_path / "traces.jsonl"
    lines = run_example(tmp_path, clone, traces)
    assert lines[0] == f"support/reply version {expected.version[:12]} at {released[:12]}, 2 messages"
    assert lines[1:4] == ["Customer: Dana", "Email:", "I was charged twice for March."]  # the echo server
    trace = json.loads(traces.read_text().splitlines()[0])
    assert lines[4].startswith(f"trace {trace['trace_id']}: ")
    assert (trace["version"], trace["label"], trace["commit"], trace["prompt"]) == (
        expected.version,
        "production",
        released,
        "support/reply",
    )

    # a deploy without git: the bundle of that label, the clone gone
    deploy = tmp_path / "deploy"
    deploy.mkdir()
    assert (
        invoke("export", "--label", "production", "-o", str(deploy / "bundle.json"), cwd=clone).exit_code == 0
    )
    shutil.rmtree(clone)
    lines_bundle = run_example(tmp_path, deploy / "bundle.json", traces)
    assert lines_bundle[:4] == lines[:4]
    second = json.loads(traces.read_text().splitlines()[1])
    assert (second["version"], second["commit"], second["origin"]) == (expected.version, released, "bundle")
    assert server.stats()["requests"] == 2
