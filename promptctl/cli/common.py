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
    from promptctl.suite.project import Project

STATE: dict[str, Any] = {"debug": bool(os.environ.get("PROMPTCTL_DEBUG"))}

RefOpt = Annotated[
    str | None, typer.Option("--ref", help="Read prompts, cases and config from this git revision.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable JSON output.")]
FormatOpt = Annotated[str, typer.Option("--format", "-f", help="table | json | junit | markdown")]
OutOpt = Annotated[Path | None, typer.Option("-o", "--output", help="Write the report to this file.")]


TrustOpt = Annotated[
    bool,
    typer.Option(
        "--trust-ref-config",
        help="Allow live calls for a revision whose promptctl.yaml sends keys elsewhere than the worktree's.",
    ),
]


def current_project(ref: str | None = None, *, trust_ref_config: bool = False) -> Project:
    """The project around the working directory; prints its configuration's warnings (an ignored
    ``.env`` line, an endpoint variable with no effect) once per command."""
    from promptctl.suite.project import open_project

    project = open_project(Path.cwd(), ref, trust_config=trust_ref_config)
    shown = STATE.setdefault("notices_shown", set())
    for notice in project.config.notices:
        if notice not in shown:
            shown.add(notice)
            echo(notice.format(), err=True)
    return project


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
    """Print a report, or write it to ``output``; every key value in it masked."""
    from promptctl.atomic import write_text_atomic
    from promptctl.secrets import mask

    text = mask(text)
    if output is None:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
    else:
        write_text_atomic(output, text)
        echo(f"report written to {output}", err=True)


def print_record(record: Record, fmt: str, output: Path | None, verbose: bool) -> None:
    from promptctl.report import as_json, formatting, text
    from promptctl.report.formats import render_record

    if fmt != "table":
        emit(render_record(record, fmt), output)
        return
    if verbose:
        us = text.units(record)
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
    fails = text.failures(record)
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
