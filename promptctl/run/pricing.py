"""What the calls of a run cost: stored answers priced by the one pricing rule, and the models a
run may call without a known price (``--max-cost`` refuses them unless told otherwise)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from promptctl.execute import model_catalog
from promptctl.execute.types import ModelResponse, Target
from promptctl.run.plan import Row, resolve_target
from promptctl.suite.model import Config


def _answering_target(row: Row, resp: ModelResponse) -> Target:
    """The target that produced ``resp``: the row's own, or the fallback named in ``answered_by``."""
    return next((t for t in row.fallbacks if t.name == resp.answered_by), row.target)


def price_stored(row: Row, resp: ModelResponse) -> ModelResponse:
    """A replayed or cached answer without a cost (a hand-written recording, a model priced only
    since), priced from its tokens by the one pricing rule, as a live call would have been."""
    if resp.status != "ok" or resp.input_tokens is None or resp.output_tokens is None:
        return resp
    target = _answering_target(row, resp)
    usd = model_catalog.cost(target.model, resp.input_tokens, resp.output_tokens, price=target.price)
    return resp if usd is None else replace(resp, cost=usd)


def unpriced_models(rows: list[Row], pending: list[Row], config: Config) -> list[str]:
    """Models this run may call without a known price: the targets (and fallbacks) of the rows
    still to call, and the judge models of every row's ``judge`` assertions."""
    from promptctl.validate.judge import judge_model

    targets: list[Target] = []
    for row in pending:
        targets += [row.target, *row.fallbacks]
    judges = {judge_model(a, config) for row in rows for a in row.case.asserts if a.type == "judge"}
    for name in sorted(judges):
        target, fallbacks = resolve_target(name, config)
        targets += [target, *fallbacks]
    out: dict[str, str] = {}
    for t in targets:
        if not model_catalog.is_priced(t.model, t.price):
            out.setdefault(t.model, t.model if t.name == t.model else f"{t.model} (model '{t.name}')")
    return list(out.values())


# What a judge call adds to the text it is asked about: its instructions and the answer format.
JUDGE_OVERHEAD_TOKENS = 200
JUDGE_ANSWER_TOKENS = 256


@dataclass
class Estimate:
    """``--dry-run``'s upper bound: the calls a run would make and what they would cost (None:
    some model has no price, named in ``unknown``)."""

    judge_calls: int = 0
    embedding_calls: int = 0
    cost: float | None = 0.0
    unknown: set[str] = field(default_factory=set)

    def add(self, model: str, usd: float | None) -> None:
        if usd is None:
            self.unknown.add(model)
        elif self.cost is not None:
            self.cost += usd

    def close(self) -> None:
        if self.unknown:
            self.cost = None


def estimate(unique: list[Row], config: Config, count_tokens: Callable[[str, str], int]) -> Estimate:
    """The cost of calling each of ``unique`` (rows no recording or cache answers) and of the judge
    and embedding calls their outputs will need: outputs counted as ``max_tokens`` (256 when unset),
    a judge's answer as 256 tokens."""
    from promptctl.validate.judge import judge_model

    est = Estimate()
    for row in unique:
        text = "\n".join(m["content"] for m in row.messages)
        tin = count_tokens(row.target.model, text)
        tout = int(row.params.get("max_tokens") or 256)
        est.add(row.target.model, model_catalog.cost(row.target.model, tin, tout, price=row.target.price))
        for a in row.case.asserts:
            if a.type == "similar":  # the output's embedding and the reference's (each at most once)
                est.embedding_calls += 2
                name = a.options.get("embedding_model") or config.embedding_model
                if name:
                    emb, _fallbacks = resolve_target(str(name), config)
                    est.add(emb.model, model_catalog.cost(emb.model, 2 * tout, 0, price=emb.price))
            if a.type != "judge":
                continue
            est.judge_calls += 1
            target, _fallbacks = resolve_target(judge_model(a, config), config)
            rubric = str(a.options.get("rubric") or "")
            jin = count_tokens(target.model, rubric + "\n" + text) + tout + JUDGE_OVERHEAD_TOKENS
            est.add(
                target.model, model_catalog.cost(target.model, jin, JUDGE_ANSWER_TOKENS, price=target.price)
            )
    est.close()
    return est
