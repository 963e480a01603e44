"""``promptctl run``: one prompt, one call, streamed. Goes through the same model layer as tests."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from promptctl.errors import InputError, UsageError
from promptctl.execute.types import ModelRequest, ModelResponse, RetryPolicy
from promptctl.redact import redact_inputs
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
) -> ModelResponse:
    from promptctl.execute import llm

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
    policy = RetryPolicy.from_config(cfg)
    resp = asyncio.run(llm.complete(req, policy, on_token=on_token))
    if placeholders is not None and resp.text:
        resp.text = placeholders.restore(resp.text)
    return resp
