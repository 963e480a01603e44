"""Verbs on stored state: ``records push/pull/merge`` (git notes, shards) and ``cache stats/clear``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from promptctl.cli.common import JsonOpt, current_project, warn_skipped
from promptctl.cli.output import echo, print_json


def register(app: typer.Typer) -> None:
    app.add_typer(cache_app, name="cache")
    app.add_typer(records_app, name="records")


# -- cache --------------------------------------------------------------------------------------
cache_app = typer.Typer(help="Inspect or empty the response cache (.promptctl/cache).", no_args_is_help=True)


@cache_app.command("stats")
def cache_stats(as_json: JsonOpt = False) -> None:
    """Entries, size on disk and the last run's hit ratio."""
    from promptctl.execute.cache import ResponseCache

    project = current_project()
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
    """Delete every cached response and everything else the cache folder holds."""
    from promptctl.execute.cache import ResponseCache

    c = ResponseCache.for_root(current_project().root)
    n = c.clear()
    c.close()
    echo(f"removed {n} cached responses")
    for path in c.cleared_files:
        echo(f"removed {path}")


# -- records ------------------------------------------------------------------------------------
records_app = typer.Typer(
    help="Share run records through git notes; merge shard records.", no_args_is_help=True
)


@records_app.command("push")
def records_push(remote: Annotated[str, typer.Argument(help="Git remote.")] = "origin") -> None:
    """Attach local records to their commits (refs/notes/promptctl) and push the notes."""
    from promptctl.records import notes

    root = current_project().root
    skipped: list[Any] = []
    added, commits = notes.push(root, remote, skipped=skipped)
    warn_skipped(root, skipped)
    echo(
        f"attached {added} new record(s) across {commits} commit(s); pushed refs/notes/promptctl to {remote}"
    )


@records_app.command("pull")
def records_pull(remote: Annotated[str, typer.Argument(help="Git remote.")] = "origin") -> None:
    """Fetch refs/notes/promptctl from a remote and merge it into the local notes."""
    from promptctl.records import notes

    changed = notes.pull(current_project().root, remote)
    echo(f"pulled records from {remote}: {len(changed)} commit(s) updated")


@records_app.command("merge")
def records_merge(files: Annotated[list[Path], typer.Argument(help="Shard record files (.json).")]) -> None:
    """Combine the records of several shards (--shard I/N) into one record for the commit."""
    from promptctl.records.merge import merge_records

    rec = merge_records(current_project().root, files)
    echo(f"merged {len(files)} records into {rec.path} ({len(rec.rows)} rows)")
