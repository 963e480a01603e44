"""What every verb module shares: the project, common options, variables from the command line,
and writing a report to stdout or a file. No verb module imports ``app``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from promptctl.cli.output import echo, show_once, table, write_content
from promptctl.errors import UsageError

if TYPE_CHECKING:  # imported when a verb runs: `promptctl --help` must not pay for YAML and git
    from promptctl.records.record import DamagedRecord, Record
    from promptctl.records.run_record import TestOutcome
    from promptctl.report.formats import ReportFile
    from promptctl.suite.project import Project

STATE: dict[str, Any] = {"debug": bool(os.environ.get("PROMPTCTL_DEBUG"))}

RefOpt = Annotated[
    str | None, typer.Option("--ref", help="Read prompts, cases and config from this git revision.")
]
LabelOpt = Annotated[
    str | None,
    typer.Option("--label", help="Like --ref, for the commit this label names (see `promptctl label list`)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table | json | junit | markdown | html")]
OutOpt = Annotated[Path | None, typer.Option("-o", "--output", help="Write the report to this file.")]
ReportsOpt = Annotated[
    list[str],
    typer.Option(
        "-o",
        "--output",
        help="Write a report to a file: FORMAT=FILE (json, junit, markdown), or FILE in --format's "
        "format (JSON with the table). Repeatable; the terminal summary and exit code stay.",
    ),
]


TrustOpt = Annotated[
    bool,
    typer.Option(
        "--trust-ref-config",
        help="Allow live calls for a revision whose promptctl.yaml sends keys elsewhere than the worktree's.",
    ),
]


def current_project(
    ref: str | None = None,
    label: str | None = None,
    *,
    trust_ref_config: bool = False,
    show_environment: bool = True,
) -> Project:
    """The project around the working directory; with ``ref`` or ``label``, as of that commit.
    Shows the warnings about the environment its configuration was loaded in (an ignored
    ``.env`` line, an endpoint variable with no effect) once per command, unless the command
    lists its configuration's problems itself (``show_environment=False``: lint)."""
    from promptctl.suite.config import environment_problems, find_root
    from promptctl.suite.project import open_project

    if label is not None:
        if ref is not None:
            raise UsageError("--ref and --label both name a revision: give one of them")
        from promptctl.git.labels import resolve

        ref = resolve(find_root(Path.cwd())[0], label)
    project = open_project(Path.cwd(), ref, trust_config=trust_ref_config)
    if show_environment:
        show_once(environment_problems(project.config))
    return project


def check_paths(project: Project, paths: list[str]) -> None:
    """Every PATH argument names a file or folder of the project (at ``--ref``, of that commit)."""
    for p in paths:
        rel = os.path.relpath(os.path.abspath(p), project.root).replace(os.sep, "/")
        if rel.startswith("../") or rel == "..":
            raise UsageError(f"{p}: outside the project at {project.root}")
        if rel != "." and not project.source.exists(rel):
            at = f" at {project.ref}" if project.ref else ""
            raise UsageError(f"{p}: no such file or directory{at}")


def parse_vars(var: list[str], vars_file: Path | None) -> dict[str, Any]:
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
        key, eq, value = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise UsageError(f"--var expects KEY=VALUE with a name before '=', got '{item}'")
        if not key.isidentifier():
            raise UsageError(
                f"--var {item}: '{key}' is not a variable name (letters, digits and _, not a leading digit)"
            )
        out[key] = value
    return out


def warn_skipped(root: Path, skipped: list[DamagedRecord]) -> None:
    """One warning per damaged run record a command passed over."""
    for exc in skipped:
        try:
            where = exc.path.relative_to(root).as_posix()
        except ValueError:
            where = str(exc.path)
        echo(f"warning: skipped {where}: damaged run record ({exc.why}); delete it", err=True)


def emit(text: str, output: Path | None) -> None:
    """Print a report, or write it to ``output``; every key value in it masked. Personal data
    (``redact:``) is masked in the data a report is made from (:func:`masked_report_data`,
    :func:`promptctl.records.record.masked_record`), never in the finished document: a pattern
    must not rewrite a JSON number or put ``<EMAIL_1>`` raw into HTML or XML."""
    from promptctl.atomic import write_text_atomic
    from promptctl.secrets import key_masking

    text = key_masking().text(text)
    if output is None:
        write_content(text if text.endswith("\n") else text + "\n")
    else:
        write_text_atomic(output, text)
        echo(f"report written to {output}", err=True)


def masked_report_data(data: Any) -> Any:
    """A comparison's or a diff's data as a report may show it: key values and the personal data
    ``redact:`` chooses masked in every string (one masking row: a placeholder means the same
    value on both sides of the change)."""
    from promptctl.secrets import mask_data

    return mask_data(data)


def print_record(
    record: Record,
    fmt: str,
    reports: list[ReportFile],
    verbose: bool,
    *,
    summary_to_stderr: bool = False,
    root: Path | None = None,
    messages: dict[str, list[dict[str, Any]]] | None = None,
    outcome: TestOutcome | None = None,
) -> None:
    """Show a record: in ``fmt`` on stdout unless a bare ``-o FILE`` took that report (then the
    terminal table, as with ``--format table``), and write every ``-o`` report atomically.
    ``summary_to_stderr``: with a machine format on stdout, still say the summary on stderr.
    ``root`` and ``messages`` serve the HTML report (its history chart, the rendered requests).
    ``outcome``: the run that just wrote ``record``, whose rows are on disk only (a streamed run):
    the terminal table comes from what it kept, every other report reads the file back."""
    from promptctl.records.record import masked_record
    from promptctl.report import text
    from promptctl.report.formats import render_record

    if outcome is not None and (fmt != "table" or reports):
        record = outcome.full_record()
    # Reports show what the stored record holds: its rows redacted as `redact:` says, row by row.
    if messages is None and (fmt == "html" or any(r.fmt == "html" for r in reports)):
        from promptctl.review.rendered import rendered_messages

        messages = rendered_messages(root or current_project().root, record)  # `show`: render again
    record, messages = masked_record(record, messages)

    def render(f: str) -> str:
        if f == "html":
            from promptctl.cli.html_pages import record_page

            return record_page(root or current_project().root, record, messages)
        return render_record(record, f)

    rendered = [(r, render(r.fmt)) for r in reports]  # all rendered before any write
    redirected = fmt != "table" and any(r.fmt == fmt for r in reports)
    if fmt != "table" and not redirected:
        emit(render(fmt), None)
        if summary_to_stderr:
            echo(text.summary_line(record.summary), err=True)
    else:
        _print_table_view(record, verbose, outcome)
    for r, body in rendered:
        _write_report(r, body)


def _write_report(r: ReportFile, body: str) -> None:
    from promptctl.atomic import write_text_atomic
    from promptctl.secrets import key_masking

    try:
        write_text_atomic(r.path, key_masking().text(body))  # the record was masked (print_record)
    except OSError as exc:
        raise UsageError(f"cannot write the {r.fmt} report to {r.path}: {exc.strerror or exc}") from None
    echo(f"{r.fmt} report written to {r.path}", err=True)


def _print_table_view(record: Record, verbose: bool, outcome: TestOutcome | None = None) -> None:
    from promptctl.report import formatting, text

    if verbose:
        us = outcome.units() if outcome is not None else text.units(record)
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
    fails = (
        text.failures_of(outcome.attention, outcome.tally.outcome)
        if outcome is not None and outcome.tally is not None
        else text.failures(record)
    )
    if fails:
        table(
            ["PROMPT", "CASE", "MODEL", "PASSED", "ASSERTION", "REASON", "OUTPUT"],
            [
                [
                    f["prompt"],
                    f["case"],
                    f["model"],
                    f["passed"],
                    f["assertion"],
                    text.failure_reason(f, 220),
                    formatting.trim(f["output"], 60),
                ]
                for f in fails
            ],
            title="Failures",
        )
    echo(text.summary_line(record.summary))
