"""``promptctl test`` as a library call: run the suite (``run.suite_run``) and write its record.

Every run writes a record, an interrupted one too (marked partial, with every finished row).
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
from promptctl.records.lastfailed import LASTFAILED, failure_set_after, read_failure_set, write_failure_set
from promptctl.records.provenance import state_paths
from promptctl.records.record import Record, new_record, read_record
from promptctl.records.stream import RecordStream
from promptctl.records.summary import SummaryBuilder, unit_outcome, unit_rows
from promptctl.run.plan import Row
from promptctl.run.runner import RowResult
from promptctl.run.suite_run import RunOutcome, TestOptions, paths_narrow, run_tests
from promptctl.suite.load import Suite
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
    (marked partial) before :class:`Interrupted` is raised."""
    remember = project.ref is None and opts.write_record  # a run of the worktree's suite
    known, warning = read_failure_set(project.root) if (remember or opts.last_failed) else (set(), None)
    if opts.last_failed and opts.previous_failures is None:
        opts.previous_failures = known
    # The record's provenance (HEAD, dirty check: two git processes) is looked up meanwhile.
    provenance = _Background(
        new_record,
        project.root,
        command=argv or ["promptctl", "test"],
        config=project.config.public_dict(),
        ref=project.ref,
    )
    maxfail = MaxFail(opts.maxfail) if opts.maxfail else None

    planned_per_case: dict[str, int] = {}

    def planned(rows: list[Row]) -> None:
        for r in rows:
            planned_per_case[r.case.key] = planned_per_case.get(r.case.key, 0) + 1
        if maxfail is not None:
            maxfail.plan(rows)
        if on_plan is not None:
            on_plan(rows)

    stream = RecordStream(project.root if opts.write_record else None)

    def finished(result: RowResult) -> None:
        stream.add(result.row.index, row_to_dict(result))
        if on_result is not None:
            on_result(result)

    try:
        run = run_tests(project, opts, on_plan=planned, on_result=finished, stop_when=maxfail)
        record = provenance.result()
    except BaseException:
        stream.discard()
        raise
    if warning is not None:
        run.notes.insert(0, f"warning: {warning}")
    if project.ref is None and record.commit is not None and run.suite is not None:
        _mark_dirty_validators(project, record, run.suite)
    record.rows = [row_to_dict(r) for r in run.results]
    tally = stream.builder
    partial = partial_reasons(
        opts, run, tally.rows, tally.statuses.get("skipped", 0), narrowed=paths_narrow(project, opts.paths)
    )
    record.selection = {
        "paths": opts.paths,
        "keywords": opts.keywords,
        "tags": opts.tags,
        "models": opts.models,
        "repeat": opts.repeat,
        "shard": list(opts.shard) if opts.shard else None,
        "last_failed": opts.last_failed,
        "affected": opts.affected,
        "only_cases": None if opts.only_keys is None else len(opts.only_keys),
        "maxfail": opts.maxfail,
        "rows": run.rows_planned,
        "partial": partial,
    }
    record.preset_summary(stream.summary())
    record.complete = not partial
    record.interrupted = run.interrupted
    st = run.stats
    record.stats = {
        "live_calls": st.live_calls,
        "cache_hits": st.cache_hits,
        "replays": st.replays,
        "live_rows": st.live_rows,
        "not_run": st.not_run,
        "deduplicated": st.deduplicated,
        "judge_replays": st.judge_replays,
        "judge_cache_hits": st.judge_cache_hits,
        "judge_live": st.judge_live,
        "judge_shared": st.judge_shared,
        "judge_not_run": st.judge_not_run,
        "retries": st.retries,
        "spent": st.spent,
        "elapsed_s": run.elapsed_s,
    }
    outcome = TestOutcome(record=record, run=run, attention=stream.attention, tally=stream.builder)
    if opts.write_record:
        outcome.record_path = str(stream.finish(project.root, record))
    if remember:
        try:
            write_failure_set(project.root, failure_set_after(known, tally.unit_statuses(), planned_per_case))
        except OSError as exc:
            run.notes.append(f"warning: cannot update {LASTFAILED} ({exc.strerror or exc})")
    if run.interrupted:
        raise Interrupted(
            f"interrupted: {run.finished} of {run.rows_planned} rows finished and were kept "
            f"(record {outcome.record_path}); run the same command again to finish the rest"
        )
    return outcome


def _mark_dirty_validators(project: Project, record: Record, suite: Suite) -> None:
    """A run of the worktree is dirty when the files its validators read (a schema, a python
    module, the judge prompt) have uncommitted changes too, not only prompts, cases or config:
    its verdicts are then not those of the commit. The content hash covers them as well."""
    from promptctl.git.repo import content_hash, is_dirty

    paths = state_paths(project.root, project.config, suite)
    base = state_paths(project.root, project.config)
    if paths == base:
        return
    if not record.dirty and not is_dirty(project.root, paths[len(base) :]):
        return
    record.dirty = True
    record.content_hash = content_hash(project.root, paths)


def partial_reasons(
    opts: TestOptions, run: RunOutcome, finished: int, skipped: int, *, narrowed: bool
) -> list[str]:
    """Why a run's record is not the whole suite ([] when it is: every case of the suite on its
    own models, every row finished). A partial record is stored and shown as such, and never
    taken by ``compare`` as the result of a revision."""
    out = []
    if narrowed:
        out.append("paths: " + " ".join(opts.paths))
    out += [f"-k {k}" for k in opts.keywords]
    out += [f"--tag {t}" for t in opts.tags]
    out += [f"--model {m}" for m in opts.models]
    if opts.shard:
        out.append(f"--shard {opts.shard[0]}/{opts.shard[1]}")
    if opts.last_failed and run.last_failed_narrowed:
        out.append("--last-failed")
    if opts.affected is not None:
        out.append(f"--affected {opts.affected}")
    elif opts.only_keys is not None:
        out.append(f"only {len(opts.only_keys)} selected case(s)")
    if run.interrupted:
        out.append(f"interrupted: {finished} of {run.rows_planned} rows finished")
    elif run.stopped:
        out.append(run.stopped)  # -x / --maxfail: "stopped after N failing cases (...): M of T rows not run"
    elif finished != run.rows_planned:
        out.append(f"{finished} of {run.rows_planned} rows finished")
    if skipped:
        out.append(f"--max-cost stopped it: {skipped} of {run.rows_planned} rows skipped")
    return out


class MaxFail:
    """``-x`` / ``--maxfail N``: counts the cases (case x model) that can no longer pass — by the
    rule of their outcome (:func:`records.summary.unit_outcome`), even were every sample still to
    come to pass — and gives the reason to stop once there are N."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.planned: dict[tuple[str, str], int] = {}
        self.finished: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self.failed: set[tuple[str, str]] = set()

    def plan(self, rows: list[Row]) -> None:
        for r in rows:
            key = (r.case.key, r.model_name)
            self.planned[key] = self.planned.get(key, 0) + 1

    def __call__(self, result: RowResult) -> str | None:
        row = result.row
        key = (row.case.key, row.model_name)
        if key in self.failed:
            return None
        done = self.finished.setdefault(key, [])
        sample = {"status": result.status, "score": result.score, "min_pass_rate": row.case.min_pass_rate}
        done.append(sample)
        rest = max(0, self.planned.get(key, len(done)) - len(done))
        best_case = done + [{**sample, "status": "pass"}] * rest
        if unit_outcome(best_case).status not in ("fail", "error"):
            return None
        self.failed.add(key)
        n = len(self.failed)
        if n < self.limit:
            return None
        return f"stopped after {n} failing case{'s' if n > 1 else ''} (-x/--maxfail {self.limit})"


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
        # answered by a recording the pull request changed, with no key to verify it (review.claims)
        **({"unverified": True} if result.unverified else {}),
    }
