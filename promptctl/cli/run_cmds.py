"""Verbs that run prompts and read their records: ``test``, ``run``, ``history``, ``show``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from promptctl.cli.common import (
    FormatOpt,
    JsonOpt,
    LabelOpt,
    RefOpt,
    ReportsOpt,
    TrustOpt,
    check_paths,
    current_project,
    parse_vars,
    print_record,
    warn_skipped,
)
from promptctl.cli.output import echo, print_json, table, write_content
from promptctl.errors import ExecutionError, NothingSelected, UsageError

if TYPE_CHECKING:
    from promptctl.report.formats import ReportFile
    from promptctl.run.suite_run import TestOptions
    from promptctl.suite.project import Project


def register(app: typer.Typer) -> None:
    app.command()(test)
    app.command()(run)
    app.command()(history)
    app.command()(show)


class _Progress:
    """Live progress: a rich bar on a terminal, a plain line every few seconds otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.total = 0
        self.counts = {"pass": 0, "fail": 0, "error": 0, "skipped": 0, "pending": 0, "cached": 0}
        self.bar: Any = None
        self.task: Any = None
        self.last = 0.0

    def plan(self, rows: list[Any]) -> None:
        import time

        self.total = len(rows)
        self.last = time.monotonic()
        if self.enabled and sys.stderr.isatty() and self.total:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            from promptctl.cli.output import console

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[stats]}"),
                TimeRemainingColumn(),
                console=console(stderr=True),
                transient=True,
            )
            self.task = self.bar.add_task("testing", total=self.total, stats="")
            self.bar.start()

    def result(self, r: Any) -> None:
        import time

        self.counts[r.status] += 1
        if r.response.source != "live":
            self.counts["cached"] += 1
        done = sum(self.counts[k] for k in ("pass", "fail", "error", "skipped", "pending"))
        c = self.counts
        stats = f"✓{c['pass']} ✗{c['fail']} !{c['error']} cache/replay {c['cached']}"
        if self.bar is not None:
            self.bar.update(self.task, completed=done, stats=stats)
        elif self.enabled and (time.monotonic() - self.last > 5 or done == self.total) and self.total > 20:
            self.last = time.monotonic()
            echo(
                f"[{done}/{self.total}] passed {c['pass']} failed {c['fail']} errors {c['error']} "
                f"cached/replayed {c['cached']}",
                err=True,
            )

    def stop(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def test(
    paths: Annotated[list[str] | None, typer.Argument(help="Case files/dirs or prompt files to run.")] = None,
    keyword: Annotated[
        list[str],
        typer.Option(
            "-k",
            help="Only cases whose 'prompt::id' contains this (glob ok; 'not X' excludes; repeatable = OR).",
        ),
    ] = [],  # noqa: B006
    tag: Annotated[list[str], typer.Option("--tag", help="Only cases with this tag (repeatable).")] = [],  # noqa: B006
    model: Annotated[
        list[str], typer.Option("--model", "-m", help="Run on this model/alias (repeatable).")
    ] = [],  # noqa: B006
    repeat: Annotated[int | None, typer.Option("--repeat", min=1, help="Samples per case.")] = None,
    concurrency: Annotated[
        int | None, typer.Option("-j", "--concurrency", min=1, help="Requests in flight.")
    ] = None,
    fail_under: Annotated[
        float | None,
        typer.Option("--fail-under", min=0, max=1, help="Exit 0 when the pass rate is at least this."),
    ] = None,
    fmt: FormatOpt = "table",
    output: ReportsOpt = [],  # noqa: B006
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="List every case.")] = False,
    exitfirst: Annotated[
        bool, typer.Option("-x", "--exitfirst", help="Stop after the first failing case (--maxfail 1).")
    ] = False,
    maxfail: Annotated[
        int | None,
        typer.Option(
            "--maxfail", min=1, help="Stop starting calls after N failing cases; keep what finished."
        ),
    ] = None,
    last_failed: Annotated[
        bool, typer.Option("--last-failed", "--lf", help="Rerun what failed last time.")
    ] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Bypass the response cache.")] = False,
    live: Annotated[
        bool, typer.Option("--live", help="Ignore recordings; call models (cache still used).")
    ] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="Never call a model: recordings and cache only.")
    ] = False,
    record: Annotated[bool, typer.Option("--record", help="Write outputs to cases/__recordings__/.")] = False,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print the plan and cost estimate; call nothing.")
    ] = False,
    max_cost: Annotated[
        float | None, typer.Option("--max-cost", min=0, help="Stop calling at this spend (USD).")
    ] = None,
    allow_unknown_cost: Annotated[
        bool,
        typer.Option(
            "--allow-unknown-cost",
            help="With --max-cost: run even when a model has no known price (its calls are not counted).",
        ),
    ] = False,
    shard: Annotated[
        str | None, typer.Option("--shard", help="Run slice I of N (I/N), for CI matrices.")
    ] = None,
    affected: Annotated[
        str | None,
        typer.Option("--affected", help="Only cases whose request differs from this base revision."),
    ] = None,
    ref: RefOpt = None,
    label: LabelOpt = None,
    trust_ref_config: TrustOpt = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Then rerun, on every saved change, the cases whose rendered request (or checks) changed.",
        ),
    ] = False,
) -> None:
    """Run the suite: render, call (cache/recordings first), validate, record. Exit 0/1/2/3."""
    from promptctl.report.formats import report_files
    from promptctl.run.plan import parse_shard
    from promptctl.run.suite_run import TestOptions
    from promptctl.run.suite_run import dry_run as plan_only

    if live and offline:
        raise UsageError("--live and --offline contradict each other")
    if watch and (ref is not None or label is not None or dry_run):
        raise UsageError("--watch reruns on changes in the worktree: not with --ref, --label or --dry-run")
    reports = report_files(output, fmt)  # a bad -o or --format fails now, not after the run
    project = current_project(ref, label, trust_ref_config=trust_ref_config)
    check_paths(project, paths or [])
    opts = TestOptions(
        paths=paths or [],
        keywords=keyword,
        tags=tag,
        models=model,
        repeat=repeat,
        concurrency=concurrency,
        last_failed=last_failed,
        shard=parse_shard(shard) if shard else None,
        use_cache=not no_cache,
        live=live,
        offline=offline,
        record=record,
        max_cost=max_cost,
        allow_unknown_cost=allow_unknown_cost,
        maxfail=maxfail if maxfail is not None else (1 if exitfirst else None),
        # Rows stream to the record as they finish; only the HTML page wants them all in memory
        # (with their rendered messages).
        keep_results=_wants_html(fmt, reports),
    )
    if affected is not None:
        from promptctl.review.diff import affected_keys

        opts.only_keys = affected_keys(project, affected)
        opts.affected = affected
    selected_nothing = NothingSelected(
        "no cases selected" + _selection_words(paths or [], keyword, tag, shard, last_failed, affected),
        hint="`promptctl list` shows the prompts and how many cases each has; -k matches 'prompt::case-id'",
    )
    if dry_run:
        if last_failed:
            from promptctl.records.lastfailed import read_failure_set

            opts.previous_failures, warning = read_failure_set(project.root)
            if warning:
                echo(f"warning: {warning}", err=True)
        plan = plan_only(project, opts)
        if not plan["rows"]:
            raise selected_nothing
        if fmt == "json":
            print_json(plan)
            return
        for note in plan["notes"]:
            echo(note, err=True)
        echo(
            f"{plan['rows']} rows ({plan['cases']} cases): {plan['replayed']} replayed from recordings, "
            f"{plan['cached']} from the cache, {plan['calls']} model calls"
            + (f" ({plan['deduplicated']} duplicates sent once)" if plan["deduplicated"] else "")
            + (f", up to {plan['judge_calls']} judge calls" if plan["judge_calls"] else "")
            + (f", up to {plan['embedding_calls']} embeddings" if plan["embedding_calls"] else "")
        )
        if opts.offline and plan["offline_misses"]:
            echo(f"--offline: {plan['offline_misses']} rows have no usable recording and would error")
        cost = plan["estimated_cost_usd"]
        echo(
            "estimated cost: "
            + (
                "unknown (no price for " + ", ".join(plan["unknown_price_models"]) + ")"
                if cost is None
                else f"≤ ${cost:.4f} ({plan['estimate_note']})"
            )
        )
        return
    if watch:
        from promptctl.cli.watching import watch_tests

        raise typer.Exit(
            watch_tests(
                project,
                opts,
                lambda p, o: _run_and_print(p, o, fmt, reports, verbose, fail_under, selected_nothing),
            )
        )
    raise typer.Exit(_run_and_print(project, opts, fmt, reports, verbose, fail_under, selected_nothing))


def _wants_html(fmt: str, reports: list[ReportFile]) -> bool:
    return fmt == "html" or any(r.fmt == "html" for r in reports)


def _run_and_print(
    project: Project,
    opts: TestOptions,
    fmt: str,
    reports: list[ReportFile],
    verbose: bool,
    fail_under: float | None,
    selected_nothing: NothingSelected,
) -> int:
    """One run of the suite, its report printed; the exit code."""
    from promptctl.records.run_record import exit_code_for, run_and_record

    progress = _Progress(enabled=fmt == "table" or bool(reports))

    def on_plan(rows: list[Any]) -> None:
        if not rows:  # before anything runs or is recorded
            raise selected_nothing
        progress.plan(rows)

    try:
        outcome = run_and_record(
            project, opts, argv=["promptctl", *sys.argv[1:]], on_plan=on_plan, on_result=progress.result
        )
    finally:
        progress.stop()
    run = outcome.run
    for note in run.notes:
        echo(note, err=True)
    if run.cache_warning:
        echo(f"warning: {run.cache_warning}", err=True)
    for warning in run.warnings:
        echo(f"warning: {warning}", err=True)
    messages = {r.row.fingerprint: r.row.messages for r in run.results} if _wants_html(fmt, reports) else None
    print_record(
        outcome.record,
        fmt,
        reports,
        verbose,
        summary_to_stderr=True,
        root=project.root,
        messages=messages,
        outcome=outcome,
    )
    if run.stopped:
        echo(f"{run.stopped}; the run record is marked partial (not the whole suite)", err=True)
    if run.recordings_written:
        echo(f"recordings updated: {', '.join(run.recordings_written)}", err=True)
    if outcome.summary.get("pending"):
        echo("outputs wait for a human verdict: run `promptctl review`", err=True)
    return exit_code_for(outcome.summary, fail_under)


def _selection_words(
    paths: list[str],
    keyword: list[str],
    tag: list[str],
    shard: str | None,
    last_failed: bool,
    affected: str | None,
) -> str:
    """`` (by -k zzzz, --tag t)``: what the user selected with, for the "no cases selected" message."""
    words = [*paths, *(f"-k {k}" for k in keyword), *(f"--tag {t}" for t in tag)]
    if shard:
        words.append(f"--shard {shard}")
    if last_failed:
        words.append("--last-failed")
    if affected:
        words.append(f"--affected {affected}")
    return f" (by {', '.join(words)})" if words else ""


# -- run ----------------------------------------------------------------------------------------
def run(
    prompt: Annotated[str, typer.Argument(help="Prompt name.")],
    var: Annotated[list[str], typer.Option("--var", help="Variable KEY=VALUE (repeatable).")] = [],  # noqa: B006
    vars_file: Annotated[
        Path | None, typer.Option("--vars-file", help="YAML/JSON file of variables.")
    ] = None,
    model: Annotated[str | None, typer.Option("--model", "-m", help="Model or alias.")] = None,
    no_stream: Annotated[bool, typer.Option("--no-stream", help="Print the answer at the end.")] = False,
) -> None:
    """Render a prompt, make one model call and stream the answer, then tokens, latency, cost."""
    from promptctl.report.formatting import fmt_cost, fmt_ms
    from promptctl.run.one_call import run_once
    from promptctl.secrets import mask

    project = current_project()
    stream = not no_stream and sys.stdout.isatty()

    def on_warning(message: str) -> None:
        echo(f"warning: {message}", err=True)

    resp = run_once(
        project,
        prompt,
        parse_vars(var, vars_file),
        model=model,
        on_token=write_content if stream else None,
        on_warning=on_warning,
    )
    if resp.status != "ok":
        raise ExecutionError(resp.error or "model call failed")
    # what is printed is masked as what is written (keys, and personal data under redact:);
    # streamed tokens were masked on their way
    write_content("\n" if stream else mask(resp.text or "") + "\n")
    estimated = " · tokens and cost estimated (the server reported no usage)" if resp.tokens_estimated else ""
    echo(
        f"[{resp.answered_by}] tokens {resp.input_tokens}/{resp.output_tokens} · latency "
        f"{fmt_ms(resp.latency_ms)} · cost {fmt_cost(resp.cost)}{estimated}",
        err=True,
    )


# -- history / show -----------------------------------------------------------------------------
def history(
    limit: Annotated[int, typer.Option("-n", "--limit", min=1, help="Show at most this many records.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Run records over time, local and from git notes: commit, date, subject, whether the run
    covered the whole suite, pass rate, mean score, cost, where the record came from."""
    from promptctl.records.history import history_rows
    from promptctl.records.record import scan_local
    from promptctl.report.formatting import fmt_cost, fmt_rate

    root = current_project().root

    def warn(message: str) -> None:
        echo(f"warning: {message}", err=True)

    for w in scan_local(root).warnings:
        warn(w)
    skipped: list[Any] = []
    rows = history_rows(root, limit=limit, warn=warn, skipped=skipped)
    warn_skipped(root, skipped)
    if as_json:
        print_json(rows)
        return
    if not rows:
        echo("no run records yet; run `promptctl test`")
        return
    table(
        ["COMMIT", "DATE", "SUBJECT", "CASES", "RUN", "PASS RATE", "SCORE", "COST", "SOURCE"],
        [
            [
                r["short"] + ("*" if r["dirty"] else ""),
                r["date"][:16],
                (r["subject"] or "")[:50],
                str(r["units"]),
                "whole suite" if r["complete"] else "partial: " + "; ".join(r["partial"]),
                fmt_rate(r["pass_rate"]),
                "-" if r["mean_score"] is None else f"{r['mean_score']:.3f}",
                fmt_cost(r["cost"]),
                r["source"],
            ]
            for r in rows
        ],
    )


def show(
    ref: Annotated[str | None, typer.Argument(help="Commit/ref (default: the latest record).")] = None,
    fmt: FormatOpt = "table",
    output: ReportsOpt = [],  # noqa: B006
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="List every case.")] = False,
) -> None:
    """Print a stored run record in any format."""
    from promptctl.records.history import find_record
    from promptctl.report.formats import report_files

    reports = report_files(output, fmt)
    root = current_project().root
    skipped: list[Any] = []
    record = find_record(root, ref, skipped=skipped, warn=lambda w: echo(f"warning: {w}", err=True))
    warn_skipped(root, skipped)
    print_record(record, fmt, reports, verbose, root=root)
