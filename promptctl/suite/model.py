"""Typed objects the loader produces from prompt, case and config files.

Everything downstream (render, plan, execute, validate, record) works on these, never on raw
YAML, so a file-format change touches the loader only. Each object keeps the location it came
from so later stages can still report ``path:line:col``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from promptctl.errors import Problem
from promptctl.redact import Policy

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Loc:
    """A position in a file (1-based line and column); line 0 means the whole file.

    ``block`` marks the first content line of a YAML block scalar (``|``): every line of the
    text starts at ``col`` (the block's indentation), so line N of a template held there is at
    ``line + N - 1``, ``col``. Elsewhere only the first line's column is known."""

    path: str
    line: int = 0
    col: int = 0
    block: bool = False

    def text_line(self, n: int) -> Loc:
        """Where line ``n`` (1-based) of the text starting here is."""
        if n <= 1:
            return self
        return Loc(self.path, self.line + n - 1, self.col if self.block else 1, self.block)


def param_problems(params: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, message) for model parameters that are well typed but wrong for promptctl (the
    schemas type them): ``n`` > 1 would pay for answers that are never read."""
    n = params.get("n")
    if isinstance(n, int) and not isinstance(n, bool) and n > 1:
        return [("n", f"promptctl reads one answer per call; for {n} samples use `repeat: {n}` instead of n")]
    return []


@dataclass
class InputSpec:
    name: str
    type: str = "string"  # string | number | integer | boolean | array | object | messages | any
    required: bool = True
    default: Any = None
    has_default: bool = False
    description: str = ""
    loc: Loc = field(default_factory=lambda: Loc(""))


@dataclass
class MessageSpec:
    """One chat message template, or a placeholder expanded from a variable holding messages."""

    role: str | None  # None for a placeholder
    content: str | None
    placeholder: str | None = None
    loc: Loc = field(default_factory=lambda: Loc(""))


@dataclass
class Prompt:
    name: str  # path under prompts/ without extension, with "/" separators
    path: str  # repository-relative path of the YAML file
    description: str = ""
    model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, InputSpec] = field(default_factory=dict)
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    output_format: str = "text"  # text | json
    output_schema: dict[str, Any] | None = None
    template: str | None = None
    messages: list[MessageSpec] | None = None
    loc: Loc = field(default_factory=lambda: Loc(""))
    template_loc: Loc = field(default_factory=lambda: Loc(""))
    schema_loc: Loc = field(default_factory=lambda: Loc(""))
    model_loc: Loc = field(default_factory=lambda: Loc(""))

    @property
    def kind(self) -> str:
        return "text" if self.template is not None else "chat"


@dataclass
class Assertion:
    """One check on a model output. ``options`` holds the type-specific keys (min, max, mode, ...)."""

    type: str
    value: Any = None
    threshold: float | None = None
    weight: float = 1.0
    metric: str | None = None
    negate: bool = False
    transform: list[str] = field(default_factory=list)
    options: dict[str, Any] = field(default_factory=dict)
    loc: Loc = field(default_factory=lambda: Loc(""))
    # ``transform`` is the case file's ``defaults.transform`` (lint checks that once, where it is)
    transform_inherited: bool = False

    @property
    def label(self) -> str:
        """Short human label: ``not contains``, ``length``, or the metric name when given."""
        base = ("not " if self.negate else "") + self.type
        return f"{base}[{self.metric}]" if self.metric else base


@dataclass
class Case:
    id: str
    prompt: str
    file: str  # repository-relative case file path
    description: str = ""
    vars: dict[str, Any] = field(default_factory=dict)
    expected: Any = None
    asserts: list[Assertion] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    metadata: dict[str, Any] = field(default_factory=dict)
    models: list[str] | None = None
    repeat: int = 1
    min_pass_rate: float = 1.0
    loc: Loc = field(default_factory=lambda: Loc(""))

    @property
    def key(self) -> str:
        """Identity of a case across commits: prompt name + case id."""
        return f"{self.prompt}::{self.id}"


@dataclass
class CaseFile:
    path: str
    prompt: str
    cases: list[Case] = field(default_factory=list)
    models: list[str] | None = None
    repeat: int = 1
    min_pass_rate: float = 1.0
    loc: Loc = field(default_factory=lambda: Loc(""))
    # ``defaults.transform``: each name with where it is written
    default_transform: list[tuple[str, Loc]] = field(default_factory=list)
    model_locs: list[Loc] = field(default_factory=list)  # where each of ``models`` is written


@dataclass
class ModelAlias:
    """A named model target from promptctl.yaml ``models:``."""

    name: str
    model: str  # litellm model string
    api_base: str | None = None
    api_key_env: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    fallbacks: list[str] = field(default_factory=list)
    rpm: float | None = None
    # USD per 1M tokens as written: {input, output[, cached_input]}; wins over litellm's table.
    price: dict[str, float] | None = None


@dataclass
class GateConfig:
    alpha: float = 0.05
    correction: str = "holm"  # holm | bh | none
    pass_rate_tolerance: float = 0.0
    score_tolerance: float = 0.05
    max_cost_increase: float | None = None  # relative, e.g. 0.2 = +20 %
    max_p95_latency_increase: float | None = None  # relative
    suite_share: float = 0.5  # share of alpha given to the suite-wide test (the rest: per-case tests)
    removed: str = "fail"  # fail | warn: a case (or a model of one) the base ran and the head did not
    # accept rows answered by recordings a pull request changed without a call verifying them
    # (read from the base revision's config: a pull request cannot trust its own recordings)
    trust_pr_recordings: bool = False
    # Adaptive sampling (review.sequential): draw more samples of undecided cases, up to this many
    # a side (None: the fixed design, every case at its repeat), within max_extra times the fixed
    # design's samples.
    max_repeat: int | None = None
    max_extra: float = 0.5
    margin: float = 0.0  # non-inferiority: a drop of the pass rate smaller than this is acceptable
    pass_k: int = 3  # per-case pass^k in the report: the chance that k samples in a row pass
    min_pass_k: float | None = None  # fail when a case on trial has pass^k below this at head


@dataclass
class Config:
    root: str  # absolute path of the repository/project root
    path: str | None = None  # promptctl.yaml path, None when defaults
    model: str = "gpt-4o-mini"
    judge_model: str | None = None
    embedding_model: str | None = None  # the `similar` validator's default
    concurrency: int = 8
    prompts_dir: str = "prompts"
    cases_dir: str = "cases"
    examples_dir: str = "examples"  # few-shot example sets (suite.examples)
    timeout: float = 60.0
    max_retries: int = 4
    retry_max_wait: float = 30.0
    max_cost: float | None = None
    traces: str | None = None  # where the Python API appends call traces (inside the project); off if None
    workers: int | None = None  # warm model worker processes (0: none); None: automatic
    worker_idle_timeout: float | None = None  # seconds an idle warm worker waits; None: the default
    redact: Policy | None = None  # ``redact:``: personal data masked in what is written (promptctl.redact)
    models: dict[str, ModelAlias] = field(default_factory=dict)
    gate: GateConfig = field(default_factory=GateConfig)
    # Where the model names of promptctl.yaml are written, by dotted key: ``model``,
    # ``judge_model``, ``models.NAME.model``, ``models.NAME.fallbacks.I``.
    locs: dict[str, Loc] = field(default_factory=dict)
    # What is wrong in promptctl.yaml: reported with the suite's problems. A wrong setting
    # falls back to its default; an alias that cannot be used is left out but remembered here,
    # and when prompts_dir/cases_dir is unusable the suite's files are not looked for.
    problems: list[Problem] = field(default_factory=list)
    broken_aliases: set[str] = field(default_factory=set)
    suite_unreadable: bool = False
    # Set on a revision's configuration that sends keys elsewhere than the worktree's (see
    # suite.config.endpoint_changes): why live calls for it are refused. Never stored.
    untrusted: str | None = None

    def model_names(self) -> list[tuple[str, Loc, bool]]:
        """(name, where, may it be an alias) of every model name this file writes: an alias's
        own ``model`` is a litellm model, everything else may name an alias."""
        out: list[tuple[str, Loc, bool]] = []
        where = self.locs.get
        if "model" in self.locs:
            out.append((self.model, self.locs["model"], True))
        if self.judge_model is not None and "judge_model" in self.locs:
            out.append((self.judge_model, self.locs["judge_model"], True))
        for name, alias in self.models.items():
            out.append((alias.model, where(f"models.{name}.model") or Loc(self.path or ""), False))
            for i, fb in enumerate(alias.fallbacks):
                out.append((fb, where(f"models.{name}.fallbacks.{i}") or Loc(self.path or ""), True))
        return out

    def public_dict(self) -> dict[str, Any]:
        """The resolved configuration as stored in run records: never contains a secret
        (only the *names* of key variables, which are not secret)."""
        out: dict[str, Any] = {
            "model": self.model,
            "judge_model": self.judge_model,
            "embedding_model": self.embedding_model,
            "concurrency": self.concurrency,
            "prompts_dir": self.prompts_dir,
            "cases_dir": self.cases_dir,
            "examples_dir": self.examples_dir,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "max_cost": self.max_cost,
            "models": {
                k: {
                    "model": a.model,
                    "api_base": a.api_base,
                    "api_key_env": a.api_key_env,
                    "params": a.params,
                    "fallbacks": a.fallbacks,
                    "rpm": a.rpm,
                    "price": a.price,
                }
                for k, a in sorted(self.models.items())
            },
        }
        if self.redact is not None:  # the record says its rows are redacted (not the allowed values)
            out["redact"] = {
                "types": list(self.redact.types),
                "region": list(self.redact.regions),
                "inputs": self.redact.inputs,
            }
        return out
