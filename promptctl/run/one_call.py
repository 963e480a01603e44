"""``promptctl run``: one prompt, one call, streamed. Goes through the same model layer as tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from promptctl.errors import UsageError
from promptctl.execute.types import ModelRequest, ModelResponse, RetryPolicy
from promptctl.execute.workers.service import WorkerSettings, WorkersUnavailable, resolve_settings
from promptctl.run.plan import resolve_target
from promptctl.suggest import suggest
from promptctl.suite.project import Project
from promptctl.suite.render import make_renderer, render_prompt


def run_once(
    project: Project,
    prompt_name: str,
    variables: dict[str, Any],
    *,
    model: str | None = None,
    on_token: Callable[[str], None] | None = None,
    on_warning: Callable[[str], None] | None = None,
) -> ModelResponse:
    """One call of ``prompt_name``, in a warm model worker when they are on (the first run starts
    one), else here; ``on_warning`` hears, once, why a worker was not used after all."""
    suite = project.load()
    suite.raise_for_errors()
    prompt = suite.prompts.get(prompt_name)
    if prompt is None:
        raise UsageError(f"unknown prompt '{prompt_name}'{suggest(prompt_name, sorted(suite.prompts))}")
    messages = render_prompt(make_renderer(suite), prompt, variables)
    cfg = project.config
    target, fallbacks = resolve_target(model or prompt.model or cfg.model, cfg)
    req = ModelRequest(
        target=target, messages=messages, params={**target.params_dict, **prompt.params}, fallbacks=fallbacks
    )
    policy = RetryPolicy.from_config(cfg)
    settings = resolve_settings(cfg.workers, cfg.worker_idle_timeout)
    return asyncio.run(_call(req, policy, settings, on_token, on_warning or (lambda _m: None)))


async def _call(
    req: ModelRequest,
    policy: RetryPolicy,
    settings: WorkerSettings,
    on_token: Callable[[str], None] | None,
    warn: Callable[[str], None],
) -> ModelResponse:
    from promptctl.execute import llm

    if not settings.enabled:
        return await llm.complete(req, policy, on_token=on_token)
    from promptctl.execute.workers.client import WorkerClient

    client = await WorkerClient.open(settings, demand=1, warn=warn)
    if client is not None:
        try:
            return await client.complete(req, policy, on_token=on_token)
        except WorkersUnavailable:
            pass  # the client said why; made here instead
        finally:
            client.close()
    await asyncio.get_running_loop().run_in_executor(None, llm.ensure_litellm)
    return await llm.complete(req, policy, on_token=on_token)
