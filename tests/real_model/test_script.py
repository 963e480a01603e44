"""scripts/real_model.py with the real set-up in place: a second set-up does nothing, start/status/stop.
(Its failures, which need no model, are tested in the main suite: test_harness.py.)"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path

import pytest

from tests.real_model.conftest import script

pytestmark = pytest.mark.real_model


def test_second_setup_does_nothing_and_says_so(real_model_url: str) -> None:
    started = time.monotonic()
    r = script("setup")
    assert r.returncode == 0, r.stderr
    assert "already set up, nothing to do" in r.stderr
    assert "installing" not in r.stderr and "downloading" not in r.stderr
    assert time.monotonic() - started < 30


def test_start_status_stop(real_model_url: str, tmp_path: Path) -> None:
    state = ["--state", str(tmp_path / "server.json")]
    before = script(*state, "status")
    assert before.returncode == 3 and "server: not running" in before.stdout, before.stdout
    assert "llama-cpp-python[server]==0.3.36" in before.stdout

    first = script(*state, "start", timeout=600)
    assert first.returncode == 0, first.stderr
    url = first.stdout.strip()
    assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
    try:
        with urllib.request.urlopen(f"{url}/models", timeout=10) as resp:
            assert "smollm2" in resp.read().decode()
        again = script(*state, "start")
        assert again.returncode == 0 and again.stdout.strip() == url and "already running" in again.stderr
        up = script(*state, "status")
        assert up.returncode == 0 and f"running at {url}" in up.stdout, up.stdout
    finally:
        stop = script(*state, "stop", timeout=60)
    assert stop.returncode == 0 and "stopped" in stop.stderr
    with pytest.raises(OSError):
        urllib.request.urlopen(f"{url}/models", timeout=5)
    second = script(*state, "stop")
    assert second.returncode == 0 and "not running" in second.stderr
    assert script(*state, "status").returncode == 3
