"""Shared test helpers: run the CLI through its real entry point, build throwaway projects and repos."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

from promptctl.cli import main


@dataclass
class Result:
    exit_code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return self.stdout + self.stderr


def invoke(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None) -> Result:
    """Run ``promptctl ARGS`` through ``promptctl.cli.main`` (error translation included), in-process."""
    runner = CliRunner()
    old = Path.cwd()
    if cwd is not None:
        os.chdir(cwd)
    try:
        with runner.isolation(env=env) as streams:
            code = 0
            try:
                main(list(args))
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            sys.stdout.flush()
            sys.stderr.flush()
            out = streams[0].getvalue().decode("utf-8", "replace")
            err = streams[1].getvalue().decode("utf-8", "replace")
    finally:
        os.chdir(old)
    return Result(code, out, err)


def write_files(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n"), "utf-8")
    return root


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=root, check=True, capture_output=True, text=True).stdout


def init_repo(root: Path, files: dict[str, str] | None = None, message: str = "initial") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    if files:
        write_files(root, files)
        commit_all(root, message)
    return root


def commit_all(root: Path, message: str) -> str:
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", message, "--allow-empty")
    return git(root, "rev-parse", "HEAD").strip()


MINIMAL = {
    "promptctl.yaml": "model: openai/test-model\n",
    "prompts/greet.yaml": """
        description: Greet someone.
        inputs:
          name: {}
        template: "Say hello to {{ name }}."
    """,
    "cases/greet.yaml": """
        prompt: greet
        cases:
          - id: alice
            vars: {name: Alice}
            assert: [not_empty]
    """,
}


@dataclass
class Interrupted:
    returncode: int
    stdout: str
    stderr: str
    record: dict[str, Any]
    seen: Any  # what ``while_running`` returned just before the signal


def interrupt_cli_test(
    root: Path,
    requests: Callable[[], int],
    *,
    sig: int = signal.SIGINT,
    env: dict[str, str] | None = None,
    after_requests: int = 5,
    while_running: Callable[[subprocess.Popen[str]], Any] | None = None,
) -> Interrupted:
    """Run ``promptctl test -j 2`` as a real process, send ``sig`` once the server has seen
    ``after_requests`` requests, and return the exit, output and the (single) run record."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptctl", "test", "-j", "2"],
        cwd=root,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while requests() < after_requests and time.monotonic() < deadline:
            time.sleep(0.02)
        seen = while_running(proc) if while_running else None
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    records = list((root / ".promptctl/runs").rglob("*.json"))
    assert len(records) == 1, records
    return Interrupted(proc.returncode, out, err, json.loads(records[0].read_text()), seen)


def many_cases(n: int, prompt: str = "echo") -> str:
    return f"prompt: {prompt}\ncases:\n" + "".join(
        f"  - {{id: c{i}, vars: {{text: 'row {i}'}}, assert: [not_empty]}}\n" for i in range(n)
    )
