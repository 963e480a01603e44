"""CLI verbs for the review workflow: ``diff`` (what a change does to the requests) and ``compare``
(what it does to the results, with the CI quality gate)."""

from __future__ import annotations

from typing import Annotated

import typer

from promptctl.cli.common import OutOpt, TrustOpt, current_project, emit
from promptctl.cli.output import echo, table
from promptctl.errors import UsageError

ReviewFormatOpt = Annotated[str, typer.Option("--format", "-f", help="table | markdown | json")]
BaseArg = Annotated[
    str | None,
    typer.Argument(help="Base revision (default: merge-base of HEAD with the default branch)."),
]
HeadArg = Annotated[str | None, typer.Argument(help="Head revision (default: the worktree).")]


def register(app: typer.Typer) -> None:
    app.command()(diff)
    app.command()(compare)


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "markdown", "json"):
        raise UsageError(f"unknown --format '{fmt}'; use table, markdown or json")


def diff(
    base: BaseArg = None,
    head: HeadArg = None,
    fmt: ReviewFormatOpt = "table",
    output: OutOpt = None,
    context: Annotated[int, typer.Option("-U", "--context", min=0, help="Lines of context in diffs.")] = 3,
) -> None:
    """Show what a change does to the rendered requests: changed files, then a diff of the rendered
    messages of every case × model whose request changed (and of recorded outputs when both sides
    have them). No model is called. Exit 0."""
    from promptctl.report.formats import render_diff
    from promptctl.review.diff import diff_revisions

    _check_format(fmt)
    project = current_project()
    data = diff_revisions(project.root, base, head, context=context)
    emit(render_diff(data, fmt), output)


def compare(
    base: BaseArg = None,
    head: HeadArg = None,
    fmt: ReviewFormatOpt = "table",
    output: OutOpt = None,
    gate: Annotated[bool, typer.Option("--gate", help="Exit 1 on a quality drop versus BASE.")] = False,
    alpha: Annotated[
        float | None, typer.Option("--alpha", help="Gate false-alarm rate (config gate.alpha).")
    ] = None,
    correction: Annotated[str | None, typer.Option("--correction", help="holm | bh | none.")] = None,
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
    offline: Annotated[
        bool, typer.Option("--offline", help="When a side must be run: recordings and cache only.")
    ] = False,
    rerun: Annotated[bool, typer.Option("--rerun", help="Run both sides even if records exist.")] = False,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="List unchanged cases too.")] = False,
    trust_ref_config: TrustOpt = False,
) -> None:
    """Compare the results of two revisions per case × model: transitions, pass-rate and score
    deltas, output changes, cost and latency, provider model drift. Each side uses a local run
    record, else a git note, else runs the suite at that revision."""
    from promptctl.report import text
    from promptctl.report.as_json import data_json
    from promptctl.report.formats import render_comparison
    from promptctl.review.comparison import compare_revisions
    from promptctl.review.gate import gate_settings

    _check_format(fmt)
    project = current_project()
    settings = None
    if gate:
        settings = gate_settings(
            project.config.gate,
            alpha=alpha,
            correction=correction,
            pass_rate_tolerance=pass_rate_tolerance,
            score_tolerance=score_tolerance,
            max_cost_increase=max_cost_increase,
            max_p95_latency_increase=max_latency_increase,
            suite_share=suite_share,
        )

    def note(message: str) -> None:
        echo(message, err=True)

    data = compare_revisions(
        project.root,
        base,
        head,
        gate=settings,
        offline=offline,
        rerun=rerun,
        note=note,
        trust_ref_config=trust_ref_config,
    )
    if fmt == "table":
        echo(f"compare {text.side_desc(data['base'])} → {text.side_desc(data['head'])}")
        units = [
            u
            for u in data["units"]
            if verbose
            or u["transition"] != "still_passing"
            or u["output_changed"]
            or u["provider_model_drift"]
        ]
        if units:
            table(text.UNIT_COLUMNS, [text.unit_cells(u) for u in units])
        for line in text.totals_lines(data):
            echo(line)
        for line in text.gate_lines(data):
            echo(line)
        if output is not None:
            emit(data_json(data), output)
    else:
        emit(render_comparison(data, fmt), output)
        for line in text.gate_lines(data):
            echo(line, err=True)
    if data["gate"] is not None and data["gate"]["failed"]:
        raise typer.Exit(1)
