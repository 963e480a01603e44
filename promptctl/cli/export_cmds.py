"""``promptctl export``: every prompt of a commit as one JSON bundle (``promptctl.runtime.bundle``),
for deploys without git and applications in other languages."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from promptctl.cli.common import LabelOpt, current_project
from promptctl.cli.output import echo


def register(app: typer.Typer) -> None:
    app.command()(export)


def export(
    ref: Annotated[
        str | None, typer.Option("--ref", help="Export this git revision (default: HEAD).")
    ] = None,
    label: LabelOpt = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write the bundle to this file (default: stdout).")
    ] = None,
) -> None:
    """Write every prompt at a commit as one JSON bundle: its text with the partials it includes,
    inputs, model, params, output schema and version id, plus the commit. `get_prompt` loads it in
    place of a repository; its JSON Schema is promptctl/schemas/bundle.schema.json."""
    import sys

    from promptctl.atomic import write_text_atomic
    from promptctl.runtime.bundle import build_bundle, bundle_text
    from promptctl.runtime.catalog import resolve_revision

    root = current_project().root
    revision = resolve_revision(root, ref if ref is not None or label is not None else "HEAD", label)
    bundle = build_bundle(Path.cwd(), revision)
    text = bundle_text(bundle)
    if output is None:
        sys.stdout.write(text)
        return
    write_text_atomic(output, text)
    origin = f"label {label}" if label else (ref or "HEAD")
    sha = (revision.commit or "")[:12]
    echo(f"bundle of {len(bundle['prompts'])} prompt(s) at {origin} ({sha}) written to {output}", err=True)
