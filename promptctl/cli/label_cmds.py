"""Verbs on labels (``promptctl label set/list/show/log/delete/push/pull``): names for commits that
applications fetch prompts by, kept in git with every move's history (``promptctl.git.labels``)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from promptctl.cli.common import JsonOpt, current_project
from promptctl.cli.output import echo, print_json, table

if TYPE_CHECKING:
    from promptctl.git.labels import LabelMove

label_app = typer.Typer(
    help="Name commits (production, staging) for applications; labels live in git with their history.",
    no_args_is_help=True,
)

LabelArg = Annotated[str, typer.Argument(help="The label, e.g. production.")]
RemoteArg = Annotated[str, typer.Argument(help="Git remote.")]


def register(app: typer.Typer) -> None:
    app.add_typer(label_app, name="label")


def _root() -> Path:
    return current_project().root


def _subject(root: Path, sha: str) -> str:
    from promptctl.git.repo import commit_info

    subject = commit_info(root, sha)["subject"]
    return subject if len(subject) <= 72 else subject[:71] + "…"


@label_app.command("set")
def label_set(
    label: LabelArg,
    rev: Annotated[str, typer.Argument(help="The commit to label (any git revision).")] = "HEAD",
) -> None:
    """Point LABEL at a commit (default HEAD); a move is recorded with who and when."""
    from promptctl.git.labels import set_label

    root = _root()
    sha, move = set_label(root, label, rev)
    what = f"{sha[:12]} ({_subject(root, sha)})"
    if move is None:
        echo(f"{label} already names {what}")
    elif move.from_sha is None:
        echo(f"{label} set to {what}")
    else:
        echo(f"{label} moved {move.from_sha[:12]} → {what}")


@label_app.command("delete")
def label_delete(label: LabelArg) -> None:
    """Remove LABEL (its history stays in `promptctl label log`)."""
    from promptctl.git.labels import delete_label

    move = delete_label(_root(), label)
    echo(f"{label} deleted (it named {(move.from_sha or '')[:12]})")


@label_app.command("list")
def label_list(as_json: JsonOpt = False) -> None:
    """Every label: the commit it names, that commit's subject, the last move and who made it."""
    from promptctl.git.labels import label_log, read_labels

    root = _root()
    current = read_labels(root)
    last: dict[str, LabelMove] = {}
    for move in label_log(root):
        last.setdefault(move.label, move)
    rows: list[dict[str, str]] = [
        {
            "label": name,
            "commit": sha,
            "subject": _subject_or_missing(root, sha),
            "moved": last[name].time if name in last else "",
            "by": last[name].author if name in last else "",
        }
        for name, sha in current.items()
    ]
    if as_json:
        print_json(rows)
        return
    if not rows:
        echo("no labels yet; `promptctl label set production` labels HEAD")
        return
    table(
        ["LABEL", "COMMIT", "SUBJECT", "MOVED", "BY"],
        [[r["label"], r["commit"][:12], r["subject"][:50], r["moved"][:16], r["by"]] for r in rows],
    )


def _subject_or_missing(root: Path, sha: str) -> str:
    from promptctl.errors import GitError

    try:
        return _subject(root, sha)
    except GitError:
        return "(commit not in this clone: git fetch)"


@label_app.command("show")
def label_show(label: LabelArg, as_json: JsonOpt = False) -> None:
    """The commit LABEL names, and each prompt's version there (and whether HEAD differs)."""
    from promptctl.errors import InputError
    from promptctl.git.labels import resolve
    from promptctl.git.repo import commit_info, head_commit
    from promptctl.runtime.catalog import Revision, versions_at
    from promptctl.runtime.files import short_version

    root = _root()
    sha = resolve(root, label)
    info = commit_info(root, sha)
    versions = versions_at(Path.cwd(), Revision(sha, label=label))
    head = head_commit(root)
    at_head: dict[str, str] | None = versions
    if head is not None and head != sha:
        try:
            at_head = versions_at(Path.cwd(), Revision(head, ref="HEAD"))
        except InputError:
            at_head = None  # HEAD's prompt files do not load: nothing to compare with
    prompts = [
        {"prompt": name, "version": v, "at_head": _at_head(name, v, at_head)} for name, v in versions.items()
    ]
    if as_json:
        print_json(
            {
                "label": label,
                "commit": sha,
                "subject": info["subject"],
                "date": info["date"],
                "prompts": prompts,
            }
        )
        return
    echo(f"{label} → {sha[:12]} {info['subject']} ({info['author']}, {info['date'][:16]})")
    if not prompts:
        echo("no prompts at that commit")
        return
    table(
        ["PROMPT", "VERSION", "AT HEAD"],
        [[p["prompt"], short_version(p["version"]), p["at_head"]] for p in prompts],
    )


def _at_head(name: str, version: str, at_head: dict[str, str] | None) -> str:
    if at_head is None:
        return "?"
    if name not in at_head:
        return "absent"
    return "same" if at_head[name] == version else "differs"


@label_app.command("log")
def label_log_cmd(
    label: Annotated[str | None, typer.Argument(help="Only this label's moves (default: all).")] = None,
    limit: Annotated[int, typer.Option("-n", "--limit", min=1, help="Show at most this many moves.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """Every move of LABEL (or of all labels), newest first: from, to, who, when."""
    from promptctl.git.labels import label_log

    moves = label_log(_root(), label)[:limit]
    if as_json:
        print_json([m.to_dict() for m in moves])
        return
    if not moves:
        echo("no label moves yet" if label is None else f"label '{label}' was never set")
        return
    table(
        ["WHEN", "LABEL", "FROM", "TO", "BY"],
        [
            [
                m.time[:19],
                m.label,
                (m.from_sha or "-")[:12],
                (m.to_sha or "(deleted)")[:12],
                f"{m.author} <{m.email}>",
            ]
            for m in moves
        ],
    )


@label_app.command("push")
def label_push(remote: RemoteArg = "origin") -> None:
    """Push the labels and their history (refs/promptctl/labels) to a remote; never forced."""
    from promptctl.git.labels import LABELS_REF, push

    push(_root(), remote)
    echo(f"pushed {LABELS_REF} to {remote}")


@label_app.command("pull")
def label_pull(remote: RemoteArg = "origin") -> None:
    """Fetch a remote's labels and merge them into these (both histories kept)."""
    from promptctl.git.labels import pull

    result = pull(_root(), remote)
    changed = ", ".join(result.changed) if result.changed else "none"
    echo(f"pulled labels from {remote}: {len(result.changed)} changed ({changed})")
    for name in result.missing:
        echo(
            f"warning: label '{name}' names a commit this clone does not have; `git fetch {remote}` it",
            err=True,
        )
