"""What the calls of a run cost: stored answers priced by the one pricing rule, and the models a
run may call without a known price (``--max-cost`` refuses them unless told otherwise)."""

from __future__ import annotations

from dataclasses import replace

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
