"""``promptctl diff`` for the terminal: changed files, each changed template's source diff, then
one diff per distinct rendered-request change with the cases it covers, then the recorded-output
changes grouped the same way."""

from __future__ import annotations

from typing import Any

STATUS = {"A": "added", "M": "modified", "D": "deleted", "T": "type changed"}

#: Case ids listed per group on the terminal without ``--verbose``.
TERMINAL_IDS = 10


def status_name(letter: str) -> str:
    return STATUS.get(letter, letter)


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def member_labels(group: dict[str, Any]) -> list[str]:
    """The group's cases by id (the prompt is the group's), with the model when it has several."""
    several = len(group["models"]) > 1
    return [c["case"] + (f" [{c['model']}]" if several else "") for c in group["cases"]]


def group_title(group: dict[str, Any], kind: str = "change") -> str:
    models = ", ".join(group["models"])
    return (
        f"{kind} {group['id']} · {group['prompt']} · {plural(group['count'], 'case')} · {group['change']}"
        f" · {models}"
    )


def context_note(group: dict[str, Any]) -> str | None:
    if not group["context_varies"]:
        return None
    return f"context lines from {group['example']}; the other cases' context differs"


def diff_summary_line(data: dict[str, Any]) -> str:
    s = data["summary"]
    distinct = f" · {plural(s['groups'], 'distinct change')}" if s["affected"] else ""
    return (
        f"{s['affected']} of {max(s['units'], s['base_units'])} case × model affected "
        f"({s['changed']} changed, {s['added']} added, {s['removed']} removed){distinct}"
        + (f"; checks changed in {s['checks_changed']} case(s)" if s["checks_changed"] else "")
    )


def changes_ref(ids: list[int]) -> str:
    """``change 3`` / ``changes 1–4, 7``: the groups a template reaches, as ranges."""
    if not ids:
        return "no rendered request changed"
    runs: list[list[int]] = []
    for i in sorted(ids):
        if runs and i == runs[-1][1] + 1:
            runs[-1][1] = i
        else:
            runs.append([i, i])
    text = ", ".join(str(a) if a == b else f"{a}–{b}" for a, b in runs)
    return f"rendered: change{'' if len(ids) == 1 else 's'} {text}"


def template_line(t: dict[str, Any]) -> str:
    """``path (kind, status) · reaches … · rendered: changes 1–2``."""
    reach = ", ".join(t["prompts"]) or "no prompt"
    verb = "prompt" if t["kind"] == "prompt" else "included by"
    rendered = changes_ref(t["groups"])
    return f"{t['path']} ({t['kind']}, {status_name(t['status'])}) · {verb} {reach} · {rendered}"


def _ids(group: dict[str, Any], verbose: bool) -> str:
    labels = member_labels(group)
    if verbose or len(labels) <= TERMINAL_IDS:
        return ", ".join(labels)
    rest = len(labels) - TERMINAL_IDS
    return ", ".join(labels[:TERMINAL_IDS]) + f", … and {rest:,} more (-v lists all)"


def diff_text(data: dict[str, Any], *, verbose: bool = False) -> str:
    out = [f"promptctl diff {data['base']['label']} → {data['head']['label']}", ""]
    out.append(
        f"changed files ({len(data['changed_files'])}):" if data["changed_files"] else "no changed files"
    )
    out += [f"  {f['status']}  {f['path']}  ({f['kind']})" for f in data["changed_files"]]
    out += ["", diff_summary_line(data)]
    for side in ("base", "head"):
        for p in data["problems"][side]:
            out.append(f"warning ({side}): {p}")
    for t in data["templates"]:
        out += ["", f"── {template_line(t)}"]
        if t["note"]:
            out.append(f"(no source diff: {t['note']})")
        elif t["diff"]:
            out.append(t["diff"].rstrip("\n"))
    for g in data["groups"]:
        out += ["", f"── {group_title(g)}"]
        note = context_note(g)
        if note:
            out.append(f"({note})")
        out += [g["diff"].rstrip("\n"), f"cases: {_ids(g, verbose)}"]
    if data["output_groups"]:
        s = data["summary"]
        out += [
            "",
            f"recorded outputs: {plural(s['output_changes'], 'case')} changed output, "
            f"{plural(s['output_groups'], 'distinct change')}",
        ]
        for g in data["output_groups"]:
            out += ["", f"── {group_title(g, 'output change')}", g["diff"].rstrip("\n")]
            out.append(f"cases: {_ids(g, verbose)}")
    if data["checks_changed"]:
        out += [
            "",
            "checks changed (same requests, different assertions): " + ", ".join(data["checks_changed"]),
        ]
    return "\n".join(out) + "\n"
