"""Similarity by meaning: ``similar`` compares the embeddings of the output and a reference.

The reference is ``value`` if given, else the case's ``expected`` (as ``levenshtein``, ``bleu``
and ``rouge`` take it). Both texts are embedded with the embedding model (the assertion's
``embedding_model``, else the config's ``embedding_model``: an alias from ``models:`` or a litellm
model string) through ``ctx.embed``, the model layer's embedding hook: recordings, then the
cache, then one call, so an offline replay grades ``similar`` exactly like the recorded run. The
score is the cosine similarity of the two vectors (a negative cosine scores 0); the check passes
when it reaches ``threshold`` (default 0.75).
"""

from __future__ import annotations

import asyncio

from promptctl.execute.embeddings import cosine
from promptctl.redact import redact_inputs
from promptctl.suite.model import Assertion
from promptctl.validate.registry import CheckError, Opt, Outcome, fail, graded, one_line, show, validator
from promptctl.validate.similarity import REFERENCE, reference_text
from promptctl.validate.types import ValidationContext

DEFAULT_THRESHOLD = 0.75


@validator(
    "similar",
    value=REFERENCE,
    needs_expected=True,
    is_async=True,
    threshold=DEFAULT_THRESHOLD,
    options={
        "embedding_model": Opt(
            "string", description="embedding model: alias or litellm string (default: config embedding_model)"
        )
    },
)
async def similar(a: Assertion, output: str, ctx: ValidationContext) -> Outcome:
    """Cosine similarity of the output's and the reference's embeddings >= threshold (default 0.75)."""
    ref = reference_text(a, ctx)
    model = a.options.get("embedding_model") or ctx.config.embedding_model
    if not model:
        raise CheckError(
            "similar needs an embedding model: set `embedding_model` in promptctl.yaml or on the "
            "assertion (an alias from `models:` or a litellm model string, e.g. text-embedding-3-small)"
        )
    if not ref.strip():
        raise CheckError("similar: the reference text is empty")
    if ctx.embed is None:
        raise CheckError("no embedding model available in this run (model calls disabled)")
    th = float(a.threshold) if a.threshold is not None else DEFAULT_THRESHOLD
    if not output.strip():
        return fail(f"the output is empty; expected something like {show(ref, 40)}")
    # redact.inputs: both texts are embedded with the row's placeholders, as its request was sent
    sent, _ = redact_inputs(
        [{"content": output}, {"content": ref}], ctx.config.redact, ctx.extra.get("placeholders")
    )
    output, ref = sent[0]["content"], sent[1]["content"]
    got, want = await asyncio.gather(ctx.embed(str(model), output), ctx.embed(str(model), ref))
    for what, e in (("output", got), ("reference", want)):
        if e.status != "ok":
            raise CheckError(
                f"embedding the {what} with {model} failed: {one_line(e.error or e.status, 160)}"
            )
    try:
        sim = cosine(got.vector, want.vector)
    except ValueError as e:
        raise CheckError(f"similar with {model}: {e}") from e
    score = max(0.0, sim)
    cmp = ">=" if score >= th else "<"
    return graded(
        score,
        th,
        f"cosine similarity {sim:.2f} {cmp} threshold {th:.2f} ({model}); "
        f"expected {show(ref, 40)}, got {show(output, 40)}",
    )
