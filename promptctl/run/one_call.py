"""``promptctl run``: one prompt, one call, streamed. Goes through the same model layer as tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from promptctl.errors import InputError, UsageError
from promptctl.execute.types import ModelRequest, ModelResponse, RetryPolicy
from promptctl.execute.workers.service import resolve_settings
from promptctl.redact import redact_inputs
from promptctl.run.calls import LiveCalls
from promptctl.run.plan import check_model_options, model_check, resolve_target
from promptctl.suggest import suggest
from promptctl.suite.lint import model_problems
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
    cfg = project.config
    if model is not None:
        check_model_options([model], cfg)
    problems = model_problems(suite, model_check(cfg))
    if problems:
        raise InputError(problems)
    messages = render_prompt(make_renderer(suite), prompt, variables)
    # redact.inputs: the model sees placeholders; the answer gets the values back (and is masked
    # again wherever it is printed)
    messages, placeholders = redact_inputs(messages, cfg.redact)
    target, fallbacks = resolve_target(model or prompt.model or cfg.model, cfg)
    req = ModelRequest(
        target=target, messages=messages, params={**target.params_dict, **prompt.params}, fallbacks=fallbacks
    )
    calls = LiveCalls(resolve_settings(cfg.workers, cfg.worker_idle_timeout), RetryPolicy.from_config(cfg))

    async def call() -> ModelResponse:
        calls.start(1)
        try:
            return await calls.complete(req, on_token)
        finally:
            calls.close()

    try:
        resp = asyncio.run(call())
    finally:
        for warning in calls.warnings:
            if on_warning is not None:
                on_warning(warning)
    if placeholders is not None and resp.text:
        resp.text = placeholders.restore(resp.text)
    return resp
