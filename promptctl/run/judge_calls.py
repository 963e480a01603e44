"""Judge calls on behalf of validators (LLM-as-judge): answered, like the rows, by a recording,
then the cache, then a live call (same retries, concurrency limit and spend); each verdict is
recorded next to its row's output, under the judging assertion's position in the case, and
counted in the run's stats."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from promptctl.execute.cache import ResponseCache
from promptctl.execute.recordings.store import Recordings, RecordingWriter
from promptctl.execute.types import NO_API_KEY, ModelRequest, ModelResponse, fingerprint
from promptctl.run.inflight import InFlight
from promptctl.run.options import RunOptions, RunStats, budget_reached
from promptctl.run.plan import Row, resolve_target
from promptctl.suite.model import Config
from promptctl.validate.types import JudgeCall


def judge_recording_model(model_name: str, slot: int) -> str:
    """What a judge verdict is recorded under: the row's model and the judging assertion's place
    (case id and sample are the row's), e.g. ``gpt-4o-mini [judge 0]``."""
    return f"{model_name} [judge {slot}]"


def is_missing_key(resp: ModelResponse) -> bool:
    """A call never sent for lack of a key (``execute.llm``'s two messages for it)."""
    err = resp.error or ""
    return (
        resp.status == "error"
        and resp.attempts == 0
        and (NO_API_KEY in err or ("environment variable" in err and "is not set" in err))
    )


class JudgeCalls:
    """The judge calls of one run."""

    def __init__(
        self,
        config: Config,
        options: RunOptions,
        stats: RunStats,
        cache: ResponseCache | None,
        recordings: Recordings | None,
        writer: RecordingWriter | None,
        call: Callable[[ModelRequest], Awaitable[ModelResponse]],
    ) -> None:
        self.config, self.options, self.stats = config, options, stats
        self.cache, self.recordings, self.writer = cache, recordings, writer
        self._call = call
        self._inflight: InFlight[ModelResponse] = InFlight()
        self.unverified: set[str] = set()  # rows a verdict the pull request recorded answered

    def for_row(self, row: Row) -> JudgeCall:
        """``ctx.judge`` for one row: its verdicts are recorded next to that row's output."""
        return _RowJudge(self, row)

    async def call(
        self,
        model_name: str,
        messages: list[dict[str, str]],
        params: dict[str, Any],
        *,
        row: Row | None = None,
        slot: int = 0,
    ) -> ModelResponse:
        """A model call on behalf of a validator (LLM-as-judge): recordings (the verdict is
        recorded next to ``row``'s output, under ``slot``), then the cache, then a live call with
        the same retries and concurrency limit as the rows'."""
        target, fallbacks = resolve_target(model_name, self.config)
        merged = {**target.params_dict, **params}
        fp = fingerprint(target.model, target.api_base, messages, merged, 0)
        key = judge_recording_model(row.model_name, slot) if row is not None else None
        stale = False
        claimed: ModelResponse | None = None
        replay = self.recordings is not None and self.options.use_recordings and not self.options.record
        if replay and row is not None and key is not None and self.recordings is not None:
            state, hit = self.recordings.lookup(row.case.file, row.case.id, key, row.sample, fp)
            if hit is not None and (row.case.file, row.case.id, key, row.sample) in self.options.claims:
                # a verdict the pull request recorded: a claim, verified by a call when one is allowed
                if self.options.offline or self.config.untrusted:
                    self.unverified.add(row.key_str)
                    self.stats.judge_replays += 1
                    self.stats.claims_unverified += 1
                    return hit
                claimed = hit
            elif hit is not None:
                self.stats.judge_replays += 1
                return hit
            stale = state == "stale"
        if self.cache is not None and self.options.use_cache:
            hit = self.cache.get(fp)
            if hit is not None:
                self.stats.judge_cache_hits += 1
                self.stats.claims_verified += claimed is not None
                self._record_verdict(row, key, fp, hit)
                return hit
        if self.options.offline:
            self.stats.judge_not_run += 1
            return ModelResponse(status="error", error=self._offline_judge_error(model_name, row, stale))
        if self.config.untrusted:
            return ModelResponse(status="error", error=self.config.untrusted)
        over = budget_reached(self.options, self.stats)
        if over is not None:
            self.stats.judge_not_run += 1
            return ModelResponse(status="error", error=over)
        request = ModelRequest(target=target, messages=messages, params=merged, fallbacks=fallbacks)
        resp, shared = await self._inflight.once(fp, lambda: self._call(request))
        if shared:
            self.stats.judge_shared += 1
            self._record_verdict(row, key, fp, resp)
            return resp
        self.stats.judge_live += 1
        if claimed is not None and row is not None and is_missing_key(resp):
            self.unverified.add(row.key_str)  # no key to verify it: replayed, unverified
            self.stats.judge_live -= 1
            self.stats.judge_replays += 1
            self.stats.claims_unverified += 1
            return claimed
        self.stats.claims_verified += claimed is not None and resp.status == "ok"
        if resp.status == "ok" and self.cache is not None:
            self.cache.put(fp, resp, model=target.model)
        self._record_verdict(row, key, fp, resp)
        return resp

    def _record_verdict(self, row: Row | None, key: str | None, fp: str, resp: ModelResponse) -> None:
        if self.writer is not None and self.options.record and row is not None and key is not None:
            self.writer.add(row.case.file, row.case.id, key, row.sample, fp, resp)

    def _offline_judge_error(self, model_name: str, row: Row | None, stale: bool) -> str:
        if row is None:
            return f"--offline: judge call to '{model_name}' is not recorded or cached"
        why = "is stale (rubric, output or judge model changed)" if stale else "is not recorded"
        return (
            f"--offline: the verdict for case '{row.case.id}' (sample {row.sample}) {why}; refresh: "
            f"`{self.options.refresh_hint} {row.case.file} -k {row.case.id}`"
        )


class _RowJudge:
    """``ctx.judge`` for one row."""

    def __init__(self, calls: JudgeCalls, row: Row) -> None:
        self.calls, self.row = calls, row

    def __call__(
        self, model: str, messages: list[dict[str, str]], params: dict[str, Any], *, slot: int = 0
    ) -> Awaitable[ModelResponse]:
        return self.calls.call(model, messages, params, row=self.row, slot=slot)
