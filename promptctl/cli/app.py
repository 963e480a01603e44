"""promptctl's verbs. Each is a small function: parse options, call the core, print."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from promptctl import __version__
from promptctl.cli.output import echo, print_json, print_problems, table
from promptctl.errors import EXIT_INTERRUPTED, ExecutionError, InputError, PromptctlError, UsageError

app = typer.Typer(
    name="promptctl",
    help="Git-native prompt-as-code: render, test, diff and gate LLM prompts kept as YAML + Jinja in git.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

_state: dict[str, Any] = {"debug": False}

RefOpt = Annotated[
    str | None, typer.Option("--ref", help="Read prompts, cases and config from this git revision.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]


def _version(value: bool) -> None:
    if value:
        echo(f"promptctl {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    _state["debug"] = debug or bool(os.environ.get("PROMPTCTL_DEBUG"))


def _project(ref: str | None = None) -> Any:
    from promptctl.suite.project import open_project

    return open_project(Path.cwd(), ref)


def _parse_vars(var: list[str], vars_file: Path | None) -> dict[str, Any]:
    import yaml

    out: dict[str, Any] = {}
    if vars_file is not None:
        try:
            data = yaml.safe_load(vars_file.read_text("utf-8"))
        except (OSError, yaml.YAMLError) as exc:
            raise UsageError(f"cannot read --vars-file {vars_file}: {exc}") from None
        if not isinstance(data, dict):
            raise UsageError(f"--vars-file {vars_file} must hold a mapping of variable names to values")
        out.update(data)
    for item in var:
        if "=" not in item:
            raise UsageError(f"--var expects KEY=VALUE, got '{item}'")
        key, _, value = item.partition("=")
        out[key.strip()] = value
    return out


# -- init ---------------------------------------------------------------------------------------
@app.command()
def init() -> None:
    """Scaffold prompts/, cases/, promptctl.yaml, .gitignore entries and a CI workflow here.

    Never overwrites an existing file."""
    from promptctl.scaffold import scaffold

    for action, path in scaffold(Path.cwd()):
        echo(f"{action:>8}  {path}")


# -- list ---------------------------------------------------------------------------------------
@app.command("list")
def list_(ref: RefOpt = None, as_json: JsonOpt = False) -> None:
    """List prompts with their kind, model, tags and number of cases."""
    project = _project(ref)
    suite = project.load()
    suite.raise_for_errors()
    rows = []
    for name, p in sorted(suite.prompts.items()):
        rows.append(
            {
                "name": name,
                "kind": p.kind,
                "model": p.model or project.config.model,
                "tags": p.tags,
                "cases": len(suite.cases_for(name)),
                "path": p.path,
                "description": p.description,
            }
        )
    if as_json:
        print_json(rows)
        return
    if not rows:
        echo(f"no prompts found under {project.config.prompts_dir}/; run `promptctl init` to scaffold one")
        return
    table(
        ["PROMPT", "KIND", "MODEL", "CASES", "TAGS"],
        [[r["name"], r["kind"], r["model"], str(r["cases"]), ", ".join(r["tags"])] for r in rows],
    )


# -- render -------------------------------------------------------------------------------------
@app.command()
def render(
    prompt: Annotated[str, typer.Argument(help="Prompt name, e.g. support/triage.")],
    var: Annotated[list[str], typer.Option("--var", help="Variable KEY=VALUE (repeatable).")] = [],  # noqa: B006
    vars_file: Annotated[
        Path | None, typer.Option("--vars-file", help="YAML/JSON file of variables.")
    ] = None,
    case: Annotated[str | None, typer.Option("--case", help="Take the variables of this case id.")] = None,
    ref: RefOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the rendered messages of a prompt. No model is called."""
    from promptctl.suggest import suggest
    from promptctl.suite.render import make_renderer, render_prompt

    project = _project(ref)
    suite = project.load()
    if prompt not in suite.prompts:
        suite.raise_for_errors()
        raise UsageError(
            f"unknown prompt '{prompt}'{suggest(prompt, sorted(suite.prompts))}",
            hint="`promptctl list` shows the prompts",
        )
    suite.raise_for_errors()
    p = suite.prompts[prompt]
    given: dict[str, Any] = {}
    where = None
    if case is not None:
        matches = [c for c in suite.cases_for(prompt) if c.id == case]
        if not matches:
            ids = [c.id for c in suite.cases_for(prompt)]
            raise UsageError(f"prompt '{prompt}' has no case '{case}'{suggest(case, ids)}")
        given.update(matches[0].vars)
        where = matches[0].loc
    given.update(_parse_vars(var, vars_file))
    messages = render_prompt(make_renderer(suite), p, given, where=where)
    if as_json:
        print_json(messages)
        return
    for m in messages:
        echo(f"--- {m['role']} ---")
        echo(m["content"])


# -- lint ---------------------------------------------------------------------------------------
@app.command()
def lint(
    paths: Annotated[
        list[str] | None, typer.Argument(help="Files or directories to check (default: all).")
    ] = None,
    ref: RefOpt = None,
) -> None:
    """Check prompt and case files: schema, Jinja, variables, assertions, ids, partials, datasets.

    Exit 0 when clean (warnings allowed), 2 on any error."""
    from promptctl.suite.lint import check_suite
    from promptctl.validate import lint_assertion

    project = _project(ref)
    suite = project.load()
    problems = check_suite(suite, lint_assertion)
    if paths:
        norm = [os.path.relpath(os.path.abspath(p), project.config.root).replace(os.sep, "/") for p in paths]
        problems = [
            p
            for p in problems
            if any(n in (".", p.path) or p.path.startswith(n.rstrip("/") + "/") for n in norm)
        ]
    print_problems(problems)
    errors = sum(p.is_error for p in problems)
    warnings = len(problems) - errors
    n_prompts, n_cases = len(suite.prompts), len(suite.cases)
    summary = f"{n_prompts} prompts, {n_cases} cases: {errors} error(s), {warnings} warning(s)"
    if errors:
        echo(summary, err=True)
        raise typer.Exit(2)
    echo(summary if problems else f"{n_prompts} prompts, {n_cases} cases: all clean")


# -- test ---------------------------------------------------------------------------------------
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table | json | junit | markdown")]
OutOpt = Annotated[Path | None, typer.Option("-o", "--output", help="Write the report to this file.")]


def _emit(text: str, output: Path | None) -> None:
    from promptctl.atomic import write_text_atomic

    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        write_text_atomic(output, text)
        echo(f"report written to {output}", err=True)


def _print_record(record: Any, fmt: str, output: Path | None, verbose: bool) -> None:
    from promptctl import report

    if fmt not in ("table", "json", "junit", "markdown"):
        raise UsageError(f"unknown --format '{fmt}'; use table, json, junit or markdown")
    if fmt != "table":
        _emit(report.render(record, fmt), output)
        return
    if verbose:
        us = report.units(record)
        table(
            ["STATUS", "PROMPT", "CASE", "MODEL", "PASS", "SCORE"],
            [
                [
                    u["status"].upper(),
                    u["prompt"],
                    u["case"],
                    u["model"],
                    f"{u['passes']}/{u['samples']}",
                    "-" if u["score"] is None else f"{u['score']:.2f}",
                ]
                for u in us
            ],
        )
    fails = report.failures(record)
    if fails:
        table(
            ["PROMPT", "CASE", "MODEL", "ASSERTION", "REASON", "OUTPUT"],
            [
                [
                    f["prompt"],
                    f["case"],
                    f["model"],
                    f["assertion"],
                    report.trim(f["reason"], 220),
                    report.trim(f["output"], 60),
                ]
                for f in fails
            ],
            title="Failures",
        )
    echo(report.summary_line(record.summary))
    if output is not None:
        _emit(report.to_json(record), output)


class _Progress:
    """Live progress: a rich bar on a terminal, a plain line every few seconds otherwise."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self.total = 0
        self.counts = {"pass": 0, "fail": 0, "error": 0, "skipped": 0, "cached": 0}
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
        done = sum(self.counts[k] for k in ("pass", "fail", "error", "skipped"))
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


@app.command()
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
    output: OutOpt = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="List every case.")] = False,
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
    shard: Annotated[
        str | None, typer.Option("--shard", help="Run slice I of N (I/N), for CI matrices.")
    ] = None,
    affected: Annotated[
        str | None,
        typer.Option("--affected", help="Only cases whose request differs from this base revision."),
    ] = None,
    ref: RefOpt = None,
) -> None:
    """Run the suite: render, call (cache/recordings first), validate, record. Exit 0/1/2/3."""
    from promptctl import report
    from promptctl.run.plan import parse_shard
    from promptctl.run.suite_run import TestOptions, exit_code_for, run_tests
    from promptctl.run.suite_run import dry_run as plan_only

    if live and offline:
        raise UsageError("--live and --offline contradict each other")
    project = _project(ref)
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
    )
    if affected is not None:
        from promptctl.review import affected_keys

        opts.only_keys = affected_keys(project, affected)
    if dry_run:
        plan = plan_only(project, opts)
        if fmt == "json":
            print_json(plan)
            return
        echo(
            f"{plan['rows']} rows ({plan['cases']} cases): {plan['replayed']} replayed from recordings, "
            f"{plan['cached']} from the cache, {plan['calls']} model calls"
            + (f" ({plan['deduplicated']} duplicates sent once)" if plan["deduplicated"] else "")
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
    progress = _Progress(enabled=fmt == "table" or output is not None)
    try:
        outcome = run_tests(
            project, opts, argv=["promptctl", *sys.argv[1:]], on_plan=progress.plan, on_result=progress.result
        )
    finally:
        progress.stop()
    for note in outcome.notes:
        echo(note, err=True)
    if outcome.cache_warning:
        echo(f"warning: {outcome.cache_warning}", err=True)
    _print_record(outcome.record, fmt, output, verbose)
    if outcome.recordings_written:
        echo(f"recordings updated: {', '.join(outcome.recordings_written)}", err=True)
    if not outcome.results:
        echo("no cases selected", err=True)
    del report
    raise typer.Exit(exit_code_for(outcome.summary, fail_under))


# -- run ----------------------------------------------------------------------------------------
@app.command()
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
    from promptctl.report import fmt_cost, fmt_ms
    from promptctl.run.one_call import run_once

    project = _project()
    stream = not no_stream and sys.stdout.isatty()

    def on_token(t: str) -> None:
        sys.stdout.write(t)
        sys.stdout.flush()

    resp = run_once(
        project, prompt, _parse_vars(var, vars_file), model=model, on_token=on_token if stream else None
    )
    if resp.status != "ok":
        raise ExecutionError(resp.error or "model call failed")
    if stream:
        echo()
    else:
        echo(resp.text or "")
    echo(
        f"[{resp.answered_by}] tokens {resp.input_tokens}/{resp.output_tokens} · latency "
        f"{fmt_ms(resp.latency_ms)} · cost {fmt_cost(resp.cost)}",
        err=True,
    )


# -- cache --------------------------------------------------------------------------------------
cache_app = typer.Typer(help="Inspect or empty the response cache (.promptctl/cache).", no_args_is_help=True)
app.add_typer(cache_app, name="cache")


@cache_app.command("stats")
def cache_stats(as_json: JsonOpt = False) -> None:
    """Entries, size on disk and the last run's hit ratio."""
    from promptctl.execute.cache import ResponseCache

    project = _project()
    c = ResponseCache.for_root(project.root)
    st = c.stats()
    c.close()
    if as_json:
        print_json(st)
        return
    if c.warning:
        echo(f"warning: {c.warning}", err=True)
    last = st.get("last_run") or {}
    ratio = last.get("ratio")
    echo(
        f"cache: {st.get('path')}\nentries: {st.get('entries', 0)}\n"
        f"size: {st.get('size_bytes', 0) / 1024:.1f} KiB\n"
        f"last run: {last.get('hits', 0)} hits, {last.get('misses', 0)} misses"
        + ("" if ratio is None else f" ({ratio * 100:.0f}% hit ratio)")
    )


@cache_app.command("clear")
def cache_clear() -> None:
    """Delete every cached response."""
    from promptctl.execute.cache import ResponseCache

    c = ResponseCache.for_root(_project().root)
    n = c.clear()
    c.close()
    echo(f"removed {n} cached responses")


# -- history / show -----------------------------------------------------------------------------
@app.command()
def history(
    limit: Annotated[int, typer.Option("-n", "--limit", help="Show at most this many records.")] = 20,
    as_json: JsonOpt = False,
) -> None:
    """Run records over time: commit, date, subject, pass rate, mean score, cost."""
    from promptctl.history import history_rows
    from promptctl.report import fmt_cost, fmt_rate

    rows = history_rows(_project().root, limit=limit)
    if as_json:
        print_json(rows)
        return
    if not rows:
        echo("no run records yet; run `promptctl test`")
        return
    table(
        ["COMMIT", "DATE", "SUBJECT", "CASES", "PASS RATE", "SCORE", "COST"],
        [
            [
                r["short"] + ("*" if r["dirty"] else "") + ("" if r["complete"] else " (incomplete)"),
                r["date"][:16],
                (r["subject"] or "")[:50],
                str(r["units"]),
                fmt_rate(r["pass_rate"]),
                "-" if r["mean_score"] is None else f"{r['mean_score']:.3f}",
                fmt_cost(r["cost"]),
            ]
            for r in rows
        ],
    )


@app.command()
def show(
    ref: Annotated[str | None, typer.Argument(help="Commit/ref (default: the latest record).")] = None,
    fmt: FormatOpt = "table",
    output: OutOpt = None,
    verbose: Annotated[bool, typer.Option("-v", "--verbose", help="List every case.")] = False,
) -> None:
    """Print a stored run record in any format."""
    from promptctl.history import find_record

    record = find_record(_project().root, ref)
    _print_record(record, fmt, output, verbose)


# -- records ------------------------------------------------------------------------------------
records_app = typer.Typer(
    help="Share run records through git notes; merge shard records.", no_args_is_help=True
)
app.add_typer(records_app, name="records")


@records_app.command("push")
def records_push(remote: Annotated[str, typer.Argument(help="Git remote.")] = "origin") -> None:
    """Attach local records to their commits (refs/notes/promptctl) and push the notes."""
    from promptctl import notes

    added, commits = notes.push(_project().root, remote)
    echo(
        f"attached {added} new record(s) across {commits} commit(s); pushed refs/notes/promptctl to {remote}"
    )


@records_app.command("pull")
def records_pull(remote: Annotated[str, typer.Argument(help="Git remote.")] = "origin") -> None:
    """Fetch refs/notes/promptctl from a remote and merge it into the local notes."""
    from promptctl import notes

    changed = notes.pull(_project().root, remote)
    echo(f"pulled records from {remote}: {len(changed)} commit(s) updated")


@records_app.command("merge")
def records_merge(files: Annotated[list[Path], typer.Argument(help="Shard record files (.json).")]) -> None:
    """Combine the records of several shards (--shard I/N) into one record for the commit."""
    from promptctl import notes

    rec = notes.merge_records(_project().root, files)
    echo(f"merged {len(files)} records into {rec.path} ({len(rec.rows)} rows)")


# -- entry point --------------------------------------------------------------------------------
def _fail(message: str, code: int) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.exit(code)


def app_main(argv: list[str] | None = None) -> None:
    """Console-script entry: run the app and translate every error into a message + exit code."""
    import click

    try:
        rv = app(args=argv, prog_name="promptctl", standalone_mode=False)
    except PromptctlError as exc:
        if _state["debug"]:
            import traceback

            traceback.print_exc()
        if isinstance(exc, InputError):
            sys.stdout.flush()
            print_problems(exc.problems, err=True)
            n = sum(p.is_error for p in exc.problems)
            _fail(f"{n} error(s); run `promptctl lint` to see every problem", exc.exit_code)
        _fail(f"error: {exc.render()}", exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _fail("interrupted", EXIT_INTERRUPTED)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code in (1, 2) else exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # a bug: say so, keep the traceback behind --debug
        if _state["debug"]:
            import traceback

            traceback.print_exc()
        _fail(
            f"internal error: {type(exc).__name__}: {exc}\n(this is a bug in promptctl; rerun with --debug "
            "for the traceback)",
            3,
        )
    sys.exit(rv if isinstance(rv, int) else 0)


# Verbs of the git-native review workflow (diff, compare) live in their own module.
from promptctl.cli import review_cmds  # noqa: E402,F401
