"""The async runner: answer each planned row from recordings, the cache or a live call, validate it,
and hand every finished row to the caller as soon as it is done.

Why this shape:
- Rows answered by recordings or the cache never touch asyncio tasks or litellm: a fully cached
  rerun costs only a few SQLite lookups and the validators.
- Live rows go through ``C`` workers pulling from a queue, and every HTTP call (judge calls
  included) holds one slot of a semaphore of size ``C``: the number of requests in flight never
  exceeds ``--concurrency``, and memory stays flat at 10,000 rows.
- Identical requests in one run are sent once: rows are grouped by fingerprint.
- Results are appended to ``self.results`` the moment they finish, so when the run is cancelled
  (Ctrl-C, SIGTERM) the caller still holds every finished row and can write them down.
- Live calls go to warm model workers (``execute/workers/``): processes with litellm imported
  that earlier runs started and later runs reuse, so a run pays neither litellm's import nor its
  CPU per call. The runner's structure (queue, semaphore, dedupe, cache, validation) is the same
  either way; only ``_call`` sends the request elsewhere, and the parent then never imports
  litellm. Whatever keeps a worker from answering, the call is made here instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import signal
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

from promptctl.errors import UsageError
from promptctl.execute.cache import ResponseCache
from promptctl.execute.embeddings import EmbeddingResponse, embedding_fingerprint, from_response, to_response
from promptctl.execute.recordings.embeddings import EmbeddingRecordings
from promptctl.execute.recordings.store import Recordings, RecordingWriter
from promptctl.execute.types import NO_API_KEY, ModelRequest, ModelResponse
from promptctl.run.calls import LiveCalls
from promptctl.run.inflight import InFlight
from promptctl.run.judge_calls import JudgeCalls, is_missing_key
from promptctl.run.options import RunOptions, RunStats, budget_reached
from promptctl.run.plan import Row, resolve_target
from promptctl.run.pricing import price_stored, unpriced_models
from promptctl.suite.model import Config
from promptctl.validate.types import AssertionResult, ValidationContext

if TYPE_CHECKING:
    from promptctl.git.sources import Source


RowStatus = Literal["pass", "fail", "error", "skipped", "pending"]
LOOKUP_CHUNK = 2000  # rows looked up (recordings, cache) and validated at a time


@dataclass
class RowResult:
    row: Row
    response: ModelResponse
    asserts: list[AssertionResult]
    status: RowStatus
    score: float | None
    unverified: bool = False  # answered from a recording the pull request changed (a claim)


def row_status(response: ModelResponse, asserts: list[AssertionResult]) -> RowStatus:
    """A row passes when all its assertions pass; a definite failure beats an evaluation error,
    which beats a verdict still pending (a ``human`` review nobody gave yet)."""
    if response.status == "skipped":
        return "skipped"
    if response.status == "error":
        return "error"
    if any(not a.passed and not a.error and not a.pending for a in asserts):
        return "fail"
    if any(a.error for a in asserts):
        return "error"
    if any(a.pending for a in asserts):
        return "pending"
    return "pass"


class Runner:
    def __init__(
        self,
        config: Config,
        options: RunOptions,
        *,
        cache: ResponseCache | None = None,
        recordings: Recordings | None = None,
        writer: RecordingWriter | None = None,
        on_result: Callable[[RowResult], None] | None = None,
        embeddings: EmbeddingRecordings | None = None,
        validation_extra: dict[str, Any] | None = None,
        keep_results: bool = True,
        stop_when: Callable[[RowResult], str | None] | None = None,
        source: Source | None = None,
    ) -> None:
        self.config = config
        self.source = source  # what validators read their files from (None: the worktree)
        self.validation_extra = dict(validation_extra or {})  # e.g. the review files, for `human`
        self.options = options
        self.cache = cache
        self.recordings = recordings
        self.writer = writer
        self.on_result = on_result
        self.embeddings = embeddings
        # False: finished rows go only to on_result (which writes them down), so a run's memory does
        # not grow with its rows; `finished` still counts them.
        self.keep_results = keep_results
        # -x / --maxfail: asked after each finished row; a reason stops the run from starting
        # anything new (rows in flight finish and are kept).
        self.stop_when = stop_when
        self.stopped: str | None = None
        self.results: list[RowResult] = []
        self.finished = 0
        self.stats = RunStats()
        self._sem: asyncio.Semaphore | None = None
        self.judges = JudgeCalls(config, options, self.stats, cache, recordings, writer, self._call)
        self._embed_inflight: InFlight[EmbeddingResponse] = InFlight()
        self._stale: set[str] = set()
        # rows whose recording is a claim (options.claims): the recorded answer, used only when
        # no key can verify it; and the rows answered by a claim (theirs or a judge verdict's)
        self._claimed: dict[str, ModelResponse] = {}
        self.unverified: set[str] = set()
        self.judges.unverified = self.unverified  # one set: a row's verdicts mark the row
        # where the live calls go (warm workers or here); its warnings and worker_pids say how it went
        self.calls = LiveCalls.for_run(config, options)
        self.elapsed: float | None = None  # wall seconds of the last run_rows
        self.notes: list[str] = []  # said to the user after the run (e.g. calls not counted)

    # -- public ---------------------------------------------------------------------------------
    async def run(self, rows: list[Row], *, consume: bool = False) -> list[RowResult]:
        """Answer every row. Rows are looked up (recordings, cache) and those answered validated
        :data:`LOOKUP_CHUNK` at a time, then the live calls run. ``consume``: the caller hands the
        list over; rows leave it as they are looked up and are released as they finish, so memory
        falls as the run goes on."""
        self._sem = asyncio.Semaphore(max(1, self.options.concurrency))
        self._stale = set()
        live: dict[str, list[Row]] = {}
        if self.embeddings is not None and self.options.use_recordings and not self.options.record:
            # read (and check) now: a broken recording is a located input error, not a row's error
            for case_file in {r.case.file for r in rows if any(a.type == "similar" for a in r.case.asserts)}:
                self.embeddings.preload(case_file)
        # Under a budget, every judge model must have a price before anything runs (the rows
        # answered from the cache are validated, and judged, first); the models of the rows left
        # to call are checked once every row was looked up, before the first call.
        self._check_budget_can_count(rows, [])
        total, seen = len(rows), 0
        try:
            while seen < total and not self.stopped:
                if consume:
                    chunk = rows[:LOOKUP_CHUNK]
                    del rows[:LOOKUP_CHUNK]
                else:
                    chunk = rows[seen : seen + LOOKUP_CHUNK]
                seen += len(chunk)
                answered: list[tuple[Row, ModelResponse]] = []
                for row in self._lookup_offline_sources(chunk, answered):
                    live.setdefault(row.fingerprint, []).append(row)
                del chunk
                if live and not self.options.offline and self.config.untrusted:
                    raise UsageError(self.config.untrusted)  # a revision's config that moves keys elsewhere
                if live and not self.calls.started and not self.options.offline:
                    # as soon as a live call is known (their start overlaps the rest), for as many
                    # calls as the rows looked up so far suggest
                    self.calls.start(len(live) + (total - seen) * len(live) // seen)
                answered.reverse()
                while answered:
                    if self.stopped:
                        self._uncount(answered)
                        break
                    row, resp = answered.pop()
                    await self._finish(row, resp)
            if live and not self.stopped:
                self._check_budget_can_count([], [r for group in live.values() for r in group])
                if self.options.offline:
                    while live and not self.stopped:
                        for row in live.popitem()[1]:
                            if self.stopped:
                                break
                            self.stats.not_run += 1
                            await self._finish(row, self._offline_error(row))
                else:
                    await self._run_live(live)
        finally:
            self.calls.close()  # also on Ctrl-C/SIGTERM: the workers cancel our in-flight calls
        if self.cache is not None:
            self.cache.flush()
        return self.results

    def _check_budget_can_count(self, rows: list[Row], pending: list[Row]) -> None:
        """Under a budget (``--max-cost``, ``max_cost``) every model this run may call must have
        a price, or its calls would count as free and the budget would never stop anything:
        refuse before any call (exit 2), unless ``--allow-unknown-cost`` accepts it."""
        cap = self.options.max_cost
        if cap is None or self.options.offline:
            return
        unpriced = unpriced_models(rows, pending, self.config)
        if not unpriced:
            return
        names = ", ".join(unpriced)
        if self.options.allow_unknown_cost:
            self.notes.append(
                f"{self.options.max_cost_source}: calls to {names} are not counted against the "
                f"{cap:g} USD budget: no price is known (--allow-unknown-cost)"
            )
            return
        raise UsageError(
            f"{self.options.max_cost_source} {cap:g} USD cannot be enforced: no price is known for "
            f"{names}, so its calls would count as free",
            hint="declare the price of each in promptctl.yaml, on its alias: `models: {NAME: {model: …, "
            "price: {input: 0.15, output: 0.60}}}` (USD per 1M tokens), or pass --allow-unknown-cost "
            "to run without counting those calls",
        )

    # -- sources --------------------------------------------------------------------------------
    def _lookup_offline_sources(
        self, rows: list[Row], answered: list[tuple[Row, ModelResponse]]
    ) -> list[Row]:
        """Recordings first, then the cache (one batched query); returns rows still unanswered."""
        rest: list[Row] = []
        for row in rows:
            if self.recordings is not None and self.options.use_recordings and not self.options.record:
                state, resp = self.recordings.lookup(
                    row.case.file, row.case.id, row.model_name, row.sample, row.fingerprint
                )
                if resp is not None and self._claim(row, resp):
                    rest.append(row)  # a claim: the cache, or a live call with a key, verifies it
                    continue
                if resp is not None:
                    answered.append((row, resp))
                    self.stats.replays += 1
                    continue
                if state == "stale":
                    self._stale.add(row.key_str)
            rest.append(row)
        if rest and self.cache is not None and self.options.use_cache:
            hits = self.cache.get_many([r.fingerprint for r in rest])
            still = []
            for row in rest:
                resp = hits.get(row.fingerprint)
                if resp is not None:
                    answered.append((row, resp))
                    self.stats.cache_hits += 1
                else:
                    still.append(row)
            rest = still
        return rest

    def _claim(self, row: Row, resp: ModelResponse) -> bool:
        """Whether ``row``'s recorded answer is a claim to verify (kept to fall back on)."""
        key = (row.case.file, row.case.id, row.model_name, row.sample)
        if key not in self.options.claims:
            return False
        if self.options.offline or self.config.untrusted:  # no call allowed: replayed, unverified
            self.unverified.add(row.key_str)
            self.stats.claims_unverified += 1
            return False
        self._claimed[row.key_str] = resp
        return True

    def _uncount(self, unfinished: list[tuple[Row, ModelResponse]]) -> None:
        """Rows answered but never finished (-x stopped the run first) are not in the counts."""
        for _row, resp in unfinished:
            if resp.source == "recording":
                self.stats.replays -= 1
            else:
                self.stats.cache_hits -= 1

    def _offline_error(self, row: Row) -> ModelResponse:
        why = (
            "its recording is stale (the prompt, vars or params changed since it was recorded)"
            if row.key_str in self._stale
            else "it has no recording"
        )
        msg = (
            f"--offline: case '{row.case.id}' of {row.case.file} on model '{row.model_name}' "
            f"(sample {row.sample}) would need a model call: {why}; refresh with "
            f"`{self.options.refresh_hint} {row.case.file} -k {row.case.id}`"
        )
        return ModelResponse(status="error", error=msg, source="live")

    # -- live calls -----------------------------------------------------------------------------
    async def _run_live(self, live: dict[str, list[Row]]) -> None:
        if self.calls.in_process:
            await self.calls.ensure_litellm()
        queue: asyncio.Queue[list[Row]] = asyncio.Queue()
        n = min(max(1, self.options.concurrency), len(live))
        for fp in list(live):  # the queue alone holds them now: each group is freed once finished
            group = live.pop(fp)
            queue.put_nowait(group)
            self.stats.deduplicated += len(group) - 1

        async def worker() -> None:
            while not self.stopped:
                try:
                    group = queue.get_nowait()
                except asyncio.QueueEmpty:
                    return
                first = group[0]
                over = budget_reached(self.options, self.stats)
                if over is not None:
                    resp = ModelResponse(status="skipped", source="live", error=over)
                    self.stats.not_run += len(group)
                else:
                    resp = await self._call(first.request())
                    self.stats.live_rows += len(group)
                    if resp.status == "ok" and self.cache is not None:
                        self.cache.put(first.fingerprint, resp, model=first.target.model)
                await self._finish_despite_cancel(group, resp)

        workers = [asyncio.ensure_future(worker()) for _ in range(n)]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise

    async def _finish_despite_cancel(self, group: list[Row], resp: ModelResponse) -> None:
        """Validate and hand over the rows of an answered call even if the run is cancelled
        meanwhile: the answer is paid for and already cached, so a row dropped here would be
        missing from the record yet never asked again (the bench's interruption check caught
        this: validation with several assertions awaits, and Ctrl-C landed there). Plain
        assertions finish at once; a judge call is waited for (a second Ctrl-C still aborts)."""

        async def finish_all() -> None:
            for row in group:
                await self._finish(row, resp)

        task = asyncio.ensure_future(finish_all())
        cancelled = False
        while not task.done():
            try:
                await asyncio.shield(task)
            except asyncio.CancelledError:
                cancelled = True
        task.result()
        if cancelled:
            raise asyncio.CancelledError

    async def _call(self, req: ModelRequest) -> ModelResponse:
        assert self._sem is not None
        async with self._sem:
            resp = await self.calls.complete(req)
        if resp.attempts:  # sent (a missing key or a refused parameter sends nothing)
            self.stats.live_calls += 1
        self.stats.retries += resp.retries
        if resp.cost is not None:
            self.stats.spent += resp.cost
        return resp

    async def embed(self, model_name: str, text: str, case_file: str) -> EmbeddingResponse:
        """An embedding on behalf of a validator (``similar``): recordings (not with --record),
        then the cache, then one call (same semaphore, retries and spend as completions); with
        --record it is written to ``case_file``'s embedding recording."""
        from promptctl.execute import embeddings

        target, _fallbacks = resolve_target(model_name, self.config)
        fp = embedding_fingerprint(target, text)
        store = self.embeddings
        if store is not None and self.options.use_recordings and not self.options.record:
            recorded = store.lookup(case_file, fp)
            hit = from_response(recorded, "recording") if recorded is not None else None
            if hit is not None:
                return hit
        if self.cache is not None and self.options.use_cache:
            cached = self.cache.get(fp)
            hit = from_response(cached, "cache") if cached is not None else None
            if hit is not None:
                if store is not None and self.options.record and cached is not None:
                    store.add(case_file, fp, model_name, text, cached)
                return hit
        if self.options.offline:
            return EmbeddingResponse(
                status="error",
                error=f"--offline: the embedding of {text[:40]!r} by '{model_name}' is not recorded; "
                f"refresh with `{self.options.refresh_hint} {case_file}`",
            )
        if self.config.untrusted:
            return EmbeddingResponse(status="error", error=self.config.untrusted)
        over = budget_reached(self.options, self.stats)
        if over is not None:
            return EmbeddingResponse(status="error", error=over)

        async def make() -> EmbeddingResponse:
            from promptctl.execute import llm

            await asyncio.get_running_loop().run_in_executor(None, llm.ensure_litellm)
            assert self._sem is not None
            async with self._sem:
                return await embeddings.embed(target, text, self.options.policy)

        resp, shared = await self._embed_inflight.once(fp, make)
        if shared:
            return resp
        if resp.attempts:
            self.stats.live_calls += 1
        self.stats.retries += resp.retries
        if resp.cost is not None:
            self.stats.spent += resp.cost
        if resp.status == "ok":
            stored = to_response(resp, model_name)
            if self.cache is not None:
                self.cache.put(fp, stored, model=target.model)
            if store is not None and self.options.record:
                store.add(case_file, fp, model_name, text, stored)
        return resp

    # -- validation -----------------------------------------------------------------------------
    async def _finish(self, row: Row, resp: ModelResponse) -> None:
        from promptctl.validate import case_score, evaluate

        claimed = self._claimed.pop(row.key_str, None)
        if claimed is not None and is_missing_key(resp):
            resp = claimed  # no key to verify the pull request's recording: replayed, unverified
            self.unverified.add(row.key_str)
            self.stats.replays += 1
            self.stats.live_rows -= 1
            self.stats.claims_unverified += 1
        elif claimed is not None and resp.status == "ok":
            self.stats.claims_verified += 1
        if resp.status == "error" and resp.attempts == 0 and resp.error and NO_API_KEY in resp.error:
            resp = self._explain_missing_key(row, resp)
        if resp.source != "live" and resp.cost is None:
            resp = price_stored(row, resp)
        resp = row.restored(resp)  # redact.inputs: validators see the row's own values
        asserts: list[AssertionResult] = []
        if resp.status == "ok":
            ctx = ValidationContext(
                output=resp.text or "",
                case=row.case,
                prompt=row.prompt,
                config=self.config,
                model=row.target.model,
                response=resp,
                judge=self.judges.for_row(row),
                embed=functools.partial(self._embed_for, row.case.file),
                extra={"messages": row.messages, "model_name": row.model_name, **self.validation_extra}
                | {"placeholders": row.placeholders},  # redact.inputs: a judge call continues them
                source=self.source,
            )
            asserts = await evaluate(row.case.asserts, ctx)
        status = row_status(resp, asserts)
        score = case_score(asserts) if status in ("pass", "fail") else None
        result = RowResult(row, resp, asserts, status, score, row.key_str in self.unverified)
        self.finished += 1
        if self.keep_results:
            self.results.append(result)
        if self.stop_when is not None and self.stopped is None:
            self.stopped = self.stop_when(result)
        if self.writer is not None and self.options.record:
            self.writer.add(row.case.file, row.case.id, row.model_name, row.sample, row.fingerprint, resp)
        if self.on_result is not None:
            self.on_result(result)

    def _embed_for(self, case_file: str, model_name: str, text: str) -> Awaitable[EmbeddingResponse]:
        return self.embed(model_name, text, case_file)

    def _explain_missing_key(self, row: Row, resp: ModelResponse) -> ModelResponse:
        """A row that cannot be called for lack of a key: say what the way out is (recordings, or
        refreshing a stale one) for this very row."""
        if row.key_str in self._stale:
            hint = (
                f"its recording is stale: the request changed since it was recorded; refresh with "
                f"`{self.options.refresh_hint} {row.case.file} -k {row.case.id}`"
            )
        else:
            hint = "to use committed recordings instead run `promptctl test --offline`"
        return replace(resp, error=f"{resp.error}; {hint}")


def run_rows(runner: Runner, rows: list[Row], *, consume: bool = False) -> list[RowResult]:
    """Run in a fresh event loop. On Ctrl-C the loop cancels the run and KeyboardInterrupt
    propagates; ``runner.results`` still holds every finished row (with ``keep_results``; either
    way each went to ``on_result``). ``consume``: see :meth:`Runner.run`."""
    started = time.monotonic()

    async def main() -> list[RowResult]:
        task = asyncio.current_task()
        if task is not None:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
        return await runner.run(rows, consume=consume)

    try:
        return asyncio.run(main())
    finally:
        runner.elapsed = time.monotonic() - started
        if runner.cache is not None:
            runner.cache.flush()
