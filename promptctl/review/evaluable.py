"""Which stored rows could not be evaluated, and why: an error is not a quality drop.

A row that has no answer to judge — the provider key is missing, ``--offline`` found no (or a
stale) recording, the provider still failed after the retries, ``--max-cost`` stopped the run
before it — says nothing about the prompt's quality. The gate leaves such rows out of its
judgement and reports them as a third verdict ("cannot evaluate", exit 3) with the reason per
model and the exact next step. An error the answer itself caused (a validator that raised on
it) stays an error and counts against its side."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from promptctl.execute.types import NO_API_KEY

#: Why a row could not be evaluated, in the order the report lists them.
KINDS = ("no_key", "offline", "provider", "max_cost")
_KEY_SET = re.compile(r"set ([A-Za-z_][A-Za-z0-9_]*(?: or [A-Za-z_][A-Za-z0-9_]*)*)")
_ENV_UNSET = re.compile(r"environment variable ([A-Za-z_][A-Za-z0-9_]*) is not set")
_CALL_FAILED = ("judge call to ", "embedding the ")  # validate.judge, validate.semantic


def _kind_of_message(message: str) -> str:
    if NO_API_KEY in message or _ENV_UNSET.search(message):
        return "no_key"
    if "--offline:" in message:
        return "offline"
    return "provider"


def why_not_evaluable(row: dict[str, Any]) -> tuple[str, str] | None:
    """``(kind, message)`` when ``row`` could not be evaluated, else None. A row with a definite
    verdict (pass, fail, pending) or an error its output caused is evaluable."""
    status = row.get("status")
    if status == "skipped":
        return "max_cost", str(row.get("error") or "not run: --max-cost reached")
    if status != "error":
        return None
    err = row.get("error")
    if err:  # the call itself failed: there is no output to judge
        return _kind_of_message(str(err)), str(err)
    for a in row.get("asserts") or []:
        reason = str(a.get("reason") or "")
        if a.get("error") and (
            NO_API_KEY in reason or "--offline:" in reason or any(p in reason for p in _CALL_FAILED)
        ):
            return _kind_of_message(reason), reason  # the judge (or embedding) call failed
    return None


def split_rows(rows: Iterable[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(the rows that can be judged, the rows that cannot)."""
    ok: list[dict[str, Any]] = []
    bad: list[dict[str, Any]] = []
    for r in rows:
        (bad if why_not_evaluable(r) is not None else ok).append(r)
    return ok, bad


def _env_names(message: str) -> list[str]:
    m = _ENV_UNSET.search(message)
    if m:
        return [m.group(1)]
    m = _KEY_SET.search(message.split(NO_API_KEY, 1)[-1])
    return m.group(1).split(" or ") if m else []


@dataclass
class Reason:
    """The rows of one side and model that could not be evaluated for one reason."""

    side: str  # "base" | "head"
    model: str
    kind: str  # one of KINDS
    example: str  # the first row's message
    rows: int = 0
    cases: list[str] = field(default_factory=list)
    case_files: list[str] = field(default_factory=list)
    env: list[str] = field(default_factory=list)

    @property
    def summary(self) -> str:
        what = {
            "no_key": "no API key"
            + (f" ({' or '.join(f'${e}' for e in self.env)} is not set)" if self.env else ""),
            "offline": "--offline: no recording, or a stale one, for the request",
            "provider": "the provider call failed after the retries",
            "max_cost": "not run: --max-cost was reached",
        }[self.kind]
        return f"{self.model} ({self.side}, {self.rows} row{'' if self.rows == 1 else 's'}): {what}"

    @property
    def next_step(self) -> str:
        refresh = "`promptctl test --record " + " ".join(self.case_files) + "`"
        if self.kind == "no_key":
            key = " or ".join(f"`{e}`" for e in self.env) or "the provider's API key"
            if self.side == "base":
                return (
                    f"set {key} (in CI: a repository secret) and re-run, or publish a record of the "
                    "base (`promptctl test` then `promptctl records push` on the base commit)"
                )
            return (
                f"set {key} and re-run (in CI: a repository secret; a pull request from a fork gets "
                f"none, so a maintainer runs the gate with it); or, with a key, refresh the "
                f"recordings with {refresh} and commit them"
            )
        if self.kind == "offline":
            if self.side == "base":
                return "run without --offline with a key, or publish a record of the base"
            return (
                f"refresh the recordings with {refresh} (with a key) and commit them, or run "
                "without --offline"
            )
        if self.kind == "max_cost":
            return "raise --max-cost (or the config's max_cost), or run the missing cases: " + refresh
        return (
            "re-run when the provider answers again (first error: "
            + (self.example if len(self.example) <= 200 else self.example[:197] + "…")
            + ")"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "side": self.side,
            "model": self.model,
            "kind": self.kind,
            "rows": self.rows,
            "cases": self.cases,
            "case_files": self.case_files,
            "env": self.env,
            "example": self.example,
            "reason": self.summary,
            "next_step": self.next_step,
        }


def reasons(rows: Iterable[tuple[str, dict[str, Any]]]) -> list[Reason]:
    """One reason per side, model and kind, for ``(side, row)`` pairs of rows not evaluable."""
    out: dict[tuple[str, str, str], Reason] = {}
    for side, row in rows:
        why = why_not_evaluable(row)
        if why is None:
            continue
        kind, message = why
        key = (side, str(row.get("model")), kind)
        r = out.get(key)
        if r is None:
            r = out[key] = Reason(side, key[1], kind, message, env=_env_names(message))
        r.rows += 1
        case = str(row.get("case_key") or row.get("case"))
        if case not in r.cases:
            r.cases.append(case)
        cf = row.get("case_file")
        if cf and cf not in r.case_files:
            r.case_files.append(str(cf))
    order = {k: i for i, k in enumerate(KINDS)}
    return sorted(out.values(), key=lambda r: (r.side != "head", order[r.kind], r.model))
