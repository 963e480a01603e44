"""Typed objects the loader produces from prompt, case and config files.

Everything downstream (render, plan, execute, validate, record) works on these, never on raw
YAML, so a file-format change touches the loader only. Each object keeps the location it came
from so later stages can still report ``path:line:col``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class Loc:
    """A position in a file (1-based line and column); line 0 means the whole file."""

    path: str
    line: int = 0
    col: int = 0


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


@dataclass
class GateConfig:
    alpha: float = 0.05
    correction: str = "holm"  # holm | bh | none
    pass_rate_tolerance: float = 0.0
    score_tolerance: float = 0.05
    max_cost_increase: float | None = None  # relative, e.g. 0.2 = +20 %
    max_p95_latency_increase: float | None = None  # relative
    suite_share: float = 0.5  # share of alpha given to the suite-wide test (the rest: per-case tests)


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
    models: dict[str, ModelAlias] = field(default_factory=dict)
    gate: GateConfig = field(default_factory=GateConfig)

    def public_dict(self) -> dict[str, Any]:
        """The resolved configuration as stored in run records: never contains a secret
        (only the *names* of key variables, which are not secret)."""
        return {
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
                }
                for k, a in sorted(self.models.items())
            },
        }
