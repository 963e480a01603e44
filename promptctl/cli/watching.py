"""``promptctl test --watch``: run, then rerun on every saved change only the cases it touches.

A bad file shows its located problems and the watch goes on; the warm model workers are held (a
connection each) so they stay warm however long nothing changes. Ctrl-C during a run is an
interrupted run (exit 130, what finished is kept); Ctrl-C while waiting ends the watch with the
exit code of the last run (2 when the files are invalid at that moment).
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
from collections.abc import Callable
from typing import TYPE_CHECKING

from promptctl.cli.common import current_project
from promptctl.cli.output import echo, print_problems
from promptctl.errors import EXIT_INVALID, InputError, Interrupted, PromptctlError

if TYPE_CHECKING:
    from promptctl.run.suite_run import TestOptions
    from promptctl.suite.project import Project


def _plan_digests(project: Project, opts: TestOptions) -> dict[str, str]:
    from promptctl.run.suite_run import plan_tests
    from promptctl.run.watch import case_digests

    _suite, rows, _notes = plan_tests(project, opts)
    return case_digests(rows)


def _hold(project: Project, held: list[socket.socket]) -> list[socket.socket]:
    from promptctl.execute.workers.control import hold_workers
    from promptctl.execute.workers.service import WorkersUnavailable, resolve_settings

    for sock in held:
        with contextlib.suppress(OSError):
            sock.close()
    cfg = project.config
    settings = resolve_settings(cfg.workers, cfg.worker_idle_timeout)
    if not settings.enabled:
        return []
    try:
        return hold_workers(settings.idle_timeout)
    except (WorkersUnavailable, OSError):
        return []


def watch_tests(project: Project, opts: TestOptions, run: Callable[[Project, TestOptions], int]) -> int:
    from promptctl.run.watch import changed_cases, snapshot, wait_for_change

    base = dataclasses.replace(opts, last_failed=False, previous_failures=None)
    code = _guarded(run, project, opts)
    digests: dict[str, str] = {}
    with contextlib.suppress(InputError):
        digests = _plan_digests(project, base)
    held = _hold(project, [])
    root = project.root
    snap = snapshot(root, project.config)
    echo(
        f"watching {project.config.prompts_dir}/, {project.config.cases_dir}/ and promptctl.yaml "
        "for changes (Ctrl-C to stop)",
        err=True,
    )
    try:
        while True:
            snap, changed = wait_for_change(root, project.config, snap)
            shown = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
            echo(f"\nchanged: {shown}", err=True)
            try:
                project = current_project()
                new = _plan_digests(project, base)
            except InputError as exc:
                print_problems(exc.problems, err=True)
                echo(f"{sum(p.is_error for p in exc.problems)} error(s); waiting for a fix", err=True)
                code = EXIT_INVALID
                continue
            except PromptctlError as exc:
                echo(f"error: {exc.render()}; waiting for a fix", err=True)
                code = exc.exit_code
                continue
            todo = changed_cases(digests, new)
            digests = new
            if not todo:
                echo("no rendered request or check changed: nothing to rerun", err=True)
                continue
            keys = todo if base.only_keys is None else todo & base.only_keys
            if not keys:
                echo("the changed cases are not selected: nothing to rerun", err=True)
                continue
            echo(f"rerunning {len(keys)} case(s) whose request or checks changed", err=True)
            code = _guarded(run, project, dataclasses.replace(base, only_keys=keys))
            held = _hold(project, held)
    except KeyboardInterrupt:
        return code
    finally:
        for sock in held:
            with contextlib.suppress(OSError):
                sock.close()


def _guarded(run: Callable[[Project, TestOptions], int], project: Project, opts: TestOptions) -> int:
    """A run whose bad input is shown (and the watch goes on); an interrupted run propagates."""
    try:
        return run(project, opts)
    except InputError as exc:
        print_problems(exc.problems, err=True)
        echo(f"{sum(p.is_error for p in exc.problems)} error(s); waiting for a fix", err=True)
        return EXIT_INVALID
    except Interrupted:
        raise
    except PromptctlError as exc:
        echo(f"error: {exc.render()}; waiting for a fix", err=True)
        return exc.exit_code
