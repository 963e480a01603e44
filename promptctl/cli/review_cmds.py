"""CLI verbs for the review workflow: ``diff`` (what a change does to the requests) and ``compare``
(what it does to the results, with the CI quality gate)."""

from __future__ import annotations

from typing import Annotated

import typer

from promptctl.cli.app import OutOpt, _emit, _project, app
from promptctl.cli.output import echo, table
from promptctl.errors import UsageError

ReviewFormatOpt = Annotated[str, typer.Option("--format", "-f", help="table | markdown | json")]
BaseArg = Annotated[
    str | None,
    typer.Argument(help="Base revision (default: merge-base of HEAD with the default branch)."),
]
HeadArg = Annotated[str | None, typer.Argument(help="Head revision (default: the worktree).")]


def _check_format(fmt: str) -> None:
    if fmt not in ("table", "markdown", "json"):
        raise UsageError(f"unknown --format '{fmt}'; use table, markdown or json")


@app.command()
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
    from promptctl.review import diff_revisions, render_diff

    _check_format(fmt)
    project = _project()
    data = diff_revisions(project.root, base, head, context=context)
    _emit(render_diff(data, fmt), output)


@app.command()
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
) -> None:
    """Compare the results of two revisions per case × model: transitions, pass-rate and score
    deltas, output changes, cost and latency, provider model drift. Each side uses a local run
    record, else a git note, else runs the suite at that revision."""
    from promptctl import compare as cmp

    _check_format(fmt)
    project = _project()
    settings = None
    if gate:
        settings = cmp.GateSettings.from_config(
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

    data = cmp.compare_revisions(
        project.root, base, head, gate=settings, offline=offline, rerun=rerun, note=note
    )
    if fmt == "table":
        echo(f"compare {cmp.side_desc(data['base'])} → {cmp.side_desc(data['head'])}")
        units = [
            u
            for u in data["units"]
            if verbose
            or u["transition"] != "still_passing"
            or u["output_changed"]
            or u["provider_model_drift"]
        ]
        if units:
            table(cmp.UNIT_COLUMNS, [cmp.unit_cells(u) for u in units])
        for line in cmp.totals_lines(data):
            echo(line)
        for line in cmp.gate_lines(data):
            echo(line)
        if output is not None:
            _emit(cmp.render_compare(data, "json"), output)
    else:
        _emit(cmp.render_compare(data, fmt), output)
        for line in cmp.gate_lines(data):
            echo(line, err=True)
    if data["gate"] is not None and data["gate"]["failed"]:
        raise typer.Exit(1)
