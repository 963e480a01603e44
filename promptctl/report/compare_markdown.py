"""``promptctl compare`` as Markdown for a pull request: a summary table of the deltas and of the
transitions, the checks that changed between the sides, the gate's verdict (its causes and
warnings), then only the cases that changed verdict, changed model or moved significantly,
grouped like the diffs (cases of one prompt and model, ``A → B`` across a model change, with the
same transition are one group, with a collapsed table of its cases); the cases that did none of
these are counted, not listed."""

from __future__ import annotations

import html
from typing import Any

from promptctl.report.budget import COMMENT_BUDGET, Piece, fit
from promptctl.report.diff_markdown import code, fenced
from promptctl.report.diff_text import plural
from promptctl.report.formatting import md_escape, ms, num, pct, usd
from promptctl.report.text import (
    TRANSITION_LABELS,
    TRANSITIONS,
    UNVERIFIED_NEXT,
    cannot_evaluate_summary,
    side_desc,
)

#: A case whose verdict did not change is listed when its pass rate moved by at least this much
#: (20 points: 1 of 5 samples), its score by at least MOVED_SCORE, or the gate found its drop
#: significant.
MOVED_PASS_RATE = 0.2
MOVED_SCORE = 0.1
#: Gate causes shown; the rest are collapsed (one per regressed case: the case tables list them too).
KEEP_CAUSES = 10
#: Cases named in "Checks changed" (the rest are counted: `compare --format json` lists them all).
KEEP_CHECKS = 20

VERDICT_CHANGES = ("pass_to_fail", "cannot_evaluate", "fail_to_pass", "new", "removed")
VERDICT_ICONS = {"failed": "❌ ", "cannot_evaluate": "⛔ ", "passed": "✅ "}
CASE_COLUMNS = ["case", "base", "head", "Δ pass", "Δ score", "output", "Δ cost", "Δ latency", "drift"]


def text(value: str) -> str:
    """Untrusted text (case keys in causes, labels, provider model names) as plain Markdown text:
    no HTML element, no table cell break, one line."""
    return md_escape(html.escape(value, quote=False))


def _significant(data: dict[str, Any]) -> set[tuple[str, str]]:
    stats = (data.get("gate") or {}).get("stats") or {}
    return {(c["case_key"], c["model"]) for c in stats.get("cases", []) if c.get("significant")}


def moved(u: dict[str, Any], significant: set[tuple[str, str]]) -> bool:
    """Whether a case is listed: its verdict changed, its model changed (``A → B``: judged as
    the same case), its head result is unverified (a pull request's own recording), or it moved
    significantly."""
    if u["transition"] in VERDICT_CHANGES or (u["case_key"], u["model"]) in significant:
        return True
    if u.get("model_changed") or (u.get("head") or {}).get("unverified"):
        return True  # a model change, or a result only the pull request's own recordings give
    pr, sc = u.get("pass_rate_delta"), u.get("score_delta")
    return (pr is not None and abs(pr) >= MOVED_PASS_RATE - 1e-12) or (
        sc is not None and abs(sc) >= MOVED_SCORE - 1e-12
    )


def _side(x: dict[str, Any] | None) -> str:
    if x is None:
        return "-"
    return f"{x['status']} {x['passes']}/{x['samples']}" + (" (unverified)" if x.get("unverified") else "")


def _case_row(u: dict[str, Any]) -> str:
    drift = ""
    if u.get("provider_model_drift"):
        drift = ",".join(u["base"]["provider_models"]) + " → " + ",".join(u["head"]["provider_models"])
    output = {True: "changed", False: "same", None: "-"}[u.get("output_changed")]
    cells = [
        code(u.get("case") or u["case_key"]).replace("|", "\\|"),  # GFM: a pipe ends a cell even in code
        _side(u.get("base")),
        _side(u.get("head")),
        pct(u.get("pass_rate_delta"), True),
        num(u.get("score_delta")),
        output,
        usd(u.get("cost_delta"), True),
        ms(u.get("latency_delta_ms"), True),
        text(drift),
    ]
    return "| " + " | ".join(cells) + " |"


def _mean(values: list[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return sum(known) / len(known) if known else None


def case_groups(data: dict[str, Any]) -> tuple[list[list[dict[str, Any]]], list[dict[str, Any]]]:
    """(groups of listed cases, the cases not listed). A group: one transition, prompt and model;
    regressions first, then larger groups first."""
    significant = _significant(data)
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    rest = []
    for u in data["units"]:
        if moved(u, significant):
            groups.setdefault((u["transition"], u.get("prompt") or "", u["model"]), []).append(u)
        else:
            rest.append(u)
    order = {t: i for i, t in enumerate(TRANSITIONS)}
    keys = sorted(groups, key=lambda k: (order.get(k[0], len(order)), -len(groups[k])))
    return [groups[k] for k in keys], rest


def _group_piece(units: list[dict[str, Any]]) -> Piece:
    first = units[0]
    label = TRANSITION_LABELS.get(first["transition"], first["transition"])
    deltas = []
    dp, ds = _mean([u.get("pass_rate_delta") for u in units]), _mean([u.get("score_delta") for u in units])
    if dp is not None:
        deltas.append(f"Δ pass {pct(dp, True)}")
    if ds is not None:
        deltas.append(f"Δ score {num(ds)}")
    mean = (" · " + ", ".join(deltas) + (" on average" if len(units) > 1 else "")) if deltas else ""
    head = (
        f"**{label}** · {code(first.get('prompt') or '?')} · {code(first['model'])} · "
        f"{plural(len(units), 'case')}{mean}\n\n"
    )
    table = "\n".join(
        [
            "| " + " | ".join(CASE_COLUMNS) + " |",
            "|" + " --- |" * len(CASE_COLUMNS),
            *(_case_row(u) for u in units),
        ]
    )
    if len(units) == 1:
        full = f"{head}{table}\n\n"
    else:
        full = f"{head}<details><summary>{plural(len(units), 'case')}</summary>\n\n{table}\n\n</details>\n\n"
    return Piece(full, {"case lists": head, "compared groups": ""})


def _deltas_table(t: dict[str, Any]) -> str:
    pr = t["pass_rate"]
    rows = [
        ("pass rate", pct(pr["base"]), pct(pr["head"]), pct(pr["delta"], True)),
        ("mean score", num(t["mean_score"]["base"], "{:.3f}"), num(t["mean_score"]["head"], "{:.3f}"),
         num(t["mean_score"]["delta"])),
        *(
            (f"metric {code(m)}", num(v["base"], "{:.3f}"), num(v["head"], "{:.3f}"), num(v["delta"]))
            for m, v in t["metrics"].items()
        ),
        ("cost", usd(t["cost"]["base"]), usd(t["cost"]["head"]), usd(t["cost"]["delta"], True)),
        ("p95 latency", ms(t["p95_latency_ms"]["base"]), ms(t["p95_latency_ms"]["head"]),
         ms(t["p95_latency_ms"]["delta"], True)),
        ("cases", str(t["units"]["base"]), str(t["units"]["head"]),
         f"{t['units']['head'] - t['units']['base']:+d}"),
    ]  # fmt: skip
    lines = ["| | base | head | Δ |", "| --- | ---: | ---: | ---: |"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _transitions_table(t: dict[str, Any], listed: dict[str, int]) -> str:
    lines = ["| transition | cases | listed below |", "| --- | ---: | ---: |"]
    for k in TRANSITIONS:
        n = t["transitions"].get(k, 0)
        if n:
            lines.append(f"| {TRANSITION_LABELS[k]} | {n:,} | {listed.get(k, 0):,} |")
    if len(lines) == 2:
        lines.append("| (no cases) | 0 | 0 |")
    return "\n".join(lines)


def _checks_piece(checks: dict[str, Any] | None) -> Piece | None:
    """The assertions, validator files and gate settings that differ between the sides (each
    side is graded by its own): a loosened check must be seen next to the results it changed."""
    c = checks or {}
    lines = []
    if c.get("error"):
        lines.append(f"- cannot compare the sides' checks: {text(str(c['error']))}")
    keys = c.get("assertions") or []
    if keys:
        more = f" and {len(keys) - KEEP_CHECKS:,} more" if len(keys) > KEEP_CHECKS else ""
        shown = ", ".join(code(k) for k in keys[:KEEP_CHECKS])
        lines.append(f"- assertions of {plural(len(keys), 'case')}: {shown}{more}")
    lines += [f"- {code(f['path'])} ({text(f['kind'])}, {text(f['change'])})" for f in c.get("files") or []]
    lines += [
        f"- gate setting {code(k)}: {code(str(v[0]))} → {code(str(v[1]))} (the base's applies until merged)"
        for k, v in (c.get("gate_settings") or {}).items()
    ]
    if not lines:
        return None
    return Piece("**Checks changed** (each side is graded by its own):\n\n" + "\n".join(lines) + "\n\n")


def _claims_piece(c: dict[str, Any] | None) -> Piece | None:
    """The recordings the head changed: claims, not evidence, each with the `source:` it states."""
    if not c or not c.get("files"):
        return None
    how = (
        "trusted as they are (`gate.trust_pr_recordings` / `--trust-pr-recordings`)"
        if c.get("trusted")
        else f"{plural(c.get('verified', 0), 'row')} verified by a call, "
        f"{plural(c.get('unverified', 0), 'row')} replayed unverified"
    )
    lines = [
        f"- {code(f['path'])} ({text(f['change'])}, {f['entries']:,} "
        f"{'entry' if f['entries'] == 1 else 'entries'} changed) — "
        + (f"source: {text(f['source'])}" if f.get("source") else "no `source:` header")
        for f in c["files"]
    ]
    return Piece(
        f"**Recordings changed by this pull request** ({plural(c['rows'], 'row')}: {how}):\n\n"
        + "\n".join(lines)
        + "\n\n"
    )


def _gate_pieces(g: dict[str, Any]) -> list[Piece]:
    verdict = g.get("verdict") or ("failed" if g["failed"] else "passed")
    title = {
        "failed": "**Gate: failed** — quality drop",
        "cannot_evaluate": "**Gate: cannot evaluate** — not a quality drop: "
        + text(cannot_evaluate_summary(g)),
        "passed": "**Gate: passed**",
    }[verdict]
    out = [Piece(title + "\n\n")]
    ce = g.get("cannot_evaluate") or {}
    if ce.get("reasons"):
        intro = (
            f"Also, {plural(ce['rows'], 'row')} could not be evaluated (the drop decides the exit code):\n\n"
            if verdict == "failed"
            else f"{plural(ce['rows'], 'row')} could not be evaluated (an error is not a quality drop):\n\n"
        )
        items = "".join(
            f"- ⛔ {text(r['reason'])}\n  - **next step:** {text(r['next_step'])}\n" for r in ce["reasons"]
        )
        out.append(Piece(intro + items + "\n"))
    uv = g.get("unverified") or {}
    if uv.get("rows") and not uv.get("trusted"):
        cases = ", ".join(code(c) for c in uv["cases"][:KEEP_CHECKS])
        more = f" and {len(uv['cases']) - KEEP_CHECKS:,} more" if len(uv["cases"]) > KEEP_CHECKS else ""
        out.append(
            Piece(
                f"- ⛔ **unverified:** {plural(uv['rows'], 'row')} answered only by recordings this pull "
                f"request changed, with no key to call the model (their results below are the "
                f"author's claim): {cases}{more}\n  - **next step:** {text(UNVERIFIED_NEXT)}\n\n"
            )
        )
    warnings = g.get("warnings") or []
    if warnings:
        out.append(Piece("".join(f"- ⚠️ {text(w)}\n" for w in warnings) + "\n"))
    causes = [f"- {text(c)}\n" for c in g["causes"]]
    if causes:
        out.append(Piece("".join(causes[:KEEP_CAUSES])))
        rest = causes[KEEP_CAUSES:]
        if rest:
            more = f"{len(rest):,} more cause" + ("" if len(rest) == 1 else "s")
            out.append(
                Piece(
                    f"\n<details><summary>{more}</summary>\n\n{''.join(rest)}\n</details>\n",
                    {"causes": f"- … and {more}\n"},
                )
            )
        out.append(Piece("\n"))
    stats = fenced("\n".join(g["pvalues"]), "text")
    out.append(
        Piece(f"<details><summary>Statistics</summary>\n\n{stats}\n</details>\n\n", {"statistics": ""})
    )
    return out


def comparison_pieces(data: dict[str, Any], *, heading: str = "###") -> list[Piece]:
    """The comparison report as budget pieces (see ``report.budget``)."""
    g = data.get("gate")
    icon = "" if g is None else VERDICT_ICONS[g.get("verdict") or ("failed" if g["failed"] else "passed")]
    t = data["totals"]
    groups, rest = case_groups(data)
    listed: dict[str, int] = {}
    for grp in groups:
        for u in grp:
            listed[u["transition"]] = listed.get(u["transition"], 0) + 1
    title = (
        f"{heading} {icon}promptctl compare — {code(data['base']['label'])} → {code(data['head']['label'])}"
    )
    sides = f"base: {text(side_desc(data['base']))} · head: {text(side_desc(data['head']))}"
    extra = []
    if t["outputs_changed"]:
        extra.append(f"outputs changed in {plural(t['outputs_changed'], 'case')}")
    if t.get("model_changes"):
        extra.append(f"model changed in {plural(t['model_changes'], 'case')}")
    if t["provider_model_drift"]:
        extra.append(f"provider model drift in {plural(t['provider_model_drift'], 'case')}")
    pieces = [
        Piece(
            f"{title}\n\n{sides}\n\n{_deltas_table(t)}\n\n{_transitions_table(t, listed)}\n\n"
            + (" · ".join(extra).capitalize() + ".\n\n" if extra else "")
        )
    ]
    checks = _checks_piece(data.get("checks"))
    if checks is not None:
        pieces.append(checks)
    claims = _claims_piece(data.get("claims"))
    if claims is not None:
        pieces.append(claims)
    if g is not None:
        pieces += _gate_pieces(g)
    n_listed = sum(len(grp) for grp in groups)
    if groups:
        pieces.append(
            Piece(
                f"{heading}# Cases that changed verdict or moved — {plural(n_listed, 'case')} in "
                f"{plural(len(groups), 'group')}\n\n"
            )
        )
        pieces += [_group_piece(grp) for grp in groups]
    if rest:
        kinds: dict[str, int] = {}
        for u in rest:
            kinds[u["transition"]] = kinds.get(u["transition"], 0) + 1
        counts = ", ".join(f"{n:,} {TRANSITION_LABELS.get(k, k)}" for k, n in kinds.items())
        changed = sum(bool(u.get("output_changed")) for u in rest)
        also = f" ({changed:,} of them with a changed output)" if changed else ""
        pieces.append(
            Piece(
                f"Not listed: {counts}{also} — no verdict change, no pass-rate move of "
                f"{MOVED_PASS_RATE * 100:.0f} points or score move of {MOVED_SCORE:g}.\n\n"
            )
        )
    if not data["units"]:
        pieces.append(Piece("No cases on either side.\n\n"))
    return pieces


def comparison_markdown(
    data: dict[str, Any], *, max_bytes: int | None = COMMENT_BUDGET, full_report: str | None = None
) -> str:
    """The comparison as Markdown of at most ``max_bytes`` bytes (None: everything)."""
    if full_report is None:
        full_report = "Run `promptctl compare --format json` for every case."
    return fit(comparison_pieces(data), max_bytes, full_report=full_report)
