"""Data shared by every validator family."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from promptctl.execute.embeddings import EmbeddingResponse
from promptctl.execute.types import ModelResponse
from promptctl.suite.model import Case, Config, Prompt

# A hook the judge validator uses to call a model through the model layer (cache, retries...).
# Arguments: judge model name (alias or litellm string), rendered messages, params.
JudgeCall = Callable[[str, list[dict[str, str]], dict[str, Any]], Awaitable[ModelResponse]]
# A hook the similar validator uses to embed a text through the model layer (recordings, cache,
# retries). Arguments: embedding model name (alias or litellm string), the text.
EmbedCall = Callable[[str, str], Awaitable[EmbeddingResponse]]


@dataclass
class ValidationContext:
    output: str
    case: Case
    prompt: Prompt
    config: Config
    model: str  # litellm model string of the row (token counting)
    response: ModelResponse | None = None  # latency, tokens, cost of the row
    judge: JudgeCall | None = None
    embed: EmbedCall | None = None
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class AssertionResult:
    """Outcome of one assertion. ``error`` means the check could not be evaluated (e.g. a judge
    answer that does not parse, an unknown cost): it is never counted as a pass. ``pending``
    means it waits for a human verdict (``human``): not a pass either, and not a failure yet."""

    type: str
    label: str
    passed: bool
    score: float
    reason: str = ""
    metric: str | None = None
    weight: float = 1.0
    error: bool = False
    pending: bool = False

    def to_dict(self) -> dict[str, Any]:
        # Shallow on purpose: every field is a plain value, and dataclasses.asdict's deep copy
        # was a measurable share of a 1,000-row cached rerun.
        return {
            "type": self.type, "label": self.label, "passed": self.passed, "score": self.score,
            "reason": self.reason, "metric": self.metric, "weight": self.weight, "error": self.error,
            **({"pending": True} if self.pending else {}),
        }  # fmt: skip
