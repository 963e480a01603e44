"""``promptctl traces`` and ``promptctl traces stats``: the calls applications made through the
Python API (``promptctl.runtime.traces``), each naming the prompt version that made it."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from promptctl.cli.common import JsonOpt, current_project
from promptctl.cli.output import echo, print_json, table

traces_app = typer.Typer(
    help="Calls made through the Python API (traces): list them, or their statistics per prompt version.",
    invoke_without_command=True,
)

PromptOpt = Annotated[
    str | None,
    typer.Option("--prompt", "-p", help="Only this prompt (a name, or a glob such as 'support/*')."),
]
SinceOpt = Annotated[
    str | None,
    typer.Option("--since", help="Only calls since then: a duration (30m, 2h, 7d) or an ISO date/time."),
]
FileOpt = Annotated[
    Path | None,
    typer.Option(
        "--file", help="The traces file (default: PROMPTCTL_TRACES, else `traces:` in promptctl.yaml)."
    ),
]


def register(app: typer.Typer) -> None:
    app.add_typer(traces_app, name="traces")


def _load(file: Path | None, prompt: str | None, since: str | None, failed: bool) -> list[dict[str, Any]]:
    from promptctl.errors import UsageError
    from promptctl.runtime import traces as tr

    path = file
    if path is None:
        project = current_project()
        path = tr.configured_path(None, project.config.traces, project.root)
    if path is None:
        raise UsageError(
            "no traces file: tracing is off",
            hint=f"add `traces: .promptctl/traces.jsonl` to promptctl.yaml, set {tr.TRACES_ENV} "
            "or pass --file",
        )
    got = tr.read_traces(path)
    if got.skipped:
        echo(f"warning: {got.skipped} line(s) of {path} are not traces and were skipped", err=True)
    when = tr.parse_since(since) if since else None
    return tr.select(got.traces, prompt=prompt, since=when, failed=failed)


@traces_app.callback()
def traces(
    ctx: typer.Context,
    prompt: PromptOpt = None,
    since: SinceOpt = None,
    failed: Annotated[bool, typer.Option("--failed", help="Only calls that failed.")] = False,
    limit: Annotated[int, typer.Option("-n", "--limit", min=1, help="Show the newest N.")] = 50,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The traces of calls, newest last: prompt, version, label, model, status, latency, cost."""
    if ctx.invoked_subcommand is not None:
        return
    from promptctl.report.formatting import fmt_cost, fmt_ms, trim
    from promptctl.runtime.files import short_version

    shown = _load(file, prompt, since, failed)[-limit:]
    if as_json:
        print_json(shown)
        return
    if not shown:
        echo("no traces match")
        return
    table(
        [
            "TIME",
            "TRACE",
            "PROMPT",
            "VERSION",
            "LABEL",
            "MODEL",
            "STATUS",
            "LATENCY",
            "COST",
            "OUTPUT / ERROR",
        ],
        [
            [
                str(t.get("time", ""))[:19].replace("T", " "),
                str(t.get("trace_id", "")),
                str(t.get("prompt", "")),
                short_version(str(t.get("version", ""))),
                str(t.get("label") or (t.get("commit") or "")[:12] or "worktree"),
                str(t.get("answered_by") or t.get("model") or ""),
                str(t.get("status", "")),
                fmt_ms(t.get("latency_ms")),
                fmt_cost(t.get("cost")),
                trim(str(t.get("error") if t.get("status") != "ok" else t.get("output")) or "", 60),
            ]
            for t in shown
        ],
    )


@traces_app.command("stats")
def traces_stats(
    prompt: PromptOpt = None,
    since: SinceOpt = None,
    file: FileOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Per prompt version: calls, error rate, p50/p95 latency, total and mean cost."""
    from promptctl.report.formatting import fmt_cost, fmt_ms
    from promptctl.runtime import traces as tr
    from promptctl.runtime.files import short_version

    rows = tr.stats(_load(file, prompt, since, False))
    if as_json:
        print_json(rows)
        return
    if not rows:
        echo("no traces match")
        return
    table(
        ["PROMPT", "VERSION", "LABELS", "CALLS", "ERRORS", "P50", "P95", "COST", "MEAN COST"],
        [
            [
                r["prompt"],
                short_version(r["version"]),
                ", ".join(r["labels"]) or "-",
                str(r["calls"]),
                f"{r['errors']} ({r['error_rate'] * 100:.1f}%)",
                fmt_ms(r["p50_latency_ms"]),
                fmt_ms(r["p95_latency_ms"]),
                fmt_cost(r["cost"]),
                fmt_cost(r["mean_cost"]),
            ]
            for r in rows
        ],
    )
