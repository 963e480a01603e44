"""The plan: every selected case × model × sample, each row rendered and fingerprinted.

Rendering happens here, once per row, before anything is spent: a missing variable in case 900
is reported (with every other problem) before case 1 calls a model. The fingerprint of a row is
the content address of its request (see ``execute.types.fingerprint``): the cache key, the
recording check, and what ``--affected`` compares across commits.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from promptctl.errors import InputError, Problem, UsageError
from promptctl.execute.model_catalog import Prices
from promptctl.execute.types import ModelRequest, ModelResponse, Target, fingerprint
from promptctl.redact import Placeholders, redact_inputs
from promptctl.suggest import closest
from promptctl.suite.model import Case, Config, Prompt

if TYPE_CHECKING:  # not at run time: a plan reused from the plan cache never needs jinja2
    from promptctl.suite.load import Suite
    from promptctl.suite.render import Message, Renderer


@dataclass(slots=True)  # a plan of 100,000 rows: no per-row __dict__
class Row:
    index: int
    case: Case
    prompt: Prompt
    model_name: str  # what the user wrote: an alias or a litellm model string
    target: Target
    fallbacks: list[Target]
    sample: int
    messages: list[Message]
    params: dict[str, Any]
    fingerprint: str
    # ``redact.inputs``: the real values behind the placeholders of ``messages`` (which are what
    # the model is sent and what is fingerprinted). In memory only, never written.
    placeholders: Placeholders | None = field(default=None, repr=False, compare=False)

    def restored(self, resp: ModelResponse) -> ModelResponse:
        """The answer with this row's placeholders replaced by the values they stand for: the
        model saw placeholders, validators see the real values."""
        return restore_answer(resp, self.placeholders)

    @property
    def key(self) -> tuple[str, str, int]:
        return (self.case.key, self.model_name, self.sample)

    @property
    def key_str(self) -> str:
        return f"{self.case.key}::{self.model_name}::{self.sample}"

    def request(self) -> ModelRequest:
        return ModelRequest(
            target=self.target,
            messages=self.messages,
            params=self.params,
            fallbacks=self.fallbacks,
            sample=self.sample,
        )


def restore_answer(resp: ModelResponse, placeholders: Placeholders | None) -> ModelResponse:
    """``resp`` with the values behind ``placeholders`` put back into its text; a copy (one
    answer may serve several rows, with other values behind the same placeholders)."""
    if placeholders is None or not resp.text:
        return resp
    return replace(resp, text=placeholders.restore(resp.text))


def resolve_target(name: str, config: Config) -> tuple[Target, list[Target]]:
    """An alias from promptctl.yaml (with its fallbacks), or a raw litellm model string."""
    alias = config.models.get(name)
    if alias is None:
        return Target(name=name, model=name), []
    target = Target(
        name=name,
        model=alias.model,
        api_base=alias.api_base,
        api_key_env=alias.api_key_env,
        params=tuple(sorted(alias.params.items())),
        rpm=alias.rpm,
        price=Prices.per_million(**alias.price) if alias.price else None,
    )
    fallbacks = []
    for fb in alias.fallbacks:
        fb_target, _ = resolve_target(fb, config)  # a fallback's own fallbacks are not chained
        fallbacks.append(fb_target)
    return target, fallbacks


def model_problem(name: str, config: Config, *, alias_ok: bool = True) -> str | None:
    """Why ``name`` is not a model promptctl can call, or None. Known: an alias of promptctl.yaml
    (when ``alias_ok``; an alias's own ``model`` must be a litellm model), a model in litellm's
    table, or an explicit ``provider/name`` with a provider litellm routes (``openai/…`` for any
    OpenAI-compatible server). Read from litellm's files, never by importing it."""
    from promptctl.execute import model_catalog

    if alias_ok and (name in config.models or name in config.broken_aliases):
        return None  # a broken alias is reported where it is defined
    if model_catalog.model_info(name) is not None:
        return None
    provider, sep, rest = name.partition("/")
    providers = model_catalog.known_providers()
    if sep and rest and provider in providers:
        return None
    if sep and rest and provider not in providers:
        close = closest(provider, sorted(providers))
        hint = f"; did you mean '{close}'?" if close else ""
        return f"unknown provider '{provider}' in '{name}'{hint}"
    aliases = sorted(config.models) if alias_ok else []
    close = closest(name, aliases) or closest(name, sorted(model_catalog.known_model_names()))
    if close is not None:
        return f"unknown model '{name}'; did you mean '{close}'?"
    alias = "not an alias in promptctl.yaml, " if alias_ok else ""
    return (
        f"unknown model '{name}': {alias}not a model in litellm's table, "
        "and not 'provider/name' with a provider litellm supports"
    )


def model_check(config: Config) -> Callable[[str, bool], str | None]:
    """:func:`model_problem` for ``config``, as lint takes it (``suite.lint.ModelCheck``)."""
    return lambda name, alias_ok: model_problem(name, config, alias_ok=alias_ok)


def check_model_options(models: list[str], config: Config) -> None:
    """``--model`` names: a usage error (exit 2) for the first unknown one, before any call."""
    for name in models:
        message = model_problem(name, config)
        if message is not None:
            raise UsageError(f"--model {name}: {message}")


def models_for(case: Case, prompt: Prompt, config: Config, override: list[str] | None) -> list[str]:
    """--model beats the case file's ``models``, which beats the prompt's ``model``, then the config."""
    if override:
        return list(dict.fromkeys(override))
    if case.models:
        return list(dict.fromkeys(case.models))
    return [prompt.model or config.model]


@dataclass
class Selection:
    """Which cases run. Every filter narrows; an empty filter means "all"."""

    keywords: list[str] = field(default_factory=list)  # -k: substring or glob on "prompt::id", ORed
    tags: list[str] = field(default_factory=list)
    only_keys: set[str] | None = None  # --last-failed / --affected
    shard: tuple[int, int] | None = None  # (index 1-based, total)

    def matches(self, case: Case, prompt: Prompt) -> bool:
        if self.keywords and not any(_kw_match(k, case) for k in self.keywords):
            return False
        if self.tags and not set(self.tags) & (set(case.tags) | set(prompt.tags)):
            return False
        if self.only_keys is not None and case.key not in self.only_keys:
            return False
        if self.shard is not None:
            i, n = self.shard
            if shard_of(case.key, n) != i:
                return False
        return True


def _kw_match(pattern: str, case: Case) -> bool:
    negate = pattern.startswith("not ")
    pat = pattern[4:].strip() if negate else pattern
    hay = case.key
    hit = fnmatch.fnmatchcase(hay, pat) if any(ch in pat for ch in "*?[") else pat.lower() in hay.lower()
    return hit != negate


def shard_of(case_key: str, total: int) -> int:
    """Deterministic shard (1-based) of a case: stable across machines and Python runs."""
    digest = hashlib.sha256(case_key.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % total + 1


def parse_shard(value: str) -> tuple[int, int]:
    try:
        i_s, n_s = value.split("/")
        i, n = int(i_s), int(n_s)
    except ValueError:
        raise UsageError(f"--shard expects I/N (e.g. 2/4), got '{value}'") from None
    if not (1 <= i <= n):
        raise UsageError(f"--shard {value}: I must be between 1 and N")
    return i, n


def build_plan(
    suite: Suite,
    renderer: Renderer,
    *,
    selection: Selection | None = None,
    models: list[str] | None = None,
    repeat: int | None = None,
    samples: dict[str, tuple[int, int]] | None = None,
) -> list[Row]:
    """Render and fingerprint every row; raise InputError with every render problem at once.
    ``samples`` (case key -> (first, end)) plans only those sample indexes of a case: the gate
    drawing more samples (indexes at or beyond ``repeat`` are new samples, with their own
    fingerprints, so nothing already answered is asked again)."""
    from promptctl.suite.render import RenderError, merge_case_problems, render_prompt

    selection = selection or Selection()
    if models:
        check_model_options(models, suite.config)
    rows: list[Row] = []
    problems: list[Problem] = []
    targets: dict[str, tuple[Target, list[Target]]] = {}
    shared_params: dict[tuple[str, str], dict[str, Any]] = {}  # one dict per model x prompt
    for case in suite.cases:
        prompt = suite.prompts.get(case.prompt)
        if prompt is None or not selection.matches(case, prompt):
            continue
        try:
            messages = render_prompt(renderer, prompt, case.vars, where=case.loc)
        except RenderError as exc:
            problems.extend(exc.problems)
            continue
        messages, placeholders = redact_inputs(messages, suite.config.redact)  # (redact.inputs)
        n = repeat if repeat is not None else case.repeat
        first, end = samples[case.key] if samples and case.key in samples else (0, n)
        for model_name in models_for(case, prompt, suite.config, models):
            if model_name not in targets:
                targets[model_name] = resolve_target(model_name, suite.config)
            target, fallbacks = targets[model_name]
            params = shared_params.get((model_name, prompt.name))
            if params is None:
                params = shared_params[(model_name, prompt.name)] = {**target.params_dict, **prompt.params}
            for sample in range(first, end):
                fp = fingerprint(target.model, target.api_base, messages, params, sample)
                rows.append(
                    Row(
                        len(rows),
                        case,
                        prompt,
                        model_name,
                        target,
                        fallbacks,
                        sample,
                        messages,
                        params,
                        fp,
                        placeholders,
                    )
                )
    if problems:
        raise InputError(merge_case_problems(problems))
    return rows
