"""Test-wide fixtures: isolated homes and caches, a loopback-only network guard, throwaway git repos."""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

GIT_ENV = {
    "GIT_AUTHOR_NAME": "Test Author",
    "GIT_AUTHOR_EMAIL": "author@example.invalid",
    "GIT_COMMITTER_NAME": "Test Committer",
    "GIT_COMMITTER_EMAIL": "committer@example.invalid",
    "GIT_AUTHOR_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2026-01-01T00:00:00+00:00",
    "GIT_CONFIG_NOSYSTEM": "1",
}

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo


def _is_loopback(host: Any) -> bool:
    if isinstance(host, bytes):
        host = host.decode()
    if not isinstance(host, str):
        return False
    if host in ("localhost", "localhost.localdomain"):
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class NetworkBlocked(RuntimeError):
    pass


def _guarded_connect(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        raise NetworkBlocked(f"test tried to reach {address!r}: only loopback is allowed")
    return _real_connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: Any) -> Any:
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _is_loopback(address[0]):
        raise NetworkBlocked(f"test tried to reach {address!r}: only loopback is allowed")
    return _real_connect_ex(self, address)


def _guarded_getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
    if host is not None and not _is_loopback(host):
        raise NetworkBlocked(f"test tried to resolve {host!r}: only loopback is allowed")
    return _real_getaddrinfo(host, *args, **kwargs)


@pytest.fixture(autouse=True, scope="session")
def _network_guard() -> Iterator[None]:
    """Fail any test that tries to open a connection beyond loopback (or resolve a name)."""
    socket.socket.connect = _guarded_connect  # type: ignore[method-assign,assignment]
    socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign,assignment]
    socket.getaddrinfo = _guarded_getaddrinfo
    try:
        yield
    finally:
        socket.socket.connect = _real_connect  # type: ignore[method-assign]
        socket.socket.connect_ex = _real_connect_ex  # type: ignore[method-assign]
        socket.getaddrinfo = _real_getaddrinfo


@pytest.fixture(autouse=True)
def _isolate(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own HOME, XDG dirs and no provider keys, so nothing leaks in or out."""
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    for key in list(os.environ):
        if key.endswith("_API_KEY") or key.startswith(("OPENAI_", "ANTHROPIC_", "PROMPTCTL_")):
            monkeypatch.delenv(key, raising=False)
    # Warm model workers outlive the run that starts them: a test that wants them says so (and
    # stops them: tests/execute/test_workers.py); every other test makes its calls in-process.
    monkeypatch.setenv("PROMPTCTL_WORKERS", "0")
    for k, v in GIT_ENV.items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(home / ".gitconfig"))
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    monkeypatch.setenv("LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS", "True")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("COLUMNS", "200")


@pytest.fixture(autouse=True)
def _no_redaction_left_over() -> Iterator[None]:
    """Redaction is process-wide (set when a promptctl.yaml is loaded): no test inherits it."""
    from promptctl import redact

    redact.configure(None)
    yield
    redact.configure(None)


@pytest.fixture
def repo_root() -> Path:
    """The checkout of promptctl itself (for its example suite)."""
    return Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def worker_home() -> Iterator[Path]:
    """One private directory for the warm model workers of the whole session (short: a Unix
    socket path holds ~100 bytes), so tests that use workers share them instead of each paying
    litellm's import; every worker is stopped at the end."""
    import shutil
    import tempfile

    from promptctl.execute.workers.control import stop_workers

    home = Path(tempfile.mkdtemp(prefix="pcw-", dir="/tmp"))
    home.chmod(0o700)
    try:
        yield home
    finally:
        old = os.environ.get("PROMPTCTL_WORKER_DIR")
        os.environ["PROMPTCTL_WORKER_DIR"] = str(home)
        try:
            stop_workers()
        finally:
            if old is None:
                os.environ.pop("PROMPTCTL_WORKER_DIR", None)
            else:
                os.environ["PROMPTCTL_WORKER_DIR"] = old
            shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def warm_workers(worker_home: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Live runs of this test use up to 2 warm model workers (in :func:`worker_home`)."""
    monkeypatch.setenv("PROMPTCTL_WORKER_DIR", str(worker_home))
    monkeypatch.setenv("PROMPTCTL_WORKERS", "2")
    return worker_home
