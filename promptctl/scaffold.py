"""``promptctl init``: a starter project. Never overwrites a file; .gitignore only gains lines."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from promptctl.atomic import write_text_atomic

# (path in the new project, template file under promptctl/templates/init/)
FILES = [
    ("promptctl.yaml", "promptctl.yaml"),
    ("prompts/summarize.yaml", "summarize.yaml"),
    ("cases/summarize.yaml", "summarize.cases.yaml"),
    (".github/workflows/promptctl.yml", "workflow.yml"),
]
GITIGNORE_LINES = [
    "# promptctl: local cache and run records (records are shared via git notes)",
    ".promptctl/",
    ".env",
]


def template_text(name: str) -> str:
    # One joinpath argument: Python 3.10's Traversable takes a single child.
    return resources.files("promptctl").joinpath(f"templates/init/{name}").read_text("utf-8")


def scaffold(root: Path) -> list[tuple[str, str]]:
    """Create the starter files under ``root``; returns (action, path) for each file considered."""
    actions: list[tuple[str, str]] = []
    for rel, tpl in FILES:
        target = root / rel
        if target.exists():
            actions.append(("exists", rel))
            continue
        write_text_atomic(target, template_text(tpl))
        actions.append(("created", rel))
    gi = root / ".gitignore"
    existing = gi.read_text("utf-8").splitlines() if gi.exists() else []
    missing = [line for line in GITIGNORE_LINES if line not in existing]
    if missing and any(not line.startswith("#") for line in missing):
        text = "\n".join(existing)
        if text and not text.endswith("\n"):
            text += "\n"
        write_text_atomic(gi, text + "\n".join(missing) + "\n")
        actions.append(("updated" if existing else "created", ".gitignore"))
    else:
        actions.append(("exists", ".gitignore"))
    return actions
