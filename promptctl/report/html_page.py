"""The pieces every HTML report is made of: the self-contained page (CSS and JS inline, a
Content-Security-Policy that lets only that script and that style run), the filter bar, the
pass-rate and cost chart over the history (inline SVG) and the word diff.

Everything shown goes through :func:`esc`: outputs, case names, reasons and commit subjects are
untrusted text and stay text. Nothing is put into the page's script: the JS reads the escaped DOM.
"""

from __future__ import annotations

import base64
import difflib
import hashlib
import html
import re
from collections.abc import Iterable
from importlib import resources
from typing import Any

from promptctl.report.formatting import fmt_cost, fmt_rate


def esc(value: object) -> str:
    """Text for an element or a double-quoted attribute: ``& < > " '`` escaped."""
    return html.escape("" if value is None else str(value), quote=True)


def _asset(name: str) -> str:
    return resources.files("promptctl.report").joinpath("assets").joinpath(name).read_text("utf-8")


def _csp_hash(source: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(source.encode("utf-8")).digest()).decode() + "'"


def page(title: str, body: str) -> str:
    """One HTML document that needs nothing but itself: opens from disk, fetches nothing."""
    css, js = _asset("report.css"), _asset("report.js")
    # No network (default-src 'none'), and only this exact script and style may run: even a
    # payload that got past escaping could not execute.
    csp = f"default-src 'none'; script-src {_csp_hash(js)}; style-src {_csp_hash(css)}; img-src data:"
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{esc(csp)}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        '<meta name="generator" content="promptctl">\n'
        f"<title>{esc(title)}</title>\n<style>{css}</style>\n</head>\n<body>\n"
        f"{body}\n<script>{js}</script>\n</body>\n</html>\n"
    )


def card(value: str, label: str) -> str:
    return f'<div class="card"><b>{esc(value)}</b><span>{esc(label)}</span></div>'


def badge(status: str, label: str | None = None) -> str:
    return f'<span class="badge {esc(status)}">{esc(label or status)}</span>'


def _options(select_id: str, label: str, values: Iterable[str]) -> str:
    opts = "".join(f'<option value="{esc(v)}">{esc(v)}</option>' for v in sorted(set(values)))
    return (
        f'<label>{esc(label)} <select id="{select_id}"><option value="">all</option>{opts}</select></label>'
    )


def filter_bar(
    statuses: list[tuple[str, str]], prompts: Iterable[str], models: Iterable[str], tags: Iterable[str]
) -> str:
    """Status checkboxes (value, label), prompt/model/tag selects, a search box, expand-all."""
    boxes = "".join(
        f'<label><input type="checkbox" class="f-status" value="{esc(v)}" checked> {esc(lab)}</label>'
        for v, lab in statuses
    )
    return (
        '<div class="filters">'
        f"{boxes}{_options('f-prompt', 'prompt', prompts)}{_options('f-model', 'model', models)}"
        f"{_options('f-tag', 'tag', tags)}"
        '<label>search <input type="search" id="f-search" placeholder="text in cases, outputs, reasons">'
        '</label><button type="button" id="expand-all" aria-pressed="false">Expand all</button>'
        '<span id="shown"></span></div>'
    )


def unit_row_attrs(status: str, prompt: str, model: str, tags: Iterable[str]) -> str:
    return (
        f'class="unit" aria-expanded="false" data-status="{esc(status)}" data-prompt="{esc(prompt)}" '
        f'data-model="{esc(model)}" data-tags="{esc(chr(10).join(sorted(set(tags))))}"'
    )


def messages_html(messages: list[dict[str, Any]] | None) -> str:
    if messages is None:
        return (
            '<p class="muted">Rendered messages not available: the suite at this record\'s revision no '
            "longer renders this request.</p>"
        )
    return "".join(
        f'<div class="msg"><span class="role">{esc(m.get("role"))}</span>'
        f"<pre>{esc(m.get('content'))}</pre></div>"
        for m in messages
    )


def asserts_html(asserts: list[dict[str, Any]]) -> str:
    if not asserts:
        return '<p class="muted">No assertions.</p>'
    rows = []
    for a in asserts:
        if a.get("error"):
            verdict = '<span class="err">error</span>'
        elif a.get("passed"):
            verdict = '<span class="ok">pass</span>'
        else:
            verdict = '<span class="bad">fail</span>'
        score = "-" if a.get("score") is None else f"{a['score']:.2f}"
        rows.append(
            f"<tr><td>{esc(a.get('label') or a.get('type'))}</td><td>{verdict}</td>"
            f'<td class="num">{score}</td><td>{esc(a.get("reason"))}</td></tr>'
        )
    return (
        '<table class="asserts"><tr><th>assertion</th><th>result</th><th>score</th><th>reason</th></tr>'
        + "".join(rows)
        + "</table>"
    )


# -- the word diff ----------------------------------------------------------------------------------
_TOKEN = re.compile(r"\s+|\w+|[^\w\s]")
MAX_DIFF_TOKENS = 20_000  # beyond this, both outputs are shown without highlighting


def word_diff(base: str, head: str) -> tuple[str, str]:
    """Both texts as HTML: what only the base has in ``<del>``, what only the head has in ``<ins>``."""
    a, b = _TOKEN.findall(base), _TOKEN.findall(head)
    if len(a) + len(b) > MAX_DIFF_TOKENS:
        return esc(base), esc(head)
    left: list[str] = []
    right: list[str] = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        old, new = esc("".join(a[i1:i2])), esc("".join(b[j1:j2]))
        if op == "equal":
            left.append(old)
            right.append(new)
            continue
        if old:
            left.append(f"<del>{old}</del>")
        if new:
            right.append(f"<ins>{new}</ins>")
    return "".join(left), "".join(right)


# -- the chart over the history --------------------------------------------------------------------
_W, _H, _PAD_L, _PAD_R, _PAD_T, _PAD_B = 420, 170, 48, 12, 14, 26


def _line_chart(title: str, css: str, points: list[tuple[str, float | None]], top: float, fmt: Any) -> str:
    n = len(points)
    inner_w, inner_h = _W - _PAD_L - _PAD_R, _H - _PAD_T - _PAD_B

    def x(i: int) -> float:
        return _PAD_L + (inner_w * i / (n - 1) if n > 1 else inner_w / 2)

    def y(v: float) -> float:
        return _PAD_T + inner_h * (1 - (v / top if top else 0))

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{_W}" height="{_H}" role="img" '
        f'aria-label="{esc(title)}"><title>{esc(title)}</title>'
    ]
    for frac in (0.0, 0.5, 1.0):
        yy = y(top * frac)
        parts.append(f'<line class="axis" x1="{_PAD_L}" y1="{yy:.1f}" x2="{_W - _PAD_R}" y2="{yy:.1f}"/>')
        parts.append(
            f'<text x="{_PAD_L - 4}" y="{yy + 3:.1f}" text-anchor="end">{esc(fmt(top * frac))}</text>'
        )
    segment: list[str] = []
    lines: list[str] = []
    dots: list[str] = []
    for i, (label, v) in enumerate(points):
        if v is None:
            if len(segment) > 1:
                lines.append(" ".join(segment))
            segment = []
            continue
        segment.append(f"{x(i):.1f},{y(v):.1f}")
        dots.append(
            f'<circle class="dot-{css}" cx="{x(i):.1f}" cy="{y(v):.1f}" r="3">'
            f"<title>{esc(label)}: {esc(fmt(v))}</title></circle>"
        )
    if len(segment) > 1:
        lines.append(" ".join(segment))
    parts += [f'<polyline class="{css}" points="{pts}"/>' for pts in lines]
    parts += dots
    if not dots:
        parts.append(
            f'<text x="{_PAD_L + inner_w / 2:.0f}" y="{_PAD_T + inner_h / 2:.0f}" text-anchor="middle">'
            "not known for any run</text>"
        )
    first, last = points[0][0].split(" ")[0], points[-1][0].split(" ")[0]
    parts.append(f'<text x="{_PAD_L}" y="{_H - 8}">{esc(first)}</text>')
    if n > 1:
        parts.append(f'<text x="{_W - _PAD_R}" y="{_H - 8}" text-anchor="end">{esc(last)}</text>')
    parts.append("</svg>")
    return f'<figure class="chart"><figcaption>{esc(title)}</figcaption>{"".join(parts)}</figure>'


def history_charts(history: list[dict[str, Any]] | None) -> str:
    """Pass rate and cost per run record, oldest to newest (``history_rows`` gives newest first)."""
    if history is None:
        return ""
    if not history:
        return '<h2>History</h2><p class="muted">No run records yet.</p>'
    rows = list(reversed(history))
    labels = [f"{r['short']}{'*' if r.get('dirty') else ''} {str(r.get('date') or '')[:16]}" for r in rows]
    rates = [(lab, r.get("pass_rate")) for lab, r in zip(labels, rows, strict=True)]
    costs = [(lab, r.get("cost")) for lab, r in zip(labels, rows, strict=True)]
    top_cost = max((c for _l, c in costs if c is not None), default=0.0) or 1.0
    return (
        f"<h2>History ({len(rows)} run record{'' if len(rows) == 1 else 's'})</h2>"
        '<div class="charts" id="history">'
        + _line_chart("Pass rate", "rate", rates, 1.0, fmt_rate)
        + _line_chart("Cost (USD)", "cost", costs, top_cost, fmt_cost)
        + "</div>"
    )
