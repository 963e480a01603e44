"""``promptctl test`` as a library call: run the suite (``run.suite_run``) and write its record.

Every run writes a record, an interrupted one too (marked incomplete, with every finished row).
Rows go to the record as they finish (``records.stream``): with ``keep_results=False`` (the CLI)
nothing of a finished row stays in memory but what the summary and the failure table need.
The CLI, ``compare`` (which runs whatever revision has no record yet), tests and benchmarks call
:func:`run_and_record`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from promptctl.errors import EXIT_EXECUTION, EXIT_FAILED, EXIT_OK, Interrupted
from promptctl.records.record import Record, latest_record, new_record, read_record
from promptctl.records.stream import RecordStream
from promptctl.records.summary import SummaryBuilder, unit_rows
from promptctl.run.plan import Row
from promptctl.run.runner import RowResult
from promptctl.run.suite_run import RunOutcome, TestOptions, run_tests
from promptctl.suite.project import Project


@dataclass
class TestOutcome:
    """A recorded run: the record (as written) and what the run produced."""

    __test__ = False  # not a pytest test class

    record: Record
    run: RunOutcome
    record_path: str | None = None
    # The rows that did not pass (failing assertions only, output cut): the terminal's table.
    attention: list[dict[str, Any]] = field(default_factory=list)
    tally: SummaryBuilder | None = None  # the stream's: units() without the rows

    @property
    def summary(self) -> dict[str, Any]:
        return self.record.summary

    def units(self) -> list[dict[str, Any]]:
        """One entry per case x model with its outcome (``test -v``)."""
        return self.tally.unit_rows() if self.tally is not None else unit_rows(self.record.rows)

    def full_record(self) -> Record:
        """The record with every row: as held (``keep_results``) or read back from its file."""
        if self.record.rows or self.record_path is None or not self.run.finished:
            return self.record
        return read_record(Path(self.record_path))


def run_and_record(
    project: Project,
    opts: TestOptions,
    *,
    argv: list[str] | None = None,
    on_plan: Callable[[list[Row]], None] | None = None,
    on_result: Callable[[RowResult], None] | None = None,
) -> TestOutcome:
    """Run the selected suite and write its record; an interrupted run's record is written too
    (marked incomplete) before :class:`Interrupted` is raised."""
    if opts.last_failed and opts.previous_failures is None:
        prev = latest_record(project.root)
        opts.previous_failures = {
            r["case_key"] for r in (prev.rows if prev else []) if r["status"] in ("fail", "error")
        }
    # The record's provenance (HEAD, dirty check: two git processes) is looked up meanwhile.
    provenance = _Background(
        new_record,
        project.root,
        command=argv or ["promptctl", "test"],
        config=project.config.public_dict(),
        ref=project.ref,
    )
    stream = RecordStream(project.root if opts.write_record else None)

    def finished(result: RowResult) -> None:
        stream.add(result.row.index, row_to_dict(result))
        if on_result is not None:
            on_result(result)

    try:
        run = run_tests(project, opts, on_plan=on_plan, on_result=finished)
        record = provenance.result()
    except BaseException:
        stream.discard()
        raise
    record.selection = {
        "paths": opts.paths,
        "keywords": opts.keywords,
        "tags": opts.tags,
        "models": opts.models,
        "repeat": opts.repeat,
        "shard": list(opts.shard) if opts.shard else None,
        "last_failed": opts.last_failed,
        "rows": run.rows_planned,
    }
    record.rows = [row_to_dict(r) for r in run.results]
    summary = stream.summary()
    record.preset_summary(summary)
    record.complete = not run.interrupted and run.finished == run.rows_planned
    record.interrupted = run.interrupted
    st = run.stats
    record.stats = {
        "live_calls": st.live_calls,
        "cache_hits": st.cache_hits,
        "replays": st.replays,
        "deduplicated": st.deduplicated,
        "retries": st.retries,
        "spent": st.spent,
        "elapsed_s": run.elapsed_s,
    }
    outcome = TestOutcome(record=record, run=run, attention=stream.attention, tally=stream.builder)
    if opts.write_record:
        outcome.record_path = str(stream.finish(project.root, record))
    if run.interrupted:
        raise Interrupted(
            f"interrupted: {run.finished} of {run.rows_planned} rows finished and were kept "
            f"(record {outcome.record_path}); run the same command again to finish the rest"
        )
    return outcome


def exit_code_for(summary: dict[str, Any], fail_under: float | None = None) -> int:
    """0 all passed, 1 failures (or verdicts still pending: not passed), 3 errors or skips.
    ``--fail-under`` forgives failures while the pass rate reaches it; it never turns an error
    into a pass."""
    rate = summary.get("pass_rate")
    forgiven = fail_under is not None and rate is not None and rate + 1e-12 >= fail_under
    if (summary["failed"] or summary.get("pending")) and not forgiven:
        return EXIT_FAILED
    if summary["errors"] or summary["skipped"]:
        return EXIT_EXECUTION
    return EXIT_OK


class _Background:
    """``fn(*args, **kwargs)`` on a thread; ``result()`` waits and returns or re-raises.

    For work that mostly waits on another process (git), so it overlaps planning instead of
    adding to it."""

    def __init__(self, fn: Callable[..., Record], *args: Any, **kwargs: Any) -> None:
        self._value: Record | None = None
        self._error: BaseException | None = None

        def target() -> None:
            try:
                self._value = fn(*args, **kwargs)
            except BaseException as exc:  # handed to the caller of result()
                self._error = exc

        self._thread = threading.Thread(target=target, name="promptctl-provenance", daemon=True)
        self._thread.start()

    def result(self) -> Record:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._value is not None
        return self._value


def row_to_dict(result: RowResult) -> dict[str, Any]:
    """Flatten a RowResult into the stored row (no secrets: requests carry none)."""
    row, resp = result.row, result.response
    return {
        "case_key": row.case.key,
        "prompt": row.case.prompt,
        "case": row.case.id,
        "case_file": row.case.file,
        "model": row.model_name,
        "litellm_model": row.target.model,
        "sample": row.sample,
        "fingerprint": row.fingerprint,
        "status": result.status,
        "score": result.score,
        "min_pass_rate": row.case.min_pass_rate,
        "output": resp.text,
        "error": resp.error,
        "source": resp.source,
        "answered_by": resp.answered_by,
        "provider_model": resp.provider_model,
        "latency_ms": resp.latency_ms,
        "input_tokens": resp.input_tokens,
        "output_tokens": resp.output_tokens,
        "cost": resp.cost,
        "finish_reason": resp.finish_reason,
        "attempts": resp.attempts,
        "retries": resp.retries,
        "tags": row.case.tags,
        "asserts": [a.to_dict() for a in result.asserts],
    }
