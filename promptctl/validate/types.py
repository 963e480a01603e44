"""Data shared by every validator family."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from promptctl.execute.embeddings import EmbeddingResponse
from promptctl.execute.types import ModelResponse
from promptctl.suite.model import Case, Config, Prompt

if TYPE_CHECKING:
    from promptctl.git.sources import Source


class JudgeCall(Protocol):
    """A hook the judge validator uses to call a model through the model layer (recordings, cache,
    retries...). Arguments: judge model name (alias or litellm string), rendered messages, params;
    ``slot`` is the judging assertion's position among the case's assertions (what its verdict
    is recorded under)."""

    def __call__(
        self, model: str, messages: list[dict[str, str]], params: dict[str, Any], *, slot: int = 0
    ) -> Awaitable[ModelResponse]: ...


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
    # Where the suite being graded was read from (the worktree, or a revision): validators read
    # their files (schemas, python modules, the judge prompt) from it. None: the worktree.
    source: Source | None = None


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
