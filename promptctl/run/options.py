"""How a run behaves (``RunOptions``) and what it did (``RunStats``): the runner and the judge calls
share them."""

from __future__ import annotations

from dataclasses import dataclass, field

from promptctl.execute.types import RetryPolicy


@dataclass
class RunOptions:
    concurrency: int = 8
    use_cache: bool = True
    use_recordings: bool = True  # False with --live
    offline: bool = False  # no model call at all
    record: bool = False  # write recordings
    max_cost: float | None = None
    max_cost_source: str = "--max-cost"  # or "max_cost in promptctl.yaml": named in messages
    allow_unknown_cost: bool = False  # run under max_cost even with models that have no known price
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    refresh_hint: str = "promptctl test --record"
    # Warm model workers for live calls: None = as configured (PROMPTCTL_WORKERS, else `workers:`
    # in promptctl.yaml, else off under CI, else one per CPU up to 4), 0 = in this process.
    workers: int | None = None
    # Recording entries a pull request changed (case file, case id, model as recorded, sample):
    # claims, not evidence. Their rows are called live when a key is there, else replayed and
    # marked unverified (review.claims).
    claims: frozenset[tuple[str, str, str, int]] = frozenset()


@dataclass
class RunStats:
    """What a run did. Rows: ``replays + cache_hits + live_rows + not_run`` is every finished row.
    Judge verdicts: ``judge_replays + judge_cache_hits + judge_live + judge_shared +
    judge_not_run`` is every verdict asked for. ``live_calls`` counts the model calls made, rows'
    and judges' (identical requests of one run are sent once)."""

    live_calls: int = 0
    cache_hits: int = 0
    replays: int = 0
    deduplicated: int = 0
    spent: float = 0.0
    retries: int = 0
    live_rows: int = 0  # rows answered by a call made in this run (sent once per identical request)
    not_run: int = 0  # rows never sent: --offline without a recording, --max-cost reached
    judge_replays: int = 0
    judge_cache_hits: int = 0
    judge_live: int = 0  # judge calls made
    judge_shared: int = 0  # verdicts answered by an identical judge call already in flight
    judge_not_run: int = 0  # --offline without a recorded or cached verdict
    claims_verified: int = 0  # outputs and verdicts a pull request's recording claimed, then called
    claims_unverified: int = 0  # ... replayed for lack of a key (or of calls: --offline)

    def counts_line(self, rows: int) -> str:
        """``N rows: X replayed, Y cached, Z live`` (and the judges'), each part adding up."""
        line = f"{rows} rows: {self.replays} replayed, {self.cache_hits} cached, {self.live_rows} live"
        if self.not_run:
            line += f", {self.not_run} not run"
        verdicts = (
            self.judge_replays
            + self.judge_cache_hits
            + self.judge_live
            + self.judge_shared
            + self.judge_not_run
        )
        if verdicts:
            line += (
                f"; {verdicts} judge verdicts: {self.judge_replays} replayed, "
                f"{self.judge_cache_hits} cached, {self.judge_live + self.judge_shared} live"
            )
            if self.judge_not_run:
                line += f", {self.judge_not_run} not run"
        if self.claims_verified or self.claims_unverified:
            line += (
                f"; {self.claims_verified + self.claims_unverified} recorded answers this pull "
                f"request changed: {self.claims_verified} verified by a call, "
                f"{self.claims_unverified} replayed unverified"
            )
        extra = [f"{self.live_calls} model calls"]
        if self.deduplicated or self.judge_shared:
            extra.append(f"{self.deduplicated + self.judge_shared} duplicates sent once")
        return line + f" ({', '.join(extra)})"


def budget_reached(options: RunOptions, stats: RunStats) -> str | None:
    """The one rule of ``--max-cost`` for every kind of call (rows, judge verdicts, embeddings):
    None while the run's spend is under the cap, else why the next call is not made."""
    cap = options.max_cost
    if cap is None or stats.spent < cap:
        return None
    return f"not run: --max-cost {cap:g} USD reached (spent {stats.spent:.4f} USD)"
