"""The real model server for the `real_model` tests, and helpers to drive the real CLI against it.

The session fixture runs ``scripts/real_model.py setup`` (it does nothing when the venv and the
model are in place), starts a server of its own (its own state file, so a server a developer
started with ``scripts/real_model.py start`` is left alone) and stops it at the end. A failed
set-up or start fails every test that needs it, with the script's reason; the tests are skipped
only when ``PROMPTCTL_SKIP_REAL_MODEL=1`` says so.

The tests run promptctl as a subprocess (``python -m promptctl``) on throwaway git repositories,
with a :class:`RecordingProxy` between promptctl and the server.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import init_repo
from tests.real_model.proxy import RecordingProxy

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "real_model.py"
SKIP_VAR = "PROMPTCTL_SKIP_REAL_MODEL"
DIR_VAR = "PROMPTCTL_REAL_MODEL_DIR"
# Read at import, before the autouse isolation fixture removes PROMPTCTL_* variables.
SKIP = os.environ.get(SKIP_VAR) == "1"
DIR_ARGS = ["--dir", os.environ[DIR_VAR]] if os.environ.get(DIR_VAR) else []
MODEL_NAME = "smol"


def script(*args: str, timeout: float = 3600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *DIR_ARGS, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


@pytest.fixture(scope="session")
def real_model_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The base URL (``http://127.0.0.1:PORT/v1``) of a llama.cpp server with SmolLM2-135M."""
    if SKIP:
        pytest.skip(f"{SKIP_VAR}=1: the real-model tests are switched off")
    setup = script("setup")
    if setup.returncode != 0:
        pytest.fail(f"real-model set-up failed (exit {setup.returncode}):\n{setup.stderr}", pytrace=False)
    state = tmp_path_factory.mktemp("real-model") / "server.json"
    start = script("--state", str(state), "start", timeout=600)
    if start.returncode != 0:
        pytest.fail(
            f"real-model server did not start (exit {start.returncode}):\n{start.stderr}", pytrace=False
        )
    try:
        yield start.stdout.strip()
    finally:
        script("--state", str(state), "stop", timeout=60)


@contextlib.contextmanager
def own_server(state_dir: Path, seed: int) -> Iterator[str]:
    """A server of the test's own, started fresh with a fixed seed. llama-cpp-python derives each
    request's sampling seed from the previous one, so the same requests sent in the same order
    (``-j 1``) get the same samples: a sampled test is then reproducible, yet every sample is a
    different draw. Needs the session server's set-up (depend on ``real_model_url``)."""
    state = state_dir / "own-server.json"
    start = script("--state", str(state), "start", "--seed", str(seed), timeout=600)
    if start.returncode != 0:
        pytest.fail(
            f"real-model server did not start (exit {start.returncode}):\n{start.stderr}", pytrace=False
        )
    try:
        yield start.stdout.strip()
    finally:
        script("--state", str(state), "stop", timeout=60)


@pytest.fixture
def proxy(real_model_url: str) -> Iterator[RecordingProxy]:
    with RecordingProxy(real_model_url) as p:
        yield p


def config(url: str, extra: str = "") -> str:
    """promptctl.yaml: the server as alias ``smol`` (api_base and no api_key_env: a dummy key)."""
    return (
        f"model: {MODEL_NAME}\n"
        "concurrency: 2\n"
        "timeout: 120\n"
        "max_retries: 0\n"
        "models:\n"
        f"  {MODEL_NAME}:\n"
        "    model: openai/smollm2\n"
        f"    api_base: {url}\n" + extra
    )


@pytest.fixture
def make_project(tmp_path: Path, proxy: RecordingProxy) -> Callable[[dict[str, str]], Path]:
    """A committed throwaway repository whose promptctl.yaml points at the proxy."""

    def make(files: dict[str, str]) -> Path:
        return init_repo(tmp_path / "repo", {"promptctl.yaml": config(proxy.url), **files})

    return make


@dataclass
class Cli:
    code: int
    stdout: str
    stderr: str

    @property
    def output(self) -> str:
        return f"--- exit {self.code}\n--- stdout\n{self.stdout}\n--- stderr\n{self.stderr}"


def cli(root: Path, *args: str, timeout: float = 600) -> Cli:
    """``promptctl ARGS`` as a real process in ``root``."""
    r = subprocess.run(
        [sys.executable, "-m", "promptctl", *args],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )
    return Cli(r.returncode, r.stdout, r.stderr)


def records(root: Path) -> list[dict[str, Any]]:
    """Every run record of the project, oldest first."""
    paths = sorted((root / ".promptctl" / "runs").rglob("*.json"), key=lambda p: p.stat().st_mtime_ns)
    return [json.loads(p.read_text("utf-8")) for p in paths]


def last_record(root: Path) -> dict[str, Any]:
    recs = records(root)
    assert recs, f"no run record under {root / '.promptctl/runs'}"
    return recs[-1]
