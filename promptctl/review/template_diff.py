"""The template-level half of ``promptctl diff``: for each changed prompt file or partial, the
source diff (what the author typed) and the prompts it reaches (a partial reaches every prompt
that includes it, directly or through another partial, at either revision)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptctl.errors import PromptctlError
from promptctl.git.sources import Source
from promptctl.review.grouping import unified
from promptctl.suite.load import Suite, prompt_name
from promptctl.suite.render import make_renderer

TEMPLATE_KINDS = ("prompt", "partial")


@dataclass(frozen=True)
class Revision:
    """What the template diff needs of one side: its label, files and loaded suite."""

    label: str
    source: Source
    suite: Suite

    @property
    def prompts_dir(self) -> str:
        return self.suite.config.prompts_dir.rstrip("/")


@dataclass
class TemplateChange:
    """One changed prompt file or partial: its source diff and the prompts whose requests it feeds."""

    path: str
    kind: str  # prompt | partial
    status: str  # git's letter: A, M, D, T
    diff: str | None  # None: the file is not text on a side (``note`` says why)
    prompts: list[str]
    note: str | None = None
    groups: list[int] = field(default_factory=list)  # ids of the rendered groups of those prompts

    def to_dict(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "kind": self.kind,
            "status": self.status,
            "diff": self.diff,
            "note": self.note,
            "prompts": self.prompts,
            "groups": self.groups,
        }


def _read(rev: Revision, path: str, present: bool) -> tuple[str | None, str | None]:
    """(text, problem) of ``path`` at ``rev``; an absent file is the empty text."""
    if not present:
        return "", None
    try:
        return rev.source.read_text(path), None
    except UnicodeDecodeError:
        return None, f"not UTF-8 text at {rev.label}"
    except (OSError, PromptctlError) as exc:
        return None, f"cannot be read at {rev.label}: {exc}"


def _includers(rev: Revision) -> dict[str, set[str]]:
    """Partial path -> names of the prompts that include it (transitively) at this revision."""
    renderer = make_renderer(rev.suite)
    out: dict[str, set[str]] = {}
    for name, prompt in rev.suite.prompts.items():
        for path in renderer.includes(prompt):
            out.setdefault(path, set()).add(name)
    return out


def template_changes(
    files: list[dict[str, Any]], base: Revision, head: Revision, *, context: int = 3
) -> list[TemplateChange]:
    """One entry per changed prompt or partial among ``files`` (``{status, path, kind}``), in path
    order; the includes are resolved only when a partial changed."""
    changed = [f for f in files if f["kind"] in TEMPLATE_KINDS]
    includers: dict[str, set[str]] = {}
    if any(f["kind"] == "partial" for f in changed):
        for rev in (base, head):
            for path, names in _includers(rev).items():
                includers.setdefault(path, set()).update(names)
    out = []
    for f in changed:
        path, status = f["path"], f["status"]
        a, a_problem = _read(base, path, status != "A")
        b, b_problem = _read(head, path, status != "D")
        note = a_problem or b_problem
        diff = None
        if a is not None and b is not None:
            diff = unified(a, b, f"{base.label}/{path}", f"{head.label}/{path}", context)
        if f["kind"] == "prompt":
            names = {
                n
                for rev in (base, head)
                if path.startswith(rev.prompts_dir + "/") and (n := prompt_name(path, rev.prompts_dir))
            }
        else:
            names = includers.get(path, set())
        out.append(TemplateChange(path, f["kind"], status, diff, sorted(names), note))
    return out
