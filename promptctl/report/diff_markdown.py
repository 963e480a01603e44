"""``promptctl diff`` as Markdown for a pull request: the template-level diffs first (what the author
typed), then one diff per distinct rendered-request change with a collapsed list of its cases
(what the model will see), then the recorded-output changes grouped the same way. Within a size
budget, detail goes in the order of ``report.budget.STEPS``, and the report says what it left out."""

from __future__ import annotations

import html
import re
from typing import Any

from promptctl.report.budget import COMMENT_BUDGET, Piece, fit
from promptctl.report.diff_text import (
    changes_ref,
    diff_summary_line,
    member_labels,
    plural,
    status_name,
)

#: Lines and characters of one diff shown in Markdown; the rest is counted, not shown.
MAX_DIFF_LINES = 150
MAX_DIFF_CHARS = 20_000
#: Rendered-request changes that keep their diff longest when a budget forces detail out.
KEEP_GROUPS = 3


def code(text: str) -> str:
    """Inline code that shows ``text`` literally, whatever backticks it holds."""
    text = " ".join(text.split("\n"))
    longest = max((len(m) for m in re.findall(r"`+", text)), default=0)
    fence = "`" * (longest + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def fenced(text: str, lang: str = "diff", *, hint: str = "") -> str:
    """A fenced block holding ``text`` exactly (the fence is longer than any backtick run in it),
    at most MAX_DIFF_LINES lines / MAX_DIFF_CHARS characters, cut at a line and saying so."""
    lines = text.rstrip("\n").split("\n")
    kept: list[str] = []
    size = 0
    for line in lines[:MAX_DIFF_LINES]:
        if size + len(line) + 1 > MAX_DIFF_CHARS and kept:
            break
        kept.append(line[:MAX_DIFF_CHARS])
        size += len(kept[-1]) + 1
    if len(kept) < len(lines):
        kept.append(f"… {len(lines) - len(kept):,} more lines not shown{hint}")
    body = "\n".join(kept)
    # a line of 3+ backticks after up to 3 spaces would close the fence: make the fence longer
    longest = max((len(m) for m in re.findall(r"^ {0,3}(`{3,})", body, re.M)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}{lang}\n{body}\n{fence}\n"


def diff_command(data: dict[str, Any]) -> str:
    """The command that prints this diff in full."""
    side = [data["base"], data["head"]]
    revs = [s["ref"] if s["ref"] is not None else None for s in side]
    base = revs[0] or (side[0]["sha"] or "")[:12]
    return "promptctl diff " + base + (f" {revs[1]}" if revs[1] is not None else "")


def _case_list(group: dict[str, Any]) -> str:
    labels = member_labels(group)
    items = " · ".join(code(label) for label in labels)
    return f"<details><summary>{plural(len(labels), 'case')}</summary>\n\n{items}\n\n</details>\n"


def _group_piece(group: dict[str, Any], index: int, *, kind: str, full_hint: str) -> Piece:
    models = ", ".join(code(m) for m in group["models"])
    single = group["count"] == 1
    cases = f"1 case: {code(member_labels(group)[0])}" if single else plural(group["count"], "case")
    head = (
        f"**{kind.capitalize()} {group['id']}** · {code(group['prompt'])} · {cases} · {group['change']} · "
        f"{models}"
    )
    note = f"<sub>context lines from {code(group['example'])}; the other cases' context differs</sub>\n\n"
    body = head + "\n\n" + (note if group["context_varies"] else "")
    with_diff = body + fenced(group["diff"], hint=full_hint)
    full = with_diff + "\n" + ("" if single else _case_list(group) + "\n")
    levels = {} if single else {"case lists": with_diff + "\n"}
    if kind == "output change":
        levels["output diffs"] = ""
    elif index >= KEEP_GROUPS:
        levels["groups after 3"] = ""
    else:
        levels["groups"] = head + "\n\n"
    return Piece(full, levels)


def _template_piece(t: dict[str, Any], full_hint: str) -> Piece:
    verb = "prompt" if t["kind"] == "prompt" else "included by"
    reach = ", ".join(code(p) for p in t["prompts"]) or "no prompt"
    rendered = changes_ref(t["groups"])
    line = f"**{code(t['path'])}** ({t['kind']}, {status_name(t['status'])}) · {verb} {reach} · {rendered}\n"
    if t["note"]:
        return Piece(f"{line}\n(no source diff: {html.escape(t['note'], quote=False)})\n\n")
    if not t["diff"]:
        return Piece(line + "\n")
    return Piece(f"{line}\n{fenced(t['diff'], hint=full_hint)}\n", {"source diffs": line + "\n"})


def diff_pieces(data: dict[str, Any], *, heading: str = "###") -> list[Piece]:
    """The diff report as budget pieces (see ``report.budget``)."""
    s = data["summary"]
    base, head = data["base"]["label"], data["head"]["label"]
    full_hint = f" ({diff_command(data)} shows all)"  # inside a code block: plain text
    title = f"{heading} promptctl diff — {code(base)} → {code(head)}"
    pieces = [Piece(f"{title}\n\n{diff_summary_line(data)}\n\n")]
    if data["changed_files"]:
        files = "\n".join(
            f"- {code(f['status'])} {code(f['path'])} ({f['kind']})" for f in data["changed_files"]
        )
        pieces.append(
            Piece(
                f"<details><summary>Changed files ({len(data['changed_files'])})</summary>\n\n{files}\n\n"
                "</details>\n\n",
                {"changed files": f"Changed files: {len(data['changed_files'])}\n\n"},
            )
        )
    problems = [
        f"> ⚠️ {side}: {html.escape(p.replace(chr(10), ' '), quote=False)}\n"
        for side in ("base", "head")
        for p in data["problems"][side]
    ]
    if problems:
        pieces.append(Piece("".join(problems) + "\n"))
    if data["templates"]:
        pieces.append(Piece(f"{heading}# Templates: what the author changed\n\n"))
        pieces += [_template_piece(t, full_hint) for t in data["templates"]]
    if data["groups"]:
        pieces.append(
            Piece(
                f"{heading}# Rendered requests: what the model will see — "
                f"{plural(s['groups'], 'distinct change')} in {plural(s['affected'], 'case')}\n\n"
            )
        )
        pieces += [
            _group_piece(g, i, kind="change", full_hint=full_hint) for i, g in enumerate(data["groups"])
        ]
    if data["output_groups"]:
        pieces.append(
            Piece(
                f"{heading}# Recorded outputs — {plural(s['output_changes'], 'case')} changed, "
                f"{plural(s['output_groups'], 'distinct change')}\n\n"
            )
        )
        pieces += [
            _group_piece(g, i, kind="output change", full_hint=full_hint)
            for i, g in enumerate(data["output_groups"])
        ]
    if data["checks_changed"]:
        keys = ", ".join(code(k) for k in data["checks_changed"])
        pieces.append(Piece(f"Checks changed (same requests, different assertions): {keys}\n"))
    if not s["affected"] and not data["checks_changed"]:
        pieces.append(Piece("No rendered request changed.\n"))
    return pieces


def diff_markdown(
    data: dict[str, Any], *, max_bytes: int | None = COMMENT_BUDGET, full_report: str | None = None
) -> str:
    """The diff as Markdown of at most ``max_bytes`` bytes (None: everything); ``full_report``
    says where the whole report is when detail had to go."""
    if full_report is None:
        full_report = f"Run {code(diff_command(data))} for all of it."
    return fit(diff_pieces(data), max_bytes, full_report=full_report)
