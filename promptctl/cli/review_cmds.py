"""CLI verbs for the review workflow: ``diff`` (what a change does to the requests) and ``compare``
(what it does to the results, with the CI quality gate)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import click
import typer

from promptctl.cli.common import OutOpt, TrustOpt, current_project, emit, masked_report_data
from promptctl.cli.output import echo, table
from promptctl.errors import UsageError

if TYPE_CHECKING:
    from promptctl.records.record import Record

ReviewFormatOpt = Annotated[str, typer.Option("--format", "-f", help="table | markdown | json")]
CompareFormatOpt = Annotated[str, typer.Option("--format", "-f", help="table | markdown | json | html")]
BaseArg = Annotated[
    str | None,
    typer.Argument(help="Base revision (default: merge-base of HEAD with the default branch)."),
]
CORRECTIONS = ("holm", "bh", "none")
HeadArg = Annotated[str | None, typer.Argument(help="Head revision (default: the worktree).")]
MaxBytesOpt = Annotated[
    int | None,
    typer.Option(
        "--max-bytes",
        min=0,
        help="Markdown: at most N bytes, leaving detail out in a stated order (default 60000, under "
        "GitHub's comment limit; 0: no limit).",
    ),
]


def register(app: typer.Typer) -> None:
    app.command()(diff)
    app.command()(compare)
    app.command()(report)


def _check_format(fmt: str, allowed: tuple[str, ...] = ("table", "markdown", "json")) -> None:
    if fmt not in allowed:
        raise UsageError(f"unknown --format '{fmt}'; use {', '.join(allowed[:-1])} or {allowed[-1]}")


def diff(
    base: BaseArg = None,
    head: HeadArg = None,
    fmt: ReviewFormatOpt = "table",
    output: OutOpt = None,
    context: Annotated[int, typer.Option("-U", "--context", min=0, help="Lines of context in diffs.")] = 3,
    max_bytes: MaxBytesOpt = None,
    verbose: Annotated[
        bool, typer.Option("-v", "--verbose", help="Table: list every case of a group.")
    ] = False,
) -> None:
    """Show what a change does to the rendered requests: changed files, the source diff of each
    changed prompt and partial, then one diff per distinct change of the rendered messages with the
    cases it covers (and the recorded outputs' changes, grouped the same way). No model is called.
    Exit 0."""
    from promptctl.report.budget import COMMENT_BUDGET
    from promptctl.report.diff_markdown import diff_markdown
    from promptctl.report.diff_text import diff_text
    from promptctl.report.formats import render_diff
    from promptctl.review.diff import diff_revisions

    _check_format(fmt)
    if max_bytes is not None and fmt != "markdown":
        raise UsageError("--max-bytes applies to --format markdown only")
    project = current_project()
    data = masked_report_data(diff_revisions(project.root, base, head, context=context))
    if fmt == "markdown":
        budget = COMMENT_BUDGET if max_bytes is None else (max_bytes or None)
        emit(diff_markdown(data, max_bytes=budget), output)
    elif fmt == "table":
        emit(diff_text(data, verbose=verbose), output)
    else:
        emit(render_diff(data, fmt), output)


def compare(
    base: BaseArg = None,
    head: HeadArg = None,
    fmt: CompareFormatOpt = "table",
    output: OutOpt = None,
    gate: Annotated[
        bool,
        typer.Option(
            "--gate", help="Exit 1 on a quality drop versus BASE; 3 when rows could not be evaluated."
        ),
    ] = False,
    alpha: Annotated[
        float | None, typer.Option("--alpha", help="Gate false-alarm rate (config gate.alpha).")
    ] = None,
    correction: Annotated[
        str | None,
        typer.Option("--correction", click_type=click.Choice(CORRECTIONS), help="holm | bh | none."),
    ] = None,
    pass_rate_tolerance: Annotated[
        float | None,
        typer.Option("--pass-rate-tolerance", min=0, help="Allowed pass-rate drop (0.02 = 2 pt)."),
    ] = None,
    score_tolerance: Annotated[
        float | None, typer.Option("--score-tolerance", min=0, help="Allowed drop of a metric's mean score.")
    ] = None,
    max_cost_increase: Annotated[
        float | None,
        typer.Option("--max-cost-increase", min=0, help="Allowed relative cost rise (0.2 = +20%)."),
    ] = None,
    max_latency_increase: Annotated[
        float | None, typer.Option("--max-latency-increase", min=0, help="Allowed relative p95 latency rise.")
    ] = None,
    suite_share: Annotated[
        float | None,
        typer.Option("--suite-share", min=0, max=1, help="Part of alpha for the suite-wide test."),
    ] = None,
    allow_removed: Annotated[
        bool,
        typer.Option(
            "--allow-removed",
            help="Cases the base ran and the head did not only warn (config gate.removed: warn).",
        ),
    ] = False,
    max_repeat: Annotated[
        int | None,
        typer.Option(
            "--max-repeat",
            min=1,
            help="More samples of undecided cases, up to N a side (gate.max_repeat).",
        ),
    ] = None,
    max_cost: Annotated[
        float | None,
        typer.Option("--max-cost", min=0, help="USD cap on the model calls of the gate's extra samples."),
    ] = None,
    allow_unknown_cost: Annotated[
        bool,
        typer.Option("--allow-unknown-cost", help="With --max-cost: do not count calls to unpriced models."),
    ] = False,
    offline: Annotated[
        bool, typer.Option("--offline", help="When a side must be run: recordings and cache only.")
    ] = False,
    rerun: Annotated[bool, typer.Option("--rerun", help="Run both sides even if records exist.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="List unchanged cases too.")] = False,
    max_bytes: MaxBytesOpt = None,
    trust_ref_config: TrustOpt = False,
    trust_pr_recordings: Annotated[
        bool,
        typer.Option(
            "--trust-pr-recordings",
            help="Accept the recordings HEAD changed relative to BASE without a call verifying them "
            "(config gate.trust_pr_recordings, read from BASE).",
        ),
    ] = False,
) -> None:
    """Compare the results of two revisions per case × model: transitions, pass-rate and score
    deltas, output changes, cost and latency, provider model drift. Each side uses a local run
    record, else a git note, else runs the suite at that revision."""
    from promptctl.report import text
    from promptctl.report.as_json import data_json
    from promptctl.report.budget import COMMENT_BUDGET
    from promptctl.report.compare_markdown import comparison_markdown
    from promptctl.report.formats import render_comparison
    from promptctl.review.comparison import base_gate_config, compare_revisions
    from promptctl.review.gate import gate_settings

    _check_format(fmt, ("table", "markdown", "json", "html"))
    if max_bytes is not None and fmt != "markdown":
        raise UsageError("--max-bytes applies to --format markdown only")
    given = {
        "--alpha": alpha,
        "--correction": correction,
        "--pass-rate-tolerance": pass_rate_tolerance,
        "--score-tolerance": score_tolerance,
        "--max-cost-increase": max_cost_increase,
        "--max-latency-increase": max_latency_increase,
        "--suite-share": suite_share,
        "--max-repeat": max_repeat,
        "--max-cost": max_cost,
    }
    if not gate:
        for option, value in given.items():
            if value is not None:
                raise UsageError(
                    f"{option} has no effect without --gate", hint=f"add --gate, or drop {option}"
                )
    if allow_unknown_cost and max_cost is None:
        raise UsageError(
            "--allow-unknown-cost has no effect without --max-cost", hint="add --max-cost USD, or drop it"
        )
    if alpha is not None and not 0.0 < alpha < 1.0:
        raise UsageError(f"--alpha must be between 0 and 1 (exclusive), got {alpha:g}")
    project = current_project()
    settings = None
    if gate:
        settings = gate_settings(
            base_gate_config(project.root, base),
            alpha=alpha,
            correction=correction,
            pass_rate_tolerance=pass_rate_tolerance,
            score_tolerance=score_tolerance,
            max_cost_increase=max_cost_increase,
            max_p95_latency_increase=max_latency_increase,
            suite_share=suite_share,
            removed="warn" if allow_removed else None,
            max_repeat=max_repeat,
        )

    def note(message: str) -> None:
        echo(message, err=True)

    records: dict[str, Record] = {}
    data = compare_revisions(
        project.root,
        base,
        head,
        gate=settings,
        offline=offline,
        rerun=rerun,
        note=note,
        records=records,
        max_cost=max_cost,
        trust_ref_config=trust_ref_config,
        allow_unknown_cost=allow_unknown_cost,
        trust_pr_recordings=trust_pr_recordings,
    )
    data = masked_report_data(data)
    if fmt == "table":
        echo(f"compare {text.side_desc(data['base'])} → {text.side_desc(data['head'])}")
        units = [
            u
            for u in data["units"]
            if verbose
            or u["transition"] != "still_passing"
            or u["output_changed"]
            or u["provider_model_drift"]
            or u.get("model_changed")
            or (u.get("head") or {}).get("unverified")
        ]
        if units:
            table(text.UNIT_COLUMNS, [text.unit_cells(u) for u in units])
        for line in text.totals_lines(data):
            echo(line)
        for line in text.checks_lines(data):
            echo(line)
        for line in text.claims_lines(data):
            echo(line)
        for line in text.gate_lines(data):
            echo(line)
        if output is not None:
            emit(data_json(data), output)
    elif fmt == "html":
        from promptctl.cli.html_pages import comparison_page
        from promptctl.records.record import masked_record

        shown = {side: masked_record(rec)[0] for side, rec in records.items()}
        emit(comparison_page(project.root, data, shown), output)
        for line in text.gate_lines(data):
            echo(line, err=True)
    else:
        if fmt == "markdown":
            budget = COMMENT_BUDGET if max_bytes is None else (max_bytes or None)
            emit(comparison_markdown(data, max_bytes=budget), output)
        else:
            emit(render_comparison(data, fmt), output)
        for line in text.gate_lines(data):
            echo(line, err=True)
    if data["gate"] is not None and data["gate"]["exit_code"]:
        raise typer.Exit(data["gate"]["exit_code"])  # 1: a quality drop; 3: cannot evaluate


def _report_json(path: Path | None, option: str, keys: tuple[str, ...]) -> dict[str, Any] | None:
    """The JSON report at ``path``; None when the command wrote none (no file, or an empty one)."""
    import json

    from promptctl.errors import InputError, Problem

    if path is None:
        return None
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read {option} {path}: {exc}") from None
    if not text.strip():
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InputError([Problem(str(path), exc.lineno, exc.colno, f"not JSON: {exc.msg}")]) from None
    if not isinstance(data, dict) or not all(k in data for k in keys):
        command = "compare" if option == "--compare" else "diff"
        raise InputError([Problem(str(path), 0, 0, f"not a report of `promptctl {command} --format json`")])
    return data


def report(
    compare_json: Annotated[
        Path | None,
        typer.Option(
            "--compare",
            help="What `promptctl compare --format json` wrote (no file, or an empty one: it wrote none).",
        ),
    ] = None,
    diff_json: Annotated[
        Path | None,
        typer.Option("--diff", help="What `promptctl diff --format json` wrote (likewise)."),
    ] = None,
    gate_exit: Annotated[
        str | None,
        typer.Option("--gate-exit", help="Exit code of `promptctl compare --gate` (empty: it did not run)."),
    ] = None,
    log: Annotated[
        Path | None, typer.Option("--log", help="What `promptctl compare` printed on stderr.")
    ] = None,
    max_bytes: MaxBytesOpt = None,
    full_report: Annotated[
        str | None,
        typer.Option(
            "--full-report", help="URL of the whole report (e.g. the job summary), linked when detail goes."
        ),
    ] = None,
    output: OutOpt = None,
) -> None:
    """Assemble the pull-request report from what `compare --gate` and `diff` wrote: the gate's
    verdict, the comparison, compare's messages and the rendered diffs, as Markdown of at most
    --max-bytes (what CI posts as the sticky comment and writes to the job summary). Exit 0."""
    import re

    from promptctl.errors import InputError, Problem
    from promptctl.report.budget import COMMENT_BUDGET
    from promptctl.report.pr_report import pr_report

    if full_report is not None and not re.fullmatch(r"https?://[^\s()<>\[\]]+", full_report):
        raise UsageError(
            f"--full-report must be an http(s) URL without spaces or brackets, got '{full_report}'"
        )
    compare_data = masked_report_data(
        _report_json(compare_json, "--compare", ("base", "head", "totals", "units"))
    )
    diff_data = masked_report_data(
        _report_json(diff_json, "--diff", ("base", "head", "summary", "groups", "templates"))
    )
    log_text = ""
    if log is not None and log.exists():
        log_text = log.read_text("utf-8", errors="replace")
    budget = COMMENT_BUDGET if max_bytes is None else (max_bytes or None)
    try:
        text = pr_report(
            gate_exit=gate_exit,
            compare=compare_data,
            diff=diff_data,
            log=log_text,
            max_bytes=budget,
            full_report=full_report,
        )
    except (KeyError, TypeError, AttributeError, IndexError) as exc:
        path = compare_json if compare_data is not None else diff_json
        raise InputError(
            [Problem(str(path), 0, 0, f"unexpected shape of a JSON report ({type(exc).__name__}: {exc})")]
        ) from None
    emit(text, output)
