"""The failure set behind ``--last-failed``, kept like pytest's cache
(``.promptctl/cache/lastfailed``): the cases that failed or errored when they last ran.

Every run of the worktree's suite updates it for the cases it ran to the end and only those: a
case that failed is added, a case that passed (on every model) is removed, and a case the run did
not select, did not finish or skipped keeps what it had. So a passing ``-k`` run does not forget
failures elsewhere. The file is JSON, written atomically; a damaged one reads as empty, with a
warning, and the next run rewrites it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from promptctl.atomic import write_text_atomic
from promptctl.records.summary import group_units, unit_outcome

LASTFAILED = ".promptctl/cache/lastfailed"
_VERSION = 1


def read_failure_set(root: Path) -> tuple[set[str], str | None]:
    """The case keys (``prompt::id``) that failed last time they ran, and a warning when the file
    cannot be used (then the set is empty)."""
    path = Path(root) / LASTFAILED
    try:
        text = path.read_text("utf-8")
    except FileNotFoundError:
        return set(), None
    except OSError as exc:
        return set(), f"cannot read {LASTFAILED} ({exc.strerror or exc}); --last-failed knows no failures"
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    cases = data.get("cases") if isinstance(data, dict) else None
    if not isinstance(cases, list) or not all(isinstance(c, str) for c in cases):
        return set(), f"{LASTFAILED} is damaged (not promptctl's JSON); --last-failed knows no failures"
    return set(cases), None


def updated_failure_set(known: set[str], rows: list[dict[str, Any]], planned: dict[str, int]) -> set[str]:
    """``known`` after a run: ``rows`` are its stored rows, ``planned`` the rows it planned per case
    key. A case counts only when every planned row of it finished: failed (or errored) on any model
    adds it, passed on every model removes it; skipped and unfinished cases keep their entry."""
    units = ((key, len(samples), unit_outcome(samples).status) for key, samples in group_units(rows).items())
    return failure_set_after(known, units, planned)


def failure_set_after(
    known: set[str], units: Iterable[tuple[tuple[str, str], int, str]], planned: dict[str, int]
) -> set[str]:
    """:func:`updated_failure_set` from each case x model's ``(key, rows finished, status)`` (a
    streamed run's tally, which keeps no row)."""
    finished: dict[str, int] = {}
    verdicts: dict[str, list[str]] = {}
    for (case_key, _model), n, status in units:
        finished[case_key] = finished.get(case_key, 0) + n
        verdicts.setdefault(case_key, []).append(status)
    out = set(known)
    for case_key, statuses in verdicts.items():
        if finished[case_key] < planned.get(case_key, 0):
            continue
        if any(s in ("fail", "error") for s in statuses):
            out.add(case_key)
        elif all(s == "pass" for s in statuses):
            out.discard(case_key)
    return out


def write_failure_set(root: Path, cases: set[str]) -> None:
    text = json.dumps({"version": _VERSION, "cases": sorted(cases)}, indent=1) + "\n"
    write_text_atomic(Path(root) / LASTFAILED, text)
