"""What a call through the Python API returns (or raises): the answer, named by the exact prompt
version that produced it and the id of its trace."""

from __future__ import annotations

from dataclasses import dataclass, field

from promptctl.errors import ExecutionError
from promptctl.execute.types import ModelResponse
from promptctl.suite.render import Message


@dataclass(frozen=True)
class Completion:
    """One answer, with the exact prompt version that produced it and the id of its trace."""

    text: str
    trace_id: str
    prompt: str
    version: str
    commit: str | None
    label: str | None
    model: str  # what the prompt asked for: an alias or a litellm model string
    answered_by: str | None  # the alias or model that answered (a fallback, maybe)
    provider_model: str | None  # the model the provider reported
    input_tokens: int | None
    output_tokens: int | None
    cost: float | None  # USD; None when the price is unknown
    latency_ms: float  # what the call took, retries included
    cached: bool
    finish_reason: str | None
    messages: list[Message] = field(repr=False)

    def __str__(self) -> str:
        return self.text


class CompletionError(ExecutionError):
    """The model call failed after its retries and fallbacks (exit 3 in a CLI). ``trace_id``
    names its trace line; ``response`` holds what the model layer reported."""

    def __init__(self, message: str, *, trace_id: str, response: ModelResponse) -> None:
        super().__init__(message)
        self.trace_id = trace_id
        self.response = response
