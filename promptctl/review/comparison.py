"""The whole comparison of two revisions: obtain each side's record, pair their cases, total them,
and, with a gate, give the verdict. JSON-ready data that every report format renders."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from promptctl.errors import PromptctlError
from promptctl.git.repo import default_base, resolve
from promptctl.records.record import Record, scan_local
from promptctl.records.summary import group_units
from promptctl.review.checks import changed_checks
from promptctl.review.claims import Claims, pr_claims
from promptctl.review.compare import compare_units, totals
from promptctl.review.diff import affected_keys
from promptctl.review.gate import Unit, adaptive, gate_pvalue_lines, run_gate, unverified_rows
from promptctl.review.resample import Resampling, resample, resampled_line
from promptctl.review.sides import Note, obtain
from promptctl.suite.model import GateConfig
from promptctl.suite.project import open_project


def base_gate_config(root: Path, base: str | None) -> GateConfig:
    """The ``gate:`` settings a comparison is judged by: the BASE revision's promptctl.yaml, never
    the head's -- a pull request cannot loosen the gate that judges it (its change of ``gate:`` is
    reported, and applies once merged). Defaults when the base has no usable configuration."""
    project = open_project(root, base if base is not None else default_base(root))
    try:
        if any(p.is_error for p in project.config.problems):
            return GateConfig()
        return project.config.gate
    finally:
        close = getattr(project.source, "close", None)
        if close is not None:
            close()


def compare_revisions(
    root: Path,
    base: str | None,
    head: str | None,
    *,
    gate: GateConfig | None = None,
    offline: bool = False,
    rerun: bool = False,
    note: Note = lambda _m: None,
    records: dict[str, Record] | None = None,
    max_cost: float | None = None,
    trust_ref_config: bool = False,
    allow_unknown_cost: bool = False,
    trust_pr_recordings: bool = False,
) -> dict[str, Any]:
    """``promptctl compare [BASE] [HEAD]`` as JSON-ready data (``gate`` None: no verdict).
    ``records``, when given, receives the two sides' records ("base", "head"): reports that show
    outputs read them there. ``trust_ref_config``: allow live calls for a side whose config sends
    keys elsewhere. ``trust_pr_recordings``: accept the recordings the head changed as they are
    (else: the base config's ``gate.trust_pr_recordings``). With a gate, only the cases
    the change touched are on trial (``diff.affected_keys``), and with ``gate.max_repeat`` the open
    ones get more samples (``review.resample``; ``max_cost`` caps what those extra calls spend)."""
    base_rev = base if base is not None else default_base(root)
    for w in scan_local(root).warnings:
        note(f"warning: {w}")
    b = obtain(root, base_rev, offline=offline, rerun=rerun, note=note, trust_ref_config=trust_ref_config)
    claims = pr_claims(root, b.sha or resolve(root, base_rev), None if head is None else resolve(root, head))
    for problem in claims.problems:
        note(f"warning: {problem}")
    # the base's setting (``base_gate_config``): a pull request cannot trust its own recordings
    trusted = trust_pr_recordings or base_gate_config(root, b.sha or base_rev).trust_pr_recordings
    if claims.entries:
        how = (
            "trusted (replayed)"
            if trusted
            else "called to verify them where a key is set, else replayed and marked unverified"
        )
        note(
            f"{len(claims.rows)} row(s) answered by recordings this pull request changed "
            f"({', '.join(f.path for f in claims.files)}): {how}"
        )
    h = obtain(
        root,
        head,
        offline=offline,
        rerun=rerun,
        note=note,
        claims=frozenset() if trusted else frozenset(claims.entries),
        trust_ref_config=trust_ref_config,
    )

    on_trial: set[str] | None = None
    resampling: Resampling | None = None
    repeats: dict[Unit, int] = {}
    head_claims = frozenset() if trusted else frozenset(claims.entries)
    if gate is not None:
        on_trial = _on_trial(root, b.sha or base_rev, head, note)
        repeats = initial_repeats(b.record, h.record)
        if gate.max_repeat is not None and any(adaptive(gate, n) for n in repeats.values()):
            resampling = resample(
                root,
                b,
                h,
                gate,
                on_trial=on_trial,
                repeats=repeats,
                offline=offline,
                max_cost=max_cost,
                note=note,
                trust_ref_config=trust_ref_config,
                allow_unknown_cost=allow_unknown_cost,
                claims=frozenset(claims.entries),
                trust_claims=trusted,
                head_claims=head_claims,
            )
    pairs = compare_units(b.record, h.record)
    if records is not None:
        records.update(base=b.record, head=h.record)
    data: dict[str, Any] = {
        "base": b.to_dict(),
        "head": h.to_dict(),
        "totals": totals(b.record, h.record, pairs),
        "units": [p.to_dict() for p in pairs],
        "checks": changed_checks(root, b.sha or base_rev, None if head is None else h.sha),
        "gate": None,
        "claims": _claims_data(claims, h.record.rows, trusted),
    }
    if gate is not None:
        res = run_gate(
            b.record,
            h.record,
            pairs,
            gate,
            claims=frozenset(claims.entries),
            trust_claims=trusted,
            on_trial=on_trial,
            repeats=repeats,
        )
        resampled = None if resampling is None else resampling.to_dict(b.record.rows, h.record.rows)
        data["gate"] = {
            "failed": res.failed,
            "verdict": res.verdict,
            "exit_code": res.exit_code,
            "causes": res.causes,
            "warnings": res.warnings,
            "removed": res.removed,
            "pvalues": gate_pvalue_lines(res) + resampling_lines(resampled),
            **res.details,
            "resampling": resampled,
        }
    return data


def _on_trial(root: Path, base: str, head: str | None, note: Note) -> set[str] | None:
    """The cases the change touched (None: all, when a side cannot be planned)."""
    project = open_project(root, head)
    try:
        return affected_keys(project, base)
    except PromptctlError as exc:
        note(f"warning: every case is on trial: cannot tell which cases the change touched ({exc.message})")
        return None
    finally:
        close = getattr(project.source, "close", None)
        if close is not None:
            close()


def initial_repeats(base: Record, head: Record) -> dict[Unit, int]:
    """Samples a side of each case × model before the gate draws more: the smaller side's count
    (keyed by case and model label, as the gate's units are)."""
    pairs = compare_units(base, head)
    bu, hu = group_units(base.rows), group_units(head.rows)
    out: dict[Unit, int] = {}
    for p in pairs:
        if p.base is not None and p.head is not None:
            out[(p.case_key, p.model)] = min(
                len(bu[(p.case_key, str(p.base_model))]), len(hu[(p.case_key, str(p.head_model))])
            )
    return out


def resampling_lines(r: dict[str, Any] | None) -> list[str]:
    """What adaptive sampling did: its cost against its budgets, then each case it changed."""
    if r is None:
        return []
    cost = f"${r['spent']:.4f}" + (f" of --max-cost ${r['max_cost']:g}" if r["max_cost"] is not None else "")
    lines = [
        f"resampling: {r['extra_samples']} extra samples in {r['rounds']} round(s) (budget "
        f"{r['budget_samples']}, up to {r['max_repeat']} a side), {r['live_calls']} model calls, {cost}"
    ]
    if r["stopped"]:
        lines.append(f"  stopped early: {r['stopped']}")
    lines += ["  " + resampled_line(c) for c in r["cases"]]
    return lines


def _claims_data(claims: Claims, head_rows: list[dict[str, Any]], trusted: bool) -> dict[str, Any]:
    """What the report shows of the recordings the pull request changed: the files (with their
    ``source:``), and how many of their rows a call verified and how many were only replayed."""
    rows = frozenset(claims.rows)
    answered = [
        r for r in head_rows if (r.get("case_file"), r.get("case"), r.get("model"), r.get("sample")) in rows
    ]
    replayed = unverified_rows(head_rows, frozenset(claims.entries))
    return {
        **claims.to_dict(),
        "trusted": trusted,
        "verified": len(answered) - len(replayed),
        "unverified": len(replayed),
    }
