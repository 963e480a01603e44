"""Traces: one JSON line per model call made through the Python API, naming the exact prompt
version that made it; reading them back, filtered, and their statistics per version.

Off by default. On when the application passes ``traces=PATH`` to ``get_prompt``, or sets
``PROMPTCTL_TRACES=PATH``, or the project's ``promptctl.yaml`` says ``traces: PATH`` (a path
inside the project). Writing a trace never breaks or holds up the application's call: the line
is appended (one ``write`` of a file opened for appending, so lines from several processes do not
interleave) after the call has its answer, and any failure -- a full disk, a directory that is
not there, no permission -- is a :class:`TraceWarning`, never an exception.

Keys are never written: every string in a trace (vars, output, error) goes through the one masking
rule of :mod:`promptctl.secrets` (the values of provider key variables, of each alias's
``api_key_env`` and of credential-looking variables become ``***``), and a variable whose name says
it holds a secret (``api_key``, ``token``, ``password``...) is written as ``***`` whatever its value.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import threading
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from promptctl import secrets
from promptctl.errors import UsageError
from promptctl.paths import confined
from promptctl.records.summary import _percentile as percentile

TRACES_ENV = "PROMPTCTL_TRACES"
MASK = secrets.MASK


class TraceWarning(UserWarning):
    """A trace could not be written; the call it describes went through all the same."""


def configured_path(
    setting: str | os.PathLike[str] | bool | None, config_traces: str | None, root: Path | None
) -> Path | None:
    """Where traces go: the API argument (``False``: nowhere), else ``PROMPTCTL_TRACES``, else the
    project's ``traces:`` (relative to the project root, and confined to it)."""
    if setting is False:
        return None
    if setting is not None and setting is not True:
        return Path(setting)
    env = os.environ.get(TRACES_ENV)
    if env:
        return Path(env)
    if config_traces and root is not None:
        rel = confined(config_traces)
        if rel is None:
            raise UsageError(
                f"traces: {config_traces!r} in promptctl.yaml must be a relative path inside the project",
                hint=f"e.g. `traces: .promptctl/traces.jsonl`, or set {TRACES_ENV} for a path elsewhere",
            )
        return root / rel
    if setting is True:
        raise UsageError(
            "traces=True, but no traces path is configured",
            hint=f"pass traces=PATH, set {TRACES_ENV}, or add `traces: PATH` to promptctl.yaml",
        )
    return None


# -- masking ------------------------------------------------------------------------------------
# Key values are masked by the one rule every writer uses (promptctl.secrets); on top of it, a
# variable whose NAME says it holds a secret is written as *** whatever its value.
_SECRET_VAR = re.compile(r"api[_-]?key|token|secret|passw(or)?d|authorization|credential", re.IGNORECASE)


def masked(value: Any) -> Any:
    """``value`` with every key value masked (:func:`promptctl.secrets.mask_data`)."""
    return secrets.mask_data(value)


def mask_vars(variables: dict[str, Any]) -> dict[str, Any]:
    """The call's variables as a trace holds them: secret-named ones blanked, key values masked."""
    return {
        k: MASK if _SECRET_VAR.search(str(k)) else secrets.mask_data(_jsonable(v))
        for k, v in variables.items()
    }


def _jsonable(value: Any) -> Any:
    try:
        json.dumps(value)
        return value
    except (TypeError, ValueError):
        return json.loads(json.dumps(value, default=str))


# -- writing ------------------------------------------------------------------------------------
_write_lock = threading.Lock()


def write_trace(path: Path, record: dict[str, Any]) -> bool:
    """Append ``record`` as one line; True when written. Never raises: a failure is a
    :class:`TraceWarning` naming the path and the reason."""
    try:
        line = (json.dumps(record, ensure_ascii=False, separators=(",", ":"), default=str) + "\n").encode()
        with _write_lock:
            try:
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            except FileNotFoundError:  # the first trace: make its directory
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                written = os.write(fd, line)
                if written != len(line):
                    raise OSError(28, "short write (disk full?)")
            finally:
                os.close(fd)
        return True
    except Exception as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        warnings.warn(
            f"promptctl: could not write a trace to {path}: {reason} (the call itself went through)",
            TraceWarning,
            stacklevel=3,
        )
        return False


# -- reading ------------------------------------------------------------------------------------
@dataclass
class TraceFile:
    traces: list[dict[str, Any]]
    skipped: int  # lines that are not a trace (a torn last line, foreign text)


def read_traces(path: Path) -> TraceFile:
    """Every trace in the file, oldest first; unreadable lines are counted, not fatal."""
    try:
        raw = Path(path).read_bytes()
    except FileNotFoundError:
        return TraceFile([], 0)
    except OSError as exc:
        raise UsageError(f"cannot read traces from {path}: {exc.strerror}") from None
    traces: list[dict[str, Any]] = []
    skipped = 0
    for line in raw.splitlines():
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except (json.JSONDecodeError, UnicodeDecodeError):
            skipped += 1
            continue
        if (
            isinstance(item, dict)
            and isinstance(item.get("trace_id"), str)
            and isinstance(item.get("time"), str)
        ):
            traces.append(item)
        else:
            skipped += 1
    return TraceFile(traces, skipped)


_RELATIVE = re.compile(r"(\d+)\s*(s|m|min|h|d|w)")
_UNITS = {"s": "seconds", "m": "minutes", "min": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``--since``: a duration back from now (``30m``, ``2h``, ``7d``, ``1w``) or an ISO date or
    time (``2026-11-30``, ``2026-11-30T14:00``; without an offset: local time)."""
    now = now or datetime.now(timezone.utc)
    m = _RELATIVE.fullmatch(text.strip())
    if m:
        return now - timedelta(**{_UNITS[m.group(2)]: int(m.group(1))})
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise UsageError(
            f"--since expects a duration (30m, 2h, 7d) or an ISO date/time (2026-11-30T14:00), got '{text}'"
        ) from None
    return when if when.tzinfo else when.astimezone()


def _time(trace: dict[str, Any]) -> datetime | None:
    try:
        when = datetime.fromisoformat(str(trace["time"]).replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def select(
    traces: list[dict[str, Any]],
    *,
    prompt: str | None = None,
    since: datetime | None = None,
    failed: bool = False,
) -> list[dict[str, Any]]:
    """The traces of ``prompt`` (a name or a glob), at or after ``since``, only failed ones."""
    out = []
    for t in traces:
        name = str(t.get("prompt", ""))
        if prompt is not None and not (
            name == prompt or (any(c in prompt for c in "*?[") and fnmatch.fnmatchcase(name, prompt))
        ):
            continue
        if failed and t.get("status") == "ok":
            continue
        if since is not None:
            when = _time(t)
            if when is None or when < since:
                continue
        out.append(t)
    return out


def stats(traces: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per prompt and version: calls, errors and error rate, latency p50/p95 (of answered calls),
    total and mean cost (of calls with a known price), tokens, labels seen, first and last call."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for t in traces:
        groups.setdefault((str(t.get("prompt", "")), str(t.get("version", ""))), []).append(t)
    rows = []
    for (prompt, version), ts in sorted(
        groups.items(), key=lambda kv: (kv[0][0], min(t["time"] for t in kv[1]))
    ):
        errors = sum(1 for t in ts if t.get("status") != "ok")
        latencies = [
            float(t["latency_ms"]) for t in ts if t.get("status") == "ok" and _num(t.get("latency_ms"))
        ]
        costs = [float(t["cost"]) for t in ts if _num(t.get("cost"))]
        tokens = [t for t in ts if _num(t.get("input_tokens")) or _num(t.get("output_tokens"))]
        rows.append(
            {
                "prompt": prompt,
                "version": version,
                "labels": sorted({str(t["label"]) for t in ts if t.get("label")}),
                "commits": sorted({str(t["commit"]) for t in ts if t.get("commit")}),
                "calls": len(ts),
                "errors": errors,
                "error_rate": errors / len(ts),
                "p50_latency_ms": percentile(latencies, 0.5),
                "p95_latency_ms": percentile(latencies, 0.95),
                "cost": sum(costs) if costs else None,
                "mean_cost": sum(costs) / len(costs) if costs else None,
                "unpriced_calls": len(ts) - len(costs),
                "input_tokens": sum(int(t.get("input_tokens") or 0) for t in tokens),
                "output_tokens": sum(int(t.get("output_tokens") or 0) for t in tokens),
                "first": min(t["time"] for t in ts),
                "last": max(t["time"] for t in ts),
            }
        )
    return rows


def _num(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
