"""Diff data made by hand, as ``diff --format json`` writes it: for the report tests."""

from __future__ import annotations

from typing import Any

from promptctl.review.grouping import Grouper, Member, unified


def thousand_cases() -> dict[str, Any]:
    """Diff data of 1,000 affected cases: 500 in one change, 500 each with its own."""
    return diff_data(500, 500)


def diff_data(shared: int, unique: int) -> dict[str, Any]:
    """Diff data of ``shared`` cases with one change and ``unique`` cases each with its own."""
    g = Grouper()
    keys = []
    n = shared + unique
    for i in range(n):
        unique_change = i >= shared
        before = f"--- system ---\nBe brief.\n--- user ---\nTicket {i}: " + "words " * 30 + "\n"
        after = before.replace("Be brief.", "Be very brief.")
        if unique_change:
            after = after.replace(f"Ticket {i}:", f"Ticket {i} (urgent):")
        m = Member(f"p::c{i}", f"c{i}", "m")
        keys.append((m, g.add(m, "p", "changed", unified(before, after, "base/p", "head/p"))))
    groups, ids = g.groups()
    return {
        "base": {"label": "base", "ref": "base", "sha": "b" * 40},
        "head": {"label": "head", "ref": "head", "sha": "h" * 40},
        "changed_files": [{"status": "M", "path": "prompts/p.yaml", "kind": "prompt"}],
        "summary": {
            "units": n,
            "base_units": n,
            "affected": n,
            "changed": n,
            "added": 0,
            "removed": 0,
            "groups": len(groups),
            "output_changes": 0,
            "output_groups": 0,
            "checks_changed": 0,
        },
        "templates": [],
        "groups": [x.to_dict() for x in groups],
        "output_groups": [],
        "affected": [{"case_key": m.case_key, "group": ids[k], "output_group": None} for m, k in keys],
        "checks_changed": [],
        "problems": {"base": [], "head": []},
    }
