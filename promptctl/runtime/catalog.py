"""Prompts as an application sees them: read from a project at a revision or label (or from the
worktree), each with its files, its version id and the configuration its model calls need.

Only the prompt files are read -- never the case files: an application needs no tests, and a
broken case file must not stop it from loading a prompt.
"""

from __future__ import annotations

import posixpath
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from promptctl.errors import InputError, Problem, UsageError
from promptctl.git.sources import Source
from promptctl.paths import confined
from promptctl.runtime.files import collect_partials, version_id
from promptctl.suggest import suggest
from promptctl.suite.load import YAML_SUFFIXES, parse_prompt_text, prompt_name
from promptctl.suite.model import Config, Prompt
from promptctl.suite.project import Project, open_project


class UnknownPrompt(UsageError):
    """No prompt of that name where it was looked for (exit 2); the hint names the close match."""


@dataclass
class LoadedPrompt:
    """One prompt, ready to render and call anywhere: its parsed spec, the texts it renders from
    (repository-relative path -> text: its YAML and its partials), and where it came from."""

    spec: Prompt
    files: dict[str, str]
    partials: dict[str, str]  # include name (relative to prompts_dir) -> text
    prompts_dir: str
    version: str
    config: Config
    commit: str | None  # None: the worktree
    ref: str | None = None
    label: str | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def text(self) -> str:
        return self.files[self.spec.path]


@dataclass
class Revision:
    """Which revision of a project: the worktree (``commit`` None), a ref or a label."""

    commit: str | None
    ref: str | None = None
    label: str | None = None

    @property
    def described(self) -> str:
        if self.label:
            return f"label '{self.label}'"
        if self.ref:
            return f"'{self.ref}'"
        return "the worktree"


def resolve_revision(root: Path, ref: str | None, label: str | None) -> Revision:
    """The commit ``ref`` or ``label`` names (neither: the worktree). Both at once is an error."""
    if ref is not None and label is not None:
        raise UsageError("give a ref or a label, not both")
    if label is not None:
        from promptctl.git.labels import resolve

        return Revision(resolve(root, label), label=label)
    if ref is not None:
        from promptctl.git.repo import resolve as resolve_rev

        return Revision(resolve_rev(root, ref), ref=ref)
    return Revision(None)


@contextmanager
def opened(where: Path, revision: Revision) -> Iterator[Project]:
    """The project around ``where`` at ``revision`` (config included); its git source is closed
    on exit."""
    project = open_project(where, revision.commit)
    try:
        # An application gets no half-configured project: a config problem is an error here.
        if any(p.is_error for p in project.config.problems):
            raise InputError(project.config.problems)
        yield project
    finally:
        close = getattr(project.source, "close", None)
        if close is not None:
            close()


def prompt_names(source: Source, prompts_dir: str) -> list[str]:
    pdir = prompts_dir.rstrip("/")
    names = (prompt_name(p, pdir) for p in source.list_files(pdir, YAML_SUFFIXES))
    return sorted({n for n in names if n is not None})


def _prompt_path(source: Source, prompts_dir: str, name: str) -> str | None:
    pdir = prompts_dir.rstrip("/")
    for suffix in YAML_SUFFIXES:
        path = confined(f"{name}{suffix}", pdir)
        if path is not None and prompt_name(path, pdir) == name and source.exists(path):
            return path
    return None


def load_prompt(project: Project, name: str, revision: Revision) -> LoadedPrompt:
    """Read one prompt (and its partials) from ``project``; :class:`UnknownPrompt` with the close
    match when there is none, :class:`InputError` (``path:line:col``) when its file is invalid."""
    cfg = project.config
    path = _prompt_path(project.source, cfg.prompts_dir, name)
    if path is None:
        names = prompt_names(project.source, cfg.prompts_dir)
        where = "" if revision.commit is None else f" at {revision.described}"
        lister = "promptctl list" + (f" --label {revision.label}" if revision.label else "")
        lister += f" --ref {revision.ref}" if revision.ref else ""
        if names:
            raise UnknownPrompt(
                f"unknown prompt '{name}'{where}{suggest(name, names)}", hint=f"`{lister}` shows the prompts"
            )
        raise UnknownPrompt(
            f"unknown prompt '{name}': no prompts under {cfg.prompts_dir}/ in {cfg.root}{where}",
            hint="point root= (or PROMPTCTL_ROOT) at the project, or at an export bundle",
        )
    return _read(project, path, name, revision)


def _read(project: Project, path: str, name: str, revision: Revision) -> LoadedPrompt:
    source, cfg = project.source, project.config
    try:
        text = source.read_text(path)
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError([Problem(path, 0, 0, f"cannot read file: {exc}")]) from None
    spec = parse_prompt_text(text, path, name)
    partials = collect_partials(source, cfg.prompts_dir, spec)
    pdir = cfg.prompts_dir.rstrip("/")
    files = {path: text, **{posixpath.join(pdir, rel): t for rel, t in partials.items()}}
    return LoadedPrompt(
        spec=spec,
        files=files,
        partials=partials,
        prompts_dir=pdir,
        version=version_id(text, partials),
        config=cfg,
        commit=revision.commit,
        ref=revision.ref,
        label=revision.label,
    )


def load_all(project: Project, revision: Revision) -> list[LoadedPrompt]:
    """Every prompt of ``project``, by name; InputError listing every invalid prompt file."""
    out: list[LoadedPrompt] = []
    problems: list[Problem] = []
    pdir = project.config.prompts_dir.rstrip("/")
    for path in project.source.list_files(pdir, YAML_SUFFIXES):
        name = prompt_name(path, pdir)
        if name is None:
            continue
        try:
            out.append(_read(project, path, name, revision))
        except InputError as exc:
            problems.extend(exc.problems)
    if any(p.is_error for p in problems):
        raise InputError(problems)
    return sorted(out, key=lambda p: p.name)


def versions_at(where: Path, revision: Revision) -> dict[str, str]:
    """{prompt name: version id} at ``revision``."""
    with opened(where, revision) as project:
        return {p.name: p.version for p in load_all(project, revision)}


def describe(loaded: LoadedPrompt) -> dict[str, Any]:
    """What an application in any language needs to know about the prompt, as plain data (the
    bundle's entry, without the texts)."""
    from promptctl.run.plan import resolve_target

    spec = loaded.spec
    model = spec.model or loaded.config.model
    target, _fallbacks = resolve_target(model, loaded.config)
    return {
        "version": loaded.version,
        "path": spec.path,
        "description": spec.description,
        "kind": spec.kind,
        "model": model,
        "params": {**target.params_dict, **spec.params},
        "inputs": {
            n: {
                "type": i.type,
                "required": i.required,
                **({"default": i.default} if i.has_default else {}),
                "description": i.description,
            }
            for n, i in spec.inputs.items()
        },
        "output": {"format": spec.output_format, "schema": spec.output_schema},
        "tags": list(spec.tags),
        "metadata": dict(spec.metadata),
    }
