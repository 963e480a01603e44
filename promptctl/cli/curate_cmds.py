"""Verbs for humans in the loop: ``review`` (snapshot review of outputs), ``feedback import``
(feedback into cases) and ``examples add`` (few-shot example sets). The work is in
``promptctl.curate``; these parse options, call it and print."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from promptctl.cli.common import JsonOpt, current_project
from promptctl.cli.output import echo, print_json
from promptctl.errors import UsageError

if TYPE_CHECKING:
    from promptctl.curate.changes import FileChange
    from promptctl.curate.review import Item, Session
    from promptctl.suite.project import Project


def register(app: typer.Typer) -> None:
    app.command()(review)
    app.add_typer(feedback_app, name="feedback")
    app.add_typer(examples_app, name="examples")


def _repo_path(project: Project, path: str) -> str:
    """A path typed on the command line (relative to the working directory) as a repository path."""
    rel = os.path.relpath(os.path.abspath(path), project.root).replace(os.sep, "/")
    if rel.startswith("../") or rel == "..":
        raise UsageError(f"{path} is outside the project at {project.root}")
    return rel


def _show_change(change: FileChange | None, quiet: bool) -> None:
    if change is not None and not quiet:
        echo(change.diff.rstrip("\n"))


# -- review -------------------------------------------------------------------------------------
def review(
    accept: Annotated[
        list[str],
        typer.Option("--accept", help="Accept the output of PROMPT::CASE[::MODEL][@HASH] (repeatable)."),
    ] = [],  # noqa: B006
    reject: Annotated[
        list[str],
        typer.Option("--reject", help="Reject the output of PROMPT::CASE[::MODEL][@HASH] (repeatable)."),
    ] = [],  # noqa: B006
    accept_all: Annotated[bool, typer.Option("--accept-all", help="Accept every pending output.")] = False,
    comment: Annotated[str | None, typer.Option("--comment", help="A comment on these verdicts.")] = None,
    score: Annotated[
        list[str], typer.Option("--score", help="METRIC=VALUE for a score the case declares (repeatable).")
    ] = [],  # noqa: B006
    include_all: Annotated[
        bool, typer.Option("--all", help="Every output of the run, not only cases with a `human` assertion.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Review model outputs like snapshots: accept or reject each output of the latest run that is
    new or differs from the last accepted one, with scores and comments. Verdicts go to
    cases/__reviews__/ (commit them); `human` assertions pass on accepted outputs.

    Interactive on a terminal; --json lists what is pending; --accept/--reject/--accept-all decide
    without asking."""
    from promptctl.curate.review import identity, open_session

    project = current_project()
    session = open_session(project, include_all=include_all)
    for note in session.notes:
        echo(f"note: {note}", err=True)
    if as_json:
        if accept or reject or accept_all:
            raise UsageError("--json lists what is pending; it cannot be combined with verdicts")
        print_json([i.to_dict() for i in session.pending])
        return
    if accept or reject or accept_all:
        _decide(session, identity(project), accept, reject, accept_all, comment or "", score)
        return
    if comment is not None or score:
        raise UsageError("--comment and --score go with --accept, --reject or --accept-all")
    _interactive(session, identity(project))


def _decide(
    session: Session,
    by: str,
    accept: list[str],
    reject: list[str],
    accept_all: bool,
    comment: str,
    scores: list[str],
) -> None:
    from promptctl.curate.review import parse_scores

    chosen: dict[str, tuple[Item, str]] = {}
    for verdict, idents in (("accepted", accept), ("rejected", reject)):
        for ident in idents:
            for item in session.match(ident):
                other = chosen.get(item.id)
                if other is not None and other[1] != verdict:
                    raise UsageError(f"{item.id} is both accepted and rejected on this command line")
                chosen[item.id] = (item, verdict)
    if accept_all:
        for item in session.pending:
            chosen.setdefault(item.id, (item, "accepted"))
    if not chosen:
        echo("nothing to review: every output of the latest run has a verdict")
        return
    try:  # every score checked before anything is written
        typed = parse_scores([item for item, _verdict in chosen.values()], scores)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    for key, (item, verdict) in chosen.items():
        session.verdict(item, verdict, by=by, scores=typed[key], comment=comment, write_now=False)
        echo(f"{verdict} {item.id}")
    for path in session.write():
        echo(f"verdicts written to {path}", err=True)


def _interactive(session: Session, by: str) -> None:
    from promptctl.cli.review_tui import review_loop, stdin_terminal

    if not session.pending:
        echo("nothing to review: every output of the latest run has a verdict")
        return
    term = stdin_terminal()
    if term is None:
        raise UsageError(
            f"{len(session.pending)} output(s) to review, but this is not an interactive terminal",
            hint="list them with `promptctl review --json`; decide with --accept, --reject or --accept-all",
        )
    tally = review_loop(session, by, term)
    files = ", ".join(sorted(tally.files)) or "nothing written"
    echo(f"{tally.accepted} accepted, {tally.rejected} rejected, {tally.skipped} skipped · {files}")
    if tally.files:
        echo("commit the review files with your change", err=True)


# -- feedback -----------------------------------------------------------------------------------
feedback_app = typer.Typer(help="Turn feedback on outputs into test cases.", no_args_is_help=True)


@feedback_app.command("import")
def feedback_import(
    file: Annotated[Path, typer.Argument(help="Feedback as .jsonl or .csv (one rating per line).")],
    to: Annotated[str, typer.Option("--to", help="The case file to append to (created if absent).")],
    prompt: Annotated[
        str | None, typer.Option("--prompt", help="Prompt of a new case file (else from the feedback).")
    ] = None,
    traces: Annotated[
        Path | None,
        typer.Option(
            "--traces",
            help="JSONL traces to look trace ids up in (default: the traces file the runtime API "
            "writes, PROMPTCTL_TRACES or `traces:` in promptctl.yaml, when it exists).",
        ),
    ] = None,
    branch: Annotated[
        str | None,
        typer.Option(
            "--branch", help="Commit the new cases on this new branch; the worktree is not touched."
        ),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the diff; write nothing.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Do not print the diff.")] = False,
) -> None:
    """Append a case per line of feedback to a case file: its vars, `expected` from the correction
    (or the output when rated good), tag `feedback`. Lines whose vars a case already has are
    skipped. Every line is checked first: nothing is written when one is malformed."""
    from promptctl.curate.feedback_cases import import_feedback

    project = current_project()
    if traces is None:
        from promptctl.runtime.traces import configured_path

        written = configured_path(None, project.config.traces, project.root)
        traces = written if written is not None and written.is_file() else None
    result = import_feedback(
        project, file, str(file), _repo_path(project, to), traces=traces, prompt=prompt,
        branch=branch, dry_run=dry_run,
    )  # fmt: skip
    for line in result.skipped:
        echo(line, err=True)
    for note in result.notes:
        echo(f"note: {note}", err=True)
    _show_change(result.change, quiet)
    n = len(result.added)
    if not n:
        echo(f"no new cases for {result.prompt}: {result.target} unchanged")
    elif dry_run:
        echo(f"would add {n} case(s) to {result.target} (dry run: nothing written)")
    elif result.commit is not None:
        echo(
            f"{n} case(s) added to {result.target} on new branch '{branch}' ({result.commit[:12]}); "
            f"your worktree is unchanged — push it with `git push -u origin {branch}`"
        )
    else:
        echo(f"{n} case(s) added to {result.target}")


# -- examples -----------------------------------------------------------------------------------
examples_app = typer.Typer(
    help="Few-shot example sets that grow from reviews and feedback.", no_args_is_help=True
)


@examples_app.command("add")
def examples_add(
    name: Annotated[str, typer.Argument(help="The set: examples/NAME.yaml (created if absent).")],
    from_reviews: Annotated[
        bool, typer.Option("--from-reviews", help="Accepted outputs (`promptctl review`).")
    ] = False,
    from_feedback: Annotated[
        bool, typer.Option("--from-feedback", help="Corrections (`promptctl feedback import`).")
    ] = False,
    prompt: Annotated[
        str | None,
        typer.Option("--prompt", help="Whose cases feed the set (default: the prompt named NAME)."),
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Show the diff; write nothing.")] = False,
    quiet: Annotated[bool, typer.Option("-q", "--quiet", help="Do not print the diff.")] = False,
) -> None:
    """Add examples (the case's vars and the approved output, with provenance) to a set; inputs the
    set already has are skipped."""
    from promptctl.curate.example_sets import add_examples

    project = current_project()
    result = add_examples(
        project, name, reviews=from_reviews, feedback=from_feedback, prompt=prompt, dry_run=dry_run
    )
    for line in result.skipped:
        echo(f"skipped {line}", err=True)
    _show_change(result.change, quiet)
    n = len(result.added)
    if not n:
        echo(f"no new examples for {name}: {result.path} unchanged")
    elif dry_run:
        echo(f"would add {n} example(s) to {result.path} (dry run: nothing written)")
    else:
        echo(f"{n} example(s) added to {result.path}")
