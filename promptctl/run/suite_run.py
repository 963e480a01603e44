"""``promptctl test`` as a library call: select, plan, execute, validate, record.

The CLI only parses options into ``TestOptions``, passes a progress callback and prints the
``TestOutcome``; tests, ``compare`` (which runs whatever a ref is missing) and benchmarks call
``run_tests`` directly.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from promptctl.errors import EXIT_EXECUTION, EXIT_FAILED, EXIT_OK, Interrupted, UsageError
from promptctl.execute.types import RetryPolicy
from promptctl.records import Record, latest_record, new_record, row_to_dict, write_record
from promptctl.run.plan import Row, Selection, build_plan
from promptctl.run.runner import RowResult, Runner, RunOptions, RunStats, run_rows
from promptctl.suite.load import Suite
from promptctl.suite.project import Project, load_checked


@dataclass
class TestOptions:
    paths: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    repeat: int | None = None
    concurrency: int | None = None
    last_failed: bool = False
    shard: tuple[int, int] | None = None
    only_keys: set[str] | None = None
    use_cache: bool = True
    live: bool = False
    offline: bool = False
    record: bool = False
    max_cost: float | None = None
    write_record: bool = True


@dataclass
class TestOutcome:
    record: Record
    results: list[RowResult]
    stats: RunStats
    rows_planned: int
    record_path: str | None = None
    recordings_written: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cache_warning: str | None = None

    @property
    def summary(self) -> dict[str, Any]:
        return self.record.summary


def exit_code_for(summary: dict[str, Any], fail_under: float | None = None) -> int:
    """0 all passed (or pass rate ≥ --fail-under), 1 failures, 3 errors/skips without failures."""
    rate = summary.get("pass_rate")
    if fail_under is not None and rate is not None and rate + 1e-12 >= fail_under:
        return EXIT_OK
    if summary["failed"]:
        return EXIT_FAILED
    if summary["errors"] or summary["skipped"]:
        return EXIT_EXECUTION
    return EXIT_OK


def _normalise_paths(project: Project, paths: list[str]) -> tuple[list[str], list[str]]:
    """Split PATH arguments into case-file paths and prompt names (a prompt file selects its cases)."""
    root = project.root
    pdir = project.config.prompts_dir.rstrip("/")
    case_paths, prompt_names = [], []
    for p in paths:
        rel = os.path.relpath(os.path.abspath(p), root).replace(os.sep, "/")
        if rel.startswith(".."):
            raise UsageError(f"{p} is outside the project at {root}")
        if rel == ".":
            continue
        if rel == pdir or rel.startswith(pdir + "/"):
            name = rel[len(pdir) + 1 :]
            prompt_names.append(os.path.splitext(name)[0] if name else "")
        else:
            case_paths.append(rel)
    return case_paths, prompt_names


def selection_for(
    project: Project, opts: TestOptions
) -> tuple[Selection, list[str] | None, list[str], list[str]]:
    notes: list[str] = []
    case_paths, prompt_names = _normalise_paths(project, opts.paths)
    sel = Selection(keywords=list(opts.keywords), tags=list(opts.tags), shard=opts.shard)
    if opts.only_keys is not None:
        sel.only_keys = set(opts.only_keys)
    if opts.last_failed:
        prev = latest_record(project.root)
        failed = {r["case_key"] for r in (prev.rows if prev else []) if r["status"] in ("fail", "error")}
        if failed:
            sel.only_keys = failed if sel.only_keys is None else sel.only_keys & failed
            notes.append(f"--last-failed: rerunning {len(failed)} case(s) that failed or errored last time")
        else:
            notes.append("--last-failed: no previously failed cases; running everything selected")
    return sel, (case_paths or None), prompt_names, notes


def plan_tests(project: Project, opts: TestOptions) -> tuple[Suite, list[Row], list[str]]:
    """Load + lint (exit 2 on any error) + select + render every row."""
    sel, only, prompt_names, notes = selection_for(project, opts)
    suite, rows = _plan(project, opts, sel, only, prompt_names)
    return suite, rows, notes


def _plan(
    project: Project, opts: TestOptions, sel: Selection, only: list[str] | None, prompt_names: list[str]
) -> tuple[Suite, list[Row]]:
    from promptctl.suite.render import make_renderer
    from promptctl.validate import lint_assertion

    suite = load_checked(project, lint_assertion, only=only, trial_render=False)
    if prompt_names:
        unknown = [
            n
            for n in prompt_names
            if n and n not in suite.prompts and not any(k.startswith(n + "/") for k in suite.prompts)
        ]
        if unknown:
            raise UsageError(f"no prompt named '{unknown[0]}'")
        keep = {
            c.key
            for c in suite.cases
            if any(n == "" or c.prompt == n or c.prompt.startswith(n + "/") for n in prompt_names)
        }
        sel.only_keys = keep if sel.only_keys is None else sel.only_keys & keep
    rows = build_plan(
        suite, make_renderer(suite), selection=sel, models=opts.models or None, repeat=opts.repeat
    )
    return suite, rows


def _runner(project: Project, opts: TestOptions, on_result: Callable[[RowResult], None] | None) -> Runner:
    from promptctl.execute.cache import ResponseCache
    from promptctl.execute.recordings.store import Recordings, RecordingWriter

    cfg = project.config
    policy = RetryPolicy.from_config(cfg)
    run_opts = RunOptions(
        concurrency=opts.concurrency or cfg.concurrency,
        use_cache=opts.use_cache,
        use_recordings=not opts.live,
        offline=opts.offline,
        record=opts.record,
        max_cost=opts.max_cost if opts.max_cost is not None else cfg.max_cost,
        policy=policy,
    )
    cache = ResponseCache.for_root(project.root, enabled=opts.use_cache)
    writer = RecordingWriter(project.root, cases_dir=cfg.cases_dir.rstrip("/")) if opts.record else None
    recordings = Recordings(project.source, cases_dir=cfg.cases_dir.rstrip("/"))
    return Runner(
        cfg,
        run_opts,
        cache=cache,
        recordings=recordings,
        writer=writer,
        on_result=on_result,
    )


def run_tests(
    project: Project,
    opts: TestOptions,
    *,
    argv: list[str] | None = None,
    on_plan: Callable[[list[Row]], None] | None = None,
    on_result: Callable[[RowResult], None] | None = None,
) -> TestOutcome:
    """Run the selected suite. Always writes a record (also when interrupted, marked incomplete)."""
    if opts.record and project.ref is not None:
        raise UsageError("--record writes recordings into the worktree; it cannot be combined with --ref")
    if opts.record and opts.offline:
        raise UsageError("--record needs model calls; it cannot be combined with --offline")
    # The record's provenance (HEAD, dirty check: two git processes) is looked up meanwhile.
    provenance = _Background(
        new_record,
        project.root,
        command=argv or ["promptctl", "test"],
        config=project.config.public_dict(),
        ref=project.ref,
    )
    suite, rows, notes = plan_tests(project, opts)
    if on_plan is not None:
        on_plan(rows)
    runner = _runner(project, opts, on_result)
    if opts.record and runner.writer is not None:
        _prune_recordings(suite, rows, runner, opts)
    record = provenance.result()
    record.selection = {
        "paths": opts.paths,
        "keywords": opts.keywords,
        "tags": opts.tags,
        "models": opts.models,
        "repeat": opts.repeat,
        "shard": list(opts.shard) if opts.shard else None,
        "last_failed": opts.last_failed,
        "rows": len(rows),
    }
    interrupted = False
    try:
        run_rows(runner, rows)
    except (KeyboardInterrupt, asyncio.CancelledError):
        interrupted = True
    outcome = _finish(project, opts, runner, record, rows, interrupted, notes)
    if interrupted:
        done = len(outcome.results)
        raise Interrupted(
            f"interrupted: {done} of {len(rows)} rows finished and were kept "
            f"(record {outcome.record_path}); run the same command again to finish the rest"
        )
    return outcome


class _Background:
    """``fn(*args, **kwargs)`` on a thread; ``result()`` waits and returns or re-raises.

    For work that mostly waits on another process (git), so it overlaps planning instead of
    adding to it."""

    def __init__(self, fn: Callable[..., Record], *args: Any, **kwargs: Any) -> None:
        import threading

        self._value: Record | None = None
        self._error: BaseException | None = None

        def target() -> None:
            try:
                self._value = fn(*args, **kwargs)
            except BaseException as exc:  # handed to the caller of result()
                self._error = exc

        self._thread = threading.Thread(target=target, name="promptctl-provenance", daemon=True)
        self._thread.start()

    def result(self) -> Record:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


def _prune_recordings(suite: Suite, rows: list[Row], runner: Runner, opts: TestOptions) -> None:
    """A full --record of a case file drops entries of cases that no longer exist."""
    if (
        opts.keywords
        or opts.tags
        or opts.shard
        or opts.last_failed
        or opts.only_keys is not None
        or opts.models
    ):
        return
    assert runner.writer is not None
    planned_files = {r.case.file for r in rows}
    for cf in suite.case_files:
        if cf.path in planned_files:
            keys = [(r.case.id, r.model_name, r.sample) for r in rows if r.case.file == cf.path]
            runner.writer.prune(cf.path, keys)


def _finish(
    project: Project,
    opts: TestOptions,
    runner: Runner,
    record: Record,
    rows: list[Row],
    interrupted: bool,
    notes: list[str],
) -> TestOutcome:
    results = sorted(runner.results, key=lambda r: r.row.index)
    record.rows = [row_to_dict(r) for r in results]
    record.complete = not interrupted and len(results) == len(rows)
    record.interrupted = interrupted
    st = runner.stats
    record.stats = {
        "live_calls": st.live_calls,
        "cache_hits": st.cache_hits,
        "replays": st.replays,
        "deduplicated": st.deduplicated,
        "retries": st.retries,
        "spent": st.spent,
        "elapsed_s": getattr(runner, "elapsed", None),
    }
    outcome = TestOutcome(record=record, results=results, stats=st, rows_planned=len(rows), notes=notes)
    if runner.writer is not None:
        outcome.recordings_written = runner.writer.write()
    if runner.cache is not None:
        runner.cache.record_run_stats(st.cache_hits, st.live_calls)
        outcome.cache_warning = runner.cache.warning
        runner.cache.close()
    if opts.write_record:
        outcome.record_path = str(write_record(project.root, record))
    return outcome


def dry_run(project: Project, opts: TestOptions) -> dict[str, Any]:
    """The plan without calling anything: rows, what recordings/cache answer, calls and cost estimate."""
    _suite, rows, notes = plan_tests(project, opts)
    runner = _runner(project, opts, None)
    answered: list[Any] = []
    pending = runner._lookup_offline_sources(rows, answered)
    unique = {r.fingerprint: r for r in pending}
    est_cost: float | None = 0.0
    unknown_models: set[str] = set()
    if unique and not opts.offline:
        from promptctl.execute import llm

        for row in unique.values():
            text = "\n".join(m["content"] for m in row.messages)
            tin = llm.count_tokens(row.target.model, text)
            tout = int(row.params.get("max_tokens") or 256)
            c = llm.estimate_cost(row.target.model, tin, tout)
            if c is None:
                unknown_models.add(row.target.model)
            elif est_cost is not None:
                est_cost += c
        if unknown_models:
            est_cost = None
    if runner.cache is not None:
        runner.cache.close()
    return {
        "rows": len(rows),
        "cases": len({r.case.key for r in rows}),
        "replayed": runner.stats.replays,
        "cached": runner.stats.cache_hits,
        "calls": 0 if opts.offline else len(unique),
        "deduplicated": len(pending) - len(unique),
        "offline_misses": len(pending) if opts.offline else 0,
        "estimated_cost_usd": est_cost,
        "estimate_note": "upper bound: output tokens counted as each prompt's max_tokens (256 when unset)",
        "unknown_price_models": sorted(unknown_models),
        "notes": notes,
    }
