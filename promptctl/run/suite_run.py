"""The run of a suite: select, plan, execute, validate (``promptctl test`` minus its record).

The CLI parses options into ``TestOptions``; ``records.run_record`` runs the suite through
``run_tests`` and writes the run record; ``dry_run`` is the plan without calling anything.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from promptctl.errors import UsageError
from promptctl.execute.types import RetryPolicy
from promptctl.run.judge_calls import judge_recording_model
from promptctl.run.options import RunOptions, RunStats
from promptctl.run.plan import Row, Selection, build_plan
from promptctl.run.pricing import Estimate, estimate
from promptctl.run.runner import RowResult, Runner, run_rows
from promptctl.suite.load import Suite
from promptctl.suite.project import Project, load_checked


@dataclass
class TestOptions:
    __test__ = False  # not a pytest test class

    paths: list[str] = field(default_factory=list)
    keywords: list[str] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    models: list[str] = field(default_factory=list)
    repeat: int | None = None
    concurrency: int | None = None
    last_failed: bool = False
    shard: tuple[int, int] | None = None
    only_keys: set[str] | None = None  # --affected (or compare running what its records miss)
    # compare --gate drawing more samples: case key -> (first, end) sample indexes to run
    samples: dict[str, tuple[int, int]] | None = None
    affected: str | None = None  # --affected BASE, as given (the record's selection says so)
    use_cache: bool = True
    live: bool = False
    offline: bool = False
    record: bool = False
    max_cost: float | None = None
    allow_unknown_cost: bool = False
    maxfail: int | None = None  # -x / --maxfail N: stop after the first N failing cases
    write_record: bool = True
    # False: finished rows go only to on_result (the record's stream) and the outcome's `results`
    # stay empty: a run's memory does not grow with its rows (the CLI's `test`).
    keep_results: bool = True
    # --last-failed: the case keys that failed or errored when they last ran (the caller reads
    # them from the failure set, records.lastfailed).
    previous_failures: set[str] | None = None
    # recording entries a pull request changed: called live with a key, else replayed unverified
    claims: frozenset[tuple[str, str, str, int]] = frozenset()


@dataclass
class RunOutcome:
    """What a run of the suite produced. ``results`` are in plan order (empty unless
    ``keep_results``); when ``interrupted`` they are the rows that finished before Ctrl-C /
    SIGTERM. ``finished`` counts them either way."""

    results: list[RowResult]
    stats: RunStats
    rows_planned: int
    finished: int = 0
    interrupted: bool = False
    elapsed_s: float | None = None
    recordings_written: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    cache_warning: str | None = None
    warnings: list[str] = field(default_factory=list)  # e.g. why calls ran in-process, not in workers
    worker_pids: list[int] = field(default_factory=list)  # the warm model workers the run used
    suite: Suite | None = None  # what was run (its validators' files decide the record's dirty flag)
    stopped: str | None = None  # why -x / --maxfail stopped the run before every row ran
    last_failed_narrowed: bool = False  # --last-failed ran only known failures (not all selected)


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


def paths_narrow(project: Project, paths: list[str]) -> bool:
    """Whether PATH arguments select less than the whole suite (``.``, the prompts or the cases
    folder select everything)."""
    case_paths, prompt_names = _normalise_paths(project, paths)
    cdir = project.config.cases_dir.rstrip("/")
    return any(p != cdir for p in case_paths) or any(prompt_names)


def selection_for(
    project: Project, opts: TestOptions
) -> tuple[Selection, list[str] | None, list[str], list[str]]:
    notes: list[str] = []
    case_paths, prompt_names = _normalise_paths(project, opts.paths)
    sel = Selection(keywords=list(opts.keywords), tags=list(opts.tags), shard=opts.shard)
    if opts.only_keys is not None:
        sel.only_keys = set(opts.only_keys)
    return sel, (case_paths or None), prompt_names, notes


def plan_tests(project: Project, opts: TestOptions) -> tuple[Suite, list[Row], list[str]]:
    """Load + lint (exit 2 on any error) + select + render every row."""
    sel, only, prompt_names, notes = selection_for(project, opts)
    suite, rows, _narrowed = _plan(project, opts, sel, only, prompt_names, notes)
    return suite, rows, notes


def _plan(
    project: Project,
    opts: TestOptions,
    sel: Selection,
    only: list[str] | None,
    prompt_names: list[str],
    notes: list[str],
) -> tuple[Suite, list[Row], bool]:
    """The suite, its planned rows, and whether --last-failed narrowed the selection."""
    from promptctl.run.plan import model_check
    from promptctl.suite.render import make_renderer
    from promptctl.validate import lint_assertion_in

    root, config = project.config.root, project.config
    suite = load_checked(
        project, lint_assertion_in(root), only=only, trial_render=False, check_model=model_check(config)
    )
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
    narrowed = opts.last_failed and _select_last_failed(suite, sel, set(opts.previous_failures or ()), notes)
    rows = build_plan(
        suite,
        make_renderer(suite),
        selection=sel,
        models=opts.models or None,
        repeat=opts.repeat,
        samples=opts.samples,
    )
    return suite, rows, narrowed


def _select_last_failed(suite: Suite, sel: Selection, failed: set[str], notes: list[str]) -> bool:
    """--last-failed narrows the selection to its known failures (True); with none among the
    selected cases it runs them all and says so (as pytest's --lf does)."""
    if not failed:
        notes.append("--last-failed: no known failures; running everything selected")
        return False
    selected = {
        c.key for c in suite.cases if c.prompt in suite.prompts and sel.matches(c, suite.prompts[c.prompt])
    }
    rerun = failed & selected
    if not rerun:
        notes.append(
            f"--last-failed: none of the {len(failed)} known failure(s) is among the selected cases; "
            "running everything selected"
        )
        return False
    sel.only_keys = rerun
    rest = len(failed) - len(rerun)
    notes.append(
        f"--last-failed: rerunning {len(rerun)} case(s) that failed or errored when they last ran"
        + (f" ({rest} more known failure(s) not selected)" if rest else "")
    )
    return True


def _runner(
    project: Project,
    opts: TestOptions,
    on_result: Callable[[RowResult], None] | None,
    stop_when: Callable[[RowResult], str | None] | None = None,
) -> Runner:
    from promptctl.execute.cache import ResponseCache
    from promptctl.execute.recordings.embeddings import EmbeddingRecordings
    from promptctl.execute.recordings.store import Recordings, RecordingWriter
    from promptctl.suite.reviews import ReviewBook

    cfg = project.config
    policy = RetryPolicy.from_config(cfg)
    run_opts = RunOptions(
        concurrency=opts.concurrency or cfg.concurrency,
        use_cache=opts.use_cache,
        use_recordings=not opts.live,
        offline=opts.offline,
        record=opts.record,
        max_cost=opts.max_cost if opts.max_cost is not None else cfg.max_cost,
        max_cost_source="--max-cost" if opts.max_cost is not None else "max_cost (promptctl.yaml)",
        allow_unknown_cost=opts.allow_unknown_cost,
        policy=policy,
        claims=opts.claims,
    )
    cache = ResponseCache.for_root(project.root, enabled=opts.use_cache)
    writer = RecordingWriter(project.root, cases_dir=cfg.cases_dir.rstrip("/")) if opts.record else None
    recordings = Recordings(project.source, cases_dir=cfg.cases_dir.rstrip("/"))
    embeddings = EmbeddingRecordings(
        project.source, cases_dir=cfg.cases_dir.rstrip("/"), root=project.root if opts.record else None
    )
    return Runner(
        cfg,
        run_opts,
        cache=cache,
        recordings=recordings,
        writer=writer,
        on_result=on_result,
        source=project.source,
        embeddings=embeddings,
        validation_extra={"reviews": ReviewBook(project.source, cases_dir=cfg.cases_dir)},
        keep_results=opts.keep_results,
        stop_when=stop_when,
    )


def run_tests(
    project: Project,
    opts: TestOptions,
    *,
    on_plan: Callable[[list[Row]], None] | None = None,
    on_result: Callable[[RowResult], None] | None = None,
    stop_when: Callable[[RowResult], str | None] | None = None,
) -> RunOutcome:
    """Plan and run the selected suite. Ctrl-C or SIGTERM end it early with ``interrupted`` set:
    every finished row is in the outcome (and in the cache, and in recordings with --record).
    ``stop_when`` (``-x`` / ``--maxfail``) is asked after each finished row; once it gives a
    reason nothing new starts, and the outcome's ``stopped`` says why when rows were left."""
    if opts.record and project.ref is not None:
        raise UsageError("--record writes recordings into the worktree; it cannot be combined with --ref")
    if opts.record and opts.offline:
        raise UsageError("--record needs model calls; it cannot be combined with --offline")
    sel, only, prompt_names, notes = selection_for(project, opts)
    suite, rows, narrowed = _plan(project, opts, sel, only, prompt_names, notes)
    if on_plan is not None:
        on_plan(rows)
    runner = _runner(project, opts, on_result, stop_when)
    if opts.record and runner.writer is not None:
        _prune_recordings(suite, rows, runner, opts)
    interrupted = False
    planned = len(rows)
    try:
        run_rows(runner, rows, consume=not opts.keep_results)
    except (KeyboardInterrupt, asyncio.CancelledError):
        interrupted = True
    except BaseException:
        if runner.cache is not None:
            runner.cache.close()
        raise
    notes += runner.notes
    outcome = RunOutcome(
        results=sorted(runner.results, key=lambda r: r.row.index),
        stats=runner.stats,
        rows_planned=planned,
        finished=runner.finished,
        interrupted=interrupted,
        elapsed_s=runner.elapsed,
        notes=notes,
        warnings=list(runner.calls.warnings),
        worker_pids=list(runner.calls.worker_pids),
        suite=suite,
        last_failed_narrowed=narrowed,
    )
    if runner.stopped and runner.finished < planned:
        outcome.stopped = f"{runner.stopped}: {planned - runner.finished} of {planned} rows not run"
    if runner.writer is not None:
        outcome.recordings_written = runner.writer.write()
    if runner.embeddings is not None and opts.record:
        # an interrupted run did not use every embedding it would have: prune nothing then
        outcome.recordings_written += runner.embeddings.write(prune=not interrupted)
    if runner.cache is not None:
        runner.cache.record_run_stats(runner.stats.cache_hits, runner.stats.live_calls)
        outcome.cache_warning = runner.cache.warning
        runner.cache.close()
    return outcome


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
            keys += [  # the judges' verdicts, recorded next to their row's output
                (r.case.id, judge_recording_model(r.model_name, i), r.sample)
                for r in rows
                if r.case.file == cf.path
                for i, a in enumerate(r.case.asserts)
                if a.type == "judge"
            ]
            runner.writer.prune(cf.path, keys)
            if runner.embeddings is not None:
                runner.embeddings.prune(cf.path)


def dry_run(project: Project, opts: TestOptions) -> dict[str, Any]:
    """The plan without calling anything: rows, what recordings/cache answer, calls and cost estimate."""
    _suite, rows, notes = plan_tests(project, opts)
    runner = _runner(project, opts, None)
    answered: list[Any] = []
    pending = runner._lookup_offline_sources(rows, answered)
    unique = {r.fingerprint: r for r in pending}
    est = Estimate()
    if unique and not opts.offline:
        from promptctl.execute import llm

        est = estimate(list(unique.values()), project.config, llm.count_tokens)
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
        "judge_calls": est.judge_calls,
        "embedding_calls": est.embedding_calls,
        "estimated_cost_usd": est.cost,
        "estimate_note": "upper bound: output tokens counted as each prompt's max_tokens (256 when unset), "
        "judge answers as 256, each embedding as twice max_tokens; judge and embedding calls included",
        "unknown_price_models": sorted(est.unknown),
        "notes": notes,
    }
