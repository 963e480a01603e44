"""Stored rows and records made by hand, for the unit tests of records, reports and the gate."""

from __future__ import annotations

from typing import Any

from promptctl.records.record import Record


def row(
    case: str,
    status: str = "pass",
    *,
    sample: int = 0,
    model: str = "m",
    prompt: str = "p",
    score: float | None = 1.0,
    metric: tuple[str, float] | None = None,
    cost: float | None = 0.001,
    latency_ms: float | None = 100.0,
    output: str | None = "out",
    error: str | None = None,
    min_pass_rate: float = 1.0,
    source: str = "live",
) -> dict[str, Any]:
    asserts = []
    if metric is not None:
        asserts.append(
            {"type": "judge", "label": "judge", "passed": status == "pass", "score": metric[1],
             "reason": "r", "metric": metric[0], "weight": 1.0, "error": False}
        )  # fmt: skip
    elif status == "fail":
        asserts.append(
            {"type": "equals", "label": "equals", "passed": False, "score": 0.0, "reason": "differs",
             "metric": None, "weight": 1.0, "error": False}
        )  # fmt: skip
    return {
        "case_key": f"{prompt}::{case}",
        "prompt": prompt,
        "case": case,
        "case_file": f"cases/{prompt}.yaml",
        "model": model,
        "sample": sample,
        "status": status,
        "score": score if status in ("pass", "fail") else None,
        "min_pass_rate": min_pass_rate,
        "output": output,
        "error": error,
        "source": source,
        "provider_model": None,
        "latency_ms": latency_ms,
        "input_tokens": 10,
        "output_tokens": 5,
        "cost": cost,
        "attempts": 1,
        "retries": 0,
        "asserts": asserts,
    }


def record(rows: list[dict[str, Any]], commit: str = "a" * 40) -> Record:
    return Record(
        commit=commit,
        dirty=False,
        content_hash=None,
        created_at="2026-01-01T00:00:00.000000Z",
        command=["promptctl", "test"],
        config={},
        rows=rows,
    )
