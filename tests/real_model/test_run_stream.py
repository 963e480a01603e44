"""`promptctl run` against the real model: real tokens streamed to a terminal as they arrive, the
same text as a non-streamed call at temperature 0 with a fixed seed, and the figures it prints."""

from __future__ import annotations

import os
import pty
import re
import select
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.real_model.conftest import cli
from tests.real_model.proxy import Exchange, RecordingProxy

pytestmark = pytest.mark.real_model

COUNT_PROMPT = """
    description: Count, one number per line (a long enough answer to stream in many chunks).
    inputs: {n: {}}
    params: {temperature: 0, seed: 7, max_tokens: 300}
    messages:
      - role: user
        content: "Count from 1 to {{ n }}, one number per line."
"""
FIGURES = re.compile(r"\[smol\] tokens (\d+)/(\d+) · latency (\d+) ms")


@dataclass
class TtyRun:
    code: int
    reads: list[tuple[float, bytes]]  # (arrival, bytes) as the terminal got them
    stderr: str

    @property
    def text(self) -> str:
        return b"".join(d for _, d in self.reads).decode("utf-8", "replace").replace("\r\n", "\n")


def run_on_a_terminal(root: Path, *args: str, timeout: float = 300) -> TtyRun:
    """``promptctl ARGS`` with stdout on a pseudo-terminal (so it streams), read as it arrives."""
    master, slave = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "promptctl", *args],
        cwd=root,
        stdout=slave,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    os.close(slave)
    reads: list[tuple[float, bytes]] = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 1.0)
            if not ready:
                if proc.poll() is not None:
                    break
                continue
            try:
                data = os.read(master, 4096)
            except OSError:  # EIO: the terminal's other end is closed
                break
            if not data:
                break
            reads.append((time.perf_counter(), data))
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        code = proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
    return TtyRun(code, reads, stderr)


def only(exchanges: list[Exchange]) -> Exchange:
    assert len(exchanges) == 1, [e.request for e in exchanges]
    return exchanges[0]


@pytest.fixture
def count_project(make_project: Callable[[dict[str, str]], Path]) -> Path:
    return make_project({"prompts/count.yaml": COUNT_PROMPT})


def test_run_streams_real_tokens_as_they_arrive(count_project: Path, proxy: RecordingProxy) -> None:
    streamed = run_on_a_terminal(count_project, "run", "count", "--var", "n=30")
    assert streamed.code == 0, streamed.stderr
    ex = only(proxy.chats())
    assert ex.request.get("stream") is True and ex.streamed
    assert len(ex.deltas) >= 10, ex.deltas  # the server sent the answer in many chunks
    # What the terminal shows is exactly what the server streamed ...
    assert streamed.text.rstrip("\n") == ex.text and ex.text.strip()
    # ... and it showed it while the answer was still being generated, not at the end.
    assert len(streamed.reads) >= 2
    first_shown, last_sent = streamed.reads[0][0], ex.events[-1][0]
    assert first_shown < last_sent, (first_shown, last_sent)
    finish = [
        c.get("finish_reason") for _, d in ex.events if isinstance(d, dict) for c in d.get("choices", [])
    ]
    assert finish[-1] == "stop"  # complete, not cut off
    figures = FIGURES.search(streamed.stderr)
    assert figures is not None, streamed.stderr
    assert int(figures.group(3)) >= int(ex.server_ms) - 1  # the call took at least the server's time

    # The same call without streaming (temperature 0, fixed seed) gives the same text.
    plain = cli(count_project, "run", "count", "--var", "n=30", "--no-stream")
    assert plain.code == 0, plain.output
    ex2 = proxy.chats()[-1]
    assert not ex2.streamed and ex2.request.get("stream") in (None, False)
    assert plain.stdout.rstrip("\n") == ex2.text == ex.text
    # Without streaming, the printed tokens are the server's usage.
    figures2 = FIGURES.search(plain.stderr)
    assert figures2 is not None, plain.stderr
    usage = ex2.usage
    assert usage is not None
    assert (int(figures2.group(1)), int(figures2.group(2))) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    )


def test_run_streamed_token_counts_are_the_servers_or_marked_estimates(
    count_project: Path, proxy: RecordingProxy
) -> None:
    streamed = run_on_a_terminal(count_project, "run", "count", "--var", "n=30")
    assert streamed.code == 0, streamed.stderr
    stream_ex = only(proxy.chats())
    plain = cli(count_project, "run", "count", "--var", "n=30", "--no-stream")
    assert plain.code == 0, plain.output
    usage = proxy.chats()[-1].usage
    assert usage is not None and proxy.chats()[-1].text == stream_ex.text  # same answer, server's count
    line = next((ln for ln in streamed.stderr.splitlines() if "tokens" in ln), "")
    if "estimate" in line:
        return
    figures = FIGURES.search(line)
    assert figures is not None, streamed.stderr
    assert (int(figures.group(1)), int(figures.group(2))) == (
        usage["prompt_tokens"],
        usage["completion_tokens"],
    ), line
