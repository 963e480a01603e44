"""The files a prompt is made of (its YAML and every partial it includes), their version id, and
an in-memory source to render them from.

A prompt in production is rendered from these texts alone, read once: from the worktree, from a
commit's objects or from an export bundle, the same sandboxed renderer reads its includes from
:class:`MemorySource`, so an include can reach only the partials collected here, confined to
``prompts/`` as ever.
"""

from __future__ import annotations

import hashlib
import posixpath
from collections.abc import Mapping

import jinja2
from jinja2 import meta

from promptctl.git.sources import Source
from promptctl.jsonutil import canonical_json
from promptctl.suite.load import prompt_name
from promptctl.suite.model import Prompt
from promptctl.suite.render import Renderer, renderer_for

VERSION_SCHEME = 1  # bump when the canonical form below changes: every id changes with it


def _normalise(text: str) -> str:
    """Line endings do not make another prompt (a Windows checkout converts them)."""
    return text.replace("\r\n", "\n").replace("\r", "\n")


def version_id(prompt_text: str, partials: Mapping[str, str]) -> str:
    """The content id of a prompt: sha256 over the canonical JSON of its file's text and the
    text of every partial it includes (by include name, relative to ``prompts/``).

    Equal content gives an equal id at any commit, in any clone and from a bundle; the prompt's
    name, the commit and the config are not part of it (a rename keeps the version).
    """
    payload = {
        "scheme": VERSION_SCHEME,
        "prompt": _normalise(prompt_text),
        "partials": {name: _normalise(text) for name, text in sorted(partials.items())},
    }
    return hashlib.sha256(canonical_json(payload).encode("utf-8")).hexdigest()


def short_version(version: str) -> str:
    """What tables show: the first 12 hex digits (as git shows a short sha)."""
    return version[:12]


def collect_partials(source: Source, prompts_dir: str, prompt: Prompt) -> dict[str, str]:
    """{include name relative to ``prompts_dir``: text} of every partial ``prompt`` includes,
    transitively, read through the renderer's confined loader (a symlink out of ``prompts/`` is
    not followed). A partial that does not exist is left out: rendering reports it as it would
    in the repository. A dynamic include (``{% include name_var %}``) cannot be followed, so
    every partial file (``_``-prefixed) of ``prompts_dir`` is collected for such a prompt."""
    pdir = prompts_dir.rstrip("/")
    renderer = renderer_for(source, pdir)
    loader = renderer.env.loader
    assert loader is not None
    found: dict[str, str] = {}
    dynamic = False
    todo = [text for _i, text, _loc in renderer.template_strings(prompt)]
    seen: set[str] = set()
    while todo:
        try:
            ast = renderer.env.parse(todo.pop())
        except jinja2.TemplateSyntaxError:
            continue  # rendering reports it, at its position
        for ref in meta.find_referenced_templates(ast):
            if ref is None:
                dynamic = True
                continue
            if ref in seen:
                continue
            seen.add(ref)
            try:
                text, path, _uptodate = loader.get_source(renderer.env, ref)
            except jinja2.TemplateNotFound:
                continue
            if path is None:  # pragma: no cover - the confined loader always names the file
                continue
            found[posixpath.relpath(path, pdir)] = text
            todo.append(text)
    if dynamic:
        for path in source.list_files(pdir, ()):
            if prompt_name(path, pdir) is None and source.resolves_within(path, pdir):
                try:
                    found.setdefault(posixpath.relpath(path, pdir), source.read_text(path))
                except (OSError, UnicodeDecodeError):
                    continue
    return found


class MemorySource:
    """A :class:`~promptctl.git.sources.Source` over texts held in memory (repository-relative
    paths): what a prompt renders from once its files are read, and what a bundle provides."""

    def __init__(self, files: Mapping[str, str], label: str = "memory") -> None:
        self.files = dict(files)
        self.label = label

    def read_text(self, relpath: str) -> str:
        if relpath not in self.files:
            raise FileNotFoundError(relpath)
        return self.files[relpath]

    def exists(self, relpath: str) -> bool:
        prefix = relpath.rstrip("/") + "/"
        return relpath in self.files or any(p.startswith(prefix) for p in self.files)

    def list_files(self, reldir: str, suffixes: tuple[str, ...]) -> list[str]:
        prefix = reldir.rstrip("/") + "/" if reldir else ""
        return sorted(
            p for p in self.files if p.startswith(prefix) and (not suffixes or p.endswith(suffixes))
        )

    def resolves_within(self, relpath: str, reldir: str) -> bool:
        base = reldir.rstrip("/")
        return not base or relpath == base or relpath.startswith(base + "/")


def memory_renderer(files: Mapping[str, str], prompts_dir: str) -> Renderer:
    """The sandboxed renderer over ``files`` (repository paths -> text), includes confined to
    ``prompts_dir`` exactly as in the repository."""
    return renderer_for(MemorySource(files), prompts_dir)
