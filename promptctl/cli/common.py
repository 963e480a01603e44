"""What every verb module shares: the project, common options, variables from the command line,
and writing a report to stdout or a file. No verb module imports ``app``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from promptctl.cli.output import echo, table
from promptctl.errors import UsageError

if TYPE_CHECKING:  # imported when a verb runs: `promptctl --help` must not pay for YAML and git
    from promptctl.records.record import Record
    from promptctl.records.run_record import TestOutcome
    from promptctl.suite.project import Project

STATE: dict[str, Any] = {"debug": bool(os.environ.get("PROMPTCTL_DEBUG"))}

RefOpt = Annotated[
    str | None, typer.Option("--ref", help="Read prompts, cases and config from this git revision.")
]
LabelOpt = Annotated[
    str | None,
    typer.Option("--label", help="Like --ref, for the commit this label names (see `promptctl label`)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table | json | junit | markdown | html")]
OutOpt = Annotated[Path | None, typer.Option("-o", "--output", help="Write the report to this file.")]


def current_project(ref: str | None = None, label: str | None = None) -> Project:
    """The project around the working directory; with ``ref`` or ``label``, as of that commit."""
    from promptctl.suite.project import open_project

    if label is not None:
        if ref is not None:
            raise UsageError("--ref and --label both name a revision: give one of them")
        from promptctl.git.labels import resolve
        from promptctl.suite.config import find_root

        ref = resolve(find_root(Path.cwd())[0], label)
    return open_project(Path.cwd(), ref)


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
        if "=" not in item:
            raise UsageError(f"--var expects KEY=VALUE, got '{item}'")
        key, _, value = item.partition("=")
        out[key.strip()] = value
    return out


def emit(text: str, output: Path | None) -> None:
    from promptctl.atomic import write_text_atomic

    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        write_text_atomic(output, text)
        echo(f"report written to {output}", err=True)


def print_record(
    record: Record,
    fmt: str,
    output: Path | None,
    verbose: bool,
    *,
    root: Path | None = None,
    messages: dict[str, list[dict[str, Any]]] | None = None,
    outcome: TestOutcome | None = None,
) -> None:
    """``record`` in ``fmt``. ``outcome``: the run that just wrote it, whose rows are on disk
    only (a streamed run): the table comes from what it kept, other formats read the file."""
    from promptctl.report import as_json, formatting, text
    from promptctl.report.formats import render_record

    if outcome is not None and (fmt != "table" or output is not None):
        record = outcome.full_record()

    if fmt == "html":
        from promptctl.cli.html_pages import record_page

        emit(record_page(root or current_project().root, record, messages), output)
        return
    if fmt != "table":
        emit(render_record(record, fmt), output)
        return
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
    fails = text.failures_of(outcome.attention) if outcome is not None else text.failures(record)
    if fails:
        table(
            ["PROMPT", "CASE", "MODEL", "ASSERTION", "REASON", "OUTPUT"],
            [
                [
                    f["prompt"],
                    f["case"],
                    f["model"],
                    f["assertion"],
                    formatting.trim(f["reason"], 220),
                    formatting.trim(f["output"], 60),
                ]
                for f in fails
            ],
            title="Failures",
        )
    echo(text.summary_line(record.summary))
    if output is not None:
        emit(as_json.record_json(record), output)
