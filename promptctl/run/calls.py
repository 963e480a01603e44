"""Where a run's model calls are made: in warm model workers (``execute/workers/``) when they are
on, else in this process, and in this process after all whenever a worker cannot make a call.

One object per run: :meth:`LiveCalls.start` as soon as the run knows it has live calls (the
workers' connection, or litellm's import, overlaps the rest of its work), :meth:`complete` per
call, :meth:`close` at the end (also on interruption: the workers cancel what is still in flight
and stay warm for the next run).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TYPE_CHECKING

from promptctl import secrets
from promptctl.execute.guard import MaskedTokens, masked_response
from promptctl.execute.types import ModelRequest, ModelResponse, RetryPolicy
from promptctl.run.options import RunOptions
from promptctl.suite.model import Config

if TYPE_CHECKING:
    from promptctl.execute.workers.client import WorkerClient
    from promptctl.execute.workers.service import WorkerSettings


class LiveCalls:
    def __init__(self, settings: WorkerSettings, policy: RetryPolicy) -> None:
        self.settings = settings
        self.policy = policy
        self.started = False
        self.warnings: list[str] = []  # once each: why calls ran in this process after all
        self.worker_pids: list[int] = []  # the warm workers used
        self._client: asyncio.Future[WorkerClient | None] | None = None
        self._litellm_ready = False

    @classmethod
    def for_run(cls, config: Config, options: RunOptions) -> LiveCalls:
        """As configured: ``workers:`` / ``worker_idle_timeout:``, the environment, ``options.workers``."""
        from promptctl.execute.workers.service import resolve_settings

        settings = resolve_settings(config.workers, config.worker_idle_timeout, options.workers)
        return cls(settings, options.policy)

    def start(self, unique: int) -> None:
        """Connect to the warm workers (starting the missing ones, as many as ``unique`` calls
        warrant) in the background; with workers off, start litellm's import in the background."""
        self.started = True
        if not self.settings.enabled:
            from promptctl.execute import llm

            llm.start_prewarm()
            return
        from promptctl.execute.workers.client import WorkerClient, workers_for

        self._client = asyncio.ensure_future(
            WorkerClient.open(self.settings, demand=workers_for(unique, self.settings), warn=self._warn)
        )

    @property
    def in_process(self) -> bool:
        """Whether calls are made here from the start (workers off)."""
        return self._client is None

    def _warn(self, message: str) -> None:
        if message not in self.warnings:
            self.warnings.append(message)

    async def ensure_litellm(self) -> None:
        """Import litellm and its first-call modules here (off the event loop: a SIGTERM can still
        cancel the run meanwhile), so the first call's latency is the call's."""
        if not self._litellm_ready:
            from promptctl.execute import llm

            await asyncio.get_running_loop().run_in_executor(None, llm.wait_prewarm)
            self._litellm_ready = True

    async def complete(
        self, req: ModelRequest, on_token: Callable[[str], None] | None = None
    ) -> ModelResponse:
        from promptctl.execute import llm  # imported here: cached and replayed runs never load litellm
        from promptctl.execute.workers.service import WorkersUnavailable

        if not self.started:  # a judge's call before any row's: the workers start now
            self.start(1)
        if self._client is not None:
            client = await asyncio.shield(self._client)
            if client is not None:
                if not self.worker_pids:
                    self.worker_pids = client.pids
                # The worker masks the request's keys; this process's own rules apply here too, as
                # to a call made in-process: its keys on the answer validators check, everything
                # (registered maskers, such as redact:) on the tokens shown.
                masking, shown = secrets.key_masking(), secrets.current()
                sink = MaskedTokens(on_token, shown) if on_token is not None and shown.active else None
                try:
                    resp = await client.complete(req, self.policy, on_token=sink or on_token)
                except WorkersUnavailable:
                    pass  # said once through the client's warning: made here instead
                else:
                    if sink is not None:
                        sink.flush()
                    return masked_response(resp, masking)
        await self.ensure_litellm()
        return await llm.complete(req, self.policy, on_token=on_token)

    def close(self) -> None:
        task, self._client = self._client, None
        if task is None:
            return
        if not task.done():
            task.cancel()
        elif not task.cancelled() and task.exception() is None:
            client = task.result()
            if client is not None:
                client.close()
