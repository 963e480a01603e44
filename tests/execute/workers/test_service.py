"""Which workers a process may use: settings (environment, config, CI), the private directory, the
key that keeps workers of different code, Python or network settings apart, and a worker's
environment (no key in it). No process is started here."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from promptctl.execute.workers import service
from promptctl.execute.workers.service import (
    DEFAULT_IDLE_TIMEOUT,
    WorkersUnavailable,
    resolve_settings,
    service_key,
    socket_path,
    worker_dir,
    worker_env,
)
from tests.helpers import init_repo, invoke


def test_settings_precedence_and_ci(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PROMPTCTL_WORKERS")
    monkeypatch.delenv("CI", raising=False)
    default = resolve_settings()
    assert default.processes == max(1, min(os.cpu_count() or 1, 4)) and default.enabled
    assert default.idle_timeout == DEFAULT_IDLE_TIMEOUT == 600
    assert resolve_settings(configured=3, idle_timeout=30).processes == 3
    assert resolve_settings(configured=3, idle_timeout=30).idle_timeout == 30
    off = resolve_settings(configured=0)
    assert not off.enabled and off.why_off == "workers: 0 in promptctl.yaml turns warm workers off"
    monkeypatch.setenv("CI", "true")
    ci = resolve_settings()
    assert not ci.enabled and ci.why_off is not None and ci.why_off.startswith("CI is set")
    assert resolve_settings(configured=2).processes == 2  # an explicit setting wins over CI
    monkeypatch.setenv("CI", "false")
    assert resolve_settings().enabled
    monkeypatch.setenv("PROMPTCTL_WORKERS", "0")
    env_off = resolve_settings(configured=3)
    assert not env_off.enabled and env_off.why_off == "PROMPTCTL_WORKERS=0 turns warm workers off"
    monkeypatch.setenv("PROMPTCTL_WORKERS", "5")
    assert resolve_settings(configured=1).processes == 5
    assert resolve_settings(configured=1, requested=0).processes == 0  # an API caller's choice wins
    monkeypatch.setenv("PROMPTCTL_WORKER_IDLE_TIMEOUT", "2.5")
    assert resolve_settings(idle_timeout=30).idle_timeout == 2.5


def test_config_keys_are_read_and_checked(tmp_path: Path) -> None:
    from promptctl.suite.config import load_config

    root = init_repo(tmp_path / "r", {"promptctl.yaml": "workers: 3\nworker_idle_timeout: 90\n"})
    cfg = load_config(root)
    assert (cfg.workers, cfg.worker_idle_timeout) == (3, 90.0)
    (root / "promptctl.yaml").write_text("workers: -1\nworker_idle_timeout: 0\n")
    r = invoke("lint", cwd=root)
    assert r.exit_code == 2
    assert "promptctl.yaml:1:" in r.stdout and "promptctl.yaml:2:" in r.stdout, r.stdout


def test_worker_dir_is_private_and_refused_otherwise(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "w"
    monkeypatch.setenv("PROMPTCTL_WORKER_DIR", str(d))
    assert worker_dir() == d and (d.stat().st_mode & 0o777) == 0o700
    d.chmod(0o755)  # ours but opened up: closed again
    worker_dir()
    assert (d.stat().st_mode & 0o777) == 0o700
    link = tmp_path / "link"
    link.symlink_to(d)
    monkeypatch.setenv("PROMPTCTL_WORKER_DIR", str(link))
    with pytest.raises(WorkersUnavailable, match="not a directory"):
        worker_dir()
    if os.getuid() == 0:  # only root can hand a directory to another user
        other = tmp_path / "other"
        other.mkdir(mode=0o700)
        os.chown(other, 12345, 12345)
        monkeypatch.setenv("PROMPTCTL_WORKER_DIR", str(other))
        with pytest.raises(WorkersUnavailable, match="belongs to another user"):
            worker_dir()
    with pytest.raises(WorkersUnavailable, match="too long for a Unix socket"):
        socket_path(tmp_path / ("x" * 120), "0123456789abcdef", 0)


def test_default_dir_is_per_user(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    assert service._default_dir().name == f"promptctl-{os.getuid()}"
    run = tmp_path / "run"
    run.mkdir(mode=0o700)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(run))
    assert service._default_dir() == run / "promptctl"


def test_key_follows_network_settings_not_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    base = service_key()
    assert len(base) == 16 and base == service_key()
    monkeypatch.setenv("OPENAI_API_KEY", "sk-never-in-a-key-0123456789")
    monkeypatch.setenv("SOME_TOKEN", "tok-0123456789")
    assert service_key() == base  # keys travel with requests, never select a worker
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    assert service_key() != base
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setenv("LITELLM_LOG", "DEBUG")
    assert service_key() != base


def test_key_follows_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    base = service_key()
    stamp = service._code_stamp()
    assert any(name.endswith("execute/llm.py") for name, _size, _mtime in stamp)
    monkeypatch.setattr(service, "_code_stamp", lambda: [*stamp, ("execute/new.py", 1, 1)])
    assert service_key() != base


def test_worker_env_holds_no_key_and_no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-secret-0123456789abcdef")
    monkeypatch.setenv("MY_LOCAL_KEY", "local-secret-0123456789")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://attacker.invalid/v1")
    monkeypatch.setenv("LITELLM_MASTER_KEY", "sk-master-0123456789")
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.invalid:3128")
    env = worker_env()
    assert "OPENAI_API_KEY" not in env and "MY_LOCAL_KEY" not in env
    assert "OPENAI_BASE_URL" not in env and "LITELLM_MASTER_KEY" not in env
    assert env["HTTPS_PROXY"] == "http://proxy.invalid:3128" and env["PATH"] == os.environ["PATH"]
    assert not any("secret" in v or "sk-" in v for v in env.values())


def test_importing_litellm_here_keeps_the_key(monkeypatch: pytest.MonkeyPatch) -> None:
    """The model layer sets litellm's settings in the environment before importing it: a process
    that made a call in-process (a fallback, watch mode) still finds its workers."""
    from promptctl.execute import llm

    for name in llm.LITELLM_ENV:
        monkeypatch.delenv(name, raising=False)
    base = service_key()
    for name, value in llm.LITELLM_ENV.items():
        monkeypatch.setenv(name, value)
    assert service_key() == base
    assert worker_env()["EXPERIMENTAL_OPENAI_BASE_LLM_HTTP_HANDLER"] == "true"
