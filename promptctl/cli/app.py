"""promptctl's verbs. Each is a small function: parse options, call the core, print."""

from __future__ import annotations

import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from promptctl import __version__
from promptctl.cli.output import echo, print_json, print_problems, table
from promptctl.errors import EXIT_INTERRUPTED, InputError, PromptctlError, UsageError

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
    from promptctl.project import open_project

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
        rows.append({
            "name": name, "kind": p.kind, "model": p.model or project.config.model, "tags": p.tags,
            "cases": len(suite.cases_for(name)), "path": p.path, "description": p.description,
        })
    if as_json:
        print_json(rows)
        return
    if not rows:
        echo(f"no prompts found under {project.config.prompts_dir}/; run `promptctl init` to scaffold one")
        return
    table(["PROMPT", "KIND", "MODEL", "CASES", "TAGS"],
          [[r["name"], r["kind"], r["model"], str(r["cases"]), ", ".join(r["tags"])] for r in rows])


# -- render -------------------------------------------------------------------------------------
@app.command()
def render(
    prompt: Annotated[str, typer.Argument(help="Prompt name, e.g. support/triage.")],
    var: Annotated[list[str], typer.Option("--var", help="Variable KEY=VALUE (repeatable).")] = [],  # noqa: B006
    vars_file: Annotated[Path | None, typer.Option("--vars-file", help="YAML/JSON file of variables.")] = None,
    case: Annotated[str | None, typer.Option("--case", help="Take the variables of this case id.")] = None,
    ref: RefOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Print the rendered messages of a prompt. No model is called."""
    from promptctl.lint import make_renderer
    from promptctl.render import render_prompt
    from promptctl.yamlio import suggest

    project = _project(ref)
    suite = project.load()
    if prompt not in suite.prompts:
        suite.raise_for_errors()
        raise UsageError(f"unknown prompt '{prompt}'{suggest(prompt, sorted(suite.prompts))}",
                         hint="`promptctl list` shows the prompts")
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
    paths: Annotated[list[str] | None, typer.Argument(help="Files or directories to check (default: all).")] = None,
    ref: RefOpt = None,
) -> None:
    """Check prompt and case files: schema, Jinja, variables, assertions, ids, partials, datasets.

    Exit 0 when clean (warnings allowed), 2 on any error."""
    from promptctl.lint import check_suite

    project = _project(ref)
    suite = project.load()
    problems = check_suite(suite)
    if paths:
        norm = [os.path.relpath(os.path.abspath(p), project.config.root).replace(os.sep, "/") for p in paths]
        problems = [p for p in problems
                    if any(n in (".", p.path) or p.path.startswith(n.rstrip("/") + "/") for n in norm)]
    print_problems(problems)
    errors = sum(p.is_error for p in problems)
    warnings = len(problems) - errors
    n_prompts, n_cases = len(suite.prompts), len(suite.cases)
    summary = f"{n_prompts} prompts, {n_cases} cases: {errors} error(s), {warnings} warning(s)"
    if errors:
        echo(summary, err=True)
        raise typer.Exit(2)
    echo(summary if problems else f"{n_prompts} prompts, {n_cases} cases: all clean")


# -- entry point --------------------------------------------------------------------------------
def _fail(message: str, code: int) -> NoReturn:
    sys.stdout.flush()
    sys.stderr.write(message.rstrip("\n") + "\n")
    sys.exit(code)


def main(argv: list[str] | None = None) -> None:
    """Console-script entry: run the app and translate every error into a message + exit code."""
    try:  # typer >= 0.26 vendors click as typer._click; older ones use click itself
        from typer import _click as click  # type: ignore[attr-defined]
    except ImportError:  # pragma: no cover
        import click  # type: ignore[no-redef]

    try:
        rv = app(args=argv, prog_name="promptctl", standalone_mode=False)
    except PromptctlError as exc:
        if _state["debug"]:
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
    except click.exceptions.NoArgsIsHelpError as exc:
        exc.show()
        sys.exit(2)
    except click.ClickException as exc:
        exc.show()
        sys.exit(2 if exc.exit_code in (1, 2) else exc.exit_code)
    except KeyboardInterrupt:
        _fail("interrupted", EXIT_INTERRUPTED)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:  # a bug: say so, keep the traceback behind --debug
        if _state["debug"]:
            traceback.print_exc()
        _fail(f"internal error: {type(exc).__name__}: {exc}\n(this is a bug in promptctl; rerun with --debug "
              "for the traceback)", 3)
    sys.exit(rv if isinstance(rv, int) else 0)
