"""``promptctl worker status|stop``: the warm model workers live runs reuse."""

from __future__ import annotations

import time
from typing import Any

import typer

from promptctl.cli.common import JsonOpt
from promptctl.cli.output import echo, print_json, table
from promptctl.errors import ExecutionError, PromptctlError, UsageError


def register(app: typer.Typer) -> None:
    app.add_typer(worker_app, name="worker")


worker_app = typer.Typer(
    help="The warm model workers that live runs reuse (litellm imported once, not on every run).",
    no_args_is_help=True,
)


def _settings_line() -> str:
    """Whether this project's runs use workers, and how many (promptctl.yaml, environment, CI)."""
    from promptctl.execute.workers.service import resolve_settings
    from promptctl.suite.config import load_config

    try:
        cfg = load_config()
        settings = resolve_settings(cfg.workers, cfg.worker_idle_timeout)
    except PromptctlError:
        settings = resolve_settings()
    if not settings.enabled:
        return f"live runs here make their calls in-process: {settings.why_off}"
    return (
        f"live runs here use up to {settings.processes} warm worker(s), "
        f"each exiting after {settings.idle_timeout:g} s idle"
    )


def _ago(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)):
        return "-"
    s = int(seconds)
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s"


def _versions(v: dict[str, Any]) -> str:
    return f"promptctl {v.get('promptctl')}, litellm {v.get('litellm')}, Python {v.get('python')}"


@worker_app.command("status")
def status(as_json: JsonOpt = False) -> None:
    """Every warm worker of this user: process, calls served, idle time, memory, versions."""
    from promptctl.execute.workers.control import WorkersUnavailable, worker_statuses

    try:
        directory, workers = worker_statuses()
    except WorkersUnavailable as exc:
        raise UsageError(str(exc)) from None
    if as_json:
        print_json({"directory": str(directory), "settings": _settings_line(), "workers": workers})
        return
    echo(_settings_line())
    live = [w for w in workers if "error" not in w]
    if not live:
        echo(f"no warm worker is running (in {directory}); the next live run starts one")
    else:
        table(
            [
                "PID",
                "SLOT",
                "STATE",
                "CALLS",
                "IN FLIGHT",
                "IDLE",
                "EXITS AFTER",
                "RSS",
                "UP",
                "VERSIONS",
                "USED HERE",
            ],
            [
                [
                    str(w.get("pid")),
                    str(w.get("index")),
                    "ready" if w.get("ready") else ("failed" if w.get("fatal") else "starting"),
                    str(w.get("calls")),
                    str(w.get("in_flight")),
                    _ago(w.get("idle_s")) if not w.get("connections") else "busy",
                    f"{w.get('idle_timeout_s', 0):g} s idle",
                    "-" if w.get("rss_mb") is None else f"{w['rss_mb']:.0f} MB",
                    _ago(w.get("uptime_s")),
                    "promptctl {promptctl}, litellm {litellm}, Python {python}".format(
                        **w.get("versions", {})
                    ),
                    "yes" if w.get("current") else "no (another promptctl, venv or setting)",
                ]
                for w in live
            ],
            title=f"warm model workers in {directory}",
        )
    for w in workers:
        if "error" in w:
            echo(f"{w['socket']}: {w['error']} (`promptctl worker stop` removes it)")


@worker_app.command("stop")
def stop() -> None:
    """Stop every warm worker of this user now (the next live run starts new ones)."""
    from promptctl.execute.workers.control import WorkersUnavailable, stop_workers

    started = time.monotonic()
    try:
        directory, results = stop_workers()
    except WorkersUnavailable as exc:
        raise UsageError(str(exc)) from None
    stopped = [r for r in results if r.get("stopped")]
    stuck = [r for r in results if r.get("pid") and not r.get("stopped")]
    stale = [r for r in results if r.get("removed_stale")]
    if not results:
        echo(f"no warm worker is running (in {directory})")
        return
    echo(
        f"stopped {len(stopped)} worker(s) in {time.monotonic() - started:.1f} s"
        + (f"; removed {len(stale)} stale socket(s)" if stale else "")
    )
    if stuck:
        pids = ", ".join(str(r["pid"]) for r in stuck)
        raise ExecutionError(f"worker process(es) {pids} did not exit; end them with `kill {pids}`")
