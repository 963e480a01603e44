"""LLM-as-judge: ``judge`` grades the output against a rubric with another model call.

The judge prompt is an ordinary prompt file shipped with the package
(``promptctl/builtin_prompts/judge.yaml``); a repository overrides it with
``<prompts_dir>/_judge.yaml``. Its templates see ``rubric``, ``output``, ``input`` (the rendered
prompt messages when the runner provides them in ``ctx.extra["messages"]``, else the case
variables as JSON) and ``expected`` (text, "" when the case has none). It is loaded and rendered
like every prompt (``suite.load`` and ``suite.render``: Jinja sandbox, StrictUndefined, values
inserted as data, never rendered as templates, so an output containing ``{{ ... }}`` cannot
inject template code).

The judge must answer ``{"score": <0..1>, "reason": "..."}`` (a ```json fence around it is
tolerated). Anything else - prose, a missing or out-of-range score - is an *error* result,
never a pass: a judge we cannot read has not approved anything. Calls go through
``ctx.judge`` (the model layer: recordings, cache, retries) at temperature 0; the verdict is
recorded under the assertion's position in the case (``slot``), next to the row's output.
"""

from __future__ import annotations

import json
import math
import os
import weakref
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

from promptctl.errors import InputError
from promptctl.git.sources import Source, WorktreeSource
from promptctl.jsonutil import canonical_json
from promptctl.redact import redact_inputs
from promptctl.suite.load import parse_prompt_text
from promptctl.suite.model import Assertion, Config, Prompt
from promptctl.suite.render import Renderer, RenderError, render_prompt, renderer_for
from promptctl.validate.registry import CheckError, Opt, Outcome, graded, one_line, validator
from promptctl.validate.structured import JSON_FENCE, unfence
from promptctl.validate.types import ValidationContext

DEFAULT_THRESHOLD = 0.5
JUDGE_PARAMS: dict[str, Any] = {"temperature": 0}
OVERRIDE_NAME = "_judge.yaml"


@lru_cache(maxsize=8)
def _load(root: str | None, prompts_dir: str, mtime: int) -> tuple[Prompt, Renderer]:
    """The judge prompt and a renderer for it, through the normal prompt loader and renderer;
    cached per (override location, mtime). ``root`` None is the built-in prompt."""
    if root is None:
        where = "promptctl/builtin_prompts/judge.yaml"
        text = (
            resources.files("promptctl").joinpath("builtin_prompts").joinpath("judge.yaml").read_text("utf-8")
        )
        renderer = Renderer(_no_includes, prompts_dir)
    else:
        source = WorktreeSource(Path(root))
        where = f"{prompts_dir}/{OVERRIDE_NAME}"
        try:
            text = source.read_text(where)
        except (OSError, UnicodeDecodeError) as e:
            raise CheckError(f"cannot read judge prompt {where}: {e}") from e
        renderer = renderer_for(source, prompts_dir)
    return _parse_judge(text, where), renderer


def _no_includes(relpath: str) -> str:
    raise FileNotFoundError(relpath)


# The judge prompt of a revision being graded, per source (its files never change meanwhile).
_AT_REVISION: weakref.WeakKeyDictionary[Source, tuple[Prompt, Renderer]] = weakref.WeakKeyDictionary()


def _at_revision(source: Source, prompts_dir: str) -> tuple[Prompt, Renderer]:
    """``<prompts_dir>/_judge.yaml`` as the revision has it (else the built-in prompt), rendered
    with that revision's partials."""
    hit = _AT_REVISION.get(source)
    if hit is not None:
        return hit
    where = f"{prompts_dir}/{OVERRIDE_NAME}"
    if not source.exists(where):
        out = _load(None, prompts_dir, 0)
    else:
        try:
            text = source.read_text(where)
        except (OSError, UnicodeDecodeError) as e:
            raise CheckError(f"cannot read judge prompt {where} at {source.label}: {e}") from e
        out = (_parse_judge(text, where), renderer_for(source, prompts_dir))
    _AT_REVISION[source] = out
    return out


def _parse_judge(text: str, where: str) -> Prompt:
    try:
        return parse_prompt_text(text, where, "_judge")
    except InputError as e:
        first = next((p for p in e.problems if p.is_error), None)
        raise CheckError(f"invalid judge prompt: {first.format() if first else e.message}") from e


def judge_prompt(ctx: ValidationContext) -> tuple[Prompt, Renderer]:
    """The repository's ``<prompts_dir>/_judge.yaml`` when there is one, else the built-in; at a
    revision (``--ref``, a side of ``compare``), that revision's."""
    prompts_dir = ctx.config.prompts_dir.rstrip("/")
    if ctx.source is not None and not isinstance(ctx.source, WorktreeSource):
        return _at_revision(ctx.source, prompts_dir)
    override = os.path.join(ctx.config.root, prompts_dir, OVERRIDE_NAME)
    try:
        mtime = os.stat(override).st_mtime_ns
    except FileNotFoundError:
        return _load(None, prompts_dir, 0)
    except OSError as e:
        raise CheckError(f"cannot read judge prompt {override}: {e.strerror}") from e
    return _load(ctx.config.root, prompts_dir, mtime)


def render_messages(judge: tuple[Prompt, Renderer], variables: dict[str, str]) -> list[dict[str, str]]:
    prompt, renderer = judge
    try:
        return render_prompt(renderer, prompt, variables)
    except RenderError as e:
        first = next((p for p in e.problems if p.is_error), None)
        why = first.message if first is not None else e.message
        raise CheckError(f"cannot render the judge prompt: {one_line(why)}") from e


def _as_text(value: Any) -> str:
    if value is None:
        return ""
    return value if isinstance(value, str) else canonical_json(value)


def input_text(ctx: ValidationContext) -> str:
    msgs = ctx.extra.get("messages")
    if isinstance(msgs, list) and msgs:
        return "\n\n".join(
            f"[{m.get('role', '?')}]\n{m.get('content', '')}" if isinstance(m, dict) else str(m) for m in msgs
        )
    return json.dumps(ctx.case.vars, indent=2, sort_keys=True, ensure_ascii=False, default=str)


def parse_verdict(text: str | None) -> tuple[float, str]:
    """Strictly parse the judge's answer into (score, reason); CheckError on anything else."""
    if text is None or not text.strip():
        raise CheckError("judge returned an empty answer")
    body = unfence(text, JSON_FENCE)
    raw = body if body is not None else text
    try:
        data = json.loads(raw)
    except ValueError as e:
        raise CheckError(f"judge answer is not JSON: {one_line(text, 80)!r}") from e
    if not isinstance(data, dict):
        raise CheckError(f"judge answer is not a JSON object: {one_line(text, 80)!r}")
    score = data.get("score")
    if isinstance(score, bool) or not isinstance(score, (int, float)):
        raise CheckError(f"judge answer has no numeric `score`: {one_line(text, 80)!r}")
    if not math.isfinite(score) or not 0.0 <= score <= 1.0:
        raise CheckError(f"judge score {score!r} is outside [0, 1]")
    reason = data.get("reason", "")
    if not isinstance(reason, str):
        raise CheckError("judge answer `reason` is not a string")
    return float(score), one_line(reason, 160)


def judge_model(a: Assertion, config: Config) -> str:
    """The model a ``judge`` assertion calls: its ``model``, else the config's ``judge_model``,
    else the config's ``model``."""
    return str(a.options.get("model") or config.judge_model or config.model)


@validator(
    "judge",
    options={
        "rubric": Opt("string", required=True, description="what a good output does (the judge's criteria)"),
        "model": Opt("string", description="judge model (default: config judge_model, else model)"),
    },
    is_async=True,
    threshold=DEFAULT_THRESHOLD,
)
async def judge(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """An LLM grades the output against ``rubric``; pass when its score >= threshold (default 0.5)."""
    rubric = a.options.get("rubric")
    if not isinstance(rubric, str) or not rubric.strip():
        raise CheckError("judge requires option 'rubric' (a non-empty string)")
    if ctx.judge is None:
        raise CheckError("no judge model available in this run (model calls disabled)")
    model = judge_model(a, ctx.config)
    variables = {
        "rubric": rubric,
        "output": output,
        "input": input_text(ctx),
        "expected": _as_text(ctx.case.expected),
    }
    # redact.inputs: the judge is sent placeholders too; its reason gets the values back
    messages, placeholders = redact_inputs(
        render_messages(judge_prompt(ctx), variables), ctx.config.redact, ctx.extra.get("placeholders")
    )
    slot = next((i for i, x in enumerate(ctx.case.asserts) if x is a), 0)
    resp = await ctx.judge(model, messages, dict(JUDGE_PARAMS), slot=slot)
    if resp.status != "ok":
        raise CheckError(f"judge call to {model} failed: {one_line(resp.error or resp.status, 240)}")
    score, reason = parse_verdict(resp.text)
    reason = placeholders.restore(reason) if placeholders is not None and reason else reason
    th = float(a.threshold) if a.threshold is not None else DEFAULT_THRESHOLD
    cmp = ">=" if score >= th else "<"
    return graded(score, th, f"judge score {score:.2f} {cmp} threshold {th:.2f}: {reason or '(no reason)'}")
