"""The root command: global options, the verb modules registered in order, and the one place
where a PromptctlError becomes a message and an exit code."""

from __future__ import annotations

import os
import sys
from typing import Annotated, NoReturn

import typer

from promptctl.cli import (
    curate_cmds,
    export_cmds,
    label_cmds,
    records_cmds,
    review_cmds,
    run_cmds,
    suite_cmds,
    traces_cmds,
    worker_cmds,
)
from promptctl.cli.common import STATE
from promptctl.cli.output import SHOWN, echo, print_problems, visible
from promptctl.errors import EXIT_INTERRUPTED, InputError, PromptctlError
from promptctl.version import __version__

app = typer.Typer(
    name="promptctl",
    help="Git-native prompt-as-code: render, test, diff and gate LLM prompts kept as YAML + Jinja in git.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


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
    STATE["debug"] = debug or bool(os.environ.get("PROMPTCTL_DEBUG"))
    SHOWN.clear()


for verbs in (
    suite_cmds,
    run_cmds,
    records_cmds,
    review_cmds,
    curate_cmds,
    label_cmds,
    export_cmds,
    traces_cmds,
    worker_cmds,
):
    verbs.register(app)


# -- entry point --------------------------------------------------------------------------------
def _fail(message: str, code: int) -> NoReturn:
    from promptctl.secrets import mask

    sys.stdout.flush()
    sys.stderr.write(visible(mask(message.rstrip("\n")), keep_lines=True) + "\n")
    sys.exit(code)


def _print_traceback() -> None:
    """``--debug``: the traceback of the error being handled, every key value in it masked."""
    import traceback

    from promptctl.secrets import mask

    sys.stderr.write(mask(traceback.format_exc()))


def app_main(argv: list[str] | None = None) -> None:
    """Console-script entry: run the app and translate every error into a message + exit code."""
    import click

    try:
        rv = app(args=argv, prog_name="promptctl", standalone_mode=False)
    except PromptctlError as exc:
        if STATE["debug"]:
            _print_traceback()
        if isinstance(exc, InputError):
            sys.stdout.flush()
            print_problems(exc.problems, err=True)
            n = sum(p.is_error for p in exc.problems)
            _fail(f"{n} error(s) in input files", exc.exit_code)
        _fail(f"error: {exc.render()}", exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        _fail("interrupted", EXIT_INTERRUPTED)
    except click.ClickException as exc:
        import io

        from promptctl.secrets import mask

        shown = io.StringIO()
        exc.show(file=shown)
        sys.stderr.write(mask(shown.getvalue()))
        sys.exit(2 if exc.exit_code in (1, 2) else exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # a bug: say so, keep the traceback behind --debug
        if STATE["debug"]:
            _print_traceback()
        _fail(
            f"internal error: {type(exc).__name__}: {exc}\n(this is a bug in promptctl; rerun with --debug "
            "for the traceback)",
            3,
        )
    sys.exit(rv if isinstance(rv, int) else 0)
