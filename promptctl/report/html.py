"""HTML of a run record and of a comparison: one self-contained file to open in a browser.

A run: the summary, the history chart, and one table row per case × model that filters by
status, prompt, model and tag, searches text, and expands to the rendered messages, every
sample's output and every assertion's result and reason. A comparison: the totals, the gate's
verdict with its p-values, and per case × model the transition with base and head outputs side
by side as a word diff. Rendered messages are not part of a record: the caller passes them by
request fingerprint (``messages``) when it has them.
"""

from __future__ import annotations

from typing import Any

from promptctl.records.record import Record
from promptctl.records.summary import group_units, unit_outcome
from promptctl.report.formatting import fmt_cost, fmt_ms, fmt_rate, ms, num, pct, usd
from promptctl.report.html_page import (
    asserts_html,
    badge,
    card,
    esc,
    filter_bar,
    history_charts,
    messages_html,
    page,
    unit_row_attrs,
    word_diff,
)
from promptctl.report.text import (
    TRANSITION_LABELS,
    TRANSITIONS,
    checks_lines,
    claims_lines,
    side_desc,
    totals_lines,
    unverified_lines,
)

Messages = dict[str, list[dict[str, Any]]]  # request fingerprint -> rendered messages

STATUSES = (("pass", "pass"), ("fail", "fail"), ("error", "error"), ("skipped", "skipped"))


def _tags(samples: list[dict[str, Any]]) -> list[str]:
    return sorted({str(t) for r in samples for t in (r.get("tags") or [])})


def _sample_title(r: dict[str, Any], n: int) -> str:
    bits = [f"sample {int(r.get('sample') or 0) + 1} of {n}" if n > 1 else "output", r["status"]]
    if r.get("source"):
        bits.append(str(r["source"]))
    if r.get("answered_by") and r.get("answered_by") != r.get("model"):
        bits.append(f"answered by {r['answered_by']}")
    if r.get("latency_ms") is not None:
        bits.append(fmt_ms(r["latency_ms"]))
    if r.get("input_tokens") is not None:
        bits.append(f"tokens {r.get('input_tokens')}/{r.get('output_tokens')}")
    return " · ".join(bits)


def _sample_html(r: dict[str, Any], n: int) -> str:
    out = [f"<h4>{esc(_sample_title(r, n))}</h4>"]
    if r.get("error"):
        out.append(f'<p class="err">{esc(r["error"])}</p>')
    if r.get("output") is not None:
        out.append(f'<pre class="output">{esc(r["output"])}</pre>')
    out.append(asserts_html(r.get("asserts") or []))
    return "".join(out)


def _record_rows(record: Record, messages: Messages | None) -> tuple[str, set[str], set[str], set[str]]:
    body: list[str] = []
    prompts: set[str] = set()
    models: set[str] = set()
    tags: set[str] = set()
    for (case_key, model), samples in group_units(record.rows).items():
        samples = sorted(samples, key=lambda r: int(r.get("sample") or 0))
        first = samples[0]
        u = unit_outcome(samples)
        unit_tags = _tags(samples)
        prompts.add(first["prompt"])
        models.add(model)
        tags.update(unit_tags)
        costs = [r.get("cost") for r in samples]
        cost = None if any(c is None for c in costs) else sum(c for c in costs if c is not None)
        lats = [r["latency_ms"] for r in samples if r.get("latency_ms") is not None]
        msgs = None if messages is None else messages.get(str(first.get("fingerprint")))
        detail = (
            f"<h3>{esc(case_key)} [{esc(model)}]</h3>"
            + (
                f'<p class="muted">case file {esc(first.get("case_file"))}</p>'
                if first.get("case_file")
                else ""
            )
            + ("" if messages is None else "<h4>Rendered messages</h4>" + messages_html(msgs))
            + "".join(_sample_html(r, len(samples)) for r in samples)
        )
        body.append(
            f"<tr {unit_row_attrs(u.status, first['prompt'], model, unit_tags)}>"
            f'<td><button type="button" class="toggle" aria-label="expand">▸</button></td>'
            f"<td>{badge(u.status)}</td><td>{esc(first['prompt'])}</td><td>{esc(first['case'])}</td>"
            f"<td>{esc(model)}</td><td>{esc(', '.join(unit_tags))}</td>"
            f'<td class="num">{u.passes}/{u.samples}</td>'
            f'<td class="num">{"-" if u.score is None else f"{u.score:.2f}"}</td>'
            f'<td class="num">{esc(usd(cost))}</td>'
            f'<td class="num">{esc(ms(sum(lats) / len(lats) if lats else None))}</td></tr>'
            f'<tr class="detail" hidden><td colspan="10">{detail}</td></tr>'
        )
    return "".join(body), prompts, models, tags


def record_html(
    record: Record,
    *,
    messages: Messages | None = None,
    history: list[dict[str, Any]] | None = None,
    title: str = "promptctl test",
) -> str:
    s = record.summary
    commit = (record.commit or "uncommitted")[:12] + (" (dirty)" if record.dirty else "")
    partial = record.partial
    meta = f"{commit} · {record.created_at}" + (f" · PARTIAL run: {'; '.join(partial)}" if partial else "")
    cards = [
        card(str(s["passed"]), "passed"),
        card(str(s["failed"]), "failed"),
        card(str(s["errors"]), "errors"),
        card(str(s["skipped"]), "skipped"),
        card(fmt_rate(s["pass_rate"]), "pass rate"),
        card("-" if s["mean_score"] is None else f"{s['mean_score']:.3f}", "mean score"),
        card(fmt_cost(s["cost"]), "cost"),
        card(f"{s['input_tokens']}/{s['output_tokens']}", "tokens in/out"),
        card(f"{fmt_ms(s['p50_latency_ms'])} / {fmt_ms(s['p95_latency_ms'])}", "latency p50 / p95"),
        card(f"{s['cache_hits']} / {s['replays']} / {s['live']}", "cached / replayed / live"),
    ]
    metrics = "".join(card(f"{v:.3f}", f"metric {k}") for k, v in s["metrics"].items())
    rows, prompts, models, tags = _record_rows(record, messages)
    present = {r["status"] for r in record.rows}
    body = (
        f'<header><h1>{esc(title)}</h1><p class="meta">{esc(meta)}<br>{esc(" ".join(record.command))}</p>'
        f'</header><section class="cards" id="summary">{"".join(cards)}{metrics}</section>'
        f"{history_charts(history)}"
        f"<h2>Cases ({len(group_units(record.rows))} case × model)</h2>"
        + filter_bar([st for st in STATUSES if st[0] in present], prompts, models, tags)
        + '<table class="cases" id="cases"><thead><tr><th></th><th>status</th><th>prompt</th><th>case</th>'
        "<th>model</th><th>tags</th><th>passed</th><th>score</th><th>cost</th><th>latency</th></tr></thead>"
        f"<tbody>{rows}</tbody></table>"
    )
    return page(f"{title} — {commit}", body)


# -- comparisons ------------------------------------------------------------------------------------
def _outputs(record: Record | None) -> dict[tuple[str, str], list[dict[str, Any]]]:
    if record is None:
        return {}
    return {
        k: sorted(v, key=lambda r: int(r.get("sample") or 0)) for k, v in group_units(record.rows).items()
    }


def _side_by_side(base: list[dict[str, Any]], head: list[dict[str, Any]]) -> str:
    out = []
    for i in range(max(len(base), len(head))):
        b = base[i] if i < len(base) else None
        h = head[i] if i < len(head) else None
        bt, ht = (b or {}).get("output"), (h or {}).get("output")
        if bt is not None and ht is not None:
            left, right = word_diff(bt, ht)
        else:
            left, right = esc(bt or ""), esc(ht or "")
        n = max(len(base), len(head))
        out.append(
            '<div class="side-by-side">'
            f"<div><h4>base · {esc(_sample_title(b, n) if b else 'no sample')}</h4>"
            f'<pre class="output base">{left}</pre>{asserts_html((b or {}).get("asserts") or [])}</div>'
            f"<div><h4>head · {esc(_sample_title(h, n) if h else 'no sample')}</h4>"
            f'<pre class="output head">{right}</pre>{asserts_html((h or {}).get("asserts") or [])}</div>'
            "</div>"
        )
    return "".join(out)


def _checks_html(data: dict[str, Any]) -> str:
    """The assertions, validator files and gate settings that differ between the sides."""
    lines = checks_lines(data) + claims_lines(data)
    if not lines:
        return ""
    items = "".join(f"<li>{esc(line)}</li>" for line in lines)
    title = "Checks changed (each side is graded by its own)"
    return f'<section id="checks"><h2>{title}</h2><ul>{items}</ul></section>'


def _gate_html(gate: dict[str, Any] | None) -> str:
    if gate is None:
        return ""
    word = {"failed": "failed", "cannot_evaluate": "cannot evaluate", "passed": "passed"}[
        gate.get("verdict") or ("failed" if gate["failed"] else "passed")
    ]
    causes = "".join(f"<li>{esc(c)}</li>" for c in gate["causes"])
    warnings = "".join(f'<li class="warning">warning: {esc(w)}</li>' for w in gate.get("warnings") or [])
    stats = gate.get("stats") or {}
    cases = sorted(stats.get("cases") or [], key=lambda c: c["p"])
    table = ""
    if cases:
        table = (
            '<table class="asserts" id="pvalues"><tr><th>case</th><th>model</th><th>base</th><th>head</th>'
            "<th>p</th><th>adjusted p</th><th>significant</th></tr>"
            + "".join(
                f"<tr><td>{esc(c['case_key'])}</td><td>{esc(c['model'])}</td>"
                f"<td>{c['pass_base']}/{c['n_base']}</td><td>{c['pass_head']}/{c['n_head']}</td>"
                f'<td class="num">{c["p"]:.4g}</td><td class="num">{c["p_adj"]:.4g}</td>'
                f"<td>{'yes' if c['significant'] else 'no'}</td></tr>"
                for c in cases
            )
            + "</table>"
        )
    lines = "\n".join(gate.get("pvalues") or [])
    not_evaluated = "".join(
        f"<li>cannot evaluate: {esc(r['reason'])} — next step: {esc(r['next_step'])}</li>"
        for r in (gate.get("cannot_evaluate") or {}).get("reasons") or []
    ) + "".join(f"<li>{esc(line.strip().removeprefix('? '))}</li>" for line in unverified_lines(gate))
    return (
        f'<section class="verdict {word.replace(" ", "-")}" id="gate"><h2>Gate: {word}</h2>'
        + (f"<ul>{causes}</ul>" if causes else "<p>No quality drop versus the base.</p>")
        + (f'<ul id="gate-not-evaluated">{not_evaluated}</ul>' if not_evaluated else "")
        + (f'<ul id="gate-warnings">{warnings}</ul>' if warnings else "")
        + f"<pre>{esc(lines)}</pre>{table}</section>"
    )


def comparison_html(
    data: dict[str, Any],
    *,
    base: Record | None = None,
    head: Record | None = None,
    history: list[dict[str, Any]] | None = None,
) -> str:
    """``data`` from ``review.comparison.compare_revisions``; ``base``/``head`` its two records
    (for the outputs side by side)."""
    b_out, h_out = _outputs(base), _outputs(head)
    body: list[str] = []
    prompts: set[str] = set()
    models: set[str] = set()
    tags: set[str] = set()
    for u in data["units"]:
        # across a model change the sides' rows are under their own model (u["model"] is "A → B")
        bs = b_out.get((u["case_key"], u.get("base_model") or u["model"]), [])
        hs = h_out.get((u["case_key"], u.get("head_model") or u["model"]), [])
        unit_tags = _tags(hs or bs)
        prompt = u["prompt"] or ""
        prompts.add(prompt)
        models.add(u["model"])
        tags.update(unit_tags)
        label = TRANSITION_LABELS[u["transition"]]

        def side(x: dict[str, Any] | None) -> str:
            if x is None:
                return "-"
            return f"{x['status']} {x['passes']}/{x['samples']}" + (
                " unverified" if x.get("unverified") else ""
            )

        changed = {True: "changed", False: "same", None: "-"}[u["output_changed"]]
        detail = f"<h3>{esc(u['case_key'])} [{esc(u['model'])}] — {esc(label)}</h3>" + (
            _side_by_side(bs, hs) if (bs or hs) else '<p class="muted">Outputs not available.</p>'
        )
        body.append(
            f"<tr {unit_row_attrs(u['transition'], prompt, u['model'], unit_tags)}>"
            f'<td><button type="button" class="toggle" aria-label="expand">▸</button></td>'
            f"<td>{badge(u['transition'], label)}</td><td>{esc(prompt)}</td><td>{esc(u['case'])}</td>"
            f"<td>{esc(u['model'])}</td><td>{esc(side(u['base']))}</td><td>{esc(side(u['head']))}</td>"
            f'<td class="num">{esc(pct(u["pass_rate_delta"], True))}</td>'
            f'<td class="num">{esc(num(u["score_delta"]))}</td><td>{esc(changed)}</td>'
            f'<td class="num">{esc(usd(u["cost_delta"], True))}</td></tr>'
            f'<tr class="detail" hidden><td colspan="11">{detail}</td></tr>'
        )
    present = {u["transition"] for u in data["units"]}
    statuses = [(t, TRANSITION_LABELS[t]) for t in TRANSITIONS if t in present]
    title = f"promptctl compare {data['base']['label']} → {data['head']['label']}"
    html_body = (
        f'<header><h1>{esc(title)}</h1><p class="meta">base: {esc(side_desc(data["base"]))} · '
        f"head: {esc(side_desc(data['head']))}</p></header>"
        f'<section id="summary">{"".join(f"<p>{esc(line)}</p>" for line in totals_lines(data))}</section>'
        + _checks_html(data)
        + _gate_html(data.get("gate"))
        + history_charts(history)
        + f"<h2>Cases ({len(data['units'])} case × model)</h2>"
        + filter_bar(statuses, prompts, models, tags)
        + '<table class="cases" id="cases"><thead><tr><th></th><th>change</th><th>prompt</th><th>case</th>'
        "<th>model</th><th>base</th><th>head</th><th>Δ pass</th><th>Δ score</th><th>output</th>"
        f"<th>Δ cost</th></tr></thead><tbody>{''.join(body)}</tbody></table>"
    )
    return page(title, html_body)
