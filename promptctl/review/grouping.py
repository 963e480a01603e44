"""One diff per distinct change: per-case diffs grouped by what they change.

A one-word edit of a system message renders identically in every case of the prompt; reviewing it
400 times teaches nothing. So the per-case diffs of ``promptctl diff`` (rendered requests, and
recorded outputs) are grouped: cases of one prompt whose diffs remove and add exactly the same
lines form one group, shown once with its case list. Cases whose changed lines differ (a variable
inside the changed region, a partial that only some prompts include) form their own groups.

The grouping key is a hash of the changed lines (``-``/``+`` lines, hunk by hunk, without line
numbers or context), the prompt and the kind of change; so grouping is one pass over the cases,
never a comparison of diffs with each other. Context lines may differ between the members of a
group (the case's own variables next to the change): the group shows the first member's diff and
says when the others' context differs.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Member:
    """One case × model in a group."""

    case_key: str
    case: str
    model: str

    def to_dict(self) -> dict[str, str]:
        return {"case_key": self.case_key, "case": self.case, "model": self.model}


@dataclass
class DiffGroup:
    """Cases whose diffs change the same lines: the diff once, the cases listed."""

    id: int
    prompt: str
    change: str  # changed | added | removed
    diff: str  # the first member's diff (its context lines)
    members: list[Member] = field(default_factory=list)
    context_varies: bool = False  # some member's diff has other context lines than the one shown

    @property
    def example(self) -> str:
        return self.members[0].case_key

    @property
    def models(self) -> list[str]:
        return sorted({m.model for m in self.members})

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "prompt": self.prompt,
            "change": self.change,
            "count": len(self.members),
            "models": self.models,
            "example": self.example,
            "context_varies": self.context_varies,
            "diff": self.diff,
            "cases": [m.to_dict() for m in self.members],
        }


def unified(a: str, b: str, a_label: str, b_label: str, context: int = 3) -> str:
    """A unified diff of two texts, every line newline-terminated."""
    lines = difflib.unified_diff(
        a.splitlines(keepends=True), b.splitlines(keepends=True), fromfile=a_label, tofile=b_label, n=context
    )
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def change_lines(diff: str) -> list[str]:
    """The lines a unified diff removes and adds, hunk by hunk (``@@`` separates hunks; their line
    numbers and the context are left out, so the same edit at another offset is the same change)."""
    out: list[str] = []
    for line in diff.splitlines():
        if line.startswith("@@"):
            out.append("@@")
        elif out and line.startswith(("-", "+")):  # before the first hunk: the file header
            out.append(line)
    return out


def _digest(parts: list[str]) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode("utf-8", "surrogatepass"))
        h.update(b"\0")
    return h.hexdigest()


class Grouper:
    """Collects per-case diffs and groups them in one pass (a dict keyed by a hash of each diff)."""

    def __init__(self) -> None:
        self._groups: dict[str, DiffGroup] = {}
        self._full: dict[str, str] = {}  # group key -> digest of the shown diff (context included)
        self._order: dict[str, int] = {}

    def add(self, member: Member, prompt: str, change: str, diff: str) -> str:
        """File ``member``'s diff under its group; returns the group's key."""
        key = _digest([prompt, change, *change_lines(diff)])
        full = _digest([diff])
        group = self._groups.get(key)
        if group is None:
            self._groups[key] = DiffGroup(id=0, prompt=prompt, change=change, diff=diff, members=[member])
            self._full[key] = full
            self._order[key] = len(self._order)
        else:
            group.members.append(member)
            if full != self._full[key]:
                group.context_varies = True
        return key

    def groups(self) -> tuple[list[DiffGroup], dict[str, int]]:
        """The groups, largest first (ties: first seen first), numbered from 1; and key -> id."""
        keys = sorted(self._groups, key=lambda k: (-len(self._groups[k].members), self._order[k]))
        ids: dict[str, int] = {}
        out = []
        for i, k in enumerate(keys, start=1):
            g = self._groups[k]
            g.id = i
            ids[k] = i
            out.append(g)
        return out, ids
